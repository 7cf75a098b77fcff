/*
 * boot/bzimage.c: a bzImage's setup header read as untrusted input (every
 * offset and size checked against the file, in 64-bit arithmetic so no sum
 * can wrap), its payload decompressed or, in a format gmvm does not know,
 * its protected-mode code described as one segment for the ELF loader.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "boot/bzimage.h"
#include "util/le.h"

#define MIB (UINT64_C(1) << 20)
#define CORRUPT "re-copy the kernel image or rebuild it"

/* Setup header fields, as offsets in the image (boot.rst). */
enum {
	HDR_SETUP_SECTS = 0x1f1,
	HDR_SYSSIZE = 0x1f4,
	HDR_BOOT_FLAG = 0x1fe,
	HDR_JUMP_END = 0x201,   /* the header ends at 0x202 + this byte */
	HDR_MAGIC = 0x202,
	HDR_VERSION = 0x206,
	HDR_LOADFLAGS = 0x211,
	HDR_INITRD_ADDR_MAX = 0x22c,
	HDR_KERNEL_ALIGNMENT = 0x230,
	HDR_RELOCATABLE = 0x234,
	HDR_XLOADFLAGS = 0x236,
	HDR_CMDLINE_SIZE = 0x238,
	HDR_PAYLOAD_OFFSET = 0x248,
	HDR_PAYLOAD_LENGTH = 0x24c,
	HDR_PREF_ADDRESS = 0x258,
	HDR_INIT_SIZE = 0x260,
	HDR_END_212 = 0x264,    /* the fields protocol 2.12 has end here */
	LOADED_HIGH = 0x01,
	XLF_KERNEL_64 = 0x01,
	ENTRY_64 = 0x200,       /* startup_64 in the protected-mode code */
};

#define HDRS_MAGIC 0x53726448u /* "HdrS" */

static int bad(struct gm_error *err, const char *msg)
{
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s", msg);
}

bool gm_bzimage_is(const void *buf, size_t len)
{
	const uint8_t *b = buf;

	return len >= HDR_MAGIC + 4 && gm_le32(b + HDR_MAGIC) == HDRS_MAGIC;
}

/* The protected-mode code and the payload inside it, checked against len. */
static int find_code(const uint8_t *b, size_t len, struct gm_bzimage *bz, struct gm_error *err)
{
	uint64_t syssize = (uint64_t)gm_le32(b + HDR_SYSSIZE) * 16;
	uint64_t off = gm_le32(b + HDR_PAYLOAD_OFFSET), plen = gm_le32(b + HDR_PAYLOAD_LENGTH);

	bz->pm_offset = (size_t)(bz->setup_sects + 1) * 512;
	if (bz->pm_offset >= len)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "bzImage is truncated: its %u setup sectors end at byte %zu of a %zu-byte file; "
			       CORRUPT, bz->setup_sects, bz->pm_offset, len);
	bz->pm_len = len - bz->pm_offset;
	if (syssize > bz->pm_len)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "bzImage is truncated: its kernel code is %" PRIu64 " bytes but the file has %zu "
			       "after the setup sectors; " CORRUPT, syssize, bz->pm_len);
	if (syssize)
		bz->pm_len = (size_t)syssize;
	if (plen == 0)
		return 0;
	if (off > bz->pm_len || plen > bz->pm_len - off)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "bzImage payload [0x%" PRIx64 ", 0x%" PRIx64 ") lies outside its %zu-byte kernel code; "
			       CORRUPT, off, off + plen, bz->pm_len);
	bz->payload_offset = bz->pm_offset + (size_t)off;
	bz->payload_len = (size_t)plen;
	bz->format = gm_payload_detect(b + bz->payload_offset, bz->payload_len);
	return 0;
}

