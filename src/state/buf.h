/*
 * state/buf: how section payloads are built and read.  A gm_buf grows as
 * values are appended (little-endian, no padding); a gm_cursor reads them
 * back from untrusted bytes without ever reading past its end.  Both keep
 * going after a failure so callers check once at the end instead of after
 * every field: a gm_buf sets `failed` (out of memory) and appends nothing
 * more, a gm_cursor sets `bad` (overrun) and returns zeros.
 */
#ifndef GM_STATE_BUF_H
#define GM_STATE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gm_buf {
	uint8_t *data;
	size_t len, cap;
	bool failed;
};

/* Start from `struct gm_buf b = { 0 };`. */
void gm_buf_u8(struct gm_buf *b, uint8_t v);
void gm_buf_u16(struct gm_buf *b, uint16_t v);
void gm_buf_u32(struct gm_buf *b, uint32_t v);
void gm_buf_u64(struct gm_buf *b, uint64_t v);
void gm_buf_bytes(struct gm_buf *b, const void *p, size_t n);
/* u32 length + the bytes, no NUL. */
void gm_buf_str(struct gm_buf *b, const char *s);
/* n more bytes at the end for the caller to fill (len grows by n), or NULL
 * (and failed) if they cannot be had. */
uint8_t *gm_buf_append(struct gm_buf *b, size_t n);
/* Room for n more bytes without growing len; false (and failed) if not. */
bool gm_buf_reserve(struct gm_buf *b, size_t n);
void gm_buf_free(struct gm_buf *b);

struct gm_cursor {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static inline struct gm_cursor gm_cur_init(const void *p, size_t n)
{
	return (struct gm_cursor){ .p = p, .left = n, .bad = false };
}

/* A failed read sets bad and returns 0 (or NULL); check c->bad once at the end. */
uint8_t gm_cur_u8(struct gm_cursor *c);
uint16_t gm_cur_u16(struct gm_cursor *c);
uint32_t gm_cur_u32(struct gm_cursor *c);
uint64_t gm_cur_u64(struct gm_cursor *c);
const void *gm_cur_bytes(struct gm_cursor *c, size_t n);
/* A gm_buf_str string into out (NUL-terminated); bad if it does not fit in
 * outsize - 1 bytes or holds a NUL.  Returns its length. */
size_t gm_cur_str(struct gm_cursor *c, char *out, size_t outsize);

#endif
