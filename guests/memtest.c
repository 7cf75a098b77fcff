/*
 * memtest: writes every free RAM page (e820 RAM at or above max(1 MiB, end
 * of our image)) with a value derived from each 8-byte word's physical
 * address, then reads it all back.  The pattern is a bijection of the
 * address, so aliasing and lost writes both show.  Runs at CPL3, natively.
 *
 * With `memtest.ranges` on the command line it first lists what it tests,
 * one line per free RAM range (a --region's range among them):
 *
 *   memtest: range 0x<16 hex> size 0x<16 hex>
 *   memtest: start pages=N
 *   memtest: ok pages=N checksum=0x<16 hex> MB/s=N
 *   memtest: FAIL at 0x<addr> expected 0x<16 hex> got 0x<16 hex>   (exit 0x10)
 */
#include "rt.h"
#include "memtest_pattern.h"

int main(void)
{
	uint64_t bytes = 0, sum = 0;
	unsigned n = rt_free_count();

	for (unsigned i = 0; i < n; i++) {
		bytes += rt_free_range(i)->size;
		if (rt_param("memtest.ranges"))
			rt_printf("memtest: range 0x%016lx size 0x%016lx\n", (unsigned long)rt_free_range(i)->addr,
				  (unsigned long)rt_free_range(i)->size);
	}
	rt_printf("memtest: start pages=%lu\n", (unsigned long)(bytes / RT_PAGE));

	uint64_t t0 = rt_rdtsc();
	for (unsigned i = 0; i < n; i++) {
		const struct rt_range *r = rt_free_range(i);
		sum = fill(r->addr, r->addr + r->size, sum);
	}
	__asm__ volatile("" ::: "memory");
	for (unsigned i = 0; i < n; i++) {
		const struct rt_range *r = rt_free_range(i);
		uint64_t bad = check(r->addr, r->addr + r->size);
		if (bad) {
			rt_printf("memtest: FAIL at 0x%lx expected 0x%016lx got 0x%016lx\n", (unsigned long)bad,
				  (unsigned long)pattern(bad), (unsigned long)*(volatile uint64_t *)bad);
			return RT_EXIT_FAIL;
		}
	}
	uint64_t cycles = rt_rdtsc() - t0;

	/* RAM tested (written once, read once) per second of the two passes */
	uint64_t khz = rt_tsc_khz();
	uint64_t mbs = khz && cycles ? bytes * khz / cycles / 1000 : 0;
	rt_printf("memtest: ok pages=%lu checksum=0x%016lx MB/s=%lu\n", (unsigned long)(bytes / RT_PAGE),
		  (unsigned long)sum, (unsigned long)mbs);
	return 0;
}