int gm_bzimage_parse(const void *buf, size_t len, struct gm_bzimage *bz, struct gm_error *err)
{
	const uint8_t *b = buf;
	size_t hdr_end;

	memset(bz, 0, sizeof(*bz));
	if (!buf || !gm_bzimage_is(buf, len))
		return bad(err, "not a bzImage (no \"HdrS\" setup header at 0x202); give a Linux bzImage or an ELF");
	if (len < HDR_END_212)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "bzImage is truncated: %zu bytes, shorter than its setup header; " CORRUPT, len);
	if (gm_le16(b + HDR_BOOT_FLAG) != 0xaa55)
		return bad(err, "bzImage has no 0xaa55 boot flag at 0x1fe; " CORRUPT);
	bz->version = gm_le16(b + HDR_VERSION);
	if (bz->version < 0x0206)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "bzImage boot protocol %u.%02u is older than 2.06; use a kernel from 2.6.20 on",
			       bz->version >> 8, bz->version & 0xff);
	hdr_end = 0x202 + (size_t)b[HDR_JUMP_END];
	if (bz->version >= 0x020c && hdr_end < HDR_END_212)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "bzImage setup header ends at 0x%zx, before the fields of its boot protocol %u.%02u; "
			       CORRUPT, hdr_end, bz->version >> 8, bz->version & 0xff);
	bz->setup_sects = b[HDR_SETUP_SECTS] ? b[HDR_SETUP_SECTS] : 4;
	bz->loadflags = b[HDR_LOADFLAGS];
	bz->initrd_addr_max = gm_le32(b + HDR_INITRD_ADDR_MAX);
	bz->kernel_alignment = gm_le32(b + HDR_KERNEL_ALIGNMENT);
	bz->relocatable = b[HDR_RELOCATABLE] != 0;
	bz->cmdline_size = gm_le32(b + HDR_CMDLINE_SIZE);
	if (bz->version >= 0x020c) /* before 2.12 the field is not there */
		bz->xloadflags = gm_le16(b + HDR_XLOADFLAGS);
	if (!(bz->loadflags & LOADED_HIGH))
		return bad(err, "bzImage is a zImage (loadflags without LOADED_HIGH): its kernel loads "
			   "below 1 MiB; use a bzImage");
	if (!(bz->xloadflags & XLF_KERNEL_64))
		return bad(err, "bzImage has no 64-bit entry (xloadflags XLF_KERNEL_64, boot protocol 2.12); "
			   "use an x86-64 kernel from Linux 3.8 on");
	/* 2.12 or later from here: payload, pref_address and init_size exist */
	int r = find_code(b, len, bz, err);
	if (r)
		return r;
	bz->pref_address = gm_le64(b + HDR_PREF_ADDRESS);
	bz->init_size = gm_le32(b + HDR_INIT_SIZE);
	if (bz->init_size < bz->pm_len)
		bz->init_size = (uint32_t)(bz->pm_len < UINT32_MAX ? bz->pm_len : UINT32_MAX);
	hdr_end = hdr_end < GM_SETUP_HDR_OFFSET + GM_SETUP_HDR_MAX ? hdr_end : GM_SETUP_HDR_OFFSET + GM_SETUP_HDR_MAX;
	hdr_end = hdr_end < len ? hdr_end : len;
	bz->hdr_len = hdr_end - GM_SETUP_HDR_OFFSET;
	memcpy(bz->hdr, b + GM_SETUP_HDR_OFFSET, bz->hdr_len);
	return 0;
}

int gm_bzimage_unpack(const void *buf, size_t len, const struct gm_bzimage *bz, size_t max,
		      void **elf, size_t *elf_len, struct gm_error *err)
{
	*elf = NULL;
	*elf_len = 0;
	if (bz->format == GM_PAYLOAD_UNKNOWN)
		return 0;
	if (bz->payload_offset > len || bz->payload_len > len - bz->payload_offset)
		return bad(err, "bzImage payload does not match the image given; parse the image that is unpacked");
	return gm_decompress((const uint8_t *)buf + bz->payload_offset, bz->payload_len, max, elf, elf_len, err);
}

void gm_bzimage_fallback(const struct gm_bzimage *bz, struct gm_elf_image *img)
{
	/* below 1 MiB or above the 32-bit space it is no address gmvm can honour:
	 * 16 MiB then, Linux's default (CONFIG_PHYSICAL_START) */
	bool usable = bz->pref_address >= GM_BOOT_IMAGE_MIN && bz->pref_address < (UINT64_C(1) << 32);
	uint64_t addr = usable ? bz->pref_address : 16 * MIB;
	uint64_t align = bz->kernel_alignment;

	/* a relocatable kernel runs from any multiple of its alignment */
	if (bz->relocatable && align && !(align & (align - 1)) && addr % align)
		addr += align - addr % align;
	memset(img, 0, sizeof(*img));
	img->is64 = true;
	img->machine = 62;
	img->entry = addr + ENTRY_64;
	img->nseg = 1;
	img->seg[0] = (struct gm_elf_segment){ .paddr = addr, .offset = bz->pm_offset, .filesz = bz->pm_len,
					       .memsz = bz->init_size };
	img->lowest = addr;
	img->highest = addr + bz->init_size;
}
