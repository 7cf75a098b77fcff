/*
 * bench/qmp: a tiny QMP client over a plain UNIX socket.  QEMU ends each
 * JSON object with CRLF; every line is parsed with jansson and sorted into
 * answer, error or event.  Reads wait in poll() with a deadline so a QEMU
 * that stops answering fails the run instead of hanging the bench.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "qmp.h"

enum qmp_kind qmp_classify(const char *line, size_t len, char *what, size_t whatlen)
{
	json_error_t jerr;
	json_t *root = json_loadb(line, len, 0, &jerr);
	enum qmp_kind kind = QMP_OTHER;

	if (whatlen)
		what[0] = '\0';
	if (!json_is_object(root)) {
		json_decref(root);
		return QMP_OTHER;
	}
	json_t *e = json_object_get(root, "error");

	if (json_object_get(root, "return")) {
		kind = QMP_RETURN;
	} else if (json_is_object(e)) {
		const char *cls = json_string_value(json_object_get(e, "class"));
		const char *desc = json_string_value(json_object_get(e, "desc"));

		kind = QMP_ERROR;
		if (whatlen)
			snprintf(what, whatlen, "%s (%s)", desc ? desc : "no description", cls ? cls : "no class");
	} else if (json_is_string(json_object_get(root, "event"))) {
		kind = QMP_EVENT;
	} else if (json_object_get(root, "QMP")) {
		kind = QMP_GREETING;
	}
	json_decref(root);
	return kind;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keeps what the snapshot case waits for from an event line: a MIGRATION event's status. */
static void note_event(struct qmp *q)
{
	json_t *root = json_loads(q->line, 0, NULL);
	const char *name = json_string_value(json_object_get(root, "event"));
	const char *status = json_string_value(json_object_get(json_object_get(root, "data"), "status"));

	if (name && status && !strcmp(name, "MIGRATION"))
		snprintf(q->migration, sizeof(q->migration), "%s", status);
	json_decref(root);
}

/* The next line, waiting until deadline (ms on CLOCK_MONOTONIC) at the latest: -ETIMEDOUT, or -1 with a reason. */
static int read_line_until(struct qmp *q, long long deadline, char *err, size_t errlen)
{
	char *line = q->line;
	size_t linelen = sizeof(q->line);

	for (;;) {
		char *nl = memchr(q->buf, '\n', q->len);

		if (nl) {
			size_t n = (size_t)(nl - q->buf);
			size_t keep = n && q->buf[n - 1] == '\r' ? n - 1 : n;

			if (keep >= linelen)
				keep = linelen - 1;
			memcpy(line, q->buf, keep);
			line[keep] = '\0';
			q->len -= n + 1;
			memmove(q->buf, nl + 1, q->len);
			return 0;
		}
		if (q->len == sizeof(q->buf)) {
			snprintf(err, errlen, "QMP: a line longer than %zu bytes", sizeof(q->buf));
			return -1;
		}
		long long left = deadline - now_ms();
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
		int r = left > 0 ? poll(&pfd, 1, (int)left) : 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0) {
			snprintf(err, errlen, "QMP: %s", strerror(errno));
			return -1;
		}
		ssize_t got = recv(q->fd, q->buf + q->len, sizeof(q->buf) - q->len, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			snprintf(err, errlen, "QMP: %s", got ? strerror(errno) : "QEMU closed the connection");
			return -1;
		}
		q->len += (size_t)got;
	}
}

int qmp_read_line(struct qmp *q, char *err, size_t errlen)
{
	int timeout_ms = q->timeout_ms > 0 ? q->timeout_ms : QMP_TIMEOUT_MS;

	int r = read_line_until(q, now_ms() + timeout_ms, err, errlen);

	if (r == -ETIMEDOUT)
		snprintf(err, errlen, "QMP: no answer within %d ms", timeout_ms);
	return r < 0 ? -1 : 0;
}

