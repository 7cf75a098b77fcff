/*
 * state/pages_read.c: a PAGES section's runs, walked with every field
 * checked.  The parser runs the walk without decompressing (so a stream with
 * a bad run is refused before anything is built); gm_stream_pages_foreach
 * runs it again and decompresses one run at a time into a buffer it reuses.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "state/state_internal.h"
#include "util/le.h"

struct walk {
	const struct gm_section *sec;
	unsigned run;
	size_t at; /* the run's byte offset in the payload */
};

#define RUN_REFUSE(w, err, fmt, ...)                                                        \
	gm_state_refuse(err, (w)->sec->index, (w)->sec->type, (w)->sec->offset,              \
			"run %u at payload byte %zu: " fmt, (w)->run, (w)->at, __VA_ARGS__)

static int check_head(const struct gm_section *sec, uint32_t *region, unsigned *shift,
		      struct gm_error *err)
{
	if (sec->type != GM_SECTION_PAGES)
		return gm_state_refuse(err, sec->index, sec->type, sec->offset,
				       "not a PAGES section");
	if (sec->version != GM_PAGES_VERSION)
		return gm_state_refuse(err, sec->index, sec->type, sec->offset,
				       "PAGES layout version %" PRIu32 " is not %u; the stream is "
				       "from a newer gmvm", sec->version, GM_PAGES_VERSION);
	if (sec->len < GM_PAGES_HEAD_LEN)
		return gm_state_refuse(err, sec->index, sec->type, sec->offset,
				       "payload of %zu bytes is shorter than the 8-byte PAGES head; "
				       "the stream is corrupt", sec->len);
	*region = gm_le32(sec->data);
	*shift = gm_le32(sec->data + 4);
	if (*region != sec->instance)
		return gm_state_refuse(err, sec->index, sec->type, sec->offset,
				       "region %" PRIu32 " in the payload, %" PRIu32 " in the header; "
				       "the stream is corrupt", *region, sec->instance);
	if (*shift < GM_PAGES_MIN_SHIFT || *shift > GM_PAGES_MAX_SHIFT)
		return gm_state_refuse(err, sec->index, sec->type, sec->offset,
				       "page_shift %u is not 12 to 21 (4 KiB to 2 MiB pages); "
				       "the stream is corrupt", *shift);
	return 0;
}

/* A compressed run's bytes: checked to state raw bytes and, with dctx,
 * decompressed into *buf (grown as needed). */
static int unpack(struct walk *w, const uint8_t **data, uint64_t dlen, uint64_t raw,
		  ZSTD_DCtx *dctx, uint8_t **buf, size_t *cap, struct gm_error *err)
{
	uint64_t size;
	const char *why = gm_zstd_frame_size(*data, dlen, GM_STREAM_MAX_SECTION, &size);

	if (why)
		return RUN_REFUSE(w, err, "%s; the stream is corrupt", why);
	if (size != raw)
		return RUN_REFUSE(w, err, "its zstd frame holds %" PRIu64 " bytes, the run's pages "
				  "are %" PRIu64 "; the stream is corrupt", size, raw);
	if (!dctx)
		return 0;
	if (*cap < raw) {
		uint8_t *nb = realloc(*buf, raw);

		if (!nb)
			return gm_fail(err, GM_STATUS_FAILURE, ENOMEM,
				       "state stream: out of memory for a %" PRIu64 "-byte run", raw);
		*buf = nb;
		*cap = raw;
	}
	if ((why = gm_zstd_decompress(dctx, *data, dlen, *buf, raw)))
		return RUN_REFUSE(w, err, "its zstd frame does not decompress: %s; "
				  "the stream is corrupt", why);
	*data = *buf;
	return 0;
}

