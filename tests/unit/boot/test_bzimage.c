/*
 * tests/unit/boot/test_bzimage.c: the bzImage setup header (valid and every
 * refusal), each payload format decompressed and each kind of bad payload
 * refused, the fallback for an unknown format, and the real Debian kernel
 * when the Linux test has fetched it.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boot/bzimage.h"
#include "boot_test.h"
#include "bz_builder.h"
#include "elf_builder.h"
#include "util/le.h"

#define MIB (UINT64_C(1) << 20)

static const enum gm_payload_format all_formats[] = {
	GM_PAYLOAD_GZIP, GM_PAYLOAD_BZIP2, GM_PAYLOAD_LZMA, GM_PAYLOAD_XZ,
	GM_PAYLOAD_LZO, GM_PAYLOAD_LZ4, GM_PAYLOAD_ZSTD,
};

static struct gm_error err;
static struct gm_bzimage bz;

/* A 64-bit ELF at 16 MiB with `size` bytes of pattern, as a vmlinux stands in. */
static void make_elf(struct eb *e, uint64_t size)
{
	eb_init(e, true, 16 * MIB + 0x40);
	eb_load(e, 16 * MIB, size, size + 0x10000);
	eb_build(e);
}

/* A bzImage whose payload is e's bytes in fmt. */
static uint8_t *wrap(const struct bzb_opts *o, enum gm_payload_format fmt, const struct eb *e, size_t *len)
{
	size_t plen;
	uint8_t *p = bzb_compress(fmt, e->buf, e->len, &plen);
	uint8_t *img = bzb_build(o, p, plen, len);

	free(p);
	return img;
}

Test(bzimage, parses_a_valid_header)
{
	struct eb e;
	struct bzb_opts o = { .init_size = 64 * MIB, .pref_address = 32 * MIB, .initrd_addr_max = 0x37ffffff };
	size_t len;
	uint8_t *img;

	make_elf(&e, 0x3000);
	img = wrap(&o, GM_PAYLOAD_GZIP, &e, &len);
	cr_assert(gm_bzimage_is(img, len));
	cr_assert_eq(gm_bzimage_parse(img, len, &bz, &err), 0, "%s", err.msg);
	cr_assert_eq(bz.version, 0x020f);
	cr_assert_eq(bz.setup_sects, 1);
	cr_assert_eq(bz.pm_offset, 1024);
	cr_assert_eq(bz.payload_offset, 1024 + BZB_STUB);
	cr_assert_eq(bz.format, GM_PAYLOAD_GZIP);
	cr_assert_eq(bz.init_size, 64 * MIB);
	cr_assert_eq(bz.pref_address, 32 * MIB);
	cr_assert_eq(bz.initrd_addr_max, 0x37ffffff);
	cr_assert_eq(bz.xloadflags & 1, 1);
	cr_assert_eq(bz.hdr_len, 0x26c - 0x1f1, "the header ends at 0x202 + the jump's byte");
	cr_assert_eq(memcmp(bz.hdr, img + 0x1f1, bz.hdr_len), 0);
	free(img);
	eb_free(&e);
}

Test(bzimage, setup_sects_zero_means_four)
{
	uint8_t payload[64] = { 0 };
	size_t len;
	uint8_t *img = bzb_build(NULL, payload, sizeof(payload), &len);
	uint8_t *big = calloc(1, len + 3 * 512);

	/* move the code from sector 2 to sector 5, as a 0 there asks */
	memcpy(big, img, 1024);
	memcpy(big + 5 * 512, img + 1024, len - 1024);
	big[0x1f1] = 0;
	cr_assert_eq(gm_bzimage_parse(big, len + 3 * 512, &bz, &err), 0, "%s", err.msg);
	cr_assert_eq(bz.pm_offset, 5 * 512);
	free(big);
	free(img);
}

/* A valid image with one byte or field changed, then parsed: refused with needle. */
static void refuse_with(size_t at, unsigned width, uint64_t v, int errnum, const char *needle)
{
	uint8_t payload[64] = { 0x1f, 0x8b };
	size_t len;
	uint8_t *img = bzb_build(NULL, payload, sizeof(payload), &len);

	if (width == 1)
		img[at] = (uint8_t)v;
	else if (width == 2)
		gm_put_le16(img + at, (uint16_t)v);
	else
		gm_put_le32(img + at, (uint32_t)v);
	gm_error_clear(&err);
	expect_refused(gm_bzimage_parse(img, len, &bz, &err), errnum, &err, needle);
	free(img);
}

