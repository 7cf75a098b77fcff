/*
 * mem/check.c: gm_memory_check(), which refuses up front, without side
 * effects, every memory configuration this kernel or machine cannot serve.
 * Each refusal is one line: what is wrong, then what to use instead.
 * Status 2 (bad input) when the request is wrong or more than this machine
 * is set up to give (RAM, hugetlb pool, NUMA nodes); 3 (no kernel) when the
 * kernel lacks a feature the request needs (guest_memfd, a hugepage size,
 * movable guest_memfd, direct-map removal, private memory).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mem/backend.h"
#include "mem/mem.h"

const char *gm_mem_size_str(uint64_t bytes, char *buf, size_t len)
{
	/* Only the units gm_parse_size() reads, so any size shown can be typed
	 * back: 1P is written 1024T. */
	static const char units[] = "KMGT";
	int u = -1;

	while (bytes && bytes % 1024 == 0 && u < (int)sizeof(units) - 2) {
		bytes /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRIu64, bytes);
	else
		snprintf(buf, len, "%" PRIu64 "%c", bytes, units[u]);
	return buf;
}

enum gm_bind gm_mem_effective_bind(const struct gm_mem_config *cfg)
{
	if (cfg->bind_given || cfg->backend == GM_BACKEND_GUEST_MEMFD)
		return cfg->bind;
	return GM_BIND_MAPPED;
}

/* "mmap, init-shared" for the flags this kernel's guest_memfd accepts. */
static const char *gmem_flag_names(uint64_t flags, char *buf, size_t len)
{
	static const struct { uint64_t bit; const char *name; } names[] = {
		{ GM_GMEM_FLAG_MMAP, "mmap" },
		{ GM_GMEM_FLAG_INIT_SHARED, "init-shared" },
		{ GM_GMEM_FLAG_NO_DIRECT_MAP, "no-direct-map" },
	};
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(flags & names[i].bit))
			continue;
		used += snprintf(buf + used, len - used, "%s%s", used ? ", " : "", names[i].name);
		flags &= ~names[i].bit;
		if (used >= len)
			return buf;
	}
	if (flags)
		snprintf(buf + used, len - used, "%s0x%" PRIx64, used ? ", " : "", flags);
	else if (!used)
		snprintf(buf, len, "none");
	return buf;
}

static const char *hugetlb_sizes(const struct gm_caps *caps, char *buf, size_t len)
{
	size_t used = 0;
	char s[32];

	snprintf(buf, len, "none");
	for (int i = 0; i < caps->n_hugetlb && i < GM_MAX_HUGETLB_SIZES && used < len; i++)
		used += snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
				 gm_mem_size_str(caps->hugetlb[i].page_size, s, sizeof(s)));
	return buf;
}

static int check_size(const struct gm_mem_config *cfg, const struct gm_caps *caps,
		      struct gm_error *err)
{
	char a[32], b[32], c[32], d[32];
	uint64_t ps = cfg->page_size;
	/* The largest size any suggestion may name: one this machine can take. */
	uint64_t most = GM_MEM_MAX_SIZE;

	if (caps->host_ram && caps->host_ram < most)
		most = caps->host_ram;
	if (cfg->size == 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "memory size 0 is too small; give at least one page, e.g. size=256M");
	/* Before the page-size check: rounding a size above the limit to a page
	 * would suggest a size that is refused too, or wrap around to 0. */
	if (cfg->size > GM_MEM_MAX_SIZE)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "memory size %s is above the limit of %s: gmvm's boot page tables map guest-physical addresses below %s and the 3G-4G hole takes 1G; use size=%s or less",
			       gm_mem_size_str(cfg->size, a, sizeof(a)),
			       gm_mem_size_str(GM_MEM_MAX_SIZE, b, sizeof(b)),
			       gm_mem_size_str(GM_MEM_MAX_END, c, sizeof(c)), b);
	if (cfg->size % ps) {
		/* size <= GM_MEM_MAX_SIZE, a multiple of every page size: no overflow */
		uint64_t lower = cfg->size - cfg->size % ps, upper = lower + ps;

		if (lower == 0)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "memory size %s is smaller than one %s page; use size=%s",
				       gm_mem_size_str(cfg->size, a, sizeof(a)),
				       gm_mem_size_str(ps, b, sizeof(b)), b);
		if (upper > most)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "memory size %s is not a multiple of the %s page size; use size=%s",
				       gm_mem_size_str(cfg->size, a, sizeof(a)),
				       gm_mem_size_str(ps, b, sizeof(b)),
				       gm_mem_size_str(lower, c, sizeof(c)));
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "memory size %s is not a multiple of the %s page size; use size=%s or size=%s",
			       gm_mem_size_str(cfg->size, a, sizeof(a)),
			       gm_mem_size_str(ps, b, sizeof(b)),
			       gm_mem_size_str(lower, c, sizeof(c)),
			       gm_mem_size_str(upper, d, sizeof(d)));
	}
	if (caps->host_ram && cfg->size > caps->host_ram)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOMEM,
			       "memory size %s is more than this machine's RAM (%" PRIu64 "M); use a smaller size",
			       gm_mem_size_str(cfg->size, a, sizeof(a)), caps->host_ram >> 20);
	return 0;
}

