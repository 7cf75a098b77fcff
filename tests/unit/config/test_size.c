/* gm_parse_size and the config defaults and names. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "gmvm/config.h"

static uint64_t size_ok(const char *s)
{
	struct gm_error err = { 0 };
	uint64_t v = 0;

	cr_assert_eq(gm_parse_size(s, &v, &err), 0, "'%s' refused: %s", s, err.msg);
	return v;
}

static void size_bad(const char *s, int ret, const char *msg)
{
	struct gm_error err = { 0 };
	uint64_t v = 12345;

	cr_assert_eq(gm_parse_size(s, &v, &err), ret, "'%s' gave the wrong return", s);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert_eq(v, 12345, "'%s' wrote the output on failure", s);
	cr_assert(strstr(err.msg, msg), "'%s': message '%s' lacks '%s'", s, err.msg, msg);
	cr_assert_null(strchr(err.msg, '\n'));
}

Test(size, binary_units)
{
	cr_assert_eq(size_ok("1G"), UINT64_C(1) << 30);
	cr_assert_eq(size_ok("512M"), UINT64_C(512) << 20);
	cr_assert_eq(size_ok("4096"), 4096);
	cr_assert_eq(size_ok("2T"), UINT64_C(2) << 40);
	cr_assert_eq(size_ok("64K"), UINT64_C(64) << 10);
	cr_assert_eq(size_ok("0"), 0);
}

Test(size, suffix_spellings)
{
	cr_assert_eq(size_ok("1GiB"), UINT64_C(1) << 30);
	cr_assert_eq(size_ok("1gb"), UINT64_C(1) << 30);
	cr_assert_eq(size_ok("1g"), UINT64_C(1) << 30);
	cr_assert_eq(size_ok("3MB"), UINT64_C(3) << 20);
	cr_assert_eq(size_ok("3mib"), UINT64_C(3) << 20);
	cr_assert_eq(size_ok("4096B"), 4096);
}

Test(size, limits)
{
	cr_assert_eq(size_ok("18446744073709551615"), UINT64_MAX);
	cr_assert_eq(size_ok("16777215T"), UINT64_C(16777215) << 40);
	size_bad("18446744073709551616", -ERANGE, "too large");
	size_bad("16777216T", -ERANGE, "too large");
	size_bad("99999999999999999999G", -ERANGE, "too large");
}

Test(size, refusals)
{
	size_bad("", -EINVAL, "empty size");
	size_bad(NULL, -EINVAL, "empty size");
	size_bad("-1", -EINVAL, "is negative");
	size_bad("junk", -EINVAL, "'junk' is not a number");
	size_bad("G", -EINVAL, "not a number");
	size_bad(" 1G", -EINVAL, "not a number");
	size_bad("+1G", -EINVAL, "not a number");
	size_bad("1X", -EINVAL, "unknown unit; use K, M, G or T");
	size_bad("1iB", -EINVAL, "unknown unit");
	size_bad("1GG", -EINVAL, "unknown unit");
	size_bad("1Gx", -EINVAL, "unknown unit");
	size_bad("1 G", -EINVAL, "unknown unit");
	size_bad("1.5G", -EINVAL, "unknown unit");
	size_bad("0x10", -EINVAL, "unknown unit");
}

Test(size, null_error_is_allowed)
{
	uint64_t v;

	cr_assert_eq(gm_parse_size("junk", &v, NULL), -EINVAL);
}

Test(config, defaults)
{
	struct gm_config cfg;

	memset(&cfg, 0xa5, sizeof(cfg));
	gm_config_defaults(&cfg);
	cr_assert_eq(cfg.cpus, 1);
	cr_assert_eq(cfg.mem.size, UINT64_C(256) << 20);
	cr_assert_eq(cfg.mem.backend, GM_BACKEND_GUEST_MEMFD);
	cr_assert_eq(cfg.mem.page_size, GM_PAGE_4K);
	cr_assert_eq(cfg.mem.prealloc, false);
	cr_assert_eq(cfg.mem.numa_node, -1);
	cr_assert_eq(cfg.mem.bind, GM_BIND_GMEM);
	cr_assert_eq(cfg.mem.bind_given, false);
	cr_assert_null(cfg.kernel);
	cr_assert_null(cfg.cmdline);
	cr_assert_eq(cfg.console, GM_CONSOLE_STDIO);
	cr_assert_null(cfg.console_path);
	cr_assert_eq(cfg.entry, GM_ENTRY_AUTO);
	cr_assert_eq(cfg.timeout, 0.0);
	cr_assert_eq(cfg.trace_startup, false);
}

Test(config, names)
{
	cr_assert_str_eq(gm_backend_name(GM_BACKEND_GUEST_MEMFD), "guest-memfd");
	cr_assert_str_eq(gm_backend_name(GM_BACKEND_MEMFD), "memfd");
	cr_assert_str_eq(gm_backend_name(GM_BACKEND_ANON), "anon");
	cr_assert_str_eq(gm_bind_name(GM_BIND_GMEM), "gmem");
	cr_assert_str_eq(gm_bind_name(GM_BIND_MAPPED), "mapped");
	cr_assert_str_eq(gm_backend_name((enum gm_backend)99), "unknown");
}
