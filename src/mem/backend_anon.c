/*
 * mem/backend_anon.c: guest RAM as a private anonymous mapping (with
 * MAP_HUGETLB for 2M/1G).  No fd, so nothing another process can map: the
 * simplest backend, for comparison and for hosts without memfd or gmem.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mem/backend.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

static unsigned anon_abilities(const struct gm_caps *caps)
{
	unsigned can = 0;

	if (caps->n_hugetlb > 0)
		can |= GM_CAN_HUGEPAGES;
	if (caps->dirty_log)
		can |= GM_CAN_DIRTY_LOG;
	return can;
}

static int anon_create(struct gm_memory *mem, const struct gm_caps *caps, struct gm_error *err)
{
	(void)caps;
	(void)err;
	mem->fd = -1;
	return 0;
}

static int anon_map(struct gm_memory *mem, struct gm_error *err)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	char s[32];
	int e = 0;

	/*
	 * 4K: MAP_NORESERVE, because guest RAM is sparse until touched and the
	 * heuristic overcommit check should not refuse a guest the host can run
	 * (strict overcommit ignores the flag).  Hugetlb: no NORESERVE, so the
	 * pool is reserved now and an empty pool fails here, not as a SIGBUS in
	 * the middle of the guest.  THP is left to the host's policy (see memfd).
	 */
	if (mem->page_size == GM_PAGE_4K)
		flags |= MAP_NORESERVE;
	else
		flags |= MAP_HUGETLB | (__builtin_ctzll(mem->page_size) << MAP_HUGE_SHIFT);
	mem->host = gm_hostmap_map(mem->size, mem->page_size, PROT_READ | PROT_WRITE, flags, -1, &e);
	if (mem->host)
		return 0;
	if (e == ENOMEM && mem->page_size != GM_PAGE_4K)
		return gm_hostmap_fail_pool(mem, e, err);
	return gm_fail(err, GM_STATUS_FAILURE, e,
		       "mmap of %s of anonymous guest RAM failed: %s; check ulimit -v",
		       gm_mem_size_str(mem->size, s, sizeof(s)), strerror(e));
}

static int anon_discard(struct gm_memory *mem, uint64_t offset, uint64_t len,
			struct gm_error *err)
{
	/*
	 * Private anonymous memory has no file to punch: MADV_DONTNEED drops the
	 * pages and later reads fault in zero pages.  (MADV_REMOVE only works on
	 * shared mappings.)  The MMU notifier tells KVM to drop its mappings.
	 */
	/* MADV_DONTNEED refuses locked pages: a pinned region is unlocked around
	 * it and pinned again (pin.c).  Through syscall(2), as pin.c locks: the
	 * sanitizers make munlock() a no-op but not mlock2(). */
	if (mem->pin.locked && syscall(SYS_munlock, (uint8_t *)mem->host + offset, len) != 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno,
			       "discarding pinned guest RAM: munlock failed: %s; the memory is unchanged", strerror(errno));
	if (madvise((uint8_t *)mem->host + offset, len, MADV_DONTNEED) == 0)
		return mem->pin.locked ? gm_mem_pin_redo(mem, offset, len, err) : 0;
	return gm_fail(err, GM_STATUS_FAILURE, errno,
		       "discarding anonymous guest RAM (MADV_DONTNEED) failed: %s; the memory is unchanged",
		       strerror(errno));
}

static void anon_close(struct gm_memory *mem)
{
	mem->fd = -1;
}

const struct gm_backend_ops gm_backend_anon = {
	.name = "anon",
	.abilities = anon_abilities,
	.create = anon_create,
	.map = anon_map,
	.set_node = gm_hostmap_set_node,
	.prealloc = gm_hostmap_populate,
	.discard = anon_discard,
	.close = anon_close,
};
