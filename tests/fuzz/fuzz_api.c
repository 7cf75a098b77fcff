/*
 * Fuzz target for the API's request handler: the input's first line is
 * "METHOD PATH", the rest is the body.  gm_api_handle runs on a detached
 * api with no machine, with the event monitor writing to a memfd.
 * Invariants: a status in 200..599; the reply is a JSON object; an error
 * reply has a non-empty one-line "error" string and a 2xx has none; the
 * request event is exactly one JSON line with that status.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "api/api_internal.h"

#define CHECK(cond, ...)                                                           \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "fuzz_api: %s: ", #cond);                  \
			fprintf(stderr, __VA_ARGS__);                              \
			fputc('\n', stderr);                                       \
			abort();                                                   \
		}                                                                  \
	} while (0)

/* The input split into NUL-terminated method and path and an exact-size body. */
struct request {
	char *method, *path, *body;
	size_t body_len;
};

static void split(const uint8_t *data, size_t size, struct request *rq)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t line = nl ? (size_t)(nl - data) : size;
	const uint8_t *sp = memchr(data, ' ', line);
	size_t mlen = sp ? (size_t)(sp - data) : line;

	rq->method = strndup((const char *)data, mlen);
	rq->path = sp ? strndup((const char *)sp + 1, line - mlen - 1) : strdup("");
	rq->body_len = nl ? size - line - 1 : 0;
	rq->body = NULL;
	if (rq->body_len) {
		/* exact size, so ASan sees a read past the body's end */
		rq->body = malloc(rq->body_len);
		memcpy(rq->body, nl + 1, rq->body_len);
	}
}

static void check_reply(int status, const char *text)
{
	json_error_t e;
	json_t *obj, *err;

	CHECK(status >= 200 && status <= 599, "status %d", status);
	CHECK(text != NULL, "no body");
	obj = json_loads(text, 0, &e);
	CHECK(obj && json_is_object(obj), "reply is not a JSON object: %s", text);
	err = json_object_get(obj, "error");
	if (status >= 400) {
		const char *line = json_string_value(err);

		CHECK(line && line[0], "error reply without an error string: %s", text);
		CHECK(!strchr(line, '\n') && !strchr(line, '\r'), "error on more than one line: %s", text);
	} else {
		CHECK(!err, "a %d with an error: %s", status, text);
	}
	json_decref(obj);
}

/* The event the request left in the memfd: one line, JSON, our status. */
static void check_event(int fd, int status)
{
	off_t size = lseek(fd, 0, SEEK_END);
	json_error_t e;
	json_t *obj;
	char *buf;

	CHECK(size > 0, "no request event");
	buf = malloc((size_t)size + 1);
	CHECK(buf && pread(fd, buf, (size_t)size, 0) == size, "reading the event back");
	buf[size] = '\0';
	CHECK(buf[size - 1] == '\n' && !memchr(buf, '\n', (size_t)size - 1), "event is not one line: %s", buf);
	obj = json_loads(buf, 0, &e);
	CHECK(obj, "event is not JSON (%s): %s", e.text, buf);
	CHECK(json_integer_value(json_object_get(obj, "status")) == status, "event status: %s", buf);
	CHECK(json_is_string(json_object_get(obj, "path")), "event without a path: %s", buf);
	json_decref(obj);
	free(buf);
	CHECK(ftruncate(fd, 0) == 0, "ftruncate");
	CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int event_fd = -1;
	struct gm_error err = { 0 };
	struct gm_events *ev = NULL;
	struct gm_api *api = NULL;
	struct request rq;
	char spec[32], *out = NULL;
	int status;

	if (event_fd < 0)
		event_fd = memfd_create("fuzz_api-events", MFD_CLOEXEC);
	CHECK(event_fd >= 0, "memfd_create");
	snprintf(spec, sizeof(spec), "fd=%d", event_fd);
	CHECK(gm_events_open(spec, &ev, &err) == 0, "%s", err.msg);
	CHECK(gm_api_new_detached(&api, &err) == 0, "%s", err.msg);
	gm_api_set_events(api, ev);

	split(data, size, &rq);
	status = gm_api_handle(api, rq.method, rq.path, rq.body, rq.body_len, &out);
	check_reply(status, out);
	check_event(event_fd, status);

	free(out);
	free(rq.method);
	free(rq.path);
	free(rq.body);
	gm_api_destroy(api);
	gm_events_close(ev);
	return 0;
}
