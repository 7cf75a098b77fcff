/*
 * bench/qmp: the smallest QMP client that will do for QEMU's side of the
 * API cases: one connected UNIX stream socket, JSON objects one per line,
 * commands run one at a time, asynchronous events read and dropped.
 */
#ifndef BENCH_QMP_H
#define BENCH_QMP_H

#include <stddef.h>

#define QMP_LINE_MAX 16384	/* QEMU's answers and events here are a few hundred bytes */

struct qmp {
	int fd;
	size_t len;			/* bytes held in buf */
	char buf[QMP_LINE_MAX];
	char line[QMP_LINE_MAX];	/* the line being looked at */
};

/*
 * Takes over fd (a connection to `-qmp unix:PATH,server=on,wait=off`),
 * reads the greeting and negotiates with qmp_capabilities.  -1 with a
 * reason in err (fd is then closed).
 */
int qmp_open(struct qmp *q, int fd, char *err, size_t errlen);

/* Runs {"execute":cmd} and reads up to its answer; -1 with QEMU's error or the I/O failure in err. */
int qmp_execute(struct qmp *q, const char *cmd, char *err, size_t errlen);

void qmp_close(struct qmp *q);

/* The next line from QEMU (without CRLF) into q->line; -1 with a reason on EOF, error or 10 s of silence. */
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
