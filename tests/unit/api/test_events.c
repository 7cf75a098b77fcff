/*
 * The event monitor: specs, one JSON object per line with timestamp_us and
 * event, and a reader that goes away without taking the VMM with it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_test.h"

static struct test_dir dir;
static char file[192], spec[256];
static struct gm_events *ev;
static struct gm_error err;

static void setup(void)
{
	test_dir_make(&dir);
	test_dir_file(&dir, "events.jsonl", file, sizeof(file));
	snprintf(spec, sizeof(spec), "path=%s", file);
	ev = NULL;
	memset(&err, 0, sizeof(err));
}

static void teardown(void)
{
	gm_events_close(ev);
	test_dir_remove(&dir);
}

TestSuite(events, .init = setup, .fini = teardown, .timeout = 30);

/* Every line of path as a JSON object, each with timestamp_us and event; returns the count. */
static size_t read_events(const char *path, json_t **out, size_t max)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, n = 0;

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	while (getline(&line, &cap, f) > 0) {
		cr_assert_lt(n, max);
		cr_assert_eq(line[strlen(line) - 1], '\n', "line not ended: %s", line);
		out[n] = test_json(line);
		cr_assert(json_is_integer(json_object_get(out[n], "timestamp_us")), "%s", line);
		cr_assert(json_is_string(json_object_get(out[n], "event")), "%s", line);
		n++;
	}
	free(line);
	fclose(f);
	return n;
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static json_int_t num(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

Test(events, path_spec_writes_one_object_per_line)
{
	struct gm_exit ex = { .kind = GM_EXIT_PORT, .status = 3, .reason = "guest wrote 1 to port 0xf4" };
	struct gm_event e[] = {
		{ .kind = GM_EVENT_CREATED, .time_us = 10 },
		{ .kind = GM_EVENT_BINDING, .time_us = 20, .binding = GM_BIND_MAPPED },
		{ .kind = GM_EVENT_DISCARD, .time_us = 30, .gpa = 0x200000, .length = 0x100000 },
		{ .kind = GM_EVENT_SHUTDOWN, .time_us = 40, .exit = &ex },
	};
	json_t *l[8];

	cr_assert_eq(gm_events_open(spec, &ev, &err), 0, "%s", err.msg);
	for (size_t i = 0; i < 4; i++)
		gm_events_machine_hook(ev, &e[i]);
	gm_events_request(ev, "PUT", "/api/v1/vm.pause", 409);
	cr_assert_eq(read_events(file, l, 8), 5);
	cr_assert_str_eq(str(l[0], "event"), "created");
	cr_assert_eq(num(l[0], "timestamp_us"), 10);
	cr_assert_str_eq(str(l[1], "event"), "binding");
	cr_assert_str_eq(str(l[1], "mode"), "mapped");
	cr_assert_str_eq(str(l[2], "event"), "discard");
	cr_assert_eq(num(l[2], "gpa"), 0x200000);
	cr_assert_eq(num(l[2], "length"), 0x100000);
	cr_assert_str_eq(str(l[3], "event"), "shutdown");
	cr_assert_str_eq(str(l[3], "kind"), "port");
	cr_assert_eq(num(l[3], "status"), 3);
	cr_assert_str_eq(str(l[3], "reason"), "guest wrote 1 to port 0xf4");
	cr_assert_str_eq(str(l[4], "event"), "request");
	cr_assert_str_eq(str(l[4], "method"), "PUT");
	cr_assert_str_eq(str(l[4], "path"), "/api/v1/vm.pause");
	cr_assert_eq(num(l[4], "status"), 409);
	cr_assert_gt(num(l[4], "timestamp_us"), 0);
	for (int i = 0; i < 5; i++)
		json_decref(l[i]);
}

Test(events, the_simple_events_have_their_names)
{
	static const char *names[] = { "created", "running", "paused", "resumed" };
	json_t *l[4];

	cr_assert_eq(gm_events_open(spec, &ev, &err), 0, "%s", err.msg);
	for (int k = GM_EVENT_CREATED; k <= GM_EVENT_RESUMED; k++)
		gm_events_machine_hook(ev, &(struct gm_event){ .kind = k, .time_us = 1 });
	cr_assert_eq(read_events(file, l, 4), 4);
	for (int i = 0; i < 4; i++) {
		cr_assert_str_eq(str(l[i], "event"), names[i]);
		json_decref(l[i]);
	}
}

Test(events, event_file_is_truncated_and_mode_0600)
{
	struct stat st;
	FILE *f = fopen(file, "w");

	fputs("old contents\n", f);
	fclose(f);
	cr_assert_eq(gm_events_open(spec, &ev, &err), 0, "%s", err.msg);
	cr_assert_eq(stat(file, &st), 0);
	cr_assert_eq(st.st_size, 0);
	unlink(file);
	gm_events_close(ev);
	ev = NULL;
	cr_assert_eq(gm_events_open(spec, &ev, &err), 0, "%s", err.msg);
	cr_assert_eq(stat(file, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
}

Test(events, fd_spec_writes_there_and_leaves_it_open)
{
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	json_t *l[2];

	cr_assert_geq(fd, 0);
	snprintf(spec, sizeof(spec), "fd=%d", fd);
	cr_assert_eq(gm_events_open(spec, &ev, &err), 0, "%s", err.msg);
	gm_events_request(ev, "GET", "/api/v1/vmm.ping", 200);
	gm_events_close(ev);
	ev = NULL;
	cr_assert_neq(fcntl(fd, F_GETFD), -1, "the caller's descriptor was closed");
	close(fd);
	cr_assert_eq(read_events(file, l, 2), 1);
	cr_assert_str_eq(str(l[0], "event"), "request");
	json_decref(l[0]);
}

Test(events, bad_specs_are_refused)
{
	static const char *bad[] = { "", "path=", "fd=", "fd=x", "fd=-1", "fd=3x", "fd= 3",
				     "fd=99999999999", "file=/tmp/x", "path", "events.log" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		cr_assert_eq(gm_events_open(bad[i], &ev, &err), -EINVAL, "'%s' accepted", bad[i]);
		cr_assert_null(ev);
		cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
		cr_assert_not_null(strstr(err.msg, "fd=N"), "'%s': %s", bad[i], err.msg);
	}
}

Test(events, closed_descriptor_is_refused)
{
	int fd = open("/dev/null", O_WRONLY);

	close(fd);
	snprintf(spec, sizeof(spec), "fd=%d", fd);
	cr_assert_eq(gm_events_open(spec, &ev, &err), -EBADF);
	cr_assert_not_null(strstr(err.msg, "not an open descriptor"), "%s", err.msg);
}

Test(events, read_only_descriptor_is_refused)
{
	int fd = open("/dev/null", O_RDONLY);

	snprintf(spec, sizeof(spec), "fd=%d", fd);
	cr_assert_eq(gm_events_open(spec, &ev, &err), -EBADF);
	cr_assert_not_null(strstr(err.msg, "open it for writing"), "%s", err.msg);
	close(fd);
}

Test(events, unwritable_path_is_refused)
{
	test_dir_file(&dir, "no/such/events", file, sizeof(file));
	snprintf(spec, sizeof(spec), "path=%s", file);
	cr_assert_eq(gm_events_open(spec, &ev, &err), -ENOENT);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert_not_null(strstr(err.msg, "directory exists"), "%s", err.msg);
}

/* The reader went away: no SIGPIPE kills the process, later events are dropped. */
Test(events, reader_gone_does_not_kill_the_vmm)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	close(p[0]);
	snprintf(spec, sizeof(spec), "fd=%d", p[1]);
	cr_assert_eq(gm_events_open(spec, &ev, &err), 0, "%s", err.msg);
	for (int i = 0; i < 3; i++)
		gm_events_request(ev, "GET", "/api/v1/vmm.ping", 200);
	gm_events_close(ev);
	ev = NULL;
	close(p[1]);
}

Test(events, server_writes_a_request_event_per_answer)
{
	struct gm_api *api;
	struct curl_result r;
	json_t *l[4];

	cr_assert_eq(gm_events_open(spec, &ev, &err), 0, "%s", err.msg);
	api = test_server_start(&dir, ev);
	test_curl(&dir, "GET", "vmm.ping", NULL, 0, NULL, &r);
	curl_result_free(&r);
	test_curl(&dir, "PUT", "vm.pause", NULL, 0, NULL, &r);
	curl_result_free(&r);
	gm_api_destroy(api);
	cr_assert_eq(read_events(file, l, 4), 2);
	cr_assert_str_eq(str(l[0], "path"), "/api/v1/vmm.ping");
	cr_assert_eq(num(l[0], "status"), 200);
	cr_assert_str_eq(str(l[1], "method"), "PUT");
	cr_assert_eq(num(l[1], "status"), 409);
	json_decref(l[0]);
	json_decref(l[1]);
}
