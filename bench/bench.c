/*
 * gmvm-bench: main(), options and the order of the cases.  Each case prints
 * its summary on stdout as it finishes; the Markdown report is written once
 * every case has run, so a failed bench leaves the old report alone.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api_client.h"
#include "bench.h"

static const char usage[] =
	"Usage: gmvm-bench [OPTIONS]\n"
	"\n"
	"Runs gmvm and QEMU side by side and writes the results to stdout and to a Markdown report.\n"
	"\n"
	"  --gmvm PATH        the gmvm binary (default: build/gmvm)\n"
	"  --guests DIR       the built test guests (default: build/guests)\n"
	"  --host-touch PATH  the host baseline (default: build/bench/host-touch)\n"
	"  --qemu PATH        QEMU (default: qemu-system-x86_64 from PATH; sides are skipped without it)\n"
	"  --report FILE      the Markdown report, overwritten (default: docs/performance.md)\n"
	"  --runs N           counted rounds per case, at least 1 (default: 5)\n"
	"  --warmup N         uncounted rounds before them (default: 1)\n"
	"  --rev STRING       the gmvm revision named in the report (default: unknown)\n"
	"  --case WHICH       all, start, memory, trace, api, snapshot, migrate, rehome, update, blk, linux,\n"
	"                     net or balloon, or several with commas (start,api,snapshot) (default: all)\n"
	"  --gmvm-backend B   gmvm's memory backend where a case names none: guest-memfd, memfd or anon\n"
	"                     (default: $GMVM_BENCH_BACKEND, else gmvm's own default); memfd or anon also\n"
	"                     for case 7, which uses memfd otherwise\n"
	"  --snapshot-mib N   case 7's guest RAM in MiB, 256 to 65536 (default: 1024)\n"
	"  --timeout-scale N  multiply the waits for the VMMs by N, 1 to 100: slow hosts such as\n"
	"                     nested KVM under TCG (default: $GMVM_BENCH_TIMEOUT_SCALE, else 1)\n"
	"  -v, --verbose      a line on stderr as each run ends, with its time and figures\n"
	"  -h, --help         print this help and exit\n";

static void bad_option(const char *fmt, const char *arg)
{
	fputs("gmvm-bench: ", stderr);
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(2);
}

static int number_arg(const char *name, const char *arg, int min, int max)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (end == arg || *end || v < min || v > max) {
		fprintf(stderr, "gmvm-bench: bad %s '%s'; give a whole number from %d to %d\n", name, arg, min, max);
		exit(2);
	}
	return (int)v;
}

static int count_arg(const char *name, const char *arg, int min)
{
	return number_arg(name, arg, min, 1000);
}

static bool executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* A name without '/' is looked up in PATH, as execvp will. */
static bool find_program(const char *name)
{
	const char *path = getenv("PATH");
	char buf[PATH_MAX];

	if (strchr(name, '/'))
		return executable(name);
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, n ? p : ".", name);
		if (executable(buf))
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

