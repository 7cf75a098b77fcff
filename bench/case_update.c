/*
 * bench/case_update: case 10 (`--case update`), live update of a running
 * gmvm (PUT vmm.live-update, the same binary) while the `dirty` guest
 * rewrites a bounded working set, at 1, 4 and 16 GiB of guest RAM (memfd,
 * sparse: the guest writes the same amount at every size, so the sizes say
 * whether the pause grows with memory that is handed over rather than
 * copied).  The reference in the same run is the nearest QEMU 7.2 has: a
 * local migration over a UNIX socket between two QEMUs on the same shared
 * memory with x-ignore-shared, which sends no guest RAM.
 *
 * The guest's own view, as in cases 8 and 9 (beats.h): `dirty` prints a "b"
 * line every page write; the console is a FIFO read with host timestamps.
 * gmvm's new process inherits the console fd, so the beats go on in the
 * same FIFO; the largest gap from the request until BEATS_AFTER lines after
 * the answer is the pause the guest saw.
 *
 * The new gmvm is started by the old one and outlives it: the bench makes
 * itself a child subreaper for the run, so that the new process becomes its
 * child when the old one exits and can be waited for and reaped.
 *
 * Knobs: GMVM_BENCH_UPDATE_SIZES (guest RAM of each size, up to 3, comma
 * separated, in GiB or with an M or G suffix; default "1,4,16"),
 * --runs/--warmup.  A size above this machine's RAM is skipped on both
 * sides: gmvm refuses such a guest even on sparse memory (the nested rig's
 * 6 GiB VM runs 1 and 4 GiB); the flatness ratios take the largest size
 * that ran.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_client.h"
#include "background.h"
#include "beats.h"
#include "bench.h"

#define MAX_SIZES 3		/* two sides each, and 2 ratios each + 3 within BENCH_MAX_RATIOS */
#define SPARE_MIB 24		/* of the smallest guest's RAM left to its image, stacks and tables */
#define PAGES_S 1000		/* case 8's idle rate, a beat line per page write: a heartbeat, not a load */
#define BEATS_AFTER 100
#define BOOT_TIMEOUT_MS 180000	/* for 1 GiB written and timeout_scale 1 */
#define UPDATE_TIMEOUT_MS 60000
#define END_TIMEOUT_MS 30000
#define PAUSE_TARGET_MS 5.0
#define FLAT_TARGET 1.5
#define QEMU_TARGET 0.1

enum { M10_TOTAL, M10_PAUSE, M10_SEEN, M10_LOAD };

static const struct bench_opts *opts;
static int n_sizes, size_mib[MAX_SIZES], ws_mib, first = -1, last = -1;	/* first, last: sizes that run */
static char size_name[MAX_SIZES][16], target_what[6][96], about[4096];

static int gmvm_side(int i)
{
	return 2 * i;
}

static int qemu_side(int i)
{
	return 2 * i + 1;
}

static double num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

/* ---- gmvm: PUT vmm.live-update on the running guest ---- */

struct run10 {
	struct beats b;
	struct bg_proc old, new;	/* new: the process that took over, our child once old has ended */
	char con[2][128], sock[128], cmdline[192];
	double scale;
};

/* Once the old process has ended: asks the new one to end through the same socket, and waits for it. */
static int shut_down_new(struct run10 *x, char *why, size_t whylen)
{
	struct api_client a = { 0 };
	long st = -1;

	if (api_client_open(&a, x->sock, why, whylen) == 0)
		st = api_request(&a, "PUT", "vmm.shutdown", why, whylen);
	if (st > 0 && st != 200)
		snprintf(why, whylen, "vmm.shutdown to the new process answered %ld: %.300s", st, a.body ? a.body : "");
	api_client_close(&a);
	if (st != 200)
		return -1;
	if (bg_wait_end(&x->new, (int)(END_TIMEOUT_MS * x->scale)) < 0) {
		snprintf(why, whylen, "the new process (pid %d) did not end within %d s of vmm.shutdown; killed",
			 (int)x->new.pid, (int)(END_TIMEOUT_MS * x->scale / 1000));
		return -1;
	}
	return 0;
}

