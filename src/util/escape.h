/*
 * util/escape: user input made safe to quote in a one-line message.  A value
 * from the command line (or an API request) may hold newlines, terminal
 * escape sequences or thousands of bytes; quoted raw it would break the
 * one-line rule, drive the user's terminal, or push the remedy off the end
 * of a gm_error.  gm_escape() writes it C-style (\n, \t, \\, \xNN) and cuts
 * it, at a character boundary, with "..." when the buffer is full.
 */
#ifndef GM_UTIL_ESCAPE_H
#define GM_UTIL_ESCAPE_H

#include <stddef.h>

/* A buffer that shows up to 64 bytes of a quoted value, then "...". */
#define GM_ESCAPE_SHORT (64 + sizeof("..."))
/* Room for a path: long enough to recognise it, short enough for two in one message. */
#define GM_ESCAPE_PATH (160 + sizeof("..."))

/*
 * Write s[0, n) into buf (len bytes, at least 8) escaped: bytes below 0x20,
 * DEL, the backslash, bytes that are not valid UTF-8 and the C1 controls
 * (U+0080 to U+009F) are written as \n, \r, \t, \\ or \xNN; printable ASCII
 * and valid UTF-8 as they are.  When the escaped text does not fit, it ends
 * with "..." instead.  Returns buf, always NUL-terminated.
 */
const char *gm_escape_n(const char *s, size_t n, char *buf, size_t len);

/* gm_escape_n() of a NUL-terminated string; NULL is written as "(null)". */
const char *gm_escape(const char *s, char *buf, size_t len);

#endif
