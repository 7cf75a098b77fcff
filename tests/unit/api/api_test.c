/* Helpers for the API's unit tests (see api_test.h). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "api_test.h"

void test_dir_make(struct test_dir *d)
{
	snprintf(d->path, sizeof(d->path), "/tmp/gmvm-api-XXXXXX");
	cr_assert_not_null(mkdtemp(d->path), "mkdtemp: %s", strerror(errno));
	test_dir_file(d, "api.sock", d->sock, sizeof(d->sock));
}

void test_dir_remove(struct test_dir *d)
{
	DIR *dir = opendir(d->path);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir))) {
		char p[512];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", d->path, e->d_name);
		unlink(p);
	}
	closedir(dir);
	rmdir(d->path);
}

void test_dir_file(const struct test_dir *d, const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", d->path, name);

	cr_assert(n > 0 && (size_t)n < len, "test path too long");
}

struct gm_api *test_server_start(struct test_dir *d, struct gm_events *events)
{
	struct gm_error err = { 0 };
	struct gm_api *api = NULL;

	cr_assert_eq(gm_api_create(d->sock, events, &api, &err), 0, "gm_api_create: %s", err.msg);
	cr_assert_not_null(api);
	return api;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return strdup("");
	cr_assert_eq(getdelim(&buf, &len, '\0', f) < 0 && !feof(f), 0);
	fclose(f);
	return buf ? buf : strdup("");
}

static int spawn_curl(char *const argv[], char *out, size_t len)
{
	int p[2], status;
	size_t used = 0;
	ssize_t n;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execvp("curl", argv);
		_exit(127);
	}
	close(p[1]);
	while ((n = read(p[0], out + used, len - 1 - used)) > 0)
		used += (size_t)n;
	out[used] = '\0';
	close(p[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "curl did not exit");
	cr_assert_neq(WEXITSTATUS(status), 127, "curl(1) not found; install it (scripts/deps.sh check)");
	return WEXITSTATUS(status);
}

void test_curl(struct test_dir *d, const char *method, const char *name, const char *data, size_t len,
	       const char *const *headers, struct curl_result *out)
{
	char url[512], body_file[192], hdr_file[192], data_file[192], data_arg[200], code[64];
	const char *argv[40];
	int argc = 0;

	snprintf(url, sizeof(url), "http://localhost%s%s", name[0] == '/' ? "" : GM_API_PREFIX, name);
	test_dir_file(d, "curl.body", body_file, sizeof(body_file));
	test_dir_file(d, "curl.headers", hdr_file, sizeof(hdr_file));
	unlink(body_file);
	unlink(hdr_file);
	argv[argc++] = "curl";
	argv[argc++] = "-sS";
	argv[argc++] = "--max-time";
	argv[argc++] = "20";
	argv[argc++] = "--unix-socket";
	argv[argc++] = d->sock;
	argv[argc++] = "-X";
	argv[argc++] = method;
	argv[argc++] = "-o";
	argv[argc++] = body_file;
	argv[argc++] = "-D";
	argv[argc++] = hdr_file;
	argv[argc++] = "-w";
	argv[argc++] = "%{http_code}";
	if (data) {
		FILE *f;

		test_dir_file(d, "curl.data", data_file, sizeof(data_file));
		f = fopen(data_file, "wb");
		cr_assert_not_null(f);
		cr_assert_eq(fwrite(data, 1, len, f), len);
		fclose(f);
		snprintf(data_arg, sizeof(data_arg), "@%s", data_file);
		argv[argc++] = "--data-binary";
		argv[argc++] = data_arg;
		argv[argc++] = "-H";
		argv[argc++] = "Content-Type: application/json";
	}
	for (int i = 0; headers && headers[i] && argc < 36; i++) {
		argv[argc++] = "-H";
		argv[argc++] = headers[i];
	}
	argv[argc++] = url;
	argv[argc] = NULL;
	out->exit_code = spawn_curl((char *const *)argv, code, sizeof(code));
	out->status = atoi(code);
	out->body = read_file(body_file);
	out->headers = read_file(hdr_file);
}

void curl_result_free(struct curl_result *r)
{
	free(r->body);
	free(r->headers);
}

json_t *test_json(const char *body)
{
	json_error_t e;
	json_t *obj = json_loads(body, 0, &e);

	cr_assert_not_null(obj, "reply is not JSON (%s): %s", e.text, body);
	cr_assert(json_is_object(obj), "reply is not an object: %s", body);
	return obj;
}

const char *test_error_line(json_t *obj)
{
	const char *line = json_string_value(json_object_get(obj, "error"));

	cr_assert_not_null(line, "no \"error\" string in the reply");
	cr_assert_null(strchr(line, '\n'), "error on more than one line: %s", line);
	cr_assert_neq(line[0], '\0', "empty error");
	return line;
}

int test_handle(struct gm_api *api, const char *method, const char *name, const char *body,
		json_t **obj)
{
	char path[512], *out = NULL;
	int status;

	snprintf(path, sizeof(path), "%s%s", name[0] == '/' ? "" : GM_API_PREFIX, name);
	status = gm_api_handle(api, method, path, body, body ? strlen(body) : 0, &out);
	cr_assert_not_null(out);
	*obj = test_json(out);
	free(out);
	return status;
}

struct gm_api *test_api;
json_t *test_obj;

void test_detached_init(void)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_api_new_detached(&test_api, &err), 0, "%s", err.msg);
	test_obj = NULL;
}

void test_detached_fini(void)
{
	json_decref(test_obj);
	gm_api_destroy(test_api);
}

void test_expect_put(const char *endpoint, const char *body, int want, const char *needle)
{
	json_decref(test_obj);
	int status = test_handle(test_api, "PUT", endpoint, body, &test_obj);
	const char *line = test_error_line(test_obj);

	cr_assert_eq(status, want, "status %d, want %d for %s: %s", status, want, body, line);
	cr_assert_not_null(strstr(line, needle), "'%s' not in: %s", needle, line);
}

int test_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

long long test_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
