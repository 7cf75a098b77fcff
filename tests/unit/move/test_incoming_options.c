/*
 * `gmvm run --incoming URL [--incoming-identity UUID] [--incoming-timeout S]`
 * as gm_cli_parse_run reads it: what the destination is given.  The
 * refusals are run through the binary in tests/integration/test_migrate_cli.c.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <string.h>

#include "cli/options.h"

#define MAX_ARGS 16

static int parse(struct gm_config *cfg, struct gm_error *err, ...)
{
	static char *argv[MAX_ARGS + 2];
	va_list ap;
	int argc = 0;

	argv[argc++] = "run";
	va_start(ap, err);
	for (char *a; (a = va_arg(ap, char *)) && argc <= MAX_ARGS;)
		argv[argc++] = a;
	va_end(ap);
	argv[argc] = NULL;
	gm_error_clear(err);
	return gm_cli_parse_run(argc, argv, cfg, err);
}

#define OK(cfg, ...) do { \
	struct gm_error e_; \
	int r_ = parse(cfg, &e_, __VA_ARGS__, NULL); \
	cr_assert_eq(r_, 0, "refused: %s", e_.msg); \
} while (0)

Test(incoming_options, the_url_replaces_the_guest_image)
{
	struct gm_config cfg;

	OK(&cfg, "--incoming", "tcp:0.0.0.0:4444");
	cr_assert_str_eq(cfg.incoming, "tcp:0.0.0.0:4444");
	cr_assert_null(cfg.kernel);
	cr_assert_null(cfg.incoming_identity);
	cr_assert_eq(cfg.incoming_timeout, 0, "no limit unless asked");
	cr_assert_eq(cfg.nrestore, 0);
}

Test(incoming_options, all_of_them_with_the_destinations_own_options)
{
	static const char uuid[] = "6f1c2a3e-0d4b-4c8e-9a7f-2b5d1e3c4a6f";
	struct gm_config cfg;

	OK(&cfg, "--memory", "1G,backend=memfd", "--incoming=unix:/run/gmvm/in.sock", "--incoming-identity", uuid,
	   "--incoming-timeout", "2.5", "--api-sock", "/run/gmvm/api.sock", "--console", "none");
	cr_assert_str_eq(cfg.incoming, "unix:/run/gmvm/in.sock");
	cr_assert_str_eq(cfg.incoming_identity, uuid);
	cr_assert_eq(cfg.incoming_timeout, 2.5);
	cr_assert_str_eq(cfg.api_sock, "/run/gmvm/api.sock");
	cr_assert_eq(cfg.mem.backend, GM_BACKEND_MEMFD);
	cr_assert_null(cfg.kernel);
}

Test(incoming_options, ipv6_and_relative_paths)
{
	struct gm_config cfg;

	OK(&cfg, "--incoming", "tcp:[::]:4444");
	cr_assert_str_eq(cfg.incoming, "tcp:[::]:4444");
	OK(&cfg, "--incoming", "unix:in.sock");
	cr_assert_str_eq(cfg.incoming, "unix:in.sock");
}

Test(incoming_options, nothing_leaks_into_the_next_parse)
{
	struct gm_config cfg;

	OK(&cfg, "--incoming", "unix:in.sock", "--incoming-timeout", "5");
	OK(&cfg, "guest.elf");
	cr_assert_null(cfg.incoming);
	cr_assert_eq(cfg.incoming_timeout, 0);
	cr_assert_str_eq(cfg.kernel, "guest.elf");
}
