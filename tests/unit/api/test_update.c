/*
 * vmm.live-update on a detached api, no machine: the body is judged
 * (binary an absolute path to an executable file, args at most 32 strings,
 * none an option the running VM hands over itself) before the 409 that
 * says no VM is attached; the progress record's JSON as vm.info, the
 * answer and the update event carry it; the event monitor's fd for the
 * handover.  Live updates themselves need KVM (tests/integration/test_update.c).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmvm/update.h>

#include "api/api_internal.h"
#include "api_test.h"

TestSuite(update, .init = test_detached_init, .fini = test_detached_fini);

#define NO_VM "no VM is attached yet; retry vmm.live-update"

/* {"args":[n strings]} */
static char *args_body(unsigned n, const char *each)
{
	json_t *a = json_array();

	for (unsigned i = 0; i < n; i++)
		json_array_append_new(a, json_string(each));
	char *s = json_dumps(json_pack("{s:o}", "args", a), JSON_COMPACT);
	cr_assert_not_null(s);
	return s;
}

Test(update, good_bodies_reach_the_machine_check)
{
	char body[512], *many;

	test_expect_put("vmm.live-update", "{}", 409, NO_VM);
	snprintf(body, sizeof(body), "{\"binary\":\"/proc/self/exe\",\"args\":[\"--timeout\",\"30\",\"--cpus=2\",\"-c\",\"1\"]}");
	test_expect_put("vmm.live-update", body, 409, NO_VM);
	test_expect_put("vmm.live-update", "{\"args\":[]}", 409, NO_VM);
	/* values that merely start like a forbidden option are not one */
	test_expect_put("vmm.live-update", "{\"args\":[\"--uuids\",\"--test-update-die=check\",\"--memoryless\"]}", 409, NO_VM);
	many = args_body(GM_UPDATE_MAX_ARGS, "--trace-startup");
	test_expect_put("vmm.live-update", many, 409, NO_VM);
	free(many);
}

Test(update, types_and_unknown_fields_are_400_naming_the_field)
{
	test_expect_put("vmm.live-update", "{\"binary\":1}", 400,
			"field 'binary' in vmm.live-update must be a string, not an integer");
	test_expect_put("vmm.live-update", "{\"args\":\"--timeout 30\"}", 400,
			"field 'args' in vmm.live-update must be an array, not a string");
	test_expect_put("vmm.live-update", "{\"args\":[\"--timeout\",30]}", 400,
			"field 'args' in vmm.live-update: argument 1 is not a string");
	test_expect_put("vmm.live-update", "{\"binray\":\"/usr/bin/gmvm\"}", 400,
			"unknown field 'binray' in vmm.live-update; the fields are: binary (optional), args (optional)");
	test_expect_put("vmm.live-update", NULL, 400, "needs a JSON object as its body");
	test_expect_put("vmm.live-update", "[]", 400, "must be a JSON object, not an array");
}

Test(update, a_binary_that_is_not_one_is_400_naming_the_path)
{
	char dir[] = "/tmp/gmvm-update-XXXXXX", file[64], body[256];
	int fd;

	test_expect_put("vmm.live-update", "{\"binary\":\"gmvm\"}", 400,
			"field 'binary' in vmm.live-update: 'gmvm' is not an absolute path; send the full path");
	test_expect_put("vmm.live-update", "{\"binary\":\"\"}", 400, "is not an absolute path");
	test_expect_put("vmm.live-update", "{\"binary\":\"/nonexistent/gmvm\"}", 400,
			"cannot use /nonexistent/gmvm: No such file or directory; send the path of an installed gmvm binary");
	test_expect_put("vmm.live-update", "{\"binary\":\"/tmp\"}", 400, "/tmp is not an executable file");
	/* the JSON parser itself refuses a NUL, which would cut the path short */
	test_expect_put("vmm.live-update", "{\"binary\":\"/bin/sh\\u0000x\"}", 400, "\\u0000 is not allowed");

	cr_assert_not_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/gmvm", dir);
	fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	snprintf(body, sizeof(body), "{\"binary\":\"%s\"}", file);
	test_expect_put("vmm.live-update", body, 400, "gmvm is not an executable file; send the path of a gmvm binary (chmod +x it");
	cr_assert_eq(chmod(file, 0755), 0);
	test_expect_put("vmm.live-update", body, 409, NO_VM);
	unlink(file);
	rmdir(dir);
}

