/*
 * --region: gm_region_config_parse (the --memory keys plus name=), the
 * checks of the regions as a whole, and the option in `gmvm run`.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "cli/options.h"
#include "gmvm/config.h"

static struct gm_region_config parsed(const char *spec)
{
	struct gm_region_config r;
	struct gm_error err = { 0 };

	cr_assert_eq(gm_region_config_parse(spec, &r, &err), 0, "'%s' refused: %s", spec, err.msg);
	return r;
}

static void refused(const char *spec, const char *want)
{
	struct gm_region_config r;
	struct gm_error err = { 0 };

	cr_assert_lt(gm_region_config_parse(spec, &r, &err), 0, "'%s' accepted", spec);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert(strstr(err.msg, want), "'%s': message '%s' lacks '%s'", spec, err.msg, want);
}

Test(region_config, name_and_the_memory_keys_in_any_order)
{
	struct gm_region_config r = parsed("size=64M,name=extra,backend=memfd,hugepages=2M,prealloc=on,numa-node=0");

	cr_assert_str_eq(r.name, "extra");
	cr_assert_eq(r.mem.size, UINT64_C(64) << 20);
	cr_assert_eq(r.mem.backend, GM_BACKEND_MEMFD);
	cr_assert_eq(r.mem.bind, GM_BIND_MAPPED, "memfd binds mapped by default, as with --memory");
	cr_assert_eq(r.mem.page_size, GM_PAGE_2M);
	cr_assert(r.mem.prealloc);
	cr_assert_eq(r.mem.numa_node, 0);
	cr_assert(r.mem.given);
	cr_assert_eq(r.gpa, 0, "placed by the machine");
}

Test(region_config, movable_and_hiding_keys_as_with_memory)
{
	struct gm_region_config r = parsed("name=pinned,size=64M,backend=anon,movable=off");

	cr_assert_eq(r.mem.backend, GM_BACKEND_ANON);
	cr_assert_eq(gm_mem_movable(&r.mem), false);
	cr_assert(r.mem.movable_given);
	r = parsed("name=free,size=64M,backend=memfd");
	cr_assert_eq(gm_mem_movable(&r.mem), true, "memfd moves unless pinned");
	r = parsed("name=hidden,size=64M,direct-map=off,private=on");
	cr_assert_eq(r.mem.no_direct_map, true);
	cr_assert_eq(r.mem.private_mem, true);
	r = parsed("name=g");
	cr_assert_eq(gm_mem_movable(&r.mem), false, "guest-memfd by default: unmovable");
}

Test(region_config, defaults_are_those_of_memory_without_a_size)
{
	struct gm_region_config r = parsed("name=a-1");

	cr_assert_eq(r.mem.size, 0);
	cr_assert_eq(r.mem.backend, GM_BACKEND_GUEST_MEMFD);
	cr_assert_eq(r.mem.bind, GM_BIND_GMEM);
	cr_assert_eq(r.mem.page_size, GM_PAGE_4K);
	cr_assert_eq(r.mem.numa_node, -1);
	cr_assert_str_eq(parsed("name=x,1G").name, "x");
	cr_assert_eq(parsed("name=x,1G").mem.size, UINT64_C(1) << 30);
}

Test(region_config, refusals)
{
	refused("size=64M", "names no region; add name=NAME");
	refused("name=Extra,size=64M", "region name 'Extra' has 'E'");
	refused("name=a_b,size=64M", "has '_'");
	refused("name=,size=64M", "region name is empty");
	refused("name=sixteen-chars-xy,size=64M", "is 16 characters");
	refused("name=a,name=b", "'name' given twice");
	refused("name,size=1M", "'name' needs a value");
	refused("name=a,size=64M,color=red", "unknown memory option 'color'");
	refused("name=a,size=64M,size=1G", "'size' given twice");
	refused("name=a,backend=floppy", "unknown memory backend 'floppy'");
	refused("", "empty region option");
}

static struct gm_config with_regions(unsigned n, ...)
{
	struct gm_config c;
	va_list ap;

	gm_config_defaults(&c);
	va_start(ap, n);
	for (unsigned i = 0; i < n; i++)
		c.regions[c.nregions++] = parsed(va_arg(ap, const char *));
	va_end(ap);
	return c;
}

Test(region_config, regions_as_a_whole)
{
	struct gm_error err = { 0 };
	struct gm_config c = with_regions(2, "name=a,size=1G", "name=b,size=2M");

	cr_assert_eq(gm_regions_check(&c, true, &err), 0, "%s", err.msg);
	c = with_regions(2, "name=a,size=1G", "name=a,size=2M");
	cr_assert_lt(gm_regions_check(&c, true, &err), 0);
	cr_assert(strstr(err.msg, "--region a: given twice"), "%s", err.msg);
	gm_error_clear(&err);
	c = with_regions(1, "name=ram,size=1G");
	cr_assert_lt(gm_regions_check(&c, true, &err), 0);
	cr_assert(strstr(err.msg, "the region ram is the RAM that --memory gives"), "%s", err.msg);
	gm_error_clear(&err);
	c = with_regions(1, "name=a");
	cr_assert_eq(gm_regions_check(&c, false, &err), 0, "a restore takes the size from the snapshot");
	cr_assert_lt(gm_regions_check(&c, true, &err), 0);
	cr_assert(strstr(err.msg, "--region a: no size; add size=SIZE"), "%s", err.msg);
}

/* `gmvm run` arguments after "run", NULL-terminated. */
static int run_args(struct gm_config *cfg, struct gm_error *err, const char *const *args)
{
	char *argv[32];
	int argc = 0;

	argv[argc++] = "run";
	for (; *args && argc < 31; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	gm_error_clear(err);
	return gm_cli_parse_run(argc, argv, cfg, err);
}

Test(region_option, regions_in_order_beside_memory)
{
	struct gm_config c;
	struct gm_error err;

	cr_assert_eq(run_args(&c, &err, (const char *const[]){ "--memory", "512M", "--region", "name=extra,size=64M",
							     "--region=name=b2,size=1G,backend=anon", "g.elf", NULL }),
		     0, "%s", err.msg);
	cr_assert_eq(c.mem.size, UINT64_C(512) << 20);
	cr_assert_eq(c.nregions, 2);
	cr_assert_str_eq(c.regions[0].name, "extra");
	cr_assert_str_eq(c.regions[1].name, "b2");
	cr_assert_eq(c.regions[1].mem.backend, GM_BACKEND_ANON);
	/* a restore may name a region without a size: the snapshot has it */
	cr_assert_eq(run_args(&c, &err, (const char *const[]){ "--restore", "snap", "--region", "name=extra,backend=anon",
							     NULL }),
		     0, "%s", err.msg);
}

static void run_refused(const char *want, const char *const *args)
{
	struct gm_config c;
	struct gm_error err;

	cr_assert_lt(run_args(&c, &err, args), 0, "accepted, wanted '%s'", want);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert(strstr(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
	cr_assert_null(strchr(err.msg, '\n'));
}

Test(region_option, refusals)
{
	run_refused("--region a: given twice",
		    (const char *const[]){ "--region", "name=a,size=1M", "--region", "name=a,size=2M", "g.elf", NULL });
	run_refused("--region ram: the region ram is the RAM that --memory gives",
		    (const char *const[]){ "--region", "name=ram,size=1M", "g.elf", NULL });
	run_refused("--region name=Bad,size=1M: region name 'Bad' has 'B'",
		    (const char *const[]){ "--region", "name=Bad,size=1M", "g.elf", NULL });
	run_refused("--region x: no size; add size=SIZE", (const char *const[]){ "--region", "name=x", "g.elf", NULL });
	run_refused("--region name=r8,size=1M: too many regions; a VM has at most 8 in all",
		    (const char *const[]){ "--region", "name=r1,size=1M", "--region", "name=r2,size=1M", "--region",
					   "name=r3,size=1M", "--region", "name=r4,size=1M", "--region", "name=r5,size=1M",
					   "--region", "name=r6,size=1M", "--region", "name=r7,size=1M", "--region",
					   "name=r8,size=1M", "g.elf", NULL });
}
