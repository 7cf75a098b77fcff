/*
 * movable=, direct-map= and private= in gm_memory_check and
 * gm_memory_check_machine: each refusal with its status and message, on
 * hand-built caps; and the guarantees table (mem/guarantees.c) against the
 * kernel facts it rests on.  No KVM needed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "gmvm/guarantees.h"
#include "mem_test.h"

static void refused(const struct gm_mem_config *cfg, const struct gm_caps *caps, int status, const char *text)
{
	struct gm_error err = { 0 };

	cr_assert_lt(gm_memory_check(cfg, caps, &err), 0, "expected a refusal containing \"%s\"", text);
	cr_expect_eq(err.status, status, "status %d, want %d (%s)", err.status, status, err.msg);
	cr_expect_not_null(strstr(err.msg, text), "message \"%s\" lacks \"%s\"", err.msg, text);
	cr_expect_null(strchr(err.msg, '\n'), "message must be one line: %s", err.msg);
}

static void accepted(const struct gm_mem_config *cfg, const struct gm_caps *caps)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_memory_check(cfg, caps, &err), 0, "refused: %s", err.msg);
}

static struct gm_mem_config pinned(enum gm_backend b, uint64_t size)
{
	struct gm_mem_config c = mt_cfg(b, size);

	c.movable = false;
	c.movable_given = true;
	return c;
}

static struct gm_caps limited(uint64_t limit)
{
	struct gm_caps caps = mt_caps_generous();

	caps.memlock_probed = true;
	caps.memlock_limit = limit;
	return caps;
}

Test(policy, guest_memfd_movable_on_needs_folio_migration)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 256 * MT_MIB);

	cfg.movable = true;
	cfg.movable_given = true;
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL,
		"guest_memfd folios cannot migrate on this kernel, so guest-memfd is unmovable; movable=on needs guest_memfd folio migration (RFC \"KVM: guest_memfd: folio migration for non-confidential VMs\"); use movable=off");
	/* even where guest_memfd itself is unusable: the reason is the same */
	caps.gmem_flags = 0;
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL, "movable=on needs guest_memfd folio migration");
	/* a kernel that migrates its folios */
	caps = mt_caps_generous();
	caps.gmem_movable = true;
	accepted(&cfg, &caps);
	cfg.private_mem = true;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT, "private memory cannot migrate");
}

Test(policy, defaults_need_nothing)
{
	struct gm_caps caps = limited(0);

	/* movable memfd/anon and unmovable guest-memfd lock nothing */
	struct gm_mem_config g = mt_cfg(GM_BACKEND_MEMFD, 256 * MT_MIB);

	accepted(&g, &caps);
	g = mt_cfg(GM_BACKEND_ANON, 256 * MT_MIB);
	accepted(&g, &caps);
	g = mt_cfg(GM_BACKEND_GUEST_MEMFD, 256 * MT_MIB);
	accepted(&g, &caps);
	g = pinned(GM_BACKEND_GUEST_MEMFD, 256 * MT_MIB);
	accepted(&g, &caps);
}

Test(policy, direct_map_off)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 256 * MT_MIB);

	cfg.no_direct_map = true;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT,
		"direct-map=off needs backend=guest-memfd (only guest_memfd folios can leave the kernel's direct map) and this memory is backend=memfd");
	cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 256 * MT_MIB);
	cfg.no_direct_map = true;
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL,
		"direct-map=off needs guest_memfd's GUEST_MEMFD_FLAG_NO_DIRECT_MAP, which this kernel does not list (flags: mmap, init-shared); it comes with the series \"Direct Map Removal Support for guest_memfd\"; drop direct-map=off");
	caps.gmem_flags |= GM_GMEM_FLAG_NO_DIRECT_MAP;
	accepted(&cfg, &caps);
	cfg.track_dirty = true;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT, "drop track-dirty=on");
	cfg.track_dirty = false;
	cfg.bind = GM_BIND_MAPPED;
	cfg.bind_given = true;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT, "can only be bound gmem");
}

