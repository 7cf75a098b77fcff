/* gm_cli_parse_run and gm_cli_run_usage: every `gmvm run` option and refusal. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/options.h"

#define MAX_ARGS 16

/* Parse a NULL-terminated list of arguments after "run". */
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

#define BAD(want_, ...) do { \
	struct gm_config c_; \
	struct gm_error e_; \
	int r_ = parse(&c_, &e_, __VA_ARGS__, NULL); \
	cr_assert_lt(r_, 0, "accepted, expected '%s'", want_); \
	cr_assert_eq(e_.status, GM_STATUS_BAD_INPUT); \
	cr_assert(strstr(e_.msg, want_), "message '%s' lacks '%s'", e_.msg, want_); \
	cr_assert_null(strchr(e_.msg, '\n')); \
} while (0)

Test(cli_run, only_the_elf_gives_defaults)
{
	struct gm_config cfg;

	OK(&cfg, "guest.elf");
	cr_assert_str_eq(cfg.kernel, "guest.elf");
	cr_assert_eq(cfg.cpus, 1);
	cr_assert_eq(cfg.mem.size, UINT64_C(256) << 20);
	cr_assert_eq(cfg.mem.backend, GM_BACKEND_GUEST_MEMFD);
	cr_assert_eq(cfg.mem.bind, GM_BIND_GMEM);
	cr_assert_null(cfg.cmdline);
	cr_assert_eq(cfg.console, GM_CONSOLE_STDIO);
	cr_assert_eq(cfg.entry, GM_ENTRY_AUTO);
	cr_assert_eq(cfg.timeout, 0.0);
	cr_assert_eq(cfg.trace_startup, false);
}

Test(cli_run, every_option_long)
{
	struct gm_config cfg;

	OK(&cfg, "--memory", "1G,backend=memfd,hugepages=2M", "--cpus", "4",
	   "--cmdline", "console=ttyS0 n=3", "--console", "file:/tmp/out.log",
	   "--entry", "pvh", "--timeout", "2.5", "--trace-startup", "g.elf");
	cr_assert_eq(cfg.mem.size, UINT64_C(1) << 30);
	cr_assert_eq(cfg.mem.backend, GM_BACKEND_MEMFD);
	cr_assert_eq(cfg.mem.page_size, GM_PAGE_2M);
	cr_assert_eq(cfg.mem.bind, GM_BIND_MAPPED);
	cr_assert_eq(cfg.cpus, 4);
	cr_assert_str_eq(cfg.cmdline, "console=ttyS0 n=3");
	cr_assert_eq(cfg.console, GM_CONSOLE_FILE);
	cr_assert_str_eq(cfg.console_path, "/tmp/out.log");
	cr_assert_eq(cfg.entry, GM_ENTRY_PVH);
	cr_assert_eq(cfg.timeout, 2.5);
	cr_assert_eq(cfg.trace_startup, true);
	cr_assert_str_eq(cfg.kernel, "g.elf");
}

Test(cli_run, short_and_equals_forms)
{
	struct gm_config cfg;

	OK(&cfg, "-m", "512M", "-c", "2", "-a", "x=1", "g.elf");
	cr_assert_eq(cfg.mem.size, UINT64_C(512) << 20);
	cr_assert_eq(cfg.cpus, 2);
	cr_assert_str_eq(cfg.cmdline, "x=1");
	OK(&cfg, "-m2G", "-c8", "-a--not-an-option", "g.elf");
	cr_assert_eq(cfg.mem.size, UINT64_C(2) << 30);
	cr_assert_eq(cfg.cpus, 8);
	cr_assert_str_eq(cfg.cmdline, "--not-an-option");
	OK(&cfg, "--memory=64M", "--cpus=3", "--cmdline=a=b", "--entry=linux64", "g.elf");
	cr_assert_eq(cfg.mem.size, UINT64_C(64) << 20);
	cr_assert_eq(cfg.cpus, 3);
	cr_assert_str_eq(cfg.cmdline, "a=b");
	cr_assert_eq(cfg.entry, GM_ENTRY_LINUX64);
}

Test(cli_run, options_after_elf_and_double_dash)
{
	struct gm_config cfg;

	OK(&cfg, "g.elf", "--cpus", "2");
	cr_assert_str_eq(cfg.kernel, "g.elf");
	cr_assert_eq(cfg.cpus, 2);
	OK(&cfg, "--", "--odd-name.elf");
	cr_assert_str_eq(cfg.kernel, "--odd-name.elf");
	OK(&cfg, "-a", "", "g.elf");
	cr_assert_str_eq(cfg.cmdline, "");
}

