/*
 * mem/guarantees.c: the one answer to "can the host's feature F act on
 * this kind of guest memory, here, and what does gmvm do about it?".
 * `gmvm probe` prints it per backend with this host's settings, and the
 * table in docs/memory.md is this file written out; the tests in
 * tests/integration prove its cells on a real kernel.  The kernel facts it
 * rests on (Linux 6.x):
 * - KSM merges only private anonymous pages of mappings that opted in
 *   (MADV_MERGEABLE, or the process's PR_SET_MEMORY_MERGE / systemd's
 *   MemoryKSM=); MADV_UNMERGEABLE opts a mapping out and unmerges it.
 * - NUMA balancing skips a mapping whose memory policy lacks MPOL_F_MOF
 *   (vma_policy_mof): any explicit mbind policy without
 *   MPOL_F_NUMA_BALANCING, and shmem without a shared policy; and it skips
 *   hugetlb.
 * - Reclaim and swap pass locked (mlock) and unevictable pages by;
 *   guest_memfd's mapping is unevictable; hugetlb is never swapped.
 * - khugepaged honours MADV_NOHUGEPAGE, except shmem_enabled=force.
 * - Compaction migrates locked pages too while
 *   vm.compact_unevictable_allowed=1; offlining and CMA migrate any movable
 *   page; guest_memfd's mapping is unmovable (AS_UNMOVABLE).
 */
#include <string.h>

#include "gmvm/guarantees.h"

enum gm_mem_kind gm_mem_kind_of(const struct gm_mem_config *cfg)
{
	bool pinned = !gm_mem_movable(cfg);

	if (cfg->backend == GM_BACKEND_GUEST_MEMFD)
		return GM_KIND_GMEM;
	if (cfg->page_size != GM_PAGE_4K)
		return GM_KIND_HUGETLB;
	if (cfg->backend == GM_BACKEND_MEMFD)
		return pinned ? GM_KIND_MEMFD_PINNED : GM_KIND_MEMFD;
	return pinned ? GM_KIND_ANON_PINNED : GM_KIND_ANON;
}

/* Whether feature f is switched on for kind k on the host in caps (NULL: assume so). */
static bool feature_on(enum gm_host_feature f, enum gm_mem_kind k, const struct gm_caps *caps)
{
	const struct gm_host_mm *h = caps ? &caps->host_mm : NULL;
	bool shmem = k == GM_KIND_MEMFD || k == GM_KIND_MEMFD_PINNED;

	if (!h)
		return true;
	switch (f) {
	case GM_FEAT_KSM:
		return h->ksm_run == 1;
	case GM_FEAT_NUMA_BALANCING:
		return h->numa_balancing > 0 && caps->numa_nodes > 1;
	case GM_FEAT_SWAP:
		return h->swap_total > 0;
	case GM_FEAT_THP_COLLAPSE:
		/* gmvm never sets MADV_HUGEPAGE: "madvise"/"advise" leave its memory alone */
		if (shmem)
			return !strcmp(h->thp_shmem, "always") || !strcmp(h->thp_shmem, "within_size") ||
			       !strcmp(h->thp_shmem, "force");
		return !strcmp(h->thp_enabled, "always");
	case GM_FEAT_MIGRATION:
	case GM_FEAT_COUNT:
		break;
	}
	return true;
}

static void set(struct gm_guarantee *g, enum gm_verdict v, const char *why, const char *gmvm)
{
	g->verdict = v;
	g->can_in_general = v == GM_ACTS_YES;
	g->why = why;
	g->gmvm = gmvm;
}

#define NOTHING_NEEDED "nothing needed"
#define MIGRATE_PINNED "compaction may still move locked pages (vm.compact_unevictable_allowed=1); memory offlining and CMA always may"
#define MIGRATE_PINNED_GMVM "nothing per mapping can stop it; set vm.compact_unevictable_allowed=0 against compaction, or use guest-memfd"

