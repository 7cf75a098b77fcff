/*
 * The control API end to end: `gmvm run --api-sock S --event-monitor
 * path=F` in the background with the spin guest, driven by the stock curl
 * (as docs/api.md shows it) and by the gmvm client subcommands.  Every
 * endpoint, the error statuses, concurrent clients, the event file, the
 * socket's mode and lifetime, and how gmvm run ends through the API.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gmvm/api.h>

#include "harness.h"
#include "procs.h"
#include "test_vm.h"

/* One background `gmvm run` and its files, all in one temporary directory. */
static struct {
	char dir[64], sock[96], events[96], console[96], out[96], err[96];
	pid_t pid;
} vmm;

static void paths(void)
{
	strcpy(vmm.dir, "/tmp/gmvm-http-XXXXXX");
	cr_assert(mkdtemp(vmm.dir), "mkdtemp: %s", strerror(errno));
	snprintf(vmm.sock, sizeof(vmm.sock), "%s/api.sock", vmm.dir);
	snprintf(vmm.events, sizeof(vmm.events), "%s/events.jsonl", vmm.dir);
	snprintf(vmm.console, sizeof(vmm.console), "%s/console.txt", vmm.dir);
	snprintf(vmm.out, sizeof(vmm.out), "%s/stdout.txt", vmm.dir);
	snprintf(vmm.err, sizeof(vmm.err), "%s/stderr.txt", vmm.dir);
}

/* A failed assertion must not leave a spinning guest behind. */
static void cleanup(void)
{
	kill_reap(&vmm.pid);
	if (!vmm.dir[0])
		return;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", vmm.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", vmm.dir);
}

static void wait_console(const char *want)
{
	cr_assert(wait_file_has(vmm.console, want, 60), "no '%s' on the console within 60 s", want);
}

/* Start spin under `gmvm run` with the API and the event monitor; wait for both. */
static void start_spin(void)
{
	char mon[128], con[128];

	require_kvm();
	char *guest = guest_path("spin");
	if (!vmm.dir[0])
		paths();
	snprintf(mon, sizeof(mon), "path=%s", vmm.events);
	snprintf(con, sizeof(con), "file:%s", vmm.console);
	const char *argv[] = { gmvm_bin(), "run", "--api-sock", vmm.sock, "--event-monitor", mon, "--console", con,
			       "--memory", test_memory("256M"), guest, NULL };
	vmm.pid = spawn(argv, vmm.out, vmm.err);
	for (int i = 0; i < 3000 && !can_connect(vmm.sock); i++) {
		int ws;
		if (waitpid(vmm.pid, &ws, WNOHANG) == vmm.pid) {
			vmm.pid = 0; /* reaped: nothing for cleanup() to kill */
			cr_assert_fail("gmvm run ended early (status 0x%x):\n%s", ws, slurp(vmm.err));
		}
		sleep_ms(20);
	}
	cr_assert(can_connect(vmm.sock), "no API at %s after 60 s:\n%s", vmm.sock, slurp(vmm.err));
	wait_console("spin: running");
	free(guest);
}

/* ---- requests through curl ------------------------------------------------ */

struct reply {
	int status;
	char *body;
	json_t *json; /* NULL when the body is not JSON */
	char *headers;
};

static void reply_free(struct reply *r)
{
	free(r->body);
	free(r->headers);
	json_decref(r->json);
}

static bool have_curl(void)
{
	return system("curl --version >/dev/null 2>&1") == 0;
}

/* method /api/v1/endpoint with body (NULL: none) through `curl --unix-socket`. */
static struct reply curl_req(const char *method, const char *endpoint, const char *body, size_t len)
{
	char cmd[1024], bodyfile[96], hdrfile[96], data[192] = "";
	struct reply r = { 0 };

