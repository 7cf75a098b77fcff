/*
 * boot/decompress.c: the seven payload formats a Linux bzImage may carry
 * (arch/x86/boot/compressed/Makefile), each through its Debian library; the
 * two containers the libraries do not read (the kernel's lzop file and lz4's
 * legacy frame) are walked here.  Every decoder writes into one buffer of
 * the trailer's size plus one byte, so a stream that runs past the size it
 * announced shows as one byte too many instead of an overflow.
 */
#include <bzlib.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <lz4.h>
#include <lzma.h>
#include <lzo/lzo1x.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <zlib.h>
#include <zstd.h>

#include "boot/decompress.h"
#include "util/le.h"

#define MIB (UINT64_C(1) << 20)
#define FIX "re-copy the kernel image or rebuild it"
/* liblzma's dictionary for the kernel's xz is 32 MiB; lzma -9 asks 64 MiB */
#define LZMA_MEMLIMIT (UINT64_C(256) << 20)
/* lz4 -l: the legacy frame's blocks each decompress to at most 8 MiB */
#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_BLOCK (8u << 20)
/* lzop blocks: the tool writes 256 KiB, its format allows 64 MiB */
#define LZOP_MAX_BLOCK (64u << 20)

/*
 * The output buffer: anonymous memory in 2 MiB-aligned huge pages where THP
 * allows (madvise mode is the common default).  Faulting a 50 MiB vmlinux
 * in 4 KiB pages costs more than decompressing it (measured: ~230 ms
 * against ~5 ms in a VM), and malloc would give 4 KiB pages.
 */
#define HUGE_ALIGN (UINT64_C(2) << 20)

static size_t map_len(size_t n)
{
	return (n + 1 + HUGE_ALIGN - 1) / HUGE_ALIGN * HUGE_ALIGN;
}

static uint8_t *out_alloc(size_t n)
{
	size_t len = map_len(n), span = len + HUGE_ALIGN;
	uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), *p;

	if (raw == MAP_FAILED)
		return NULL;
	p = (uint8_t *)(((uintptr_t)raw + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1));
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	if (raw + span > p + len)
		munmap(p + len, (size_t)(raw + span - (p + len)));
	madvise(p, len, MADV_HUGEPAGE); /* a hint: without THP, 4 KiB pages */
	return p;
}

void gm_decompress_free(void *out, size_t out_len)
{
	if (out)
		munmap(out, map_len(out_len));
}

struct sink {
	uint8_t *out;
	size_t cap;  /* the trailer's size + 1 */
	size_t got;
	const char *fmt;
	struct gm_error *err;
};

static int corrupt(struct sink *s, const char *why)
{
	return gm_fail(s->err, GM_STATUS_BAD_INPUT, EINVAL, "the kernel's %s payload is corrupt (%s); " FIX,
		       s->fmt, why);
}

static int truncated(struct sink *s)
{
	return gm_fail(s->err, GM_STATUS_BAD_INPUT, EINVAL,
		       "the kernel's %s payload ends before its compressed stream does; " FIX, s->fmt);
}

static int too_big(struct sink *s)
{
	return gm_fail(s->err, GM_STATUS_BAD_INPUT, EINVAL,
		       "the kernel's %s payload decompresses to more than the %zu bytes its size trailer "
		       "says; " FIX, s->fmt, s->cap - 1);
}

static int no_memory(struct sink *s)
{
	return gm_fail(s->err, GM_STATUS_FAILURE, ENOMEM,
		       "out of memory starting the %s decompressor; free host memory", s->fmt);
}

static int gunzip(const uint8_t *in, size_t len, struct sink *s)
{
	z_stream z = { 0 };
	int r;

	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return no_memory(s);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = s->out;
	z.avail_out = (uInt)s->cap;
	r = inflate(&z, Z_FINISH);
	s->got = z.total_out;
	if (r == Z_STREAM_END)
		r = 0;
	else if (r == Z_BUF_ERROR && z.avail_out == 0)
		r = too_big(s);
	else if (r == Z_BUF_ERROR)
		r = truncated(s);
	else if (r == Z_MEM_ERROR)
		r = no_memory(s);
	else
		r = corrupt(s, z.msg ? z.msg : "zlib error");
	inflateEnd(&z);
	return r;
}

