/* mem/layout.c: the e820 map, the end of RAM, and the checked gpa -> hva accessor. */
#include <criterion/criterion.h>

#include "mem/mem.h"
#include "mem_test.h"

#define EBDA UINT64_C(0x9fc00)
#define ONE_MIB UINT64_C(0x100000)

static void expect(const struct gm_e820_entry *e, uint64_t addr, uint64_t size, uint32_t type)
{
	cr_expect_eq(e->addr, addr, "addr 0x%llx, want 0x%llx", (unsigned long long)e->addr,
		     (unsigned long long)addr);
	cr_expect_eq(e->size, size, "size 0x%llx, want 0x%llx", (unsigned long long)e->size,
		     (unsigned long long)size);
	cr_expect_eq(e->type, type);
}

static size_t e820_of(uint64_t size, struct gm_e820_entry *e)
{
	return gm_layout_e820(size, e, 8);
}

Test(e820, ram_256M_is_low_ram_only)
{
	struct gm_e820_entry e[8];

	cr_assert_eq(e820_of(256 * MT_MIB, e), 3);
	expect(&e[0], 0, EBDA, GM_E820_RAM);
	expect(&e[1], EBDA, ONE_MIB - EBDA, GM_E820_RESERVED);
	expect(&e[2], ONE_MIB, 256 * MT_MIB - ONE_MIB, GM_E820_RAM);
}

Test(e820, ram_3G_fills_low_ram_exactly)
{
	struct gm_e820_entry e[8];

	cr_assert_eq(e820_of(3 * MT_GIB, e), 3);
	expect(&e[2], ONE_MIB, 3 * MT_GIB - ONE_MIB, GM_E820_RAM);
}

Test(e820, ram_3G_plus_2M_puts_2M_above_4G)
{
	struct gm_e820_entry e[8];

	cr_assert_eq(e820_of(3 * MT_GIB + 2 * MT_MIB, e), 4);
	expect(&e[2], ONE_MIB, 3 * MT_GIB - ONE_MIB, GM_E820_RAM);
	expect(&e[3], 4 * MT_GIB, 2 * MT_MIB, GM_E820_RAM);
}

Test(e820, ram_5G_puts_2G_above_4G)
{
	struct gm_e820_entry e[8];

	cr_assert_eq(e820_of(5 * MT_GIB, e), 4);
	expect(&e[0], 0, EBDA, GM_E820_RAM);
	expect(&e[1], EBDA, ONE_MIB - EBDA, GM_E820_RESERVED);
	expect(&e[2], ONE_MIB, 3 * MT_GIB - ONE_MIB, GM_E820_RAM);
	expect(&e[3], 4 * MT_GIB, 2 * MT_GIB, GM_E820_RAM);
}

Test(e820, ram_16G_puts_13G_above_4G)
{
	struct gm_e820_entry e[8];

	cr_assert_eq(e820_of(16 * MT_GIB, e), 4);
	expect(&e[3], 4 * MT_GIB, 13 * MT_GIB, GM_E820_RAM);
}

Test(e820, stops_at_max_entries)
{
	struct gm_e820_entry e[2];

	cr_assert_eq(gm_layout_e820(5 * MT_GIB, e, 2), 2);
	expect(&e[1], EBDA, ONE_MIB - EBDA, GM_E820_RESERVED);
}

Test(e820, zero_ram_gives_no_entries)
{
	struct gm_e820_entry e[8];

	cr_assert_eq(e820_of(0, e), 0);
}

Test(layout, regions_are_low_at_0_and_high_at_4G_with_fd_offset_3G)
{
	struct gm_mem_region r[GM_MEM_MAX_REGIONS];

	cr_assert_eq(gm_layout_regions(256 * MT_MIB, r), 1);
	cr_expect_eq(r[0].gpa, 0);
	cr_expect_eq(r[0].size, 256 * MT_MIB);
	cr_expect_eq(r[0].slot, 0);
	cr_assert_eq(gm_layout_regions(5 * MT_GIB, r), 2);
	cr_expect_eq(r[0].size, 3 * MT_GIB);
	cr_expect_eq(r[1].gpa, 4 * MT_GIB);
	cr_expect_eq(r[1].size, 2 * MT_GIB);
	cr_expect_eq(r[1].offset, 3 * MT_GIB);
	cr_expect_eq(r[1].slot, 1);
}