static void general(enum gm_mem_kind k, enum gm_host_feature f, const struct gm_caps *caps, struct gm_guarantee *g)
{
	switch (k) {
	case GM_KIND_GMEM:
		switch (f) {
		case GM_FEAT_KSM:
			return set(g, GM_ACTS_NEVER, "KSM merges only private anonymous pages", NOTHING_NEEDED);
		case GM_FEAT_NUMA_BALANCING:
			return set(g, GM_ACTS_NEVER, "guest_memfd folios are unmovable",
				   "numa-node= places them when they are allocated");
		case GM_FEAT_SWAP:
			return set(g, GM_ACTS_NEVER, "guest_memfd's mapping is unevictable: no reclaim, no swap",
				   NOTHING_NEEDED);
		case GM_FEAT_THP_COLLAPSE:
			return set(g, GM_ACTS_NEVER, "khugepaged does not collapse guest_memfd", NOTHING_NEEDED);
		default:
			if (caps && caps->gmem_movable)
				return set(g, GM_ACTS_YES, "this kernel migrates guest_memfd folios (movable=on)",
					   "movable=off keeps the default: unmovable");
			return set(g, GM_ACTS_NEVER, "guest_memfd folios cannot migrate on this kernel (unmovable mapping)",
				   "refuses movable=on until the kernel migrates guest_memfd folios");
		}
	case GM_KIND_MEMFD:
	case GM_KIND_MEMFD_PINNED: {
		bool pinned = k == GM_KIND_MEMFD_PINNED;

		switch (f) {
		case GM_FEAT_KSM:
			return set(g, GM_ACTS_NEVER, "KSM never merges shared (shmem) memory", NOTHING_NEEDED);
		case GM_FEAT_NUMA_BALANCING:
			return set(g, GM_ACTS_NEVER,
				   "NUMA balancing skips shmem without a policy asking for it (MPOL_F_NUMA_BALANCING)",
				   pinned ? "sets mbind(MPOL_LOCAL) or numa-node='s MPOL_BIND, never MPOL_F_NUMA_BALANCING"
					  : "sets no such policy");
		case GM_FEAT_SWAP:
			if (pinned)
				return set(g, GM_ACTS_BLOCKED, "locked pages are not reclaimed or swapped",
					   "mlock2(MLOCK_ONFAULT), or mlock with prealloc=on");
			return set(g, GM_ACTS_YES, "shmem pages swap out under memory pressure", "nothing: use movable=off to lock them");
		case GM_FEAT_THP_COLLAPSE:
			if (pinned && caps && !strcmp(caps->host_mm.thp_shmem, "force"))
				return set(g, GM_ACTS_YES, "shmem_enabled=force overrides MADV_NOHUGEPAGE",
					   "MADV_NOHUGEPAGE; set shmem_enabled to never, advise or within_size");
			if (pinned)
				return set(g, GM_ACTS_BLOCKED, "khugepaged honours MADV_NOHUGEPAGE", "MADV_NOHUGEPAGE");
			return set(g, GM_ACTS_YES, "khugepaged collapses shmem as shmem_enabled says",
				   "nothing: movable=off sets MADV_NOHUGEPAGE");
		default:
			if (pinned)
				return set(g, GM_ACTS_YES, MIGRATE_PINNED, MIGRATE_PINNED_GMVM);
			return set(g, GM_ACTS_YES, "compaction, offlining and CMA migrate shmem pages",
				   "nothing: movable memory may move");
		}
	}
	case GM_KIND_ANON:
	case GM_KIND_ANON_PINNED: {
		bool pinned = k == GM_KIND_ANON_PINNED;

		switch (f) {
		case GM_FEAT_KSM:
			if (pinned)
				return set(g, GM_ACTS_BLOCKED, "KSM skips mappings opted out with MADV_UNMERGEABLE",
					   "MADV_UNMERGEABLE");
			return set(g, GM_ACTS_YES,
				   "ksmd merges anonymous pages of processes that opt in (PR_SET_MEMORY_MERGE, systemd MemoryKSM=, MADV_MERGEABLE)",
				   "opts in to nothing; movable=off sets MADV_UNMERGEABLE");
		case GM_FEAT_NUMA_BALANCING:
			if (pinned)
				return set(g, GM_ACTS_BLOCKED,
					   "NUMA balancing skips mappings with an explicit policy lacking MPOL_F_NUMA_BALANCING",
					   "mbind(MPOL_LOCAL), or numa-node='s MPOL_BIND");
			return set(g, GM_ACTS_YES, "NUMA balancing migrates anonymous pages toward the CPUs using them",
				   "nothing: movable=off or numa-node= opt out");
		case GM_FEAT_SWAP:
			if (pinned)
				return set(g, GM_ACTS_BLOCKED, "locked pages are not reclaimed or swapped",
					   "mlock2(MLOCK_ONFAULT), or mlock with prealloc=on");
			return set(g, GM_ACTS_YES, "anonymous pages swap out under memory pressure",
				   "nothing: use movable=off to lock them");
		case GM_FEAT_THP_COLLAPSE:
			if (pinned)
				return set(g, GM_ACTS_BLOCKED, "khugepaged honours MADV_NOHUGEPAGE", "MADV_NOHUGEPAGE");
			return set(g, GM_ACTS_YES, "khugepaged collapses anonymous pages when THP enabled=always",
				   "nothing: movable=off sets MADV_NOHUGEPAGE");
		default:
			if (pinned)
				return set(g, GM_ACTS_YES, MIGRATE_PINNED, MIGRATE_PINNED_GMVM);
			return set(g, GM_ACTS_YES, "compaction, NUMA balancing, offlining and CMA migrate anonymous pages",
				   "nothing: movable memory may move");
		}
	}
	case GM_KIND_HUGETLB:
	case GM_KIND_COUNT:
		break;
	}
	switch (f) {
	case GM_FEAT_KSM:
		return set(g, GM_ACTS_NEVER, "KSM never merges hugetlb pages", NOTHING_NEEDED);
	case GM_FEAT_NUMA_BALANCING:
		return set(g, GM_ACTS_NEVER, "NUMA balancing skips hugetlb mappings", NOTHING_NEEDED);
	case GM_FEAT_SWAP:
		return set(g, GM_ACTS_NEVER, "hugetlb pages are never reclaimed or swapped", NOTHING_NEEDED);
	case GM_FEAT_THP_COLLAPSE:
		return set(g, GM_ACTS_NEVER, "hugetlb pages are huge already: khugepaged leaves them", NOTHING_NEEDED);
	default:
		return set(g, GM_ACTS_YES, "memory offlining and CMA may migrate hugetlb pages (compaction does not)",
			   "nothing per mapping can stop it");
	}
}

