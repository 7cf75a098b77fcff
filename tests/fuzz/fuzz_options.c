/*
 * Fuzz target for `gmvm run`'s command line (gm_cli_parse_run) and the
 * config parsers it calls (--memory, --region, --disk, --net, --balloon,
 * --cpu, --uuid, --incoming, --restore ...).  The input is the arguments
 * after "run", NUL-separated (at most 64; each one its own exact-size
 * buffer, so ASan sees reads past an argument's end).
 * Invariants beyond no crash: 0, 1 (--help) or -errno; a refusal is one
 * non-empty GM_STATUS_BAD_INPUT line with an errnum; an
 * accepted line has a guest (ELF, --restore, --incoming or --takeover),
 * 1..GM_MAX_CPUS vCPUs and its strings inside argv; a second parse of the
 * same arguments gives the same answer (no hidden state).  An accepted
 * --cpu goes on to the template parser the machine uses (x86/cpu_template.c,
 * which also reads a migrated header's "cpu"): one-line refusals, and a
 * template's canonical text parses back to the same template.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/options.h"
#include "x86/x86.h"

#define MAX_ARGS 64

#define CHECK(cond, ...)                                                           \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "fuzz_options: %s: ", #cond);              \
			fprintf(stderr, __VA_ARGS__);                              \
			fputc('\n', stderr);                                       \
			abort();                                                   \
		}                                                                  \
	} while (0)

/* s is NULL or points into one of the arguments. */
static int in_argv(const char *s, char **argv, int argc)
{
	if (!s)
		return 1;
	for (int i = 1; i < argc; i++)
		if (s >= argv[i] && s <= argv[i] + strlen(argv[i]))
			return 1;
	return 0;
}

static void check_template(const char *spec)
{
	struct gm_cpu_template t, back;
	struct gm_error err = { 0 };
	char text[GM_CPU_SPEC_MAX];
	int r = gm_cpu_template_parse(spec, &t, &err);

	if (r < 0) {
		CHECK(err.status == GM_STATUS_BAD_INPUT && err.errnum == -r, "status %d errnum %d", err.status,
		      err.errnum);
		CHECK(err.msg[0] && !strchr(err.msg, '\n'), "msg '%s'", err.msg);
		return;
	}
	CHECK(r == 0, "r=%d", r);
	gm_cpu_template_format(&t, text, sizeof(text));
	CHECK(gm_cpu_template_parse(text, &back, &err) == 0, "'%s' does not parse back: %s", text, err.msg);
	CHECK(memcmp(&t, &back, sizeof(t)) == 0, "'%s' parses back to another template", text);
}

/* --help prints the usage on stdout: to /dev/null, not the fuzzer's log. */
static int quiet_parse(int argc, char **argv, struct gm_config *cfg, struct gm_error *err)
{
	static int devnull = -2, saved = -1;
	int r;

	if (devnull == -2) {
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		saved = dup(STDOUT_FILENO);
	}
	fflush(stdout);
	if (devnull >= 0 && saved >= 0)
		dup2(devnull, STDOUT_FILENO);
	r = gm_cli_parse_run(argc, argv, cfg, err);
	fflush(stdout);
	if (devnull >= 0 && saved >= 0)
		dup2(saved, STDOUT_FILENO);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gm_config cfg, again;
	char *argv[MAX_ARGS + 2];
	struct gm_error err = { 0 }, err2 = { 0 };
	int argc = 0, r, r2;
	size_t at = 0;

	argv[argc++] = "run";
	while (at < size && argc <= MAX_ARGS) {
		const uint8_t *end = memchr(data + at, 0, size - at);
		size_t n = end ? (size_t)(end - (data + at)) : size - at;
		char *a = malloc(n + 1);

		if (!a)
			break;
		memcpy(a, data + at, n);
		a[n] = '\0';
		argv[argc++] = a;
		at += n + 1;
	}
	argv[argc] = NULL;

	r = quiet_parse(argc, argv, &cfg, &err);
	if (r < 0) {
		CHECK(err.status == GM_STATUS_BAD_INPUT, "status %d: %s", err.status, err.msg);
		/* not err.errnum == -r: options.c returns -EINVAL for any refusal of a config parser */
		CHECK(err.errnum > 0, "errnum %d, returned %d: %s", err.errnum, r, err.msg);
		CHECK(err.msg[0] && !strchr(err.msg, '\n'), "msg '%s'", err.msg);
	} else if (r == 0) {
		CHECK(cfg.kernel || cfg.nrestore || cfg.incoming || cfg.takeover_fd >= 0, "no guest accepted");
		CHECK(cfg.cpus >= 1 && cfg.cpus <= GM_MAX_CPUS, "cpus %u", cfg.cpus);
		CHECK(cfg.nregions < GM_MAX_REGIONS && cfg.ndisks <= GM_MAX_DISKS && cfg.nnets <= GM_MAX_NETS &&
			      cfg.nrestore <= GM_MAX_RESTORE,
		      "counts %u %u %u %u", cfg.nregions, cfg.ndisks, cfg.nnets, cfg.nrestore);
		CHECK(in_argv(cfg.kernel, argv, argc) && in_argv(cfg.cmdline, argv, argc) &&
			      in_argv(cfg.initrd, argv, argc) && in_argv(cfg.incoming, argv, argc) &&
			      in_argv(cfg.console_path, argv, argc) && in_argv(cfg.uuid, argv, argc),
		      "a string of the config is not the command line's");
		for (unsigned i = 0; i < cfg.nrestore; i++)
			CHECK(in_argv(cfg.restore[i], argv, argc), "restore[%u]", i);
		if (cfg.cpu)
			check_template(cfg.cpu);
	} else {
		CHECK(r == 1, "r=%d", r);
	}
	r2 = quiet_parse(argc, argv, &again, &err2);
	CHECK(r2 == r && (r >= 0 || strcmp(err.msg, err2.msg) == 0), "a second parse gave %d '%s', the first %d '%s'",
	      r2, err2.msg, r, err.msg);
	for (int i = 1; i < argc; i++)
		free(argv[i]);
	return 0;
}