Test(update, too_many_or_too_long_args_are_400)
{
	char *many = args_body(GM_UPDATE_MAX_ARGS + 1, "-c1");
	char *lng = malloc(4098);

	test_expect_put("vmm.live-update", many, 400, "field 'args' in vmm.live-update has 33 arguments; send at most 32");
	free(many);
	memset(lng, 'a', 4097);
	lng[4097] = '\0';
	many = args_body(1, lng);
	test_expect_put("vmm.live-update", many, 400, "argument 0 is longer than 4096 bytes");
	free(many);
	free(lng);
	test_expect_put("vmm.live-update", "{\"args\":[\"--cmdline\",\"a\\u0000b\"]}", 400, "\\u0000 is not allowed");
}

Test(update, what_the_vm_hands_over_is_refused_in_args)
{
	static const struct {
		const char *arg, *why;
	} cases[] = {
		{ "--api-sock", "its API socket, console and event monitor" },
		{ "--api-sock=/tmp/x.sock", "its API socket" },
		{ "--console", "its API socket, console" },
		{ "--event-monitor=path=/tmp/e", "its API socket, console and event monitor" },
		{ "--memory", "its guest and memory" },
		{ "--memory=1G", "its guest and memory" },
		{ "-m", "its guest and memory" },
		{ "-m1G", "its guest and memory" },
		{ "--region", "its guest and memory" },
		{ "--kernel", "its guest and memory" },
		{ "--restore", "its guest and memory" },
		{ "--incoming=unix:/tmp/m", "its guest and memory" },
		{ "--uuid", "its identity" },
		{ "--new-identity", "its identity" },
		{ "--takeover=5", "the handover socket" },
		{ "--", "its guest and options" },
		{ "--help", "its guest and options" },
		{ "-h", "its guest and options" },
	};
	char body[256], want[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(body, sizeof(body), "{\"args\":[\"--timeout\",\"30\",\"%s\",\"x\"]}", cases[i].arg);
		snprintf(want, sizeof(want), "field 'args' in vmm.live-update: argument 2 is '%s', which the running VM hands over itself (%s",
			 cases[i].arg, cases[i].why);
		test_expect_put("vmm.live-update", body, 400, want);
	}
}

Test(update, progress_json_names_every_member_by_phase)
{
	struct gm_update_progress p = { .phase = GM_UPDATE_NONE, .updates = 2 };
	json_t *j = gm_json_update(&p);

	cr_assert_str_eq(json_string_value(json_object_get(j, "phase")), "none");
	cr_assert_eq(json_integer_value(json_object_get(j, "updates")), 2);
	cr_assert_eq(json_object_size(j), 2);
	json_decref(j);

	p = (struct gm_update_progress){ .phase = GM_UPDATE_COMPLETED, .binary = "/usr/bin/gmvm", .pid = 4242,
					 .updates = 1, .check_ms = 3.5, .pause_ms = 1.25, .load_ms = 0.75,
					 .elapsed_ms = 40.0, .state_bytes = 81920, .fds = 6, .bind = "ram=mapped" };
	j = gm_json_update(&p);
	cr_assert_str_eq(json_string_value(json_object_get(j, "phase")), "completed");
	cr_assert_str_eq(json_string_value(json_object_get(j, "binary")), "/usr/bin/gmvm");
	cr_assert_eq(json_integer_value(json_object_get(j, "pid")), 4242);
	cr_assert_eq(json_integer_value(json_object_get(j, "updates")), 1);
	cr_assert_float_eq(json_number_value(json_object_get(j, "check_ms")), 3.5, 1e-9);
	cr_assert_float_eq(json_number_value(json_object_get(j, "pause_ms")), 1.25, 1e-9);
	cr_assert_float_eq(json_number_value(json_object_get(j, "load_ms")), 0.75, 1e-9);
	cr_assert_float_eq(json_number_value(json_object_get(j, "elapsed_ms")), 40.0, 1e-9);
	cr_assert_eq(json_integer_value(json_object_get(j, "state_bytes")), 81920);
	cr_assert_eq(json_integer_value(json_object_get(j, "fds")), 6);
	cr_assert_str_eq(json_string_value(json_object_get(j, "bind")), "ram=mapped");
	cr_assert_null(json_object_get(j, "error"));
	json_decref(j);

	static const enum gm_update_phase failed[] = { GM_UPDATE_REFUSED, GM_UPDATE_ABORTED };
	for (int i = 0; i < 2; i++) {
		p.phase = failed[i];
		snprintf(p.error, sizeof(p.error), "the new process died (phase check)");
		j = gm_json_update(&p);
		cr_assert_str_eq(json_string_value(json_object_get(j, "phase")), i ? "aborted" : "refused");
		cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "the new process died (phase check)");
		json_decref(j);
	}
}

