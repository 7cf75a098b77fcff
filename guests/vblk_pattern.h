/*
 * What the vblk guest writes into each 512-byte sector, shared with the
 * host tests that check the disk file afterwards: 64 words, each derived
 * from the seed, the sector and the word's place, so a lost, misplaced or
 * stale write shows.  And the checksum both sides compute over a run of
 * sectors (FNV-1a, 32 bits).  Freestanding: only <stdint.h>.
 */
#ifndef VBLK_PATTERN_H
#define VBLK_PATTERN_H

#include <stdint.h>

static inline uint64_t vblk_word(uint64_t seed, uint64_t sector, unsigned i)
{
	uint64_t x = (seed * 0x100000001b3ull) ^ (sector * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)i << 56 | i);

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ull;
	return x ^ (x >> 29);
}

static inline void vblk_fill(uint64_t *sec, uint64_t seed, uint64_t sector)
{
	for (unsigned i = 0; i < 64; i++)
		sec[i] = vblk_word(seed, sector, i);
}

static inline uint32_t vblk_fnv(uint32_t h, const uint8_t *p, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

#define VBLK_FNV_START 2166136261u

#endif
