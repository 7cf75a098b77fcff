/*
 * tests/unit/boot/bz_builder.c: see bz_builder.h.  The containers the
 * libraries do not write (lzop's file, lz4's legacy frame) are written here
 * the way lzop(1) and `lz4 -l` write them.
 */
#include <bzlib.h>
#include <lz4.h>
#include <lzma.h>
#include <lzo/lzo1x.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "bz_builder.h"
#include "util/le.h"

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void put_be32(struct buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	put(b, x, 4);
}

static void put_le32(struct buf *b, uint32_t v)
{
	uint8_t x[4];
	gm_put_le32(x, v);
	put(b, x, 4);
}

static void gzip(struct buf *b, const uint8_t *d, size_t n)
{
	z_stream z = { 0 };
	size_t cap = deflateBound(&z, (uLong)n) + 64;

	if (deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	b->p = malloc(cap + 4);
	z.next_in = (Bytef *)d;
	z.avail_in = (uInt)n;
	z.next_out = b->p;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		abort();
	b->len = z.total_out;
	b->cap = cap + 4;
	deflateEnd(&z);
}

static void bzip2(struct buf *b, const uint8_t *d, size_t n)
{
	unsigned cap = (unsigned)(n + n / 100 + 600);

	b->p = malloc(cap);
	if (BZ2_bzBuffToBuffCompress((char *)b->p, &cap, (char *)d, (unsigned)n, 9, 0, 0) != BZ_OK)
		abort();
	b->len = b->cap = cap;
}

static void xz(struct buf *b, const uint8_t *d, size_t n, int alone)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_options_lzma opt;
	size_t cap = n + n / 2 + 4096;

	lzma_lzma_preset(&opt, 6);
	if ((alone ? lzma_alone_encoder(&s, &opt) : lzma_easy_encoder(&s, 6, LZMA_CHECK_CRC32)) != LZMA_OK)
		abort();
	b->p = malloc(cap);
	s.next_in = d;
	s.avail_in = n;
	s.next_out = b->p;
	s.avail_out = cap;
	if (lzma_code(&s, LZMA_FINISH) != LZMA_STREAM_END)
		abort();
	b->len = cap - s.avail_out;
	b->cap = cap;
	lzma_end(&s);
}

/* lzop -9 style: version 1.04, LZO1X, adler32 of each block's data. */
static void lzop(struct buf *b, const uint8_t *d, size_t n)
{
	static const uint8_t magic[9] = { 0x89, 'L', 'Z', 'O', 0, '\r', '\n', 0x1a, '\n' };
	static const uint8_t hdr[] = {
		0x10, 0x40, 0x20, 0xa0, 0x09, 0x40, /* version, lib version, version needed */
		1, 5,                               /* method LZO1X_1, level */
		0, 0, 0, 1,                         /* flags: F_ADLER32_D */
		0, 0, 0x81, 0xa4, 0, 0, 0, 0, 0, 0, 0, 0, /* mode, mtime low, mtime high */
		0,                                  /* no name */
	};
	const size_t block = 256 << 10;
	uint8_t *wrk = malloc(LZO1X_1_MEM_COMPRESS), *tmp = malloc(block + block / 16 + 64 + 3);

	if (lzo_init() != LZO_E_OK || !wrk || !tmp)
		abort();
	put(b, magic, 9);
	put(b, hdr, sizeof(hdr));
	put_be32(b, (uint32_t)lzo_adler32(1, hdr, sizeof(hdr)));
	for (size_t at = 0; at < n; at += block) {
		size_t dl = n - at < block ? n - at : block;
		lzo_uint cl = 0;

		if (lzo1x_1_compress(d + at, dl, tmp, &cl, wrk) != LZO_E_OK)
			abort();
		put_be32(b, (uint32_t)dl);
		put_be32(b, (uint32_t)(cl < dl ? cl : dl));
		put_be32(b, (uint32_t)lzo_adler32(1, d + at, dl));
		put(b, cl < dl ? tmp : d + at, cl < dl ? cl : dl);
	}
	put_be32(b, 0);
	free(wrk);
	free(tmp);
}