Test(bzimage, refuses_bad_headers)
{
	refuse_with(0x1fe, 2, 0x1234, EINVAL, "no 0xaa55 boot flag");
	refuse_with(0x206, 2, 0x0205, EINVAL,
		    "bzImage boot protocol 2.05 is older than 2.06; use a kernel from 2.6.20 on");
	refuse_with(0x236, 2, 0x2, EINVAL, "no 64-bit entry (xloadflags XLF_KERNEL_64");
	refuse_with(0x206, 2, 0x020b, EINVAL, "no 64-bit entry"); /* 2.11 has no xloadflags */
	refuse_with(0x211, 1, 0, EINVAL, "zImage");
	refuse_with(0x201, 1, 0x20, EINVAL, "setup header ends at 0x222, before the fields");
	refuse_with(0x1f1, 1, 200, EINVAL, "its 200 setup sectors end at byte 102912");
	refuse_with(0x1f4, 4, 0x10000000, EINVAL, "its kernel code is 4294967296 bytes");
	refuse_with(0x24c, 4, 0xffffffff, EINVAL, "payload [0x400, 0x1000003ff) lies outside");
	refuse_with(0x248, 4, 0xfffffff0, EINVAL, "lies outside its");
}

Test(bzimage, refuses_what_is_not_a_bzimage)
{
	uint8_t small[0x300] = { 0 };

	cr_assert_not(gm_bzimage_is("\x7f" "ELF", 4));
	expect_refused(gm_bzimage_parse(small, sizeof(small), &bz, &err), EINVAL, &err, "not a bzImage");
	gm_put_le32(small + 0x202, 0x53726448);
	gm_error_clear(&err);
	expect_refused(gm_bzimage_parse(small, 0x210, &bz, &err), EINVAL, &err,
		       "bzImage is truncated: 528 bytes");
	gm_error_clear(&err);
	expect_refused(gm_bzimage_parse(NULL, 0, &bz, &err), EINVAL, &err, "not a bzImage");
}

/* Every format the kernel builds with comes back byte for byte, and is an ELF. */
Test(bzimage, decompresses_every_format, .timeout = 60)
{
	struct eb e;

	make_elf(&e, 700 * 1024); /* lzop's 256 KiB blocks: several */
	for (size_t i = 0; i < sizeof(all_formats) / sizeof(all_formats[0]); i++) {
		struct gm_elf_image elf;
		void *out;
		size_t len, olen;
		uint8_t *img = wrap(NULL, all_formats[i], &e, &len);

		cr_assert_eq(gm_bzimage_parse(img, len, &bz, &err), 0, "%s", err.msg);
		cr_assert_eq(bz.format, all_formats[i], "%s detected as %s", gm_payload_name(all_formats[i]),
			     gm_payload_name(bz.format));
		cr_assert_eq(gm_bzimage_unpack(img, len, &bz, GM_DECOMPRESS_MAX, &out, &olen, &err), 0, "%s: %s",
			     gm_payload_name(all_formats[i]), err.msg);
		cr_assert_eq(olen, e.len, "%s", gm_payload_name(all_formats[i]));
		cr_assert_eq(memcmp(out, e.buf, e.len), 0, "%s", gm_payload_name(all_formats[i]));
		cr_assert_eq(gm_elf_parse(out, olen, &elf, &err), 0, "%s", err.msg);
		cr_assert_eq(elf.entry, 16 * MIB + 0x40);
		gm_decompress_free(out, olen);
		free(img);
	}
	eb_free(&e);
}

/* lz4's legacy frame in more than one 8 MiB block. */
Test(bzimage, lz4_spans_blocks, .timeout = 60)
{
	size_t n = 9 * MIB, plen, olen;
	uint8_t *data = malloc(n), *p;
	void *out;

	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 7 + (i >> 13));
	p = bzb_compress(GM_PAYLOAD_LZ4, data, n, &plen);
	cr_assert_eq(gm_decompress(p, plen, GM_DECOMPRESS_MAX, &out, &olen, &err), 0, "%s", err.msg);
	cr_assert_eq(olen, n);
	cr_assert_eq(memcmp(out, data, n), 0);
	gm_decompress_free(out, olen);
	free(p);
	free(data);
}

