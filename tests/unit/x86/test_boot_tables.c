/*
 * x86 boot tables written into real (anonymous) guest memory: the identity
 * page tables, boot_params with e820 and command line, the PVH start_info
 * and the MP table, checked byte by byte against docs/boot-protocol.md.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "gmvm/memory.h"
#include "x86/x86.h"
#include "../anon_memory.h"

static struct gm_memory *anon_memory(uint64_t size)
{
	struct gm_error err = { 0 };
	struct gm_memory *mem = test_anon_memory(size, &err);

	cr_assert_not_null(mem, "%s", err.msg);
	return mem;
}

static uint64_t u64_at(struct gm_memory *mem, uint64_t gpa)
{
	uint64_t v;
	memcpy(&v, gm_memory_hva(mem, gpa, 8), 8);
	return v;
}

static uint32_t u32_at(struct gm_memory *mem, uint64_t gpa)
{
	uint32_t v;
	memcpy(&v, gm_memory_hva(mem, gpa, 4), 4);
	return v;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;
	while (n--)
		s += *p++;
	return s;
}

static void check_identity_map(struct gm_memory *mem, uint64_t span)
{
	uint64_t pml4 = u64_at(mem, GM_BOOT_PAGETABLES);
	cr_assert_eq(pml4 & ~UINT64_C(0xfff), GM_BOOT_PAGETABLES + 0x1000);
	cr_assert_eq(pml4 & 7, 7, "PML4 entry must be present, writable, user");
	for (uint64_t addr = 0; addr < span; addr += GM_PAGE_2M * 97) {
		uint64_t pdpte = u64_at(mem, GM_BOOT_PAGETABLES + 0x1000 + 8 * (addr >> 30));
		uint64_t pde = u64_at(mem, (pdpte & ~UINT64_C(0xfff)) + 8 * ((addr >> 21) & 511));
		cr_assert_eq(pde & ~UINT64_C(0x1fffff), addr & ~UINT64_C(0x1fffff), "2M page for 0x%llx",
			     (unsigned long long)addr);
		cr_assert_eq(pde & 0x87, 0x87, "large, user, writable, present at 0x%llx", (unsigned long long)addr);
	}
	/* nothing mapped past the span */
	cr_assert_eq(u64_at(mem, GM_BOOT_PAGETABLES + 0x1000 + 8 * (span >> 30)), 0);
}

Test(x86, linux64_tables_for_256M)
{
	struct gm_memory *mem = anon_memory(256 << 20);
	struct gm_error err = { 0 };

	cr_assert_eq(gm_x86_write_boot_tables(&mem, 1, GM_ENTRY_LINUX64, "a=b hello", 2, &err), 0, "%s", err.msg);
	/* the map reaches 4 GiB even with little RAM, so the LAPIC and IOAPIC are mapped */
	check_identity_map(mem, UINT64_C(4) << 30);

	uint8_t *bp = gm_memory_hva(mem, GM_BOOT_PARAMS, 4096);
	struct gm_e820_entry map[8];
	size_t n = gm_memory_e820(mem, map, 8);
	cr_assert_eq(bp[0x1e8], n);
	cr_assert_eq(u32_at(mem, GM_BOOT_PARAMS + 0x202), 0x53726448);
	cr_assert_eq(u32_at(mem, GM_BOOT_PARAMS + 0x228), GM_BOOT_CMDLINE);
	cr_assert_str_eq((char *)gm_memory_hva(mem, GM_BOOT_CMDLINE, 16), "a=b hello");
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(u64_at(mem, GM_BOOT_PARAMS + 0x2d0 + 20 * i), map[i].addr);
		cr_assert_eq(u64_at(mem, GM_BOOT_PARAMS + 0x2d0 + 20 * i + 8), map[i].size);
		cr_assert_eq(u32_at(mem, GM_BOOT_PARAMS + 0x2d0 + 20 * i + 16), map[i].type);
	}
	gm_memory_destroy(mem);
}

Test(x86, page_tables_cover_ram_above_4G)
{
	struct gm_memory *mem = anon_memory(UINT64_C(5) << 30);
	struct gm_error err = { 0 };

	cr_assert_eq(gm_x86_write_pagetables(mem, gm_memory_end(mem), &err), 0, "%s", err.msg);
	check_identity_map(mem, UINT64_C(6) << 30);
	gm_memory_destroy(mem);
}

