/*
 * vmm/give_back: memory the guest gives back (a balloon's inflate, a free
 * page report).  The range is rounded INWARD to the backing's page size:
 * a hugetlb region frees only the whole huge pages inside, because half a
 * huge page cannot be freed; the rest stays as it was (the guest promised
 * not to read it, so nothing is lost but host memory).  Runs on vCPU
 * threads and takes no machine-wide lock: regions are re-homed only while
 * every vCPU is parked, and dirty marks are safe beside a collect.
 */
#include <errno.h>
#include <inttypes.h>

#include "vmm/vmm.h"

int gm_machine_give_back(struct gm_machine *m, uint64_t gpa, uint64_t len, uint64_t *freed, struct gm_error *err)
{
	struct gm_memory *mem = NULL;
	uint64_t ps, start, end;
	int r;

	*freed = 0;
	for (unsigned i = 0; i < m->nmems && !mem; i++)
		if (len && gm_memory_hva(m->mems[i], gpa, len))
			mem = m->mems[i];
	if (!mem)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "giving back 0x%" PRIx64 "+0x%" PRIx64 ": not guest RAM of one region; the guest's driver sent a bad range",
			       gpa, len);
	ps = gm_memory_page_size(mem);
	/* gpa + len cannot wrap: gm_memory_hva checked the range is inside the memory */
	start = (gpa + ps - 1) / ps * ps;
	end = (gpa + len) / ps * ps;
	if (end <= start)
		return 0;
	r = gm_memory_discard(mem, start, end - start, err);
	if (r)
		return r;
	/* a migration or diff snapshot must carry these pages as zero now */
	gm_memory_dirty_mark_gpa(mem, start, end - start);
	*freed = end - start;
	return 0;
}
