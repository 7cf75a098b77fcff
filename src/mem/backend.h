/*
 * mem/backend.h: one ops table per backend (guest_memfd, memfd, anon) and
 * the host-mapping helpers they share.  A backend says what it can do from
 * the probed caps, so gm_memory_check() asks the backend, not a hard-coded
 * list.  Every op returns 0 or a negative errno and fills err.
 */
#ifndef GM_MEM_BACKEND_H
#define GM_MEM_BACKEND_H

#include <stdint.h>

#include "gmvm/caps.h"
#include "gmvm/config.h"
#include "gmvm/error.h"
#include "mem/mem.h"

/*
 * guest_memfd flags that give huge pages.  None is upstream yet (the HugeTLB
 * and THP series for guest_memfd are proposals whose bits may still move), so
 * the mask is empty and guest_memfd with hugepages is refused; when a flag
 * lands, add its bit here and the backend passes it when caps lists it.
 */
#define GM_GMEM_HUGE_FLAGS UINT64_C(0)

/* What gmvm itself needs from guest_memfd: a host mapping, shared at birth. */
#define GM_GMEM_NEEDED_FLAGS (GM_GMEM_FLAG_MMAP | GM_GMEM_FLAG_INIT_SHARED)

enum gm_backend_ability {
	GM_CAN_GMEM_BIND = 1u << 0, /* can be a KVM_MEM_GUEST_MEMFD memslot */
	GM_CAN_SHARE = 1u << 1,     /* has an fd another process can map */
	GM_CAN_HUGEPAGES = 1u << 2, /* 2M/1G pages (pool permitting) */
	GM_CAN_DIRTY_LOG = 1u << 3, /* dirty logging when bound mapped */
};

struct gm_backend_ops {
	const char *name; /* as on the command line */
	/* GM_CAN_* this backend offers on a kernel with these caps; pure. */
	unsigned (*abilities)(const struct gm_caps *caps);
	/* Make the backing object: sets mem->fd (stays -1 for anon). */
	int (*create)(struct gm_memory *mem, const struct gm_caps *caps, struct gm_error *err);
	/* Map all of it read-write at a page-size-aligned address: sets mem->host. */
	int (*map)(struct gm_memory *mem, struct gm_error *err);
	/* NUMA: bind future allocations to node; call before any page exists. */
	int (*set_node)(struct gm_memory *mem, int node, struct gm_error *err);
	/* Allocate every page now, so the guest never waits and never fails later. */
	int (*prealloc)(struct gm_memory *mem, struct gm_error *err);
	/* Free [offset, offset+len) of the backing; later reads give zeros. */
	int (*discard)(struct gm_memory *mem, uint64_t offset, uint64_t len,
		       struct gm_error *err);
	/* Release what create made (the mapping is the caller's). */
	void (*close)(struct gm_memory *mem);
};

extern const struct gm_backend_ops gm_backend_guest_memfd;
extern const struct gm_backend_ops gm_backend_memfd;
extern const struct gm_backend_ops gm_backend_anon;

/* The ops table for b, or NULL for an unknown value. */
const struct gm_backend_ops *gm_backend_ops(enum gm_backend b);

/* --- hostmap.c: helpers every backend uses ----------------------------- */

/*
 * mmap size bytes of fd (or anonymous when fd < 0, per flags) at an address
 * aligned to align.  Returns the address, or NULL with *errnum set.
 */
void *gm_hostmap_map(uint64_t size, uint64_t align, int prot, int flags, int fd, int *errnum);

/* mbind(MPOL_BIND, node) on mem's mapping: the set_node op of every backend. */
int gm_hostmap_set_node(struct gm_memory *mem, int node, struct gm_error *err);

/* MADV_POPULATE_WRITE the whole mapping: the prealloc op of memfd and anon. */
int gm_hostmap_populate(struct gm_memory *mem, struct gm_error *err);

/* Close mem->fd if open: the close op of fd-backed backends. */
void gm_hostmap_close_fd(struct gm_memory *mem);

/*
 * Discard by punching a hole in the fd: frees the pages for every mapper and
 * unmaps them everywhere, KVM included, so the guest reads zeros.
 */
int gm_hostmap_punch_hole(struct gm_memory *mem, uint64_t offset, uint64_t len, struct gm_error *err);

/*
 * Refuse a hugetlb mapping whose reservation failed (mmap ENOMEM): the pool
 * of mem's page size has too few free pages.  The map op of memfd and anon.
 */
int gm_hostmap_fail_pool(const struct gm_memory *mem, int e, struct gm_error *err);

/* The remedy for an exhausted hugetlb pool of mem's page size, for messages. */
const char *gm_hugetlb_sysctl(uint64_t page_size, char *buf, size_t len);

#endif
