/*
 * gm_memory_check: every refusal with its exact status and message, on
 * hand-built caps so the tests run on any machine.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "mem_test.h"

static void refused(const struct gm_mem_config *cfg, const struct gm_caps *caps, int status,
		    const char *text)
{
	struct gm_error err = { 0 };
	int ret = gm_memory_check(cfg, caps, &err);

	cr_assert_lt(ret, 0, "expected a refusal containing \"%s\"", text);
	cr_expect_eq(err.status, status, "status %d, want %d (%s)", err.status, status, err.msg);
	cr_expect_not_null(strstr(err.msg, text), "message \"%s\" lacks \"%s\"", err.msg, text);
	cr_expect_null(strchr(err.msg, '\n'), "message must be one line: %s", err.msg);
	cr_expect_neq(strncmp(err.msg, "gmvm:", 5), 0, "no gmvm: prefix: %s", err.msg);
}

static void accepted(const struct gm_mem_config *cfg, const struct gm_caps *caps)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_memory_check(cfg, caps, &err), 0, "refused: %s", err.msg);
	cr_expect_eq(err.msg[0], '\0');
}

Test(check, default_guest_memfd_256M_is_accepted)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 256 * MT_MIB);

	accepted(&cfg, &caps);
}

Test(check, leaves_config_and_caps_unchanged)
{
	struct gm_caps caps = mt_caps_generous(), caps0 = caps;
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 3 * MT_MIB), cfg0 = cfg;
	struct gm_error err = { 0 };

	cfg.page_size = cfg0.page_size = GM_PAGE_2M;
	gm_memory_check(&cfg, &caps, &err);
	cr_expect_arr_eq(&cfg, &cfg0, sizeof(cfg));
	cr_expect_arr_eq(&caps, &caps0, sizeof(caps));
}

Test(check, size_zero_is_bad_input)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 0);

	refused(&cfg, &caps, GM_STATUS_BAD_INPUT, "memory size 0 is too small");
}

Test(check, size_not_multiple_of_2M_names_page_size_and_nearest_sizes)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 3001 * MT_MIB);

	cfg.page_size = GM_PAGE_2M;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT,
		"memory size 3001M is not a multiple of the 2M page size; use size=3000M or size=3002M");
}

Test(check, size_not_multiple_of_4K_names_nearest_sizes)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_ANON, 4097);

	refused(&cfg, &caps, GM_STATUS_BAD_INPUT, "not a multiple of the 4K page size; use size=4K or size=8K");
}

Test(check, size_below_one_1G_page_suggests_one_page)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 512 * MT_MIB);

	cfg.page_size = GM_PAGE_1G;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT, "smaller than one 1G page; use size=1G");
}

Test(check, size_above_host_ram_is_bad_input)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 32 * MT_GIB);

	caps.host_ram = 24 * MT_GIB;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT, "more than this machine's RAM (24576M)");
}

Test(check, size_above_page_table_limit_says_the_limit)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 64 * MT_GIB);

	refused(&cfg, &caps, GM_STATUS_BAD_INPUT, "above the limit of 63G");
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT, "use size=63G or less");
}

Test(check, size_at_page_table_limit_is_accepted)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 63 * MT_GIB);

	accepted(&cfg, &caps);
}

Test(check, guest_memfd_with_2M_pages_without_huge_flag_suggests_memfd)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 1 * MT_GIB);

	cfg.page_size = GM_PAGE_2M;
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL,
		"guest_memfd on this kernel cannot use hugepages (flags: mmap, init-shared); use backend=memfd,hugepages=2M");
}

Test(check, guest_memfd_with_1G_pages_suggests_memfd_1G)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 2 * MT_GIB);

	cfg.page_size = GM_PAGE_1G;
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL, "use backend=memfd,hugepages=1G");
}

Test(check, guest_memfd_absent_suggests_memfd)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 256 * MT_MIB);

	caps.guest_memfd = false;
	caps.gmem_flags = 0;
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL, "this kernel has no guest_memfd");
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL, "use backend=memfd");
}

Test(check, guest_memfd_without_mmap_flag_suggests_memfd)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 256 * MT_MIB);

	caps.gmem_flags = 0;
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL,
		"guest_memfd on this kernel cannot be mapped by the host (flags: none;");
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL, "use backend=memfd");
}

Test(check, guest_memfd_without_init_shared_flag_suggests_memfd)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 256 * MT_MIB);

	caps.gmem_flags = GM_GMEM_FLAG_MMAP;
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL, "(flags: mmap; gmvm needs mmap and init-shared");
}

Test(check, hugetlb_2M_pool_too_small_says_counts_and_sysctl)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 1 * MT_GIB);

	cfg.page_size = GM_PAGE_2M;
	caps.hugetlb[0].total = 10;
	caps.hugetlb[0].free = 3;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT,
		"needs 512, has 3 free (of 10); as root: echo 519 > /proc/sys/vm/nr_hugepages");
}

Test(check, hugetlb_1G_pool_empty_names_the_sysfs_file)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_ANON, 2 * MT_GIB);

	cfg.page_size = GM_PAGE_1G;
	caps.hugetlb[1].total = 0;
	caps.hugetlb[1].free = 0;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT,
		"needs 2, has 0 free (of 0); as root: echo 2 > /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages");
}

Test(check, hugetlb_pool_exactly_large_enough_is_accepted)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 64 * MT_MIB);

	cfg.page_size = GM_PAGE_2M;
	caps.hugetlb[0].free = 32;
	accepted(&cfg, &caps);
}

Test(check, hugepage_size_the_kernel_lacks_lists_sizes_it_has)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 2 * MT_GIB);

	cfg.page_size = GM_PAGE_1G;
	caps.n_hugetlb = 1; /* 2M only */
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL, "this kernel has no 1G hugepages (hugetlb sizes: 2M)");
}