static uint8_t *payload_of(enum gm_payload_format fmt, size_t *plen)
{
	static uint8_t data[200000];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)((i * 2654435761u) >> 24 & 0x3f);
	return bzb_compress(fmt, data, sizeof(data), plen);
}

Test(bzimage, refuses_bad_payloads, .timeout = 60)
{
	for (size_t i = 0; i < sizeof(all_formats) / sizeof(all_formats[0]); i++) {
		enum gm_payload_format f = all_formats[i];
		const char *name = gm_payload_name(f);
		size_t plen;
		uint8_t *p = payload_of(f, &plen), *q = malloc(plen);
		void *out;
		size_t olen;
		uint32_t size = gm_le32(p + plen - 4);
		char want[128];

		/* a bomb: the trailer claims more than the cap, nothing is allocated */
		memcpy(q, p, plen);
		expect_refused(gm_decompress(q, plen, 100000, &out, &olen, &err), EFBIG, &err,
			       "decompresses to 200000 bytes, more than the 0 MiB gmvm accepts");
		cr_assert_null(out);
		/* the stream runs past its trailer */
		gm_put_le32(q + plen - 4, size - 1000);
		snprintf(want, sizeof(want), "%s payload", name);
		cr_assert_lt(gm_decompress(q, plen, GM_DECOMPRESS_MAX, &out, &olen, &err), 0, "%s", name);
		cr_assert(strstr(err.msg, want) && err.status == GM_STATUS_BAD_INPUT, "%s: %s", name, err.msg);
		cr_assert_null(out);
		/* the stream stops short of its trailer (gzip: its ISIZE then disagrees) */
		memset(&err, 0, sizeof(err));
		gm_put_le32(q + plen - 4, size + 1000);
		cr_assert_lt(gm_decompress(q, plen, GM_DECOMPRESS_MAX, &out, &olen, &err), 0, "%s", name);
		cr_assert(strstr(err.msg, want), "%s: %s", name, err.msg);
		/* cut in the middle, trailer kept */
		memset(&err, 0, sizeof(err));
		memcpy(q + plen / 2, p + plen - 4, 4);
		cr_assert_lt(gm_decompress(q, plen / 2 + 4, GM_DECOMPRESS_MAX, &out, &olen, &err), 0, "%s", name);
		cr_assert(strstr(err.msg, want), "%s: %s", name, err.msg);
		cr_assert_null(strchr(err.msg, '\n'));
		/* garbage in the middle */
		memset(&err, 0, sizeof(err));
		memcpy(q, p, plen);
		for (size_t k = plen / 3; k < plen / 3 + 64; k++)
			q[k] ^= 0x5a;
		cr_assert_lt(gm_decompress(q, plen, GM_DECOMPRESS_MAX, &out, &olen, &err), 0, "%s", name);
		cr_assert(strstr(err.msg, want), "%s: %s", name, err.msg);
		memset(&err, 0, sizeof(err));
		free(q);
		free(p);
	}
}

Test(bzimage, exact_trailer_and_cap_are_accepted)
{
	size_t plen, olen;
	uint8_t *p = payload_of(GM_PAYLOAD_ZSTD, &plen);
	void *out;

	cr_assert_eq(gm_decompress(p, plen, 200000, &out, &olen, &err), 0, "%s", err.msg);
	cr_assert_eq(olen, 200000);
	gm_decompress_free(out, olen);
	free(p);
}

