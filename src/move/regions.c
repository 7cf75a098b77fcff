/*
 * move/regions: the machine's memory as the engine moves it: every region
 * in index order (the stream's region numbers), as its host mapping and a
 * count of 4 KiB pages.
 */
#include "mem/mem.h"
#include "move/move.h"

unsigned gm_move_regions(struct gm_machine *m, struct gm_move_region *out, unsigned max)
{
	unsigned n = gm_machine_regions(m);

	n = n < max ? n : max;
	for (unsigned i = 0; i < n; i++) {
		struct gm_memory *mem = gm_machine_region(m, i);

		out[i] = (struct gm_move_region){ .mem = mem, .host = mem->host, .npages = mem->size / GM_MOVE_PAGE };
	}
	return n;
}
