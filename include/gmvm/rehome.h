/*
 * Re-homing: a running guest's memory region moved onto a new memory object
 * (another backend, page size, NUMA node, or simply a fresh compact copy)
 * while the guest runs.  The copy goes in dirty rounds, as a live
 * migration's precopy does, with a local memory object as the destination;
 * then one short pause copies the rest, rebinds the region's memslots to
 * the new object and frees the old one.  See docs/memory.md.
 */
#ifndef GMVM_REHOME_H
#define GMVM_REHOME_H

#include <stdbool.h>
#include <stdint.h>

#include "gmvm/error.h"
#include "gmvm/machine.h"

struct gm_rehome_params {
	const char *region;     /* "ram" or a --region name; NULL: "ram" */
	/*
	 * The new memory, as --memory keys without size ("backend=memfd,
	 * hugepages=2M,numa-node=0,prealloc=on,movable=off"); every key not
	 * given keeps the region's current setting.  NULL or "": the same
	 * settings, a fresh object (compaction).
	 */
	const char *memory;
	unsigned downtime_ms;   /* the pause to aim for, 1..60000 (0: 10) */
	unsigned timeout_s;     /* the whole re-home, 0: no limit */
};

enum gm_rehome_phase {
	GM_REHOME_NONE,       /* none has run */
	GM_REHOME_PREPARING,  /* checks, the new object made (and preallocated) */
	GM_REHOME_COPYING,    /* rounds while the guest runs */
	GM_REHOME_SWITCHING,  /* paused: the rest, then the memslots rebound */
	GM_REHOME_COMPLETED,
	GM_REHOME_FAILED,     /* the guest runs on its old memory, untouched */
	GM_REHOME_CANCELLED,
};

/* Where a re-home stands (the last one, once it ended). */
struct gm_rehome_progress {
	enum gm_rehome_phase phase;
	char region[16];
	char from[64], to[64];    /* "memfd 4K", "memfd 2M node 0", ... */
	unsigned round;
	uint64_t pages_total;     /* 4 KiB pages of the region */
	uint64_t pages_left;      /* dirty, still to copy */
	uint64_t pages_copied;    /* in all rounds */
	uint64_t pages_skipped;   /* never written (holes): not copied, not allocated */
	double copy_mbps;         /* MB/s (10^6 bytes) over the last round */
	unsigned throttle_pct;    /* the share of time the vCPUs are held (auto-converge) */
	uint64_t resident_before; /* bytes the old object held when it began */
	uint64_t resident_after;  /* bytes the new object holds when it ended */
	double elapsed_ms;
	double pause_ms;          /* completed: the one pause of the guest */
	char error[512];          /* failed or cancelled: why */
};

/* "none", "preparing", "copying", ... */
const char *gm_rehome_phase_name(enum gm_rehome_phase p);

/*
 * Re-home one region of m, blocking until done.  Every impossible target
 * (a backend or page size this kernel lacks, a hugetlb pool too small, a
 * missing NUMA node, a size change) is refused before anything is
 * allocated or copied.  On success the region's memslots point at the new
 * object and the old one is freed.  On any failure (out of memory midway,
 * the timeout, a cancel) the guest runs on its old memory as it was, and
 * err says why.  -EBUSY while a migration, snapshot or another re-home runs.
 */
int gm_machine_rehome(struct gm_machine *m, const struct gm_rehome_params *p, struct gm_rehome_progress *result,
		      struct gm_error *err);

/* Stop a running re-home (from another thread); -ESRCH when none runs. */
int gm_machine_rehome_cancel(struct gm_machine *m, struct gm_error *err);

/* A consistent copy of where the current (or last) re-home stands. */
void gm_machine_rehome_progress(struct gm_machine *m, struct gm_rehome_progress *out);

#endif
