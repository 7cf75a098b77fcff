/*
 * The reader on broken streams: every prefix of a valid stream, every byte
 * of it flipped, and each structural fault built by hand.  Every refusal is
 * GM_STATUS_BAD_INPUT, one line, naming where (section, type, byte offset).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_test.h"
#include "util/le.h"

static struct gm_buf small(void)
{
	struct gm_buf b = { 0 };

	sb_small_stream(&b);
	return b;
}

Test(refuse, every_truncation_of_a_valid_stream)
{
	struct gm_buf b = small();

	for (size_t n = 0; n < b.len; n++) {
		uint8_t *cut = malloc(n ? n : 1); /* exact size, for ASan */
		struct gm_stream_in *s = NULL;
		struct gm_error err = { 0 };

		memcpy(cut, b.data, n);
		cr_assert_lt(gm_stream_in_parse(cut, n, &s, &err), 0, "a %zu-byte prefix was accepted", n);
		cr_assert_null(s);
		cr_assert_eq(err.status, GM_STATUS_BAD_INPUT, "%zu: %s", n, err.msg);
		cr_assert_not_null(strstr(err.msg, " at byte "), "%zu: %s", n, err.msg);
		free(cut);
	}
	gm_buf_free(&b);
}

Test(refuse, every_flipped_byte)
{
	static const uint8_t flips[] = { 0x01, 0x80, 0xff };
	struct gm_buf b = small();

	for (size_t i = 0; i < b.len; i++)
		for (unsigned f = 0; f < sizeof(flips); f++) {
			struct gm_stream_in *s = NULL;
			struct gm_error err = { 0 };

			b.data[i] ^= flips[f];
			cr_assert_lt(gm_stream_in_parse(b.data, b.len, &s, &err), 0,
				     "byte %zu ^ 0x%02x was accepted", i, flips[f]);
			cr_assert_eq(err.status, GM_STATUS_BAD_INPUT, "%s", err.msg);
			b.data[i] ^= flips[f];
		}
	gm_stream_in_free(st_accepted(b.data, b.len));
	gm_buf_free(&b);
}

Test(refuse, a_flipped_payload_byte_is_a_checksum_mismatch_naming_the_section)
{
	struct gm_buf b = small();
	struct gm_stream_in *s = st_accepted(b.data, b.len);
	const struct gm_section *dev = gm_stream_in_section(s, 2);
	char want[96];

	snprintf(want, sizeof(want), "section 2 (DEVICE) at byte %llu: checksum mismatch",
		 (unsigned long long)dev->offset);
	b.data[dev->offset + 32 + 1] ^= 4;
	gm_stream_in_free(s);
	st_refused(b.data, b.len, want);
	gm_buf_free(&b);
}

Test(refuse, a_flipped_instance_is_caught_too)
{
	struct gm_buf b = small();
	size_t clock_at = 32 + strlen(ST_JSON);

	b.data[clock_at + 4] ^= 1;
	st_refused(b.data, b.len, "section 0 (CLOCK) at byte ");
	st_refused(b.data, b.len, "checksum mismatch");
	gm_buf_free(&b);
}

Test(refuse, wrong_magic)
{
	struct gm_buf b = small();

	b.data[7] = 'X';
	st_refused(b.data, b.len, "file header at byte 0: not a gmvm state stream (bad magic)");
	st_refused("\x7f" "ELF", 4, "bad magic");
	gm_buf_free(&b);
}

Test(refuse, a_newer_format_version)
{
	struct gm_buf b = { 0 };

	sb_file_header(&b, 2, 0, ST_JSON);
	sb_end(&b);
	st_refused(b.data, b.len, "file header at byte 8: format version 2 is newer");
	st_refused(b.data, b.len, "use a newer gmvm");
	gm_buf_free(&b);
	sb_file_header(&b, 0, 0, ST_JSON);
	sb_end(&b);
	st_refused(b.data, b.len, "format version 0 is not valid");
	gm_buf_free(&b);
}

Test(refuse, unknown_file_flags)
{
	struct gm_buf b = { 0 };

	sb_file_header(&b, 1, 0x100, ST_JSON);
	sb_end(&b);
	st_refused(b.data, b.len, "file header at byte 12: unknown flags 0x100");
	gm_buf_free(&b);
}

Test(refuse, bad_json_headers)
{
	static const struct { const char *json, *want; } cases[] = {
		{ "[]", "not a JSON object" },
		{ "{\"uuid\":\"x\"}", "lacks the string \"gmvm_version\"" },
		{ "{\"gmvm_version\":\"1\"}", "lacks the string \"uuid\"" },
		{ "{\"gmvm_version\":\"1\",\"uuid\":7}", "lacks the string \"uuid\"" },
		{ "{\"gmvm_version\":\"1\",", "not valid JSON" },
		{ "{\"gmvm_version\":\"\xff\",\"uuid\":\"x\"}", "not valid JSON" },
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gm_buf b = { 0 };

		sb_file_header(&b, 1, 0, cases[i].json);
		sb_end(&b);
		st_refused(b.data, b.len, "JSON header at byte 32: ");
		st_refused(b.data, b.len, cases[i].want);
		gm_buf_free(&b);
	}
}