static int update_once(struct bench_case *c, int i, struct run10 *x, double *out, char *why, size_t whylen)
{
	char mem[64], con[140];
	struct api_client a = { 0 };
	int r = -1;

	snprintf(mem, sizeof(mem), "%dM,backend=memfd", size_mib[i]);
	snprintf(con, sizeof(con), "file:%s", x->con[0]);
	char *argv[] = { (char *)opts->gmvm, "run", "--cpus", "1", "--memory", mem, "--api-sock", x->sock, "--console",
			 con, "--cmdline", x->cmdline, bench_path_in(opts->guests, "dirty.elf"), NULL };
	if (bg_start(&x->old, argv, why, whylen) < 0)
		return -1;
	int fd = bg_connect_unix(&x->old, x->sock, BG_POLL_US, (int)(BOOT_TIMEOUT_MS * x->scale), why, whylen);

	if (fd < 0)
		return -1;
	close(fd);
	if (beats_wait(&x->b, 0, 20, &x->old, (int)(BOOT_TIMEOUT_MS * x->scale), "gmvm", why, whylen) < 0 ||
	    api_client_open(&a, x->sock, why, whylen) < 0)
		goto out;
	beats_arm(&x->b);
	uint64_t seen = beats_count(&x->b, 0);
	double t0 = bg_now_us();
	long st = api_put_json(&a, "vmm.live-update", "{}", (long)(UPDATE_TIMEOUT_MS * x->scale), why, whylen);

	out[M10_TOTAL] = (bg_now_us() - t0) / 1e3;
	if (st != 200) {
		if (st > 0)
			snprintf(why, whylen, "vmm.live-update answered %ld: %.300s", st, a.body ? a.body : "");
		goto out;
	}
	json_t *j = json_loads(a.body, 0, NULL);
	const char *status = json_string_value(json_object_get(j, "status"));
	double pid = num(j, "pid");

	out[M10_PAUSE] = num(j, "pause_ms");
	out[M10_LOAD] = num(j, "load_ms");
	if (c->verbose)
		fprintf(stderr, "  gmvm %s: %s\n", size_name[i], a.body);
	if (!status || strcmp(status, "completed") || !(pid > 0) || isnan(out[M10_PAUSE])) {
		snprintf(why, whylen, "vmm.live-update answered 200 without status completed, pid and pause_ms: %.300s",
			 a.body);
		json_decref(j);
		goto out;
	}
	json_decref(j);
	x->new.pid = (pid_t)pid;
	/* the old one ends by itself, status 0; then the new one is ours (subreaper) */
	if (bg_wait_end(&x->old, (int)(END_TIMEOUT_MS * x->scale)) < 0 || x->old.status != 0) {
		if (x->old.status < 0)
			snprintf(why, whylen, "the old gmvm did not end within %d s of its update's answer; killed",
				 (int)(END_TIMEOUT_MS * x->scale / 1000));
		else
			snprintf(why, whylen, "the old gmvm exited with status %d after the update, expected 0",
				 x->old.status);
		goto out;
	}
	if (beats_wait(&x->b, 0, seen + BEATS_AFTER, &x->new, (int)(UPDATE_TIMEOUT_MS * x->scale), "the new gmvm",
		       why, whylen) < 0)
		goto out;
	out[M10_SEEN] = beats_max_gap_ms(&x->b);
	r = shut_down_new(x, why, whylen);
out:
	api_client_close(&a);
	return r;
}

