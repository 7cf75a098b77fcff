/* gm_mem_config_parse: every --memory form and every refusal. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "gmvm/config.h"

static struct gm_mem_config defaults(void)
{
	struct gm_config cfg;

	gm_config_defaults(&cfg);
	return cfg.mem;
}

static struct gm_mem_config mem_ok(const char *opt)
{
	struct gm_mem_config m = defaults();
	struct gm_error err = { 0 };

	cr_assert_eq(gm_mem_config_parse(opt, &m, &err), 0, "'%s' refused: %s", opt, err.msg);
	cr_assert_eq(err.msg[0], '\0');
	return m;
}

static void mem_bad(const char *opt, const char *msg)
{
	struct gm_mem_config m = defaults(), before = m;
	struct gm_error err = { 0 };

	cr_assert_lt(gm_mem_config_parse(opt, &m, &err), 0, "'%s' accepted", opt);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert(strstr(err.msg, msg), "'%s': message '%s' lacks '%s'", opt, err.msg, msg);
	cr_assert_null(strchr(err.msg, '\n'));
	cr_assert_eq(memcmp(&m, &before, sizeof(m)), 0, "'%s' changed the config on failure", opt);
}

Test(mem_config, size_only)
{
	struct gm_mem_config m = mem_ok("size=1G");

	cr_assert_eq(m.size, UINT64_C(1) << 30);
	cr_assert_eq(m.backend, GM_BACKEND_GUEST_MEMFD);
	cr_assert_eq(m.page_size, GM_PAGE_4K);
	cr_assert_eq(m.prealloc, false);
	cr_assert_eq(m.numa_node, -1);
	cr_assert_eq(m.bind, GM_BIND_GMEM);
	cr_assert_eq(m.bind_given, false);
}

Test(mem_config, bare_size_shorthand)
{
	struct gm_mem_config m = mem_ok("1G");

	cr_assert_eq(m.size, UINT64_C(1) << 30);
	m = mem_ok("512M,backend=memfd,hugepages=2M");
	cr_assert_eq(m.size, UINT64_C(512) << 20);
	cr_assert_eq(m.backend, GM_BACKEND_MEMFD);
	cr_assert_eq(m.page_size, GM_PAGE_2M);
}

Test(mem_config, every_option)
{
	struct gm_mem_config m =
		mem_ok("size=2G,backend=memfd,hugepages=1G,prealloc=on,numa-node=1,bind=mapped");

	cr_assert_eq(m.size, UINT64_C(2) << 30);
	cr_assert_eq(m.backend, GM_BACKEND_MEMFD);
	cr_assert_eq(m.page_size, GM_PAGE_1G);
	cr_assert_eq(m.prealloc, true);
	cr_assert_eq(m.numa_node, 1);
	cr_assert_eq(m.bind, GM_BIND_MAPPED);
	cr_assert_eq(m.bind_given, true);
}

Test(mem_config, any_order_and_size_optional)
{
	struct gm_mem_config m = mem_ok("backend=anon,size=64M");

	cr_assert_eq(m.size, UINT64_C(64) << 20);
	cr_assert_eq(m.backend, GM_BACKEND_ANON);
	m = mem_ok("prealloc=on");
	cr_assert_eq(m.size, UINT64_C(256) << 20, "size keeps its default when not given");
	cr_assert_eq(m.prealloc, true);
}

Test(mem_config, values)
{
	cr_assert_eq(mem_ok("1G,backend=guest-memfd").backend, GM_BACKEND_GUEST_MEMFD);
	cr_assert_eq(mem_ok("1G,backend=anon").backend, GM_BACKEND_ANON);
	cr_assert_eq(mem_ok("1G,hugepages=4K").page_size, GM_PAGE_4K);
	cr_assert_eq(mem_ok("1G,hugepages=2m").page_size, GM_PAGE_2M);
	cr_assert_eq(mem_ok("1G,hugepages=1g").page_size, GM_PAGE_1G);
	cr_assert_eq(mem_ok("1G,prealloc=off").prealloc, false);
	cr_assert_eq(mem_ok("1G,numa-node=0").numa_node, 0);
	cr_assert_eq(mem_ok("1G,numa-node=any").numa_node, -1, "any: no policy");
	cr_assert_eq(mem_ok("1G,bind=gmem").bind, GM_BIND_GMEM);
	cr_assert_eq(mem_ok("1G,track-dirty=on").track_dirty, true);
	cr_assert_eq(mem_ok("1G").track_dirty, false);
}

Test(mem_config, bind_default_follows_backend)
{
	struct gm_mem_config m = mem_ok("1G,backend=guest-memfd");

	cr_assert_eq(m.bind, GM_BIND_GMEM);
	cr_assert_eq(m.bind_given, false);
	m = mem_ok("1G,backend=memfd");
	cr_assert_eq(m.bind, GM_BIND_MAPPED);
	cr_assert_eq(m.bind_given, false);
	m = mem_ok("1G,backend=anon");
	cr_assert_eq(m.bind, GM_BIND_MAPPED);
	cr_assert_eq(m.bind_given, false);
	m = mem_ok("1G,backend=guest-memfd,bind=mapped");
	cr_assert_eq(m.bind, GM_BIND_MAPPED);
	cr_assert_eq(m.bind_given, true);
}

Test(mem_config, movable_default_follows_backend)
{
	struct gm_mem_config m = mem_ok("1G");

	cr_assert_eq(m.movable, false, "guest-memfd folios do not migrate");
	cr_assert_eq(m.movable_given, false);
	cr_assert_eq(gm_mem_movable(&m), false);
	m = mem_ok("1G,backend=memfd");
	cr_assert_eq(m.movable, true);
	cr_assert_eq(m.movable_given, false);
	cr_assert_eq(gm_mem_movable(&m), true);
	m = mem_ok("1G,backend=anon");
	cr_assert_eq(m.movable, true);
	cr_assert_eq(gm_mem_movable(&m), true);
	m = mem_ok("1G,backend=memfd,movable=off");
	cr_assert_eq(m.movable, false);
	cr_assert_eq(m.movable_given, true);
	cr_assert_eq(gm_mem_movable(&m), false);
	m = mem_ok("movable=OFF,backend=anon");
	cr_assert_eq(gm_mem_movable(&m), false);
	/* asked for: parsed, and gm_memory_check decides whether the kernel can */
	m = mem_ok("1G,backend=guest-memfd,movable=on");
	cr_assert_eq(m.movable, true);
	cr_assert_eq(m.movable_given, true);
	cr_assert_eq(gm_mem_movable(&m), true);
}

