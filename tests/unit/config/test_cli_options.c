/* gm_cli_parse_run and gm_cli_run_usage: every `gmvm run` option and refusal. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

Test(cli_run, api_sock_and_event_monitor)
{
	struct gm_config cfg;
	struct gm_error err = { 0 };

	OK(&cfg, "--api-sock", "/tmp/g.sock", "--event-monitor=path=/tmp/ev", "g.elf");
	cr_assert_str_eq(cfg.api_sock, "/tmp/g.sock");
	cr_assert_str_eq(cfg.event_monitor, "path=/tmp/ev");
	OK(&cfg, "g.elf");
	cr_assert_null(cfg.api_sock);
	cr_assert_null(cfg.event_monitor);
	char *argv[] = { "run", "--api-sock", "", "g.elf", NULL };
	cr_assert_eq(gm_cli_parse_run(4, argv, &cfg, &err), -EINVAL);
	cr_assert(strstr(err.msg, "--api-sock: the path is empty"), "%s", err.msg);
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
	BAD("missing the guest ELF; usage: gmvm run [OPTIONS] GUEST", "--cpus", "2");
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
	BAD("unknown option '--cpus2'; usage: gmvm run [OPTIONS] GUEST", "--cpus2", "2", "g.elf");
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
	cr_assert_str_eq(line, "Usage: gmvm run [OPTIONS] GUEST\n");
}

Test(cli_run, usage_lists_every_option_in_80_columns)
{
	static const char *const wanted[] = {
		"--kernel PATH", "-m, --memory SPEC", "-c, --cpus N", "-a, --cmdline STR", "--console WHERE",
		"--entry KIND", "--timeout SECONDS", "--trace-startup", "--api-sock PATH",
		"--event-monitor TO", "-h, --help",
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

Test(cli_run, kernel_option)
{
	struct gm_config cfg;

	OK(&cfg, "--kernel", "g.elf");
	cr_assert_str_eq(cfg.kernel, "g.elf");
	OK(&cfg, "--cpus", "2", "--kernel=h.elf", "-m", "1G");
	cr_assert_str_eq(cfg.kernel, "h.elf");
	BAD("--kernel 'a.elf' and the argument 'b.elf' both name the guest ELF; give it once, either way",
	    "--kernel", "a.elf", "b.elf");
	BAD("--kernel 'a.elf' and the argument 'b.elf' both name the guest ELF; give it once, either way",
	    "b.elf", "--kernel", "a.elf");
	BAD("--kernel given twice ('a.elf' and 'b.elf'); give one guest ELF",
	    "--kernel", "a.elf", "--kernel", "b.elf");
	BAD("the guest ELF path is empty", "--kernel", "");
	BAD("--kernel needs a value; write --kernel PATH", "--kernel");
}

/* A temporary directory holding an "image" file; removed by the test. */
static void temp_image(char *dir, size_t dlen, char *img, size_t ilen)
{
	FILE *f;

	snprintf(dir, dlen, "/tmp/gm-cli-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(img, ilen, "%s/g.elf", dir);
	f = fopen(img, "w");
	cr_assert_not_null(f);
	fputs("\x7f" "ELF not really", f);
	fclose(f);
}

Test(cli_run, console_file_that_is_the_image_is_refused)
{
	char dir[64], img[128], con[160], other[128], link_path[128];
	struct gm_config cfg;
	FILE *f;

	temp_image(dir, sizeof(dir), img, sizeof(img));
	snprintf(con, sizeof(con), "file:%s", img);
	BAD("is the guest image itself", "--console", con, img);
	{
		struct gm_error e;
		struct gm_config c;
		char want[256];

		parse(&c, &e, "--console", con, "--kernel", img, NULL);
		snprintf(want, sizeof(want),
			 "--console file:%s is the guest image itself and would overwrite it; choose another file",
			 img);
		cr_assert_str_eq(e.msg, want);
	}
	/* Another spelling of the same file, and a hard link to it, are the same inode. */
	snprintf(con, sizeof(con), "file:%s/./g.elf", dir);
	BAD("is the guest image itself", img, "--console", con);
	snprintf(link_path, sizeof(link_path), "%s/link.elf", dir);
	cr_assert_eq(link(img, link_path), 0);
	snprintf(con, sizeof(con), "file:%s", link_path);
	BAD("is the guest image itself", "--console", con, img);
	/* The image untouched by all this. */
	f = fopen(img, "r");
	cr_assert_not_null(f);
	cr_assert_eq(fgetc(f), 0x7f);
	fclose(f);
	/* A different file, or one not there yet, is fine. */
	snprintf(other, sizeof(other), "%s/console.log", dir);
	snprintf(con, sizeof(con), "file:%s", other);
	OK(&cfg, "--console", con, img);
	cr_assert_str_eq(cfg.console_path, other);
	unlink(link_path);
	unlink(img);
	rmdir(dir);
}

/* The message is one line, has no raw control byte, and holds want. */
static void one_line_with(const struct gm_error *e, const char *want)
{
	for (const char *p = e->msg; *p; p++)
		cr_assert((unsigned char)*p >= 0x20 && *p != 0x7f, "raw byte 0x%02x in '%s'",
			  (unsigned char)*p, e->msg);
	cr_assert(strstr(e->msg, want), "message '%s' lacks '%s'", e->msg, want);
}

Test(cli_run, user_input_is_escaped)
{
	struct gm_config c;
	struct gm_error e;

	cr_assert_lt(parse(&c, &e, "--console", "tty\n", "g.elf", NULL), 0);
	one_line_with(&e, "--console tty\\n: unknown console; use stdio, file:PATH or none");
	cr_assert_lt(parse(&c, &e, "\x1b[31m", "g.elf", NULL), 0); /* not an option: the ELF */
	one_line_with(&e, "unexpected argument 'g.elf' after the guest ELF '\\x1b[31m'");
	cr_assert_lt(parse(&c, &e, "--\x1b[31m", "g.elf", NULL), 0);
	one_line_with(&e, "unknown option '--\\x1b[31m'; usage:");
	cr_assert_lt(parse(&c, &e, "--memory", "1G\n", "g.elf", NULL), 0);
	one_line_with(&e, "--memory 1G\\n: size '1G\\n' has an unknown unit; use K, M, G or T");
	cr_assert_lt(parse(&c, &e, "--memory", "1G,backend=x\ty", "g.elf", NULL), 0);
	one_line_with(&e, "unknown memory backend 'x\\ty'");
	cr_assert_lt(parse(&c, &e, "--memory", "1G,bo\rgus=1", "g.elf", NULL), 0);
	one_line_with(&e, "unknown memory option 'bo\\rgus'");
	cr_assert_lt(parse(&c, &e, "--cpus", "\n", "g.elf", NULL), 0);
	one_line_with(&e, "--cpus \\n: must be 1 to 64");
	cr_assert_lt(parse(&c, &e, "--entry", "pvh\n", "g.elf", NULL), 0);
	one_line_with(&e, "--entry pvh\\n: unknown entry");
	cr_assert_lt(parse(&c, &e, "--timeout", "1\n", "g.elf", NULL), 0);
	one_line_with(&e, "--timeout 1\\n: must be a positive");
	/* UTF-8 is shown as it is */
	cr_assert_lt(parse(&c, &e, "--console", "t\xc3\xa9l\xc3\xa9", "g.elf", NULL), 0);
	one_line_with(&e, "--console t\xc3\xa9l\xc3\xa9: unknown console");
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && strcmp(s + n - t, tail) == 0;
}

/* A 2000-byte value is quoted cut short, so the remedy still fits the message. */
Test(cli_run, long_values_keep_the_remedy)
{
	static const struct {
		const char *opt, *prefix, *tail;
		size_t len; /* bytes of 'x' after prefix */
	} cases[] = {
		{ "--console", "", "; use stdio, file:PATH or none", 2000 },
		{ "--console", "file:/nonexistent/", "", 2000 }, /* accepted here: opened later */
		{ "--entry", "", "; use auto, linux64 or pvh", 2000 },
		{ "--cpus", "", ": must be 1 to 64", 2000 },
		{ "--timeout", "", ": must be a positive number of seconds, e.g. 10 or 0.5", 2000 },
		{ "--memory", "", "; use SIZE or size, backend, hugepages, prealloc, numa-node, bind, track-dirty, movable, direct-map or private", 2000 },
		{ "--memory", "1G,backend=", "; write backend=guest-memfd|memfd|anon", 2000 },
		/* values under the 256-byte item limit reach the value's own check */
		{ "--memory", "1G,backend=", "; use guest-memfd, memfd or anon", 250 },
		{ "--memory", "1G,hugepages=", "; use 4K, 2M or 1G", 250 },
		{ "--memory", "1", "; use K, M, G or T, optionally followed by B or iB, e.g. 512M", 250 },
		{ "--memory", "1G,,", "; separate items with one comma", 2000 },
	};
	char *value = malloc(2100);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gm_config c;
		struct gm_error e;
		size_t pl = strlen(cases[i].prefix);

		memcpy(value, cases[i].prefix, pl);
		memset(value + pl, 'x', cases[i].len);
		value[pl + cases[i].len] = '\0';
		if (!*cases[i].tail) {
			OK(&c, cases[i].opt, value, "g.elf");
			continue;
		}
		cr_assert_lt(parse(&c, &e, cases[i].opt, value, "g.elf", NULL), 0);
		cr_assert(ends_with(e.msg, cases[i].tail), "%s %s...: message '%s' does not end with '%s'",
			  cases[i].opt, cases[i].prefix, e.msg, cases[i].tail);
		cr_assert(strstr(e.msg, "xxx..."), "the value is not shown cut: %s", e.msg);
	}
	{
		struct gm_config c;
		struct gm_error e;

		memset(value, 'x', 2000);
		value[2000] = '\0';
		cr_assert_lt(parse(&c, &e, "--nope", value, "g.elf", NULL), 0); /* unknown option */
		cr_assert_lt(parse(&c, &e, value, "g.elf", NULL), 0);           /* two ELFs */
		cr_assert(ends_with(e.msg, "(gmvm run --help lists the options)"), "%s", e.msg);
	}
	free(value);
}