static int run_gmvm(struct bench_case *c, int i, double *out, char *why, size_t whylen, char **output)
{
	struct run10 *x = calloc(1, sizeof(*x));
	int r = -1;

	if (!x) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		snprintf(why, whylen, "cannot become a child subreaper to wait for the new gmvm: %s", strerror(errno));
		free(x);
		return -1;
	}
	x->old.out = x->new.out = -1;
	x->scale = c->timeout_scale * (ws_mib + SPARE_MIB > 512 ? (ws_mib + SPARE_MIB) / 512.0 : 1);
	snprintf(x->cmdline, sizeof(x->cmdline),
		 "dirty.mb=%d dirty.share=100 dirty.rate=%d dirty.beat=1 dirty.seconds=36000 dirty.rounds=1000000000",
		 ws_mib, PAGES_S);
	snprintf(x->con[0], sizeof(x->con[0]), "%s/update.con", opts->sockdir);
	snprintf(x->con[1], sizeof(x->con[1]), "%s/update-unused.con", opts->sockdir);
	snprintf(x->sock, sizeof(x->sock), "%s/update.sock", opts->sockdir);
	unlink(x->sock);
	if (beats_start(&x->b, x->con, why, whylen) == 0) {
		r = update_once(c, i, x, out, why, whylen);
		if (r == 0 && x->b.bad) {
			snprintf(why, whylen, "the guest printed '%s'", x->b.bad_line);
			r = -1;
		}
	}
	/* the new process writes into the old one's output file: it inherited it */
	if (r < 0 && x->old.out >= 0)
		*output = bg_output(&x->old);
	bg_stop(&x->new);
	bg_stop(&x->old);
	beats_stop(&x->b, x->con);
	unlink(x->sock);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	free(x);
	return r;
}

/* ---- QEMU: x-ignore-shared local migration, both on the same file in /dev/shm ---- */

static int run_qemu(struct bench_case *c, int i, double *out, char *why, size_t whylen, char **output)
{
	char object[192], mem_path[64];
	struct bench_migration res;
	int r;

	/* a second QEMU cannot open the first one's memfd: a shared tmpfs file is the same pages by a name */
	snprintf(mem_path, sizeof(mem_path), "/dev/shm/gmvm-bench-update-%d", (int)getpid());
	snprintf(object, sizeof(object), "memory-backend-file,id=mem,size=%dM,mem-path=%s,share=on", size_mib[i],
		 mem_path);
	unlink(mem_path);
	struct bench_qemu_how how = { .src_object = object, .dst_object = object, .ws_mib = ws_mib,
				      .ignore_shared = true };
	r = bench_qemu_migration_how(c, opts, qemu_side(i), size_mib[i], PAGES_S, &how, &res, why, whylen, output);
	unlink(mem_path);
	out[M10_TOTAL] = res.total_ms;
	out[M10_PAUSE] = res.down_ms;
	out[M10_SEEN] = res.seen_ms;
	if (r == 0 && isnan(res.down_ms)) {
		snprintf(why, whylen, "QEMU's migration did not end: no downtime to report");
		r = -1;
	}
	return r;
}

static int run_update(struct bench_case *c, int side, double *out, char *why, size_t whylen, char **output)
{
	for (int m = 0; m <= M10_LOAD; m++)
		out[m] = NAN;
	return side % 2 ? run_qemu(c, side / 2, out, why, whylen, output)
			: run_gmvm(c, side / 2, out, why, whylen, output);
}

/* ---- the case ---- */

/* "1,4,16" (GiB), or with M/G suffixes; -1 on anything else. */
static int parse_sizes(const char *s)
{
	n_sizes = 0;
	for (const char *p = s; *p;) {
		char *end;
		long v = strtol(p, &end, 10);

		if (end == p || v <= 0 || n_sizes == MAX_SIZES)
			return -1;
		if (*end == 'G' || *end == 'g')
			end++, v *= 1024;
		else if (*end == 'M' || *end == 'm')
			end++;
		else
			v *= 1024;
		if (v < 128 || v > 1024 * 1024 || (*end && *end != ','))
			return -1;
		size_mib[n_sizes++] = (int)v;
		p = end + (*end == ',');
	}
	return n_sizes ? 0 : -1;
}

static void name_size(char *buf, size_t len, int mib)
{
	if (mib % 1024)
		snprintf(buf, len, "%d MiB", mib);
	else
		snprintf(buf, len, "%d GiB", mib / 1024);
}

static void add_target(struct bench_case *c, int ratio, int side, double limit, const char *unit, const char *fmt,
		       ...) __attribute__((format(printf, 6, 7)));

static void add_target(struct bench_case *c, int ratio, int side, double limit, const char *unit, const char *fmt, ...)
{
	va_list ap;
	char *what = target_what[c->n_targets];

	va_start(ap, fmt);
	vsnprintf(what, sizeof(target_what[0]), fmt, ap);
	va_end(ap);
	c->targets[c->n_targets++] = (struct bench_target){ what, ratio, side, M10_PAUSE, true, limit, unit };
}

