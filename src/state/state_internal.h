/*
 * state/state_internal.h: what the stream's files share and nobody else
 * needs: the zero-page test, the refusal message, zstd under limits, and the
 * PAGES walker that both the parser (layout only) and
 * gm_stream_pages_foreach (with decompression) run.
 */
#ifndef GM_STATE_INTERNAL_H
#define GM_STATE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "state/buf.h"
#include "state/stream.h"

/* PAGES payload: u32 region, u32 page_shift, then runs of
 * u64 first_page, u32 npages, u32 flags, u64 data_len, data. */
#define GM_PAGES_HEAD_LEN 8u
#define GM_PAGES_RUN_LEN 24u
#define GM_PAGES_MIN_SHIFT 12u
#define GM_PAGES_MAX_SHIFT 21u

/*
 * True if the n bytes at p are all zero; n a multiple of 64.  Most pages
 * that are not zero differ in their first bytes, so look there first, then
 * OR eight words at a time and stop at the first block that is not zero:
 * a non-zero page costs a few loads, a zero page one pass at memory speed.
 */
static inline bool gm_page_zero(const uint8_t *p, size_t n)
{
	typedef uint64_t __attribute__((may_alias, aligned(1))) word;
	const word *w = (const word *)p;

	if (w[0])
		return false;
	for (size_t i = 0; i < n / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	return true;
}

/* The writer.  pages.c builds PAGES payloads in `pages` and compresses
 * with cctx; stream_write.c owns the rest. */
struct gm_stream_out {
	int fd;
	bool sock;           /* send(MSG_NOSIGNAL) instead of write() */
	enum gm_out_state { GM_OUT_HEADER, GM_OUT_SECTIONS, GM_OUT_ENDED, GM_OUT_FAILED } state;
	uint8_t *buf;        /* GM_OUT_BUF bytes not yet written */
	size_t len;
	uint64_t bytes;      /* produced: written plus buffered */
	ZSTD_CCtx *cctx;     /* made on first use */
	struct gm_buf zbuf;  /* a compressed section payload */
	struct gm_buf pages; /* a PAGES payload being built */
};

ZSTD_CCtx *gm_stream_out_cctx(struct gm_stream_out *w);
/* 0 if sections may be written now, else the refusal. */
int gm_stream_out_usable(struct gm_stream_out *w, const char *what, struct gm_error *err);

/* A section's checksum: XXH64 (seed 0) of its header's first 24 bytes (type,
 * instance, version, flags, length) followed by the stored payload, so a
 * flipped bit in the header is caught as surely as one in the payload. */
uint64_t gm_section_xxh64(const uint8_t head[24], const void *payload, size_t len);

/* NULL if json is what a stream header must be: a JSON object, no NUL,
 * with string members "gmvm_version" and "uuid"; else why not. */
const char *gm_stream_json_check(const char *json, size_t len);

/* True for the types of format v1, END included. */
bool gm_section_type_known(uint32_t type);

/* stream_read.c, shared with the section-at-a-time reader (stream_reader.c). */

/* Decompressed bytes a stream may still produce, and the context to do it. */
struct gm_budget {
	ZSTD_DCtx *dctx;
	uint64_t left;
	uint64_t max;
};

/*
 * Check the 32-byte file header and the JSON header at b (len bytes
 * available); *json gets a NUL-terminated copy, *off where sections start.
 */
int gm_stream_header_parse(const uint8_t *b, size_t len, char **json, size_t *off,
			   struct gm_error *err);
/* have bytes at h: a whole 32-byte section header with a length within the limit. */
int gm_section_head_check(const uint8_t *h, size_t have, unsigned index, uint64_t off,
			  struct gm_error *err);
/*
 * Check one section (header h, all of its stored payload at p) and fill
 * sec (index and offset set by the caller): checksum, type, flags, END's
 * zeros, decompression within bg into *owned (NULL when stored plain; free
 * it), the layout of a PAGES payload.
 */
int gm_section_accept(const uint8_t *h, const uint8_t *p, struct gm_section *sec, uint8_t **owned,
		      struct gm_budget *bg, struct gm_error *err);

/* The stream now owns bytes (it was parsed from them); stream_file.c. */
void gm_stream_in_adopt(struct gm_stream_in *s, void *bytes);

/* gm_fail with "state stream: section <index> (<TYPE>) at byte <offset>: "
 * before fmt, status GM_STATUS_BAD_INPUT. */
int gm_state_refuse(struct gm_error *err, unsigned index, uint32_t type, uint64_t offset,
		    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The decompressed size of src, which must be exactly one zstd frame (no
 * skippable frame, no dictionary) that states its size, at most limit.
 * NULL, or why not. */
const char *gm_zstd_frame_size(const void *src, size_t len, uint64_t limit, uint64_t *size);
/* Decompress such a frame into exactly size bytes at dst.  NULL, or why not. */
const char *gm_zstd_decompress(ZSTD_DCtx *dctx, const void *src, size_t len, void *dst,
			       size_t size);
/* Append one zstd frame of src to out; its length, or 0 if zstd failed or
 * the frame would not be smaller than src (store src as it is then). */
size_t gm_zstd_compress(ZSTD_CCtx *cctx, struct gm_buf *out, const void *src, size_t len);

/*
 * Check a PAGES section's payload and, with dctx, decompress its runs and
 * hand them to fn (which may be NULL for layout only).  Without dctx a
 * compressed run's frame is only checked to state the right size.
 */
int gm_pages_walk(const struct gm_section *sec, ZSTD_DCtx *dctx,
		  int (*fn)(void *opaque, uint32_t region, uint64_t first_page, uint64_t npages,
			    const uint8_t *data),
		  void *opaque, struct gm_error *err);

/*
 * page_runs.c: call emit(opaque, first, count) for each run of at most
 * max_run pages of base that bitmap selects (all when NULL) and that are
 * not all zero, and emit_zero (when not NULL) for each run of at most
 * UINT32_MAX selected pages that are; stops at the first non-zero return
 * and returns it.
 */
int gm_page_runs(const uint8_t *base, uint64_t page_size, uint64_t npages, const uint64_t *bitmap,
		 uint64_t max_run, int (*emit)(void *opaque, uint64_t start, uint64_t run),
		 int (*emit_zero)(void *opaque, uint64_t start, uint64_t run), void *opaque);

#endif
