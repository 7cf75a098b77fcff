/*
 * The API client (`gmvm ping|info|...`) without KVM: the real API server
 * runs in this process (gm_api_create on a temporary socket, no machine
 * attached) and the real build/gmvm talks to it.  Also covers what the
 * client says when the socket is missing or stale, when the peer is not a
 * gmvm API, and its usage errors; and that the stock curl reaches the same
 * server, so the documented curl lines are plain HTTP.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmvm/api.h>

#include "cli_test.h"
#include "harness.h"

/* What the server itself says for a request: its "error" line. */
static char *server_error(const char *method, const char *endpoint)
{
	char path[128], *body = NULL;

	snprintf(path, sizeof(path), GM_API_PREFIX "%s", endpoint);
	int status = gm_api_handle(api, method, path, NULL, 0, &body);
	json_t *j = json_loads(body, 0, NULL);
	cr_assert(json_string_value(json_object_get(j, "error")), "%d %s", status, body);
	char *line = strdup(json_string_value(json_object_get(j, "error")));
	json_decref(j);
	free(body);
	return line;
}

TestSuite(client, .init = start_server, .fini = stop_server, .timeout = 60);

Test(client, ping_prints_the_version)
{
	struct run_result r;

	run_gmvm(&r, 30, "ping", "--api-sock", sock, NULL);
	expect_run(&r, 0, "gmvm " GMVM_VERSION " (build ");
	cr_assert(strstr(r.out, "features: "), "stdout:\n%s", r.out);
	cr_assert_str_empty(r.err);
	run_result_free(&r);
}

Test(client, api_sock_with_equals_sign)
{
	struct run_result r;
	char opt[160];

	snprintf(opt, sizeof(opt), "--api-sock=%s", sock);
	run_gmvm(&r, 30, "ping", opt, NULL);
	expect_run(&r, 0, "gmvm " GMVM_VERSION);
	run_result_free(&r);
}

Test(client, json_prints_the_raw_body)
{
	struct run_result r;
	json_error_t jerr;

	run_gmvm(&r, 30, "ping", "--json", "--api-sock", sock, NULL);
	expect_run(&r, 0, "");
	json_t *j = json_loads(r.out, 0, &jerr);
	cr_assert(json_is_object(j), "not JSON (%s):\n%s", jerr.text, r.out);
	cr_assert_str_eq(json_string_value(json_object_get(j, "version")), GMVM_VERSION);
	cr_assert(json_is_string(json_object_get(j, "build_id")), "%s", r.out);
	cr_assert(json_is_array(json_object_get(j, "features")), "%s", r.out);
	json_decref(j);
	run_result_free(&r);
}

/* With no machine attached every vm.* route is 409; the client shows the server's line. */
static void refused_with_409(const char *cmd, const char *method, const char *endpoint, bool json)
{
	struct run_result r;
	char *want = server_error(method, endpoint);

	if (json)
		run_gmvm(&r, 30, cmd, "--api-sock", sock, "--json", NULL);
	else
		run_gmvm(&r, 30, cmd, "--api-sock", sock, NULL);
	expect_error_line(&r, 1, want);
	cr_assert_eq(strlen(r.err), strlen("gmvm: ") + strlen(want) + 1, "not just the server's line:\n%s", r.err);
	free(want);
	run_result_free(&r);
}

Test(client, info_without_a_machine_prints_the_409_line)
{
	refused_with_409("info", "GET", "vm.info", false);
}

Test(client, info_json_without_a_machine_prints_no_body)
{
	refused_with_409("info", "GET", "vm.info", true);
}

Test(client, counters_pause_resume_shutdown_without_a_machine)
{
	refused_with_409("counters", "GET", "vm.counters", false);
	refused_with_409("pause", "PUT", "vm.pause", false);
	refused_with_409("resume", "PUT", "vm.resume", false);
	refused_with_409("shutdown", "PUT", "vm.shutdown", false);
}