Test(layout, end_of_ram_skips_the_hole)
{
	cr_expect_eq(gm_layout_end(256 * MT_MIB), 256 * MT_MIB);
	cr_expect_eq(gm_layout_end(3 * MT_GIB), 3 * MT_GIB);
	cr_expect_eq(gm_layout_end(5 * MT_GIB), 6 * MT_GIB);
}

/* A sparse 5G anon memory: no page is touched, so this costs nothing. */
static struct gm_memory *mem5g;

static void make_5g(void)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_ANON, 5 * MT_GIB);
	struct gm_error err = { 0 };

	cr_assert_eq(gm_memory_create(&cfg, &caps, -1, &mem5g, &err), 0, "%s", err.msg);
}

static void free_5g(void)
{
	gm_memory_destroy(mem5g);
}

TestSuite(hva, .init = make_5g, .fini = free_5g);

Test(hva, low_and_high_ram_map_to_fd_offsets)
{
	uint8_t *base = gm_memory_hva(mem5g, 0, 1);

	cr_assert_not_null(base);
	cr_expect_eq(gm_memory_hva(mem5g, 0x1234, 16), base + 0x1234);
	cr_expect_eq(gm_memory_hva(mem5g, 4 * MT_GIB, 4096), base + 3 * MT_GIB);
	cr_expect_eq(gm_memory_hva(mem5g, 6 * MT_GIB - 1, 1), base + 5 * MT_GIB - 1);
	cr_expect_eq(gm_memory_end(mem5g), 6 * MT_GIB);
	cr_expect_eq(gm_memory_size(mem5g), 5 * MT_GIB);
}

Test(hva, whole_region_is_reachable)
{
	cr_expect_not_null(gm_memory_hva(mem5g, 0, 3 * MT_GIB));
	cr_expect_not_null(gm_memory_hva(mem5g, 4 * MT_GIB, 2 * MT_GIB));
}

Test(hva, address_in_the_32bit_hole_is_null)
{
	cr_expect_null(gm_memory_hva(mem5g, 3 * MT_GIB, 1));
	cr_expect_null(gm_memory_hva(mem5g, 0xfee00000, 4));
	cr_expect_null(gm_memory_hva(mem5g, 4 * MT_GIB - 1, 1));
}

Test(hva, range_crossing_a_region_end_is_null)
{
	cr_expect_null(gm_memory_hva(mem5g, 3 * MT_GIB - 4096, 8192));
	cr_expect_null(gm_memory_hva(mem5g, 3 * MT_GIB - 1, 2));
	cr_expect_null(gm_memory_hva(mem5g, 6 * MT_GIB - 4096, 4097));
	cr_expect_null(gm_memory_hva(mem5g, 0, 3 * MT_GIB + 1));
}

Test(hva, address_beyond_ram_is_null)
{
	cr_expect_null(gm_memory_hva(mem5g, 6 * MT_GIB, 1));
	cr_expect_null(gm_memory_hva(mem5g, 64 * MT_GIB, 1));
}

Test(hva, overflowing_range_near_uint64_max_is_null)
{
	cr_expect_null(gm_memory_hva(mem5g, UINT64_MAX - 10, 100));
	cr_expect_null(gm_memory_hva(mem5g, UINT64_MAX, 1));
	cr_expect_null(gm_memory_hva(mem5g, 0x1000, UINT64_MAX));
	cr_expect_null(gm_memory_hva(mem5g, 4 * MT_GIB, UINT64_MAX - 4 * MT_GIB + 2));
}

Test(hva, e820_of_a_memory_matches_the_pure_layout)
{
	struct gm_e820_entry a[8], b[8];
	size_t n = gm_memory_e820(mem5g, a, 8);

	cr_assert_eq(n, gm_layout_e820(5 * MT_GIB, b, 8));
	for (size_t i = 0; i < n; i++)
		expect(&a[i], b[i].addr, b[i].size, b[i].type);
}