/* lz4 -l: legacy magic, then 8 MiB blocks each as [le32 size][block]. */
static void lz4(struct buf *b, const uint8_t *d, size_t n)
{
	const size_t block = 8 << 20;
	char *tmp = malloc((size_t)LZ4_compressBound((int)block));

	put_le32(b, 0x184c2102u);
	for (size_t at = 0; at < n; at += block) {
		size_t dl = n - at < block ? n - at : block;
		int cl = LZ4_compress_default((const char *)d + at, tmp, (int)dl, LZ4_compressBound((int)block));

		if (cl <= 0)
			abort();
		put_le32(b, (uint32_t)cl);
		put(b, tmp, (size_t)cl);
	}
	free(tmp);
}

static void zstd(struct buf *b, const uint8_t *d, size_t n)
{
	size_t cap = ZSTD_compressBound(n), r;

	b->p = malloc(cap);
	r = ZSTD_compress(b->p, cap, d, n, 19);
	if (ZSTD_isError(r))
		abort();
	b->len = r;
	b->cap = cap;
}

uint8_t *bzb_compress(enum gm_payload_format fmt, const void *data, size_t len, size_t *out_len)
{
	struct buf b = { 0 };

	switch (fmt) {
	case GM_PAYLOAD_GZIP: gzip(&b, data, len); break; /* ISIZE is the trailer */
	case GM_PAYLOAD_BZIP2: bzip2(&b, data, len); break;
	case GM_PAYLOAD_LZMA: xz(&b, data, len, 1); break;
	case GM_PAYLOAD_XZ: xz(&b, data, len, 0); break;
	case GM_PAYLOAD_LZO: lzop(&b, data, len); break;
	case GM_PAYLOAD_LZ4: lz4(&b, data, len); break;
	case GM_PAYLOAD_ZSTD: zstd(&b, data, len); break;
	default: abort();
	}
	if (fmt != GM_PAYLOAD_GZIP)
		put_le32(&b, (uint32_t)len);
	*out_len = b.len;
	return b.p;
}

uint8_t *bzb_build(const struct bzb_opts *o, const void *payload, size_t plen, size_t *len)
{
	static const struct bzb_opts dflt = { 0 };
	size_t pm_len = (BZB_STUB + plen + 15) / 16 * 16;
	size_t total = BZB_PM_OFFSET + pm_len;
	uint8_t *b = calloc(1, total);

	if (!o)
		o = &dflt;
	if (!b)
		abort();
	b[0x1f1] = BZB_SETUP_SECTS;
	gm_put_le32(b + 0x1f4, (uint32_t)(pm_len / 16));         /* syssize */
	gm_put_le16(b + 0x1fe, 0xaa55);
	b[0x200] = 0xeb;                                          /* jmp short to 0x202 + b[0x201] */
	b[0x201] = 0x6a;                                          /* the header ends at 0x26c */
	gm_put_le32(b + 0x202, 0x53726448);                       /* "HdrS" */
	gm_put_le16(b + 0x206, o->version ? o->version : 0x020f);
	b[0x211] = 0x01;                                          /* LOADED_HIGH */
	gm_put_le32(b + 0x214, 0x100000);                         /* code32_start */
	gm_put_le32(b + 0x22c, o->initrd_addr_max ? o->initrd_addr_max : 0x7fffffff);
	gm_put_le32(b + 0x230, 0x200000);                         /* kernel_alignment */
	b[0x234] = 1;                                             /* relocatable */
	gm_put_le16(b + 0x236, o->xloadflags ? o->xloadflags : 0x3);
	gm_put_le32(b + 0x238, 2047);                             /* cmdline_size */
	gm_put_le32(b + 0x248, BZB_STUB);                         /* payload_offset */
	gm_put_le32(b + 0x24c, (uint32_t)plen);                   /* payload_length */
	gm_put_le64(b + 0x258, o->pref_address ? o->pref_address : 0x1000000);
	gm_put_le32(b + 0x260, o->init_size ? o->init_size : (uint32_t)((pm_len + 4095) / 4096 * 4096));
	memset(b + BZB_PM_OFFSET, 0x90, BZB_STUB);
	memcpy(b + BZB_PM_OFFSET + BZB_STUB, payload, plen);
	*len = total;
	return b;
}
