/*
 * tests/integration/update_vm: a gmvm process followed across live updates
 * (update_vm.h).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "procs.h"
#include "test_vm.h"
#include "update_vm.h"

struct update_vm ut;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A line in the test's log with the seconds since it began: where the time goes in the rig. */
void step(const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	cr_log_info("[%6.1f s] %s", now_s() - ut.t0, line);
}

void update_vm_setup(void)
{
	vm_files_make(&ut.f, "gmvm-update");
	/* the new processes come to us when the old ones exit: we can wait for them */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ut.pid = 0;
	ut.nseen = 0;
	ut.t0 = now_s();
}

void update_vm_teardown(void)
{
	/* oldest first: a new process whose old one is killed becomes ours, then is reaped */
	for (unsigned i = 0; i < ut.nseen; i++)
		kill_reap(&ut.seen[i]);
	hugetlb_2m_restore();
	unsetenv("GMVM_TEST_STREAM_VERSION");
	vm_files_remove(&ut.f);
}


void track(pid_t pid)
{
	cr_assert_lt(ut.nseen, sizeof(ut.seen) / sizeof(ut.seen[0]));
	ut.seen[ut.nseen++] = pid;
	ut.pid = pid;
}

/* pid's exit status within limit seconds (-1: still running); once it is known, pid is forgotten. */
int wait_gone(pid_t pid, double limit)
{
	int st = wait_exit(pid, limit);

	for (unsigned i = 0; st != -1 && i < ut.nseen; i++)
		if (ut.seen[i] == pid)
			ut.seen[i] = 0;
	return st;
}

void dump_all(void)
{
	char *e = slurp(ut.f.err), *c = slurp(ut.f.console), *ev = slurp(ut.f.events);

	fprintf(stderr, "---- gmvm stderr (old and new)\n%s\n---- console\n%s\n---- events\n%s\n", e, c, ev);
	free(e);
	free(c);
	free(ev);
}

/* gmvm run dirty with --memory memory, the API, events and a console file; extra options (NULL-ended). */
void start_vm_argv(const char *memory, const char *cmdline, const char *const *extra)
{
	struct dirty_vm_args a;

	require_kvm();
	dirty_vm_argv(&a, ut.f.sock, ut.f.events, ut.f.console, memory, cmdline, extra);
	track(spawn(a.argv, ut.f.out, ut.f.err));
	ut.updates = 0;
	for (int i = 0; i < 3000 && !can_connect(ut.f.sock); i++)
		if (wait_gone(ut.pid, 0.02) != -1) {
			dump_all();
			cr_assert_fail("gmvm ended before its API was up");
		}
	cr_assert(can_connect(ut.f.sock), "no API");
	/* into its rounds (the first beat): every page of the working set written once */
	if (!wait_file_has(ut.f.console, "\nb\n", 300)) {
		dump_all();
		cr_assert_fail("the guest did not get into its rounds");
	}
	step("gmvm pid %d runs the guest (%s)", (int)ut.pid, memory);
	free(a.elf);
}

void start_vm(const char *memory, const char *cmdline)
{
	start_vm_argv(memory, cmdline, NULL);
}

/*
 * method /api/v1/endpoint with body (NULL: none) on a new connection to the
 * socket path, as any HTTP/1.1 client sends it (curl(1) would cost seconds a
 * request under the nested rig's emulation).  The status (0: no answer,
 * -errno: the socket failed) and the body's JSON (NULL: none, or not
 * JSON).  No asserts: threads call it.
 */
json_t *http(const char *method, const char *endpoint, const char *body, int *status)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char *req = NULL, *buf = NULL;
	size_t used = 0;
	json_t *j = NULL;
	int len;

	*status = 0;
	if (fd < 0 || strlen(ut.f.sock) >= sizeof(sa.sun_path))
		return NULL;
	memcpy(sa.sun_path, ut.f.sock, strlen(ut.f.sock) + 1);
	len = asprintf(&req,
		       "%s /api/v1/%s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
		       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		       method, endpoint, body ? strlen(body) : 0, body ? body : "");
	FILE *m = open_memstream(&buf, &used);
	const char *failed = NULL;
	if (len <= 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		failed = "connect";
	else if (send(fd, req, (size_t)len, MSG_NOSIGNAL) != len)
		failed = "send";
	else {
		char tmp[4096];
		ssize_t n;
		while ((n = recv(fd, tmp, sizeof(tmp), 0)) > 0)
			fwrite(tmp, 1, (size_t)n, m);
		if (n < 0)
			failed = "recv";
	}
	/* why nothing answered, for the test's message: -errno */
	if (failed)
		*status = -errno;
	fclose(m);
	close(fd);
	if (buf && sscanf(buf, "HTTP/1.%*d %d", status) == 1) {
		const char *start = strstr(buf, "\r\n\r\n");
		j = start ? json_loads(start + 4, 0, NULL) : NULL;
	}
	free(req);
	free(buf);
	return j;
}

