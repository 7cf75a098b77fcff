/*
 * Compressed payloads as untrusted input: a frame must state its size, the
 * size must be within the limits before memory is given, and the frame must
 * produce exactly that size.  Zstd bombs are refused without being inflated.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "state_test.h"
#include "util/le.h"

static void one_section(struct gm_buf *b, const void *z, size_t zl)
{
	sb_file_header(b, 1, 0, ST_JSON);
	sb_section(b, GM_SECTION_DEVICE, 0, 1, GM_SECTION_ZSTD, z, zl);
	sb_end(b);
}

/* A frame header that claims fcs bytes: magic, FHD (FCS 8 bytes, not single
 * segment), a window descriptor, the size, then one empty raw last block. */
static size_t fake_frame(uint8_t *f, uint64_t fcs)
{
	gm_put_le32(f, ZSTD_MAGICNUMBER);
	f[4] = 0xc0;
	f[5] = 0x50; /* window 2^(10+10) */
	gm_put_le64(f + 6, fcs);
	f[14] = 1; f[15] = 0; f[16] = 0; /* last raw block of 0 bytes */
	return 17;
}

Test(zstd, a_frame_claiming_a_terabyte_is_refused_unread)
{
	struct gm_buf b = { 0 };
	uint8_t f[32];

	one_section(&b, f, fake_frame(f, UINT64_C(1) << 40));
	st_refused(b.data, b.len, "section 0 (DEVICE) at byte 102: a zstd frame whose decompressed "
		   "size is over the limit");
	gm_buf_free(&b);
}

Test(zstd, a_real_bomb_just_over_256M_is_refused)
{
	size_t n = (256u << 20) + 1, zl;
	uint8_t *zeros = calloc(1, n), *z = sb_zstd(zeros, n, &zl);
	struct gm_buf b = { 0 };

	free(zeros);
	cr_assert_lt(zl, 100000, "a bomb: %zu bytes", zl);
	one_section(&b, z, zl);
	st_refused(b.data, b.len, "over the limit (256 MiB per section)");
	gm_buf_free(&b);
	free(z);
}

Test(zstd, decompressed_payloads_are_limited_for_the_whole_stream)
{
	size_t n = 2u << 20, zl;
	uint8_t *zeros = calloc(1, n), *z = sb_zstd(zeros, n, &zl);
	struct gm_buf b = { 0 };
	struct gm_stream_in *s;
	struct gm_error err = { 0 };

	sb_file_header(&b, 1, 0, ST_JSON);
	sb_section(&b, GM_SECTION_DEVICE, 0, 1, GM_SECTION_ZSTD, z, zl);
	sb_section(&b, GM_SECTION_DEVICE, 1, 1, GM_SECTION_ZSTD, z, zl);
	sb_end(&b);
	cr_expect_eq(gm_stream_in_parse_limit(b.data, b.len, 4u << 20, &s, &err), 0, "%s", err.msg);
	gm_stream_in_free(s);
	cr_expect_lt(gm_stream_in_parse_limit(b.data, b.len, (4u << 20) - 1, &s, &err), 0);
	cr_expect_not_null(strstr(err.msg, "section 1 (DEVICE)"), "%s", err.msg);
	cr_expect_not_null(strstr(err.msg, "pass the limit of 4194303 bytes for the whole stream"),
			   "%s", err.msg);
	gm_buf_free(&b);
	free(z);
	free(zeros);
}

Test(zstd, a_frame_without_its_size_is_refused)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	uint8_t out[256];
	ZSTD_outBuffer o = { out, sizeof(out), 0 };
	ZSTD_inBuffer in = { "hello hello hello", 17, 0 }, none = { "", 0, 0 };
	struct gm_buf b = { 0 };

	/* Streaming without a pledged size: the frame cannot state it. */
	cr_assert(!ZSTD_isError(ZSTD_compressStream2(c, &o, &in, ZSTD_e_continue)));
	cr_assert_eq(ZSTD_compressStream2(c, &o, &none, ZSTD_e_end), 0);
	ZSTD_freeCCtx(c);
	one_section(&b, out, o.pos);
	st_refused(b.data, b.len, "does not state its decompressed size");
	gm_buf_free(&b);
}

Test(zstd, two_frames_or_trailing_bytes_are_refused)
{
	size_t zl;
	uint8_t *z = sb_zstd("some payload", 12, &zl);
	struct gm_buf two = { 0 }, b = { 0 };

	gm_buf_bytes(&two, z, zl);
	gm_buf_bytes(&two, z, zl);
	one_section(&b, two.data, two.len);
	st_refused(b.data, b.len, "not exactly one zstd frame");
	gm_buf_free(&b);
	two.len = zl + 1;
	one_section(&b, two.data, two.len);
	st_refused(b.data, b.len, "not exactly one zstd frame");
	gm_buf_free(&b);
	one_section(&b, z, zl - 1);
	st_refused(b.data, b.len, "not exactly one zstd frame");
	gm_buf_free(&b);
	gm_buf_free(&two);
	free(z);
}

Test(zstd, a_skippable_frame_is_not_data)
{
	uint8_t f[12];
	struct gm_buf b = { 0 };

	gm_put_le32(f, ZSTD_MAGIC_SKIPPABLE_START);
	gm_put_le32(f + 4, 4);
	memset(f + 8, 0, 4);
	one_section(&b, f, sizeof(f));
	st_refused(b.data, b.len, "not a zstd frame (bad magic)");
	gm_buf_free(&b);
}

Test(zstd, a_frame_that_lies_about_its_size_is_refused)
{
	uint8_t src[200], f[32];
	size_t zl;
	uint8_t *z;
	struct gm_buf b = { 0 };

	for (unsigned i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * i + 3);
	z = sb_zstd(src, sizeof(src), &zl);
	/* Single-segment frame, 1-byte size field after the descriptor. */
	cr_assert_eq(z[4] & 0xe0, 0x20, "frame header descriptor 0x%x", z[4]);
	z[5] = 100;
	one_section(&b, z, zl);
	st_refused(b.data, b.len, "zstd payload does not decompress");
	gm_buf_free(&b);
	/* A frame that states 10 bytes and holds none. */
	one_section(&b, f, fake_frame(f, 10));
	st_refused(b.data, b.len, "section 0 (DEVICE) at byte 102: zstd payload does not decompress");
	gm_buf_free(&b);
	free(z);
}

Test(zstd, a_bomb_in_a_pages_run_is_refused_at_parse)
{
	struct gm_buf b = { 0 }, p = { 0 };
	uint8_t f[32];
	size_t fl = fake_frame(f, UINT64_C(1) << 40);

	sb_pages_head(&p, 0, 12);
	sb_run(&p, 0, 1, GM_SECTION_ZSTD, f, fl);
	sb_file_header(&b, 1, 0, ST_JSON);
	sb_section(&b, GM_SECTION_PAGES, 0, 1, 0, p.data, p.len);
	sb_end(&b);
	st_refused(b.data, b.len, "section 0 (PAGES) at byte 102: run 0 at payload byte 8: a zstd "
		   "frame whose decompressed size is over the limit");
	gm_buf_free(&b);
	gm_buf_free(&p);
}