static int bunzip2(const uint8_t *in, size_t len, struct sink *s)
{
	bz_stream b = { 0 };
	int r;

	if (BZ2_bzDecompressInit(&b, 0, 0) != BZ_OK)
		return no_memory(s);
	b.next_in = (char *)in;
	b.avail_in = (unsigned)len;
	b.next_out = (char *)s->out;
	b.avail_out = (unsigned)s->cap;
	for (;;) {
		unsigned in_before = b.avail_in, out_before = b.avail_out;

		r = BZ2_bzDecompress(&b);
		if (r == BZ_STREAM_END) {
			r = 0;
			break;
		}
		if (r == BZ_MEM_ERROR) {
			r = no_memory(s);
			break;
		}
		if (r != BZ_OK) {
			r = corrupt(s, r == BZ_DATA_ERROR_MAGIC ? "no bzip2 stream" : "bad bzip2 data");
			break;
		}
		if (b.avail_out == 0) {
			r = too_big(s);
			break;
		}
		if (b.avail_in == in_before && b.avail_out == out_before) {
			r = truncated(s);
			break;
		}
	}
	s->got = s->cap - b.avail_out;
	BZ2_bzDecompressEnd(&b);
	return r;
}

/* lzma (the "alone" format) and xz, both through liblzma. */
static int unxz(const uint8_t *in, size_t len, struct sink *s, bool alone)
{
	lzma_stream x = LZMA_STREAM_INIT;
	lzma_ret r = alone ? lzma_alone_decoder(&x, LZMA_MEMLIMIT) : lzma_stream_decoder(&x, LZMA_MEMLIMIT, 0);
	int rc;

	if (r != LZMA_OK)
		return no_memory(s);
	x.next_in = in;
	x.avail_in = len;
	x.next_out = s->out;
	x.avail_out = s->cap;
	do
		r = lzma_code(&x, LZMA_FINISH);
	while (r == LZMA_OK && x.avail_out);
	s->got = s->cap - x.avail_out;
	if (r == LZMA_STREAM_END)
		rc = 0;
	else if (x.avail_out == 0)
		rc = too_big(s);
	else if (r == LZMA_BUF_ERROR)
		rc = truncated(s);
	else if (r == LZMA_MEM_ERROR)
		rc = no_memory(s);
	else if (r == LZMA_MEMLIMIT_ERROR)
		rc = corrupt(s, "its dictionary is larger than 256 MiB");
	else
		rc = corrupt(s, r == LZMA_FORMAT_ERROR ? "not an lzma stream" : "bad lzma data");
	lzma_end(&x);
	return rc;
}

static int unzstd(const uint8_t *in, size_t len, struct sink *s)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_inBuffer ib = { in, len, 0 };
	ZSTD_outBuffer ob = { s->out, s->cap, 0 };
	int rc = 0;

	if (!d)
		return no_memory(s);
	for (;;) {
		size_t in_before = ib.pos, out_before = ob.pos;
		size_t r = ZSTD_decompressStream(d, &ob, &ib);

		if (ZSTD_isError(r)) {
			rc = corrupt(s, ZSTD_getErrorName(r));
			break;
		}
		if (r == 0 && ib.pos == ib.size)
			break; /* the last frame ended with the input */
		if (ob.pos == ob.size) {
			rc = too_big(s);
			break;
		}
		if (ib.pos == in_before && ob.pos == out_before) {
			rc = truncated(s);
			break;
		}
	}
	s->got = ob.pos;
	ZSTD_freeDCtx(d);
	return rc;
}

/* lz4 -l: the le32 magic, then [le32 compressed size][block] to the end. */
static int unlz4(const uint8_t *in, size_t len, struct sink *s)
{
	size_t pos = 4;

	while (pos < len) {
		uint32_t csize;
		size_t room = s->cap - s->got;
		int n;

		if (len - pos < 4)
			return truncated(s);
		csize = gm_le32(in + pos);
		pos += 4;
		if (csize == LZ4_LEGACY_MAGIC)
			continue; /* concatenated frames */
		if (csize > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK))
			return corrupt(s, "a block is larger than lz4 makes");
		if (csize > len - pos)
			return truncated(s);
		if (room == 0)
			return too_big(s);
		n = LZ4_decompress_safe((const char *)in + pos, (char *)s->out + s->got, (int)csize,
					(int)(room < LZ4_LEGACY_BLOCK ? room : LZ4_LEGACY_BLOCK));
		/* liblz4 cannot tell a bad block from one too big for the room left */
		if (n < 0)
			return corrupt(s, room <= LZ4_LEGACY_BLOCK ? "a block is bad or runs past the size trailer"
								   : "bad lz4 block");
		s->got += (size_t)n;
		pos += csize;
	}
	return 0;
}

