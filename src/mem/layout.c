/*
 * mem/layout.c: where guest RAM sits in guest-physical space.  Low RAM from
 * 0 up to the 32-bit hole at 3 GiB, the rest from 4 GiB; the e820 map the
 * guest is told; and gm_memory_hva(), the one checked way from a
 * guest-physical range to a host pointer.  Pure functions, no system calls.
 */
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
	return mem ? gm_layout_e820(mem->size, out, max) : 0;
}

uint64_t gm_memory_end(const struct gm_memory *mem)
{
	return mem ? gm_layout_end(mem->size) : 0;
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
