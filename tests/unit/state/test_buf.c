/* gm_buf and gm_cursor: little-endian layout, and no read past the end. */
#include <criterion/criterion.h>
#include <string.h>

#include "state/buf.h"

Test(buf, values_are_little_endian_without_padding)
{
	struct gm_buf b = { 0 };
	static const uint8_t want[] = { 0x11, 0x22, 0x11, 0x44, 0x33, 0x22, 0x11,
					0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
					2, 0, 0, 0, 'h', 'i', 0xee };

	gm_buf_u8(&b, 0x11);
	gm_buf_u16(&b, 0x1122);
	gm_buf_u32(&b, 0x11223344);
	gm_buf_u64(&b, 0x1122334455667788);
	gm_buf_str(&b, "hi");
	gm_buf_bytes(&b, "\xee", 1);
	cr_assert(!b.failed);
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_arr_eq(b.data, want, sizeof(want));
	gm_buf_free(&b);
	cr_expect_null(b.data);
	cr_expect_eq(b.len, 0);
}

Test(buf, grows_past_many_doublings)
{
	struct gm_buf b = { 0 };

	for (uint32_t i = 0; i < 100000; i++)
		gm_buf_u32(&b, i);
	cr_assert(!b.failed);
	cr_assert_eq(b.len, 400000);
	struct gm_cursor c = gm_cur_init(b.data, b.len);

	for (uint32_t i = 0; i < 100000; i++)
		cr_assert_eq(gm_cur_u32(&c), i);
	cr_expect(!c.bad);
	cr_expect_eq(c.left, 0);
	gm_buf_free(&b);
}

Test(buf, an_impossible_size_fails_and_stays_failed)
{
	struct gm_buf b = { 0 };

	gm_buf_u32(&b, 1);
	cr_assert_null(gm_buf_append(&b, SIZE_MAX - 2));
	cr_assert(b.failed);
	gm_buf_u32(&b, 2);
	cr_expect_eq(b.len, 4, "nothing appended after a failure");
	gm_buf_free(&b);
}

Test(cursor, reads_back_what_buf_wrote)
{
	struct gm_buf b = { 0 };
	char s[8];

	gm_buf_u8(&b, 7);
	gm_buf_u16(&b, 0xbeef);
	gm_buf_u32(&b, 0xdeadbeef);
	gm_buf_u64(&b, UINT64_MAX - 5);
	gm_buf_str(&b, "serial");
	struct gm_cursor c = gm_cur_init(b.data, b.len);

	cr_expect_eq(gm_cur_u8(&c), 7);
	cr_expect_eq(gm_cur_u16(&c), 0xbeef);
	cr_expect_eq(gm_cur_u32(&c), 0xdeadbeef);
	cr_expect_eq(gm_cur_u64(&c), UINT64_MAX - 5);
	cr_expect_eq(gm_cur_str(&c, s, sizeof(s)), 6);
	cr_expect_str_eq(s, "serial");
	cr_expect(!c.bad);
	gm_buf_free(&b);
}

Test(cursor, an_overrun_is_bad_returns_zero_and_stays_bad)
{
	static const uint8_t three[3] = { 1, 2, 3 };
	struct gm_cursor c = gm_cur_init(three, sizeof(three));

	cr_expect_eq(gm_cur_u32(&c), 0);
	cr_expect(c.bad);
	cr_expect_eq(c.left, 3, "a failed read consumes nothing");
	cr_expect_eq(gm_cur_u8(&c), 0, "and later reads fail too");
	cr_expect_null(gm_cur_bytes(&c, 1));
}

Test(cursor, bytes_past_the_end_are_null)
{
	static const uint8_t four[4] = { 0 };
	struct gm_cursor c = gm_cur_init(four, sizeof(four));

	cr_expect_not_null(gm_cur_bytes(&c, 2));
	cr_expect_null(gm_cur_bytes(&c, SIZE_MAX));
	cr_expect(c.bad);
}

Test(cursor, str_longer_than_out_or_holding_nul_is_bad)
{
	struct gm_buf b = { 0 };
	char s[4];

	gm_buf_str(&b, "toolong");
	struct gm_cursor c = gm_cur_init(b.data, b.len);

	gm_cur_str(&c, s, sizeof(s));
	cr_expect(c.bad);
	cr_expect_str_eq(s, "");
	gm_buf_free(&b);

	gm_buf_u32(&b, 2);
	gm_buf_bytes(&b, "a\0", 2);
	c = gm_cur_init(b.data, b.len);
	gm_cur_str(&c, s, sizeof(s));
	cr_expect(c.bad);
	gm_buf_free(&b);

	gm_buf_u32(&b, 100); /* a length past the end */
	c = gm_cur_init(b.data, b.len);
	gm_cur_str(&c, (char[200]){ 0 }, 200);
	cr_expect(c.bad);
	gm_buf_free(&b);
}
