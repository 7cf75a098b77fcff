/*
 * tests/integration/procs: background gmvm processes (procs.h).
 */
#include <criterion/criterion.h>
#include <errno.h>
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

#include "harness.h"
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

json_t *api_get_info(const char *sock, const char *path)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "curl -sS --unix-socket '%s' -o '%s' http://localhost/api/v1/vm.info", sock, path);
	cr_assert_eq(system(cmd), 0);
	char *text = slurp(path);
	json_t *j = json_loads(text, 0, NULL);
	cr_assert(j, "vm.info is not JSON: %s", text);
	free(text);
	return j;
}

unsigned dirty_vm_argv(struct dirty_vm_args *a, const char *sock, const char *events, const char *console,
		       const char *memory, const char *cmdline, const char *const *extra)
{
	unsigned n = 0;

	snprintf(a->con, sizeof(a->con), "file:%s", console);
	snprintf(a->mon, sizeof(a->mon), "path=%s", events);
	a->elf = guest_path("dirty");
	a->argv[n++] = gmvm_bin();
	a->argv[n++] = "run";
	a->argv[n++] = "--api-sock";
	a->argv[n++] = sock;
	a->argv[n++] = "--event-monitor";
	a->argv[n++] = a->mon;
	a->argv[n++] = "--console";
	a->argv[n++] = a->con;
	a->argv[n++] = "--memory";
	a->argv[n++] = test_memory(memory);
	a->argv[n++] = "--cmdline";
	a->argv[n++] = cmdline;
	for (unsigned i = 0; extra && extra[i] && n < DIRTY_VM_MAX_ARGS - 2; i++)
		a->argv[n++] = extra[i];
	a->argv[n++] = a->elf;
	a->argv[n] = NULL;
	return n;
}

void vm_files_make(struct vm_files *f, const char *prefix)
{
	char run[96];

	snprintf(f->dir, sizeof(f->dir), "/tmp/%s-XXXXXX", prefix);
	cr_assert(mkdtemp(f->dir), "mkdtemp %s: %s", f->dir, strerror(errno));
	snprintf(f->sock, sizeof(f->sock), "%s/api.sock", f->dir);
	snprintf(f->console, sizeof(f->console), "%s/console", f->dir);
	snprintf(f->out, sizeof(f->out), "%s/out", f->dir);
	snprintf(f->err, sizeof(f->err), "%s/err", f->dir);
	snprintf(f->events, sizeof(f->events), "%s/events", f->dir);
	snprintf(run, sizeof(run), "%s/run", f->dir);
	setenv("GMVM_RUN_DIR", run, 1);
}

void vm_files_remove(const struct vm_files *f)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
}
