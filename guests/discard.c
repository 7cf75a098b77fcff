/*
 * discard: fills a 2 MiB-aligned region of RAM above the image with 0x5a,
 * announces it, then waits for the VMM to discard it (punch a hole) and for
 * every byte to read back as zero.
 *
 * Params: discard.mb=N (8) region size in MiB.
 *
 *   discard: ready gpa=0x<addr> len=0x<len>
 *   discard: zeros seen                        (exit 0)
 *   discard: timeout                           (no progress for ~60 s; exit 0x10)
 *   discard: FAIL at 0x<addr> got 0x<16 hex>   (exit 0x10)
 */
#include "rt.h"

#define FILL 0x5a5a5a5a5a5a5a5aull
#define IDLE_SECONDS 60
#define IDLE_PASSES  20000000ull	/* without a clock */

static uint64_t zero_pages(uint64_t base, uint64_t pages)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < pages; i++) {
		const volatile uint64_t *p = (const volatile uint64_t *)(base + i * RT_PAGE);
		n += p[0] == 0 && p[RT_PAGE / 8 - 1] == 0;
	}
	return n;
}

int main(void)
{
	uint64_t len = rt_param_u64("discard.mb", 8) * RT_MIB;
	uint64_t pages = len / RT_PAGE;
	uint64_t base = len ? rt_ram_alloc(len, 2 * RT_MIB) : 0;

	if (!base) {
		rt_printf("discard: not enough RAM for discard.mb=%lu\n", (unsigned long)(len / RT_MIB));
		return RT_EXIT_FAIL;
	}
	for (uint64_t a = base; a < base + len; a += 8)
		*(volatile uint64_t *)a = FILL;
	rt_printf("discard: ready gpa=0x%lx len=0x%lx\n", (unsigned long)base, (unsigned long)len);

	uint64_t khz = rt_tsc_khz();
	uint64_t last = 0, since = rt_rdtsc(), passes = 0;
	for (;;) {
		uint64_t z = zero_pages(base, pages);
		if (z == pages)
			break;
		if (z != last) {
			last = z;
			since = rt_rdtsc();
			passes = 0;
		} else if (khz ? rt_rdtsc() - since > IDLE_SECONDS * khz * 1000 : ++passes > IDLE_PASSES) {
			rt_printf("discard: timeout\n");
			return RT_EXIT_FAIL;
		}
		__asm__ volatile("pause");
	}
	for (uint64_t a = base; a < base + len; a += 8) {
		uint64_t v = *(volatile uint64_t *)a;
		if (v) {
			rt_printf("discard: FAIL at 0x%lx got 0x%016lx\n", (unsigned long)a, (unsigned long)v);
			return RT_EXIT_FAIL;
		}
	}
	rt_printf("discard: zeros seen\n");
	return 0;
}