Test(mem_config, movable_without_the_parser_follows_the_backend)
{
	struct gm_mem_config m = defaults();

	/* a restore or re-home target sets backend= directly */
	m.backend = GM_BACKEND_MEMFD;
	cr_assert_eq(gm_mem_movable(&m), true);
	m.backend = GM_BACKEND_GUEST_MEMFD;
	cr_assert_eq(gm_mem_movable(&m), false);
}

Test(mem_config, direct_map_and_private)
{
	struct gm_mem_config m = mem_ok("1G");

	cr_assert_eq(m.no_direct_map, false);
	cr_assert_eq(m.private_mem, false);
	m = mem_ok("1G,direct-map=off,private=on");
	cr_assert_eq(m.no_direct_map, true);
	cr_assert_eq(m.private_mem, true);
	m = mem_ok("1G,direct-map=on,private=off");
	cr_assert_eq(m.no_direct_map, false);
	cr_assert_eq(m.private_mem, false);
	/* syntax only: direct-map=off with memfd is gm_memory_check's refusal */
	cr_assert_eq(mem_ok("1G,backend=memfd,direct-map=off").no_direct_map, true);
}

Test(mem_config, explicit_gmem_with_memfd_is_left_to_memory_check)
{
	struct gm_mem_config m = mem_ok("1G,backend=memfd,bind=gmem");

	cr_assert_eq(m.bind, GM_BIND_GMEM);
	cr_assert_eq(m.bind_given, true);
}