Test(refuse, a_json_header_length_over_1M_or_zero)
{
	struct gm_buf b = { 0 };

	sb_file_header(&b, 1, 0, ST_JSON);
	sb_end(&b);
	gm_put_le64(b.data + 16, (1u << 20) + 1);
	st_refused(b.data, b.len, "file header at byte 16: JSON header length 1048577");
	gm_put_le64(b.data + 16, 0);
	st_refused(b.data, b.len, "JSON header length 0");
	gm_put_le64(b.data + 16, UINT64_MAX);
	st_refused(b.data, b.len, "is not 1 byte to 1 MiB");
	gm_buf_free(&b);
}

Test(refuse, an_unknown_section_type)
{
	struct gm_buf b = { 0 };
	size_t at;

	sb_file_header(&b, 1, 0, ST_JSON);
	sb_section(&b, GM_SECTION_VCPU, 0, 1, 0, "abc", 3);
	at = b.len;
	sb_section(&b, 99, 0, 1, 0, "abc", 3);
	sb_end(&b);
	char want[80];

	snprintf(want, sizeof(want), "section 1 (unknown) at byte %zu: unknown section type 99", at);
	st_refused(b.data, b.len, want);
	gm_buf_free(&b);
}

Test(refuse, unknown_section_flags)
{
	struct gm_buf b = { 0 };

	sb_file_header(&b, 1, 0, ST_JSON);
	sb_section(&b, GM_SECTION_CLOCK, 0, 1, 2, "abc", 3);
	sb_end(&b);
	st_refused(b.data, b.len, "section 0 (CLOCK) at byte 102: unknown flags 0x2");
	gm_buf_free(&b);
}

Test(refuse, a_missing_end)
{
	struct gm_buf b = { 0 };

	sb_file_header(&b, 1, 0, ST_JSON);
	sb_section(&b, GM_SECTION_CLOCK, 0, 1, 0, "abc", 3);
	char want[80];

	snprintf(want, sizeof(want), "section 1 (END) at byte %zu: missing", b.len);
	st_refused(b.data, b.len, want);
	gm_buf_free(&b);
}

Test(refuse, data_after_end)
{
	struct gm_buf b = { 0 };

	sb_file_header(&b, 1, 0, ST_JSON);
	sb_end(&b);
	gm_buf_u8(&b, 0);
	st_refused(b.data, b.len, "section 0 (END) at byte 102: 1 bytes follow the END section");
	b.len--;
	sb_end(&b);
	st_refused(b.data, b.len, "32 bytes follow the END section");
	gm_buf_free(&b);
}

Test(refuse, an_end_with_a_payload_or_fields)
{
	struct gm_buf b = { 0 };

	sb_file_header(&b, 1, 0, ST_JSON);
	sb_section(&b, GM_SECTION_END, 0, 0, 0, "x", 1);
	st_refused(b.data, b.len, "section 0 (END) at byte 102: an END section has");
	gm_buf_free(&b);
	sb_file_header(&b, 1, 0, ST_JSON);
	sb_section(&b, GM_SECTION_END, 1, 0, 0, "", 0);
	st_refused(b.data, b.len, "an END section has instance, version, flags and length 0");
	gm_buf_free(&b);
}

Test(refuse, oversized_lengths)
{
	struct gm_buf b = { 0 };

	sb_file_header(&b, 1, 0, ST_JSON);
	sb_section_raw(&b, GM_SECTION_VCPU, 0, 1, 0, UINT64_MAX, 0, "abc", 3);
	st_refused(b.data, b.len, "section 0 (VCPU) at byte 102: payload of 18446744073709551615 "
		   "bytes is over the 256 MiB limit");
	gm_buf_free(&b);
	sb_file_header(&b, 1, 0, ST_JSON);
	sb_section_raw(&b, GM_SECTION_VCPU, 0, 1, 0, (256u << 20) + 1, 0, "abc", 3);
	st_refused(b.data, b.len, "over the 256 MiB limit");
	gm_buf_free(&b);
	sb_file_header(&b, 1, 0, ST_JSON);
	sb_section_raw(&b, GM_SECTION_VCPU, 0, 1, 0, 4, 0, "abc", 3);
	st_refused(b.data, b.len, "payload of 4 bytes, but only 3 follow");
	gm_buf_free(&b);
}

Test(refuse, a_truncated_section_header_names_its_type)
{
	struct gm_buf b = { 0 };

	sb_file_header(&b, 1, 0, ST_JSON);
	gm_buf_u32(&b, GM_SECTION_REGION);
	gm_buf_u32(&b, 0);
	st_refused(b.data, b.len, "section 0 (REGION) at byte 102: only 8 of the 32 header bytes");
	gm_buf_free(&b);
}

Test(refuse, json_checksum)
{
	struct gm_buf b = { 0 };

	sb_file_header(&b, 1, 0, ST_JSON);
	sb_end(&b);
	b.data[40] ^= 0x20;
	st_refused(b.data, b.len, "JSON header at byte 32: checksum mismatch");
	gm_buf_free(&b);
}