/* lzop's header and block flags (lzop's own documentation of its format). */
enum {
	F_ADLER32_D = 0x1,
	F_ADLER32_C = 0x2,
	F_H_EXTRA_FIELD = 0x40,
	F_CRC32_D = 0x100,
	F_CRC32_C = 0x200,
	F_H_FILTER = 0x800,
};

static bool take(size_t len, size_t *pos, size_t n)
{
	if (n > len - *pos)
		return false;
	*pos += n;
	return true;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The lzop file header; *pos ends at the first block. */
static int lzop_header(const uint8_t *in, size_t len, size_t *pos, uint32_t *flags, struct sink *s)
{
	static const uint8_t magic[9] = { 0x89, 'L', 'Z', 'O', 0, '\r', '\n', 0x1a, '\n' };
	size_t p = 0;
	unsigned version;

	if (len < 9 || memcmp(in, magic, 9))
		return corrupt(s, "no lzop file magic");
	p = 9;
	if (!take(len, &p, 4))
		return truncated(s);
	version = (unsigned)in[9] << 8 | in[10];
	/* version needed to extract, then method; level from 0.94 on */
	if (!take(len, &p, (version >= 0x0940 ? 2 : 0) + 1 + (version >= 0x0940 ? 1 : 0)))
		return truncated(s);
	if (in[p - (version >= 0x0940 ? 2 : 1)] > 3)
		return corrupt(s, "an lzop method other than LZO1X");
	if (!take(len, &p, 4))
		return truncated(s);
	*flags = be32(in + p - 4);
	/* filter, mode, mtime (its high half from 0.94 on), the name's length */
	if (!take(len, &p, (*flags & F_H_FILTER ? 4 : 0) + 8 + (version >= 0x0940 ? 4 : 0) + 1))
		return truncated(s);
	/* the name, the header checksum */
	if (!take(len, &p, (size_t)in[p - 1] + 4))
		return truncated(s);
	if (*flags & F_H_EXTRA_FIELD) {
		if (!take(len, &p, 4))
			return truncated(s);
		if (!take(len, &p, be32(in + p - 4)) || !take(len, &p, 4))
			return truncated(s);
	}
	*pos = p;
	return 0;
}

static int unlzo(const uint8_t *in, size_t len, struct sink *s)
{
	size_t pos = 0;
	uint32_t flags = 0;
	int r = lzop_header(in, len, &pos, &flags, s);

	if (r)
		return r;
	if (lzo_init() != LZO_E_OK)
		return no_memory(s);
	for (;;) {
		uint32_t dlen, clen, adler = 0, crc = 0;
		lzo_uint n;

		if (!take(len, &pos, 4))
			return truncated(s);
		dlen = be32(in + pos - 4);
		if (dlen == 0)
			return 0; /* the end marker */
		if (!take(len, &pos, 4))
			return truncated(s);
		clen = be32(in + pos - 4);
		if (dlen > LZOP_MAX_BLOCK || clen == 0 || clen > dlen)
			return corrupt(s, "a block has impossible sizes");
		if (flags & F_ADLER32_D) {
			if (!take(len, &pos, 4))
				return truncated(s);
			adler = be32(in + pos - 4);
		}
		if (flags & F_CRC32_D) {
			if (!take(len, &pos, 4))
				return truncated(s);
			crc = be32(in + pos - 4);
		}
		if (clen < dlen && !take(len, &pos, (flags & F_ADLER32_C ? 4 : 0) + (flags & F_CRC32_C ? 4 : 0)))
			return truncated(s);
		if (!take(len, &pos, clen))
			return truncated(s);
		if (dlen > s->cap - s->got)
			return too_big(s);
		uint8_t *dst = s->out + s->got;
		if (clen == dlen) {
			memcpy(dst, in + pos - clen, clen); /* stored: did not compress */
		} else {
			n = dlen;
			if (lzo1x_decompress_safe(in + pos - clen, clen, dst, &n, NULL) != LZO_E_OK || n != dlen)
				return corrupt(s, "bad lzo block");
		}
		if ((flags & F_ADLER32_D) && lzo_adler32(1, dst, dlen) != adler)
			return corrupt(s, "a block's adler32 does not match");
		if ((flags & F_CRC32_D) && lzo_crc32(0, dst, dlen) != crc)
			return corrupt(s, "a block's crc32 does not match");
		s->got += dlen;
	}
}

static const struct {
	enum gm_payload_format fmt;
	const char *name;
	uint8_t magic[6];
	size_t n;
} formats[] = {
	{ GM_PAYLOAD_GZIP, "gzip", { 0x1f, 0x8b }, 2 },
	{ GM_PAYLOAD_BZIP2, "bzip2", { 'B', 'Z', 'h' }, 3 },
	{ GM_PAYLOAD_LZMA, "lzma", { 0x5d, 0, 0 }, 3 },
	{ GM_PAYLOAD_XZ, "xz", { 0xfd, '7', 'z', 'X', 'Z', 0 }, 6 },
	{ GM_PAYLOAD_LZO, "lzo", { 0x89, 'L', 'Z', 'O' }, 4 },
	{ GM_PAYLOAD_LZ4, "lz4", { 0x02, 0x21, 0x4c, 0x18 }, 4 },
	{ GM_PAYLOAD_ZSTD, "zstd", { 0x28, 0xb5, 0x2f, 0xfd }, 4 },
};

enum gm_payload_format gm_payload_detect(const void *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (len >= formats[i].n && !memcmp(buf, formats[i].magic, formats[i].n))
			return formats[i].fmt;
	return GM_PAYLOAD_UNKNOWN;
}

const char *gm_payload_name(enum gm_payload_format fmt)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (formats[i].fmt == fmt)
			return formats[i].name;
	return "unknown";
}