Test(mem_config, unknown_values)
{
	mem_bad("1G,backend=shm", "unknown memory backend 'shm'; use guest-memfd, memfd or anon");
	mem_bad("1G,hugepages=3M", "unknown page size hugepages=3M; use 4K, 2M or 1G");
	mem_bad("1G,hugepages=2048K", "use 4K, 2M or 1G");
	mem_bad("1G,prealloc=yes", "unknown value prealloc=yes; use on or off");
	mem_bad("1G,bind=shared", "unknown memory binding 'shared'; use gmem or mapped");
	mem_bad("1G,numa-node=x", "numa-node 'x' is not a node number");
	mem_bad("1G,numa-node=-1", "not a node number");
	mem_bad("1G,numa-node=99999999999", "numa-node '99999999999' is too large");
	mem_bad("1G,movable=yes", "unknown value movable=yes; use on or off");
	mem_bad("1G,direct-map=no", "unknown value direct-map=no; use on or off");
	mem_bad("1G,private=1", "unknown value private=1; use on or off");
	mem_bad("size=lots", "size 'lots' is not a number");
	mem_bad("size=-1G", "size '-1G' is negative");
}

Test(mem_config, unknown_keys)
{
	mem_bad("1G,color=red",
		"unknown memory option 'color'; use size, backend, hugepages, prealloc, numa-node, bind, track-dirty, movable, direct-map or private");
	mem_bad("shm", "unknown memory option 'shm'; use SIZE or size, backend");
	mem_bad("1G,2G", "unknown memory option '2G'");
	mem_bad("Size=1G", "unknown memory option 'Size'");
}

Test(mem_config, duplicates)
{
	mem_bad("size=1G,size=2G", "memory option 'size' given twice; give each option once");
	mem_bad("1G,size=2G", "memory option 'size' given twice");
	mem_bad("1G,backend=memfd,backend=anon", "memory option 'backend' given twice");
	mem_bad("1G,hugepages=2M,hugepages=2M", "'hugepages' given twice");
	mem_bad("1G,prealloc=on,prealloc=on", "'prealloc' given twice");
	mem_bad("1G,numa-node=0,numa-node=1", "'numa-node' given twice");
	mem_bad("1G,bind=gmem,bind=mapped", "'bind' given twice");
	mem_bad("1G,movable=on,movable=off", "'movable' given twice");
	mem_bad("1G,direct-map=off,direct-map=off", "'direct-map' given twice");
	mem_bad("1G,private=on,private=on", "'private' given twice");
}

Test(mem_config, missing_equals_and_empty_values)
{
	mem_bad("1G,backend", "memory option 'backend' needs a value; write backend=guest-memfd|memfd|anon");
	mem_bad("1G,prealloc", "memory option 'prealloc' needs a value; write prealloc=on|off");
	mem_bad("size", "memory option 'size' needs a value");
	mem_bad("1G,backend=", "memory option 'backend=' has an empty value; write backend=guest-memfd|memfd|anon");
	mem_bad("1G,hugepages=", "write hugepages=4K|2M|1G");
	mem_bad("1G,bind=", "write bind=gmem|mapped");
	mem_bad("1G,numa-node=", "write numa-node=N");
	mem_bad("1G,movable", "memory option 'movable' needs a value; write movable=on|off");
	mem_bad("1G,direct-map=", "write direct-map=on|off");
	mem_bad("1G,private=", "write private=on|off");
	mem_bad("size=", "memory option 'size=' has an empty value");
}

Test(mem_config, empty_items)
{
	mem_bad("", "empty memory option");
	mem_bad(NULL, "empty memory option");
	mem_bad("1G,", "empty item in memory option '1G,'");
	mem_bad(",1G", "empty item");
	mem_bad("1G,,backend=memfd", "empty item");
}

Test(mem_config, size_is_syntax_only)
{
	/* sizes that fit no page size parse; gm_memory_check refuses them (tests/unit/mem) */
	cr_assert_eq(mem_ok("0").size, 0);
	cr_assert_eq(mem_ok("4097").size, 4097);
	cr_assert_eq(mem_ok("hugepages=2M,size=3M").size, UINT64_C(3) << 20);
	cr_assert_eq(mem_ok("3G,hugepages=1G").size, UINT64_C(3) << 30);
}

Test(mem_config, long_value_is_refused_not_truncated)
{
	char opt[600];

	memset(opt, '1', sizeof(opt) - 1);
	opt[sizeof(opt) - 1] = '\0';
	memcpy(opt, "size=", 5);
	mem_bad(opt, "memory option 'size' has a value of 594 bytes");
}
