/*
 * The memtest work, shared by the memtest guest and the host baseline
 * (bench/host_touch.c) so both do exactly the same thing per word: write a
 * value derived from the word's address, then read every word back.  The
 * pattern is a bijection of the address, so aliasing and lost writes both
 * show.  Freestanding: only <stdint.h>.
 */
#ifndef MEMTEST_PATTERN_H
#define MEMTEST_PATTERN_H

#include <stdint.h>

static inline uint64_t pattern(uint64_t addr)
{
	uint64_t x = addr * 0x9e3779b97f4a7c15ull;

	return x ^ (x >> 29);
}

static inline uint64_t rotl(uint64_t v, unsigned n)
{
	return v << n | v >> (64 - n);
}

/* noinline: keep the two passes as separate loops, as they were measured */
static uint64_t __attribute__((noinline, unused)) fill(uint64_t start, uint64_t end, uint64_t sum)
{
	for (uint64_t a = start; a < end; a += 8) {
		uint64_t v = pattern(a);
		*(uint64_t *)a = v;
		sum = rotl(sum, 7) ^ v;
	}
	return sum;
}

/* Returns the first address that does not hold its pattern, 0 if none. */
static uint64_t __attribute__((noinline, unused)) check(uint64_t start, uint64_t end)
{
	for (uint64_t a = start; a < end; a += 8)
		if (*(volatile uint64_t *)a != pattern(a))
			return a;
	return 0;
}

#endif
