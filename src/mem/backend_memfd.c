/*
 * mem/backend_memfd.c: guest RAM in a memfd: shmem with 4K pages, hugetlbfs
 * with 2M or 1G pages.  The fd can be passed to another process (live
 * update, migration helpers); the mapping is MAP_SHARED so every mapper,
 * and KVM through any of them, sees the same pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem/backend.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif

static unsigned memfd_abilities(const struct gm_caps *caps)
{
	unsigned can = GM_CAN_SHARE;

	if (caps->n_hugetlb > 0)
		can |= GM_CAN_HUGEPAGES;
	if (caps->dirty_log)
		can |= GM_CAN_DIRTY_LOG;
	return can;
}

static unsigned page_shift(uint64_t page_size)
{
	return (unsigned)__builtin_ctzll(page_size);
}

static int memfd_create_op(struct gm_memory *mem, const struct gm_caps *caps,
			   struct gm_error *err)
{
	unsigned flags = MFD_CLOEXEC;
	char p[32];
	int fd;

	(void)caps;
	if (mem->page_size != GM_PAGE_4K)
		flags |= MFD_HUGETLB | (page_shift(mem->page_size) << MFD_HUGE_SHIFT);
	fd = memfd_create("gmvm-ram", flags);
	if (fd < 0) {
		int e = errno;

		if (mem->page_size != GM_PAGE_4K && e == EINVAL)
			return gm_fail(err, GM_STATUS_NO_KERNEL, e,
				       "this kernel cannot make a memfd of %s hugepages (memfd_create: EINVAL); use another hugepages= size",
				       gm_mem_size_str(mem->page_size, p, sizeof(p)));
		return gm_fail(err, GM_STATUS_FAILURE, e,
			       "memfd_create for guest RAM failed: %s; check the open-files limit",
			       strerror(e));
	}
	if (ftruncate(fd, (off_t)mem->size) < 0) {
		int e = errno;

		close(fd);
		return gm_fail(err, GM_STATUS_FAILURE, e,
			       "sizing the guest RAM memfd failed: %s; check ulimit -f", strerror(e));
	}
	mem->fd = fd;
	return 0;
}

static int memfd_map(struct gm_memory *mem, struct gm_error *err)
{
	int e = 0;

	/*
	 * For hugetlb, mmap reserves the pool pages up front (no MAP_NORESERVE),
	 * so an exhausted pool is an error here and never a SIGBUS in the guest.
	 */
	mem->host = gm_hostmap_map(mem->size, mem->page_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				   mem->fd, &e);
	if (mem->host)
		return 0;
	if (e == ENOMEM && mem->page_size != GM_PAGE_4K)
		return gm_hostmap_fail_pool(mem, e, err);
	return gm_fail(err, GM_STATUS_FAILURE, e, "mmap of the guest RAM memfd failed: %s; check ulimit -v",
		       strerror(e));
}

/*
 * THP is left to the host: with 4K pages gmvm neither asks for huge pages
 * (MADV_HUGEPAGE) nor forbids them (MADV_NOHUGEPAGE); shmem THP follows
 * /sys/kernel/mm/transparent_hugepage/shmem_enabled, as the admin set it.
 */
const struct gm_backend_ops gm_backend_memfd = {
	.name = "memfd",
	.abilities = memfd_abilities,
	.create = memfd_create_op,
	.map = memfd_map,
	.set_node = gm_hostmap_set_node,
	.prealloc = gm_hostmap_populate,
	.discard = gm_hostmap_punch_hole,
	.close = gm_hostmap_close_fd,
};
