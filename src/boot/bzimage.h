/*
 * boot/bzimage: Linux kernels for the x86 boot protocol
 * (Documentation/arch/x86/boot.rst).  A bzImage's setup header is parsed as
 * untrusted input; its payload, when gmvm knows the format, is decompressed
 * on the host to the vmlinux ELF, which the ELF loader then places at its
 * physical addresses (no in-guest decompressor).  A payload in an unknown
 * format falls back to the bzImage's own 64-bit entry, its decompressor
 * running in the guest.  An initrd is placed high in low RAM above the
 * kernel and read straight into guest memory.
 *
 * Functions return 0 or a negative errno and fill err with one line
 * without the file's name (the caller prefixes it).
 */
#ifndef GM_BOOT_BZIMAGE_H
#define GM_BOOT_BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "boot/decompress.h"
#include "boot/elf.h"
#include "gmvm/error.h"
#include "gmvm/memory.h"

/* The setup header's place in the image and in boot_params (boot.rst). */
#define GM_SETUP_HDR_OFFSET 0x1f1
#define GM_SETUP_HDR_MAX    (0x290 - GM_SETUP_HDR_OFFSET) /* to boot_params' _pad7 */

/* Initrds: the largest gmvm reads, and the highest address for images
 * that do not say (boot.rst's default for protocols before 2.03), which
 * also serves ELF kernels: a 32-bit ramdisk_image reaches it. */
#define GM_INITRD_MAX_FILE      (UINT64_C(1) << 30)
#define GM_INITRD_ADDR_MAX_DFLT UINT64_C(0x37ffffff)

struct gm_bzimage {
	uint16_t version;          /* boot protocol: 2.12 or later (XLF_KERNEL_64) */
	unsigned setup_sects;      /* 512-byte setup sectors (0 read as 4) */
	uint8_t loadflags;
	uint16_t xloadflags;
	uint32_t kernel_alignment;
	bool relocatable;
	uint64_t pref_address;
	uint32_t init_size;        /* at least the protected-mode code's size */
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	size_t pm_offset, pm_len;  /* the protected-mode code in the file */
	size_t payload_offset, payload_len; /* absolute in the file; 0 len: none */
	enum gm_payload_format format;
	size_t hdr_len;            /* setup header bytes from 0x1f1 the kernel defines */
	uint8_t hdr[GM_SETUP_HDR_MAX]; /* them, for boot_params */
};

/* buf[0, len) has the setup header's "HdrS" magic: a bzImage, not an ELF. */
bool gm_bzimage_is(const void *buf, size_t len);

/* Parse and check the setup header of the bzImage buf[0, len).  Pure. */
int gm_bzimage_parse(const void *buf, size_t len, struct gm_bzimage *bz, struct gm_error *err);

/*
 * The vmlinux ELF of a parsed bzImage in *elf (freed by the caller with
 * gm_decompress_free(*elf, *elf_len)), decompressed to at most max bytes; *elf is NULL (and 0 returned)
 * when the payload's format is unknown: use gm_bzimage_fallback.
 */
int gm_bzimage_unpack(const void *buf, size_t len, const struct gm_bzimage *bz, size_t max,
		      void **elf, size_t *elf_len, struct gm_error *err);

/*
 * The bzImage as the ELF loader takes it when its payload is left to the
 * guest: the protected-mode code as one segment at the load address (the
 * preferred address, aligned) spanning init_size, entered at +0x200.
 */
void gm_bzimage_fallback(const struct gm_bzimage *bz, struct gm_elf_image *img);

/*
 * Where an initrd of size bytes goes: page-aligned, as high as possible
 * below min(addr_max + 1, 2 GiB, end of low RAM) and at or above kernel_end.
 * Pure; refuses (with the RAM a guest would need) when it does not fit.
 */
int gm_initrd_place(uint64_t ram_size, uint64_t kernel_end, uint64_t addr_max, uint64_t size,
		    uint64_t *addr, struct gm_error *err);

/* Open an initrd (a regular file of 1 byte to GM_INITRD_MAX_FILE): *fd, *size. */
int gm_initrd_open(const char *path, int *fd, uint64_t *size, struct gm_error *err);

/* Read the initrd open on fd, size bytes, into guest RAM at gpa. */
int gm_initrd_load(int fd, uint64_t size, struct gm_memory *mem, uint64_t gpa, struct gm_error *err);

#endif