/* --takeover FD (hidden): what a live update starts its new process with. */
Test(cli_run, takeover_alone_needs_no_guest)
{
	struct gm_config cfg;

	OK(&cfg, "guest.elf");
	cr_assert_eq(cfg.takeover_fd, -1);
	cr_assert_null(cfg.test_update_die);
	OK(&cfg, "--takeover", "3");
	cr_assert_eq(cfg.takeover_fd, 3);
	cr_assert_null(cfg.kernel);
	OK(&cfg, "--takeover=65535", "--test-update-die=check");
	cr_assert_eq(cfg.takeover_fd, 65535);
	cr_assert_str_eq(cfg.test_update_die, "check");
	/* what the old process may pass along in "args" */
	OK(&cfg, "--takeover", "3", "--timeout", "30", "--cpus", "2");
	cr_assert_eq(cfg.takeover_fd, 3);
}

Test(cli_run, takeover_wants_an_fd_number_from_3)
{
	static const char *const bad[] = { "", "x", "3x", "3 ", "-1", "0", "1", "2", "65536", "99999999999999999999" };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		BAD("not an fd number; this option is for the process a live update starts", "--takeover", bad[i]);
	BAD("--takeover needs a value", "--takeover");
}

Test(cli_run, takeover_refuses_what_the_old_process_hands_over)
{
	static const struct {
		const char *args[3];
		const char *name;
	} clash[] = {
		{ { "guest.elf" }, "a guest ELF" },
		{ { "--kernel", "guest.elf" }, "a guest ELF" },
		{ { "--restore", "snapdir" }, "--restore" },
		{ { "--incoming", "unix:/tmp/gmvm-in.sock" }, "--incoming" },
		{ { "--memory", "1G" }, "--memory" },
		{ { "--region", "name=extra,size=64M" }, "--region" },
		{ { "--api-sock", "/tmp/api.sock" }, "--api-sock" },
		{ { "--console", "file:/tmp/console.log" }, "--console" },
		{ { "--console", "stdio" }, "--console" },
		{ { "--event-monitor", "path=/tmp/events" }, "--event-monitor" },
		{ { "--uuid", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0" }, "--uuid" },
		{ { "--restore", "snapdir", "--new-identity" }, "--restore" },
	};

	for (unsigned i = 0; i < sizeof(clash) / sizeof(clash[0]); i++) {
		char want[128];
		struct gm_config c;
		struct gm_error e;
		const char *const *a = clash[i].args;
		int r = parse(&c, &e, "--takeover", "3", a[0], a[1], a[2], NULL);

		snprintf(want, sizeof(want), "%s with --takeover: the running gmvm hands over its guest, memory, identity and sockets; drop it",
			 clash[i].name);
		cr_assert_lt(r, 0, "%s accepted with --takeover", a[0]);
		cr_assert_eq(e.status, GM_STATUS_BAD_INPUT);
		cr_assert_str_eq(e.msg, want);
		/* and in the other order */
		const char *rev[6] = { a[0] };
		unsigned n = 1;

		for (unsigned j = 1; j < 3 && a[j]; j++)
			rev[n++] = a[j];
		rev[n++] = "--takeover";
		rev[n++] = "3";
		r = parse(&c, &e, rev[0], rev[1], rev[2], rev[3], rev[4], NULL);
		cr_assert_lt(r, 0, "%s accepted before --takeover", a[0]);
		cr_assert_str_eq(e.msg, want);
	}
}

Test(cli_run, takeover_refuses_new_identity)
{
	/* --new-identity alone is refused before the clash is looked at: either line names it */
	BAD("--new-identity", "--takeover", "3", "--new-identity");
}

Test(cli_run, test_update_die_needs_takeover)
{
	BAD("--test-update-die needs --takeover FD", "guest.elf", "--test-update-die", "check");
	BAD("--test-update-die needs --takeover FD", "--test-update-die=ready", "guest.elf");
	BAD("--test-update-die needs a value", "guest.elf", "--test-update-die");
}

Test(cli_run, takeover_is_not_in_the_usage)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	cr_assert_not_null(f);
	gm_cli_run_usage(f);
	fclose(f);
	cr_assert_not_null(strstr(text, "--api-sock"), "usage not captured: %s", text);
	cr_assert_null(strstr(text, "--takeover"), "the hidden option shows in the usage");
	cr_assert_null(strstr(text, "--test-update-die"), "the test hook shows in the usage");
	free(text);
}
