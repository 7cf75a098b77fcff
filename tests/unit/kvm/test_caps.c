/* Unit tests for kvm/caps.c: the capability probe on the live kernel. */
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "gmvm/caps.h"

static void need_kvm(void)
{
	if (access("/dev/kvm", F_OK) != 0)
		cr_skip_test("/dev/kvm is missing on this machine");
}

Test(caps, fast_probe_finds_guest_memfd_with_mmap_and_init_shared, .init = need_kvm)
{
	struct gm_error err = { 0 };
	struct gm_caps c;
	struct utsname u;

	cr_assert_eq(gm_caps_probe(&c, GM_PROBE_FAST, &err), 0, "%s", err.msg);
	cr_assert(c.kvm);
	cr_assert_eq(c.api_version, 12);
	cr_assert(c.guest_memfd);
	cr_assert_eq(c.gmem_flags & (GM_GMEM_FLAG_MMAP | GM_GMEM_FLAG_INIT_SHARED),
		     GM_GMEM_FLAG_MMAP | GM_GMEM_FLAG_INIT_SHARED);
	cr_assert(c.user_memory2);
	cr_assert(c.vm_types & 1, "the default VM type must be listed");
	cr_assert(c.dirty_log);
	cr_assert_gt(c.nr_memslots, 0);
	cr_assert_gt(c.max_vcpus, 0);
	cr_assert_not(c.uffd_probed, "the fast probe must not create a guest_memfd");
	cr_assert_geq(c.numa_nodes, 1);
	cr_assert(c.numa_node_mask & 1);
	cr_assert_gt(c.host_ram, 0);
	cr_assert_eq(uname(&u), 0);
	cr_assert_str_eq(c.kernel_release, u.release);
}

Test(caps, full_probe_tries_userfaultfd_on_guest_memfd, .init = need_kvm)
{
	struct gm_error err = { 0 };
	struct gm_caps c;

	cr_assert_eq(gm_caps_probe(&c, GM_PROBE_FULL, &err), 0, "%s", err.msg);
	cr_assert(c.uffd_probed);
	cr_assert_geq(c.uffd_on_gmem, 0, "uffd_on_gmem holds 0 or a positive errno");
}

Test(caps, hugetlb_pools_2m_and_1g_but_not_3m, .init = need_kvm)
{
	struct gm_error err = { 0 };
	const struct gm_hugetlb_pool *p;
	struct gm_caps c;

	if (access("/sys/kernel/mm/hugepages/hugepages-1048576kB", F_OK) != 0)
		cr_skip_test("this kernel has no 1G hugetlb pages");
	cr_assert_eq(gm_caps_probe(&c, GM_PROBE_FAST, &err), 0, "%s", err.msg);
	p = gm_caps_hugetlb(&c, UINT64_C(2) << 20);
	cr_assert_not_null(p);
	cr_assert_eq(p->page_size, UINT64_C(2) << 20);
	cr_assert_geq(p->total, p->free);
	p = gm_caps_hugetlb(&c, UINT64_C(1) << 30);
	cr_assert_not_null(p);
	cr_assert_eq(p->page_size, UINT64_C(1) << 30);
	cr_assert_null(gm_caps_hugetlb(&c, UINT64_C(3) << 20));
	cr_assert_lt(c.hugetlb[0].page_size, c.hugetlb[1].page_size, "pools sorted by size");
}

Test(caps, hugetlb_lookup_on_given_caps)
{
	struct gm_caps c = { .n_hugetlb = 1, .hugetlb = { { .page_size = 4096 * 512, .total = 8, .free = 3 } } };

	cr_assert_eq(gm_caps_hugetlb(&c, 2 << 20)->free, 3);
	cr_assert_null(gm_caps_hugetlb(&c, 4096));
}
