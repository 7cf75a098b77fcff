/*
 * bench/case_rehome: case 9 (`--case rehome`), re-homing a running guest's
 * RAM from memfd on 4 KiB pages to memfd on 2 MiB hugetlb pages with
 * vm.memory-rehome, while the `dirty` guest rewrites its memory at a low
 * rate and flat out.  No peer can change a running guest's backend; the
 * reference in the same run is what QEMU 7.2 needs for the same change: a
 * live migration over a local UNIX socket to a second QEMU whose memory is
 * 2M hugetlb memfd.
 *
 * The guest's own view: `dirty` prints a "b" line every dirty.beat page
 * writes; its console is a FIFO read with host timestamps (beats.h).  The
 * largest gap from the request to BEATS_AFTER lines after the answer is the
 * pause the guest saw; the beat rate over RATE_WINDOW_MS before the request
 * and after the answer is how fast the guest writes memory on each backing
 * (the flat-out side: random 4 KiB pages over the whole working set, which
 * is where 2M pages pay).  The guest has no clock in the nested rig, so
 * `memtest`'s own MB/s cannot be used there; these rates are host-timed.
 *
 * Knobs: GMVM_BENCH_REHOME_MIB (guest RAM, default 1024), --runs/--warmup.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_client.h"
#include "background.h"
#include "beats.h"
#include "bench.h"

#define SPARE_MIB 24		/* of the guest's RAM left to its image, stacks and tables */
#define LOW_PAGES_S 1000	/* the low rate: 4 MB/s, as case 8's idle side */
#define HIGH_BEAT 256		/* flat out: a beat line every 1 MiB written */
#define BEATS_AFTER 100
#define RATE_WINDOW_MS 1000
#define BOOT_TIMEOUT_MS 180000	/* for 1 GiB and timeout_scale 1 */
#define REHOME_TIMEOUT_MS 120000
#define HUGE_2M_PAGES "/sys/kernel/mm/hugepages/hugepages-2048kB/"

enum { S9_LOW, S9_HIGH, S9_QEMU };
enum { M9_TOTAL, M9_PAUSE, M9_SEEN, M9_BEFORE, M9_AFTER };

static const struct bench_opts *opts;
static int mib;
static char about[3072], dst_object[128];

/* ---- the 2M pool: each side needs the whole guest in it, for the length of a run ---- */

static long pool_read(const char *file)
{
	char path[128];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), HUGE_2M_PAGES "%s", file);
	if ((f = fopen(path, "r"))) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int pool_write(long total)
{
	FILE *f = fopen(HUGE_2M_PAGES "nr_hugepages", "w");
	int r = f && fprintf(f, "%ld\n", total) > 0 ? 0 : -1;

	if (f && fclose(f))
		r = -1;
	return r;
}

/* Grows the pool to hold the guest when it is short (as root); *was: the size to give back, -1: untouched. */
static int pool_ensure(long *was, char *why, size_t whylen)
{
	long need = mib / 2 + 4, total = pool_read("nr_hugepages"), free_ = pool_read("free_hugepages");

	*was = -1;
	if (total < 0 || free_ < 0) {
		snprintf(why, whylen, "this kernel has no 2M hugetlb pages (%s missing)", HUGE_2M_PAGES);
		return -1;
	}
	if (free_ >= need)
		return 0;
	if (pool_write(total + need - free_) == 0)
		*was = total;
	if (pool_read("free_hugepages") < need) {
		snprintf(why, whylen,
			 "the 2M hugetlb pool has %ld free pages, the guest needs %ld; as root: echo %ld > /proc/sys/vm/nr_hugepages",
			 pool_read("free_hugepages"), need, total + need - free_);
		return -1;
	}
	return 0;
}

static void pool_restore(long was)
{
	if (was >= 0)
		pool_write(was);
}

/* ---- gmvm: vm.memory-rehome on the running guest ---- */

static double num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

struct run9 {
	struct beats b;
	struct bg_proc p;
	char con[2][128], sock[128], cmdline[192];
	int beat;
	double scale;
};

