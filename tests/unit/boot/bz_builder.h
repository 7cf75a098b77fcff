/*
 * tests/unit/boot/bz_builder: bzImages made in memory for the tests: a
 * payload compressed by each format's own library (with the size trailer
 * the kernel's build appends), wrapped in a setup header a test can then
 * corrupt field by field.  Layout: one setup sector after the boot sector,
 * then the protected-mode code: BZB_STUB bytes of 0x90 (the "decompressor")
 * followed by the payload.
 */
#ifndef BZB_BUILDER_H
#define BZB_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "boot/decompress.h"

#define BZB_SETUP_SECTS 1
#define BZB_PM_OFFSET   ((BZB_SETUP_SECTS + 1) * 512)
#define BZB_STUB        0x400

struct bzb_opts {
	uint16_t version;        /* 0: 0x020f */
	uint32_t init_size;      /* 0: the protected-mode code's size rounded up to 4 KiB */
	uint64_t pref_address;   /* 0: 16 MiB */
	uint32_t initrd_addr_max;/* 0: 0x7fffffff */
	uint16_t xloadflags;     /* 0: XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G */
};

/* data compressed in fmt plus the le32 size trailer (malloc'd). */
uint8_t *bzb_compress(enum gm_payload_format fmt, const void *data, size_t len, size_t *out_len);

/* A bzImage (malloc'd) holding payload; o may be NULL for the defaults. */
uint8_t *bzb_build(const struct bzb_opts *o, const void *payload, size_t plen, size_t *len);

#endif
