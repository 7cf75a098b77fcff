/*
 * mem/dirty_ring: KVM's dirty ring (KVM_CAP_DIRTY_LOG_RING), the other way
 * to learn which pages the guest wrote.  Each vCPU pushes (slot, page)
 * entries into a ring of its own, mapped from its fd; a harvest reads them,
 * hands them back (KVM_DIRTY_GFN_F_RESET, then KVM_RESET_DIRTY_RINGS, which
 * write-protects those pages again) and marks the pages in the bitmap of
 * the memory that owns the slot.
 *
 * The ring is the VM's (enabled before any vCPU exists) while slots are the
 * memories', so there is one set per VM and every gm_memory of that VM is
 * attached to it; entries are routed by slot number.  dirty.c uses the set
 * instead of KVM_GET_DIRTY_LOG when its memory is attached: with the ring
 * on, KVM keeps no bitmap at all.
 *
 * Threads: harvests of one ring are serialised by that ring's mutex (the
 * collector and the vCPU thread on KVM_EXIT_DIRTY_RING_FULL); routing holds
 * a read lock that gm_dirty_rings_route and detach take for writing, so a
 * memory's bitmap is never written after it was taken away.
 */
#ifndef GM_DIRTY_RING_H
#define GM_DIRTY_RING_H

#include <stdbool.h>
#include <stdint.h>

#include "gmvm/caps.h"
#include "gmvm/config.h"
#include "gmvm/error.h"

struct gm_memory;
struct gm_dirty_rings;

/*
 * Entries per vCPU ring by default: 1 MiB of ring each, the most x86 KVM
 * allows.  A guest that writes more distinct pages than its ring holds
 * exits to have it emptied, and every page emptied is write-protected
 * again: with 4096 entries a guest rewriting 96 MiB ran 5-8x slower than
 * with the bitmap (TCG rig); 65536 hold 256 MiB of pages between collects.
 */
#define GM_DIRTY_RING_ENTRIES 65536

/*
 * Whether a VM gets the ring for mode: AUTO takes it when the kernel has it;
 * RING without it is refused, naming the cap (GM_STATUS_NO_KERNEL).
 */
int gm_dirty_log_use_ring(enum gm_dirty_log mode, const struct gm_caps *caps, bool *ring,
			  struct gm_error *err);

/*
 * Enable the ring on vm_fd, which must have no vCPU yet, for vCPU ids below
 * max_vcpus.  bytes: each ring's size (a power of two, at least a page);
 * 0 for GM_DIRTY_RING_ENTRIES or the kernel's largest when smaller.
 * KVM_CAP_DIRTY_LOG_RING_ACQ_REL is preferred when caps has it.
 */
int gm_dirty_rings_create(int vm_fd, const struct gm_caps *caps, uint32_t bytes, unsigned max_vcpus,
			  struct gm_dirty_rings **out, struct gm_error *err);

/*
 * For a machine, after KVM_CREATE_VM and before any vCPU: the rings mode
 * asks for on this kernel (GM_DIRTY_RING_ENTRIES each), or *out = NULL for
 * the bitmap.
 */
int gm_dirty_rings_setup(enum gm_dirty_log mode, int vm_fd, const struct gm_caps *caps, unsigned max_vcpus,
			 struct gm_dirty_rings **out, struct gm_error *err);

/* Map vCPU id's ring from its fd, right after KVM_CREATE_VCPU. */
int gm_dirty_rings_add_vcpu(struct gm_dirty_rings *rs, unsigned id, int vcpu_fd, struct gm_error *err);

/*
 * Attach mem (a memory of this VM, before its tracking starts): its slots'
 * entries are routed to it from now on, and it harvests the rings instead
 * of reading slot bitmaps.  Its slot numbers must be its own in the VM.
 */
int gm_dirty_rings_attach(struct gm_dirty_rings *rs, struct gm_memory *mem, struct gm_error *err);

/* Forget mem; entries of its slots are dropped from then on. */
void gm_dirty_rings_detach(struct gm_dirty_rings *rs, struct gm_memory *mem);

/*
 * Where mem's pages go: bits (one bit per 4 KiB page of mem, set
 * atomically), or NULL to drop them.  For dirty.c's start and stop.
 */
void gm_dirty_rings_route(struct gm_dirty_rings *rs, struct gm_memory *mem, uint64_t *bits);

/*
 * Harvest every ring and reset the harvested entries; a page is marked only
 * after KVM write-protected it again, so a write after the mark makes a new
 * entry.  Safe beside running vCPUs and beside harvest_vcpu.
 */
int gm_dirty_rings_harvest(struct gm_dirty_rings *rs, struct gm_error *err);

/* The same for vCPU id's ring alone: on KVM_EXIT_DIRTY_RING_FULL, before KVM_RUN again. */
int gm_dirty_rings_harvest_vcpu(struct gm_dirty_rings *rs, unsigned id, struct gm_error *err);

/* Entries of each ring (for reports and tests). */
uint32_t gm_dirty_rings_entries(const struct gm_dirty_rings *rs);

/* Unmap the rings and detach every memory still attached.  NULL is fine. */
void gm_dirty_rings_destroy(struct gm_dirty_rings *rs);

#endif
