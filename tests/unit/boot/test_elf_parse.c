/*
 * tests/unit/boot/test_elf_parse.c: gm_elf_parse on well-formed images and
 * on every refusal, each with the cause its message must name.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "boot_test.h"
#include "elf_builder.h"

#define MIB (UINT64_C(1) << 20)

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

TestSuite(elf_parse, .init = setup, .fini = teardown);

/* The usual guest: ELF64, text+data at 1 MiB, bss after. */
static void guest64(bool pvh)
{
	eb_init(&e, true, MIB + 0x40);
	eb_load(&e, MIB, 0x200, 0x200);
	eb_load(&e, MIB + 0x1000, 0x80, 0x3000);
	if (pvh)
		eb_pvh(&e, MIB + 0x10, 8);
	eb_build(&e);
}

static int parse(void)
{
	return gm_elf_parse(e.buf, e.len, &img, &err);
}

static void refused(int errnum, const char *needle)
{
	expect_refused(parse(), errnum, &err, needle);
}

Test(elf_parse, elf64_without_pvh)
{
	guest64(false);
	cr_assert_eq(parse(), 0, "%s", err.msg);
	cr_assert(img.is64);
	cr_assert_eq(img.machine, 62);
	cr_assert_eq(img.entry, MIB + 0x40);
	cr_assert_not(img.has_pvh);
	cr_assert_eq(img.nseg, 2);
	cr_assert_eq(img.seg[0].paddr, MIB);
	cr_assert_eq(img.seg[0].offset, e.ph[0].offset);
	cr_assert_eq(img.seg[0].filesz, 0x200);
	cr_assert_eq(img.seg[0].memsz, 0x200);
	cr_assert_eq(img.seg[1].paddr, MIB + 0x1000);
	cr_assert_eq(img.seg[1].filesz, 0x80);
	cr_assert_eq(img.seg[1].memsz, 0x3000);
	cr_assert_eq(img.lowest, MIB);
	cr_assert_eq(img.highest, MIB + 0x4000);
}

Test(elf_parse, elf64_with_pvh_note)
{
	guest64(true);
	cr_assert_eq(parse(), 0, "%s", err.msg);
	cr_assert(img.has_pvh);
	cr_assert_eq(img.pvh_entry, MIB + 0x10);
	cr_assert_eq(img.entry, MIB + 0x40);
}

Test(elf_parse, elf32_with_4_byte_pvh_note)
{
	eb_init(&e, false, 0);
	eb_load(&e, 2 * MIB, 0x100, 0x100);
	eb_pvh(&e, 2 * MIB + 0x20, 4);
	eb_build(&e);
	cr_assert_eq(parse(), 0, "%s", err.msg);
	cr_assert_not(img.is64);
	cr_assert_eq(img.machine, 3);
	cr_assert(img.has_pvh);
	cr_assert_eq(img.pvh_entry, 2 * MIB + 0x20);
}

Test(elf_parse, segments_are_sorted_and_empty_ones_dropped)
{
	eb_init(&e, true, 3 * MIB);
	eb_load(&e, 3 * MIB, 0x10, 0x10);
	eb_load(&e, 5 * MIB, 0, 0);
	eb_load(&e, MIB, 0x10, 0x20);
	eb_build(&e);
	cr_assert_eq(parse(), 0, "%s", err.msg);
	cr_assert_eq(img.nseg, 2);
	cr_assert_eq(img.seg[0].paddr, MIB);
	cr_assert_eq(img.seg[0].offset, e.ph[2].offset);
	cr_assert_eq(img.seg[1].paddr, 3 * MIB);
	cr_assert_eq(img.lowest, MIB);
	cr_assert_eq(img.highest, 3 * MIB + 0x10);
}