	if (!have_curl())
		cr_skip_test("no curl command on this machine; the API tests use it");
	snprintf(hdrfile, sizeof(hdrfile), "%s/headers.txt", vmm.dir);
	if (body) {
		snprintf(bodyfile, sizeof(bodyfile), "%s/body.json", vmm.dir);
		FILE *f = fopen(bodyfile, "w");
		cr_assert(f && fwrite(body, 1, len, f) == len && fclose(f) == 0);
		snprintf(data, sizeof(data), "-H 'Content-Type: application/json' --data-binary '@%s'", bodyfile);
	}
	snprintf(cmd, sizeof(cmd), "curl -sS --unix-socket '%s' -X %s %s -D '%s' -o - -w '\\n%%{http_code}' http://localhost/api/v1/%s",
		 vmm.sock, method, data, hdrfile, endpoint);
	FILE *p = popen(cmd, "r");
	cr_assert(p);
	char *out = NULL;
	size_t olen = 0;
	FILE *m = open_memstream(&out, &olen);
	char tmp[4096];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), p)) > 0)
		fwrite(tmp, 1, n, m);
	fclose(m);
	int ws = pclose(p);
	cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "%s failed:\n%s", cmd, out);
	char *nl = strrchr(out, '\n');
	cr_assert(nl, "%s", out);
	r.status = atoi(nl + 1);
	*nl = '\0';
	r.body = out;
	r.json = json_loads(out, 0, NULL);
	r.headers = slurp(hdrfile);
	return r;
}

/* The request answers status with a JSON object; returns the reply to look into. */
static struct reply expect_req(const char *method, const char *endpoint, const char *body, int status)
{
	struct reply r = curl_req(method, endpoint, body, body ? strlen(body) : 0);

	cr_assert_eq(r.status, status, "%s %s: %d, expected %d: %s", method, endpoint, r.status, status, r.body);
	cr_assert(json_is_object(r.json), "%s %s: not a JSON object: %s", method, endpoint, r.body);
	if (status >= 400) {
		const char *e = json_string_value(json_object_get(r.json, "error"));
		cr_assert(e && *e && !strchr(e, '\n'), "%s %s: no one-line error: %s", method, endpoint, r.body);
	}
	return r;
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* gmvm CLIENT --api-sock S [ARGS...]. */
static void client(struct run_result *r, const char *cmd, const char *extra)
{
	run_gmvm(r, 60, cmd, "--api-sock", vmm.sock, extra, NULL);
}

/* ---- the event file --------------------------------------------------------- */

/* The machine's events in order (request events left out), each checked for its timestamp. */
static char *machine_events(json_t **requests)
{
	char *text = slurp(vmm.events), *names = NULL, *save = NULL;
	size_t len = 0;
	bool first = true;
	FILE *m = open_memstream(&names, &len);
	long long last = -1;

	*requests = json_array();
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t jerr;
		json_t *ev = json_loads(line, 0, &jerr);
		cr_assert(json_is_object(ev), "event line is not JSON (%s): %s", jerr.text, line);
		json_t *ts = json_object_get(ev, "timestamp_us");
		cr_assert(json_is_integer(ts), "no timestamp_us: %s", line);
		cr_assert_geq(json_integer_value(ts), last, "timestamp went back: %s\nfile:\n%s", line, slurp(vmm.events));
		last = json_integer_value(ts);
		const char *name = jstr(ev, "event");
		if (strcmp(name, "request") == 0) {
			json_array_append(*requests, ev);
		} else {
			fprintf(m, "%s%s", first ? "" : " ", name);
			first = false;
		}
		json_decref(ev);
	}
	fclose(m);
	free(text);
	return names;
}

static const json_t *find_request(const json_t *requests, const char *method, const char *endpoint, int status)
{
	char path[96];
	size_t i;
	const json_t *ev;

	snprintf(path, sizeof(path), "/api/v1/%s", endpoint);
	json_array_foreach(requests, i, ev)
		if (!strcmp(jstr(ev, "method"), method) && !strcmp(jstr(ev, "path"), path) &&
		    json_integer_value(json_object_get(ev, "status")) == status)
			return ev;
	return NULL;
}

/* ---- tests -------------------------------------------------------------- */

TestSuite(http, .fini = cleanup, .timeout = 240);

