/* gm_escape: user input quoted in one-line messages (util/escape.h). */
#include <criterion/criterion.h>
#include <string.h>

#include "util/escape.h"

static const char *esc(const char *s, size_t len)
{
	static char buf[512];

	cr_assert_leq(len, sizeof(buf));
	return gm_escape(s, buf, len);
}

Test(escape, plain_text_unchanged)
{
	cr_assert_str_eq(esc("guest.elf", 64), "guest.elf");
	cr_assert_str_eq(esc("", 64), "");
	cr_assert_str_eq(esc(NULL, 64), "(null)");
}

Test(escape, control_bytes_c_style)
{
	cr_assert_str_eq(esc("a\nb\rc\td\\e", 64), "a\\nb\\rc\\td\\\\e");
	cr_assert_str_eq(esc("\x1b[31mred\x7f\x01", 64), "\\x1b[31mred\\x7f\\x01");
}

Test(escape, utf8_kept_invalid_bytes_escaped)
{
	cr_assert_str_eq(esc("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7", 64),
			 "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xa7");
	cr_assert_str_eq(esc("\xff\xc3", 64), "\\xff\\xc3");       /* stray and cut-off bytes */
	cr_assert_str_eq(esc("\xc0\xaf", 64), "\\xc0\\xaf");       /* overlong '/' */
	cr_assert_str_eq(esc("\xed\xa0\x80", 64), "\\xed\\xa0\\x80"); /* a surrogate */
	cr_assert_str_eq(esc("\xc2\x9b", 64), "\\xc2\\x9b");       /* C1 CSI */
}

Test(escape, long_input_is_cut_with_dots)
{
	char in[200];

	memset(in, 'x', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	const char *out = esc(in, GM_ESCAPE_SHORT);

	cr_assert_eq(strlen(out), GM_ESCAPE_SHORT - 1);
	cr_assert_str_eq(out + strlen(out) - 3, "...");
	/* exactly fitting input is shown whole, with no dots */
	in[GM_ESCAPE_SHORT - 1] = '\0';
	cr_assert_str_eq(esc(in, GM_ESCAPE_SHORT), in);
	/* one byte more than fits: cut, the dots in the last three places */
	in[GM_ESCAPE_SHORT - 1] = 'x';
	in[GM_ESCAPE_SHORT] = '\0';
	out = esc(in, GM_ESCAPE_SHORT);
	cr_assert_eq(strlen(out), GM_ESCAPE_SHORT - 1);
	cr_assert_str_eq(out + GM_ESCAPE_SHORT - 4, "...");
}

Test(escape, cut_never_splits_an_escape_or_a_character)
{
	/* 10 bytes of room: "ab" then "\n" (2) then "..." fits, "\x1b" would not */
	cr_assert_str_eq(esc("ab\n\x1b\x1b\x1b", 10), "ab\\n...");
	cr_assert_str_eq(esc("abcd\xe2\x82\xac\xe2\x82\xac", 10), "abcd...");
	cr_assert_str_eq(esc("a\n", 4), "a\\n");
}

Test(escape, bounded_length)
{
	char buf[16];

	cr_assert_str_eq(gm_escape_n("key=value", 3, buf, sizeof(buf)), "key");
	cr_assert_str_eq(gm_escape_n("a\0b", 3, buf, sizeof(buf)), "a\\x00b");
}
