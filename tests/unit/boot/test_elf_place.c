/*
 * tests/unit/boot/test_elf_place.c: gm_elf_check_placement against the e820
 * layout (RAM below 3 GiB, the hole, RAM from 4 GiB) and gm_elf_choose_entry
 * for each requested entry mode.
 */
#include <errno.h>
#include <stdio.h>

#include "boot_test.h"
#include "elf_builder.h"

#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)

static struct eb e;
static struct gm_elf_image img;
static struct gm_error err;

static void setup(void)
{
	gm_error_clear(&err);
}

static void teardown(void)
{
	eb_free(&e);
}

TestSuite(elf_place, .init = setup, .fini = teardown);
TestSuite(elf_entry, .init = setup, .fini = teardown);

/* One segment [paddr, paddr+memsz), entry at its start, parsed into img. */
static void one_segment(bool is64, uint64_t paddr, uint64_t memsz, bool pvh)
{
	eb_init(&e, is64, paddr);
	eb_load(&e, paddr, 0x10, memsz);
	if (pvh)
		eb_pvh(&e, paddr + 8, is64 ? 8 : 4);
	eb_build(&e);
	cr_assert_eq(gm_elf_parse(e.buf, e.len, &img, &err), 0, "%s", err.msg);
}

static int place(uint64_t ram)
{
	return gm_elf_check_placement(&img, ram, &err);
}

Test(elf_place, fits_in_low_ram)
{
	one_segment(true, MIB, 255 * MIB, false);
	cr_assert_eq(place(256 * MIB), 0, "%s", err.msg);
}

Test(elf_place, one_byte_beyond_ram)
{
	one_segment(true, MIB, 255 * MIB + 1, false);
	expect_refused(place(256 * MIB), ENOMEM, &err,
		       "ELF segment [0x100000, 0x10000001) lies beyond the guest's 256 MiB of RAM; "
		       "give the guest more memory, e.g. --memory size=257M");
}

Test(elf_place, segment_over_the_hole)
{
	one_segment(true, 3 * GIB - MIB, 2 * MIB, false);
	expect_refused(place(8 * GIB), EINVAL, &err, "overlaps the 32-bit hole");
	cr_assert_not_null(strstr(err.msg, "guest RAM: 8 GiB"), "%s", err.msg);
}

Test(elf_place, segment_inside_the_hole)
{
	one_segment(true, 0xfee00000, 0x1000, false);
	expect_refused(place(8 * GIB), EINVAL, &err, "overlaps the 32-bit hole");
}

Test(elf_place, segment_ending_at_3g_fits)
{
	one_segment(true, 3 * GIB - MIB, MIB, false);
	cr_assert_eq(place(3 * GIB), 0, "%s", err.msg);
}

Test(elf_place, high_ram_fits)
{
	one_segment(true, 4 * GIB, 16 * MIB, false);
	cr_assert_eq(place(4 * GIB), 0, "%s", err.msg); /* [4G, 5G) is RAM */
}

Test(elf_place, high_ram_missing)
{
	one_segment(true, 4 * GIB, 16 * MIB, false);
	/* 3 GiB + 16 MiB is what it takes to reach [4 GiB, 4 GiB + 16 MiB) */
	expect_refused(place(3 * GIB), ENOMEM, &err, "--memory size=3088M");
	cr_assert_not_null(strstr(err.msg, "guest's 3 GiB of RAM"), "%s", err.msg);
}

Test(elf_place, high_ram_too_small)
{
	one_segment(true, 4 * GIB + GIB, MIB, false);
	expect_refused(place(4 * GIB), ENOMEM, &err, "beyond the guest's 4 GiB of RAM");
}

Test(elf_place, tiny_ram)
{
	one_segment(true, MIB, 0x1000, false);
	expect_refused(place(MIB), ENOMEM, &err, "beyond the guest's 1 MiB of RAM");
}

Test(elf_place, odd_ram_size_is_named_in_bytes)
{
	one_segment(true, 2 * MIB, 0x1000, false);
	expect_refused(place(MIB + 12345), ENOMEM, &err, "1060921 bytes of RAM");
}

Test(elf_place, large_guest_high_segment)
{
	one_segment(true, UINT64_C(1) << 40, 0x1000, false);
	cr_assert_eq(place(UINT64_C(2) << 40), 0, "%s", err.msg);
}

Test(elf_place, every_segment_is_checked)
{
	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0x10, 0x10);
	eb_load(&e, 512 * MIB, 0x10, 0x10);
	eb_build(&e);
	cr_assert_eq(gm_elf_parse(e.buf, e.len, &img, &err), 0, "%s", err.msg);
	expect_refused(place(256 * MIB), ENOMEM, &err, "[0x20000000, 0x20000010)");
}

Test(elf_entry, auto_elf64_is_linux64)
{
	enum gm_entry mode;
	uint64_t addr;

	one_segment(true, 2 * MIB, 0x1000, true); /* the PVH note does not win */
	cr_assert_eq(gm_elf_choose_entry(&img, GM_ENTRY_AUTO, &mode, &addr, &err), 0, "%s", err.msg);
	cr_assert_eq(mode, GM_ENTRY_LINUX64);
	cr_assert_eq(addr, 2 * MIB);
}