/* PUT endpoint with body (NULL: none); an answer that is not JSON fails the test. */
struct answer put(const char *endpoint, const char *body)
{
	struct answer a;

	a.body = http("PUT", endpoint, body, &a.http);
	if (!a.body)
		dump_all();
	cr_assert_gt(a.http, 0, "nothing answered PUT %s on %s: %s", endpoint, ut.f.sock,
		     a.http ? strerror(-a.http) : "the connection closed");
	cr_assert(a.body, "PUT %s: status %d and no JSON", endpoint, a.http);
	return a;
}

struct answer update(const char *body)
{
	return put("vmm.live-update", body);
}

/* The same through curl(1), as docs/api.md shows it. */
struct answer update_with_curl(const char *body)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/update.json", ut.f.dir);
	unlink(path);
	return api_put(ut.f.sock, "vmm.live-update", body, path, dump_all);
}

json_t *info(void)
{
	int st;
	json_t *j = http("GET", "vm.info", NULL, &st);

	if (st != 200 || !j)
		dump_all();
	cr_assert_eq(st, 200, "vm.info: status %d (%s) %s", st,
		     st < 0 ? strerror(-st) : st ? "" : "the connection closed with no answer", json_dumps(j, 0));
	cr_assert(j);
	return j;
}

const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

double num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	cr_assert(json_is_number(v), "no number %s in %s", key, json_dumps(o, 0));
	return json_number_value(v);
}

/* vm.info's entry for the region name. */
json_t *region_of(json_t *inf, const char *name)
{
	json_t *r;
	size_t i;

	json_array_foreach(json_object_get(inf, "regions"), i, r)
		if (!strcmp(str(r, "name"), name))
			return r;
	cr_assert_fail("no region %s in vm.info: %s", name, json_dumps(inf, 0));
	return NULL;
}

/* Lines of the event file with "event":event and, when key is not NULL, key's string value val. */
size_t count_events(const char *event, const char *key, const char *val)
{
	char *all = slurp(ut.f.events), *save = NULL;
	size_t n = 0;

	for (char *line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *e = json_loads(line, 0, NULL);

		if (e && !strcmp(str(e, "event"), event) && (!key || !strcmp(str(e, key), val)))
			n++;
		json_decref(e);
	}
	free(all);
	return n;
}

/* Lines on the console (rounds and beats); fails on a MISMATCH line. */
size_t console_lines(void)
{
	char *con = slurp(ut.f.console);
	size_t n = count_substr(con, "\n");

	cr_assert(!strstr(con, "MISMATCH"), "the guest found a page changed:\n%s", con);
	free(con);
	return n;
}

/*
 * The guest still rewrites its pages, checking each before: want more
 * lines come (a beat is 50000 checked writes: three of them check every
 * page of 32M, 8192 pages, with all but certainty), no MISMATCH.
 */
void expect_lines(size_t want)
{
	size_t lines = console_lines(), more = 0;

	for (int i = 0; i < 6000 && more < want; i++) {
		more = console_lines() - lines;
		if (more < want)
			sleep_ms(50);
	}
	if (more < want)
		dump_all();
	cr_assert_geq(more, want, "the guest wrote %zu lines in 300 s", more);
}

void expect_more_rounds(void)
{
	expect_lines(1);
}

/* The guest ends on its own: its check passed, the gmvm running it exited 0, it never started over. */
void expect_guest_passes(void)
{
	int st = wait_gone(ut.pid, 600);

	if (st != 0)
		dump_all();
	cr_expect_eq(st, 0, "the exit status of gmvm pid %d (the guest's)", (int)ut.pid);
	char *con = slurp(ut.f.console);
	cr_expect(strstr(con, "dirty: ok pages="), "the guest's check did not pass:\n%s", con);
	cr_expect_eq(count_substr(con, "dirty: start"), 1, "the guest started over:\n%s", con);
	free(con);
}

