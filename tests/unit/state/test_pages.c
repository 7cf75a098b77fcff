/*
 * PAGES: guest pages through gm_stream_out_pages and back through
 * gm_stream_pages_foreach, zero pages left out, bitmaps, splitting; and a
 * reader that refuses every malformed run.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state_test.h"

#define PG 4096u

struct sink {
	uint8_t *mem;       /* where the pages go back */
	uint64_t npages, page, first;
	unsigned runs, calls_left;
	uint64_t pages_seen, zero_pages_seen;
};

static int put_back(void *opaque, uint32_t region, uint64_t first, uint64_t n, const uint8_t *data)
{
	struct sink *k = opaque;

	cr_assert_eq(region, 3);
	cr_assert_geq(first, k->first);
	cr_assert_leq(first + n, k->first + k->npages);
	if (!data) {
		memset(k->mem + (first - k->first) * k->page, 0, n * k->page);
		k->zero_pages_seen += n;
		return 0;
	}
	for (uint64_t i = 0; i < n; i++) {
		const uint8_t *p = data + i * k->page;
		bool zero = true;

		for (uint64_t j = 0; j < k->page && zero; j++)
			zero = p[j] == 0;
		cr_assert(!zero, "page %llu is zero but was written", (unsigned long long)(first + i));
	}
	memcpy(k->mem + (first - k->first) * k->page, data, n * k->page);
	k->runs++;
	k->pages_seen += n;
	if (k->calls_left && --k->calls_left == 0)
		return 42;
	return 0;
}