int gm_decompress(const void *in, size_t len, size_t max, void **out, size_t *out_len,
		  struct gm_error *err)
{
	enum gm_payload_format fmt = gm_payload_detect(in, len);
	struct sink s = { .fmt = gm_payload_name(fmt), .err = err };
	const uint8_t *b = in;
	uint32_t want;
	int r;

	*out = NULL;
	*out_len = 0;
	if (fmt == GM_PAYLOAD_UNKNOWN)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "the kernel's payload is in no format gmvm knows (gzip, bzip2, lzma, xz, lzo, lz4, zstd)");
	if (len < 8)
		return truncated(&s);
	if (len > UINT_MAX)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EFBIG, "the kernel's %s payload is %zu bytes, more than "
			       "gmvm decompresses; give a smaller kernel", s.fmt, len);
	want = gm_le32(b + len - 4);
	if (want == 0)
		return corrupt(&s, "its size trailer says 0 bytes");
	if (want > max || want > GM_DECOMPRESS_MAX)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EFBIG,
			       "the kernel's %s payload says it decompresses to %" PRIu32 " bytes, more than the "
			       "%zu MiB gmvm accepts; give a smaller kernel", s.fmt, want,
			       (size_t)((max < GM_DECOMPRESS_MAX ? max : GM_DECOMPRESS_MAX) / MIB));
	s.cap = (size_t)want + 1;
	s.out = out_alloc(want);
	if (!s.out)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the %" PRIu32 "-byte "
			       "decompressed kernel; free host memory", want);
	/* gzip's trailer is its own ISIZE; after the others it is extra bytes */
	switch (fmt) {
	case GM_PAYLOAD_GZIP: r = gunzip(b, len, &s); break;
	case GM_PAYLOAD_BZIP2: r = bunzip2(b, len - 4, &s); break;
	case GM_PAYLOAD_LZMA: r = unxz(b, len - 4, &s, true); break;
	case GM_PAYLOAD_XZ: r = unxz(b, len - 4, &s, false); break;
	case GM_PAYLOAD_LZO: r = unlzo(b, len - 4, &s); break;
	case GM_PAYLOAD_LZ4: r = unlz4(b, len - 4, &s); break;
	default: r = unzstd(b, len - 4, &s); break;
	}
	if (!r && s.got > want)
		r = too_big(&s);
	if (!r && s.got < want)
		r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			    "the kernel's %s payload decompresses to %zu bytes but its size trailer says %" PRIu32
			    "; " FIX, s.fmt, s.got, want);
	if (r) {
		gm_decompress_free(s.out, want);
		return r;
	}
	*out = s.out;
	*out_len = want;
	return 0;
}