static void parse_options(int argc, char **argv, struct bench_opts *o)
{
	enum { O_GMVM = 256, O_GUESTS, O_QEMU, O_HOST, O_REPORT, O_RUNS, O_WARMUP, O_REV, O_CASE, O_BACKEND,
	       O_SNAP_MIB, O_SCALE };
	static const struct option longopts[] = {
		{ "gmvm", 1, NULL, O_GMVM },	   { "guests", 1, NULL, O_GUESTS }, { "qemu", 1, NULL, O_QEMU },
		{ "host-touch", 1, NULL, O_HOST }, { "report", 1, NULL, O_REPORT }, { "runs", 1, NULL, O_RUNS },
		{ "warmup", 1, NULL, O_WARMUP },   { "rev", 1, NULL, O_REV },	    { "case", 1, NULL, O_CASE },
		{ "gmvm-backend", 1, NULL, O_BACKEND }, { "snapshot-mib", 1, NULL, O_SNAP_MIB },
		{ "timeout-scale", 1, NULL, O_SCALE }, { "verbose", 0, NULL, 'v' },
		{ "help", 0, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *scale = getenv("GMVM_BENCH_TIMEOUT_SCALE");
	bool qemu_given = false;
	int opt;

	*o = (struct bench_opts){ .gmvm = "build/gmvm", .guests = "build/guests", .qemu = "qemu-system-x86_64",
				  .host_touch = "build/bench/host-touch", .report = "docs/performance.md",
				  .rev = "unknown", .which = "all", .runs = 5, .warmup = 1, .snapshot_mib = 1024,
				  .timeout_scale = 1, .backend = getenv("GMVM_BENCH_BACKEND") };
	if (scale && *scale)
		o->timeout_scale = number_arg("GMVM_BENCH_TIMEOUT_SCALE", scale, 1, 100);
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hv", longopts, NULL)) != -1) {
		switch (opt) {
		case O_GMVM: o->gmvm = optarg; break;
		case O_GUESTS: o->guests = optarg; break;
		case O_QEMU: o->qemu = optarg; qemu_given = true; break;
		case O_HOST: o->host_touch = optarg; break;
		case O_REPORT: o->report = optarg; break;
		case O_RUNS: o->runs = count_arg("--runs", optarg, 1); break;
		case O_WARMUP: o->warmup = count_arg("--warmup", optarg, 0); break;
		case O_REV: o->rev = optarg; break;
		case O_CASE: o->which = optarg; break;
		case O_BACKEND: o->backend = optarg; break;
		case O_SNAP_MIB: o->snapshot_mib = number_arg("--snapshot-mib", optarg, 256, 65536); break;
		case O_SCALE: o->timeout_scale = number_arg("--timeout-scale", optarg, 1, 100); break;
		case 'v': o->verbose = true; break;
		case 'h': fputs(usage, stdout); exit(0);
		case ':': bad_option("%s needs a value; see gmvm-bench --help", argv[optind - 1]); break;
		default: bad_option("unknown option '%s'; see gmvm-bench --help", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad_option("unexpected argument '%s'; gmvm-bench takes only options, see --help", argv[optind]);
	for (const char *w = o->which; *w;) {
		static const char *const names[] = { "all", "start", "memory", "trace", "api", "snapshot", "migrate",
						     "rehome", "update", "blk", "linux", "net", "balloon" };
		size_t n = strcspn(w, ","), i = 0;

		while (i < sizeof(names) / sizeof(names[0]) && (strlen(names[i]) != n || strncmp(w, names[i], n)))
			i++;
		if (i == sizeof(names) / sizeof(names[0]))
			bad_option("unknown case in '%s'; use --case all, start, memory, trace, api, snapshot, migrate, "
				   "rehome, update, blk, linux, net or balloon, or several with commas", o->which);
		w += n + (w[n] == ',');
	}
	if (o->backend && !*o->backend)
		o->backend = NULL;
	if (o->backend && strcmp(o->backend, "guest-memfd") && strcmp(o->backend, "memfd") &&
	    strcmp(o->backend, "anon"))
		bad_option("unknown gmvm backend '%s'; use guest-memfd, memfd or anon (--gmvm-backend or "
			   "GMVM_BENCH_BACKEND)", o->backend);
	if (o->backend)
		snprintf(o->backend_note, sizeof(o->backend_note), "backend=%s from --gmvm-backend", o->backend);
	o->qemu_found = find_program(o->qemu);
	if (qemu_given && !o->qemu_found)
		bad_option("--qemu %s is not an executable file; give QEMU's path or leave --qemu out", o->qemu);
}

/* o->which is a comma-separated list, checked by parse_options. */
static bool wants(const struct bench_opts *o, const char *which)
{
	size_t len = strlen(which);

	for (const char *w = o->which; *w;) {
		size_t n = strcspn(w, ",");

		if ((n == 3 && !strncmp(w, "all", 3)) || (n == len && !strncmp(w, which, n)))
			return true;
		w += n + (w[n] == ',');
	}
	return false;
}

/* Every input a chosen case needs, checked before anything runs. */
static void check_inputs(const struct bench_opts *o)
{
	char path[PATH_MAX];
	struct stat st;

	if (!executable(o->gmvm))
		bad_option("no gmvm binary at %s; build it (ninja -C build) or pass --gmvm PATH", o->gmvm);
	if (wants(o, "memory") && !executable(o->host_touch))
		bad_option("no host-touch binary at %s; build it (ninja -C build) or pass --host-touch PATH",
			   o->host_touch);
	const char *elfs[] = { wants(o, "start") || wants(o, "trace") ? "hello.elf" : NULL,
			       wants(o, "memory") ? "memtest.elf" : NULL, wants(o, "api") ? "spin.elf" : NULL,
			       wants(o, "snapshot") || wants(o, "migrate") || wants(o, "rehome") ||
					       wants(o, "update") ? "dirty.elf" : NULL,
			       wants(o, "blk") ? "blkbench.elf" : NULL, wants(o, "net") ? "vnet.elf" : NULL,
			       wants(o, "balloon") ? "vballoon.elf" : NULL };

	for (size_t i = 0; i < sizeof(elfs) / sizeof(elfs[0]); i++) {
		if (!elfs[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", o->guests, elfs[i]);
		if (stat(path, &st) < 0)
			bad_option("no guest at %s; build the guests (ninja -C build) or pass --guests DIR", path);
	}
}

/*
 * The API and snapshot cases' sockets live in a directory of their own,
 * short enough for a UNIX socket path: $TMPDIR if it is, else /tmp.
 */
static char *make_sockdir(char *buf, size_t len)
{
	const char *tmp = getenv("TMPDIR");

	if (!tmp || !*tmp || strlen(tmp) > 60)
		tmp = "/tmp";
	snprintf(buf, len, "%s/gmvm-bench-XXXXXX", tmp);
	if (!mkdtemp(buf)) {
		fprintf(stderr, "gmvm-bench: cannot create a directory for the API sockets in %s: %s; set TMPDIR to a "
				"writable directory\n", tmp, strerror(errno));
		exit(1);
	}
	return buf;
}

/* Removes the socket directory and whatever the VMMs left in it. */
static void remove_sockdir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(path);
}

int main(int argc, char **argv)
{
	static struct bench_case start, memory, trace, api_ping, api_pause, api_memory, snapshot, migrate,
		rehome, update, blk, linux_boot, net, balloon;
	struct bench_case *cases[14];
	struct bench_opts o;
	char machine[1024], date[32], sockdir[PATH_MAX];
	int n = 0, rc = 0;

	parse_options(argc, argv, &o);
	check_inputs(&o);
	if (wants(&o, "api") || wants(&o, "snapshot") || wants(&o, "migrate") || wants(&o, "rehome") ||
	    wants(&o, "update") || wants(&o, "balloon")) {
		if (api_client_global_init() < 0) {
			fputs("gmvm-bench: libcurl could not be initialised (out of memory?)\n", stderr);
			return 1;
		}
		o.sockdir = make_sockdir(sockdir, sizeof(sockdir));
	}
	time_t now = time(NULL);

	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	machine_info(machine, sizeof(machine), &o);
	printf("gmvm-bench %s\nmachine: %s\n", date, machine);
	if (wants(&o, "start"))
		bench_case_start(cases[n++] = &start, &o);
	if (wants(&o, "memory"))
		bench_case_memory(cases[n++] = &memory, &o);
	if (wants(&o, "trace"))
		bench_case_trace(cases[n++] = &trace, &o);
	if (wants(&o, "api")) {
		bench_case_api_ping(cases[n++] = &api_ping, &o);
		bench_case_api_pause(cases[n++] = &api_pause, &o);
		bench_case_api_memory(cases[n++] = &api_memory, &o);
	}
	if (wants(&o, "snapshot"))
		bench_case_snapshot(cases[n++] = &snapshot, &o);
	if (wants(&o, "migrate"))
		bench_case_migrate(cases[n++] = &migrate, &o);
	if (wants(&o, "rehome"))
		bench_case_rehome(cases[n++] = &rehome, &o);
	if (wants(&o, "update"))
		bench_case_update(cases[n++] = &update, &o);
	if (wants(&o, "blk"))
		bench_case_blk(cases[n++] = &blk, &o);
	if (wants(&o, "linux"))
		bench_case_linux(cases[n++] = &linux_boot, &o);
	if (wants(&o, "net"))
		bench_case_net(cases[n++] = &net, &o);
	if (wants(&o, "balloon"))
		bench_case_balloon(cases[n++] = &balloon, &o);
	for (int i = 0; i < n && !rc; i++) {
		if (bench_run_case(cases[i]) < 0)
			rc = 1;
		else
			report_case_text(stdout, cases[i]);
	}
	int measured = 0;

	for (int i = 0; i < n; i++)
		measured += !cases[i]->skip[0];
	if (!rc && !measured) {
		/* as after a failure: a report of skips only would replace real numbers with nothing */
		printf("\nevery case was skipped: %s left as it was\n", o.report);
	} else if (!rc) {
		if (report_write_markdown(o.report, machine, date, &o, cases, n) < 0) {
			fprintf(stderr, "gmvm-bench: cannot write %s; check that its directory exists and is writable\n",
				o.report);
			rc = 1;
		} else {
			printf("\nreport written to %s\n", o.report);
		}
	}
	for (int i = 0; i < n; i++)
		bench_case_free(cases[i]);
	if (o.sockdir)
		remove_sockdir(o.sockdir);
	return rc;
}