/* Write npages of mem (page size page) as PAGES, parse, and put them back into *out. */
static unsigned roundtrip(const uint8_t *mem, uint64_t page, uint64_t first, uint64_t npages,
			  const uint64_t *bitmap, unsigned flags, uint8_t *out, struct sink *k)
{
	struct gm_error err = { 0 };
	struct gm_stream_out *w;
	int fd = st_memfd();
	size_t len;
	uint8_t *p;

	cr_assert_eq(gm_stream_out_open(fd, &w, &err), 0);
	cr_assert_eq(gm_stream_out_header(w, ST_JSON, strlen(ST_JSON), &err), 0);
	cr_assert_eq(gm_stream_out_pages(w, 3, mem, page, first, npages, bitmap, flags, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(gm_stream_out_end(w, &err), 0);
	gm_stream_out_free(w);
	p = st_slurp(fd, &len);
	close(fd);
	struct gm_stream_in *s = st_accepted(p, len);
	unsigned n = gm_stream_in_count(s);

	*k = (struct sink){ .mem = out, .npages = npages, .page = page, .first = first };
	for (unsigned i = 0; i < n; i++) {
		const struct gm_section *sec = gm_stream_in_section(s, i);

		cr_assert_eq(sec->type, GM_SECTION_PAGES);
		cr_assert_eq(sec->instance, 3);
		cr_assert_leq(sec->len, GM_PAGES_SECTION_TARGET);
		cr_assert_eq(gm_stream_pages_shift(sec), (unsigned)__builtin_ctzll(page));
		cr_assert_eq(gm_stream_pages_foreach(sec, put_back, k, &err), 0, "%s", err.msg);
	}
	gm_stream_in_free(s);
	free(p);
	return n;
}

/* 1000 pages: every third zero, a zero page with one byte set at its end, */
static uint8_t *pattern(uint64_t npages, uint64_t page)
{
	uint8_t *m = calloc(npages, page);

	for (uint64_t i = 0; i < npages; i++) {
		if (i % 3 == 0)
			continue;
		if (i % 7 == 1)
			m[i * page + page - 1] = 1; /* only the last byte: the zero test must look that far */
		else
			for (uint64_t j = 0; j < page; j += 64)
				m[i * page + j] = (uint8_t)(i + j / 64);
	}
	return m;
}

static void check_roundtrip(bool compress)
{
	uint8_t *mem = pattern(1000, PG), *out = calloc(1000, PG);
	struct sink k;

	cr_expect_eq(roundtrip(mem, PG, 0, 1000, NULL, compress, out, &k), 1);
	cr_expect_arr_eq(out, mem, 1000 * PG);
	cr_expect_eq(k.pages_seen, 1000 - 334, "every non-zero page, no zero page");
	cr_expect_eq(k.runs, 333, "one run per gap between zero pages");
	free(mem);
	free(out);
}

Test(pages, roundtrip_leaves_zero_pages_out)
{
	check_roundtrip(false);
}

Test(pages, roundtrip_compressed)
{
	check_roundtrip(true);
}

Test(pages, first_page_offsets_the_page_numbers)
{
	uint8_t *mem = pattern(64, PG), *out = calloc(64, PG);
	struct sink k;

	roundtrip(mem, PG, 1u << 20, 64, NULL, true, out, &k);
	cr_expect_arr_eq(out, mem, 64 * PG);
	free(mem);
	free(out);
}

Test(pages, a_bitmap_limits_to_its_pages)
{
	uint64_t bitmap[3] = { 0xf0f0f0f0f0f0f0f0, 0, UINT64_MAX };
	uint8_t *mem = malloc(192 * PG), *out = calloc(192, PG);
	struct sink k;

	memset(mem, 0x77, 192 * PG);
	memset(mem + 130 * PG, 0, PG); /* set in the bitmap but zero */
	roundtrip(mem, PG, 0, 192, bitmap, false, out, &k);
	for (uint64_t i = 0; i < 192; i++) {
		bool want = (bitmap[i / 64] >> (i % 64) & 1) && i != 130;

		cr_expect_eq(out[i * PG + 5], want ? 0x77 : 0, "page %llu", (unsigned long long)i);
	}
	cr_expect_eq(k.pages_seen, 32 + 63);
	free(mem);
	free(out);
}

/* A later migration round: pages written back to zero must reach the other side. */
Test(pages, zero_runs_tell_which_selected_pages_became_zero)
{
	uint64_t bitmap[2] = { 0x0ff0, UINT64_MAX };
	uint8_t *mem = malloc(128 * PG), *out = malloc(128 * PG);
	struct sink k;

	memset(mem, 0x55, 128 * PG);
	memset(out, 0xee, 128 * PG); /* what the destination held before this round */
	memset(mem + 6 * PG, 0, 3 * PG);   /* pages 6..8: selected, now zero */
	memset(mem + 100 * PG, 0, 28 * PG); /* pages 100..127: selected, now zero */
	memset(mem + 20 * PG, 0, PG);      /* not selected: stays as it was over there */
	roundtrip(mem, PG, 0, 128, bitmap, GM_PAGES_ZEROS | GM_PAGES_COMPRESS, out, &k);
	for (uint64_t i = 0; i < 128; i++) {
		bool sel = bitmap[i / 64] >> (i % 64) & 1;
		uint8_t want = !sel ? 0xee : (i >= 6 && i <= 8) || i >= 100 ? 0 : 0x55;

		cr_expect_eq(out[i * PG + 9], want, "page %llu", (unsigned long long)i);
	}
	cr_expect_eq(k.zero_pages_seen, 3 + 28);
	cr_expect_eq(k.pages_seen, 8 - 3 + 64 - 28);
	free(mem);
	free(out);
}

Test(pages, a_zero_run_with_data_is_refused)
{
	uint8_t payload[8 + 24 + 8] = { 0 };
	struct gm_section sec = { .type = GM_SECTION_PAGES, .version = GM_PAGES_VERSION,
				  .data = payload, .len = sizeof(payload) };
	struct gm_error err = { 0 };

	payload[4] = 12;         /* page_shift */
	payload[8 + 8] = 2;      /* npages */
	payload[8 + 12] = GM_RUN_ZERO;
	payload[8 + 16] = 8;     /* data_len: a zero run carries none */
	cr_expect_lt(gm_stream_pages_foreach(&sec, NULL, NULL, &err), 0);
	cr_expect(strstr(err.msg, "a zero run"), "%s", err.msg);
}

Test(pages, all_zero_memory_writes_no_section)
{
	uint8_t *mem = calloc(256, PG);
	struct sink k;

	cr_expect_eq(roundtrip(mem, PG, 0, 256, NULL, true, mem, &k), 0);
	free(mem);
}

Test(pages, big_memory_splits_into_sections_of_at_most_8M)
{
	const uint64_t n = 5000; /* ~20 MiB, incompressible */
	uint8_t *mem = malloc(n * PG), *out = calloc(n, PG);
	uint64_t x = 88172645463325252ull;
	struct sink k;

	for (uint64_t i = 0; i < n * PG / 8; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(mem + i * 8, &x, 8);
	}
	cr_expect_eq(roundtrip(mem, PG, 0, n, NULL, true, out, &k), 3);
	cr_expect_arr_eq(out, mem, n * PG);
	free(mem);
	free(out);
}

Test(pages, two_megabyte_pages)
{
	const uint64_t page = 2u << 20;
	uint8_t *mem = calloc(6, page), *out = calloc(6, page);
	struct sink k;

	memset(mem + 1 * page, 1, page);
	memset(mem + 2 * page + 12345, 2, 1);
	memset(mem + 5 * page, 3, page);
	roundtrip(mem, page, 0, 6, NULL, false, out, &k);
	cr_expect_arr_eq(out, mem, 6 * page);
	cr_expect_eq(k.pages_seen, 3);
	free(mem);
	free(out);
}

Test(pages, a_nonzero_callback_return_stops_the_walk)
{
	uint8_t *mem = pattern(100, PG), *out = calloc(100, PG);
	struct gm_buf b = { 0 }, p = { 0 };
	struct gm_error err = { 0 };
	struct sink k = { .mem = out, .npages = 100, .page = PG, .calls_left = 2 };

	sb_file_header(&b, 1, 0, ST_JSON);
	sb_pages_head(&p, 3, 12);
	sb_run(&p, 1, 2, 0, mem + PG, 2 * PG);
	sb_run(&p, 4, 2, 0, mem + 4 * PG, 2 * PG);
	sb_run(&p, 7, 2, 0, mem + 7 * PG, 2 * PG);
	sb_section(&b, GM_SECTION_PAGES, 3, 1, 0, p.data, p.len);
	sb_end(&b);
	struct gm_stream_in *s = st_accepted(b.data, b.len);

	cr_expect_eq(gm_stream_pages_foreach(gm_stream_in_section(s, 0), put_back, &k, &err), 42);
	cr_expect_eq(k.runs, 2);
	gm_stream_in_free(s);
	gm_buf_free(&b);
	gm_buf_free(&p);
	free(mem);
	free(out);
}

Test(pages, writer_refuses_odd_page_sizes_and_wrapping_ranges)
{
	struct gm_error err = { 0 };
	struct gm_stream_out *w;
	uint8_t page[PG] = { 0 };
	int fd = st_memfd();

	cr_assert_eq(gm_stream_out_open(fd, &w, &err), 0);
	cr_assert_eq(gm_stream_out_header(w, ST_JSON, strlen(ST_JSON), &err), 0);
	cr_expect_eq(gm_stream_out_pages(w, 0, page, 3000, 0, 1, NULL, 0, &err), -EINVAL);
	gm_error_clear(&err);
	cr_expect_eq(gm_stream_out_pages(w, 0, page, 4u << 20, 0, 1, NULL, 0, &err), -EINVAL);
	gm_error_clear(&err);
	cr_expect_eq(gm_stream_out_pages(w, 0, page, PG, UINT64_MAX, 2, NULL, 0, &err), -EINVAL);
	gm_stream_out_free(w);
	close(fd);
}