Test(policy, private_on)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_ANON, 256 * MT_MIB);
	struct gm_error err = { 0 };

	cfg.private_mem = true;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT, "private=on needs backend=guest-memfd");
	cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 256 * MT_MIB);
	cfg.private_mem = true;
	caps.vm_types = 1; /* the default VM only, no attributes: this kernel */
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL,
		"private=on needs a VM type with private memory (KVM_X86_SW_PROTECTED_VM: absent) and KVM_SET_MEMORY_ATTRIBUTES with KVM_MEMORY_ATTRIBUTE_PRIVATE (absent); this kernel lacks both; drop private=on");
	caps.vm_types |= GM_VM_TYPE_SW_PROTECTED;
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL, "this kernel lacks the attribute");
	/* the one function: with both, what is left is gmvm's conversion code */
	caps.memory_attributes = GM_MEM_ATTR_PRIVATE;
	cr_assert_lt(gm_private_mem_check(&caps, &err), 0);
	cr_expect(strstr(err.msg, "gmvm does not convert memory to private yet"), "%s", err.msg);
}

Test(policy, memlock_per_region)
{
	struct gm_caps caps = limited(UINT64_C(64) << 10);
	struct gm_mem_config cfg = pinned(GM_BACKEND_ANON, 256 * MT_MIB);

	refused(&cfg, &caps, GM_STATUS_BAD_INPUT,
		"backend=anon with movable=off pins 256M (movable=off locks it) and RLIMIT_MEMLOCK is 64K; raise it to 256M or more (ulimit -l 262144, LimitMEMLOCK=256M under systemd, or memlock in /etc/security/limits.conf), give gmvm CAP_IPC_LOCK, or use movable=on");
	caps.memlock_limit = 0;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT, "RLIMIT_MEMLOCK is 0;");
	caps.cap_ipc_lock = true;
	accepted(&cfg, &caps);
	caps = limited(UINT64_MAX);
	accepted(&cfg, &caps);
	caps = limited(256 * MT_MIB);
	accepted(&cfg, &caps);
	/* hugetlb pages are not locked: nothing to count */
	caps = limited(0);
	cfg = pinned(GM_BACKEND_MEMFD, 256 * MT_MIB);
	cfg.page_size = GM_PAGE_2M;
	accepted(&cfg, &caps);
	/* unprobed caps (a library user's own): no limit known, none checked */
	caps = mt_caps_generous();
	cfg = pinned(GM_BACKEND_MEMFD, 256 * MT_MIB);
	accepted(&cfg, &caps);
}

Test(policy, memlock_counts_every_pinned_region_of_a_machine)
{
	struct gm_caps caps = limited(300 * MT_MIB);
	struct gm_config cfg;
	struct gm_error err = { 0 };

	memset(&cfg, 0, sizeof(cfg));
	cfg.mem = pinned(GM_BACKEND_MEMFD, 256 * MT_MIB);
	cfg.nregions = 2;
	cfg.regions[0].mem = pinned(GM_BACKEND_ANON, 64 * MT_MIB);
	cfg.regions[1].mem = mt_cfg(GM_BACKEND_ANON, 512 * MT_MIB); /* movable: not counted */
	cr_assert_lt(gm_memory_check_machine(&cfg, &caps, &err), 0);
	cr_expect_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_expect(strstr(err.msg, "this VM's pinned regions together pins 320M"), "%s", err.msg);
	cr_expect(strstr(err.msg, "RLIMIT_MEMLOCK is 300M; raise it to 320M"), "%s", err.msg);
	caps.memlock_limit = 320 * MT_MIB;
	cr_assert_eq(gm_memory_check_machine(&cfg, &caps, &err), 0, "%s", err.msg);
}

static enum gm_verdict verdict(enum gm_mem_kind k, enum gm_host_feature f, const struct gm_caps *caps)
{
	struct gm_guarantee g;

	gm_guarantee(k, f, caps, &g);
	cr_assert_not_null(g.why);
	cr_assert_not_null(g.gmvm);
	return g.verdict;
}

