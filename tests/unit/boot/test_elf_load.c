/*
 * tests/unit/boot/test_elf_load.c: gm_elf_read_file on real files and
 * gm_elf_load into a real gm_memory (anon backend: no VM needed).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot_test.h"
#include "elf_builder.h"

#define MIB (UINT64_C(1) << 20)

static struct eb e;
static struct gm_elf_image img;
static struct gm_error err;
static char dir[64];
static struct gm_memory *mem;

static void setup(void)
{
	gm_error_clear(&err);
	strcpy(dir, "/tmp/gm-boot-test-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void teardown(void)
{
	char cmd[128];

	eb_free(&e);
	if (mem)
		gm_memory_destroy(mem);
	mem = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(elf_file, .init = setup, .fini = teardown);
TestSuite(elf_load, .init = setup, .fini = teardown);

static const char *path(const char *name)
{
	static char p[128];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

static void write_file(const char *p, const void *data, size_t len)
{
	FILE *f = fopen(p, "wb");

	cr_assert_not_null(f, "%s: %s", p, strerror(errno));
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

Test(elf_file, reads_whole_file)
{
	void *buf;
	size_t len;

	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0x1234, 0x2000);
	eb_build(&e);
	write_file(path("g.elf"), e.buf, e.len);
	cr_assert_eq(gm_elf_read_file(path("g.elf"), &buf, &len, &err), 0, "%s", err.msg);
	cr_assert_eq(len, e.len);
	cr_assert_eq(memcmp(buf, e.buf, len), 0);
	free(buf);
}

Test(elf_file, missing_file)
{
	void *buf = (void *)1;
	size_t len = 1;

	expect_refused(gm_elf_read_file(path("nope.elf"), &buf, &len, &err), ENOENT, &err,
		       "cannot open the guest image: No such file or directory; check the path");
	cr_assert_null(buf);
	cr_assert_eq(len, 0);
}

Test(elf_file, directory)
{
	void *buf;
	size_t len;

	expect_refused(gm_elf_read_file(dir, &buf, &len, &err), EISDIR, &err,
		       "is a directory, not a guest image");
}

Test(elf_file, empty_file)
{
	void *buf;
	size_t len;

	write_file(path("empty.elf"), "", 0);
	expect_refused(gm_elf_read_file(path("empty.elf"), &buf, &len, &err), EINVAL, &err,
		       "the guest image is empty (0 bytes)");
}

Test(elf_file, fifo_is_refused_without_blocking)
{
	void *buf;
	size_t len;

	cr_assert_eq(mkfifo(path("fifo"), 0600), 0, "mkfifo: %s", strerror(errno));
	expect_refused(gm_elf_read_file(path("fifo"), &buf, &len, &err), EINVAL, &err,
		       "is not a regular file");
}

Test(elf_file, unreadable_file)
{
	void *buf;
	size_t len;

	int rc;
	bool root = geteuid() == 0;

	write_file(path("secret.elf"), "x", 1);
	cr_assert_eq(chmod(path("secret.elf"), 0), 0);
	cr_assert_eq(chmod(dir, 0755), 0);
	/* root reads any file: look at it as nobody (this test's own process) */
	if (root && seteuid(65534) < 0)
		cr_skip_test("cannot drop to uid 65534 to test EACCES: %s", strerror(errno));
	rc = gm_elf_read_file(path("secret.elf"), &buf, &len, &err);
	if (root)
		cr_assert_eq(seteuid(0), 0, "seteuid(0): %s", strerror(errno));
	expect_refused(rc, EACCES, &err, "Permission denied; make it readable");
}

/*
 * A real anon gm_memory of 64 MiB, or a skip when the mem room cannot make
 * one without a VM.
 */
static void make_memory(void)
{
	struct gm_mem_config cfg = {
		.size = 64 * MIB, .backend = GM_BACKEND_ANON, .page_size = GM_PAGE_4K,
		.numa_node = -1, .bind = GM_BIND_MAPPED,
	};
	struct gm_caps caps;
	struct gm_error merr = { 0 };

	memset(&caps, 0, sizeof(caps));
	caps.numa_nodes = 1;
	caps.numa_node_mask = 1;
	if (gm_memory_create(&cfg, &caps, -1, &mem, &merr) < 0)
		cr_skip_test("gm_memory_create(anon, no VM) failed: %s", merr.msg);
}