Test(bzimage, unknown_format_falls_back_to_the_64bit_entry)
{
	uint8_t payload[256] = { 'n', 'o', 'p', 'e' };
	struct bzb_opts o = { .init_size = 32 * MIB, .pref_address = 0x1100000 };
	struct gm_elf_image img;
	void *out = (void *)1;
	size_t len, olen;
	uint8_t *b = bzb_build(&o, payload, sizeof(payload), &len);

	cr_assert_eq(gm_bzimage_parse(b, len, &bz, &err), 0, "%s", err.msg);
	cr_assert_eq(bz.format, GM_PAYLOAD_UNKNOWN);
	cr_assert_eq(gm_bzimage_unpack(b, len, &bz, GM_DECOMPRESS_MAX, &out, &olen, &err), 0, "%s", err.msg);
	cr_assert_null(out, "an unknown format is left to the guest's decompressor");
	gm_bzimage_fallback(&bz, &img);
	/* 17 MiB aligned up to the kernel's 2 MiB alignment */
	cr_assert_eq(img.seg[0].paddr, 18 * MIB);
	cr_assert_eq(img.entry, 18 * MIB + 0x200, "startup_64 is 0x200 into the protected-mode code");
	cr_assert_eq(img.seg[0].offset, 1024);
	cr_assert_eq(img.seg[0].filesz, bz.pm_len);
	cr_assert_eq(img.seg[0].memsz, 32 * MIB);
	cr_assert_eq(img.highest, 50 * MIB);
	cr_assert_eq(gm_elf_check_placement(&img, 128 * MIB, &err), 0, "%s", err.msg);
	free(b);
}

Test(bzimage, a_corrupt_known_format_is_refused_not_left_to_the_guest)
{
	uint8_t payload[64] = { 0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4, 5 };
	void *out;
	size_t len, olen;
	uint8_t *b;

	gm_put_le32(payload + 60, 4096);
	b = bzb_build(NULL, payload, sizeof(payload), &len);
	cr_assert_eq(gm_bzimage_parse(b, len, &bz, &err), 0, "%s", err.msg);
	expect_refused(gm_bzimage_unpack(b, len, &bz, GM_DECOMPRESS_MAX, &out, &olen, &err), EINVAL, &err,
		       "the kernel's zstd payload is corrupt");
	free(b);
}

/* The Debian kernel the Linux test fetched (or GMVM_LINUX_KERNEL): parsed and decompressed. */
static bool find_kernel(char *path, size_t n)
{
	const char *env = getenv("GMVM_LINUX_KERNEL"), *src = getenv("GMVM_SRC");
	char dir[4096];
	struct dirent *d;
	DIR *dh;

	if (env && *env) {
		snprintf(path, n, "%s", env);
		return true;
	}
	snprintf(dir, sizeof(dir), "%s/build/linux-cache/kernel/root/boot", src ? src : ".");
	dh = opendir(dir);
	if (!dh)
		return false;
	while ((d = readdir(dh)))
		if (!strncmp(d->d_name, "vmlinuz-", 8) && (size_t)snprintf(path, n, "%.4000s/%.100s", dir, d->d_name) < n) {
			closedir(dh);
			return true;
		}
	closedir(dh);
	return false;
}

Test(bzimage, real_kernel_decompresses_to_its_vmlinux, .timeout = 60)
{
	char path[4200];

	_Static_assert(sizeof(path) > 4000 + 100 + 1, "room for dir/name");
	struct gm_elf_image elf;
	struct timespec t0, t1;
	void *buf, *out;
	size_t len, olen;

	if (!find_kernel(path, sizeof(path)))
		cr_skip_test("no Linux kernel: set GMVM_LINUX_KERNEL or fetch build/linux-cache (scripts/linux/fetch.sh)");
	cr_assert_eq(gm_elf_read_file(path, &buf, &len, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_bzimage_parse(buf, len, &bz, &err), 0, "%s", err.msg);
	cr_assert_neq(bz.format, GM_PAYLOAD_UNKNOWN);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_eq(gm_bzimage_unpack(buf, len, &bz, GM_DECOMPRESS_MAX, &out, &olen, &err), 0, "%s", err.msg);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_log_info("%s: %s payload %zu -> %zu bytes in %.1f ms", path, gm_payload_name(bz.format), bz.payload_len,
		    olen, (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	cr_assert_eq(gm_elf_parse(out, olen, &elf, &err), 0, "%s", err.msg);
	cr_assert(elf.is64);
	cr_assert_eq(elf.lowest, 16 * MIB, "x86-64 vmlinux loads at its physical 16 MiB");
	cr_assert_eq(elf.entry, elf.lowest, "e_entry is startup_64's physical address");
	cr_assert(elf.lowest + bz.init_size >= elf.highest, "init_size covers the vmlinux");
	cr_assert_eq(gm_elf_check_placement(&elf, 256 * MIB, &err), 0, "%s", err.msg);
	gm_decompress_free(out, olen);
	free(buf);
}
