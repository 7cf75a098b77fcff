/*
 * tests/unit/boot/test_linux_boot.c: a Linux kernel from files to guest RAM
 * without a VM: the initrd's placement, gm_boot_image_read on bzImage, ELF
 * and initrd files (refusals name the file at fault), and gm_boot_image_load
 * into anonymous guest memory, checked in boot_params / start_info and in
 * the bytes where the vmlinux and the initrd landed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/image.h"
#include "boot_test.h"
#include "bz_builder.h"
#include "elf_builder.h"
#include "util/guest_map.h"
#include "util/le.h"
#include "x86/x86.h"
#include "../anon_memory.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

static struct gm_error err;
static char dir[64];
static char pathbuf[4][128];
static unsigned npath;

static const char *path(const char *name)
{
	char *p = pathbuf[npath++ % 4];

	snprintf(p, 128, "%s/%s", dir, name);
	return p;
}

static void write_file(const char *name, const void *data, size_t len)
{
	FILE *f = fopen(path(name), "wb");

	cr_assert_not_null(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void setup(void)
{
	strcpy(dir, "/tmp/gm-linux-test-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(linux_boot, .init = setup, .fini = teardown);

Test(linux_boot, initrd_goes_high_in_low_ram)
{
	uint64_t addr;

	cr_assert_eq(gm_initrd_place(256 * MIB, 20 * MIB, 0x37ffffff, MIB, &addr, &err), 0, "%s", err.msg);
	cr_assert_eq(addr, 255 * MIB, "as high as the RAM allows");
	cr_assert_eq(gm_initrd_place(256 * MIB, 20 * MIB, 0x37ffffff, 1000, &addr, &err), 0, "%s", err.msg);
	cr_assert_eq(addr, 256 * MIB - 4096, "page-aligned");
	cr_assert_eq(gm_initrd_place(2 * GIB, 20 * MIB, 0x37ffffff, MIB, &addr, &err), 0, "%s", err.msg);
	cr_assert_eq(addr, 0x38000000 - MIB, "below the kernel's initrd_addr_max");
	cr_assert_eq(gm_initrd_place(8 * GIB, 20 * MIB, 0xffffffff, MIB, &addr, &err), 0, "%s", err.msg);
	cr_assert_eq(addr, 2 * GIB - MIB, "below 2 GiB whatever the kernel takes");
	cr_assert_eq(gm_initrd_place(64 * MIB, 60 * MIB, 0x37ffffff, 4 * MIB, &addr, &err), 0, "%s", err.msg);
	cr_assert_eq(addr, 60 * MIB, "exactly between the kernel's end and the end of RAM");
}

Test(linux_boot, initrd_that_does_not_fit_is_refused)
{
	uint64_t addr;

	expect_refused(gm_initrd_place(64 * MIB, 60 * MIB, 0x37ffffff, 8 * MIB, &addr, &err), ENOMEM, &err,
		       "the 8-MiB initrd does not fit in the guest's 64 MiB of RAM above the kernel's end at "
		       "0x3c00000; give the guest more memory, e.g. --memory size=68M");
	gm_error_clear(&err);
	expect_refused(gm_initrd_place(4 * GIB, 16 * MIB, 0x37ffffff, GIB, &addr, &err), EFBIG, &err,
		       "does not fit between the kernel's end at 0x1000000 and 0x38000000");
	gm_error_clear(&err);
	expect_refused(gm_initrd_place(GIB, 4 * MIB, 0x37ffffff, 0, &addr, &err), ENOMEM, &err, "initrd");
}

static uint8_t *bzimage_of(enum gm_payload_format fmt, struct eb *e, size_t *len)
{
	struct bzb_opts o = { .init_size = 8 * MIB };
	size_t plen;
	uint8_t *p, *img;

	eb_init(e, true, 16 * MIB + 0x10);
	eb_load(e, 16 * MIB, 0x2345, 0x10000);
	eb_pvh(e, 16 * MIB + 0x20, 4);
	eb_build(e);
	p = bzb_compress(fmt, e->buf, e->len, &plen);
	img = bzb_build(&o, p, plen, len);
	free(p);
	return img;
}

static struct gm_memory *anon_memory(uint64_t size)
{
	struct gm_error merr = { 0 };
	struct gm_memory *mem = test_anon_memory(size, &merr);

	if (!mem)
		cr_skip_test("gm_memory_create(anon, no VM) failed: %s", merr.msg);
	return mem;
}

/* A gzip bzImage and an initrd, read, then loaded: every byte where the kernel looks. */
Test(linux_boot, bzimage_and_initrd_land_where_boot_params_say)
{
	struct gm_boot_image bi = { 0 };
	struct eb e;
	size_t len;
	uint8_t *img = bzimage_of(GM_PAYLOAD_GZIP, &e, &len), initrd[10000];
	struct gm_memory *mem;
	uint8_t *bp, *seg, *rd;

	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i % 251);
	write_file("vmlinuz", img, len);
	write_file("initrd", initrd, sizeof(initrd));
	cr_assert_eq(gm_boot_image_read(path("vmlinuz"), path("initrd"), GM_ENTRY_AUTO, 128 * MIB, NULL, &bi, &err),
		     0, "%s", err.msg);
	cr_assert(bi.bzimage);
	cr_assert_eq(bi.entry, GM_ENTRY_LINUX64, "a bzImage boots through the 64-bit boot protocol");
	cr_assert_eq(bi.entry_addr, 16 * MIB + 0x10, "at the vmlinux's e_entry");
	cr_assert_eq(bi.kernel_end, 24 * MIB, "init_size counts from the load address");
	cr_assert_eq(bi.initrd_addr, 128 * MIB - 3 * 4096);
	mem = anon_memory(128 * MIB);
	cr_assert_eq(gm_x86_write_boot_tables(&mem, 1, GM_ENTRY_LINUX64, "console=ttyS0", 1, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_boot_image_load(&bi, mem, &err), 0, "%s", err.msg);
	cr_assert_null(bi.data, "the buffers go once loaded");
	bp = gm_memory_hva(mem, GM_BOOT_PARAMS, 4096);
	cr_assert_eq(memcmp(bp + 0x1f1, img + 0x1f1, 0x210 - 0x1f1), 0, "the kernel's setup header is copied");
	cr_assert_eq(gm_le32(bp + 0x260), 8 * MIB, "init_size copied");
	cr_assert_eq(gm_le32(bp + 0x238), 2047, "the kernel's cmdline_size is kept");
	cr_assert_eq(bp[0x210], 0xff, "type_of_loader: undefined");
	cr_assert_eq(gm_le32(bp + 0x228), GM_BOOT_CMDLINE);
	cr_assert_eq(gm_le32(bp + 0x218), 128 * MIB - 3 * 4096, "ramdisk_image");
	cr_assert_eq(gm_le32(bp + 0x21c), sizeof(initrd), "ramdisk_size");
	cr_assert_eq(gm_le32(bp + 0xc0) | gm_le32(bp + 0xc4), 0, "ext_ramdisk_*: below 4 GiB");
	cr_assert_gt(bp[0x1e8], 0, "the e820 map is still there");
	seg = gm_memory_hva(mem, 16 * MIB, 0x2345);
	for (unsigned i = 0; i < 0x2345; i++)
		cr_assert_eq(seg[i], eb_pattern(0, i), "vmlinux byte %#x", i);
	rd = gm_memory_hva(mem, bi.initrd_addr, sizeof(initrd));
	cr_assert_eq(memcmp(rd, initrd, sizeof(initrd)), 0, "the initrd's bytes");
	gm_boot_image_release(&bi);
	gm_memory_destroy(mem);
	eb_free(&e);
	free(img);
}

