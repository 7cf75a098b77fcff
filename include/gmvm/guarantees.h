/*
 * The guest-first guarantees: for each kind of guest memory (a backend,
 * movable or pinned), whether each of the host's own memory-management
 * features can act on it, on any kernel and on this host's settings, and
 * what gmvm does about it.  One table (src/mem/guarantees.c) for `gmvm
 * probe`, vm.info and docs/memory.md.
 */
#ifndef GMVM_GUARANTEES_H
#define GMVM_GUARANTEES_H

#include <stdbool.h>

#include "gmvm/caps.h"
#include "gmvm/config.h"

enum gm_host_feature {
	GM_FEAT_KSM,            /* KSM merging identical pages */
	GM_FEAT_NUMA_BALANCING, /* automatic NUMA balancing */
	GM_FEAT_SWAP,           /* LRU reclaim and swap-out */
	GM_FEAT_THP_COLLAPSE,   /* khugepaged collapsing pages into a THP */
	GM_FEAT_MIGRATION,      /* compaction, memory offlining, CMA/ZONE_MOVABLE */
	GM_FEAT_COUNT,
};

/* The kinds of memory, the table's rows. */
enum gm_mem_kind {
	GM_KIND_GMEM,          /* guest-memfd (unmovable on this kernel) */
	GM_KIND_MEMFD,         /* memfd, 4K, movable */
	GM_KIND_MEMFD_PINNED,  /* memfd, 4K, movable=off */
	GM_KIND_ANON,          /* anon, 4K, movable */
	GM_KIND_ANON_PINNED,   /* anon, 4K, movable=off */
	GM_KIND_HUGETLB,       /* memfd or anon on 2M/1G hugetlb pages, either way */
	GM_KIND_COUNT,
};

enum gm_verdict {
	GM_ACTS_NEVER,    /* cannot act on this memory, whatever the host's settings */
	GM_ACTS_BLOCKED,  /* could, and gmvm's pinning stops it */
	GM_ACTS_OFF_HERE, /* could, but is off in this host's settings */
	GM_ACTS_YES,      /* can act on it on this host */
};

struct gm_guarantee {
	enum gm_verdict verdict; /* here: with the host settings given; without, the worst case */
	bool can_in_general;     /* whether, with the feature on, it can act at all */
	const char *why;         /* why it can or cannot, one phrase */
	const char *gmvm;        /* what gmvm does about it, one phrase */
};

/* The kind of memory a config makes (gm_mem_movable decides pinned or not). */
enum gm_mem_kind gm_mem_kind_of(const struct gm_mem_config *cfg);

/*
 * Can feature f act on memory of kind k?  caps: the host's settings (its
 * host_mm, numa_nodes, gmem_movable), or NULL for the general answer (the
 * docs' table).  Pure.
 */
void gm_guarantee(enum gm_mem_kind k, enum gm_host_feature f, const struct gm_caps *caps, struct gm_guarantee *out);

const char *gm_host_feature_name(enum gm_host_feature f);  /* "KSM", ... */
const char *gm_host_feature_key(enum gm_host_feature f);   /* "ksm", ... (JSON) */
const char *gm_mem_kind_name(enum gm_mem_kind k);          /* "memfd, movable=off", ... */
const char *gm_mem_kind_key(enum gm_mem_kind k);           /* "memfd-pinned", ... (JSON) */
const char *gm_verdict_name(enum gm_verdict v);            /* "no", "blocked", "off here", "yes" */

#endif