void gm_guarantee(enum gm_mem_kind k, enum gm_host_feature f, const struct gm_caps *caps, struct gm_guarantee *out)
{
	general(k, f, caps, out);
	if (out->verdict == GM_ACTS_YES && !feature_on(f, k, caps))
		out->verdict = GM_ACTS_OFF_HERE;
	/* compaction of locked pages is the one switch for pinned memory */
	if (out->verdict == GM_ACTS_YES && caps && f == GM_FEAT_MIGRATION &&
	    (k == GM_KIND_MEMFD_PINNED || k == GM_KIND_ANON_PINNED) && caps->host_mm.compact_unevictable == 0)
		out->why = "compaction leaves locked pages (vm.compact_unevictable_allowed=0); memory offlining and CMA still may";
}

const char *gm_host_feature_name(enum gm_host_feature f)
{
	static const char *const n[GM_FEAT_COUNT] = { "KSM", "NUMA balancing", "swap/reclaim", "THP collapse",
						      "compaction/migration" };
	return f < GM_FEAT_COUNT ? n[f] : "?";
}

const char *gm_host_feature_key(enum gm_host_feature f)
{
	static const char *const n[GM_FEAT_COUNT] = { "ksm", "numa_balancing", "swap", "thp_collapse", "migration" };
	return f < GM_FEAT_COUNT ? n[f] : "?";
}

const char *gm_mem_kind_name(enum gm_mem_kind k)
{
	static const char *const n[GM_KIND_COUNT] = {
		"guest-memfd", "memfd", "memfd, movable=off", "anon", "anon, movable=off", "memfd/anon on hugetlb",
	};
	return k < GM_KIND_COUNT ? n[k] : "?";
}

const char *gm_mem_kind_key(enum gm_mem_kind k)
{
	static const char *const n[GM_KIND_COUNT] = { "guest-memfd", "memfd", "memfd-pinned", "anon", "anon-pinned", "hugetlb" };
	return k < GM_KIND_COUNT ? n[k] : "?";
}

const char *gm_verdict_name(enum gm_verdict v)
{
	switch (v) {
	case GM_ACTS_NEVER:
		return "no";
	case GM_ACTS_BLOCKED:
		return "blocked";
	case GM_ACTS_OFF_HERE:
		return "off here";
	case GM_ACTS_YES:
		return "yes";
	}
	return "?";
}