Test(policy, guarantees_in_general)
{
	/* guest-memfd: nothing of the host's acts on it */
	for (int f = 0; f < GM_FEAT_COUNT; f++)
		cr_expect_eq(verdict(GM_KIND_GMEM, f, NULL), GM_ACTS_NEVER, "%s", gm_host_feature_name(f));
	/* pinning blocks swap, THP collapse, and for anon KSM and NUMA balancing; not migration */
	cr_expect_eq(verdict(GM_KIND_ANON_PINNED, GM_FEAT_SWAP, NULL), GM_ACTS_BLOCKED);
	cr_expect_eq(verdict(GM_KIND_ANON_PINNED, GM_FEAT_KSM, NULL), GM_ACTS_BLOCKED);
	cr_expect_eq(verdict(GM_KIND_ANON_PINNED, GM_FEAT_NUMA_BALANCING, NULL), GM_ACTS_BLOCKED);
	cr_expect_eq(verdict(GM_KIND_ANON_PINNED, GM_FEAT_THP_COLLAPSE, NULL), GM_ACTS_BLOCKED);
	cr_expect_eq(verdict(GM_KIND_ANON_PINNED, GM_FEAT_MIGRATION, NULL), GM_ACTS_YES);
	cr_expect_eq(verdict(GM_KIND_MEMFD_PINNED, GM_FEAT_SWAP, NULL), GM_ACTS_BLOCKED);
	cr_expect_eq(verdict(GM_KIND_MEMFD, GM_FEAT_KSM, NULL), GM_ACTS_NEVER);
	cr_expect_eq(verdict(GM_KIND_ANON, GM_FEAT_KSM, NULL), GM_ACTS_YES);
	cr_expect_eq(verdict(GM_KIND_MEMFD, GM_FEAT_SWAP, NULL), GM_ACTS_YES);
	cr_expect_eq(verdict(GM_KIND_HUGETLB, GM_FEAT_SWAP, NULL), GM_ACTS_NEVER);
}

Test(policy, guarantees_follow_the_host_settings)
{
	struct gm_caps caps = mt_caps_generous();

	caps.host_mm.ksm_run = 0;
	caps.host_mm.swap_total = 0;
	caps.host_mm.numa_balancing = 1;
	caps.numa_nodes = 1;
	strcpy(caps.host_mm.thp_enabled, "madvise");
	strcpy(caps.host_mm.thp_shmem, "force");
	caps.host_mm.compact_unevictable = 1;
	cr_expect_eq(verdict(GM_KIND_ANON, GM_FEAT_KSM, &caps), GM_ACTS_OFF_HERE);
	cr_expect_eq(verdict(GM_KIND_ANON, GM_FEAT_SWAP, &caps), GM_ACTS_OFF_HERE);
	cr_expect_eq(verdict(GM_KIND_ANON, GM_FEAT_NUMA_BALANCING, &caps), GM_ACTS_OFF_HERE, "one node: nothing to balance");
	cr_expect_eq(verdict(GM_KIND_ANON, GM_FEAT_THP_COLLAPSE, &caps), GM_ACTS_OFF_HERE, "gmvm never sets MADV_HUGEPAGE");
	/* shmem_enabled=force overrides MADV_NOHUGEPAGE */
	cr_expect_eq(verdict(GM_KIND_MEMFD_PINNED, GM_FEAT_THP_COLLAPSE, &caps), GM_ACTS_YES);
	caps.host_mm.ksm_run = 1;
	caps.host_mm.swap_total = 1 << 30;
	cr_expect_eq(verdict(GM_KIND_ANON, GM_FEAT_KSM, &caps), GM_ACTS_YES);
	cr_expect_eq(verdict(GM_KIND_ANON_PINNED, GM_FEAT_KSM, &caps), GM_ACTS_BLOCKED);
	cr_expect_eq(verdict(GM_KIND_MEMFD, GM_FEAT_SWAP, &caps), GM_ACTS_YES);
	cr_expect_eq(verdict(GM_KIND_GMEM, GM_FEAT_SWAP, &caps), GM_ACTS_NEVER);
	caps.gmem_movable = true;
	cr_expect_eq(verdict(GM_KIND_GMEM, GM_FEAT_MIGRATION, &caps), GM_ACTS_YES);
}

Test(policy, kind_of_a_config)
{
	struct gm_mem_config c = mt_cfg(GM_BACKEND_ANON, 256 * MT_MIB);

	cr_expect_eq(gm_mem_kind_of(&c), GM_KIND_ANON);
	c = pinned(GM_BACKEND_ANON, 256 * MT_MIB);
	cr_expect_eq(gm_mem_kind_of(&c), GM_KIND_ANON_PINNED);
	c = pinned(GM_BACKEND_MEMFD, 256 * MT_MIB);
	cr_expect_eq(gm_mem_kind_of(&c), GM_KIND_MEMFD_PINNED);
	c.page_size = GM_PAGE_2M;
	cr_expect_eq(gm_mem_kind_of(&c), GM_KIND_HUGETLB);
	c = mt_cfg(GM_BACKEND_GUEST_MEMFD, 256 * MT_MIB);
	cr_expect_eq(gm_mem_kind_of(&c), GM_KIND_GMEM);
}
