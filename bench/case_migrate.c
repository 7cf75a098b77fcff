/*
 * bench/case_migrate: case 8 (`--case migrate`), live migration of a busy
 * guest between two processes on this host over a UNIX socket: gmvm's
 * vm.send-migration to a `gmvm run --incoming unix:PATH`, next to QEMU 7.2's
 * QMP `migrate` to a `-incoming unix:PATH`, at three dirty rates: almost
 * idle, about 10% and about 50% of the link that the first gmvm idle run
 * measured (its bytes sent / its total time).
 *
 * The guest's own view of the pause is host-timed: `dirty` prints a "b"
 * line every dirty.beat page writes, both VMMs' consoles go to FIFOs that a
 * thread here reads, and the largest gap between consecutive beat lines (of
 * either console) from the migration's start until the destination has
 * printed BEATS_AFTER lines is the downtime the guest saw.
 *
 * Knobs: GMVM_BENCH_MIGRATE_MIB (guest RAM, default 1024),
 * GMVM_BENCH_MIGRATE_TIMEOUT_S (per 512 MiB, before --timeout-scale; default
 * 60), --runs/--warmup.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api_client.h"
#include "background.h"
#include "beats.h"
#include "bench.h"
#include "qmp.h"

#define SPARE_MIB 24			/* of the guest's RAM left to its image, stacks and tables */
#define IDLE_PAGES_S 1000		/* the "0%" side: 4 MB/s, a heartbeat rather than a load */
#define BEATS_PER_S 1000		/* dirty.beat is chosen for about one line per ms */
#define BEATS_AFTER 100			/* destination lines seen before the gap is read */
#define RATE_WINDOW_MS 1000		/* the dirty rate is counted over this, before migrating */
#define BOOT_TIMEOUT_MS 180000		/* for 1 GiB and timeout_scale 1 */
#define MIGRATE_TIMEOUT_MS 60000	/* per 512 MiB: a migration not ended by then did not converge */
#define AFTER_TIMEOUT_MS 30000
#define QEMU_MAX_BANDWIDTH ((json_int_t)1 << 40)

enum { S8_GMVM0, S8_QEMU0, S8_GMVM10, S8_QEMU10, S8_GMVM50, S8_QEMU50 };
enum { M8_TOTAL, M8_MB, M8_DOWN, M8_SEEN, M8_DIRTY };

static const int pct[] = { 0, 0, 10, 10, 50, 50 };
static int mib;
static double link_bps;		/* from the first gmvm idle run; 0 before it */
static char about[4096];
static char qemu_mem[16];
static int migrate_timeout_ms = MIGRATE_TIMEOUT_MS;

/* ---- one run ---- */

struct mig_run {
	struct bench_case *c;
	int side, beat;
	char con[2][128], in[128], sock[2][128], cmdline[192];
	struct beats b;
	struct bg_proc src, dst;
	double scale;
	struct bench_qemu_how how;	/* how a QEMU migration differs from this case's own */
};

static void path(char *buf, const struct bench_opts *o, const char *name)
{
	snprintf(buf, 128, "%s/%s", o->sockdir, name);
}

static const struct bench_opts *opts;

static int wait_listening(struct bg_proc *p, const char *sock, int timeout_ms, char *why, size_t whylen)
{
	for (int waited = 0; access(sock, F_OK) != 0; waited += 2) {
		if (!bg_alive(p)) {
			snprintf(why, whylen, "the destination ended (status %d) before it listened", p->status);
			return -1;
		}
		if (waited > timeout_ms) {
			snprintf(why, whylen, "the destination did not listen at %s within %d s", sock, timeout_ms / 1000);
			return -1;
		}
		usleep(2000);
	}
	return 0;
}

/* After the start line: the dirty rate the guest keeps, over RATE_WINDOW_MS, host-timed. */
static int measure_dirty(struct mig_run *x, double *mbs, char *why, size_t whylen)
{
	if (beats_wait(&x->b, 0, 20, &x->src, (int)(BOOT_TIMEOUT_MS * x->scale), "the source", why, whylen) < 0)
		return -1;
	*mbs = beats_rate_mbs(&x->b, 0, x->beat, RATE_WINDOW_MS);
	return 0;
}