static int rehome_once(struct bench_case *c, int side, struct run9 *x, double *out, char *why, size_t whylen)
{
	char mem[64], con[140];
	struct api_client a = { 0 };
	int r = -1;

	snprintf(mem, sizeof(mem), "%dM,backend=memfd", mib);
	snprintf(con, sizeof(con), "file:%s", x->con[0]);
	char *argv[] = { (char *)opts->gmvm, "run", "--cpus", "1", "--memory", mem, "--api-sock", x->sock, "--console",
			 con, "--cmdline", x->cmdline, bench_path_in(opts->guests, "dirty.elf"), NULL };
	if (bg_start(&x->p, argv, why, whylen) < 0)
		return -1;
	int fd = bg_connect_unix(&x->p, x->sock, BG_POLL_US, (int)(BOOT_TIMEOUT_MS * x->scale), why, whylen);

	if (fd < 0)
		return -1;
	close(fd);
	if (beats_wait(&x->b, 0, 20, &x->p, (int)(BOOT_TIMEOUT_MS * x->scale), "gmvm", why, whylen) < 0 ||
	    api_client_open(&a, x->sock, why, whylen) < 0)
		goto out;
	out[M9_BEFORE] = beats_rate_mbs(&x->b, 0, x->beat, RATE_WINDOW_MS);
	beats_arm(&x->b);
	uint64_t seen = beats_count(&x->b, 0);
	long st = api_put_json(&a, "vm.memory-rehome", "{\"region\":\"ram\",\"backend\":\"memfd\",\"hugepages\":\"2M\"}",
			       (long)(REHOME_TIMEOUT_MS * x->scale), why, whylen);
	if (st != 200) {
		if (st > 0)
			snprintf(why, whylen, "vm.memory-rehome answered %ld: %.300s", st, a.body ? a.body : "");
		goto out;
	}
	json_t *j = json_loads(a.body, 0, NULL), *rh = json_object_get(j, "rehome");

	out[M9_TOTAL] = num(rh, "elapsed_ms");
	out[M9_PAUSE] = num(rh, "pause_ms");
	if (c->verbose)
		fprintf(stderr, "  gmvm %s: %s\n", side == S9_LOW ? "low" : "flat out", a.body);
	json_decref(j);
	if (beats_wait(&x->b, 0, seen + BEATS_AFTER, &x->p, (int)(REHOME_TIMEOUT_MS * x->scale), "gmvm", why,
		       whylen) < 0)
		goto out;
	out[M9_SEEN] = beats_max_gap_ms(&x->b);
	out[M9_AFTER] = beats_rate_mbs(&x->b, 0, x->beat, RATE_WINDOW_MS);
	r = x->b.bad ? -1 : 0;
	if (x->b.bad)
		snprintf(why, whylen, "the guest printed '%s'", x->b.bad_line);
out:
	api_client_close(&a);
	return r;
}

static int run_rehome(struct bench_case *c, int side, double *out, char *why, size_t whylen, char **output)
{
	struct run9 *x;
	long was;
	int r = -1;

	for (int m = 0; m <= M9_AFTER; m++)
		out[m] = NAN;
	if (pool_ensure(&was, why, whylen) < 0)
		return -1;
	if (side == S9_QEMU) {
		struct bench_migration res;

		r = bench_qemu_migration(c, opts, side, mib, LOW_PAGES_S, dst_object, &res, why, whylen, output);
		out[M9_TOTAL] = res.total_ms;
		out[M9_PAUSE] = res.down_ms;
		out[M9_SEEN] = res.seen_ms;
		pool_restore(was);
		return r;
	}
	if (!(x = calloc(1, sizeof(*x)))) {
		snprintf(why, whylen, "out of memory");
		pool_restore(was);
		return -1;
	}
	x->p.out = -1;
	x->scale = c->timeout_scale * (mib > 512 ? mib / 512.0 : 1);
	x->beat = side == S9_LOW ? 1 : HIGH_BEAT;
	snprintf(x->cmdline, sizeof(x->cmdline),
		 "dirty.mb=%d dirty.share=100 dirty.rate=%d dirty.beat=%d dirty.seconds=36000 dirty.rounds=1000000000",
		 mib - SPARE_MIB, side == S9_LOW ? LOW_PAGES_S : 0, x->beat);
	snprintf(x->con[0], sizeof(x->con[0]), "%s/rehome.con", opts->sockdir);
	snprintf(x->con[1], sizeof(x->con[1]), "%s/rehome-unused.con", opts->sockdir);
	snprintf(x->sock, sizeof(x->sock), "%s/rehome.sock", opts->sockdir);
	unlink(x->sock);
	if (beats_start(&x->b, x->con, why, whylen) == 0)
		r = rehome_once(c, side, x, out, why, whylen);
	if (r < 0 && x->p.out >= 0)
		*output = bg_output(&x->p);
	bg_stop(&x->p);
	beats_stop(&x->b, x->con);
	unlink(x->sock);
	free(x);
	pool_restore(was);
	return r;
}