/* Every phase has its name, as vm.info, the answer and the events spell it. */
Test(update, phase_names)
{
	static const char *const names[] = { "none", "starting", "checking", "handover", "loading",
					     "completed", "refused", "aborted" };

	for (int i = GM_UPDATE_NONE; i <= GM_UPDATE_ABORTED; i++)
		cr_assert_str_eq(gm_update_phase_name((enum gm_update_phase)i), names[i]);
}

/* The events file's first line, as JSON. */
static json_t *first_event(const char *file)
{
	char line[2048];
	FILE *f = fopen(file, "r");

	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f));
	fclose(f);
	return test_json(line);
}

Test(update, the_update_event_carries_the_record)
{
	struct gm_update_progress p = { .phase = GM_UPDATE_ABORTED, .binary = "/opt/gmvm", .pid = 77,
					.pause_ms = 2.5, .error = "the new process died before READY (phase load)" };
	struct gm_error err = { 0 };
	struct gm_events *ev = NULL;
	struct test_dir d;
	char file[192], spec[256];

	test_dir_make(&d);
	test_dir_file(&d, "events.jsonl", file, sizeof(file));
	snprintf(spec, sizeof(spec), "path=%s", file);
	cr_assert_eq(gm_events_open(spec, &ev, &err), 0, "%s", err.msg);
	gm_events_machine_hook(ev, &(struct gm_event){ .kind = GM_EVENT_UPDATE, .time_us = 9, .update = &p });
	gm_events_close(ev);
	json_t *j = first_event(file);
	test_dir_remove(&d);
	cr_assert_str_eq(json_string_value(json_object_get(j, "event")), "update");
	cr_assert_str_eq(json_string_value(json_object_get(j, "phase")), "aborted");
	cr_assert_float_eq(json_number_value(json_object_get(j, "pause_ms")), 2.5, 1e-9);
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "the new process died before READY (phase load)");
	cr_assert_eq(json_integer_value(json_object_get(j, "pid")), 77);
	cr_assert_eq(json_integer_value(json_object_get(j, "timestamp_us")), 9);
	json_decref(j);
}