int gm_pages_walk(const struct gm_section *sec, ZSTD_DCtx *dctx,
		  int (*fn)(void *opaque, uint32_t region, uint64_t first_page, uint64_t npages,
			    const uint8_t *data),
		  void *opaque, struct gm_error *err)
{
	struct walk w = { .sec = sec };
	struct gm_cursor c;
	uint64_t prev_end = 0;
	uint8_t *buf = NULL;
	size_t cap = 0;
	uint32_t region = 0;
	unsigned shift = 0;
	int r = check_head(sec, &region, &shift, err);

	if (r)
		return r;
	c = gm_cur_init(sec->data + GM_PAGES_HEAD_LEN, sec->len - GM_PAGES_HEAD_LEN);
	for (; r == 0 && c.left > 0; w.run++) {
		uint64_t first, end = 0, dlen, raw;
		uint32_t npages, flags;
		const uint8_t *data;

		w.at = sec->len - c.left;
		if (c.left < GM_PAGES_RUN_LEN) {
			r = RUN_REFUSE(&w, err, "only %zu of the 24 run header bytes; the stream is "
				       "corrupt", c.left);
			break;
		}
		first = gm_cur_u64(&c);
		npages = gm_cur_u32(&c);
		flags = gm_cur_u32(&c);
		dlen = gm_cur_u64(&c);
		raw = (uint64_t)npages << shift;
		if (npages == 0)
			r = RUN_REFUSE(&w, err, "%s", "a run of 0 pages; the stream is corrupt");
		else if (flags & ~(GM_SECTION_ZSTD | GM_RUN_ZERO))
			r = RUN_REFUSE(&w, err, "unknown flags 0x%" PRIx32 "; the stream is from a "
				       "newer gmvm", flags);
		else if ((flags & GM_RUN_ZERO) && (flags != GM_RUN_ZERO || dlen != 0))
			r = RUN_REFUSE(&w, err, "a zero run with flags 0x%" PRIx32 " and %" PRIu64
				       " data bytes, where it has no other flag and none; the stream "
				       "is corrupt", flags, dlen);
		/* Byte offsets of every page must fit in 64 bits for the caller. */
		else if (__builtin_add_overflow(first, npages, &end) || end > UINT64_MAX >> shift)
			r = RUN_REFUSE(&w, err, "pages %" PRIu64 " + %" PRIu32 " pass the end of a "
				       "64-bit address space; the stream is corrupt", first, npages);
		else if (first < prev_end)
			r = RUN_REFUSE(&w, err, "starts at page %" PRIu64 ", inside or before the run "
				       "before it, which ends at page %" PRIu64 "; the stream is "
				       "corrupt", first, prev_end);
		else if (raw > GM_STREAM_MAX_SECTION && !(flags & GM_RUN_ZERO))
			r = RUN_REFUSE(&w, err, "%" PRIu64 " bytes of pages are over the 256 MiB limit; "
				       "the stream is corrupt", raw);
		else if (dlen > c.left)
			r = RUN_REFUSE(&w, err, "%" PRIu64 " data bytes, but only %zu are left in the "
				       "payload; the stream is corrupt", dlen, c.left);
		else if (!(flags & (GM_SECTION_ZSTD | GM_RUN_ZERO)) && dlen != raw)
			r = RUN_REFUSE(&w, err, "%" PRIu64 " data bytes for %" PRIu32 " pages of %u "
				       "bytes; the stream is corrupt", dlen, npages, 1u << shift);
		if (r)
			break;
		data = flags & GM_RUN_ZERO ? NULL : gm_cur_bytes(&c, dlen);
		if (flags & GM_SECTION_ZSTD)
			r = unpack(&w, &data, dlen, raw, dctx, &buf, &cap, err);
		if (r == 0 && fn)
			r = fn(opaque, region, first, npages, data);
		prev_end = end;
	}
	free(buf);
	return r;
}

int gm_stream_pages_foreach(const struct gm_section *sec,
			    int (*fn)(void *opaque, uint32_t region, uint64_t first_page,
				      uint64_t npages, const uint8_t *data),
			    void *opaque, struct gm_error *err)
{
	ZSTD_DCtx *dctx = ZSTD_createDCtx();
	int r;

	if (!dctx)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "state stream: out of memory for zstd");
	r = gm_pages_walk(sec, dctx, fn, opaque, err);
	ZSTD_freeDCtx(dctx);
	return r;
}

unsigned gm_stream_pages_shift(const struct gm_section *sec)
{
	if (sec->type != GM_SECTION_PAGES || sec->len < GM_PAGES_HEAD_LEN)
		return 0;
	return gm_le32(sec->data + 4);
}
