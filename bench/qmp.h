/*
 * bench/qmp: the smallest QMP client that will do for QEMU's side of the
 * API and snapshot cases: one connected UNIX stream socket, JSON objects
 * one per line, commands run one at a time, asynchronous events read and
 * dropped but for the status a MIGRATION event carries.
 */
#ifndef BENCH_QMP_H
#define BENCH_QMP_H

#include <jansson.h>
#include <stddef.h>

#define QMP_LINE_MAX 16384	/* QEMU's answers and events here are a few hundred bytes */
#define QMP_TIMEOUT_MS 10000	/* the default wait for one line */

struct qmp {
	int fd;
	int timeout_ms;			/* for one line; 0: QMP_TIMEOUT_MS */
	size_t len;			/* bytes held in buf */
	char buf[QMP_LINE_MAX];
	char line[QMP_LINE_MAX];	/* the line being looked at */
	char migration[32];		/* the status in the last MIGRATION event read; "" before one */
};

/*
 * Takes over fd (a connection to `-qmp unix:PATH,server=on,wait=off`),
 * reads the greeting and negotiates with qmp_capabilities.  -1 with a
 * reason in err (fd is then closed).  Keeps q->timeout_ms as set.
 */
int qmp_open(struct qmp *q, int fd, char *err, size_t errlen);

/* Runs {"execute":cmd} and reads up to its answer; -1 with QEMU's error or the I/O failure in err. */
int qmp_execute(struct qmp *q, const char *cmd, char *err, size_t errlen);

void qmp_close(struct qmp *q);

/*
 * Runs cmd (a command object such as json_pack("{s:s}", "execute", "stop"),
 * taken over, NULL when building it failed) and reads up to its answer.
 * *ret (when ret is not NULL): the answer's "return", for the caller to
 * json_decref.  -1 with QEMU's error or the failure in err.
 */
int qmp_call(struct qmp *q, json_t *cmd, json_t **ret, char *err, size_t errlen);

/* A string field of a query's answer (e.g. query-status, "status") into buf; -1 with a reason when absent. */
int qmp_query(struct qmp *q, const char *execute, const char *field, char *buf, size_t len, char *err,
	      size_t errlen);

/*
 * Waits, blocked on the socket, until a MIGRATION event says completed,
 * failed or cancelled (QEMU sends them once the "events" migration
 * capability is on), for at most timeout_ms in all.  0 with that status in
 * q->migration, or -1 with a reason.
 */
int qmp_wait_migration(struct qmp *q, int timeout_ms, char *err, size_t errlen);

/* The next line from QEMU (without CRLF) into q->line; -1 with a reason on EOF, error or timeout_ms of silence. */
int qmp_read_line(struct qmp *q, char *err, size_t errlen);
/* All of s[0, n) to QEMU; -1 with a reason. */
int qmp_send(struct qmp *q, const char *s, size_t n, char *err, size_t errlen);

/*
 * What one line from QEMU is: QMP_RETURN, QMP_ERROR (desc, class copied
 * into what), QMP_EVENT, QMP_GREETING, or QMP_OTHER (not a JSON object,
 * or none of those).  Pure, for the client and its tests.
 */
enum qmp_kind { QMP_OTHER, QMP_RETURN, QMP_ERROR, QMP_EVENT, QMP_GREETING };
enum qmp_kind qmp_classify(const char *line, size_t len, char *what, size_t whatlen);

#endif