Test(update, the_event_monitor_fd_goes_along)
{
	struct gm_error err = { 0 };
	struct gm_events *ev = NULL;
	struct test_dir d;
	char file[192], spec[256];
	int fd;

	cr_assert_eq(gm_events_fd(NULL), -1);
	test_dir_make(&d);
	test_dir_file(&d, "events.jsonl", file, sizeof(file));
	fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	snprintf(spec, sizeof(spec), "fd=%d", fd);
	cr_assert_eq(gm_events_open(spec, &ev, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_events_fd(ev), fd);
	gm_events_close(ev);
	close(fd);
	snprintf(spec, sizeof(spec), "path=%s", file);
	cr_assert_eq(gm_events_open(spec, &ev, &err), 0, "%s", err.msg);
	cr_assert_geq(gm_events_fd(ev), 0);
	cr_assert_geq(fcntl(gm_events_fd(ev), F_GETFD), 0);
	gm_events_close(ev);
	test_dir_remove(&d);
}

/* A detached api has no socket to hand over, and its hooks do nothing. */
Test(update, a_detached_api_hands_over_no_socket)
{
	struct gm_error err = { 0 };
	const char *path = "unset";

	cr_assert_eq(gm_api_server_listen_fd(test_api, &path), -1);
	cr_assert_null(path);
	cr_assert_eq(gm_api_server_quiesce(test_api, &err), 0);
	cr_assert_eq(gm_api_server_unquiesce(test_api, &err), 0, "%s", err.msg);
}

/* Wait up to ms for fd to have something to read. */
static bool readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

static void send_ping(int fd)
{
	static const char req[] = "GET /api/v1/vmm.ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

	cr_assert_eq(write(fd, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
}

/*
 * The owner's share of an update on a real socket: while quiesced a new
 * client waits in the backlog, unanswered; an abort's unquiesce answers it
 * on the same socket; after the handover the path stays for the new process.
 */
Test(update_server, a_client_waits_through_the_pause_and_the_path_stays, .timeout = 60)
{
	struct gm_error err = { 0 };
	struct test_dir d;
	struct gm_api *api;
	const char *path = NULL;
	char buf[512];
	struct stat st;
	int fd, c;

	test_dir_make(&d);
	api = test_server_start(&d, NULL);
	fd = gm_api_server_listen_fd(api, &path);
	cr_assert_geq(fd, 0);
	cr_assert_str_eq(path, d.sock);

	cr_assert_eq(gm_api_server_quiesce(api, &err), 0, "%s", err.msg);
	c = test_connect(d.sock);
	cr_assert_geq(c, 0, "a client must still connect (the backlog) while quiesced");
	send_ping(c);
	cr_assert(!readable(c, 300), "a quiesced server answered");
	cr_assert_eq(gm_api_server_unquiesce(api, &err), 0, "%s", err.msg);
	cr_assert(readable(c, 5000), "no answer after unquiesce");
	ssize_t n = read(c, buf, sizeof(buf) - 1);
	cr_assert_gt(n, 0);
	buf[n] = '\0';
	cr_assert(strstr(buf, "200 OK"), "%s", buf);
	close(c);

	/* the update that follows commits while quiesced: the path is the new process's */
	cr_assert_eq(gm_api_server_quiesce(api, &err), 0, "%s", err.msg);
	gm_api_destroy(api);
	cr_assert_eq(stat(d.sock, &st), 0, "the handed-over socket's path was unlinked");
	cr_assert(S_ISSOCK(st.st_mode));
	test_dir_remove(&d);
}

/*
 * After a live update, a request the old process still holds goes on to
 * the new one at the same socket path and its answer comes back as it
 * was; with nobody there, the client is told where to go, and the
 * connection ends.
 */
Test(update_server, a_straggler_is_answered_by_the_new_process, .timeout = 60)
{
	struct test_dir d;
	struct gm_api *old = NULL, *new;
	struct gm_error err = { 0 };
	char *body = NULL;
	int status;

	test_dir_make(&d);
	new = test_server_start(&d, NULL);
	cr_assert_eq(gm_api_new_detached(&old, &err), 0, "%s", err.msg);
	old->handed_path = strdup(d.sock);
	atomic_store(&old->handed_to, 4242);
	status = gm_api_handle(old, "GET", "/api/v1/vmm.ping", NULL, 0, &body);
	cr_assert_eq(status, 200, "%d %s", status, body);
	cr_assert(strstr(body, "live-update"), "%s", body);
	free(body);
	/* a PUT with a body goes on too: the new process's own refusal comes back */
	status = gm_api_handle(old, "PUT", "/api/v1/vmm.live-update", "{\"binary\":\"relative\"}", 21, &body);
	cr_assert_eq(status, 400, "%d %s", status, body);
	cr_assert(strstr(body, "relative"), "%s", body);
	free(body);
	gm_api_destroy(new);
	status = gm_api_handle(old, "GET", "/api/v1/vm.info", NULL, 0, &body);
	cr_assert_eq(status, 503, "%d %s", status, body);
	cr_assert(strstr(body, "handed its VM to gmvm pid 4242 in a live update"), "%s", body);
	free(body);
	gm_api_destroy(old);
	test_dir_remove(&d);
}
