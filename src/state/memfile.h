/*
 * state/memfile: the memory files of a snapshot directory.  A region's
 * memory is kept as a plain file the size of the region, byte for byte, with
 * zero pages left as holes: the file needs disk only for what the guest
 * used, can be mapped or read back in parallel, and any tool can look at it.
 * A diff (a bitmap of pages) writes and reads only the pages it names.
 */
#ifndef GM_STATE_MEMFILE_H
#define GM_STATE_MEMFILE_H

#include <stdint.h>

#include "gmvm/error.h"

/* The page of memory files and of their bitmaps. */
#define GM_MEMFILE_PAGE 4096u
#define GM_MEMFILE_MAX_THREADS 16u

/*
 * Write [0, size) of host memory base to path (created 0600, truncated,
 * ftruncate'd to size so it is sparse): pages that are all zero are skipped
 * (left as holes); bitmap (page granularity 4 KiB, bit i = page i) limits it
 * to set bits when not NULL.  size is a multiple of 4 KiB.  Reports bytes
 * written.  Does not fsync: the caller decides when the snapshot is durable.
 */
int gm_memfile_write(const char *path, const uint8_t *base, uint64_t size,
		     const uint64_t *bitmap, uint64_t *written, struct gm_error *err);

/*
 * Copy a memory file into base (size bytes; the file must be exactly size
 * long), reading only the data extents (SEEK_DATA/SEEK_HOLE), with `threads`
 * threads in parallel (1..16).  Holes are left alone (the caller's memory is
 * fresh, i.e. zero).  bitmap, when not NULL, limits it to those pages (for a
 * diff: a page dirtied to zero is in the bitmap and must be zeroed, not
 * skipped).
 */
int gm_memfile_read(const char *path, uint8_t *base, uint64_t size, const uint64_t *bitmap,
		    unsigned threads, struct gm_error *err);

#endif
