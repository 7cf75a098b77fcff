/* state/buf.c: the payload byte buffer and the bounds-checked cursor. */
#include <stdlib.h>
#include <string.h>

#include "state/buf.h"
#include "util/le.h"

bool gm_buf_reserve(struct gm_buf *b, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (b->failed)
		return false;
	if (__builtin_add_overflow(b->len, n, &need)) {
		b->failed = true;
		return false;
	}
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		if (__builtin_mul_overflow(cap, 2, &cap)) {
			cap = need;
			break;
		}
	p = realloc(b->data, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

uint8_t *gm_buf_append(struct gm_buf *b, size_t n)
{
	uint8_t *p;

	if (!gm_buf_reserve(b, n))
		return NULL;
	p = b->data + b->len;
	b->len += n;
	return p;
}

void gm_buf_u8(struct gm_buf *b, uint8_t v)
{
	uint8_t *p = gm_buf_append(b, 1);

	if (p)
		*p = v;
}

void gm_buf_u16(struct gm_buf *b, uint16_t v)
{
	uint8_t *p = gm_buf_append(b, 2);

	if (p)
		gm_put_le16(p, v);
}

void gm_buf_u32(struct gm_buf *b, uint32_t v)
{
	uint8_t *p = gm_buf_append(b, 4);

	if (p)
		gm_put_le32(p, v);
}

void gm_buf_u64(struct gm_buf *b, uint64_t v)
{
	uint8_t *p = gm_buf_append(b, 8);

	if (p)
		gm_put_le64(p, v);
}

void gm_buf_bytes(struct gm_buf *b, const void *src, size_t n)
{
	uint8_t *p = gm_buf_append(b, n);

	if (p && n)
		memcpy(p, src, n);
}

void gm_buf_str(struct gm_buf *b, const char *s)
{
	size_t n = strlen(s);

	if (n > UINT32_MAX) {
		b->failed = true;
		return;
	}
	gm_buf_u32(b, (uint32_t)n);
	gm_buf_bytes(b, s, n);
}

void gm_buf_free(struct gm_buf *b)
{
	free(b->data);
	*b = (struct gm_buf){ 0 };
}

const void *gm_cur_bytes(struct gm_cursor *c, size_t n)
{
	const uint8_t *p = c->p;

	if (c->bad || n > c->left) {
		c->bad = true;
		return NULL;
	}
	c->p += n;
	c->left -= n;
	return p;
}

uint8_t gm_cur_u8(struct gm_cursor *c)
{
	const uint8_t *p = gm_cur_bytes(c, 1);

	return p ? *p : 0;
}

uint16_t gm_cur_u16(struct gm_cursor *c)
{
	const uint8_t *p = gm_cur_bytes(c, 2);

	return p ? gm_le16(p) : 0;
}

uint32_t gm_cur_u32(struct gm_cursor *c)
{
	const uint8_t *p = gm_cur_bytes(c, 4);

	return p ? gm_le32(p) : 0;
}

uint64_t gm_cur_u64(struct gm_cursor *c)
{
	const uint8_t *p = gm_cur_bytes(c, 8);

	return p ? gm_le64(p) : 0;
}

size_t gm_cur_str(struct gm_cursor *c, char *out, size_t outsize)
{
	uint32_t n = gm_cur_u32(c);
	const uint8_t *p;

	if (outsize)
		out[0] = '\0';
	if (c->bad || outsize == 0 || n > outsize - 1) {
		c->bad = true;
		return 0;
	}
	p = gm_cur_bytes(c, n);
	if (!p || memchr(p, '\0', n)) {
		c->bad = true;
		return 0;
	}
	memcpy(out, p, n);
	out[n] = '\0';
	return n;
}
