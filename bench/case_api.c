/*
 * bench/case_api: cases 4-6 (`--case api`), gmvm's control API next to
 * QEMU's QMP: the round trip of one request, how long pause+resume stops
 * the guest, and what serving the API costs in memory.  Unlike cases 1-3
 * the VMM keeps running while the bench talks to it, so each case has its
 * own run function; sides, ratios, targets and the report are shared.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_client.h"
#include "background.h"
#include "bench.h"
#include "qmp.h"

#define PING_REQUESTS 1000	/* per run; enough values for a p99 */
#define PAUSE_PAIRS 50		/* pause+resume per run */
#define PAUSE_GAP_US 2000	/* the guest runs this long before each pause */
#define EXERCISE_PINGS 100	/* case 6: requests made while the peak RSS is watched */
#define START_TIMEOUT_MS 30000	/* until the guest prints and the socket answers */
#define END_TIMEOUT_MS 10000	/* from the shutdown request to the process gone */
#define REQUEST_TIMEOUT_MS 10000L	/* one API request */
#define SPIN_READY "spin: running"
#define GMVM_TIMEOUT 2	/* case 6: seconds before gmvm stops spin itself (times --timeout-scale) */
#define GMVM_TIMEOUT_STATUS 124	/* gmvm run's exit status when --timeout expires */

/* ---- shared: the KVM check and a VMM session ---- */


static struct bench_side *add_gmvm(struct bench_case *c, const struct bench_opts *o, const char *label,
				   const char *cpus, bool api)
{
	struct bench_side *s = bench_add_side(c, label, o->gmvm, "run", "--cpus", cpus, "--memory",
					      bench_gmvm_memory(o, "1G"), (char *)NULL);

	bench_note_backend(s, o);
	if (api) {
		snprintf(s->sock, sizeof(s->sock), "%s/gmvm.sock", o->sockdir);
		bench_side_append(s, "--api-sock", s->sock, (char *)NULL);
	}
	return s;
}

static struct bench_side *add_qemu_qmp(struct bench_case *c, const struct bench_opts *o, const char *label,
				       const char *cpus)
{
	struct bench_side *s = bench_add_qemu(c, o, label, bench_path_in(o->guests, "spin.elf"), cpus, "1G");
	char qmp[160];

	snprintf(s->sock, sizeof(s->sock), "%s/qmp.sock", o->sockdir);
	snprintf(qmp, sizeof(qmp), "unix:%s,server=on,wait=off", s->sock);
	bench_side_append(s, "-qmp", qmp, (char *)NULL);
	return s;
}

/* Every side of an API case needs a guest to run: without KVM the whole case is skipped. */
static void check_kvm(struct bench_case *c)
{
	bg_kvm_unusable(c->skip, sizeof(c->skip));
}

enum op { OP_PING, OP_PAUSE, OP_RESUME };

/* A running VMM and the bench's connection to its control socket. */
struct session {
	bool qemu;
	int scale;		/* the case's timeout_scale */
	struct bg_proc p;
	struct api_client a;	/* gmvm; a.curl NULL when closed */
	struct qmp q;		/* QEMU; q.fd -1 when closed */
};

/* Starts the side's VMM and connects once its guest runs; the caller ends it with session_end or _abort. */
static int session_open(struct session *x, const struct bench_case *c, int side_no, bool qemu, char *why,
			size_t whylen)
{
	const struct bench_side *side = &c->sides[side_no];

	memset(x, 0, sizeof(*x));
	x->qemu = qemu;
	x->scale = c->timeout_scale;
	x->q.fd = -1;
	x->q.timeout_ms = QMP_TIMEOUT_MS * c->timeout_scale;
	x->p.out = -1;
	/* a leftover socket would answer for nobody or refuse gmvm's bind */
	unlink(side->sock);
	if (bg_start(&x->p, side->argv, why, whylen) < 0 ||
	    bg_wait_line(&x->p, SPIN_READY, START_TIMEOUT_MS * x->scale, why, whylen) < 0)
		return -1;
	int fd = bg_connect_unix(&x->p, side->sock, BG_POLL_US, START_TIMEOUT_MS * x->scale, why, whylen);

	if (fd < 0)
		return -1;
	if (qemu)
		return qmp_open(&x->q, fd, why, whylen);
	close(fd); /* it listens; curl makes its own connection */
	if (api_client_open(&x->a, side->sock, why, whylen) < 0)
		return -1;
	api_client_set_timeout(&x->a, REQUEST_TIMEOUT_MS * x->scale);
	return 0;
}

