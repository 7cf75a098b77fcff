/*
 * state/stream_reader.c: a stream read one section at a time from a socket
 * or pipe, for migration, where the stream is as large as the guest and
 * arrives while the sender still writes it.  Each section gets exactly the
 * checks gm_stream_in_parse gives it (stream_read.c does both), before the
 * caller sees it; what the whole-stream parser checks across sections (END
 * last, nothing after it) the caller's protocol decides.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state/state_internal.h"
#include "util/le.h"

struct gm_stream_reader {
	int fd;
	uint64_t off;       /* stream bytes consumed */
	unsigned index;     /* sections read, END included */
	char *json;
	uint8_t *head;      /* the file header and JSON header as they came */
	size_t head_len;
	uint8_t *buf;       /* the current section as stored: header + payload */
	size_t cap;
	uint8_t *owned;     /* its decompressed payload */
	struct gm_section sec;
	struct gm_budget bg;
	bool ended;
};

/* Exactly n bytes, or a one-line reason naming where the stream stopped. */
static int read_exact(struct gm_stream_reader *r, void *p, size_t n, const char *what,
		      struct gm_error *err)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = read(r->fd, (uint8_t *)p + got, n - got);

		if (k > 0) {
			got += (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k == 0)
			return gm_fail(err, GM_STATUS_FAILURE, EPIPE,
				       "state stream: the sender closed the connection at byte %" PRIu64
				       ", in %s; it stopped or was cancelled", r->off + got, what);
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return gm_fail(err, GM_STATUS_FAILURE, ETIMEDOUT,
				       "state stream: nothing came from the sender for too long at byte %"
				       PRIu64 ", in %s; check the sender and the network", r->off + got, what);
		return gm_fail(err, GM_STATUS_FAILURE, errno,
			       "state stream: reading at byte %" PRIu64 " (%s) failed: %s",
			       r->off + got, what, strerror(errno));
	}
	r->off += n;
	return 0;
}

static int grow(struct gm_stream_reader *r, size_t n, struct gm_error *err)
{
	uint8_t *p;

	if (n <= r->cap)
		return 0;
	p = realloc(r->buf, n);
	if (!p)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM,
			       "state stream: out of memory for a %zu-byte section", n);
	r->buf = p;
	r->cap = n;
	return 0;
}

int gm_stream_reader_open(int fd, uint64_t max_decompressed, struct gm_stream_reader **out,
			  struct gm_error *err)
{
	struct gm_stream_reader *r = calloc(1, sizeof(*r));
	uint8_t fh[GM_STREAM_FILE_HEADER_LEN];
	uint64_t hlen;
	size_t start;
	int rc;

	*out = NULL;
	if (!r)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "state stream: out of memory");
	r->fd = fd;
	r->bg.left = r->bg.max = max_decompressed;
	rc = read_exact(r, fh, sizeof(fh), "the file header", err);
	/* The header parser says what is wrong with the bytes; it needs the JSON
	 * too, but only once the file header says how long it is. */
	hlen = gm_le64(fh + 16);
	if (rc == 0 && (memcmp(fh, GM_STREAM_MAGIC, 8) != 0 || hlen == 0 || hlen > GM_STREAM_MAX_JSON))
		rc = gm_stream_header_parse(fh, sizeof(fh), &r->json, &start, err);
	if (rc == 0 && !(r->head = malloc(sizeof(fh) + hlen)))
		rc = gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "state stream: out of memory for the header");
	if (rc == 0) {
		memcpy(r->head, fh, sizeof(fh));
		r->head_len = sizeof(fh) + hlen;
		rc = read_exact(r, r->head + sizeof(fh), hlen, "the JSON header", err);
	}
	if (rc == 0)
		rc = gm_stream_header_parse(r->head, r->head_len, &r->json, &start, err);
	if (rc < 0) {
		gm_stream_reader_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

const char *gm_stream_reader_header(const struct gm_stream_reader *r)
{
	return r->json;
}

const void *gm_stream_reader_head_bytes(const struct gm_stream_reader *r, size_t *len)
{
	*len = r->head_len;
	return r->head;
}

int gm_stream_reader_next(struct gm_stream_reader *r, const struct gm_section **sec,
			  struct gm_error *err)
{
	uint64_t off = r->off, n;
	int rc;

	*sec = NULL;
	if (r->ended)
		return 0;
	free(r->owned);
	r->owned = NULL;
	if ((rc = grow(r, GM_STREAM_SECTION_HEADER_LEN, err)) < 0 ||
	    (rc = read_exact(r, r->buf, GM_STREAM_SECTION_HEADER_LEN, "a section header", err)) < 0 ||
	    (rc = gm_section_head_check(r->buf, GM_STREAM_SECTION_HEADER_LEN, r->index, off, err)) < 0)
		return rc;
	n = gm_le64(r->buf + 16);
	if ((rc = grow(r, GM_STREAM_SECTION_HEADER_LEN + n, err)) < 0 ||
	    (rc = read_exact(r, r->buf + GM_STREAM_SECTION_HEADER_LEN, n, "a section's payload", err)) < 0)
		return rc;
	r->sec = (struct gm_section){ .index = r->index++, .offset = off };
	rc = gm_section_accept(r->buf, r->buf + GM_STREAM_SECTION_HEADER_LEN, &r->sec, &r->owned, &r->bg,
			       err);
	if (rc < 0)
		return rc;
	if (r->sec.type == GM_SECTION_END) {
		r->ended = true;
		return 0;
	}
	*sec = &r->sec;
	return 1;
}

const void *gm_stream_reader_raw(const struct gm_stream_reader *r, size_t *len)
{
	*len = GM_STREAM_SECTION_HEADER_LEN + gm_le64(r->buf + 16);
	return r->buf;
}

uint64_t gm_stream_reader_bytes(const struct gm_stream_reader *r)
{
	return r->off;
}

void gm_stream_reader_free(struct gm_stream_reader *r)
{
	if (!r)
		return;
	ZSTD_freeDCtx(r->bg.dctx);
	free(r->owned);
	free(r->buf);
	free(r->head);
	free(r->json);
	free(r);
}