static int check_gmem(const struct gm_mem_config *cfg, const struct gm_caps *caps,
		      unsigned can, struct gm_error *err)
{
	char f[96], p[32];

	if (!caps->guest_memfd)
		return gm_fail(err, GM_STATUS_NO_KERNEL, EOPNOTSUPP,
			       "this kernel has no guest_memfd (KVM_CAP_GUEST_MEMFD is 0); use backend=memfd");
	if (!(can & GM_CAN_GMEM_BIND))
		return gm_fail(err, GM_STATUS_NO_KERNEL, EOPNOTSUPP,
			       "guest_memfd on this kernel cannot be mapped by the host (flags: %s; gmvm needs mmap and init-shared, Linux 6.18 or later%s); use backend=memfd",
			       gmem_flag_names(caps->gmem_flags, f, sizeof(f)),
			       caps->user_memory2 ? "" : ", and KVM_CAP_USER_MEMORY2");
	if (cfg->page_size != GM_PAGE_4K && !(can & GM_CAN_HUGEPAGES))
		return gm_fail(err, GM_STATUS_NO_KERNEL, EOPNOTSUPP,
			       "guest_memfd on this kernel cannot use hugepages (flags: %s); use backend=memfd,hugepages=%s",
			       gmem_flag_names(caps->gmem_flags, f, sizeof(f)),
			       gm_mem_size_str(cfg->page_size, p, sizeof(p)));
	return 0;
}

static int check_hugetlb(const struct gm_mem_config *cfg, const struct gm_caps *caps,
			 struct gm_error *err)
{
	const struct gm_hugetlb_pool *pool = gm_caps_hugetlb(caps, cfg->page_size);
	char p[32], s[64], path[96];
	long need;

	if (!pool)
		return gm_fail(err, GM_STATUS_NO_KERNEL, EOPNOTSUPP,
			       "this kernel has no %s hugepages (hugetlb sizes: %s); use %s",
			       gm_mem_size_str(cfg->page_size, p, sizeof(p)),
			       hugetlb_sizes(caps, s, sizeof(s)),
			       caps->n_hugetlb > 0 ? "one of those sizes" : "hugepages=4K");
	need = (long)(cfg->size / cfg->page_size);
	if (pool->free < need)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOMEM,
			       "the %s hugetlb pool is too small: needs %ld, has %ld free (of %ld); as root: echo %ld > %s",
			       gm_mem_size_str(cfg->page_size, p, sizeof(p)), need, pool->free,
			       pool->total, pool->total + (need - pool->free),
			       gm_hugetlb_sysctl(cfg->page_size, path, sizeof(path)));
	return 0;
}

static int check_numa(const struct gm_mem_config *cfg, const struct gm_caps *caps,
		      struct gm_error *err)
{
	char online[256];
	size_t used = 0;
	int first = -1;

	if (cfg->numa_node == -1)
		return 0;
	if (cfg->numa_node >= 0 && cfg->numa_node < 64 &&
	    (caps->numa_node_mask & (UINT64_C(1) << cfg->numa_node)))
		return 0;
	online[0] = '\0';
	for (int n = 0; n < 64 && used < sizeof(online); n++) {
		if (!(caps->numa_node_mask & (UINT64_C(1) << n)))
			continue;
		if (first < 0)
			first = n;
		used += snprintf(online + used, sizeof(online) - used, "%s%d", used ? ", " : "", n);
	}
	if (first < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "NUMA node %d is not online (no online nodes known); drop numa-node=",
			       cfg->numa_node);
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
		       "NUMA node %d is not online (online nodes: %s); use numa-node=%d",
		       cfg->numa_node, online, first);
}