static int session_op(struct session *x, enum op op, char *why, size_t whylen)
{
	static const char *const qmp_cmd[] = { "query-status", "stop", "cont" };
	static const char *const method[] = { "GET", "PUT", "PUT" };
	static const char *const endpoint[] = { "vmm.ping", "vm.pause", "vm.resume" };

	if (x->qemu)
		return qmp_execute(&x->q, qmp_cmd[op], why, whylen);
	return api_request_ok(&x->a, method[op], endpoint[op], why, whylen);
}

static void session_close_conn(struct session *x)
{
	if (x->a.curl)
		api_client_close(&x->a);
	qmp_close(&x->q);
}

/* Asks the VMM to end (PUT vm.shutdown, QMP quit) and waits for it; -1 with a reason if it stays. */
static int session_end(struct session *x, char *why, size_t whylen)
{
	char answer[300] = "";
	const char *asked = x->qemu ? "QMP quit" : "PUT vm.shutdown";

	/* the answer may be lost to the exit itself; the process ending is what counts */
	if (x->qemu)
		qmp_execute(&x->q, "quit", answer, sizeof(answer));
	else
		api_request_ok(&x->a, "PUT", "vm.shutdown", answer, sizeof(answer));
	session_close_conn(x);
	if (bg_wait_end(&x->p, END_TIMEOUT_MS * x->scale) < 0) {
		snprintf(why, whylen, "still running %d s after %s (killed)%s%s", END_TIMEOUT_MS * x->scale / 1000,
			 asked, answer[0] ? "; the answer: " : "", answer);
		return -1;
	}
	bg_stop(&x->p);
	return 0;
}

/* Kills the VMM and hands back what it printed. */
static char *session_abort(struct session *x)
{
	session_close_conn(x);
	bg_alive(&x->p); /* reap first if it ended by itself */
	char *out = bg_output(&x->p);

	bg_stop(&x->p);
	return out;
}

static double elapsed_us(double since)
{
	return bg_now_us() - since;
}

/* ---- 4. API round trip ---- */

enum { S4_GMVM, S4_QEMU };
enum { M4_MED, M4_P99 };

static int run_ping(struct bench_case *c, int side, double *out, char *why, size_t whylen, char **output)
{
	struct session *x = malloc(sizeof(*x));
	double *t = malloc(PING_REQUESTS * sizeof(*t));
	int r = -1;

	if (!x || !t) {
		snprintf(why, whylen, "out of memory");
		free(x);
		free(t);
		return -1;
	}
	if (session_open(x, c, side, side == S4_QEMU, why, whylen) < 0 ||
	    /* the first request is not counted: for gmvm it is also curl's connect */
	    session_op(x, OP_PING, why, whylen) < 0)
		goto out;
	for (int i = 0; i < PING_REQUESTS; i++) {
		double t0 = bg_now_us();

		if (session_op(x, OP_PING, why, whylen) < 0)
			goto out;
		t[i] = elapsed_us(t0);
	}
	if (session_end(x, why, whylen) < 0)
		goto out;
	out[M4_MED] = stats_median(t, PING_REQUESTS);
	out[M4_P99] = stats_percentile(t, PING_REQUESTS, 99);
	r = 0;
out:
	if (r < 0)
		*output = session_abort(x);
	free(x);
	free(t);
	return r;
}

