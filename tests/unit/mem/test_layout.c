/* mem/layout.c: the e820 map, the end of RAM, and the checked gpa -> hva accessor. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

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

/* Regions beside the RAM: above its end, each on a 1 GiB boundary, in order. */
static struct gm_region_config region(const char *name, uint64_t size, uint64_t page_size, uint64_t gpa)
{
	struct gm_region_config r = { .mem = { .size = size, .page_size = page_size }, .gpa = gpa };

	snprintf(r.name, sizeof(r.name), "%s", name);
	return r;
}

Test(place, regions_go_above_ram_on_gib_boundaries_in_order)
{
	struct gm_region_config r[2] = {
		region("a", 64 * MT_MIB, GM_PAGE_4K, 0),
		region("b", 1 * MT_GIB, GM_PAGE_2M, 0),
	};
	struct gm_error err = { 0 };

	/* b ends at 3G exactly, where the hole starts */
	cr_assert_eq(gm_layout_place_regions(256 * MT_MIB, r, 2, 46, &err), 0, "%s", err.msg);
	cr_expect_eq(r[0].gpa, 1 * MT_GIB);
	cr_expect_eq(r[1].gpa, 2 * MT_GIB);
	/* b ends at 3G, where the hole starts: c goes past it, to 4G? no: 3G is the hole, refused */
}

Test(place, above_4g_when_the_ram_is_there)
{
	struct gm_region_config r[2] = { region("a", 64 * MT_MIB, GM_PAGE_4K, 0), region("b", 1 * MT_GIB, GM_PAGE_1G, 0) };
	struct gm_error err = { 0 };

	/* 5G of RAM ends at 6G */
	cr_assert_eq(gm_layout_place_regions(5 * MT_GIB, r, 2, 46, &err), 0, "%s", err.msg);
	cr_expect_eq(r[0].gpa, 6 * MT_GIB);
	cr_expect_eq(r[1].gpa, 7 * MT_GIB);
}

static void place_refused(uint64_t ram, struct gm_region_config *r, unsigned n, unsigned bits, const char *want)
{
	struct gm_error err = { 0 };

	cr_assert_lt(gm_layout_place_regions(ram, r, n, bits, &err), 0, "placed, wanted '%s'", want);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert(strstr(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
	cr_assert_null(strchr(err.msg, '\n'));
}

Test(place, refusals)
{
	struct gm_region_config r[2] = { region("a", 2 * MT_GIB, GM_PAGE_4K, 0), region("b", 64 * MT_MIB, GM_PAGE_4K, 0) };

	/* a at 1G ends at 3G; b would start in the hole */
	place_refused(256 * MT_MIB, r, 2, 46, "region b at 0xc0000000 (64M) overlaps the 32-bit hole at 3G-4G");
	r[0] = region("a", 3 * MT_GIB, GM_PAGE_4K, 0);
	place_refused(256 * MT_MIB, r, 1, 46, "region a at 0x40000000 (3G) overlaps the 32-bit hole");
	r[0] = region("a", 60 * MT_GIB, GM_PAGE_4K, 0);
	place_refused(5 * MT_GIB, r, 1, 46, "region a would end at 0x1080000000, past the 64G the boot page tables map");
	r[0] = region("a", 64 * MT_MIB, GM_PAGE_4K, 0);
	place_refused(5 * MT_GIB, r, 1, 32, "past the 4G the guest's CPU can address");
	/* a restore's places are checked as well */
	r[0] = region("a", 64 * MT_MIB, GM_PAGE_4K, 128 * MT_MIB);
	place_refused(256 * MT_MIB, r, 1, 46, "region a at 0x8000000 overlaps the RAM below it");
	r[0] = region("a", 64 * MT_MIB, GM_PAGE_2M, 1 * MT_GIB + 4096);
	place_refused(256 * MT_MIB, r, 1, 46, "is not aligned to its 2M pages");
	r[0] = region("a", 64 * MT_MIB, GM_PAGE_4K, 2 * MT_GIB);
	r[1] = region("b", 64 * MT_MIB, GM_PAGE_4K, 2 * MT_GIB + 32 * MT_MIB);
	place_refused(256 * MT_MIB, r, 2, 46, "region b at 0x82000000 overlaps a below it");
}

Test(place, a_placed_memory_reaches_only_its_range)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_ANON, 64 * MT_MIB);
	struct gm_caps caps = mt_caps_generous();
	struct gm_memory *mem = NULL;
	struct gm_error err = { 0 };
	struct gm_e820_entry e[4];

	cr_assert_eq(gm_memory_create(&cfg, &caps, -1, &mem, &err), 0, "%s", err.msg);

	cr_assert_eq(gm_memory_place(mem, 2 * MT_GIB, 4, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_memory_e820(mem, e, 4), 1);
	expect(&e[0], 2 * MT_GIB, 64 * MT_MIB, GM_E820_RAM);
	cr_assert_eq(gm_memory_end(mem), 2 * MT_GIB + 64 * MT_MIB);
	cr_assert_eq((uint8_t *)gm_memory_hva(mem, 2 * MT_GIB + 4096, 8) - (uint8_t *)gm_memory_hva(mem, 2 * MT_GIB, 8),
		     4096);
	cr_assert_null(gm_memory_hva(mem, 2 * MT_GIB + 64 * MT_MIB - 4, 8), "crosses the end");
	cr_assert_null(gm_memory_hva(mem, 4096, 8), "the RAM's addresses are not this region's");
	unsigned n;
	const struct gm_mem_region *lr = gm_memory_regions(mem, &n);
	cr_assert_eq(n, 1);
	cr_assert_eq(lr[0].slot, 4, "memslots from the slot base");
	cr_assert_lt(gm_memory_discard(mem, 4096, 4096, &err), 0);
	cr_assert(strstr(err.msg, "is not inside region ram (0x80000000"), "%s", err.msg);
	gm_error_clear(&err);
	cr_assert_eq(gm_memory_set_identity(mem, (const uint8_t[16]){ 1 }, "extra", &err), 0);
	cr_assert_lt(gm_memory_discard(mem, 4096, 4096, &err), 0);
	cr_assert(strstr(err.msg, "is not inside region extra"), "%s", err.msg);
	gm_memory_destroy(mem);
}