Test(elf_load, copies_bytes_and_zeroes_bss)
{
	uint8_t *seg0, *seg1;

	eb_init(&e, true, 2 * MIB);
	eb_load(&e, 2 * MIB, 0x1800, 0x1800);
	eb_load(&e, 4 * MIB, 0x123, 0x5000);
	eb_build(&e);
	cr_assert_eq(gm_elf_parse(e.buf, e.len, &img, &err), 0, "%s", err.msg);
	make_memory();
	seg0 = gm_memory_hva(mem, 2 * MIB, 0x1800);
	seg1 = gm_memory_hva(mem, 4 * MIB, 0x5000);
	cr_assert(seg0 && seg1);
	/* dirty the bss and the bytes around the segments first */
	memset(seg1 - 16, 0xaa, 0x5000 + 32);
	memset(seg0 - 16, 0xaa, 16);
	cr_assert_eq(gm_elf_load(e.buf, e.len, &img, mem, &err), 0, "%s", err.msg);
	for (unsigned i = 0; i < 0x1800; i++)
		cr_assert_eq(seg0[i], eb_pattern(0, i), "seg0[%#x]", i);
	for (unsigned i = 0; i < 0x123; i++)
		cr_assert_eq(seg1[i], eb_pattern(1, i), "seg1[%#x]", i);
	for (unsigned i = 0x123; i < 0x5000; i++)
		cr_assert_eq(seg1[i], 0, "bss byte %#x not zeroed", i);
	cr_assert_eq(seg0[-1], 0xaa, "byte before segment 0 touched");
	cr_assert_eq(seg1[-1], 0xaa, "byte before segment 1 touched");
	cr_assert_eq(seg1[0x5000], 0xaa, "byte after segment 1 touched");
}

/* A guest's big BSS (per-CPU stacks) must not be allocated by the loader. */
Test(elf_load, whole_bss_pages_are_left_unallocated)
{
	unsigned char vec[256];
	uint8_t *bss;

	eb_init(&e, true, 2 * MIB);
	eb_load(&e, 2 * MIB, 0x10, MIB);
	eb_build(&e);
	cr_assert_eq(gm_elf_parse(e.buf, e.len, &img, &err), 0, "%s", err.msg);
	make_memory();
	cr_assert_eq(gm_elf_load(e.buf, e.len, &img, mem, &err), 0, "%s", err.msg);
	bss = gm_memory_hva(mem, 2 * MIB, MIB);
	cr_assert_eq(mincore(bss, MIB, vec), 0);
	cr_assert(vec[0] & 1, "the page holding file bytes is written");
	for (unsigned i = 1; i < MIB / 4096; i++)
		cr_assert_not(vec[i] & 1, "BSS page %u was allocated by the loader", i);
	for (unsigned i = 0x10; i < MIB; i += 509)
		cr_assert_eq(bss[i], 0, "bss byte %#x", i);
}

Test(elf_load, segment_outside_memory_refused)
{
	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0x10, 0x10);
	eb_load(&e, 128 * MIB, 0x10, 0x10);
	eb_build(&e);
	cr_assert_eq(gm_elf_parse(e.buf, e.len, &img, &err), 0, "%s", err.msg);
	make_memory();
	expect_refused(gm_elf_load(e.buf, e.len, &img, mem, &err), ENOMEM, &err,
		       "ELF segment [0x8000000, 0x8000010) is not in the guest's 64 MiB of RAM");
}

Test(elf_load, image_mismatch_refused)
{
	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0x100, 0x100);
	eb_build(&e);
	cr_assert_eq(gm_elf_parse(e.buf, e.len, &img, &err), 0, "%s", err.msg);
	make_memory();
	expect_refused(gm_elf_load(e.buf, 64, &img, mem, &err), EINVAL, &err,
		       "does not match the 64-byte image");
}