void bench_case_api_ping(struct bench_case *c, const struct bench_opts *o)
{
	bench_init_case(c, o, 4, "API round trip");
	c->about = "The `spin` guest (prints `spin: running`, then loops at CPL3), 1 vCPU, 1 GiB of guest RAM. "
		   "Once the guest runs, the bench sends 1000 requests one after another and times each from "
		   "sending it to having read its whole answer: gmvm `GET /api/v1/vmm.ping` on its `--api-sock` "
		   "(HTTP/1.1 through libcurl, one handle reused, so one kept-alive connection, as a long-lived "
		   "client sees it); QEMU QMP `query-status` on its `-qmp` UNIX socket (greeting and "
		   "`qmp_capabilities` first; JSON lines, written by the bench and parsed with jansson). Each "
		   "side's client is part of its time. The first request of a run (for gmvm also curl's "
		   "connect) is not counted. *median us* and *p99 us* are over one run's 1000 requests; the "
		   "table gives their median, min and max over the rounds. Each run ends the VMM with "
		   "`PUT /api/v1/vm.shutdown` or QMP `quit`.";
	c->run = run_ping;
	c->n_metrics = 2;
	c->metrics[M4_MED] = (struct bench_metric){ "median us", 1 };
	c->metrics[M4_P99] = (struct bench_metric){ "p99 us", 1 };
	bench_side_append(add_gmvm(c, o, "gmvm GET vmm.ping", "1", true), bench_path_in(o->guests, "spin.elf"),
			  (char *)NULL);
	add_qemu_qmp(c, o, "QEMU QMP query-status", "1");
	bench_add_ratio(c, S4_GMVM, S4_QEMU, M4_MED, "gmvm / QEMU, median");
	bench_add_ratio(c, S4_GMVM, S4_QEMU, M4_P99, "gmvm / QEMU, p99");
	check_kvm(c);
}

/* ---- 5. pause and resume ---- */

enum { S5_GMVM1, S5_QEMU1, S5_GMVM8, S5_QEMU8 };
enum { M5_STOP_MED, M5_STOP_P99, M5_PAUSED_MED, M5_PAUSED_P99 };

static int pause_resume(struct session *x, char *why, size_t whylen)
{
	if (session_op(x, OP_PAUSE, why, whylen) < 0)
		return -1;
	return session_op(x, OP_RESUME, why, whylen);
}

/* Both pair measurements of one run; paused is NULL for QEMU, which has no paused-time counter. */
static int pause_pairs(struct session *x, double *stop, double *paused, char *why, size_t whylen)
{
	uint64_t prev_us = 0, prev_n = 0, us, n;

	/* one uncounted pair: the first pause of a machine may take paths later ones do not */
	if (pause_resume(x, why, whylen) < 0 ||
	    (paused && api_counters(&x->a, &prev_us, &prev_n, why, whylen) < 0))
		return -1;
	for (int i = 0; i < PAUSE_PAIRS; i++) {
		usleep(PAUSE_GAP_US);
		double t0 = bg_now_us();

		if (pause_resume(x, why, whylen) < 0)
			return -1;
		stop[i] = elapsed_us(t0);
		if (!paused)
			continue;
		if (api_counters(&x->a, &us, &n, why, whylen) < 0)
			return -1;
		if (n != prev_n + 1 || us < prev_us) {
			snprintf(why, whylen, "vm.counters went from pauses=%llu paused_us=%llu to pauses=%llu "
				 "paused_us=%llu across one pause+resume; expected one more pause and no less time",
				 (unsigned long long)prev_n, (unsigned long long)prev_us, (unsigned long long)n,
				 (unsigned long long)us);
			return -1;
		}
		paused[i] = (double)(us - prev_us);
		prev_us = us;
		prev_n = n;
	}
	return 0;
}

static int run_pause(struct bench_case *c, int side, double *out, char *why, size_t whylen, char **output)
{
	bool qemu = side == S5_QEMU1 || side == S5_QEMU8;
	struct session *x = malloc(sizeof(*x));
	double stop[PAUSE_PAIRS], paused[PAUSE_PAIRS];

	if (!x) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (session_open(x, c, side, qemu, why, whylen) < 0 ||
	    pause_pairs(x, stop, qemu ? NULL : paused, why, whylen) < 0 || session_end(x, why, whylen) < 0) {
		*output = session_abort(x);
		free(x);
		return -1;
	}
	free(x);
	out[M5_STOP_MED] = stats_median(stop, PAUSE_PAIRS);
	out[M5_STOP_P99] = stats_percentile(stop, PAUSE_PAIRS, 99);
	out[M5_PAUSED_MED] = qemu ? NAN : stats_median(paused, PAUSE_PAIRS);
	out[M5_PAUSED_P99] = qemu ? NAN : stats_percentile(paused, PAUSE_PAIRS, 99);
	return 0;
}