Test(elf_parse, other_notes_are_skipped)
{
	uint8_t gnu[16] = { 1, 2, 3, 4, 5 };

	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0x40, 0x40);
	eb_note(&e, "GNU", 3, gnu, 5); /* odd size: padding must be honoured */
	eb_note(&e, "Xen", 17, gnu, 4); /* Xen, but not the PVH type */
	eb_pvh(&e, MIB + 4, 4);
	eb_build(&e);
	cr_assert_eq(parse(), 0, "%s", err.msg);
	cr_assert(img.has_pvh);
	cr_assert_eq(img.pvh_entry, MIB + 4);
}

Test(elf_parse, empty_buffer)
{
	cr_assert_eq(gm_elf_parse(NULL, 0, &img, &err), -EINVAL);
	cr_assert_not_null(strstr(err.msg, "shorter than the ELF header"), "%s", err.msg);
}

Test(elf_parse, shorter_than_ident)
{
	expect_refused(gm_elf_parse("\x7f" "ELF\x02\x01", 6, &img, &err), EINVAL, &err,
		       "ELF is truncated: 6 bytes, shorter than the ELF header");
}

Test(elf_parse, shorter_than_header)
{
	guest64(false);
	expect_refused(gm_elf_parse(e.buf, 40, &img, &err), EINVAL, &err,
		       "shorter than the 64-byte ELF header");
}

Test(elf_parse, bad_magic)
{
	guest64(false);
	e.buf[1] = 'X';
	refused(EINVAL, "not an ELF file");
}

Test(elf_parse, short_non_elf)
{
	expect_refused(gm_elf_parse("MZ", 2, &img, &err), EINVAL, &err, "not an ELF file");
}

Test(elf_parse, bad_class)
{
	guest64(false);
	e.buf[4] = 3;
	refused(EINVAL, "ELF class 3 is neither ELFCLASS32 nor ELFCLASS64");
}

Test(elf_parse, big_endian)
{
	guest64(false);
	e.buf[5] = 2;
	refused(EINVAL, "not little-endian");
}

Test(elf_parse, bad_version)
{
	guest64(false);
	e.buf[6] = 0;
	refused(EINVAL, "ELF version 0");
}

Test(elf_parse, elf64_for_aarch64)
{
	guest64(false);
	eb_set(&e, EB_E_MACHINE, 0, 183);
	refused(EINVAL, "ELF64 is for machine 183 (AArch64), not x86-64");
}

Test(elf_parse, elf32_for_x86_64)
{
	eb_init(&e, false, MIB);
	eb_load(&e, MIB, 0x10, 0x10);
	eb_build(&e);
	eb_set(&e, EB_E_MACHINE, 0, 62);
	refused(EINVAL, "ELF32 is for machine 62 (x86-64), not i386");
}

Test(elf_parse, pie_executable)
{
	guest64(false);
	eb_set(&e, EB_E_TYPE, 0, 3);
	refused(EINVAL, "position-independent (ET_DYN)");
}

Test(elf_parse, relocatable_object)
{
	guest64(false);
	eb_set(&e, EB_E_TYPE, 0, 1);
	refused(EINVAL, "relocatable object");
}

Test(elf_parse, core_file)
{
	guest64(false);
	eb_set(&e, EB_E_TYPE, 0, 4);
	refused(EINVAL, "ELF type 4 is not an executable");
}

Test(elf_parse, no_program_headers)
{
	guest64(false);
	eb_set(&e, EB_E_PHNUM, 0, 0);
	refused(EINVAL, "no program headers");
}

Test(elf_parse, extended_phnum)
{
	guest64(false);
	eb_set(&e, EB_E_PHNUM, 0, 0xffff);
	refused(E2BIG, "extended program header numbering");
}

Test(elf_parse, wrong_phentsize)
{
	guest64(false);
	eb_set(&e, EB_E_PHENTSIZE, 0, 40);
	refused(EINVAL, "program header entry size is 40 bytes, not 56");
}

Test(elf_parse, phdr_table_past_end)
{
	guest64(false);
	eb_set(&e, EB_E_PHOFF, 0, e.len - 8);
	refused(EINVAL, "program header table ends at byte");
}