/* The remedy for a RLIMIT_MEMLOCK too low for need bytes, after "; ". */
static int memlock_fail(uint64_t need, const struct gm_caps *caps, const char *what, struct gm_error *err)
{
	char n[32], l[32];

	if (caps->memlock_limit == 0)
		snprintf(l, sizeof(l), "0");
	else
		gm_mem_size_str(caps->memlock_limit, l, sizeof(l));
	gm_mem_size_str(need, n, sizeof(n));
	return gm_fail(err, GM_STATUS_BAD_INPUT, ENOMEM,
		       "%s pins %s (movable=off locks it) and RLIMIT_MEMLOCK is %s; raise it to %s or more (ulimit -l %" PRIu64 ", LimitMEMLOCK=%s under systemd, or memlock in /etc/security/limits.conf), give gmvm CAP_IPC_LOCK, or use movable=on",
		       what, n, l, n, (need + 1023) / 1024, n);
}

static bool memlock_short(uint64_t need, const struct gm_caps *caps)
{
	return need && caps->memlock_probed && !caps->cap_ipc_lock && caps->memlock_limit != UINT64_MAX &&
	       need > caps->memlock_limit;
}

int gm_mem_check_memlock(uint64_t need, const struct gm_caps *caps, const char *what, struct gm_error *err)
{
	return memlock_short(need, caps) ? memlock_fail(need, caps, what, err) : 0;
}

int gm_memory_check_machine(const struct gm_config *cfg, const struct gm_caps *caps, struct gm_error *err)
{
	uint64_t need = gm_mem_pinned_bytes(&cfg->mem);
	unsigned pinned = need ? 1 : 0;

	for (unsigned i = 0; i < cfg->nregions; i++) {
		uint64_t b = gm_mem_pinned_bytes(&cfg->regions[i].mem);

		need += b;
		pinned += b ? 1 : 0;
	}
	if (!memlock_short(need, caps))
		return 0;
	return memlock_fail(need, caps, pinned > 1 ? "this VM's pinned regions together" : "this VM", err);
}

int gm_private_mem_check(const struct gm_caps *caps, struct gm_error *err)
{
	bool type = caps->vm_types & GM_VM_TYPE_SW_PROTECTED;
	bool attr = caps->memory_attributes & GM_MEM_ATTR_PRIVATE;

	if (!type || !attr)
		return gm_fail(err, GM_STATUS_NO_KERNEL, EOPNOTSUPP,
			       "private=on needs a VM type with private memory (KVM_X86_SW_PROTECTED_VM: %s) and KVM_SET_MEMORY_ATTRIBUTES with KVM_MEMORY_ATTRIBUTE_PRIVATE (%s); this kernel lacks %s; drop private=on",
			       type ? "present" : "absent", attr ? "present" : "absent",
			       !type && !attr ? "both" : !type ? "the VM type" : "the attribute");
	/* The kernel can: what remains is gmvm's, creating the VM with that type
	 * and converting ranges with KVM_SET_MEMORY_ATTRIBUTES (shared for the
	 * image and devices, private for the rest).  Until then, refuse here. */
	return gm_fail(err, GM_STATUS_NO_KERNEL, EOPNOTSUPP,
		       "this kernel offers private memory but gmvm does not convert memory to private yet; drop private=on");
}

