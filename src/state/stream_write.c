/*
 * state/stream_write.c: the stream writer.  It only ever appends, so the same
 * code feeds a snapshot file, a pipe or a migration socket; small writes are
 * gathered in a buffer, large payloads go straight from the caller's memory.
 * After a failed write the writer refuses everything: a stream with a hole
 * in it is worse than none.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "state/state_internal.h"
#include "util/le.h"

#define GM_OUT_BUF (256u << 10)
/* Linux moves at most this much per write() anyway. */
#define GM_OUT_MAX_IO (1u << 30)

int gm_stream_out_open(int fd, struct gm_stream_out **out, struct gm_error *err)
{
	struct gm_stream_out *w;
	struct stat st;

	*out = NULL;
	if (fstat(fd, &st) < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno,
			       "state stream: cannot write to fd %d: %s; pass an open file or socket",
			       fd, strerror(errno));
	w = calloc(1, sizeof(*w));
	if (w)
		w->buf = malloc(GM_OUT_BUF);
	if (!w || !w->buf) {
		free(w);
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM,
			       "state stream: out of memory for the writer's buffer");
	}
	w->fd = fd;
	w->sock = S_ISSOCK(st.st_mode);
	w->state = GM_OUT_HEADER;
	*out = w;
	return 0;
}

ZSTD_CCtx *gm_stream_out_cctx(struct gm_stream_out *w)
{
	if (!w->cctx)
		w->cctx = ZSTD_createCCtx();
	return w->cctx;
}

/* 0 or -errno; retries EINTR, short writes and a non-blocking fd's EAGAIN. */
static int write_all(int fd, bool sock, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t chunk = n < GM_OUT_MAX_IO ? n : GM_OUT_MAX_IO;
		ssize_t r = sock ? send(fd, p, chunk, MSG_NOSIGNAL) : write(fd, p, chunk);

		if (r < 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		if (r == 0)
			return -EIO;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int failed(struct gm_stream_out *w, int e, struct gm_error *err)
{
	w->state = GM_OUT_FAILED;
	return gm_fail(err, GM_STATUS_FAILURE, e,
		       "state stream: writing to fd %d failed after %" PRIu64 " bytes: %s; "
		       "check the free space on the disk or the connection to the receiver",
		       w->fd, w->bytes - w->len, strerror(e));
}

static int flush(struct gm_stream_out *w, struct gm_error *err)
{
	int r = write_all(w->fd, w->sock, w->buf, w->len);

	if (r < 0)
		return failed(w, -r, err);
	w->len = 0;
	return 0;
}

static int put(struct gm_stream_out *w, const void *p, size_t n, struct gm_error *err)
{
	int r;

	if (n <= GM_OUT_BUF - w->len) {
		if (n)
			memcpy(w->buf + w->len, p, n);
		w->len += n;
		w->bytes += n;
		return 0;
	}
	if ((r = flush(w, err)) < 0)
		return r;
	if (n < GM_OUT_BUF / 2) {
		memcpy(w->buf, p, n);
		w->len = n;
		w->bytes += n;
		return 0;
	}
	/* Large: straight from the caller, no copy. */
	if ((r = write_all(w->fd, w->sock, p, n)) < 0)
		return failed(w, -r, err);
	w->bytes += n;
	return 0;
}

static int usable(struct gm_stream_out *w, enum gm_out_state want, const char *what, struct gm_error *err)
{
	if (w->state == want)
		return 0;
	if (w->state == GM_OUT_FAILED)
		return gm_fail(err, GM_STATUS_FAILURE, EIO,
			       "state stream: cannot write %s: an earlier write failed", what);
	return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
		       "state stream: cannot write %s %s", what,
		       w->state == GM_OUT_HEADER ? "before the header" :
		       w->state == GM_OUT_ENDED ? "after END" : "twice");
}

int gm_stream_out_usable(struct gm_stream_out *w, const char *what, struct gm_error *err)
{
	return usable(w, GM_OUT_SECTIONS, what, err);
}

int gm_stream_out_header(struct gm_stream_out *w, const char *json, size_t len,
			 struct gm_error *err)
{
	uint8_t h[GM_STREAM_FILE_HEADER_LEN];
	const char *why;
	int r;

	if ((r = usable(w, GM_OUT_HEADER, "the header", err)) < 0)
		return r;
	if ((why = gm_stream_json_check(json, len)))
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "state stream: refusing to write a header the reader would refuse: %s",
			       why);
	memcpy(h, GM_STREAM_MAGIC, 8);
	gm_put_le32(h + 8, GM_STREAM_VERSION);
	gm_put_le32(h + 12, 0);
	gm_put_le64(h + 16, len);
	gm_put_le64(h + 24, XXH64(json, len, 0));
	if ((r = put(w, h, sizeof(h), err)) < 0 || (r = put(w, json, len, err)) < 0)
		return r;
	w->state = GM_OUT_SECTIONS;
	return 0;
}