Test(elf_entry, auto_elf32_with_pvh_is_pvh)
{
	enum gm_entry mode;
	uint64_t addr;

	one_segment(false, 2 * MIB, 0x1000, true);
	cr_assert_eq(gm_elf_choose_entry(&img, GM_ENTRY_AUTO, &mode, &addr, &err), 0, "%s", err.msg);
	cr_assert_eq(mode, GM_ENTRY_PVH);
	cr_assert_eq(addr, 2 * MIB + 8);
}

Test(elf_entry, auto_elf32_without_pvh_refused)
{
	enum gm_entry mode;
	uint64_t addr;

	one_segment(false, 2 * MIB, 0x1000, false);
	expect_refused(gm_elf_choose_entry(&img, GM_ENTRY_AUTO, &mode, &addr, &err), EINVAL, &err,
		       "no 64-bit entry and no PVH note");
}

Test(elf_entry, pvh_asked_on_elf64_with_note)
{
	enum gm_entry mode;
	uint64_t addr;

	one_segment(true, 2 * MIB, 0x1000, true);
	cr_assert_eq(gm_elf_choose_entry(&img, GM_ENTRY_PVH, &mode, &addr, &err), 0, "%s", err.msg);
	cr_assert_eq(mode, GM_ENTRY_PVH);
	cr_assert_eq(addr, 2 * MIB + 8);
}

Test(elf_entry, pvh_asked_without_note_refused)
{
	enum gm_entry mode;
	uint64_t addr;

	one_segment(true, 2 * MIB, 0x1000, false);
	expect_refused(gm_elf_choose_entry(&img, GM_ENTRY_PVH, &mode, &addr, &err), EINVAL, &err,
		       "the PVH entry was asked for but the ELF has no PVH note");
}

Test(elf_entry, linux64_asked_on_elf32_refused)
{
	enum gm_entry mode;
	uint64_t addr;

	one_segment(false, 2 * MIB, 0x1000, true);
	expect_refused(gm_elf_choose_entry(&img, GM_ENTRY_LINUX64, &mode, &addr, &err), EINVAL,
		       &err, "needs an x86-64 ELF64 but this ELF is 32-bit i386");
}

Test(elf_entry, linux64_asked_on_elf64)
{
	enum gm_entry mode;
	uint64_t addr;

	one_segment(true, 2 * MIB, 0x1000, true);
	cr_assert_eq(gm_elf_choose_entry(&img, GM_ENTRY_LINUX64, &mode, &addr, &err), 0, "%s",
		     err.msg);
	cr_assert_eq(mode, GM_ENTRY_LINUX64);
	cr_assert_eq(addr, 2 * MIB);
}

/* The size suggested for a guest too small fits every segment, not the first. */
static uint64_t suggested_mib(void)
{
	const char *p = strstr(err.msg, "--memory size=");
	unsigned long long mib;
	char unit;

	cr_assert_not_null(p, "no size suggested: %s", err.msg);
	cr_assert_eq(sscanf(p, "--memory size=%llu%c", &mib, &unit), 2, "%s", err.msg);
	cr_assert_eq(unit, 'M', "%s", err.msg);
	return mib;
}

Test(elf_place, suggestion_fits_every_segment)
{
	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0x10, 0x1000);                /* text: fits in 2 MiB */
	eb_load(&e, 2 * MIB, 0x10, 0x10);              /* data */
	eb_load(&e, 3 * MIB, 0, 5 * MIB + 0x1000);     /* bss up to 8 MiB + 4K */
	eb_build(&e);
	cr_assert_eq(gm_elf_parse(e.buf, e.len, &img, &err), 0, "%s", err.msg);
	expect_refused(place(MIB), ENOMEM, &err,
		       "ELF segment [0x100000, 0x101000) lies beyond the guest's 1 MiB of RAM; "
		       "give the guest more memory, e.g. --memory size=9M");
	uint64_t mib = suggested_mib();

	gm_error_clear(&err);
	cr_assert_eq(place(mib * MIB), 0, "the suggested size is refused: %s", err.msg);
}

Test(elf_place, suggestion_counts_the_hole)
{
	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0x10, 0x10);
	eb_load(&e, 4 * GIB + 16 * MIB, 0x10, MIB);
	eb_build(&e);
	cr_assert_eq(gm_elf_parse(e.buf, e.len, &img, &err), 0, "%s", err.msg);
	expect_refused(place(MIB), ENOMEM, &err, "--memory size=3089M");
	uint64_t mib = suggested_mib();

	gm_error_clear(&err);
	cr_assert_eq(place(mib * MIB), 0, "%s", err.msg);
}

Test(elf_place, hole_is_said_before_a_size)
{
	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0x10, 0x10);
	eb_load(&e, 3 * GIB + MIB, 0x10, 0x10);
	eb_build(&e);
	cr_assert_eq(gm_elf_parse(e.buf, e.len, &img, &err), 0, "%s", err.msg);
	/* more RAM cannot help a segment in the hole: no size is suggested */
	expect_refused(place(MIB), EINVAL, &err, "overlaps the 32-bit hole");
	cr_assert_null(strstr(err.msg, "--memory"), "%s", err.msg);
}

Test(elf_place, beyond_the_largest_guest_says_link_lower)
{
	one_segment(true, 100 * GIB, 0x1000, false);
	expect_refused(place(256 * MIB), ENOMEM, &err,
		       "need more than the 63 GiB gmvm gives a guest; link the guest at lower addresses");
	cr_assert_null(strstr(err.msg, "--memory"), "%s", err.msg);
}