/* Three more lines (the guest checked its pages), then vm.shutdown through the socket path ends it with 0. */
void expect_guest_checks_then_shutdown(void)
{
	expect_lines(3);
	struct answer a = put("vm.shutdown", NULL);
	cr_expect_eq(a.http, 200, "%s", json_dumps(a.body, 0));
	json_decref(a.body);
	int st = wait_gone(ut.pid, 120);
	cr_expect_eq(st, 0, "gmvm's exit status after vm.shutdown");
	step("vm.shutdown: gmvm pid %d exited %d", (int)ut.pid, st);
	char *con = slurp(ut.f.console);
	cr_expect_eq(count_substr(con, "dirty: start"), 1, "the guest started over:\n%s", con);
	free(con);
}

/*
 * A completed update's answer: its record; the old process exited 0 with
 * a shutdown event of kind "updated"; the new one runs, answers vm.info on
 * the same path with the same record and the guest in state.  ut.pid
 * becomes the new process.  Returns the answer's body.
 */
json_t *expect_updated(struct answer a, const char *state)
{
	pid_t old = ut.pid;

	if (a.http != 200)
		dump_all();
	cr_assert_eq(a.http, 200, "%s", json_dumps(a.body, 0));
	cr_assert_str_eq(str(a.body, "status"), "completed", "%s", json_dumps(a.body, 0));
	cr_expect_gt(num(a.body, "pause_ms"), 0, "%s", json_dumps(a.body, 0));
	cr_expect_geq(num(a.body, "load_ms"), 0);
	cr_expect_geq(num(a.body, "check_ms"), 0);
	cr_expect_geq(num(a.body, "elapsed_ms"), num(a.body, "pause_ms"), "%s", json_dumps(a.body, 0));
	cr_expect_gt(num(a.body, "state_bytes"), 0);
	cr_expect_geq(num(a.body, "fds"), 2, "at least the RAM and the API socket: %s", json_dumps(a.body, 0));
	cr_expect(strstr(str(a.body, "bind"), "ram="), "bind: %s", json_dumps(a.body, 0));
	cr_expect(*str(a.body, "binary"), "%s", json_dumps(a.body, 0));
	pid_t pid = (pid_t)num(a.body, "pid");
	cr_assert_gt(pid, 0);
	cr_assert_neq(pid, old, "the same process after an update");
	step("updated: pid %d -> %d, paused %.3f ms (load %.3f ms, checks %.3f ms), %g state bytes, %g fds, %s",
	     (int)old, (int)pid, num(a.body, "pause_ms"), num(a.body, "load_ms"), num(a.body, "check_ms"),
	     num(a.body, "state_bytes"), num(a.body, "fds"), str(a.body, "bind"));

	int st = wait_gone(old, 60);
	if (st != 0)
		dump_all();
	cr_expect_eq(st, 0, "the old gmvm's exit status after the update");
	track(pid);
	ut.updates++;
	cr_assert_eq(kill(pid, 0), 0, "the new gmvm (pid %d) is not running", (int)pid);
	cr_expect_eq(count_events("shutdown", "kind", "updated"), ut.updates,
		     "a shutdown event of kind updated for each of the %u updates", ut.updates);
	cr_expect_geq(count_events("update", "phase", "completed"), 1, "no update event phase completed");

	json_t *inf = info();
	json_t *lu = json_object_get(inf, "live_update");
	cr_expect_str_eq(str(lu, "phase"), "completed", "vm.info of the new process: %s", json_dumps(lu, 0));
	cr_expect_str_eq(str(inf, "state"), state);
	json_decref(inf);
	return a.body;
}

/* A failed update: status http (0: any 4xx/5xx), one line holding want; the old process runs the guest on. */
void expect_not_updated(struct answer a, int http, const char *want, const char *phase)
{
	const char *msg = str(a.body, "error");

	if (http)
		cr_expect_eq(a.http, http, "%s", json_dumps(a.body, 0));
	else
		cr_expect(a.http >= 400, "%d %s", a.http, json_dumps(a.body, 0));
	cr_expect(*msg && !strchr(msg, '\n'), "not one line: '%s'", msg);
	cr_expect(strstr(msg, want), "error '%s' does not say '%s'", msg, want);
	step("not updated (%d): %s", a.http, msg);
	cr_assert_eq(wait_gone(ut.pid, 0.01), -1, "the old gmvm ended after a failed update");
	json_t *inf = info();
	cr_expect_str_eq(str(inf, "state"), "running");
	if (phase)
		cr_expect_str_eq(str(json_object_get(inf, "live_update"), "phase"), phase, "%s",
				 json_dumps(json_object_get(inf, "live_update"), 0));
	json_decref(inf);
	json_decref(a.body);
}