/* Every endpoint once, in order, through curl and the client; then the event file. */
Test(http, every_endpoint_and_the_event_file)
{
	struct run_result r;
	struct stat st;

	start_spin();
	cr_assert_eq(stat(vmm.sock, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode), "not a socket");
	cr_assert_eq(st.st_mode & 0777, 0600, "socket mode %o", st.st_mode & 0777);

	struct reply p = expect_req("GET", "vmm.ping", NULL, 200);
	cr_assert_str_eq(jstr(p.json, "version"), GMVM_VERSION);
	cr_assert(json_is_array(json_object_get(p.json, "features")));
	reply_free(&p);
	client(&r, "ping", NULL);
	expect_run(&r, 0, "gmvm " GMVM_VERSION);
	run_result_free(&r);

	struct reply i = expect_req("GET", "vm.info", NULL, 200);
	cr_assert_str_eq(jstr(i.json, "state"), "running");
	json_t *ram = json_array_get(json_object_get(i.json, "regions"), 0);
	cr_assert_str_eq(jstr(ram, "name"), "ram", "%s", i.body);
	char identity[64];
	snprintf(identity, sizeof(identity), "%s/ram", jstr(i.json, "uuid"));
	cr_assert_str_eq(jstr(ram, "identity"), identity, "%s", i.body);
	cr_assert_eq(json_integer_value(json_object_get(ram, "size")), 256 << 20, "%s", i.body);
	cr_assert_null(json_object_get(json_array_get(json_object_get(i.json, "vcpus"), 0), "regs"),
		       "registers while running: %s", i.body);
	cr_assert_null(json_object_get(i.json, "exit"), "%s", i.body);
	reply_free(&i);
	client(&r, "info", NULL);
	expect_run(&r, 0, "state       running\n");
	cr_assert(strstr(r.out, "identity ") && strstr(r.out, "region ram"), "%s", r.out);
	run_result_free(&r);

	struct reply c = expect_req("GET", "vm.counters", NULL, 200);
	cr_assert(json_is_integer(json_object_get(json_object_get(c.json, "exits"), "total")), "%s", c.body);
	reply_free(&c);
	client(&r, "counters", NULL);
	expect_run(&r, 0, "pauses ");
	run_result_free(&r);

	/* paused means paused: two looks at the registers agree */
	struct reply pa = expect_req("PUT", "vm.pause", NULL, 200);
	cr_assert_str_eq(jstr(pa.json, "state"), "paused");
	reply_free(&pa);
	struct reply i1 = expect_req("GET", "vm.info", NULL, 200);
	sleep_ms(100);
	struct reply i2 = expect_req("GET", "vm.info", NULL, 200);
	json_t *r1 = json_object_get(json_array_get(json_object_get(i1.json, "vcpus"), 0), "regs");
	json_t *r2 = json_object_get(json_array_get(json_object_get(i2.json, "vcpus"), 0), "regs");
	cr_assert(json_is_object(r1), "no registers while paused: %s", i1.body);
	cr_assert(json_equal(r1, r2), "registers moved while paused:\n%s\n%s", i1.body, i2.body);
	cr_assert_str_eq(jstr(i1.json, "state"), "paused");
	reply_free(&i1);
	reply_free(&i2);
	client(&r, "pause", NULL);
	cr_assert_eq(r.status, 1, "second pause: %s%s", r.out, r.err);
	cr_assert(strstr(r.err, "gmvm: ") && strstr(r.err, "already paused"), "%s", r.err);
	run_result_free(&r);
	reply_free((struct reply[]){ expect_req("PUT", "vm.pause", "{}", 409) });

	client(&r, "resume", NULL);
	expect_run(&r, 0, "running\n");
	run_result_free(&r);
	reply_free((struct reply[]){ expect_req("PUT", "vm.resume", NULL, 409) });

	/* to mapped and back to where it was: gmem on guest-memfd, mapped on
	 * the memfd a GMVM_TEST_BACKEND run uses */
	i = expect_req("GET", "vm.info", NULL, 200);
	char was[16], back[64];
	snprintf(was, sizeof(was), "%s", jstr(json_array_get(json_object_get(i.json, "regions"), 0), "binding"));
	reply_free(&i);
	struct reply b = expect_req("PUT", "vm.memory-binding", "{\"mode\":\"mapped\"}", 200);
	cr_assert_str_eq(jstr(b.json, "binding"), "mapped");
	reply_free(&b);
	i = expect_req("GET", "vm.info", NULL, 200);
	cr_assert_str_eq(jstr(json_array_get(json_object_get(i.json, "regions"), 0), "binding"), "mapped", "%s", i.body);
	reply_free(&i);
	snprintf(back, sizeof(back), "{\"mode\":\"%s\"}", was);
	b = expect_req("PUT", "vm.memory-binding", back, 200);
	cr_assert_str_eq(jstr(b.json, "binding"), was);
	reply_free(&b);

	/* 16 MiB is free RAM for spin (its image ends near 2 MiB) */
	struct reply d = expect_req("PUT", "vm.memory-discard", "{\"gpa\":16777216,\"length\":2097152}", 200);
	cr_assert_eq(json_integer_value(json_object_get(d.json, "gpa")), 16777216, "%s", d.body);
	cr_assert_eq(json_integer_value(json_object_get(d.json, "length")), 2097152, "%s", d.body);
	reply_free(&d);
	reply_free((struct reply[]){ expect_req("PUT", "vm.memory-discard", "{\"gpa\":16777217,\"length\":4096}", 400) });

	client(&r, "shutdown", NULL);
	expect_run(&r, 0, "shutdown\n");
	run_result_free(&r);
	int status = wait_exit(vmm.pid, 30);
	cr_assert_eq(status, 0, "gmvm run: status %d\n%s", status, slurp(vmm.err));
	vmm.pid = 0;
	cr_assert_neq(access(vmm.sock, F_OK), 0, "the socket outlived gmvm run");

	json_t *requests;
	char *names = machine_events(&requests);
	cr_assert_str_eq(names, "created running paused resumed binding binding discard shutdown",
			 "events:\n%s", slurp(vmm.events));
	cr_assert(find_request(requests, "PUT", "vm.pause", 200), "%s", slurp(vmm.events));
	cr_assert(find_request(requests, "PUT", "vm.pause", 409), "%s", slurp(vmm.events));
	cr_assert(find_request(requests, "GET", "vm.info", 200), "%s", slurp(vmm.events));
	cr_assert(find_request(requests, "PUT", "vm.memory-discard", 400), "%s", slurp(vmm.events));
	char *text = slurp(vmm.events);
	cr_assert(strstr(text, "\"mode\":\"mapped\"") || strstr(text, "\"mode\": \"mapped\""), "%s", text);
	cr_assert(strstr(text, "shutdown by API"), "%s", text);
	free(text);
	free(names);
	json_decref(requests);
}