static int put_section(struct gm_stream_out *w, uint32_t type, uint32_t instance,
		       uint32_t version, uint32_t flags, const void *p, size_t len,
		       struct gm_error *err)
{
	uint8_t h[GM_STREAM_SECTION_HEADER_LEN];
	int r;

	gm_put_le32(h, type);
	gm_put_le32(h + 4, instance);
	gm_put_le32(h + 8, version);
	gm_put_le32(h + 12, flags);
	gm_put_le64(h + 16, len);
	gm_put_le64(h + 24, gm_section_xxh64(h, p, len));
	if ((r = put(w, h, sizeof(h), err)) < 0)
		return r;
	return put(w, p, len, err);
}

int gm_stream_out_section(struct gm_stream_out *w, uint32_t type, uint32_t instance,
			  uint32_t version, const void *payload, size_t len, bool compress,
			  struct gm_error *err)
{
	ZSTD_CCtx *cctx;
	int r;

	if ((r = usable(w, GM_OUT_SECTIONS, "a section", err)) < 0)
		return r;
	if (type == GM_SECTION_END || !gm_section_type_known(type))
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "state stream: cannot write a section of type %" PRIu32 "%s", type,
			       type == GM_SECTION_END ? " (END): use gm_stream_out_end" : "");
	if (len > GM_STREAM_MAX_SECTION)
		return gm_fail(err, GM_STATUS_FAILURE, EFBIG,
			       "state stream: a %s section of %zu bytes is over the 256 MiB limit; "
			       "split it", gm_section_type_name(type), len);
	/* Compression is an optimisation: if zstd fails or cannot shrink the
	 * payload, it goes as it is. */
	if (compress && len > 0 && (cctx = gm_stream_out_cctx(w))) {
		w->zbuf.len = 0;
		if (gm_zstd_compress(cctx, &w->zbuf, payload, len))
			return put_section(w, type, instance, version, GM_SECTION_ZSTD,
					   w->zbuf.data, w->zbuf.len, err);
		if (w->zbuf.failed)
			gm_buf_free(&w->zbuf);
	}
	return put_section(w, type, instance, version, 0, payload, len, err);
}

int gm_stream_out_end(struct gm_stream_out *w, struct gm_error *err)
{
	int r;

	if ((r = usable(w, GM_OUT_SECTIONS, "END", err)) < 0)
		return r;
	if ((r = put_section(w, GM_SECTION_END, 0, 0, 0, "", 0, err)) < 0 ||
	    (r = flush(w, err)) < 0)
		return r;
	w->state = GM_OUT_ENDED;
	return 0;
}

int gm_stream_out_flush(struct gm_stream_out *w, struct gm_error *err)
{
	int r;

	if (w->state == GM_OUT_FAILED)
		return gm_stream_out_usable(w, "a flush", err);
	if ((r = flush(w, err)) < 0)
		return r;
	return 0;
}

uint64_t gm_stream_out_bytes(const struct gm_stream_out *w)
{
	return w->bytes;
}

void gm_stream_out_free(struct gm_stream_out *w)
{
	if (!w)
		return;
	ZSTD_freeCCtx(w->cctx);
	gm_buf_free(&w->zbuf);
	gm_buf_free(&w->pages);
	free(w->buf);
	free(w);
}
