/*
 * mem/backend_guest_memfd.c: guest RAM in a KVM guest_memfd, the default.
 * Memory that exists for the guest: unmovable, unswappable, out of KSM's
 * and NUMA balancing's reach.  It is created shared (INIT_SHARED) and
 * mmap-able (MMAP) because the host loads the guest image and KVM's
 * instruction emulator reads guest memory through the host mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>

#include "kvm/kvm.h"
#include "mem/backend.h"

#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif

static unsigned gmem_abilities(const struct gm_caps *caps)
{
	unsigned can = GM_CAN_SHARE;

	if (caps->guest_memfd && caps->user_memory2 &&
	    (caps->gmem_flags & GM_GMEM_NEEDED_FLAGS) == GM_GMEM_NEEDED_FLAGS)
		can |= GM_CAN_GMEM_BIND;
	if (caps->gmem_flags & GM_GMEM_HUGE_FLAGS)
		can |= GM_CAN_HUGEPAGES;
	/* Dirty logging only when bound as an ordinary (mapped) slot. */
	if (caps->dirty_log)
		can |= GM_CAN_DIRTY_LOG;
	return can;
}

static int gmem_create(struct gm_memory *mem, const struct gm_caps *caps, struct gm_error *err)
{
	/* Only flags gmvm needs and the kernel lists: other flags change
	 * semantics (NO_DIRECT_MAP hides pages from the kernel) and are opt-in. */
	uint64_t flags = GM_GMEM_NEEDED_FLAGS;
	int fd;

	if (mem->page_size != GM_PAGE_4K)
		flags |= caps->gmem_flags & GM_GMEM_HUGE_FLAGS;
	/* direct-map=off (gm_memory_check made sure the kernel lists it): the
	 * folios leave the kernel's direct map; gmvm reaches them through its
	 * user mapping only (gm_memory_hva), which keeps working. */
	if (mem->cfg.no_direct_map)
		flags |= GM_GMEM_FLAG_NO_DIRECT_MAP;
	if (mem->vm_fd < 0)
		return gm_fail(err, GM_STATUS_FAILURE, EBADF,
			       "guest_memfd memory needs the VM fd; create the VM before its memory");
	fd = gm_kvm_create_guest_memfd(mem->vm_fd, mem->size, flags, err);
	if (fd < 0)
		return fd;
	mem->fd = fd;
	return 0;
}

static int gmem_map(struct gm_memory *mem, struct gm_error *err)
{
	int e = 0;

	/* guest_memfd allows MAP_SHARED only: there is no private copy of guest memory. */
	mem->host = gm_hostmap_map(mem->size, mem->page_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				   mem->fd, &e);
	if (mem->host)
		return 0;
	if (e == ENODEV)
		return gm_fail(err, GM_STATUS_NO_KERNEL, e,
			       "this kernel's guest_memfd cannot be mapped by the host (mmap: ENODEV); use backend=memfd");
	return gm_fail(err, GM_STATUS_FAILURE, e, "mmap of the guest_memfd failed: %s; check ulimit -v",
		       strerror(e));
}

static int gmem_prealloc(struct gm_memory *mem, struct gm_error *err)
{
	/* KEEP_SIZE alone allocates; guest_memfd refuses any mode without it. */
	if (fallocate(mem->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)mem->size) == 0)
		return 0;
	if (errno == ENOMEM || errno == ENOSPC)
		return gm_fail(err, GM_STATUS_FAILURE, errno,
			       "preallocating guest_memfd memory failed: %s, the host is out of memory; use a smaller size or drop prealloc",
			       strerror(errno));
	return gm_fail(err, GM_STATUS_FAILURE, errno,
		       "preallocating guest_memfd memory (fallocate) failed: %s; drop prealloc",
		       strerror(errno));
}

const struct gm_backend_ops gm_backend_guest_memfd = {
	.name = "guest-memfd",
	.abilities = gmem_abilities,
	.create = gmem_create,
	.map = gmem_map,
	.set_node = gm_hostmap_set_node,
	.prealloc = gmem_prealloc,
	.discard = gm_hostmap_punch_hole,
	.close = gm_hostmap_close_fd,
};