Test(client, shutdown_vmm_without_a_machine_sets_the_flag)
{
	struct run_result r;

	cr_assert_not(gm_api_vmm_shutdown_requested(api));
	run_gmvm(&r, 30, "shutdown-vmm", "--api-sock", sock, NULL);
	expect_run(&r, 0, "shutdown\n");
	cr_assert(gm_api_vmm_shutdown_requested(api));
	run_result_free(&r);
}

/* The stock curl, as docs/api.md shows it, against the same server. */
static char *curl(const char *args, int *status)
{
	char cmd[512], buf[4096];
	size_t n;

	if (system("curl --version >/dev/null 2>&1") != 0)
		cr_skip_test("no curl command on this machine: the curl check needs it");
	snprintf(cmd, sizeof(cmd), "curl -sS --unix-socket '%s' -w '\\n%%{http_code}' %s", sock, args);
	FILE *p = popen(cmd, "r");
	cr_assert(p, "popen: %s", strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	int ws = pclose(p);
	cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "%s: %s", cmd, buf);
	char *nl = strrchr(buf, '\n');
	cr_assert(nl, "%s", buf);
	*status = atoi(nl + 1);
	*nl = '\0';
	return strdup(buf);
}

Test(client, curl_reaches_the_same_server)
{
	int status;
	char *body = curl("http://localhost/api/v1/vmm.ping", &status);
	json_t *j = json_loads(body, 0, NULL);

	cr_assert_eq(status, 200, "%s", body);
	cr_assert_str_eq(json_string_value(json_object_get(j, "version")), GMVM_VERSION, "%s", body);
	json_decref(j);
	free(body);

	body = curl("-X PUT http://localhost/api/v1/vm.pause", &status);
	j = json_loads(body, 0, NULL);
	cr_assert_eq(status, 409, "%s", body);
	cr_assert(json_string_value(json_object_get(j, "error")), "%s", body);
	json_decref(j);
	free(body);
}

/* ---- no server, or not a gmvm one ---------------------------------------- */

Test(client_unreachable, missing_socket_is_named, .timeout = 60)
{
	struct run_result r;

	run_gmvm(&r, 30, "ping", "--api-sock", "/nonexistent/gmvm.sock", NULL);
	expect_error_line(&r, 1, "cannot reach the API at /nonexistent/gmvm.sock: No such file or directory; "
				 "is gmvm run --api-sock /nonexistent/gmvm.sock running?");
	run_result_free(&r);
}

/* A socket file whose listener is gone (gmvm was killed): refused, not hung. */
Test(client_unreachable, stale_socket_is_refused, .init = make_dir, .fini = remove_dir, .timeout = 60)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct run_result r;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(a.sun_path, sock);
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "bind: %s", strerror(errno));
	close(fd);
	run_gmvm(&r, 30, "info", "--api-sock", sock, NULL);
	expect_error_line(&r, 1, "Connection refused; is gmvm run --api-sock");
	cr_assert(strstr(r.err, sock), "%s", r.err);
	run_result_free(&r);
}

/* A peer that answers one canned reply to one request, whatever it asks. */
struct fake {
	int fd;
	const char *reply; /* NULL: close without answering */
	pthread_t thread;
};