Test(check, hugepages_without_any_hugetlb_suggest_4K)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_ANON, 2 * MT_MIB);

	cfg.page_size = GM_PAGE_2M;
	caps.n_hugetlb = 0;
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL, "(hugetlb sizes: none); use hugepages=4K");
}

Test(check, page_size_other_than_4K_2M_1G_is_bad_input)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 64 * MT_MIB);

	cfg.page_size = 64 * 1024;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT, "use hugepages=4K, 2M or 1G");
}

Test(check, numa_node_not_online_lists_online_nodes)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 256 * MT_MIB);

	cfg.numa_node = 1;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT,
		"NUMA node 1 is not online (online nodes: 0); use numa-node=0");
	caps.numa_node_mask = 0x5;
	cfg.numa_node = 63;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT, "(online nodes: 0, 2)");
}

Test(check, numa_node_online_is_accepted)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_ANON, 256 * MT_MIB);

	cfg.numa_node = 0;
	accepted(&cfg, &caps);
}

Test(check, explicit_bind_gmem_with_memfd_suggests_mapped)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 256 * MT_MIB);

	cfg.bind = GM_BIND_GMEM;
	cfg.bind_given = true;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT,
		"bind=gmem needs backend=guest-memfd, and this memory is backend=memfd; use bind=mapped");
}

Test(check, explicit_bind_gmem_with_anon_suggests_mapped)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_ANON, 256 * MT_MIB);

	cfg.bind = GM_BIND_GMEM;
	cfg.bind_given = true;
	refused(&cfg, &caps, GM_STATUS_BAD_INPUT, "backend=anon; use bind=mapped");
}

Test(check, default_bind_gmem_with_memfd_falls_back_to_mapped)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 256 * MT_MIB);

	cfg.bind = GM_BIND_GMEM; /* left at the gm_config_defaults value */
	cfg.bind_given = false;
	accepted(&cfg, &caps);
}

Test(check, guest_memfd_bound_mapped_is_accepted)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 256 * MT_MIB);

	cfg.bind = GM_BIND_MAPPED;
	cfg.bind_given = true;
	accepted(&cfg, &caps);
}

Test(check, more_memslots_than_kvm_offers_is_refused)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 4 * MT_GIB);

	caps.nr_memslots = 1;
	refused(&cfg, &caps, GM_STATUS_NO_KERNEL, "this KVM offers 1 memslot(s) and RAM above 3G needs 2");
	cfg.size = 3 * MT_GIB;
	accepted(&cfg, &caps);
}

Test(check, create_refuses_what_check_refuses_without_side_effects)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 0);
	struct gm_memory *mem = (struct gm_memory *)0x1;
	struct gm_error err = { 0 };
	int fds = test_open_fds();

	cr_assert_eq(gm_memory_create(&cfg, &caps, -1, &mem, &err), -EINVAL);
	cr_expect_null(mem);
	cr_expect_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_expect_eq(test_open_fds(), fds);
}