Test(cli_run, cpus_bounds)
{
	struct gm_config cfg;

	OK(&cfg, "--cpus", "1", "g.elf");
	cr_assert_eq(cfg.cpus, 1);
	OK(&cfg, "--cpus", "64", "g.elf");
	cr_assert_eq(cfg.cpus, 64);
	BAD("--cpus 0: must be 1 to 64", "--cpus", "0", "g.elf");
	BAD("--cpus 65: must be 1 to 64", "--cpus", "65", "g.elf");
	BAD("--cpus 99999999999999999999: must be 1 to 64", "--cpus", "99999999999999999999", "g.elf");
	BAD("--cpus two: must be 1 to 64", "--cpus", "two", "g.elf");
	BAD("--cpus -1: must be 1 to 64", "--cpus", "-1", "g.elf");
	BAD("--cpus 2x: must be 1 to 64", "-c", "2x", "g.elf");
	BAD("--cpus : must be 1 to 64", "--cpus=", "g.elf");
}

Test(cli_run, timeout)
{
	struct gm_config cfg;

	OK(&cfg, "--timeout", "10", "g.elf");
	cr_assert_eq(cfg.timeout, 10.0);
	OK(&cfg, "--timeout", "0.5", "g.elf");
	cr_assert_eq(cfg.timeout, 0.5);
	OK(&cfg, "--timeout", ".25", "g.elf");
	cr_assert_eq(cfg.timeout, 0.25);
	BAD("--timeout 0: must be a positive number of seconds", "--timeout", "0", "g.elf");
	BAD("--timeout 0.0: must be a positive", "--timeout", "0.0", "g.elf");
	BAD("--timeout -1: must be a positive", "--timeout", "-1", "g.elf");
	BAD("--timeout soon: must be a positive", "--timeout", "soon", "g.elf");
	BAD("--timeout 1e3: must be a positive", "--timeout", "1e3", "g.elf");
	BAD("--timeout 1.2.3: must be a positive", "--timeout", "1.2.3", "g.elf");
	BAD("--timeout .: must be a positive", "--timeout", ".", "g.elf");
	BAD("--timeout inf: must be a positive", "--timeout", "inf", "g.elf");
	BAD("--timeout 2000000000: must be at most 1000000000 seconds", "--timeout", "2000000000", "g.elf");
}

Test(cli_run, console)
{
	struct gm_config cfg;

	OK(&cfg, "--console", "none", "g.elf");
	cr_assert_eq(cfg.console, GM_CONSOLE_NONE);
	OK(&cfg, "--console", "stdio", "g.elf");
	cr_assert_eq(cfg.console, GM_CONSOLE_STDIO);
	cr_assert_null(cfg.console_path);
	OK(&cfg, "--console=file:log.txt", "g.elf");
	cr_assert_eq(cfg.console, GM_CONSOLE_FILE);
	cr_assert_str_eq(cfg.console_path, "log.txt");
	BAD("--console file:: the path is empty; write file:PATH", "--console", "file:", "g.elf");
	BAD("--console tty: unknown console; use stdio, file:PATH or none", "--console", "tty", "g.elf");
	BAD("--console : unknown console", "--console", "", "g.elf");
}

Test(cli_run, entry)
{
	struct gm_config cfg;

	OK(&cfg, "--entry", "auto", "g.elf");
	cr_assert_eq(cfg.entry, GM_ENTRY_AUTO);
	OK(&cfg, "--entry", "linux64", "g.elf");
	cr_assert_eq(cfg.entry, GM_ENTRY_LINUX64);
	OK(&cfg, "--entry", "pvh", "g.elf");
	cr_assert_eq(cfg.entry, GM_ENTRY_PVH);
	BAD("--entry bzimage: unknown entry; use auto, linux64 or pvh", "--entry", "bzimage", "g.elf");
}

Test(cli_run, cmdline_length)
{
	struct gm_config cfg;
	char *s = malloc(GM_CLI_CMDLINE_MAX + 2);

	memset(s, 'x', GM_CLI_CMDLINE_MAX);
	s[GM_CLI_CMDLINE_MAX] = '\0';
	OK(&cfg, "--cmdline", s, "g.elf");
	cr_assert_eq(strlen(cfg.cmdline), 4095);
	s[GM_CLI_CMDLINE_MAX] = 'x';
	s[GM_CLI_CMDLINE_MAX + 1] = '\0';
	BAD("--cmdline: 4096 bytes is too long; the guest command line holds at most 4095",
	    "--cmdline", s, "g.elf");
	free(s);
}