/* movable=, direct-map= and private=: what the host may do to this memory. */
static int check_policy(const struct gm_mem_config *cfg, const struct gm_caps *caps, struct gm_error *err)
{
	char f[96], what[64];
	const struct gm_backend_ops *ops = gm_backend_ops(cfg->backend);
	const char *be = ops ? ops->name : "unknown";

	if (cfg->backend == GM_BACKEND_GUEST_MEMFD && gm_mem_movable(cfg)) {
		if (!caps->gmem_movable)
			return gm_fail(err, GM_STATUS_NO_KERNEL, EOPNOTSUPP,
				       "guest_memfd folios cannot migrate on this kernel, so guest-memfd is unmovable; movable=on needs guest_memfd folio migration (RFC \"KVM: guest_memfd: folio migration for non-confidential VMs\"); use movable=off, or backend=memfd for movable memory");
		if (cfg->private_mem)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "private memory cannot migrate (its contents need firmware-assisted copies); use movable=off with private=on");
	}
	if (cfg->no_direct_map) {
		if (cfg->backend != GM_BACKEND_GUEST_MEMFD)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "direct-map=off needs backend=guest-memfd (only guest_memfd folios can leave the kernel's direct map) and this memory is backend=%s; use backend=guest-memfd or drop direct-map=off",
				       be);
		if (!(caps->gmem_flags & GM_GMEM_FLAG_NO_DIRECT_MAP))
			return gm_fail(err, GM_STATUS_NO_KERNEL, EOPNOTSUPP,
				       "direct-map=off needs guest_memfd's GUEST_MEMFD_FLAG_NO_DIRECT_MAP, which this kernel does not list (flags: %s); it comes with the series \"Direct Map Removal Support for guest_memfd\"; drop direct-map=off",
				       gmem_flag_names(caps->gmem_flags, f, sizeof(f)));
		/* KVM reaches such folios only through the gmem binding: a mapped
		 * memslot would take them with get_user_pages, which refuses them. */
		if (gm_mem_effective_bind(cfg) != GM_BIND_GMEM || cfg->track_dirty)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "direct-map=off memory can only be bound gmem (a mapped memslot, which dirty tracking needs, cannot reach folios outside the direct map); drop %s",
				       cfg->track_dirty ? "track-dirty=on" : "bind=mapped");
	}
	if (cfg->private_mem) {
		if (cfg->backend != GM_BACKEND_GUEST_MEMFD)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "private=on needs backend=guest-memfd (private memory lives only in guest_memfd) and this memory is backend=%s; use backend=guest-memfd",
				       be);
		int r = gm_private_mem_check(caps, err);
		if (r)
			return r;
	}
	/* this region alone; gm_memory_check_machine adds up all of a VM's */
	uint64_t need = gm_mem_pinned_bytes(cfg);
	if (memlock_short(need, caps)) {
		snprintf(what, sizeof(what), "backend=%s with movable=off", be);
		return memlock_fail(need, caps, what, err);
	}
	return 0;
}

int gm_memory_check(const struct gm_mem_config *cfg, const struct gm_caps *caps,
		    struct gm_error *err)
{
	const struct gm_backend_ops *ops = cfg ? gm_backend_ops(cfg->backend) : NULL;
	enum gm_bind bind;
	unsigned can, slots;
	int ret;

	if (!cfg || !caps)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "gm_memory_check needs a config and probed caps; this is a bug in the caller");
	if (!ops)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "unknown memory backend %d; use guest-memfd, memfd or anon", (int)cfg->backend);
	if (cfg->page_size != GM_PAGE_4K && cfg->page_size != GM_PAGE_2M &&
	    cfg->page_size != GM_PAGE_1G)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "page size %" PRIu64 " is not supported; use hugepages=4K, 2M or 1G",
			       cfg->page_size);
	ret = check_size(cfg, caps, err);
	if (ret)
		return ret;
	bind = gm_mem_effective_bind(cfg);
	if (bind != GM_BIND_GMEM && bind != GM_BIND_MAPPED)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "unknown memory binding %d; use bind=gmem or bind=mapped", (int)bind);
	if (bind == GM_BIND_GMEM && cfg->backend != GM_BACKEND_GUEST_MEMFD)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "bind=gmem needs backend=guest-memfd, and this memory is backend=%s; use bind=mapped",
			       ops->name);

	/* Before guest_memfd's own checks: what the host may do to the memory
	 * is refused on any kernel that cannot give it, usable guest_memfd or not. */
	ret = check_policy(cfg, caps, err);
	if (ret)
		return ret;
	can = ops->abilities(caps);
	if (cfg->backend == GM_BACKEND_GUEST_MEMFD) {
		ret = check_gmem(cfg, caps, can, err);
		if (ret)
			return ret;
	}
	if (cfg->page_size != GM_PAGE_4K) {
		ret = check_hugetlb(cfg, caps, err);
		if (ret)
			return ret;
	}
	ret = check_numa(cfg, caps, err);
	if (ret)
		return ret;

	/* nr_memslots 0 means "not probed": KVM itself always reports some. */
	slots = cfg->size > GM_LOW_RAM_END ? 2 : 1;
	if (caps->nr_memslots && caps->nr_memslots < slots)
		return gm_fail(err, GM_STATUS_NO_KERNEL, ENOSPC,
			       "this KVM offers %u memslot(s) and RAM above 3G needs %u; use size=3G or less",
			       caps->nr_memslots, slots);
	return 0;
}
