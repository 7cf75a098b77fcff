/*
 * boot/decompress: a Linux bzImage's payload (the compressed vmlinux)
 * decompressed on the host, so the guest skips its own decompressor.  The
 * format is told by its magic; the kernel's build appends the decompressed
 * size as a le32 after every format (gzip's own ISIZE for gzip), which caps
 * the output and is checked against it.  The payload is untrusted: a size
 * above the caller's cap, a stream that ends early, runs on, or is corrupt
 * is refused with one line.
 */
#ifndef GM_BOOT_DECOMPRESS_H
#define GM_BOOT_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "gmvm/error.h"

enum gm_payload_format {
	GM_PAYLOAD_UNKNOWN,
	GM_PAYLOAD_GZIP,
	GM_PAYLOAD_BZIP2,
	GM_PAYLOAD_LZMA,
	GM_PAYLOAD_XZ,
	GM_PAYLOAD_LZO,
	GM_PAYLOAD_LZ4,
	GM_PAYLOAD_ZSTD,
};

/* The most gmvm decompresses a kernel to (a vmlinux is 30-100 MiB). */
#define GM_DECOMPRESS_MAX (UINT64_C(1) << 30)

/* The format buf[0, len) starts with, by magic; UNKNOWN if none matches. */
enum gm_payload_format gm_payload_detect(const void *buf, size_t len);

/* "gzip", "bzip2", "lzma", "xz", "lzo", "lz4", "zstd" or "unknown". */
const char *gm_payload_name(enum gm_payload_format fmt);

/*
 * Decompress the payload in[0, len) (a known format, with its size trailer)
 * into *out of exactly the trailer's size, at most max bytes; NULL on
 * failure.  The caller frees *out with gm_decompress_free(*out, *out_len).
 */
int gm_decompress(const void *in, size_t len, size_t max, void **out, size_t *out_len,
		  struct gm_error *err);

/* Free what gm_decompress returned (huge-page memory, not malloc's). */
void gm_decompress_free(void *out, size_t out_len);

#endif
