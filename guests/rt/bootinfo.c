/*
 * rt/bootinfo.c: the memory map and command line, read from whichever boot
 * structure we were entered with (Linux boot_params or PVH hvm_start_info),
 * copied into the image, plus the "free RAM" view (RAM above our image) and a
 * bump allocator over it for guests that need a work area.
 */
#include "layout.h"
#include "rt_priv.h"

#define E820_MAX    128
#define E820_RAM    1
#define PVH_MAGIC   0x336ec578u

static struct rt_range e820[E820_MAX];
static unsigned ne820;
static struct rt_range freeram[E820_MAX];
static unsigned nfree;

static uint64_t rd64(uint64_t a) { return *(const volatile uint64_t *)a; }
static uint32_t rd32(uint64_t a) { return *(const volatile uint32_t *)a; }
static uint8_t rd8(uint64_t a) { return *(const volatile uint8_t *)a; }

static void add_entry(uint64_t addr, uint64_t size, uint32_t type)
{
	if (ne820 < E820_MAX)
		e820[ne820++] = (struct rt_range){ addr, size, type };
}

static const char *read_linux64(uint64_t bp)
{
	unsigned n = rd8(bp + 0x1e8);

	for (unsigned i = 0; i < n && i < E820_MAX; i++) {
		uint64_t e = bp + 0x2d0 + 20 * i;
		add_entry(rd64(e), rd64(e + 8), rd32(e + 16));
	}
	uint32_t cmd = rd32(bp + 0x228);
	return cmd ? (const char *)(uint64_t)cmd : NULL;
}

static const char *read_pvh(uint64_t si)
{
	if (rd32(si) != PVH_MAGIC)
		return NULL;
	if (rd32(si + 4) >= 1) {
		uint64_t map = rd64(si + 40);
		unsigned n = rd32(si + 48);
		for (unsigned i = 0; map && i < n && i < E820_MAX; i++)
			add_entry(rd64(map + 24 * i), rd64(map + 24 * i + 8), rd32(map + 24 * i + 16));
	}
	uint64_t cmd = rd64(si + 24);
	return cmd ? (const char *)cmd : NULL;
}

void rt_bootinfo_init(void)
{
	const char *cmd = rt_boot_kind == BOOT_PVH ? read_pvh(rt_boot_info) : read_linux64(rt_boot_info);

	rt_cmdline_init(cmd);

	uint64_t low = rt_image_end();
	if (low < RT_MIB)
		low = RT_MIB;
	for (unsigned i = 0; i < ne820; i++) {
		if (e820[i].type != E820_RAM)
			continue;
		uint64_t start = e820[i].addr, end = e820[i].addr + e820[i].size;
		if (start < low)
			start = low;
		start = (start + RT_PAGE - 1) & ~(RT_PAGE - 1);
		end &= ~(RT_PAGE - 1);
		if (end > start)
			freeram[nfree++] = (struct rt_range){ start, end - start, E820_RAM };
	}
}

const char *rt_entry_name(void)
{
	return rt_boot_kind == BOOT_PVH ? "pvh" : "linux64";
}

unsigned rt_e820_count(void)
{
	return ne820;
}

const struct rt_range *rt_e820_entry(unsigned i)
{
	return i < ne820 ? &e820[i] : NULL;
}

uint64_t rt_ram_total(void)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < ne820; i++)
		if (e820[i].type == E820_RAM)
			total += e820[i].size;
	return total;
}

uint64_t rt_image_end(void)
{
	return ((uint64_t)_image_end + RT_PAGE - 1) & ~(RT_PAGE - 1);
}

unsigned rt_free_count(void)
{
	return nfree;
}

const struct rt_range *rt_free_range(unsigned i)
{
	return i < nfree ? &freeram[i] : NULL;
}

uint64_t rt_ram_alloc(uint64_t size, uint64_t align)
{
	if (!align)
		align = RT_PAGE;
	for (unsigned i = 0; i < nfree; i++) {
		struct rt_range *r = &freeram[i];
		uint64_t a = (r->addr + align - 1) & ~(align - 1);
		uint64_t end = r->addr + r->size;
		if (a >= r->addr && a <= end && end - a >= size) {
			r->size = end - (a + size);
			r->addr = a + size;
			return a;
		}
	}
	return 0;
}

uint64_t rt_ram_claim(uint64_t addr, uint64_t size)
{
	for (unsigned i = 0; i < nfree && size; i++) {
		struct rt_range *r = &freeram[i];
		uint64_t end = r->addr + r->size;

		if (addr < r->addr || addr >= end || size > end - addr)
			continue;
		/* what is left after the claim stays free; a piece below it needs a slot of its own */
		if (addr > r->addr && addr + size < end && nfree == E820_MAX)
			return 0;
		if (addr + size < end && addr > r->addr)
			freeram[nfree++] = (struct rt_range){ addr + size, end - (addr + size), E820_RAM };
		if (addr > r->addr)
			r->size = addr - r->addr;
		else {
			r->addr = addr + size;
			r->size = end - (addr + size);
		}
		return addr;
	}
	return 0;
}