/* The kernel's cmdline_size (2047 here) bounds the whole command line gmvm wrote. */
Test(linux_boot, command_line_longer_than_cmdline_size_is_refused)
{
	struct gm_boot_image bi = { 0 };
	struct eb e;
	size_t len;
	uint8_t *img = bzimage_of(GM_PAYLOAD_GZIP, &e, &len);
	char cl[2049];
	struct gm_memory *mem = anon_memory(128 * MIB);

	write_file("vmlinuz", img, len);
	memset(cl, 'x', sizeof(cl) - 1);
	cl[2047] = '\0';
	cr_assert_eq(gm_boot_image_read(path("vmlinuz"), NULL, GM_ENTRY_AUTO, 128 * MIB, NULL, &bi, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(gm_x86_write_boot_tables(&mem, 1, GM_ENTRY_LINUX64, cl, 1, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_boot_image_load(&bi, mem, &err), 0, "2047 bytes fit: %s", err.msg);
	gm_boot_image_release(&bi);

	cl[2047] = 'x';
	cl[2048] = '\0';
	memset(&bi, 0, sizeof(bi));
	cr_assert_eq(gm_boot_image_read(path("vmlinuz"), NULL, GM_ENTRY_AUTO, 128 * MIB, NULL, &bi, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(gm_x86_write_boot_tables(&mem, 1, GM_ENTRY_LINUX64, cl, 1, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_boot_image_load(&bi, mem, &err), -E2BIG);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert_str_eq(err.msg, "the guest command line is 2048 bytes (--cmdline and the devices' entries), more than "
			 "the 2047 this kernel takes (its cmdline_size); shorten --cmdline");
	gm_boot_image_release(&bi);
	gm_memory_destroy(mem);
	eb_free(&e);
	free(img);
}

/* PVH: the vmlinux's note, and the initrd as start_info's one module. */
Test(linux_boot, pvh_gets_the_initrd_as_a_module)
{
	struct gm_boot_image bi = { 0 };
	struct eb e;
	size_t len;
	uint8_t *img = bzimage_of(GM_PAYLOAD_ZSTD, &e, &len), *si;
	struct gm_memory *mem;

	write_file("vmlinuz", img, len);
	write_file("initrd", "0707010000", 10);
	cr_assert_eq(gm_boot_image_read(path("vmlinuz"), path("initrd"), GM_ENTRY_PVH, 64 * MIB, NULL, &bi, &err),
		     0, "%s", err.msg);
	cr_assert_eq(bi.entry, GM_ENTRY_PVH);
	cr_assert_eq(bi.entry_addr, 16 * MIB + 0x20);
	mem = anon_memory(64 * MIB);
	cr_assert_eq(gm_x86_write_boot_tables(&mem, 1, GM_ENTRY_PVH, "", 1, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_boot_image_load(&bi, mem, &err), 0, "%s", err.msg);
	si = gm_memory_hva(mem, GM_BOOT_START_INFO, 4096);
	cr_assert_eq(gm_le32(si + 0x0c), 1, "nr_modules");
	uint64_t ml = gm_le64(si + 0x10);
	cr_assert_gt(ml, GM_BOOT_START_INFO + 0x40 + 24 * gm_le32(si + 0x30), "after the memory map");
	cr_assert_eq(gm_le64(si + (ml - GM_BOOT_START_INFO)), 64 * MIB - 4096, "module paddr");
	cr_assert_eq(gm_le64(si + (ml - GM_BOOT_START_INFO) + 8), 10, "module size");
	gm_boot_image_release(&bi);
	gm_memory_destroy(mem);
	eb_free(&e);
	free(img);
}

/* A test guest ELF with --initrd: allowed, placed above its segments. */
Test(linux_boot, elf_with_initrd)
{
	struct gm_boot_image bi = { 0 };
	struct eb e;

	eb_init(&e, true, 2 * MIB);
	eb_load(&e, 2 * MIB, 0x100, 0x1000);
	eb_build(&e);
	write_file("g.elf", e.buf, e.len);
	write_file("initrd", "x", 1);
	cr_assert_eq(gm_boot_image_read(path("g.elf"), path("initrd"), GM_ENTRY_AUTO, 32 * MIB, NULL, &bi, &err), 0,
		     "%s", err.msg);
	cr_assert_not(bi.bzimage);
	cr_assert_eq(bi.kernel_end, 2 * MIB + 0x1000);
	cr_assert_eq(bi.initrd_addr, 32 * MIB - 4096);
	gm_boot_image_release(&bi);
	eb_free(&e);
}

Test(linux_boot, refusals_name_the_file_at_fault)
{
	struct gm_boot_image bi = { 0 };
	struct eb e;
	size_t len;
	uint8_t *img = bzimage_of(GM_PAYLOAD_XZ, &e, &len);
	char want[256];

	write_file("vmlinuz", img, len);
	write_file("empty", "", 0);
	snprintf(want, sizeof(want), "%s: the initrd is empty (0 bytes); rebuild it or drop --initrd", path("empty"));
	expect_refused(gm_boot_image_read(path("vmlinuz"), path("empty"), GM_ENTRY_AUTO, 64 * MIB, NULL, &bi, &err),
		       EINVAL, &err, want);
	gm_boot_image_release(&bi);
	gm_error_clear(&err);
	memset(&bi, 0, sizeof(bi));
	expect_refused(gm_boot_image_read(path("vmlinuz"), path("nope"), GM_ENTRY_AUTO, 64 * MIB, NULL, &bi, &err),
		       ENOENT, &err, "nope: cannot open the initrd: No such file or directory");
	gm_boot_image_release(&bi);
	gm_error_clear(&err);
	memset(&bi, 0, sizeof(bi));
	expect_refused(gm_boot_image_read(path("vmlinuz"), dir, GM_ENTRY_AUTO, 64 * MIB, NULL, &bi, &err),
		       EISDIR, &err, "the initrd is not a regular file");
	gm_boot_image_release(&bi);
	/* a corrupt payload: the kernel's path, one line */
	img[len - 40] ^= 0xff;
	write_file("bad", img, len);
	gm_error_clear(&err);
	memset(&bi, 0, sizeof(bi));
	snprintf(want, sizeof(want), "%s: the kernel's xz payload is corrupt", path("bad"));
	expect_refused(gm_boot_image_read(path("bad"), NULL, GM_ENTRY_AUTO, 64 * MIB, NULL, &bi, &err), EINVAL, &err,
		       want);
	gm_boot_image_release(&bi);
	/* the vmlinux does not fit the RAM */
	gm_error_clear(&err);
	memset(&bi, 0, sizeof(bi));
	expect_refused(gm_boot_image_read(path("vmlinuz"), NULL, GM_ENTRY_AUTO, 8 * MIB, NULL, &bi, &err), ENOMEM,
		       &err, "give the guest more memory");
	gm_boot_image_release(&bi);
	eb_free(&e);
	free(img);
}

Test(linux_boot, unknown_payload_uses_the_bzimage_entry_and_no_pvh)
{
	struct gm_boot_image bi = { 0 };
	uint8_t payload[100] = "not compressed";
	struct gm_trace t = { 0 };
	size_t len;
	uint8_t *img = bzb_build(NULL, payload, sizeof(payload), &len);

	write_file("vmlinuz", img, len);
	cr_assert_eq(gm_boot_image_read(path("vmlinuz"), NULL, GM_ENTRY_AUTO, 64 * MIB, &t, &bi, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(bi.entry, GM_ENTRY_LINUX64);
	cr_assert_eq(bi.entry_addr, 16 * MIB + 0x200);
	cr_assert(t.at[GM_TRACE_IMAGE_READ].tv_sec || t.at[GM_TRACE_IMAGE_READ].tv_nsec);
	cr_assert_eq(t.at[GM_TRACE_UNPACKED].tv_sec | t.at[GM_TRACE_UNPACKED].tv_nsec, 0, "nothing decompressed");
	gm_boot_image_release(&bi);
	memset(&bi, 0, sizeof(bi));
	expect_refused(gm_boot_image_read(path("vmlinuz"), NULL, GM_ENTRY_PVH, 64 * MIB, NULL, &bi, &err), EINVAL,
		       &err, "the PVH entry needs the vmlinux");
	gm_boot_image_release(&bi);
	free(img);
}
