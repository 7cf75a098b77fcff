/*
 * mem/pin.c: movable=off on memfd and anon memory.  Pinning asks the kernel,
 * per mapping, to keep its own policies off the guest's pages: locked so
 * reclaim and swap pass them by (mlock2, MLOCK_ONFAULT while pages are not
 * preallocated, so locking costs no memory up front); no transparent-
 * hugepage collapse (MADV_NOHUGEPAGE); no KSM merging (MADV_UNMERGEABLE,
 * anonymous memory only: KSM never merges shared memory); no NUMA balancing
 * (any explicit memory policy without MPOL_F_NUMA_BALANCING makes the
 * kernel skip the mapping: mbind(MPOL_LOCAL), or numa-node='s MPOL_BIND).
 * Compaction, memory offlining and CMA may still migrate locked pages
 * (vm.compact_unevictable_allowed); mm/guarantees.c says so.  guest_memfd
 * needs none of this: its folios are unmovable and unevictable by design.
 * What was applied is recorded, for vm.info.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kvm/caps_host.h"
#include "mem/mem.h"

#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif
#ifndef MPOL_LOCAL
#define MPOL_LOCAL 4
#endif

static void record(struct gm_memory *mem, const char *what)
{
	for (unsigned i = 0; i < mem->pin.n; i++)
		if (!strcmp(mem->pin.applied[i], what))
			return;
	if (mem->pin.n < GM_MEM_PIN_MAX)
		mem->pin.applied[mem->pin.n++] = what;
}

uint64_t gm_mem_pinned_bytes(const struct gm_mem_config *cfg)
{
	/* hugetlb pages are never swapped, merged or collapsed, and mlock does
	 * not lock them (nor count them): nothing to pin */
	if (gm_mem_movable(cfg) || cfg->backend == GM_BACKEND_GUEST_MEMFD || cfg->page_size != GM_PAGE_4K)
		return 0;
	return cfg->size;
}

static bool wants_pin(const struct gm_memory *mem)
{
	return !gm_mem_movable(&mem->cfg) && mem->cfg.backend != GM_BACKEND_GUEST_MEMFD;
}

/* The advice on [addr, addr+len): before any page is allocated, so none is ever huge or shared. */
static int advise(struct gm_memory *mem, void *addr, uint64_t len, struct gm_error *err)
{
	char s[32];

	if (mem->page_size != GM_PAGE_4K)
		return 0;
	if (madvise(addr, len, MADV_NOHUGEPAGE) != 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno,
			       "pinning region %s: MADV_NOHUGEPAGE on %s failed: %s; use movable=on",
			       mem->name, gm_mem_size_str(len, s, sizeof(s)), strerror(errno));
	record(mem, "MADV_NOHUGEPAGE");
	if (mem->cfg.backend == GM_BACKEND_ANON) {
		/* EINVAL: a kernel without CONFIG_KSM, where nothing merges anyway */
		if (madvise(addr, len, MADV_UNMERGEABLE) == 0)
			record(mem, "MADV_UNMERGEABLE");
		else if (errno != EINVAL)
			return gm_fail(err, GM_STATUS_FAILURE, errno,
				       "pinning region %s: MADV_UNMERGEABLE failed: %s; use movable=on", mem->name,
				       strerror(errno));
	}
	if (mem->cfg.numa_node >= 0) {
		record(mem, "mbind(MPOL_BIND)"); /* gm_hostmap_set_node's, before this */
	} else if (syscall(SYS_mbind, addr, (unsigned long)len, MPOL_LOCAL, NULL, 0UL, 0U) == 0) {
		record(mem, "mbind(MPOL_LOCAL)");
	} else if (errno != ENOSYS) {
		return gm_fail(err, GM_STATUS_FAILURE, errno,
			       "pinning region %s: mbind(MPOL_LOCAL) failed: %s; use movable=on", mem->name,
			       strerror(errno));
	}
	return 0;
}

int gm_mem_pin_advise(struct gm_memory *mem, struct gm_error *err)
{
	if (!wants_pin(mem))
		return 0;
	return advise(mem, mem->host, mem->size, err);
}

static int lock_range(struct gm_memory *mem, void *addr, uint64_t len, bool populate, struct gm_error *err)
{
	char s[32], l[32];
	int r;

	if (mem->page_size != GM_PAGE_4K)
		return 0;
	/* populate: the pages exist already (prealloc), lock them all now.
	 * mlock through syscall(2): the sanitizers make mlock() and munlock() no-ops
	 * (but not mlock2), and a sanitized build must pin as the real one does. */
	r = populate ? (int)syscall(SYS_mlock, addr, len) : mlock2(addr, len, MLOCK_ONFAULT);
	if (r == 0) {
		record(mem, populate ? "mlock" : "mlock2(MLOCK_ONFAULT)");
		return 0;
	}
	r = errno;
	if (r == ENOMEM || r == EPERM || r == EAGAIN) {
		struct gm_caps c = { 0 };

		gm_caps_probe_memlock(&c);
		if (c.memlock_limit == UINT64_MAX)
			snprintf(l, sizeof(l), "unlimited");
		else
			gm_mem_size_str(c.memlock_limit, l, sizeof(l));
		return gm_fail(err, GM_STATUS_FAILURE, r,
			       "pinning region %s: locking %s failed: %s (RLIMIT_MEMLOCK %s); raise the limit (ulimit -l, LimitMEMLOCK=, memlock in /etc/security/limits.conf) or use movable=on",
			       mem->name, gm_mem_size_str(len, s, sizeof(s)), strerror(r), l);
	}
	return gm_fail(err, GM_STATUS_FAILURE, r, "pinning region %s: mlock of %s failed: %s; use movable=on",
		       mem->name, gm_mem_size_str(len, s, sizeof(s)), strerror(r));
}

int gm_mem_pin_lock(struct gm_memory *mem, struct gm_error *err)
{
	if (!wants_pin(mem))
		return 0;
	mem->pin.locked = mem->page_size == GM_PAGE_4K;
	return lock_range(mem, mem->host, mem->size, mem->cfg.prealloc, err);
}

int gm_mem_pin_redo(struct gm_memory *mem, uint64_t offset, uint64_t len, struct gm_error *err)
{
	void *addr = (uint8_t *)mem->host + offset;
	int r;

	if (!wants_pin(mem))
		return 0;
	r = advise(mem, addr, len, err);
	return r ? r : lock_range(mem, addr, len, false, err);
}

void gm_mem_pin_info(const struct gm_memory *mem, struct gm_memory_info *out)
{
	out->movable = gm_mem_movable(&mem->cfg);
	out->npinning = mem->pin.n;
	for (unsigned i = 0; i < mem->pin.n; i++)
		out->pinning[i] = mem->pin.applied[i];
	if (mem->cfg.backend == GM_BACKEND_GUEST_MEMFD)
		out->movable_note = out->movable ? "movable: guest_memfd folios may migrate (compaction, offlining)"
						 : "unmovable: guest_memfd folios cannot migrate on this kernel";
	else if (out->movable)
		out->movable_note = "movable: the host may swap, merge, collapse or migrate these pages";
	else if (mem->page_size != GM_PAGE_4K)
		out->movable_note = "pinned: hugetlb pages are never swapped, merged or collapsed";
	else
		out->movable_note = "pinned: locked, no THP collapse, no KSM, no NUMA balancing; compaction may still migrate";
}