static void *fake_serve(void *opaque)
{
	struct fake *f = opaque;
	char buf[4096];
	size_t got = 0;
	int c = accept(f->fd, NULL, NULL);

	if (c < 0)
		return NULL;
	while (got < sizeof(buf) - 1) {
		ssize_t n = read(c, buf + got, sizeof(buf) - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	/* a short write shows up as the client's failure, checked by the caller */
	if (f->reply && write(c, f->reply, strlen(f->reply)) < 0)
		perror("fake peer: write");
	close(c);
	return NULL;
}

static void fake_start(struct fake *f, const char *reply)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	f->reply = reply;
	f->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(a.sun_path, sock);
	cr_assert(bind(f->fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(f->fd, 1) == 0, "%s",
		  strerror(errno));
	cr_assert_eq(pthread_create(&f->thread, NULL, fake_serve, f), 0);
}

static void fake_run(const char *reply, const char *cmd, int status, const char *want)
{
	struct fake f;
	struct run_result r;

	fake_start(&f, reply);
	run_gmvm(&r, 30, cmd, "--api-sock", sock, NULL);
	pthread_join(f.thread, NULL);
	close(f.fd);
	expect_error_line(&r, status, want);
	run_result_free(&r);
}

TestSuite(client_peer, .init = make_dir, .fini = remove_dir, .timeout = 60);

Test(client_peer, error_status_without_json)
{
	fake_run("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\nConnection: close\r\n\r\noops\n",
		 "pause", 1, "the API answered HTTP 500 without an error message");
}

Test(client_peer, success_that_is_not_json)
{
	fake_run("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nhello\n", "info", 1,
		 "answered vm.info with a body that is not a JSON object");
}

Test(client_peer, closed_without_an_answer)
{
	fake_run(NULL, "counters", 1, "closed the connection without an answer");
}

/* The server's error line is shown escaped: it cannot drive the terminal. */
Test(client_peer, error_line_is_escaped)
{
	fake_run("HTTP/1.1 409 Conflict\r\nContent-Length: 26\r\nConnection: close\r\n\r\n"
		 "{\"error\":\"a\\u001b[2Jb\\nc\"}",
		 "resume", 1, "gmvm: a\\x1b[2Jb\\nc\n");
}

Test(client_peer, success_prints_the_text, .timeout = 60)
{
	struct fake f;
	struct run_result r;

	fake_start(&f, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\n"
		       "Connection: close\r\n\r\n{\"state\":\"paused\"}\r\n");
	run_gmvm(&r, 30, "pause", "--api-sock", sock, NULL);
	pthread_join(f.thread, NULL);
	close(f.fd);
	expect_run(&r, 0, "paused\n");
	cr_assert_str_empty(r.err);
	run_result_free(&r);
}

/* ---- usage ---------------------------------------------------------------- */

static void usage_error(const char *want, const char *a, const char *b, const char *c)
{
	struct run_result r;

	run_gmvm(&r, 30, a, b, c, NULL);
	expect_error_line(&r, 2, want);
	run_result_free(&r);
}

Test(client_usage, errors_exit_2_with_one_line, .timeout = 60)
{
	char long_path[200];

	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	usage_error("info: needs --api-sock PATH", "info", NULL, NULL);
	usage_error("info: needs --api-sock PATH", "info", "--json", NULL);
	usage_error("ping: --api-sock needs a value; write --api-sock PATH", "ping", "--api-sock", NULL);
	usage_error("ping: the --api-sock path is empty", "ping", "--api-sock=", NULL);
	usage_error("pause: unexpected '--frob'; usage: gmvm pause --api-sock PATH [--json]", "pause", "--frob",
		    "--api-sock=/x");
	usage_error("resume: unexpected 'now'", "resume", "--api-sock=/x", "now");
	usage_error("counters: --json takes no value", "counters", "--json=1", "--api-sock=/x");
	usage_error("is too long for a UNIX socket path (at most 107)", "ping", "--api-sock", long_path);
}

Test(client_usage, help_prints_the_usage, .timeout = 60)
{
	struct run_result r;

	run_gmvm(&r, 30, "info", "--help", NULL);
	expect_run(&r, 0, "usage: gmvm info --api-sock PATH [--json]\n");
	cr_assert(strstr(r.out, "GET /api/v1/vm.info"), "%s", r.out);
	run_result_free(&r);

	run_gmvm(&r, 30, "help", NULL);
	expect_run(&r, 0, "API client commands");
	for (const char *const *c = (const char *const[]){ "ping", "info", "counters", "pause", "resume",
							    "shutdown", "shutdown-vmm", NULL };
	     *c; c++) {
		char line[64];
		snprintf(line, sizeof(line), "\n  %s ", *c);
		cr_assert(strstr(r.out, line), "'%s' missing from gmvm help:\n%s", *c, r.out);
	}
	run_result_free(&r);
}