Test(elf_parse, phdr_table_offset_huge)
{
	guest64(false);
	eb_set(&e, EB_E_PHOFF, 0, UINT64_MAX - 8);
	refused(EINVAL, "program header table starts at byte 18446744073709551607");
}

Test(elf_parse, no_load_segments)
{
	eb_init(&e, true, MIB);
	eb_pvh(&e, MIB, 8);
	eb_build(&e);
	refused(EINVAL, "no loadable (PT_LOAD) segments");
}

Test(elf_parse, only_empty_load_segments)
{
	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0, 0);
	eb_build(&e);
	refused(EINVAL, "no loadable (PT_LOAD) segments");
}

Test(elf_parse, too_many_segments)
{
	eb_init(&e, true, MIB);
	for (unsigned i = 0; i <= GM_ELF_MAX_SEGMENTS; i++)
		eb_load(&e, MIB + i * 0x1000, 8, 8);
	eb_build(&e);
	refused(E2BIG, "more than 16 loadable segments");
}

Test(elf_parse, sixteen_segments_fit)
{
	eb_init(&e, true, MIB);
	for (unsigned i = 0; i < GM_ELF_MAX_SEGMENTS; i++)
		eb_load(&e, MIB + i * 0x1000, 8, 8);
	eb_build(&e);
	cr_assert_eq(parse(), 0, "%s", err.msg);
	cr_assert_eq(img.nseg, GM_ELF_MAX_SEGMENTS);
}

Test(elf_parse, filesz_above_memsz)
{
	guest64(false);
	eb_set(&e, EB_P_MEMSZ, 0, 0x100);
	refused(EINVAL, "segment 0 has filesz 0x200 larger than memsz 0x100");
}

Test(elf_parse, segment_bytes_past_end)
{
	guest64(false);
	eb_set(&e, EB_P_FILESZ, 1, 0x100);
	eb_set(&e, EB_P_MEMSZ, 1, 0x100);
	refused(EINVAL, "ELF is truncated: segment 1 ends at byte");
}

Test(elf_parse, segment_offset_overflows)
{
	guest64(false);
	eb_set(&e, EB_P_OFFSET, 1, UINT64_MAX - 0x10);
	refused(EINVAL, "ELF is truncated: segment 1 starts at byte");
}

/* offset inside the file, offset + filesz past 2^64: corrupt, not truncated */
Test(elf_parse, segment_offset_plus_size_overflows)
{
	char want[160];

	guest64(false);
	eb_set(&e, EB_P_FILESZ, 1, UINT64_MAX - 0x10);
	eb_set(&e, EB_P_MEMSZ, 1, UINT64_MAX - 0x10);
	snprintf(want, sizeof(want),
		 "ELF segment 1: offset 0x%" PRIx64 " + size 0xffffffffffffffef overflows; "
		 "the ELF is corrupt, rebuild or re-copy the guest image", e.ph[1].offset);
	refused(EINVAL, want);
	cr_assert_str_eq(err.msg, want);
}

Test(elf_parse, note_offset_plus_size_overflows)
{
	guest64(true);
	eb_set(&e, EB_P_FILESZ, 2, UINT64_MAX);
	refused(EINVAL, "ELF note segment: offset 0x");
	cr_assert(strstr(err.msg, " + size 0xffffffffffffffff overflows; the ELF is corrupt"), "%s", err.msg);
}

Test(elf_parse, segment_wraps_64bit_space)
{
	guest64(false);
	eb_set(&e, EB_P_PADDR, 1, UINT64_MAX - 0xfff);
	refused(EINVAL, "runs past the end of the 64-bit address space");
}

Test(elf_parse, segment_wraps_32bit_space)
{
	eb_init(&e, false, 0);
	eb_load(&e, 0xfffff000, 0x10, 0x2000);
	eb_pvh(&e, 0xfffff000, 4);
	eb_build(&e);
	refused(EINVAL, "runs past the end of the 32-bit address space");
}