int qmp_send(struct qmp *q, const char *s, size_t n, char *err, size_t errlen)
{
	while (n) {
		ssize_t w = send(q->fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			snprintf(err, errlen, "QMP: send: %s", strerror(errno));
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int qmp_execute(struct qmp *q, const char *cmd, char *err, size_t errlen)
{
	char msg[128], what[256];
	int n = snprintf(msg, sizeof(msg), "{\"execute\":\"%s\"}\n", cmd);

	if (n < 0 || (size_t)n >= sizeof(msg) || qmp_send(q, msg, (size_t)n, err, errlen) < 0)
		return -1;
	for (;;) {
		if (qmp_read_line(q, err, errlen) < 0)
			return -1;
		switch (qmp_classify(q->line, strlen(q->line), what, sizeof(what))) {
		case QMP_RETURN:
			return 0;
		case QMP_ERROR:
			snprintf(err, errlen, "QMP %s: %s", cmd, what);
			return -1;
		case QMP_EVENT: /* STOP, RESUME and the like, sent as they happen */
			note_event(q);
			continue;
		default:
			snprintf(err, errlen, "QMP %s: unexpected line: %.200s", cmd, q->line);
			return -1;
		}
	}
}

int qmp_open(struct qmp *q, int fd, char *err, size_t errlen)
{
	q->fd = fd;
	q->len = 0;
	q->migration[0] = '\0';
	if (qmp_read_line(q, err, errlen) < 0)
		goto fail;
	if (qmp_classify(q->line, strlen(q->line), NULL, 0) != QMP_GREETING) {
		snprintf(err, errlen, "QMP: expected the greeting, got: %.200s", q->line);
		goto fail;
	}
	if (qmp_execute(q, "qmp_capabilities", err, errlen) < 0)
		goto fail;
	return 0;
fail:
	qmp_close(q);
	return -1;
}

void qmp_close(struct qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	q->len = 0;
}

int qmp_call(struct qmp *q, json_t *cmd, json_t **ret, char *err, size_t errlen)
{
	char name[64], what[256];
	char *text = cmd ? json_dumps(cmd, JSON_COMPACT) : NULL;
	int r = -1;

	snprintf(name, sizeof(name), "%s", cmd ? json_string_value(json_object_get(cmd, "execute")) : "?");
	json_decref(cmd);
	if (!text) {
		snprintf(err, errlen, "QMP %s: out of memory", name);
		return -1;
	}
	size_t n = strlen(text);

	text[n] = '\n'; /* in place of the NUL: what is sent is the line */
	if (qmp_send(q, text, n + 1, err, errlen) < 0)
		goto out;
	for (;;) {
		if (qmp_read_line(q, err, errlen) < 0)
			goto out;
		enum qmp_kind kind = qmp_classify(q->line, strlen(q->line), what, sizeof(what));

		if (kind == QMP_EVENT) {
			note_event(q);
			continue;
		}
		if (kind == QMP_ERROR) {
			snprintf(err, errlen, "QMP %s: %s", name, what);
		} else if (kind != QMP_RETURN) {
			snprintf(err, errlen, "QMP %s: unexpected line: %.200s", name, q->line);
		} else {
			json_t *root = json_loads(q->line, 0, NULL);

			if (ret)
				*ret = json_incref(json_object_get(root, "return"));
			json_decref(root);
			r = 0;
		}
		goto out;
	}
out:
	free(text);
	return r;
}

int qmp_query(struct qmp *q, const char *execute, const char *field, char *buf, size_t len, char *err,
	      size_t errlen)
{
	json_t *ret = NULL;

	if (qmp_call(q, json_pack("{s:s}", "execute", execute), &ret, err, errlen) < 0)
		return -1;
	const char *v = json_string_value(json_object_get(ret, field));

	if (v)
		snprintf(buf, len, "%s", v);
	else
		snprintf(err, errlen, "QMP %s: no \"%s\" in its answer", execute, field);
	json_decref(ret);
	return v ? 0 : -1;
}

int qmp_wait_migration(struct qmp *q, int timeout_ms, char *err, size_t errlen)
{
	long long deadline = now_ms() + timeout_ms;

	while (strcmp(q->migration, "completed") && strcmp(q->migration, "failed") &&
	       strcmp(q->migration, "cancelled")) {
		int r = read_line_until(q, deadline, err, errlen);

		if (r == -ETIMEDOUT)
			snprintf(err, errlen, "QMP: the migration is still '%s' after %d ms",
				 q->migration[0] ? q->migration : "not started", timeout_ms);
		if (r < 0)
			return -1;
		if (qmp_classify(q->line, strlen(q->line), NULL, 0) != QMP_EVENT) {
			snprintf(err, errlen, "QMP: unexpected line while waiting for the migration: %.200s", q->line);
			return -1;
		}
		note_event(q);
	}
	return 0;
}
