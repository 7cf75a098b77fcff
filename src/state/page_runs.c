/*
 * state/page_runs: the runs of pages worth writing, for memory files and
 * PAGES sections alike: pages the bitmap selects (all when there is none)
 * that are not all zero, cut at max_run pages.  A clear bitmap word skips
 * 64 pages without looking at them, which is what makes a small diff of a
 * big guest cheap.
 */
#include "state/state_internal.h"

static bool wanted(const uint64_t *bitmap, uint64_t i)
{
	return !bitmap || (bitmap[i / 64] >> (i % 64) & 1);
}

int gm_page_runs(const uint8_t *base, uint64_t page_size, uint64_t npages, const uint64_t *bitmap,
		 uint64_t max_run, int (*emit)(void *opaque, uint64_t start, uint64_t run),
		 int (*emit_zero)(void *opaque, uint64_t start, uint64_t run), void *opaque)
{
	uint64_t run = 0, start = 0, zrun = 0, zstart = 0;
	int r = 0;

	for (uint64_t i = 0; i <= npages && r == 0; i++) {
		bool take, zero = false;

		if (bitmap && i % 64 == 0 && i + 64 <= npages && bitmap[i / 64] == 0) {
			take = false;
			i += 63;
		} else {
			take = i < npages && wanted(bitmap, i);
			zero = take && gm_page_zero(base + i * page_size, page_size);
			take = take && !zero;
		}
		if (run && (!take || run == max_run)) {
			r = emit(opaque, start, run);
			run = 0;
		}
		zero = zero && emit_zero;
		if (r == 0 && zrun && (!zero || zrun == UINT32_MAX)) {
			r = emit_zero(opaque, zstart, zrun);
			zrun = 0;
		}
		if (take && run++ == 0)
			start = i;
		if (zero && zrun++ == 0)
			zstart = i;
	}
	return r;
}
