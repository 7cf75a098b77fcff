/*
 * mem/hostmap.c: the host side of guest memory that every backend shares:
 * an aligned mapping, the NUMA policy on it, and populating it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mem/backend.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MPOL_BIND
#define MPOL_BIND 2
#endif

void *gm_hostmap_map(uint64_t size, uint64_t align, int prot, int flags, int fd, int *errnum)
{
	uint8_t *resv, *want, *p;
	uint64_t head, tail;

	if (align <= (uint64_t)sysconf(_SC_PAGESIZE)) {
		p = mmap(NULL, size, prot, flags, fd, 0);
		if (p == MAP_FAILED) {
			*errnum = errno;
			return NULL;
		}
		return p;
	}
	/*
	 * Reserve size + align of address space, then map over its aligned part,
	 * so a huge page is never split at the start of the mapping.  The
	 * reservation is PROT_NONE and NORESERVE: it costs no memory.
	 */
	resv = mmap(NULL, size + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (resv == MAP_FAILED) {
		*errnum = errno;
		return NULL;
	}
	want = (uint8_t *)(((uintptr_t)resv + align - 1) & ~(uintptr_t)(align - 1));
	p = mmap(want, size, prot, flags | MAP_FIXED, fd, 0);
	if (p == MAP_FAILED) {
		*errnum = errno;
		munmap(resv, size + align);
		return NULL;
	}
	head = (uint64_t)(want - resv);
	tail = align - head;
	if (head)
		munmap(resv, head);
	if (tail)
		munmap(want + size, tail);
	return p;
}

int gm_hostmap_set_node(struct gm_memory *mem, int node, struct gm_error *err)
{
	unsigned long mask;
	long ret;

	if (node < 0 || node >= (int)sizeof(mask) * 8)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "NUMA node %d is out of range; use a node listed in /sys/devices/system/node",
			       node);
	mask = 1UL << node;

	/*
	 * maxnode counts bits and the kernel drops the last one, so pass one more
	 * than the mask holds.  No MPOL_MF_MOVE: nothing is allocated yet.
	 */
	ret = syscall(SYS_mbind, mem->host, (unsigned long)mem->size, MPOL_BIND, &mask,
		      sizeof(mask) * 8 + 1, 0);
	if (ret == 0)
		return 0;
	if (errno == ENOSYS)
		return gm_fail(err, GM_STATUS_NO_KERNEL, ENOSYS,
			       "this kernel has no NUMA support (mbind: ENOSYS); drop numa-node=%d", node);
	return gm_fail(err, GM_STATUS_FAILURE, errno,
		       "mbind of guest RAM to NUMA node %d failed: %s; check that the node has memory and that the cpuset allows it",
		       node, strerror(errno));
}

/* 64 MiB a call, or one page where pages are bigger (1G), so a call never splits a page */
#define POPULATE_CHUNK (UINT64_C(64) << 20)

int gm_hostmap_populate(struct gm_memory *mem, struct gm_error *err)
{
	char s[32], p[32], path[96];
	int e;

	/*
	 * In pieces: the populate holds the process's mmap lock for reading, and
	 * a thread being created (an API connection's) needs it for writing, so
	 * one call over gigabytes would stall the control API for as long.
	 */
	uint64_t chunk = mem->page_size > POPULATE_CHUNK ? mem->page_size : POPULATE_CHUNK;

	e = 0;
	for (uint64_t off = 0; off < mem->size && !e; off += chunk) {
		uint64_t len = mem->size - off < chunk ? mem->size - off : chunk;

		if (madvise((uint8_t *)mem->host + off, len, MADV_POPULATE_WRITE))
			e = errno;
	}
	if (!e)
		return 0;
	if (e == EINVAL)
		return gm_fail(err, GM_STATUS_NO_KERNEL, e,
			       "preallocating guest RAM with MADV_POPULATE_WRITE failed: %s (needs Linux 5.14); drop prealloc",
			       strerror(e));
	if (mem->page_size != GM_PAGE_4K && (e == ENOMEM || e == EFAULT))
		return gm_fail(err, GM_STATUS_FAILURE, e,
			       "preallocating %s of %s hugepages failed: %s, the hugetlb pool ran out; raise %s",
			       gm_mem_size_str(mem->size, s, sizeof(s)),
			       gm_mem_size_str(mem->page_size, p, sizeof(p)), strerror(e),
			       gm_hugetlb_sysctl(mem->page_size, path, sizeof(path)));
	return gm_fail(err, GM_STATUS_FAILURE, e,
		       "preallocating %s of guest RAM failed: %s; free host memory or use a smaller size",
		       gm_mem_size_str(mem->size, s, sizeof(s)), strerror(e));
}

int gm_hostmap_fail_pool(const struct gm_memory *mem, int e, struct gm_error *err)
{
	char s[32], p[32], path[96];

	return gm_fail(err, GM_STATUS_FAILURE, e,
		       "cannot reserve %s of %s hugepages: the hugetlb pool has too few free pages; raise %s",
		       gm_mem_size_str(mem->size, s, sizeof(s)), gm_mem_size_str(mem->page_size, p, sizeof(p)),
		       gm_hugetlb_sysctl(mem->page_size, path, sizeof(path)));
}

void gm_hostmap_close_fd(struct gm_memory *mem)
{
	if (mem->fd >= 0)
		close(mem->fd);
	mem->fd = -1;
}

const char *gm_hugetlb_sysctl(uint64_t page_size, char *buf, size_t len)
{
	/* /proc/sys/vm/nr_hugepages sizes the default pool, 2M on x86. */
	if (page_size == GM_PAGE_2M)
		snprintf(buf, len, "/proc/sys/vm/nr_hugepages");
	else
		snprintf(buf, len, "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages",
			 page_size >> 10);
	return buf;
}

int gm_hostmap_punch_hole(struct gm_memory *mem, uint64_t offset, uint64_t len, struct gm_error *err)
{
	if (fallocate(mem->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)len) == 0)
		return 0;
	return gm_fail(err, GM_STATUS_FAILURE, errno,
		       "punching a hole in the %s memory failed: %s; the memory is unchanged",
		       mem->ops->name, strerror(errno));
}
