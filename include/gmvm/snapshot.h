/*
 * Snapshots: a machine's whole state in a directory, and machines made
 * from one.  DIR/state is the state stream (docs/state-stream.md), and each
 * memory region has its file DIR/NAME.mem (DIR/ram.mem the RAM), sparse
 * where the guest never wrote.  A diff snapshot holds
 * only the pages written since the snapshot before it; a restore takes the
 * chain base, diff, diff...  See docs/snapshots.md.
 */
#ifndef GMVM_SNAPSHOT_H
#define GMVM_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "gmvm/caps.h"
#include "gmvm/config.h"
#include "gmvm/error.h"
#include "gmvm/machine.h"

enum gm_snapshot_kind { GM_SNAPSHOT_FULL, GM_SNAPSHOT_DIFF };

struct gm_snapshot_stats {
	uint64_t paused_us;    /* how long the guest stood still */
	uint64_t state_bytes;  /* DIR/state */
	uint64_t memory_bytes; /* guest RAM written (zero pages are not) */
};

/*
 * Write the machine's snapshot to dir, which must not exist yet (it is
 * written under a temporary name and renamed, so it appears whole or not
 * at all).  The guest is paused for it and resumed after, unless it was
 * paused already.  The first snapshot starts dirty tracking, so a diff can
 * follow; a diff before any snapshot is refused.
 */
int gm_machine_snapshot(struct gm_machine *m, const char *dir, enum gm_snapshot_kind kind,
			struct gm_snapshot_stats *stats, struct gm_error *err);

/* A chain of snapshot directories, read and checked whole (nothing else is touched). */
struct gm_snapshot;
int gm_snapshot_open(const char *const *dirs, unsigned n, struct gm_snapshot **out, struct gm_error *err);
void gm_snapshot_close(struct gm_snapshot *s);

/*
 * The config the snapshot was taken with: vCPUs, RAM size, page size and
 * backend, every other region (name, size, page size, backend, place), the
 * UUID, the command line.  The caller may then change what a restore may
 * change (backends, binding, prealloc, console, uuid for a clone).
 */
void gm_snapshot_config(const struct gm_snapshot *s, struct gm_config *cfg);

/*
 * The config `gmvm run --restore` uses: user's options over the snapshot's
 * config.  --memory (user->mem.given) restores the RAM onto other memory, a
 * --region of a region the snapshot has restores that one onto other memory
 * (sizes and places stay the snapshot's); a region not given stays as
 * snapshotted.  A --region the snapshot lacks is refused, naming its
 * regions.  new_identity drops the UUID, uuid replaces it.
 */
int gm_snapshot_restore_config(const struct gm_snapshot *s, const struct gm_config *user, struct gm_config *out,
			       struct gm_error *err);

enum gm_restore_mode {
	GM_RESTORE_COPY,     /* fill fresh memory from the files, in parallel */
	GM_RESTORE_MAP,      /* map the file privately: pages load on first touch (memfd, anon) */
	GM_RESTORE_ONDEMAND, /* userfaultfd serves pages on first touch (memfd, anon) */
};

/*
 * Build a machine from the snapshot with cfg (which must keep the
 * snapshot's vCPU count and regions: names, sizes, places), fill every
 * region, start it paused and load every vCPU and device.  The machine is left paused: resume it
 * with gm_machine_resume.
 */
int gm_machine_restore(const struct gm_config *cfg, const struct gm_caps *caps, const struct gm_snapshot *s,
		       enum gm_restore_mode mode, struct gm_machine **out, struct gm_error *err);

/* Fold a chain into one full snapshot at out (which must not exist). */
int gm_snapshot_merge(const struct gm_snapshot *s, const char *out, struct gm_error *err);

#endif
