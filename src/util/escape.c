/* util/escape: quoting user input in one-line messages (see escape.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util/escape.h"

/*
 * Length of the valid UTF-8 sequence at p (at most n bytes), or 0 when it is
 * not one.  Overlong forms, surrogates and code points above U+10FFFF are
 * invalid; C1 controls count as invalid too, since some terminals act on
 * them as they would on ESC.
 */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	uint32_t cp;
	size_t len;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return len;
}

/* The escaped form of byte c into out (at least 5 bytes); its length. */
static size_t escape_byte(unsigned char c, char out[5])
{
	switch (c) {
	case '\n': memcpy(out, "\\n", 3); return 2;
	case '\r': memcpy(out, "\\r", 3); return 2;
	case '\t': memcpy(out, "\\t", 3); return 2;
	case '\\': memcpy(out, "\\\\", 3); return 2;
	}
	snprintf(out, 5, "\\x%02x", c);
	return 4;
}

/*
 * The shown form of the character at s[i] (of n): *piece and *plen, using
 * tmp for an escape.  Returns how many input bytes it stands for.
 */
static size_t piece_at(const unsigned char *s, size_t n, size_t i, char tmp[5],
		       const char **piece, size_t *plen)
{
	size_t u = s[i] >= 0x80 ? utf8_len(s + i, n - i) : 0;

	*piece = (const char *)s + i;
	if (u)
		return *plen = u;
	if (s[i] < 0x20 || s[i] >= 0x7f || s[i] == '\\') {
		*plen = escape_byte(s[i], tmp);
		*piece = tmp;
		return 1;
	}
	*plen = 1;
	return 1;
}

const char *gm_escape_n(const char *s, size_t n, char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	const size_t dots = sizeof("...") - 1;
	size_t used = 0, total = 0, limit;
	const char *piece;
	size_t plen;
	char tmp[5];

	if (len == 0)
		return buf;
	for (size_t i = 0; i < n;) {
		i += piece_at(p, n, i, tmp, &piece, &plen);
		total += plen;
	}
	/* All of it when it fits; else whole pieces, leaving room for "...". */
	limit = total < len ? total : (len > dots ? len - 1 - dots : 0);
	for (size_t i = 0; i < n;) {
		size_t took = piece_at(p, n, i, tmp, &piece, &plen);

		if (used + plen > limit)
			break;
		memcpy(buf + used, piece, plen);
		used += plen;
		i += took;
	}
	if (total >= len && used + dots < len) {
		memcpy(buf + used, "...", dots);
		used += dots;
	}
	buf[used] = '\0';
	return buf;
}

const char *gm_escape(const char *s, char *buf, size_t len)
{
	if (!s)
		return gm_escape_n("(null)", 6, buf, len);
	return gm_escape_n(s, strlen(s), buf, len);
}
