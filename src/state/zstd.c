/*
 * state/zstd.c: zstd as the stream uses it.  A reader never lets a frame
 * decide how much memory it gets: the frame must state its decompressed
 * size up front, that size is checked against a limit before anything is
 * allocated, and the frame must then produce exactly that many bytes.
 */
#include "state/state_internal.h"
#include "util/le.h"

/* Fast: snapshots and migration are bound by time more than by size. */
#define GM_ZSTD_LEVEL 1

const char *gm_zstd_frame_size(const void *src, size_t len, uint64_t limit, uint64_t *size)
{
	unsigned long long n;
	size_t r;

	/* Only the stable API: a skippable frame has another magic. */
	if (len < 4 || gm_le32(src) != ZSTD_MAGICNUMBER)
		return "not a zstd frame (bad magic)";
	n = ZSTD_getFrameContentSize(src, len);
	if (n == ZSTD_CONTENTSIZE_ERROR)
		return "not a zstd frame (bad or short frame header)";
	if (n == ZSTD_CONTENTSIZE_UNKNOWN)
		return "a zstd frame that does not state its decompressed size";
	if (n > limit)
		return "a zstd frame whose decompressed size is over the limit";
	if (ZSTD_getDictID_fromFrame(src, len) != 0)
		return "a zstd frame that needs a dictionary";
	/* Exactly one frame: concatenated frames would decompress past the
	 * size the first one states. */
	r = ZSTD_findFrameCompressedSize(src, len);
	if (ZSTD_isError(r) || r != len)
		return "not exactly one zstd frame (truncated, or bytes after it)";
	*size = n;
	return NULL;
}

const char *gm_zstd_decompress(ZSTD_DCtx *dctx, const void *src, size_t len, void *dst,
			       size_t size)
{
	size_t r = ZSTD_decompressDCtx(dctx, dst, size, src, len);

	if (ZSTD_isError(r))
		return ZSTD_getErrorName(r);
	if (r != size)
		return "the zstd frame decompresses to fewer bytes than it states";
	return NULL;
}

size_t gm_zstd_compress(ZSTD_CCtx *cctx, struct gm_buf *out, const void *src, size_t len)
{
	size_t bound = ZSTD_compressBound(len), r;

	if (ZSTD_isError(bound) || !gm_buf_reserve(out, bound))
		return 0;
	r = ZSTD_compressCCtx(cctx, out->data + out->len, bound, src, len, GM_ZSTD_LEVEL);
	if (ZSTD_isError(r) || r >= len)
		return 0;
	out->len += r;
	return r;
}
