/*
 * mem/: the memory plane's internal view of a gm_memory.  Other rooms use
 * include/gmvm/memory.h; this header is for src/mem/ and for code (dirty
 * tracking, state save/load) that must see regions, slots and identity.
 */
#ifndef GM_MEM_H
#define GM_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmvm/memory.h"
#include "util/guest_map.h"

/* Layout ranges of one memory object (and so memslots): the RAM has two. */
#define GM_MEM_MAX_REGIONS 2


#define GM_MEM_REGION_NAME "ram"

/*
 * One layout range of a memory object: where the guest sees it, where it is
 * in the fd.  Not a region in the machine's sense (a named memory object):
 * the RAM is one region of two ranges, every other region one range.
 */
struct gm_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t offset; /* into the fd and into the host mapping */
	uint32_t slot;   /* KVM memslot number */
};

struct gm_backend_ops;

/*
 * Dirty tracking (dirty.c).  The bitmaps count 4 KiB pages of the memory
 * object (fd offset / 4096), whatever the backing page size, because that is
 * KVM's unit.
 */
struct gm_mem_dirty {
	bool active;
	bool manual;            /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled on vm_fd */
	enum gm_bind restore;   /* the binding gm_memory_dirty_stop goes back to */
	uint64_t *host_bits;    /* pages the host wrote, and logs saved from deleted slots */
	uint64_t *scratch;      /* one slot's bitmap as KVM_GET_DIRTY_LOG fills it */
	struct gm_dirty_rings *rings; /* the VM's dirty rings when attached (dirty_ring.h): no bitmap log */
};

/* What pinning (movable=off, pin.c) applied to the mapping, for vm.info. */
#define GM_MEM_PIN_MAX 6
struct gm_mem_pin {
	bool locked;               /* mlock'ed: discards must unlock around MADV_DONTNEED */
	unsigned n;
	const char *applied[GM_MEM_PIN_MAX]; /* static strings: "mlock2(MLOCK_ONFAULT)", ... */
};

struct gm_memory {
	struct gm_mem_config cfg;  /* copy; cfg.bind is the effective binding */
	const struct gm_backend_ops *ops;
	int fd;                    /* -1 for anon */
	void *host;                /* the whole fd, mapped once */
	uint64_t size;
	uint64_t page_size;
	int vm_fd;                 /* not owned; must outlive the memory */
	struct gm_mem_region regions[GM_MEM_MAX_REGIONS];
	unsigned nr_regions;
	uint64_t gpa;              /* 0: the RAM's layout; else one range from here (gm_memory_place) */
	enum gm_bind binding;      /* current mode, or the one bind will use */
	bool bound;
	bool file_private;         /* RAM is a private mapping of a snapshot file (filemap.c) */
	bool foreign_gmem;         /* a guest_memfd another VM created (import.c): bindable mapped only */
	bool imported;             /* another process's memory object (import.c): our page tables know none of it */
	uint8_t uuid[16];          /* the owning VM's UUID (gm_memory_set_identity) */
	char name[16];             /* region name within that VM: "ram" */
	struct gm_mem_dirty dirty;
	struct gm_mem_pin pin;
};

/*
 * Split ram_size into the low region (gpa 0, up to 3 GiB, fd offset 0) and
 * the high one (gpa 4 GiB, fd offset 3 GiB).  Returns the number of regions.
 */
unsigned gm_layout_regions(uint64_t ram_size, struct gm_mem_region out[GM_MEM_MAX_REGIONS]);

/* Highest guest-physical RAM address plus one for ram_size bytes of RAM. */
uint64_t gm_layout_end(uint64_t ram_size);

/*
 * Place the regions above RAM of ram_size, in order: each at the next
 * multiple of max(1 GiB, its page size) past the end of the one before (a
 * region whose gpa is set keeps it, after the same checks: a restore's).
 * Refuses, naming the region, one that is misaligned, overlaps the RAM,
 * another region or the 32-bit hole, ends past GM_MEM_MAX_END (what the
 * boot page tables map) or past phys_bits of address.
 */
int gm_layout_place_regions(uint64_t ram_size, struct gm_region_config *r, unsigned n, unsigned phys_bits,
			    struct gm_error *err);

/* The region holding all of [gpa, gpa+len), or NULL (overflow-safe). */
const struct gm_mem_region *gm_layout_find(const struct gm_memory *mem, uint64_t gpa,
					   uint64_t len);

/* The binding a config asks for: bind= when given, else what the backend can do. */
enum gm_bind gm_mem_effective_bind(const struct gm_mem_config *cfg);

/* "3G", "2050M", "12K" or "12345" (bytes): the largest unit that divides exactly. */
const char *gm_mem_size_str(uint64_t bytes, char *buf, size_t len);

/*
 * Delete every memslot of a bound memory; 0 or the first error.  While the
 * slots log dirty pages, their logs are saved first (gm_mem_dirty_save).
 */
int gm_mem_unbind(struct gm_memory *mem, struct gm_error *err);

/*
 * Switch a memory to mode (as gm_memory_rebind, but without recording mode
 * as the binding dirty tracking goes back to).  For dirty.c.
 */
int gm_mem_rebind(struct gm_memory *mem, enum gm_bind mode, struct gm_error *err);

/* Turn KVM_MEM_LOG_DIRTY_PAGES on or off on every slot of a mapped binding, in place. */
int gm_mem_set_dirty_log(struct gm_memory *mem, bool on, struct gm_error *err);

