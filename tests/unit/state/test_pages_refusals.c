/* The reader on malformed PAGES sections: each is refused at parse time,
 * naming the section, the run and where it is in the payload. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_test.h"

static uint8_t page[4][4096]; /* as many pages as the longest run */

/* A stream of one PAGES section (instance region, version ver) around p. */
static void refused_pages(const struct gm_buf *p, uint32_t region, uint32_t ver, const char *want)
{
	struct gm_buf b = { 0 };

	page[0][0] = page[1][0] = 1;
	sb_file_header(&b, 1, 0, ST_JSON);
	sb_section(&b, GM_SECTION_PAGES, region, ver, 0, p->data, p->len);
	sb_end(&b);
	st_refused(b.data, b.len, "section 0 (PAGES) at byte ");
	st_refused(b.data, b.len, want);
	gm_buf_free(&b);
}

#define CASE(name, ...)                                  \
	Test(pages_refuse, name)                         \
	{                                                \
		struct gm_buf p = { 0 };                 \
		sb_pages_head(&p, 0, 12);                \
		__VA_ARGS__;                             \
		gm_buf_free(&p);                         \
	}

CASE(a_run_past_2_to_the_64,
     sb_run(&p, UINT64_MAX - 1, 4, 0, page, 4 * 4096);
     refused_pages(&p, 0, 1, "run 0 at payload byte 8: pages 18446744073709551614 + 4 pass the end"))

CASE(a_run_whose_byte_offset_overflows,
     sb_run(&p, UINT64_C(1) << 60, 1, 0, page, 4096);
     refused_pages(&p, 0, 1, "pass the end of a 64-bit address space"))

CASE(overlapping_runs,
     sb_run(&p, 10, 2, 0, page, 8192);
     sb_run(&p, 11, 1, 0, page, 4096);
     refused_pages(&p, 0, 1, "run 1 at payload byte 8224: starts at page 11, inside or before "
		   "the run before it, which ends at page 12"))

CASE(descending_runs,
     sb_run(&p, 10, 1, 0, page, 4096);
     sb_run(&p, 5, 1, 0, page, 4096);
     refused_pages(&p, 0, 1, "starts at page 5"))

CASE(a_run_of_zero_pages,
     sb_run(&p, 10, 0, 0, page, 0);
     refused_pages(&p, 0, 1, "a run of 0 pages"))

CASE(data_not_the_size_of_the_pages,
     sb_run(&p, 10, 1, 0, page, 4095);
     refused_pages(&p, 0, 1, "4095 data bytes for 1 pages of 4096 bytes"))

CASE(data_past_the_payload,
     gm_buf_u64(&p, 1); gm_buf_u32(&p, 1); gm_buf_u32(&p, 0); gm_buf_u64(&p, 4096);
     gm_buf_bytes(&p, page, 100);
     refused_pages(&p, 0, 1, "4096 data bytes, but only 100 are left"))

CASE(unknown_run_flags,
     sb_run(&p, 1, 1, 4, page, 4096);
     refused_pages(&p, 0, 1, "run 0 at payload byte 8: unknown flags 0x4"))

CASE(a_truncated_run_header,
     sb_run(&p, 1, 1, 0, page, 4096);
     gm_buf_bytes(&p, page, 10);
     refused_pages(&p, 0, 1, "run 1 at payload byte 4128: only 10 of the 24 run header bytes"))

CASE(more_than_256M_of_pages_in_a_run,
     size_t zl; uint8_t *z = sb_zstd(page, 16, &zl);
     sb_run(&p, 0, 70000, 1, z, zl);
     refused_pages(&p, 0, 1, "bytes of pages are over the 256 MiB limit");
     free(z))

CASE(a_compressed_run_of_the_wrong_size,
     size_t zl; uint8_t *z = sb_zstd(page, 4096, &zl);
     sb_run(&p, 0, 2, 1, z, zl);
     refused_pages(&p, 0, 1, "its zstd frame holds 4096 bytes, the run's pages are 8192");
     free(z))

CASE(a_compressed_run_that_is_not_zstd,
     sb_run(&p, 0, 1, 1, page, 100);
     refused_pages(&p, 0, 1, "not a zstd frame"))

CASE(region_differs_from_instance,
     sb_run(&p, 0, 1, 0, page, 4096);
     refused_pages(&p, 5, 1, "region 0 in the payload, 5 in the header"))

CASE(a_newer_pages_layout,
     refused_pages(&p, 0, 2, "PAGES layout version 2 is not 1"))

Test(pages_refuse, bad_page_shifts)
{
	static const uint32_t shifts[] = { 0, 11, 22, 64, UINT32_MAX };

	for (unsigned i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++) {
		struct gm_buf p = { 0 };
		char want[64];

		sb_pages_head(&p, 0, shifts[i]);
		snprintf(want, sizeof(want), "page_shift %u is not 12 to 21", shifts[i]);
		refused_pages(&p, 0, 1, want);
		gm_buf_free(&p);
	}
}

Test(pages_refuse, a_payload_shorter_than_its_head)
{
	struct gm_buf p = { 0 };

	gm_buf_u32(&p, 0);
	refused_pages(&p, 0, 1, "payload of 4 bytes is shorter than the 8-byte PAGES head");
	gm_buf_free(&p);
}

Test(pages_refuse, foreach_on_another_type)
{
	struct gm_section sec = { .type = GM_SECTION_VCPU, .data = (const uint8_t *)"12345678", .len = 8 };
	struct gm_error err = { 0 };

	cr_expect_lt(gm_stream_pages_foreach(&sec, NULL, NULL, &err), 0);
	cr_expect_not_null(strstr(err.msg, "(VCPU) at byte 0: not a PAGES section"), "%s", err.msg);
	cr_expect_eq(gm_stream_pages_shift(&sec), 0);
}
