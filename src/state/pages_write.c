/*
 * state/pages_write.c: guest pages into PAGES sections.  Only pages that
 * hold something go: zero pages are what a fresh region holds anyway, and in
 * a mostly idle guest they are most of memory.  A later migration round
 * asks for zero runs (GM_PAGES_ZEROS): a header each, no data, so a page
 * the destination already has can be told it became zero.  Runs of consecutive pages
 * share one run header (and one zstd frame), and a section is closed before
 * it would pass GM_PAGES_SECTION_TARGET, so a reader never holds much.
 */
#include <errno.h>
#include <inttypes.h>

#include "state/state_internal.h"
#include "util/le.h"

struct pages_out {
	struct gm_stream_out *w;
	uint32_t region;
	unsigned shift;
	bool compress;
	struct gm_buf *b;
};

static int oom(struct gm_error *err)
{
	return gm_fail(err, GM_STATUS_FAILURE, ENOMEM,
		       "state stream: out of memory for a PAGES section");
}

static int flush_section(struct pages_out *po, struct gm_error *err)
{
	int r;

	if (po->b->failed)
		return oom(err);
	if (po->b->len <= GM_PAGES_HEAD_LEN)
		return 0;
	r = gm_stream_out_section(po->w, GM_SECTION_PAGES, po->region, GM_PAGES_VERSION,
				  po->b->data, po->b->len, false, err);
	po->b->len = GM_PAGES_HEAD_LEN;
	return r;
}

/* One run of npages pages starting at host address data, page number first. */
static int put_run(struct pages_out *po, uint64_t first, uint64_t npages, const uint8_t *data,
		   struct gm_error *err)
{
	uint64_t raw = npages << po->shift;
	ZSTD_CCtx *cctx;
	size_t at, dlen = 0;
	uint32_t flags = 0;
	int r;

	/* Sized for the raw bytes: a frame is never stored bigger. */
	if (po->b->len + GM_PAGES_RUN_LEN + raw > GM_PAGES_SECTION_TARGET &&
	    (r = flush_section(po, err)) < 0)
		return r;
	at = po->b->len;
	if (!gm_buf_append(po->b, GM_PAGES_RUN_LEN))
		return oom(err);
	if (po->compress && (cctx = gm_stream_out_cctx(po->w)) &&
	    (dlen = gm_zstd_compress(cctx, po->b, data, raw)))
		flags = GM_SECTION_ZSTD;
	else {
		gm_buf_bytes(po->b, data, raw);
		dlen = raw;
	}
	if (po->b->failed)
		return oom(err);
	gm_put_le64(po->b->data + at, first);
	gm_put_le32(po->b->data + at + 8, (uint32_t)npages);
	gm_put_le32(po->b->data + at + 12, flags);
	gm_put_le64(po->b->data + at + 16, dlen);
	return 0;
}

/* A run of pages that are zero now: a header with no data. */
static int put_zero_run(struct pages_out *po, uint64_t first, uint64_t npages, struct gm_error *err)
{
	size_t at;
	int r;

	if (po->b->len + GM_PAGES_RUN_LEN > GM_PAGES_SECTION_TARGET && (r = flush_section(po, err)) < 0)
		return r;
	at = po->b->len;
	if (!gm_buf_append(po->b, GM_PAGES_RUN_LEN))
		return oom(err);
	gm_put_le64(po->b->data + at, first);
	gm_put_le32(po->b->data + at + 8, (uint32_t)npages);
	gm_put_le32(po->b->data + at + 12, GM_RUN_ZERO);
	gm_put_le64(po->b->data + at + 16, 0);
	return 0;
}

struct runs_ctx {
	struct pages_out *po;
	uint64_t first_page, page_size;
	const uint8_t *base;
	struct gm_error *err;
};

static int emit_run(void *opaque, uint64_t start, uint64_t run)
{
	struct runs_ctx *c = opaque;

	return put_run(c->po, c->first_page + start, run, c->base + start * c->page_size, c->err);
}

static int emit_zero_run(void *opaque, uint64_t start, uint64_t run)
{
	struct runs_ctx *c = opaque;

	return put_zero_run(c->po, c->first_page + start, run, c->err);
}

int gm_stream_out_pages(struct gm_stream_out *w, uint32_t region, const uint8_t *base,
			uint64_t page_size, uint64_t first_page, uint64_t npages,
			const uint64_t *bitmap, unsigned flags, struct gm_error *err)
{
	struct pages_out po = { .w = w, .region = region, .compress = flags & GM_PAGES_COMPRESS,
				.b = &w->pages };
	uint64_t max_run, end;
	int r;

	if ((r = gm_stream_out_usable(w, "pages", err)) < 0)
		return r;
	if (page_size < (1u << GM_PAGES_MIN_SHIFT) || page_size > (1u << GM_PAGES_MAX_SHIFT) ||
	    (page_size & (page_size - 1)))
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "state stream: page size %" PRIu64 " is not a power of two from "
			       "4 KiB to 2 MiB", page_size);
	if (__builtin_add_overflow(first_page, npages, &end) ||
	    end > UINT64_MAX >> __builtin_ctzll(page_size) || npages > SIZE_MAX / page_size)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "state stream: pages %" PRIu64 " + %" PRIu64 " do not fit in 64 bits",
			       first_page, npages);
	po.shift = (unsigned)__builtin_ctzll(page_size);
	max_run = (GM_PAGES_SECTION_TARGET - GM_PAGES_HEAD_LEN - GM_PAGES_RUN_LEN) / page_size;
	w->pages.len = 0;
	w->pages.failed = false;
	gm_buf_u32(&w->pages, region);
	gm_buf_u32(&w->pages, po.shift);
	struct runs_ctx c = { &po, first_page, page_size, base, err };
	r = gm_page_runs(base, page_size, npages, bitmap, max_run, emit_run,
			 (flags & GM_PAGES_ZEROS) ? emit_zero_run : NULL, &c);
	if (r == 0)
		r = flush_section(&po, err);
	return r;
}