/* The HTTP-level refusals, each a JSON error line with its status. */
Test(http, errors_have_their_status)
{
	start_spin();
	reply_free((struct reply[]){ expect_req("GET", "vm.nothing", NULL, 404) });
	reply_free((struct reply[]){ expect_req("GET", "nothing", NULL, 404) });

	struct reply m = expect_req("GET", "vm.pause", NULL, 405);
	cr_assert(strcasestr(m.headers, "\nAllow: PUT"), "no Allow header:\n%s", m.headers);
	reply_free(&m);
	reply_free((struct reply[]){ expect_req("PUT", "vm.info", NULL, 405) });

	reply_free((struct reply[]){ expect_req("PUT", "vm.memory-binding", "{\"mode\":", 400) });
	reply_free((struct reply[]){ expect_req("PUT", "vm.memory-binding", "{\"mode\":7}", 400) });
	reply_free((struct reply[]){ expect_req("PUT", "vm.memory-binding", "{}", 400) });
	reply_free((struct reply[]){ expect_req("PUT", "vm.memory-binding", "{\"mode\":\"fast\"}", 400) });
	struct reply u = expect_req("PUT", "vm.memory-binding", "{\"mode\":\"gmem\",\"foo\":1}", 400);
	cr_assert(strstr(jstr(u.json, "error"), "'foo'"), "unknown field not named: %s", u.body);
	reply_free(&u);
	reply_free((struct reply[]){ expect_req("GET", "vmm.ping", "{}", 400) });

	size_t big = GM_API_MAX_BODY + 1;
	char *body = malloc(big + 1);
	memset(body, ' ', big);
	body[0] = '{';
	body[big - 1] = '}';
	body[big] = '\0';
	struct reply t = curl_req("PUT", "vm.pause", body, big);
	cr_assert_eq(t.status, 413, "%d: %s", t.status, t.body);
	cr_assert(json_string_value(json_object_get(t.json, "error")), "%s", t.body);
	reply_free(&t);
	free(body);

	/* after all that the guest runs on, and the server answers */
	struct reply i = expect_req("GET", "vm.info", NULL, 200);
	cr_assert_str_eq(jstr(i.json, "state"), "running");
	reply_free(&i);
}

