/*
 * mem/layout.c: where guest memory sits in guest-physical space.  Low RAM
 * from 0 up to the 32-bit hole at 3 GiB, the rest from 4 GiB; the other
 * regions above the RAM, each in one piece; the e820 map the guest is told;
 * and gm_memory_hva(), the one checked way from a guest-physical range to a
 * host pointer.  Pure functions, no system calls.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>

#include "mem/mem.h"

/* The EBDA/MP-table page below 640K and the legacy VGA/BIOS hole. */
#define E820_LOW_RAM_END UINT64_C(0x9fc00)
#define E820_HIGH_MEM    UINT64_C(0x100000)

unsigned gm_layout_regions(uint64_t ram_size, struct gm_mem_region out[GM_MEM_MAX_REGIONS])
{
	uint64_t low = ram_size < GM_LOW_RAM_END ? ram_size : GM_LOW_RAM_END;
	unsigned n = 0;

	if (low == 0)
		return 0;
	out[n++] = (struct gm_mem_region){ .gpa = 0, .size = low, .offset = 0, .slot = 0 };
	if (ram_size > GM_LOW_RAM_END)
		out[n++] = (struct gm_mem_region){
			.gpa = GM_HIGH_RAM_BASE,
			.size = ram_size - GM_LOW_RAM_END,
			.offset = GM_LOW_RAM_END,
			.slot = 1,
		};
	return n;
}

uint64_t gm_layout_end(uint64_t ram_size)
{
	if (ram_size <= GM_LOW_RAM_END)
		return ram_size;
	return GM_HIGH_RAM_BASE + (ram_size - GM_LOW_RAM_END);
}

static size_t add_entry(struct gm_e820_entry *out, size_t n, size_t max, uint64_t addr,
			uint64_t end, uint32_t type)
{
	if (end <= addr || n >= max)
		return n;
	out[n] = (struct gm_e820_entry){ .addr = addr, .size = end - addr, .type = type };
	return n + 1;
}

size_t gm_layout_e820(uint64_t ram_size, struct gm_e820_entry *out, size_t max)
{
	uint64_t low = ram_size < GM_LOW_RAM_END ? ram_size : GM_LOW_RAM_END;
	size_t n = 0;

	if (ram_size == 0 || !out)
		return 0;
	n = add_entry(out, n, max, 0, low < E820_LOW_RAM_END ? low : E820_LOW_RAM_END,
		      GM_E820_RAM);
	/* The reserved hole is listed even for tiny guests: the MP table and
	 * the VGA/BIOS range are there whatever the RAM size. */
	n = add_entry(out, n, max, E820_LOW_RAM_END, E820_HIGH_MEM, GM_E820_RESERVED);
	n = add_entry(out, n, max, E820_HIGH_MEM, low, GM_E820_RAM);
	if (ram_size > GM_LOW_RAM_END)
		n = add_entry(out, n, max, GM_HIGH_RAM_BASE, gm_layout_end(ram_size), GM_E820_RAM);
	return n;
}

size_t gm_memory_e820(const struct gm_memory *mem, struct gm_e820_entry *out, size_t max)
{
	if (!mem)
		return 0;
	if (mem->gpa)
		return add_entry(out, 0, out ? max : 0, mem->gpa, mem->gpa + mem->size, GM_E820_RAM);
	return gm_layout_e820(mem->size, out, max);
}

uint64_t gm_memory_end(const struct gm_memory *mem)
{
	if (!mem)
		return 0;
	return mem->gpa ? mem->gpa + mem->size : gm_layout_end(mem->size);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return v % a ? v + (a - v % a) : v;
}

int gm_layout_place_regions(uint64_t ram_size, struct gm_region_config *r, unsigned n, unsigned phys_bits,
			    struct gm_error *err)
{
	uint64_t next = gm_layout_end(ram_size);
	uint64_t limit = GM_MEM_MAX_END;
	char a[32], b[32];

	/* the CPU cannot address more; with 36 bits or fewer it also caps the boot map */
	if (phys_bits && phys_bits < 64 && (UINT64_C(1) << phys_bits) < limit)
		limit = UINT64_C(1) << phys_bits;
	for (unsigned i = 0; i < n; i++) {
		uint64_t align = r[i].mem.page_size > GM_PAGE_1G ? r[i].mem.page_size : GM_PAGE_1G;
		uint64_t size = r[i].mem.size, gpa = r[i].gpa ? r[i].gpa : align_up(next, align);
		const char *name = r[i].name;

		if (r[i].gpa && (gpa % GM_PAGE_4K || (r[i].mem.page_size && gpa % r[i].mem.page_size)))
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "region %s at 0x%" PRIx64 " is not aligned to its %s pages; its place is corrupt", name,
				       gpa, gm_mem_size_str(r[i].mem.page_size, a, sizeof(a)));
		if (gpa < next)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "region %s at 0x%" PRIx64 " overlaps %s below it (which ends at 0x%" PRIx64 "); regions go above the RAM, in order",
				       name, gpa, i ? r[i - 1].name : "the RAM", next);
		if (size > limit || gpa > limit - size)
			return gm_fail(err, GM_STATUS_BAD_INPUT, ERANGE,
				       "region %s would end at 0x%" PRIx64 ", past the %s the %s; use a smaller region, less --memory or fewer regions",
				       name, gpa + size, gm_mem_size_str(limit, a, sizeof(a)),
				       limit < GM_MEM_MAX_END ? "guest's CPU can address (its physical address width)"
							      : "boot page tables map");
		/* the IOAPIC, the LAPICs and KVM's real-mode pages live in the hole */
		if (gpa < GM_HIGH_RAM_BASE && gpa + size > GM_LOW_RAM_END)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "region %s at 0x%" PRIx64 " (%s) overlaps the 32-bit hole at 3G-4G (IOAPIC, LAPIC); make it end by 3G, or give --memory more than 3G so regions start above 4G",
				       name, gpa, gm_mem_size_str(size, b, sizeof(b)));
		r[i].gpa = gpa;
		next = gpa + size;
	}
	return 0;
}

const struct gm_mem_region *gm_layout_find(const struct gm_memory *mem, uint64_t gpa,
					   uint64_t len)
{
	if (!mem)
		return NULL;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct gm_mem_region *r = &mem->regions[i];

		/* Subtractions only, so no sum can wrap past UINT64_MAX. */
		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		if (len > r->size - (gpa - r->gpa))
			return NULL;
		return r;
	}
	return NULL;
}

void *gm_memory_hva(const struct gm_memory *mem, uint64_t gpa, uint64_t len)
{
	const struct gm_mem_region *r = gm_layout_find(mem, gpa, len);

	if (!r || !mem->host)
		return NULL;
	return (uint8_t *)mem->host + r->offset + (gpa - r->gpa);
}