/* Once migrated: BEATS_AFTER lines at the destination, then the largest gap since arm(). */
static int seen_downtime(struct mig_run *x, double *ms, char *why, size_t whylen)
{
	if (beats_wait(&x->b, 1, BEATS_AFTER, &x->dst, (int)(AFTER_TIMEOUT_MS * x->scale), "the destination", why,
		       whylen) < 0)
		return -1;
	*ms = beats_max_gap_ms(&x->b);
	return 0;
}

static double num(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_number(v) ? json_number_value(v) : NAN;
}

static int run_gmvm(struct mig_run *x, double *out, char *why, size_t whylen)
{
	char url[160], con[140], mem[64], body[256];
	struct api_client a = { 0 };
	int r = -1;

	snprintf(url, sizeof(url), "unix:%s", x->in);
	snprintf(con, sizeof(con), "file:%s", x->con[1]);
	char *dargv[] = { (char *)opts->gmvm, "run", "--incoming", url, "--memory", "backend=memfd", "--console", con,
			  NULL };
	if (bg_start(&x->dst, dargv, why, whylen) < 0 ||
	    wait_listening(&x->dst, x->in, (int)(10000 * x->scale), why, whylen) < 0)
		return -1;
	snprintf(con, sizeof(con), "file:%s", x->con[0]);
	snprintf(mem, sizeof(mem), "%dM,backend=memfd", mib);
	char *sargv[] = { (char *)opts->gmvm, "run", "--cpus", "1", "--memory", mem, "--api-sock", x->sock[0],
			  "--console", con, "--cmdline", x->cmdline, (char *)bench_path_in(opts->guests, "dirty.elf"),
			  NULL };
	if (bg_start(&x->src, sargv, why, whylen) < 0)
		return -1;
	int fd = bg_connect_unix(&x->src, x->sock[0], BG_POLL_US, (int)(BOOT_TIMEOUT_MS * x->scale), why, whylen);

	if (fd < 0)
		return -1;
	close(fd); /* it listens; curl makes its own connection */
	if (measure_dirty(x, &out[M8_DIRTY], why, whylen) < 0 || api_client_open(&a, x->sock[0], why, whylen) < 0)
		goto out;
	snprintf(body, sizeof(body), "{\"destination_url\":\"%s\"}", url);
	beats_arm(&x->b);
	long st = api_put_json(&a, "vm.send-migration", body, (long)(4 * migrate_timeout_ms * x->scale),
			       why, whylen);
	if (st != 200) {
		if (st > 0)
			snprintf(why, whylen, "vm.send-migration answered %ld: %.300s", st, a.body ? a.body : "");
		goto out;
	}
	json_t *j = json_loads(a.body, 0, NULL);

	out[M8_TOTAL] = num(j, "total_ms");
	out[M8_MB] = num(j, "bytes_sent") / 1e6;
	out[M8_DOWN] = num(j, "downtime_ms");
	if (x->c->verbose)
		fprintf(stderr, "  gmvm %d%%: %s\n", pct[x->side], a.body);
	json_decref(j);
	if (x->side == S8_GMVM0 && link_bps == 0 && out[M8_TOTAL] > 0)
		link_bps = out[M8_MB] * 1e6 / (out[M8_TOTAL] / 1e3);
	r = seen_downtime(x, &out[M8_SEEN], why, whylen);
out:
	api_client_close(&a);
	return r;
}

