/*
 * tests/integration/procs: background gmvm processes (procs.h).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "procs.h"
#include "test_vm.h"

const char *gmvm_bin(void)
{
	const char *b = getenv("GMVM_BIN");

	return b && *b ? b : "build/gmvm";
}

pid_t spawn(const char *const *argv, const char *out, const char *err)
{
	pid_t pid = fork();

	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int in = open("/dev/null", O_RDONLY);
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(in, 0);
		dup2(o, 1);
		dup2(e, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

int wait_exit(pid_t pid, double limit)
{
	int ws;

	for (double t = 0; t < limit; t += 0.02) {
		pid_t r = waitpid(pid, &ws, WNOHANG);
		if (r == pid)
			return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
		sleep_ms(20);
	}
	return -1;
}

void kill_reap(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = 0;
}

char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return strdup("");
	FILE *m = open_memstream(&buf, &len);
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		fwrite(tmp, 1, n, m);
	fclose(f);
	fclose(m);
	return buf;
}

bool can_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

bool wait_file_has(const char *path, const char *want, double limit)
{
	for (double t = 0; t < limit; t += 0.02) {
		char *c = slurp(path);
		bool found = strstr(c, want) != NULL;

		free(c);
		if (found)
			return true;
		sleep_ms(20);
	}
	return false;
}

struct answer api_put(const char *sock, const char *endpoint, const char *body, const char *path,
		      void (*dump)(void))
{
	char cmd[1024];
	struct answer a = { 0 };

	snprintf(cmd, sizeof(cmd),
		 "curl -sS --unix-socket '%s' -X PUT %s%s%s -o '%s' -w '%%{http_code}' http://localhost/api/v1/%s",
		 sock, body ? "-H 'Content-Type: application/json' --data '" : "", body ? body : "", body ? "'" : "",
		 path, endpoint);
	FILE *f = popen(cmd, "r");
	cr_assert(f);
	cr_assert_eq(fscanf(f, "%d", &a.http), 1, "curl gave no status");
	pclose(f);
	char *text = slurp(path);
	a.body = json_loads(text, 0, NULL);
	if (!a.body && dump)
		dump();
	cr_assert(a.body, "not JSON: %s", text);
	free(text);
	return a;
}