Test(cli_run, memory)
{
	BAD("--memory given twice", "--memory", "1G", "-m", "2G", "g.elf");
	BAD("--memory size=1G,backend=shm: unknown memory backend 'shm'; use guest-memfd, memfd or anon",
	    "--memory", "size=1G,backend=shm", "g.elf");
	BAD("--memory junk: unknown memory option 'junk'", "-m", "junk", "g.elf");
}

Test(cli_run, positionals)
{
	BAD("missing the guest ELF; usage: gmvm run [OPTIONS] GUEST.elf", "--cpus", "2");
	BAD("unexpected argument 'b.elf' after the guest ELF 'a.elf'; usage: gmvm run",
	    "a.elf", "b.elf");
	BAD("unexpected argument '--x' after the guest ELF 'a.elf'", "a.elf", "--", "--x");
	BAD("the guest ELF path is empty", "");

	struct gm_config cfg;
	struct gm_error err;
	char *argv[] = { "run", NULL };

	gm_error_clear(&err);
	cr_assert_lt(gm_cli_parse_run(1, argv, &cfg, &err), 0);
	cr_assert(strstr(err.msg, "missing the guest ELF"), "%s", err.msg);
}

Test(cli_run, option_syntax)
{
	BAD("unknown option '--cpu'; usage: gmvm run [OPTIONS] GUEST.elf", "--cpu", "2", "g.elf");
	BAD("unknown option '-x'", "-x", "g.elf");
	BAD("unknown option '-hx'", "-hx", "g.elf");
	BAD("--cpus needs a value; write --cpus N", "g.elf", "--cpus");
	BAD("--memory needs a value; write --memory SPEC", "g.elf", "-m");
	BAD("--trace-startup takes no value", "--trace-startup=yes", "g.elf");
	BAD("--help takes no value", "--help=1");
}

Test(cli_run, help_prints_usage_and_returns_1, .init = cr_redirect_stdout)
{
	struct gm_config cfg;
	struct gm_error err;

	cr_assert_eq(parse(&cfg, &err, "--help", NULL), 1);
	cr_assert_eq(parse(&cfg, &err, "g.elf", "-h", "--cpus", "0", NULL), 1);
	fflush(stdout);
	cr_assert_stdout_neq_str("");
}

Test(cli_run, help_text_starts_with_usage, .init = cr_redirect_stdout)
{
	struct gm_config cfg;
	struct gm_error err;

	cr_assert_eq(parse(&cfg, &err, "-h", NULL), 1);
	fflush(stdout);
	FILE *out = cr_get_redirected_stdout();
	char line[128];

	cr_assert_not_null(fgets(line, sizeof(line), out));
	cr_assert_str_eq(line, "Usage: gmvm run [OPTIONS] GUEST.elf\n");
}

Test(cli_run, usage_lists_every_option_in_80_columns)
{
	static const char *const wanted[] = {
		"-m, --memory SPEC", "-c, --cpus N", "-a, --cmdline STR", "--console WHERE",
		"--entry KIND", "--timeout SECONDS", "--trace-startup", "-h, --help",
		"size=SIZE ", "backend=KIND", "hugepages=SIZE", "prealloc=on|off",
		"numa-node=N", "bind=gmem|mapped",
	};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cr_assert_not_null(f);
	gm_cli_run_usage(f);
	fclose(f);
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
		char *line = strstr(text, wanted[i]);

		cr_assert_not_null(line, "usage lacks '%s'", wanted[i]);
		if (strcmp(wanted[i], "-h, --help") != 0) {
			char *nl = strchr(line, '\n');

			cr_assert(memmem(line, (size_t)(nl - line), "(default:", 9),
				  "'%s' has no default on its line", wanted[i]);
		}
	}
	for (char *p = text, *nl; (nl = strchr(p, '\n')); p = nl + 1)
		cr_assert_lt(nl - p, 80, "usage line too long: %.*s", (int)(nl - p), p);
	free(text);
}

Test(cli_run, repeated_calls_in_one_process)
{
	for (int round = 0; round < 3; round++) {
		struct gm_config cfg;

		OK(&cfg, "--cpus", "4", "-m", "1G", "a.elf");
		cr_assert_eq(cfg.cpus, 4);
		cr_assert_str_eq(cfg.kernel, "a.elf");
		BAD("--cpus 0", "--cpus", "0", "a.elf");
		OK(&cfg, "b.elf");
		cr_assert_eq(cfg.cpus, 1, "state leaked from the previous call");
		cr_assert_eq(cfg.mem.size, UINT64_C(256) << 20);
		cr_assert_str_eq(cfg.kernel, "b.elf");
		OK(&cfg, "-c", "2", "c.elf");
		cr_assert_eq(cfg.cpus, 2);
	}
}