/* Two clients at once: one pause (or resume) wins, the other is told why not. */
Test(http, concurrent_pause_and_resume_have_one_winner)
{
	start_spin();
	for (int round = 0; round < 10; round++) {
		for (int step = 0; step < 2; step++) {
			const char *cmd = step ? "resume" : "pause";
			char out[2][128], err[2][128];
			pid_t pid[2];
			int status[2];

			for (int k = 0; k < 2; k++) {
				snprintf(out[k], sizeof(out[k]), "%s/client%d.out", vmm.dir, k);
				snprintf(err[k], sizeof(err[k]), "%s/client%d.err", vmm.dir, k);
				const char *argv[] = { gmvm_bin(), cmd, "--api-sock", vmm.sock, NULL };
				pid[k] = spawn(argv, out[k], err[k]);
			}
			for (int k = 0; k < 2; k++)
				status[k] = wait_exit(pid[k], 60);
			cr_assert(status[0] + status[1] == 1 && status[0] * status[1] == 0,
				  "round %d %s: statuses %d and %d\n%s\n%s", round, cmd, status[0], status[1],
				  slurp(err[0]), slurp(err[1]));
			char *loser = slurp(err[status[0] ? 0 : 1]);
			cr_assert(strstr(loser, step ? "not paused" : "already paused"), "round %d: %s", round, loser);
			free(loser);
		}
	}
	struct reply i = expect_req("GET", "vm.info", NULL, 200);
	cr_assert_str_eq(jstr(i.json, "state"), "running", "%s", i.body);
	reply_free(&i);
	struct reply c = expect_req("GET", "vm.counters", NULL, 200);
	cr_assert_geq(json_integer_value(json_object_get(c.json, "pauses")), 10, "%s", c.body);
	reply_free(&c);
	struct run_result r;
	client(&r, "shutdown", NULL);
	expect_run(&r, 0, "shutdown");
	run_result_free(&r);
	cr_assert_eq(wait_exit(vmm.pid, 30), 0, "%s", slurp(vmm.err));
	vmm.pid = 0;
	char *con = slurp(vmm.console);
	cr_assert_eq(count_substr(con, "spin: running"), 1, "the guest restarted or crashed:\n%s", con);
	free(con);
}

/* Nobody asked for a pause, so the busy guest was never stopped. */
Test(http, busy_guest_is_never_paused)
{
	start_spin();
	sleep_ms(3000);
	struct reply c = expect_req("GET", "vm.counters", NULL, 200);
	json_t *pauses = json_object_get(c.json, "pauses");
	cr_assert(json_is_integer(pauses) && json_integer_value(pauses) == 0, "%s", c.body);
	reply_free(&c);
}

/* A socket left behind by a killed gmvm is replaced, not refused. */
Test(http, stale_socket_is_replaced)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	require_kvm();
	paths();
	strcpy(a.sun_path, vmm.sock);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	close(fd);
	start_spin();
	reply_free((struct reply[]){ expect_req("GET", "vmm.ping", NULL, 200) });
}

/* A socket somebody still listens on is theirs: a second gmvm run is refused. */
Test(http, live_socket_is_refused)
{
	struct run_result r;
	char *guest = guest_path("spin");

	start_spin();
	run_gmvm(&r, 60, "run", "--api-sock", vmm.sock, "--console", "none", guest, NULL);
	cr_assert_eq(r.status, 2, "status %d\n%s", r.status, r.err);
	cr_assert(strstr(r.err, "gmvm: ") && strstr(r.err, vmm.sock), "%s", r.err);
	cr_assert_eq(count_substr(r.err, "\n"), 1, "%s", r.err);
	run_result_free(&r);
	free(guest);
	/* and the first one still serves */
	reply_free((struct reply[]){ expect_req("GET", "vmm.ping", NULL, 200) });
}

Test(http, vmm_shutdown_ends_the_process)
{
	struct run_result r;

	start_spin();
	client(&r, "shutdown-vmm", NULL);
	expect_run(&r, 0, "shutdown");
	run_result_free(&r);
	int status = wait_exit(vmm.pid, 30);
	cr_assert_eq(status, 0, "gmvm run: status %d\n%s", status, slurp(vmm.err));
	vmm.pid = 0;
	cr_assert_neq(access(vmm.sock, F_OK), 0, "the socket outlived gmvm run");
	char *text = slurp(vmm.events);
	cr_assert(strstr(text, "VMM shutdown by API"), "%s", text);
	free(text);
}