/* This machine's RAM in MiB; 0 when unknown.  gmvm refuses a guest larger than it (sparse or not). */
static long host_mib(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	return pages > 0 && size > 0 ? (long)((unsigned long long)pages * (unsigned long long)size >> 20) : 0;
}

void bench_case_update(struct bench_case *c, const struct bench_opts *o)
{
	const char *env = getenv("GMVM_BENCH_UPDATE_SIZES");
	char mem[64], qmem[16], name[96];
	long ram = host_mib();

	opts = o;
	first = last = -1;
	bench_init_case(c, o, 10, "Live update of a running gmvm");
	if (parse_sizes(env && *env ? env : "1,4,16") < 0) {
		snprintf(c->skip, sizeof(c->skip),
			 "GMVM_BENCH_UPDATE_SIZES='%.60s': give up to %d sizes of 128M or more, e.g. 1,4,16 (GiB) or 256M,1G",
			 env, MAX_SIZES);
		parse_sizes("1");
	}
	ws_mib = size_mib[0] - SPARE_MIB;
	for (int i = 1; i < n_sizes; i++)
		if (size_mib[i] - SPARE_MIB < ws_mib)
			ws_mib = size_mib[i] - SPARE_MIB;
	c->run = run_update;
	c->n_metrics = 4;
	c->metrics[M10_TOTAL] = (struct bench_metric){ "total ms", 1 };
	c->metrics[M10_PAUSE] = (struct bench_metric){ "pause ms (reported)", 2 };
	c->metrics[M10_SEEN] = (struct bench_metric){ "pause ms (guest saw)", 2 };
	c->metrics[M10_LOAD] = (struct bench_metric){ "of it, new process load ms", 2 };
	for (int i = 0; i < n_sizes; i++) {
		name_size(size_name[i], sizeof(size_name[i]), size_mib[i]);
		snprintf(mem, sizeof(mem), "%dM,backend=memfd", size_mib[i]);
		snprintf(qmem, sizeof(qmem), "%dM", size_mib[i]);
		snprintf(name, sizeof(name), "gmvm live update, %s", size_name[i]);
		struct bench_side *g = bench_add_side(c, name, o->gmvm, "run", "--cpus", "1", "--memory", mem,
						      "--api-sock", "S.sock", "--console", "file:CON.fifo", "--cmdline",
						      "dirty.mb=... dirty.rate=...", bench_path_in(o->guests, "dirty.elf"),
						      (char *)NULL);
		snprintf(name, sizeof(name), "QEMU x-ignore-shared, %s", size_name[i]);
		struct bench_side *q = bench_add_qemu(c, o, name, bench_path_in(o->guests, "dirty.elf"), "1", qmem);

		q->note = "reference: local migration, no RAM sent";
		if (!o->sockdir) {
			snprintf(g->skip, sizeof(g->skip), "no socket directory");
			if (!q->skip[0])
				snprintf(q->skip, sizeof(q->skip), "no socket directory");
		}
		if (!q->skip[0] && access("/dev/shm", W_OK) != 0)
			snprintf(q->skip, sizeof(q->skip), "/dev/shm is not a writable directory here (QEMU's shared memory file)");
		/* both sides, so that a size either runs side by side or not at all */
		if (ram && size_mib[i] > ram)
			for (struct bench_side *d = g; d <= q; d++)
				snprintf(d->skip, sizeof(d->skip),
					 "%s is more than this machine's RAM (%ld MiB), which gmvm refuses even for sparse "
					 "memory; run on a larger host or set GMVM_BENCH_UPDATE_SIZES", size_name[i], ram);
		else if (!g->skip[0] && !q->skip[0])
			last = i, first = first < 0 ? i : first;
	}
	if (first < 0)
		first = last = 0;
	for (int i = 0; i < n_sizes; i++) {
		snprintf(name, sizeof(name), "%s: gmvm pause / QEMU downtime (reported)", size_name[i]);
		bench_add_ratio(c, gmvm_side(i), qemu_side(i), M10_PAUSE, name);
		snprintf(name, sizeof(name), "%s: gmvm / QEMU pause the guest saw", size_name[i]);
		bench_add_ratio(c, gmvm_side(i), qemu_side(i), M10_SEEN, name);
	}
	if (last > first) {
		snprintf(name, sizeof(name), "gmvm %s / %s pause (reported)", size_name[last], size_name[first]);
		bench_add_ratio(c, gmvm_side(last), gmvm_side(first), M10_PAUSE, name);
		snprintf(name, sizeof(name), "gmvm %s / %s pause the guest saw", size_name[last], size_name[first]);
		bench_add_ratio(c, gmvm_side(last), gmvm_side(first), M10_SEEN, name);
		snprintf(name, sizeof(name), "QEMU %s / %s downtime (reported)", size_name[last], size_name[first]);
		bench_add_ratio(c, qemu_side(last), qemu_side(first), M10_PAUSE, name);
	}
	add_target(c, -1, gmvm_side(first), PAUSE_TARGET_MS, " ms", "%s: gmvm pause <= %.0f ms", size_name[first],
		   PAUSE_TARGET_MS);
	add_target(c, 2 * first, 0, QEMU_TARGET, "x", "%s: gmvm pause <= 1/10 of QEMU's downtime", size_name[first]);
	if (last > first) {
		add_target(c, -1, gmvm_side(last), PAUSE_TARGET_MS, " ms", "%s: gmvm pause <= %.0f ms", size_name[last],
			   PAUSE_TARGET_MS);
		add_target(c, 2 * last, 0, QEMU_TARGET, "x", "%s: gmvm pause <= 1/10 of QEMU's downtime",
			   size_name[last]);
		add_target(c, 2 * n_sizes, 0, FLAT_TARGET, "x", "flat: gmvm pause at %s <= %.1fx at %s",
			   size_name[last], FLAT_TARGET, size_name[first]);
		add_target(c, 2 * n_sizes + 1, 0, FLAT_TARGET, "x", "flat: pause the guest saw at %s <= %.1fx at %s",
			   size_name[last], FLAT_TARGET, size_name[first]);
	}
	snprintf(about, sizeof(about),
		 "Live update of a running gmvm to a new gmvm process (the same binary): `PUT vmm.live-update {}` on "
		 "its API socket. The `dirty` guest (1 vCPU, memfd RAM of each size) writes %d MiB at every size, "
		 "then keeps rewriting random pages of it at %d pages/s, checking each, so a larger guest only has "
		 "more memory that is handed over, none more that is written. The old process answers once the new "
		 "one runs the guest, then exits 0; the new one is asked `vmm.shutdown` on the same socket path after "
		 "the guest has printed %d lines there. *total ms*: the request, timed by the bench. *pause ms "
		 "(reported)*: the reply's pause_ms; *of it, new process load ms*: its load_ms.\n\n"
		 "The reference is the nearest QEMU 7.2 has to a live update: a local migration over a UNIX socket "
		 "between two QEMU microvm processes on the same memory, `-object "
		 "memory-backend-file,id=mem,size=S,mem-path=/dev/shm/...,share=on`, with the capability "
		 "`x-ignore-shared` on both (QMP; the destination is `-incoming unix:PATH`), so that no guest RAM is "
		 "sent, only devices and CPU state (case 8's method otherwise: no bandwidth cap, downtime-limit "
		 "300 ms). QEMU's memory-backend-memfd cannot be used: a second QEMU cannot open the first one's "
		 "memfd; a file on /dev/shm is the same shmem (tmpfs) pages a memfd has, under a name. *total ms* is "
		 "query-migrate's total-time, *pause ms (reported)* its downtime.\n\n"
		 "*pause ms (guest saw)*: the guest prints a `b` line every page write; the consoles go to FIFOs "
		 "that a bench thread reads, timestamping each line on the host's CLOCK_MONOTONIC; the value is the "
		 "largest gap between consecutive lines from just before the request until %d lines after the "
		 "answer (gmvm's new process inherits the console, so its lines come on the same FIFO).",
		 ws_mib, PAGES_S, BEATS_AFTER, BEATS_AFTER);
	c->about = about;
	bg_kvm_unusable(c->skip, sizeof(c->skip));
}