void bench_case_api_pause(struct bench_case *c, const struct bench_opts *o)
{
	bench_init_case(c, o, 5, "Pause and resume");
	c->about = "How long a running guest is stopped by one pause and one resume. `spin`, 1 GiB, with 1 and "
		   "with 8 vCPUs (QEMU `-smp 8`); spin runs on the boot CPU only, so with 8 vCPUs the other "
		   "seven wait for a start-up IPI that never comes, in both VMMs: their threads sit blocked in "
		   "KVM_RUN and must still be kicked out and parked. Per run: one uncounted pause+resume, then "
		   "50, each after 2 ms of the guest running. *stop* is the stop as the host sees it, from "
		   "sending the pause (gmvm `PUT /api/v1/vm.pause`, QEMU QMP `stop`) to having read the "
		   "resume's answer (`PUT /api/v1/vm.resume`, QMP `cont`): the guest was stopped for at most "
		   "that, and it includes two of case 4's round trips. *paused_us* is gmvm's own account: the "
		   "growth of `paused_us` in `GET /api/v1/vm.counters` across each pair (read after the pair, "
		   "outside the timed stop); QEMU has no such counter. Median and p99 are over one run's 50 "
		   "pairs (with 50 values the p99 lies between the two largest); the table gives their median, "
		   "min and max over the rounds.";
	c->run = run_pause;
	c->n_metrics = 4;
	c->metrics[M5_STOP_MED] = (struct bench_metric){ "stop median us", 1 };
	c->metrics[M5_STOP_P99] = (struct bench_metric){ "stop p99 us", 1 };
	c->metrics[M5_PAUSED_MED] = (struct bench_metric){ "paused_us median", 1 };
	c->metrics[M5_PAUSED_P99] = (struct bench_metric){ "paused_us p99", 1 };
	const char *spin = bench_path_in(o->guests, "spin.elf");

	bench_side_append(add_gmvm(c, o, "gmvm 1 vCPU", "1", true), spin, (char *)NULL);
	add_qemu_qmp(c, o, "QEMU 1 vCPU", "1");
	spin = bench_path_in(o->guests, "spin.elf");
	bench_side_append(add_gmvm(c, o, "gmvm 8 vCPUs", "8", true), spin, (char *)NULL);
	add_qemu_qmp(c, o, "QEMU 8 vCPUs", "8");
	bench_add_ratio(c, S5_GMVM1, S5_QEMU1, M5_STOP_MED, "gmvm / QEMU stop, 1 vCPU, median");
	bench_add_ratio(c, S5_GMVM8, S5_QEMU8, M5_STOP_MED, "gmvm / QEMU stop, 8 vCPUs, median");
	c->n_targets = 1;
	c->targets[0] = (struct bench_target){ "gmvm pause+resume stops a 1-vCPU guest for <= 1 ms (stop median)",
					       -1, S5_GMVM1, M5_STOP_MED, true, 1000, " us" };
	check_kvm(c);
}

/* ---- 6. API memory overhead ---- */

enum { S6_PLAIN, S6_API };
enum { M6_HWM };

/* Case 6's client thread: uses the API while the traced gmvm runs. */
struct exercise {
	const char *sock;
	int scale;
	atomic_int done;	/* set once gmvm has been reaped */
	char err[512];		/* empty: every request answered 200 */
};

static void *exercise_api(void *opaque)
{
	struct exercise *e = opaque;
	struct api_client a;
	static const char *const after[][2] = {
		{ "GET", "vm.info" }, { "GET", "vm.counters" }, { "PUT", "vm.pause" }, { "PUT", "vm.resume" },
	};
	double deadline = bg_now_us() + START_TIMEOUT_MS * 1e3 * e->scale;

	if (api_client_open(&a, e->sock, e->err, sizeof(e->err)) < 0)
		return NULL;
	/* until the socket answers; gmvm makes it before the VM */
	while (api_request(&a, "GET", "vmm.ping", e->err, sizeof(e->err)) < 0) {
		if (atomic_load(&e->done) || bg_now_us() > deadline)
			goto out;
		usleep(1000);
	}
	for (int i = 0; i < EXERCISE_PINGS; i++)
		if (api_request_ok(&a, "GET", "vmm.ping", e->err, sizeof(e->err)) < 0)
			goto out;
	for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++)
		if (api_request_ok(&a, after[i][0], after[i][1], e->err, sizeof(e->err)) < 0)
			goto out;
	e->err[0] = '\0';
