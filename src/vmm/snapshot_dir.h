/*
 * vmm/snapshot_dir: a snapshot directory appears whole or not at all.  It
 * is written as DIR.tmp-XXXXXX beside DIR and renamed when complete.  It
 * holds the state stream and one memory file per region, named after it.
 */
#ifndef GM_VMM_SNAPSHOT_DIR_H
#define GM_VMM_SNAPSHOT_DIR_H

#include <stddef.h>

#include "gmvm/error.h"

#define GM_SNAPSHOT_STATE_FILE "state"
#define GM_SNAPSHOT_RAM_FILE   "ram.mem"   /* the region "ram"'s, as every snapshot had it */

/* A region's memory file in a snapshot directory: NAME.mem ("ram.mem" for the RAM). */
void gm_snapshot_region_file(const char *region, char *out, size_t len);

/* Refuse an existing dir; make the temporary one beside it into tmp. */
int gm_snapshot_dir_begin(const char *dir, char *tmp, size_t len, struct gm_error *err);
/* r == 0: rename tmp to dir (and flush the parent); else remove tmp.  Returns r or the rename's failure. */
int gm_snapshot_dir_commit(const char *tmp, const char *dir, int r, struct gm_error *err);

#endif