/* A second region is RAM in both maps, and the 64-bit entry's page tables reach its end. */
Test(x86, a_second_region_is_ram_and_mapped)
{
	struct gm_memory *mems[2] = { anon_memory(256 << 20), anon_memory(64 << 20) };
	struct gm_error err = { 0 };
	const uint64_t at = UINT64_C(5) << 30;

	cr_assert_eq(gm_memory_place(mems[1], at, 2, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_memory_gpa(mems[1]), at);
	cr_assert_eq(gm_memory_end(mems[1]), at + (64 << 20));
	cr_assert_not_null(gm_memory_hva(mems[1], at, 4096));
	cr_assert_null(gm_memory_hva(mems[1], 0, 4096), "the region is not at 0 any more");
	cr_assert_eq(gm_x86_write_boot_tables(mems, 2, GM_ENTRY_LINUX64, "", 1, &err), 0, "%s", err.msg);
	uint8_t *bp = gm_memory_hva(mems[0], GM_BOOT_PARAMS, 4096);
	unsigned n = bp[0x1e8];
	cr_assert_eq(n, 4, "RAM below 640K, reserved, RAM to 256M, the region");
	cr_assert_eq(u64_at(mems[0], GM_BOOT_PARAMS + 0x2d0 + 20 * 3), at);
	cr_assert_eq(u64_at(mems[0], GM_BOOT_PARAMS + 0x2d0 + 20 * 3 + 8), 64 << 20);
	cr_assert_eq(u32_at(mems[0], GM_BOOT_PARAMS + 0x2d0 + 20 * 3 + 16), 1, "type 1, RAM");
	check_identity_map(mems[0], UINT64_C(6) << 30);

	cr_assert_eq(gm_x86_write_boot_tables(mems, 2, GM_ENTRY_PVH, "", 1, &err), 0, "%s", err.msg);
	uint64_t memmap = u64_at(mems[0], GM_BOOT_START_INFO + 0x28);
	cr_assert_eq(u32_at(mems[0], GM_BOOT_START_INFO + 0x30), 4);
	cr_assert_eq(u64_at(mems[0], memmap + 24 * 3), at);
	cr_assert_eq(u32_at(mems[0], memmap + 24 * 3 + 16), 1);
	gm_memory_destroy(mems[0]);
	gm_memory_destroy(mems[1]);
}

Test(x86, pvh_start_info)
{
	struct gm_memory *mem = anon_memory(UINT64_C(5) << 30);
	struct gm_error err = { 0 };
	struct gm_e820_entry map[8];
	size_t n = gm_memory_e820(mem, map, 8);

	cr_assert_eq(gm_x86_write_boot_tables(&mem, 1, GM_ENTRY_PVH, "pvh", 1, &err), 0, "%s", err.msg);
	cr_assert_eq(u32_at(mem, GM_BOOT_START_INFO), 0x336ec578);
	cr_assert_eq(u32_at(mem, GM_BOOT_START_INFO + 4), 1);
	cr_assert_eq(u64_at(mem, GM_BOOT_START_INFO + 0x18), GM_BOOT_CMDLINE);
	uint64_t memmap = u64_at(mem, GM_BOOT_START_INFO + 0x28);
	cr_assert_eq(u32_at(mem, GM_BOOT_START_INFO + 0x30), n);
	cr_assert_eq(n, 4, "5 GiB: low RAM, reserved, RAM to 3 GiB, RAM above 4 GiB");
	cr_assert_eq(u64_at(mem, memmap + 24 * 3), UINT64_C(4) << 30);
	cr_assert_eq(u64_at(mem, memmap + 24 * 3 + 8), UINT64_C(2) << 30);
	/* PVH guests build their own page tables */
	cr_assert_eq(u64_at(mem, GM_BOOT_PAGETABLES), 0);
	gm_memory_destroy(mem);
}

Test(x86, mp_table_lists_every_vcpu)
{
	struct gm_memory *mem = anon_memory(64 << 20);
	struct gm_error err = { 0 };

	cr_assert_eq(gm_x86_write_mptable(mem, 4, &err), 0, "%s", err.msg);
	uint8_t *fp = gm_memory_hva(mem, GM_BOOT_MPTABLE, 16);
	cr_assert_eq(memcmp(fp, "_MP_", 4), 0);
	cr_assert_eq(sum(fp, 16), 0, "floating pointer checksum");
	uint32_t cfg = u32_at(mem, GM_BOOT_MPTABLE + 4);
	uint8_t *hdr = gm_memory_hva(mem, cfg, 44);
	uint16_t len;
	memcpy(&len, hdr + 4, 2);
	hdr = gm_memory_hva(mem, cfg, len);
	cr_assert_eq(memcmp(hdr, "PCMP", 4), 0);
	cr_assert_eq(sum(hdr, len), 0, "configuration table checksum");
	uint8_t *e = hdr + 44;
	for (unsigned i = 0; i < 4; i++, e += 20) {
		cr_assert_eq(e[0], 0, "processor entry");
		cr_assert_eq(e[1], i, "APIC ID = vCPU index");
		cr_assert_eq(e[3] & 1, 1, "enabled");
		cr_assert_eq(!!(e[3] & 2), i == 0, "only vCPU 0 is the BSP");
	}
	cr_assert_eq(e[0], 1, "then the ISA bus");
	gm_memory_destroy(mem);
}

Test(x86, refusals)
{
	struct gm_memory *mem = anon_memory(64 << 20);
	struct gm_error err = { 0 };
	char longline[5000];

	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	cr_assert_eq(gm_x86_write_boot_tables(&mem, 1, GM_ENTRY_LINUX64, longline, 1, &err), -E2BIG);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert(strstr(err.msg, "4095"), "%s", err.msg);
	gm_error_clear(&err);
	cr_assert_eq(gm_x86_write_mptable(mem, 65, &err), -EINVAL);
	cr_assert(strstr(err.msg, "1 to 64"), "%s", err.msg);
	gm_memory_destroy(mem);
}