/*
 * Fetch every slot's dirty log (or harvest the VM's dirty rings) into the
 * host-writes bitmap, so that pages the guest wrote survive a slot being
 * deleted (binding.c, before unbind).
 */
int gm_mem_dirty_save(struct gm_memory *mem, struct gm_error *err);

/*
 * Free the tracking bitmaps and leave the VM's dirty rings; for
 * gm_memory_destroy (tracking need not be stopped).
 */
void gm_mem_dirty_free(struct gm_memory *mem);

/* The 16-byte VM UUID and region name that identify this memory. */
const uint8_t *gm_memory_uuid(const struct gm_memory *mem);
const char *gm_memory_name(const struct gm_memory *mem);

/* filemap.c: free [offset, offset+len) of file-private RAM: zero pages, not the file's. */
int gm_mem_file_private_discard(struct gm_memory *mem, uint64_t offset, uint64_t len, struct gm_error *err);

/*
 * Make [offset, offset+len) of mem read zero (a migration's zero run):
 * the whole backing pages inside are freed (discard), the edges written
 * with zeros, so a page that became zero costs no memory here.  Falls back
 * to writing zeros everywhere when the backing cannot free.  The caller
 * checked the range.
 */
void gm_memory_zero(struct gm_memory *mem, uint64_t offset, uint64_t len);

/* --- adopt.c: re-homing a region onto a new memory object --------------- */

/*
 * Give mem the backing of fresh (an unbound memory of the same size made
 * for the same VM): mem stays the same struct with its identity,
 * placement and dirty state; its slots are deleted (logs saved) and made
 * again on the new backing, mapped while tracking is on (a guest_memfd
 * target then goes back to gmem when tracking stops).  On success fresh
 * holds the old backing, for gm_memory_destroy; on failure nothing
 * changed and mem is bound as before.  The vCPUs must be held.
 */
int gm_memory_adopt(struct gm_memory *mem, struct gm_memory *fresh, struct gm_error *err);

/*
 * Set in bm (one bit per 4 KiB page, cleared first) every page of mem that
 * may hold data: SEEK_DATA for fds (page cache residency for guest_memfd,
 * which cannot seek), present or swapped in /proc/self/pagemap for anon,
 * every page of a private file mapping.  Nothing is read or faulted in.
 */
int gm_memory_data_pages(const struct gm_memory *mem, uint64_t *bm, struct gm_error *err);

/* Bytes mem's backing holds now (fd: its blocks; anon: pages present or swapped). */
uint64_t gm_memory_resident(const struct gm_memory *mem);
/*
 * Fill this mapping's page tables for the pages the memory holds now (a
 * live update's new process, before the guest resumes on it), so the guest
 * does not fault them in one by one.  Only resident pages: a hole populated
 * would be memory the guest never had; mincore on the shared mapping says
 * which (hugetlb reports only this mapping's own tables: nothing there).
 * Best effort, for at most budget_ns; the rest faults in later.
 */
void gm_memory_prefault(struct gm_memory *mem, uint64_t budget_ns);

/*
 * Allocate [offset, offset+len) of mem (rounded out to its pages) with
 * MADV_POPULATE_WRITE, so a backing that runs out says so here rather
 * than by SIGBUS on the next write.  0 or -errno, no message.
 */
int gm_memory_populate(struct gm_memory *mem, uint64_t offset, uint64_t len);
/* The message for a populate of mem that failed with errno e: what ran out and the remedy. */
int gm_memory_populate_fail(const struct gm_memory *mem, int e, struct gm_error *err);

/* caps' hugetlb pools as they are now (free less reserved), not as probed at start. */
struct gm_caps;
void gm_mem_pools_refresh(struct gm_caps *caps);

/* "memfd 2M", "guest-memfd 4K node 0": what a config's memory is, for messages. */
const char *gm_mem_config_describe(const struct gm_mem_config *cfg, char *buf, size_t len);

/*
 * Pinning (pin.c), for memfd and anon memory with movable=off; no-ops
 * otherwise.  _advise before any page is allocated (THP, KSM, NUMA
 * balancing advice), _lock after prealloc (mlock, or mlock2 MLOCK_ONFAULT
 * without prealloc).  _redo applies both again to [offset, offset+len) after
 * a mapping there was replaced (file-private restore, discards).
 */
int gm_mem_pin_advise(struct gm_memory *mem, struct gm_error *err);
int gm_mem_pin_lock(struct gm_memory *mem, struct gm_error *err);
int gm_mem_pin_redo(struct gm_memory *mem, uint64_t offset, uint64_t len, struct gm_error *err);
void gm_mem_pin_info(const struct gm_memory *mem, struct gm_memory_info *out);

/* Bytes movable=off locks for this config: 4K memfd/anon pinned regions only. */
uint64_t gm_mem_pinned_bytes(const struct gm_mem_config *cfg);
/* Refuse (status 2, the limit and how to raise it) when need locked bytes pass RLIMIT_MEMLOCK; what pins them starts the line. */
int gm_mem_check_memlock(uint64_t need, const struct gm_caps *caps, const char *what, struct gm_error *err);

/* A memory object with cfg's fields set and no backing yet (fd -1, not mapped): create's and import's start; NULL when out of memory. */
struct gm_memory *gm_mem_alloc(const struct gm_mem_config *cfg, int vm_fd, struct gm_error *err);

/* The layout regions (for dirty logging, state save). */
const struct gm_mem_region *gm_memory_regions(const struct gm_memory *mem, unsigned *n);

#endif