Test(elf_parse, segments_overlap)
{
	guest64(false);
	eb_set(&e, EB_P_PADDR, 1, MIB + 0x100);
	refused(EINVAL, "ELF segments overlap in physical memory: [0x100000, 0x100200) and [0x100100,");
}

Test(elf_parse, adjacent_segments_do_not_overlap)
{
	guest64(false);
	eb_set(&e, EB_P_PADDR, 1, MIB + 0x200);
	eb_set(&e, EB_E_ENTRY, 0, MIB + 0x200);
	cr_assert_eq(parse(), 0, "%s", err.msg);
}

Test(elf_parse, segment_below_1mib)
{
	guest64(false);
	eb_set(&e, EB_P_PADDR, 0, 0x7000);
	refused(EINVAL, "loads at 0x7000, below 1 MiB (0x100000): gmvm keeps boot structures "
		"there; link the guest at 1 MiB or above");
}

Test(elf_parse, entry_outside_segments)
{
	guest64(false);
	eb_set(&e, EB_E_ENTRY, 0, MIB + 0x800);
	refused(EINVAL, "entry point 0x100800 is not inside any loaded segment");
}

Test(elf_parse, entry_in_bss_is_inside)
{
	guest64(false);
	eb_set(&e, EB_E_ENTRY, 0, MIB + 0x3fff);
	cr_assert_eq(parse(), 0, "%s", err.msg);
}

Test(elf_parse, entry_just_past_end)
{
	guest64(false);
	eb_set(&e, EB_E_ENTRY, 0, MIB + 0x4000);
	refused(EINVAL, "entry point 0x104000 is not inside");
}

Test(elf_parse, elf32_entry_not_checked)
{
	/* an ELF32 is entered only through PVH, so e_entry is not used */
	eb_init(&e, false, 0x1234);
	eb_load(&e, MIB, 0x10, 0x10);
	eb_pvh(&e, MIB, 4);
	eb_build(&e);
	cr_assert_eq(parse(), 0, "%s", err.msg);
}

Test(elf_parse, pvh_entry_outside_segments)
{
	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0x10, 0x10);
	eb_pvh(&e, 0x200000, 8);
	eb_build(&e);
	refused(EINVAL, "PVH entry point 0x200000 (Xen note type 18) is not inside any loaded segment");
}

Test(elf_parse, pvh_entry_above_4g)
{
	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0x10, 0x10);
	eb_pvh(&e, UINT64_C(0x100000000) + MIB, 8);
	eb_build(&e);
	refused(EINVAL, "above 4 GiB");
}

Test(elf_parse, pvh_note_bad_desc_size)
{
	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0x10, 0x10);
	eb_pvh(&e, MIB, 2);
	eb_build(&e);
	refused(EINVAL, "holds 2 bytes, not a 4- or 8-byte address");
}

Test(elf_parse, note_runs_past_segment)
{
	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0x10, 0x10);
	eb_pvh(&e, MIB, 8);
	eb_build(&e);
	eb_set(&e, EB_P_FILESZ, 1, 20); /* header + name + half the desc */
	refused(EINVAL, "runs past the end of its PT_NOTE segment");
}

Test(elf_parse, note_with_huge_namesz)
{
	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0x10, 0x10);
	eb_pvh(&e, MIB, 8);
	eb_build(&e);
	memset(e.buf + e.ph[1].offset, 0xff, 4);
	refused(EINVAL, "runs past the end of its PT_NOTE segment");
}

Test(elf_parse, note_segment_past_end)
{
	eb_init(&e, true, MIB);
	eb_load(&e, MIB, 0x10, 0x10);
	eb_pvh(&e, MIB, 8);
	eb_build(&e);
	eb_set(&e, EB_P_FILESZ, 1, 0x1000);
	refused(EINVAL, "ELF is truncated: note segment ends at byte");
}

Test(elf_parse, interpreter)
{
	guest64(false);
	eb_set(&e, EB_P_TYPE, 1, EB_PT_INTERP);
	refused(EINVAL, "program interpreter (PT_INTERP)");
}
