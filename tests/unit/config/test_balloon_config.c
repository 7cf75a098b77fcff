/* gm_balloon_config_parse: --balloon's items, defaults and refusals, and the option through gm_cli_parse_run. */
#include <criterion/criterion.h>
#include <string.h>

#include "cli/options.h"
#include "gmvm/config.h"

static void bad(const char *opt, const char *want)
{
	struct gm_balloon_config b = { 0 };
	struct gm_error e;

	gm_error_clear(&e);
	cr_assert_lt(gm_balloon_config_parse(opt, &b, &e), 0, "'%s' accepted", opt);
	cr_assert_eq(e.status, GM_STATUS_BAD_INPUT);
	cr_assert(!strncmp(e.msg, "--balloon", 9), "message '%s' does not start with --balloon", e.msg);
	cr_assert(strstr(e.msg, want), "message '%s' lacks '%s'", e.msg, want);
	cr_assert_null(strchr(e.msg, '\n'));
	cr_assert_not(b.on, "a refused option changed the config");
}

Test(balloon_config, bare_gives_the_defaults)
{
	struct gm_balloon_config b;
	struct gm_error e;

	cr_assert_eq(gm_balloon_config_parse("", &b, &e), 0);
	cr_assert(b.on);
	cr_assert(b.free_page_reporting);
	cr_assert_not(b.deflate_on_oom);
	cr_assert_eq(gm_balloon_config_parse(NULL, &b, &e), 0);
	cr_assert(b.on);
}

Test(balloon_config, items_in_any_order)
{
	struct gm_balloon_config b;
	struct gm_error e;

	cr_assert_eq(gm_balloon_config_parse("free-page-reporting=off,deflate-on-oom=on", &b, &e), 0, "%s", e.msg);
	cr_assert(b.on);
	cr_assert_not(b.free_page_reporting);
	cr_assert(b.deflate_on_oom);
	cr_assert_eq(gm_balloon_config_parse("deflate-on-oom=off,free-page-reporting=on", &b, &e), 0, "%s", e.msg);
	cr_assert(b.free_page_reporting);
	cr_assert_not(b.deflate_on_oom);
}

Test(balloon_config, refusals)
{
	bad("free-page-reporting=yes", "free-page-reporting= takes on or off");
	bad("deflate-on-oom=", "deflate-on-oom= takes on or off");
	bad("reporting=on", "unknown item");
	bad("free-page-reporting", "without '='");
	bad("deflate-on-oom=on,", "empty item");
	bad(",", "without '='");
}

Test(balloon_config, through_the_run_options)
{
	char *argv1[] = { "run", "--balloon", "g.elf", NULL };
	char *argv2[] = { "run", "--balloon=deflate-on-oom=on", "g.elf", NULL };
	char *argv3[] = { "run", "--balloon", "--balloon", "g.elf", NULL };
	struct gm_config cfg;
	struct gm_error e;

	cr_assert_eq(gm_cli_parse_run(3, argv1, &cfg, &e), 0, "%s", e.msg);
	cr_assert(cfg.balloon.on && cfg.balloon.free_page_reporting && !cfg.balloon.deflate_on_oom);
	cr_assert_eq(gm_cli_parse_run(3, argv2, &cfg, &e), 0, "%s", e.msg);
	cr_assert(cfg.balloon.on && cfg.balloon.deflate_on_oom);
	cr_assert_lt(gm_cli_parse_run(4, argv3, &cfg, &e), 0);
	cr_assert(strstr(e.msg, "--balloon given twice"), "%s", e.msg);
}