/* The side's QEMU command with its serial to fifo, its -object replaced by object (when not NULL), plus extra (NULL-terminated). */
static void qemu_argv(char **argv, const struct bench_side *s, const char *serial, const char *object,
		      char *const *extra)
{
	int n = 0;

	for (int i = 0; s->argv[i] && n < BENCH_MAX_ARGS + 8; i++) {
		argv[n++] = s->argv[i];
		if (!strcmp(s->argv[i], "-serial") && s->argv[i + 1]) {
			argv[n++] = (char *)serial;
			i++;
		} else if (object && !strcmp(s->argv[i], "-object") && s->argv[i + 1]) {
			argv[n++] = (char *)object;
			i++;
		}
	}
	for (int i = 0; extra[i]; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
}

/* x-ignore-shared must be on at the destination before the stream comes: its QMP, before the source migrates. */
static int ignore_shared_at_destination(struct mig_run *x, char *why, size_t whylen)
{
	struct qmp q = { .fd = -1, .timeout_ms = QMP_TIMEOUT_MS * (int)x->scale };
	int fd = bg_connect_unix(&x->dst, x->sock[1], BG_POLL_US, (int)(10000 * x->scale), why, whylen);
	int r = -1;

	if (fd >= 0 && qmp_open(&q, fd, why, whylen) == 0)
		r = qmp_call(&q, json_pack("{s:s, s:{s:[{s:s, s:b}]}}", "execute", "migrate-set-capabilities",
					   "arguments", "capabilities", "capability", "x-ignore-shared", "state", 1),
			     NULL, why, whylen);
	qmp_close(&q);
	return r;
}

static int run_qemu(struct mig_run *x, double *out, char *why, size_t whylen)
{
	char *argv[BENCH_MAX_ARGS + 16], serial[140], url[140], qmp_arg[160], err[300];
	const struct bench_side *s = &x->c->sides[x->side];
	struct qmp q = { .fd = -1 };
	json_t *ret = NULL;
	int r = -1;

	snprintf(url, sizeof(url), "unix:%s", x->in);
	snprintf(serial, sizeof(serial), "file:%s", x->con[1]);
	snprintf(qmp_arg, sizeof(qmp_arg), "unix:%s,server=on,wait=off", x->sock[1]);
	qemu_argv(argv, s, serial, x->how.dst_object,
		  x->how.ignore_shared ? (char *[]){ "-incoming", url, "-qmp", qmp_arg, NULL }
				       : (char *[]){ "-incoming", url, NULL });
	if (bg_start(&x->dst, argv, why, whylen) < 0 ||
	    wait_listening(&x->dst, x->in, (int)(10000 * x->scale), why, whylen) < 0 ||
	    (x->how.ignore_shared && ignore_shared_at_destination(x, why, whylen) < 0))
		return -1;
	snprintf(serial, sizeof(serial), "file:%s", x->con[0]);
	snprintf(qmp_arg, sizeof(qmp_arg), "unix:%s,server=on,wait=off", x->sock[0]);
	qemu_argv(argv, s, serial, x->how.src_object, (char *[]){ "-append", x->cmdline, "-qmp", qmp_arg, NULL });
	if (bg_start(&x->src, argv, why, whylen) < 0)
		return -1;
	int fd = bg_connect_unix(&x->src, x->sock[0], BG_POLL_US, (int)(BOOT_TIMEOUT_MS * x->scale), why, whylen);

	q.timeout_ms = QMP_TIMEOUT_MS * (int)x->scale;
	if (fd < 0 || qmp_open(&q, fd, why, whylen) < 0)
		return -1;
	json_t *caps = json_pack("[{s:s, s:b}]", "capability", "events", "state", 1);

	if (caps && x->how.ignore_shared)
		json_array_append_new(caps, json_pack("{s:s, s:b}", "capability", "x-ignore-shared", "state", 1));
	/* untimed: no bandwidth cap (QEMU's default is 128 MiB/s), MIGRATION events; downtime-limit stays 300 ms */
	if (qmp_call(&q, json_pack("{s:s, s:{s:I}}", "execute", "migrate-set-parameters", "arguments",
				   "max-bandwidth", QEMU_MAX_BANDWIDTH), NULL, why, whylen) < 0 ||
	    qmp_call(&q, json_pack("{s:s, s:{s:o}}", "execute", "migrate-set-capabilities", "arguments",
				   "capabilities", caps), NULL, why, whylen) < 0 ||
	    measure_dirty(x, &out[M8_DIRTY], why, whylen) < 0)
		goto out;
	beats_arm(&x->b);
	if (qmp_call(&q, json_pack("{s:s, s:{s:s}}", "execute", "migrate", "arguments", "uri", url), NULL, why,
		     whylen) < 0)
		goto out;
	int limit_ms = (int)(migrate_timeout_ms * x->scale);

	if (qmp_wait_migration(&q, limit_ms, why, whylen) < 0) {
		/* not converged at this dirty rate (QEMU has no throttle by default): say so, measure nothing */
		qmp_execute(&q, "migrate_cancel", err, sizeof(err));
		fprintf(stderr, "  QEMU %d%%: no end within %d s (%s); cancelled, recorded as not measured\n",
			pct[x->side], limit_ms / 1000, why);
		r = 0;
		goto out;
	}
	if (strcmp(q.migration, "completed")) {
		snprintf(why, whylen, "QEMU's migration %s", q.migration);
		goto out;
	}
	if (qmp_call(&q, json_pack("{s:s}", "execute", "query-migrate"), &ret, why, whylen) < 0)
		goto out;
	out[M8_TOTAL] = num(ret, "total-time");
	out[M8_DOWN] = num(ret, "downtime");
	out[M8_MB] = num(json_object_get(ret, "ram"), "transferred") / 1e6;
	if (x->c->verbose) {
		char *d = json_dumps(ret, JSON_COMPACT);

		fprintf(stderr, "  %s: %.600s\n", x->c->sides[x->side].label, d ? d : "");
		free(d);
	}
	r = seen_downtime(x, &out[M8_SEEN], why, whylen);
out:
	json_decref(ret);
	qmp_close(&q);
	return r;
}

/*
 * One migration of side's guest (guest_mib of RAM, writing all but
 * SPARE_MIB at pages_s, or how->ws_mib) by QEMU (qemu) or gmvm; how (may
 * be NULL) says how a QEMU migration differs from case 8's.  out[] in
 * M8_* order.
 */
static int one_migration(struct bench_case *c, int side, int guest_mib, double pages_s, bool qemu,
			 const struct bench_qemu_how *how, double *out, char *why, size_t whylen, char **output)
{
	struct mig_run *x = calloc(1, sizeof(*x));
	int r = -1;

	if (!x) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	x->c = c;
	x->side = side;
	if (how)
		x->how = *how;
	int ws_mib = x->how.ws_mib > 0 ? x->how.ws_mib : guest_mib - SPARE_MIB;

	x->scale = c->timeout_scale * (ws_mib > 512 - SPARE_MIB ? (ws_mib + SPARE_MIB) / 512.0 : 1);
	x->src.out = x->dst.out = -1;
	x->beat = pages_s / BEATS_PER_S > 1 ? (int)(pages_s / BEATS_PER_S) : 1;
	snprintf(x->cmdline, sizeof(x->cmdline),
		 "dirty.mb=%d dirty.share=100 dirty.rate=%.0f dirty.beat=%d dirty.seconds=36000 dirty.rounds=1000000000",
		 ws_mib, pages_s, x->beat);
	path(x->con[0], opts, "mig-src.con");
	path(x->con[1], opts, "mig-dst.con");
	path(x->in, opts, "mig-in.sock");
	path(x->sock[0], opts, "mig-src.sock");
	path(x->sock[1], opts, "mig-dst.sock");
	unlink(x->in);
	unlink(x->sock[0]);
	unlink(x->sock[1]);
	if (beats_start(&x->b, x->con, why, whylen) == 0) {
		r = qemu ? run_qemu(x, out, why, whylen) : run_gmvm(x, out, why, whylen);
		if (r == 0 && x->b.bad) {
			snprintf(why, whylen, "the guest printed '%s'", x->b.bad_line);
			r = -1;
		}
	}
	if (r < 0) {
		char *s = x->src.out >= 0 ? bg_output(&x->src) : NULL, *d = x->dst.out >= 0 ? bg_output(&x->dst) : NULL;
		size_t n = (s ? strlen(s) : 0) + (d ? strlen(d) : 0) + 64;

		if ((*output = malloc(n)))
			snprintf(*output, n, "source:\n%s\ndestination:\n%s\n", s ? s : "", d ? d : "");
		free(s);
		free(d);
	}
	bg_stop(&x->src);
	bg_stop(&x->dst);
	beats_stop(&x->b, x->con);
	unlink(x->in);
	unlink(x->sock[0]);
	unlink(x->sock[1]);
	free(x);
	return r;
}

static int run_migrate(struct bench_case *c, int side, double *out, char *why, size_t whylen, char **output)
{
	double pages_s = pct[side] ? link_bps * pct[side] / 100 / 4096 : IDLE_PAGES_S;

	if (pct[side] && link_bps == 0) {
		snprintf(why, whylen, "no link bandwidth: the gmvm idle side must run first");
		return -1;
	}
	return one_migration(c, side, mib, pages_s, side % 2, NULL, out, why, whylen, output);
}

int bench_qemu_migration_how(struct bench_case *c, const struct bench_opts *o, int side, int guest_mib,
			     double pages_s, const struct bench_qemu_how *how, struct bench_migration *res, char *why,
			     size_t whylen, char **output)
{
	double out[5] = { NAN, NAN, NAN, NAN, NAN };
	int r;

	opts = o;
	r = one_migration(c, side, guest_mib, pages_s, true, how, out, why, whylen, output);
	*res = (struct bench_migration){ out[M8_TOTAL], out[M8_MB], out[M8_DOWN], out[M8_SEEN], out[M8_DIRTY] };
	return r;
}

int bench_qemu_migration(struct bench_case *c, const struct bench_opts *o, int side, int guest_mib, double pages_s,
			 const char *dst_object, struct bench_migration *res, char *why, size_t whylen, char **output)
{
	struct bench_qemu_how how = { .dst_object = dst_object };

	return bench_qemu_migration_how(c, o, side, guest_mib, pages_s, &how, res, why, whylen, output);
}

void bench_case_migrate(struct bench_case *c, const struct bench_opts *o)
{
	const char *env = getenv("GMVM_BENCH_MIGRATE_MIB");
	static const char *const labels[] = { "gmvm idle", "QEMU idle", "gmvm 10% of link", "QEMU 10% of link",
					      "gmvm 50% of link", "QEMU 50% of link" };
	char mem[64];

	opts = o;
	mib = env && atoi(env) >= 128 ? atoi(env) : 1024;
	env = getenv("GMVM_BENCH_MIGRATE_TIMEOUT_S");
	if (env && atoi(env) > 0)
		migrate_timeout_ms = atoi(env) * 1000;
	snprintf(qemu_mem, sizeof(qemu_mem), "%dM", mib);
	snprintf(mem, sizeof(mem), "%dM,backend=memfd", mib);
	bench_init_case(c, o, 8, "Live migration");
	c->run = run_migrate;
	c->n_metrics = 5;
	c->metrics[M8_TOTAL] = (struct bench_metric){ "total ms (reported)", 1 };
	c->metrics[M8_MB] = (struct bench_metric){ "MB sent", 1 };
	c->metrics[M8_DOWN] = (struct bench_metric){ "downtime ms (reported)", 2 };
	c->metrics[M8_SEEN] = (struct bench_metric){ "downtime ms (guest saw)", 2 };
	c->metrics[M8_DIRTY] = (struct bench_metric){ "guest dirty MB/s", 1 };
	for (int s = 0; s < 6; s++) {
		struct bench_side *d;

		if (s % 2)
			d = bench_add_qemu(c, o, labels[s], bench_path_in(o->guests, "dirty.elf"), "1", qemu_mem);
		else
			d = bench_add_side(c, labels[s], o->gmvm, "run", "--cpus", "1", "--memory", mem,
					   "--api-sock", "SRC.sock", "--console", "file:SRC.fifo", "--cmdline",
					   "dirty.mb=... dirty.rate=... dirty.beat=...",
					   bench_path_in(o->guests, "dirty.elf"), (char *)NULL);
		if (!o->sockdir)
			snprintf(d->skip, sizeof(d->skip), "no socket directory");
	}
	for (int r = 0; r < 3; r++) {
		char name[96];

		snprintf(name, sizeof(name), "%d%%: gmvm / QEMU total ms", pct[2 * r]);
		bench_add_ratio(c, 2 * r, 2 * r + 1, M8_TOTAL, name);
		snprintf(name, sizeof(name), "%d%%: gmvm / QEMU MB sent", pct[2 * r]);
		bench_add_ratio(c, 2 * r, 2 * r + 1, M8_MB, name);
		snprintf(name, sizeof(name), "%d%%: gmvm / QEMU downtime the guest saw", pct[2 * r]);
		bench_add_ratio(c, 2 * r, 2 * r + 1, M8_SEEN, name);
	}
	c->n_targets = 5;
	c->targets[0] = (struct bench_target){ "idle: gmvm total time <= 1/3 of QEMU's", 0, 0, 0, true, 0.3334, "x" };
	c->targets[1] = (struct bench_target){ "10%: gmvm total time <= 1/3 of QEMU's", 3, 0, 0, true, 0.3334, "x" };
	c->targets[2] = (struct bench_target){ "50%: gmvm total time <= 1/3 of QEMU's", 6, 0, 0, true, 0.3334, "x" };
	c->targets[3] = (struct bench_target){ "idle: downtime the guest saw <= 10 ms (gmvm)", -1, S8_GMVM0, M8_SEEN,
					       true, 10, " ms" };
	c->targets[4] = (struct bench_target){ "10%: downtime the guest saw <= 10 ms (gmvm)", -1, S8_GMVM10,
					       M8_SEEN, true, 10, " ms" };
	snprintf(about, sizeof(about),
		 "Live migration of a busy guest between two processes on this host, over a UNIX socket. The `dirty` "
		 "guest (1 vCPU, %d MiB of RAM, both VMMs on memfd memory) writes %d MiB, then keeps rewriting random "
		 "pages of it at `dirty.rate` pages/s, checking each. Rates: *idle* is %d pages/s (4 MB/s, a "
		 "heartbeat), then 10%% and 50%% of the link, the link being the first gmvm idle run's bytes sent / "
		 "its total time. gmvm: `gmvm run --incoming unix:IN --memory backend=memfd` and `PUT "
		 "vm.send-migration {\"destination_url\":\"unix:IN\"}` (gmvm's default downtime_ms, 50); its answer "
		 "gives total_ms, bytes_sent, downtime_ms. QEMU 7.2 microvm: destination with `-incoming unix:IN`, "
		 "source QMP `migrate` after `max-bandwidth` 1 TiB/s (its 128 MiB/s default cap lifted; "
		 "downtime-limit left at its 300 ms default), waiting for the MIGRATION event, then "
		 "`query-migrate`: total-time, downtime, ram.transferred. A QEMU run that has not ended within "
		 "%d s per 512 MiB (times --timeout-scale) is cancelled and counts as not measured.\n\n"
		 "*downtime ms (guest saw)*: the guest prints a `b` line every `dirty.beat` page writes (about one "
		 "per ms at the side's rate); both consoles go to FIFOs that a bench thread reads, timestamping each "
		 "line on the host's CLOCK_MONOTONIC as it arrives. The value is the largest gap between consecutive "
		 "lines of either console, from just before the migration is asked for until the destination has "
		 "printed %d lines: it includes the switch-over and any pause the VMM imposed while sending (its "
		 "throttle), and is blurred by host scheduling (both VMMs and the reader share the CPUs). "
		 "*guest dirty MB/s*: the rate the guest actually kept over %d ms before the migration, counted from "
		 "the beats, host-timed (where the guest has no TSC frequency dirty.rate cannot pace it and this "
		 "shows what it did).",
		 mib, mib - SPARE_MIB, IDLE_PAGES_S, migrate_timeout_ms / 1000, BEATS_AFTER, RATE_WINDOW_MS);
	c->about = about;
	bg_kvm_unusable(c->skip, sizeof(c->skip));
}