out:
	api_client_close(&a);
	return NULL;
}

static bool has_line(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *l = text; l && *l;) {
		if (!strncmp(l, prefix, n))
			return true;
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	return false;
}

static int run_memory(struct bench_case *c, int side, double *out, char *why, size_t whylen, char **output)
{
	struct bench_side *s = &c->sides[side];
	struct exercise e = { .sock = s->sock, .scale = c->timeout_scale, .err = "never ran" };
	struct spawn_result r;
	pthread_t th;
	int rc = -1;

	if (side == S6_API) {
		unlink(s->sock);
		if (pthread_create(&th, NULL, exercise_api, &e)) {
			snprintf(why, whylen, "cannot start the client thread");
			return -1;
		}
	}
	/* this thread forks and traces gmvm (the tracer must be the forking thread) */
	int sr = spawn_run(s->argv, 0, &r, why, whylen);

	if (side == S6_API) {
		atomic_store(&e.done, 1);
		pthread_join(th, NULL);
	}
	if (sr < 0)
		return -1;
	if (r.status != GMVM_TIMEOUT_STATUS)
		snprintf(why, whylen, "exit status %d, expected %d (--timeout %d)", r.status, GMVM_TIMEOUT_STATUS,
			 GMVM_TIMEOUT * c->timeout_scale);
	else if (!has_line(r.output, SPIN_READY))
		snprintf(why, whylen, "no line starting '" SPIN_READY "' in its output");
	else if (!r.hwm_kib)
		snprintf(why, whylen, "no peak RSS: the process was not seen at its exit");
	else if (side == S6_API && e.err[0])
		snprintf(why, whylen, "the API was not used as planned: %s", e.err);
	else
		rc = 0;
	out[M6_HWM] = (double)r.hwm_kib / 1024;
	if (rc < 0) {
		*output = r.output;
		r.output = NULL;
	}
	spawn_result_free(&r);
	return rc;
}

void bench_case_api_memory(struct bench_case *c, const struct bench_opts *o)
{
	bench_init_case(c, o, 6, "API memory overhead");
	c->about = "What serving the API costs in memory: gmvm's peak RSS (VmHWM at exit, read as in case 1) "
		   "running `spin` (1 vCPU, 1 GiB) until its own `--timeout` (2 s, times --timeout-scale) stops it "
		   "(exit status 124), without and with `--api-sock`. With the socket, a bench thread uses the API "
		   "while the guest runs: 100 `GET vmm.ping` on one connection, then `GET vm.info`, "
		   "`GET vm.counters`, `PUT vm.pause` and `PUT vm.resume`, so the server's threads and the "
		   "pages its request path touches are counted. The overhead is the difference of the two "
		   "peaks within each round; the guest and its memory are the same on both sides.";
	c->run = run_memory;
	c->n_metrics = 1;
	c->metrics[M6_HWM] = (struct bench_metric){ "peak RSS MiB", 2 };
	const char *spin = bench_path_in(o->guests, "spin.elf");
	char timeout[16];

	snprintf(timeout, sizeof(timeout), "%d", GMVM_TIMEOUT * o->timeout_scale);
	bench_side_append(add_gmvm(c, o, "gmvm", "1", false), "--timeout", timeout, spin, (char *)NULL);
	spin = bench_path_in(o->guests, "spin.elf");
	bench_side_append(add_gmvm(c, o, "gmvm --api-sock", "1", true), "--timeout", timeout, spin,
			  (char *)NULL);
	bench_add_ratio(c, S6_API, S6_PLAIN, M6_HWM, "gmvm --api-sock - gmvm, peak RSS MiB");
	c->ratios[0].diff = true;
	c->n_targets = 1;
	c->targets[0] = (struct bench_target){ "gmvm API overhead <= 4 MiB", 0, 0, 0, true, 4, " MiB" };
	check_kvm(c);
}