void bench_case_rehome(struct bench_case *c, const struct bench_opts *o)
{
	const char *env = getenv("GMVM_BENCH_REHOME_MIB");
	char mem[64], qmem[16];

	opts = o;
	mib = env && atoi(env) >= 128 ? atoi(env) : 1024;
	snprintf(mem, sizeof(mem), "%dM,backend=memfd", mib);
	snprintf(qmem, sizeof(qmem), "%dM", mib);
	snprintf(dst_object, sizeof(dst_object), "memory-backend-memfd,id=mem,size=%dM,hugetlb=on,hugetlbsize=2M", mib);
	bench_init_case(c, o, 9, "Re-homing a running guest's memory (4K -> 2M)");
	c->run = run_rehome;
	c->n_metrics = 5;
	c->metrics[M9_TOTAL] = (struct bench_metric){ "total ms (reported)", 1 };
	c->metrics[M9_PAUSE] = (struct bench_metric){ "pause ms (reported)", 2 };
	c->metrics[M9_SEEN] = (struct bench_metric){ "pause ms (guest saw)", 2 };
	c->metrics[M9_BEFORE] = (struct bench_metric){ "guest MB/s before", 1 };
	c->metrics[M9_AFTER] = (struct bench_metric){ "guest MB/s after", 1 };
	static const char *const labels[] = { "gmvm rehome, low rate", "gmvm rehome, flat out" };
	for (int s = 0; s < 2; s++) {
		struct bench_side *d = bench_add_side(c, labels[s], o->gmvm, "run", "--cpus", "1", "--memory", mem,
						      "--api-sock", "S.sock", "--cmdline", "dirty.rate=...",
						      bench_path_in(o->guests, "dirty.elf"), (char *)NULL);
		if (!o->sockdir)
			snprintf(d->skip, sizeof(d->skip), "no socket directory");
	}
	struct bench_side *q = bench_add_qemu(c, o, "QEMU migrate to 2M, low rate", bench_path_in(o->guests, "dirty.elf"),
					      "1", qmem);
	q->note = "reference: no live backend change";
	if (!o->sockdir && !q->skip[0])
		snprintf(q->skip, sizeof(q->skip), "no socket directory");
	bench_add_ratio(c, S9_LOW, S9_QEMU, M9_TOTAL, "low rate: gmvm rehome / QEMU migration total ms");
	bench_add_ratio(c, S9_LOW, S9_QEMU, M9_SEEN, "low rate: gmvm / QEMU pause the guest saw");
	c->n_targets = 1;
	c->targets[0] = (struct bench_target){ "low rate: gmvm pause <= 10 ms", -1, S9_LOW, M9_PAUSE, true, 10, " ms" };
	snprintf(about, sizeof(about),
		 "Re-homing the RAM of a running guest from memfd on 4 KiB pages to memfd on 2 MiB hugetlb pages. "
		 "The `dirty` guest (1 vCPU, %d MiB of RAM) writes %d MiB, then keeps rewriting random pages of it, "
		 "checking each: at %d pages/s (*low rate*, 4 MB/s) or as fast as it can (*flat out*). gmvm: `PUT "
		 "vm.memory-rehome {\"region\":\"ram\",\"backend\":\"memfd\",\"hugepages\":\"2M\"}`, its answer gives "
		 "elapsed_ms and pause_ms. No peer can change a running guest's backend; the reference is QEMU 7.2 "
		 "doing the same change the only way it can, a live migration over a UNIX socket to a second QEMU "
		 "with `-object %s` (case 8's method, its max-bandwidth cap lifted, downtime-limit 300 ms), at the low "
		 "rate. The 2M pool is grown for each run when short (as root) and given back after.\n\n"
		 "*pause ms (guest saw)*: the largest gap between the guest's host-timestamped heartbeat lines from "
		 "the request until %d lines after the answer. *guest MB/s before / after*: the rate the guest "
		 "wrote memory at over %d ms before the request and after the answer, counted from its heartbeats "
		 "(host-timed: the guest has no clock in the nested rig); flat out, that is its speed on 4 KiB "
		 "pages and then on 2 MiB pages.",
		 mib, mib - SPARE_MIB, LOW_PAGES_S, dst_object, BEATS_AFTER, RATE_WINDOW_MS);
	c->about = about;
	bg_kvm_unusable(c->skip, sizeof(c->skip));
}
