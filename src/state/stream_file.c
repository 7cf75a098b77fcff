/*
 * state/stream_file.c: a whole stream read from a file (or a FIFO) into
 * memory and parsed.  The size limit applies before the bytes are read, so
 * a huge or endless input costs at most the limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/state_internal.h"

/* Up to max bytes of fd into *buf; -EFBIG if there is more. */
static int slurp(int fd, uint64_t hint, uint64_t max, uint8_t **buf, size_t *len)
{
	size_t cap = hint && hint <= max ? (size_t)hint + 1 : 1u << 20, n = 0;
	uint8_t *b = malloc(cap);

	if (!b)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			/* max + 1: one byte past the limit tells "too big" from "exactly max". */
			size_t ncap = cap > max / 2 ? (size_t)max + 1 : 2 * cap;
			uint8_t *nb;

			if (ncap <= cap) {
				free(b);
				return -EFBIG;
			}
			if (!(nb = realloc(b, ncap))) {
				free(b);
				return -ENOMEM;
			}
			b = nb;
			cap = ncap;
		}
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(b);
			return -e;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			free(b);
			return -EFBIG;
		}
	}
	*buf = b;
	*len = n;
	return 0;
}

int gm_stream_in_read_file_limit(const char *path, uint64_t max, struct gm_stream_in **out,
				 struct gm_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;
	bool fresh = err && err->msg[0] == '\0';
	struct stat st;
	uint8_t *buf = NULL;
	size_t len = 0;

	*out = NULL;
	if (max > SIZE_MAX - 1)
		max = SIZE_MAX - 1;
	if (fd < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, errno,
			       "state stream %s: cannot open: %s; check the path", path, strerror(errno));
	r = fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
	if (r) {
		close(fd);
		return gm_fail(err, GM_STATUS_BAD_INPUT, r, "state stream %s: cannot read: %s; "
			       "give the stream file", path, strerror(r));
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max)
		r = -EFBIG;
	else
		r = slurp(fd, S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0, max, &buf, &len);
	close(fd);
	if (r == -EFBIG)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EFBIG,
			       "state stream %s: more than the %" PRIu64 "-byte limit; "
			       "raise the limit if the stream is genuine", path, max);
	if (r < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, -r, "state stream %s: cannot read: %s",
			       path, strerror(-r));
	r = gm_stream_in_parse_limit(buf, len, max, out, err);
	if (r < 0) {
		free(buf);
		/* Name the file: "state stream: ..." becomes "state stream PATH: ...". */
		if (fresh && !strncmp(err->msg, "state stream: ", 14)) {
			char msg[sizeof(err->msg)];

			snprintf(msg, sizeof(msg), "state stream %s: %s", path, err->msg + 14);
			memcpy(err->msg, msg, sizeof(msg));
		}
		return r;
	}
	gm_stream_in_adopt(*out, buf);
	return 0;
}

int gm_stream_in_read_file(const char *path, struct gm_stream_in **out, struct gm_error *err)
{
	return gm_stream_in_read_file_limit(path, GM_STREAM_MAX_TOTAL, out, err);
}
