/*
 * Re-homing a running guest's memory through the real API and the real
 * client: a `gmvm run` process whose `dirty` guest keeps rewriting its
 * pages and checking them, and one region moved onto new memory meanwhile
 * (memfd 4K -> 2M hugetlb, anon -> guest-memfd, guest-memfd onto node 0, a
 * compacting copy, a --region).  Each time the guest's own check passes
 * after, vm.info shows the new backing, and the pause is reported in the
 * answer, vm.info, the event and the client's line.  Refusals come before
 * anything is copied; a re-home that fails midway (the test hook
 * GMVM_TEST_REHOME_FAIL_AFTER) or is cancelled leaves the guest on its old
 * memory, and its check passes too.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "procs.h"
#include "test_vm.h"

#define HUGETLB_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/"
/* The guests outlive any re-home here: 20 s with a clock, 2000 rounds without (TCG: minutes). */
#define DIRTY "dirty.mb=32 dirty.seconds=20 dirty.rounds=2000"
#define REGION_GPA "0x40000000"

static struct {
	struct vm_files f;
	pid_t pid;
} rt;

static void setup(void)
{
	vm_files_make(&rt.f, "gmvm-rehome");
}

static void teardown(void)
{
	kill_reap(&rt.pid);
	hugetlb_2m_restore();
	unsetenv("GMVM_TEST_REHOME_FAIL_AFTER");
	vm_files_remove(&rt.f);
}

TestSuite(rehome, .init = setup, .fini = teardown, .timeout = 900);

static void dump_all(void)
{
	char *e = slurp(rt.f.err), *c = slurp(rt.f.console);

	fprintf(stderr, "---- gmvm stderr\n%s\n---- console\n%s\n", e, c);
	free(e);
	free(c);
}

/* gmvm run GUEST with --memory memory, the API and events, extra options (NULL-ended) before the guest. */
static void start_vm(const char *memory, const char *cmdline, ...)
{
	const char *extra[16];
	struct dirty_vm_args a;
	unsigned n = 0;
	va_list ap;

	require_kvm();
	va_start(ap, cmdline);
	for (const char *x = va_arg(ap, const char *); x && n < 15; x = va_arg(ap, const char *))
		extra[n++] = x;
	va_end(ap);
	extra[n] = NULL;
	dirty_vm_argv(&a, rt.f.sock, rt.f.events, rt.f.console, memory, cmdline, extra);
	rt.pid = spawn(a.argv, rt.f.out, rt.f.err);
	for (int i = 0; i < 3000 && !can_connect(rt.f.sock); i++)
		if (wait_exit(rt.pid, 0.02) != -1) {
			dump_all();
			cr_assert_fail("gmvm ended before its API was up");
		}
	cr_assert(can_connect(rt.f.sock), "no API");
	if (!wait_file_has(rt.f.console, "dirty: start", 120)) {
		dump_all();
		cr_assert_fail("the guest did not start");
	}
	/* into its rounds of rewriting pages */
	sleep_ms(500);
	free(a.elf);
}

/* PUT endpoint with body (NULL: none) through curl, the answer kept in rt.f.dir/file. */
static struct answer put(const char *endpoint, const char *body, const char *file)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", rt.f.dir, file);
	return api_put(rt.f.sock, endpoint, body, path, dump_all);
}

static struct answer rehome(const char *body)
{
	return put("vm.memory-rehome", body, "answer.json");
}

static json_t *info(void)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/info.json", rt.f.dir);
	return api_get_info(rt.f.sock, path);
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static double num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	cr_assert(json_is_number(v), "no number %s in %s", key, json_dumps(o, 0));
	return json_number_value(v);
}

/* vm.info's entry for the region name. */
static json_t *region_of(json_t *inf, const char *name)
{
	json_t *r;
	size_t i;

	json_array_foreach(json_object_get(inf, "regions"), i, r)
		if (!strcmp(str(r, "name"), name))
			return r;
	cr_assert_fail("no region %s in vm.info: %s", name, json_dumps(inf, 0));
	return NULL;
}

/* The guest finishes on its own, its check passing, gmvm exiting 0. */
static void expect_guest_passes(void)
{
	int st = wait_exit(rt.pid, 600);

	rt.pid = st == -1 ? rt.pid : 0;
	if (st != 0)
		dump_all();
	cr_expect_eq(st, 0, "gmvm's exit status (the guest's)");
	char *con = slurp(rt.f.console);
	cr_expect(strstr(con, "dirty: ok pages="), "the guest's check did not pass:\n%s", con);
	free(con);
}

/*
 * For a guest that runs long: it still rewrites and checks its pages (one
 * more "dirty: round" line, each round re-reading the pages it rewrites),
 * then vm.shutdown ends it with status 0.
 */
static void expect_guest_still_checks_then_shutdown(void)
{
	char *con = slurp(rt.f.console);
	size_t rounds = count_substr(con, "dirty: round");
	bool more = false;

	free(con);
	for (int i = 0; i < 6000 && !more; i++) {
		con = slurp(rt.f.console);
		more = count_substr(con, "dirty: round") > rounds;
		cr_assert(!strstr(con, "MISMATCH"), "the guest found a page changed:\n%s", con);
		free(con);
		if (!more)
			sleep_ms(50);
	}
	cr_expect(more, "the guest wrote no round line in 300 s");
	struct answer a = put("vm.shutdown", NULL, "shutdown.json");
	cr_expect_eq(a.http, 200, "%s", json_dumps(a.body, 0));
	json_decref(a.body);
	int st = wait_exit(rt.pid, 120);
	rt.pid = st == -1 ? rt.pid : 0;
	cr_expect_eq(st, 0, "gmvm's exit status after vm.shutdown");
}

/* A completed re-home's answer: its record, the same in vm.info, the pause there and in the event. */
static json_t *expect_completed(struct answer a, const char *region)
{
	if (a.http != 200)
		dump_all();
	cr_assert_eq(a.http, 200, "%s", json_dumps(a.body, 0));
	json_t *rh = json_object_get(a.body, "rehome");
	cr_assert_str_eq(str(rh, "phase"), "completed", "%s", json_dumps(a.body, 0));
	cr_expect_str_eq(str(rh, "region"), region);
	cr_expect_geq(num(rh, "pause_ms"), 0);
	cr_expect_geq(num(rh, "round"), 1);
	cr_expect_gt(num(rh, "pages_total"), 0);
	cr_expect_eq(num(rh, "pages_copied") + num(rh, "pages_skipped") >= num(rh, "pages_total"), 1,
		     "copied + skipped cover the region: %s", json_dumps(rh, 0));

	json_t *inf = info();
	json_t *irh = json_object_get(inf, "rehome");
	cr_expect_str_eq(str(irh, "phase"), "completed");
	cr_expect_float_eq(num(irh, "pause_ms"), num(rh, "pause_ms"), 1e-6, "vm.info's pause is the answer's");
	cr_expect_str_eq(str(inf, "state"), "running");
	json_decref(inf);

	char *ev = slurp(rt.f.events);
	cr_expect(strstr(ev, "\"event\":\"rehome\""), "no rehome event:\n%s", ev);
	cr_expect(strstr(ev, "\"phase\":\"copying\""), "no copying phase in the events:\n%s", ev);
	const char *done = strstr(ev, "\"phase\":\"completed\"");
	cr_expect(done, "no completed rehome event:\n%s", ev);
	if (done) {
		const char *eol = strchr(done, '\n');
		const char *pause = strstr(done, "\"pause_ms\":");
		if (!pause || (eol && pause > eol)) {
			/* the members may come before the phase: look on the whole line */
			const char *bol = done;
			while (bol > ev && bol[-1] != '\n')
				bol--;
			pause = strstr(bol, "\"pause_ms\":");
		}
		cr_expect(pause && (!eol || pause < eol), "the completed event has no pause_ms:\n%s", ev);
	}
	free(ev);
	return rh;
}

/* A refusal: status, a line holding want, and nothing begun (vm.info has no re-home, or the last one). */
static void expect_refused(struct answer a, int http, const char *want, const char *phase_before)
{
	const char *msg = str(a.body, "error");

	cr_expect_eq(a.http, http, "%s", json_dumps(a.body, 0));
	cr_expect(strstr(msg, want), "error '%s' does not say '%s'", msg, want);
	cr_expect(!strchr(msg, '\n'), "more than one line: %s", msg);
	json_t *inf = info();
	cr_expect_str_eq(str(json_object_get(inf, "rehome"), "phase"), phase_before,
			 "a refused re-home changed vm.info's record: %s", json_dumps(json_object_get(inf, "rehome"), 0));
	cr_expect_str_eq(str(inf, "state"), "running");
	json_decref(inf);
	json_decref(a.body);
}

/* ---- the re-homes ---- */

Test(rehome, memfd_4k_onto_2m_hugepages_while_dirty_runs)
{
	char why[256];

	require_kvm();
	lock_hugetlb();
	if (!hugetlb_2m(64, why, sizeof(why)))
		cr_skip_test("%s", why);
	start_vm("size=128M,backend=memfd", DIRTY, NULL);
	json_t *before = info();
	cr_assert_eq(num(region_of(before, "ram"), "page_size"), 4096);
	json_decref(before);

	struct answer a = rehome("{\"backend\":\"memfd\",\"hugepages\":\"2M\"}");
	json_t *rh = expect_completed(a, "ram");
	cr_expect(strstr(str(rh, "from"), "memfd"), "from: %s", str(rh, "from"));
	cr_expect(strstr(str(rh, "to"), "2M"), "to: %s", str(rh, "to"));
	json_t *inf = info();
	cr_expect_eq(num(region_of(inf, "ram"), "page_size"), 2 << 20, "%s", json_dumps(region_of(inf, "ram"), 0));
	cr_expect_str_eq(str(region_of(inf, "ram"), "backend"), "memfd");
	json_decref(inf);
	json_decref(a.body);
	expect_guest_passes();
}

Test(rehome, anon_onto_guest_memfd_makes_the_vm_guest_first)
{
	require_guest_memfd();
	start_vm("size=128M,backend=anon", DIRTY, NULL);
	struct answer a = rehome("{\"backend\":\"guest-memfd\"}");
	json_t *rh = expect_completed(a, "ram");
	cr_expect(strstr(str(rh, "to"), "guest-memfd"), "to: %s", str(rh, "to"));
	json_t *inf = info();
	cr_expect_str_eq(str(region_of(inf, "ram"), "backend"), "guest-memfd");
	cr_expect_str_eq(str(region_of(inf, "ram"), "binding"), "gmem");
	json_decref(inf);
	json_decref(a.body);
	expect_guest_passes();
}

Test(rehome, guest_memfd_onto_numa_node_0_and_a_missing_node_refused)
{
	require_guest_memfd();
	start_vm("size=128M,backend=guest-memfd", DIRTY, NULL);
	expect_refused(rehome("{\"numa_node\":63}"), 400, "NUMA node 63 is not online", "none");
	struct answer a = rehome("{\"backend\":\"guest-memfd\",\"numa_node\":0}");
	json_t *rh = expect_completed(a, "ram");
	cr_expect(strstr(str(rh, "to"), "node 0"), "to: %s", str(rh, "to"));
	json_decref(a.body);
	json_t *inf = info();
	cr_expect_str_eq(str(region_of(inf, "ram"), "backend"), "guest-memfd");
	json_decref(inf);
	expect_guest_passes();
}

/*
 * The same settings: a fresh copy holds only what the guest wrote.  Of a
 * 256M region the guest touched its image and 32M: the rest is skipped and
 * the new object holds less than the region.
 */
Test(rehome, same_settings_compact_and_skip_what_was_never_written)
{
	start_vm("size=256M", DIRTY, NULL);
	struct answer a = rehome("{}");
	json_t *rh = expect_completed(a, "ram");
	uint64_t total = (uint64_t)num(rh, "pages_total");
	cr_expect_eq(total, (256u << 20) / 4096);
	cr_expect_gt(num(rh, "pages_skipped"), total / 2, "most of the region was never written: %s",
		     json_dumps(rh, 0));
	cr_expect_lt(num(rh, "resident_after"), 256.0 * (1 << 20) / 2, "the new object holds what was written: %s",
		     json_dumps(rh, 0));
	cr_expect_gt(num(rh, "resident_after"), 32.0 * (1 << 20), "the working set is there: %s", json_dumps(rh, 0));
	cr_expect_str_eq(str(rh, "from"), str(rh, "to"));
	json_decref(a.body);
	expect_guest_passes();
}

/* A --region, through the client: its one line with the pause, vm.info shows the region on anon. */
Test(rehome, a_region_through_the_client_prints_the_pause)
{
	struct run_result r;

	start_vm("size=128M", "dirty.mb=16 dirty.at=" REGION_GPA " dirty.seconds=20 dirty.rounds=2000", "--region",
		 "name=extra,size=64M,backend=memfd", NULL);
	run_gmvm(&r, 300, "rehome", "--api-sock", rt.f.sock, "extra", "backend=anon,prealloc=off", NULL);
	if (r.status != 0)
		dump_all();
	expect_run(&r, 0, "rehome: region extra now anon");
	cr_expect(strstr(r.out, "pages copied ("), "%s", r.out);
	cr_expect(strstr(r.out, " ms, ") && strstr(r.out, "paused "), "no pause on the client's line: %s", r.out);
	cr_expect_eq(count_substr(r.out, "\n"), 1, "one line: %s", r.out);
	double paused = -1;
	const char *p = strstr(r.out, "paused ");
	cr_expect(p && sscanf(p, "paused %lf ms", &paused) == 1 && paused >= 0, "%s", r.out);
	run_result_free(&r);

	json_t *inf = info();
	cr_expect_str_eq(str(region_of(inf, "extra"), "backend"), "anon");
	cr_expect_str_eq(str(json_object_get(inf, "rehome"), "region"), "extra");
	cr_expect_float_eq(num(json_object_get(inf, "rehome"), "pause_ms"), paused, 0.051,
			   "the client's pause is vm.info's");
	json_decref(inf);
	expect_guest_passes();
}

/* ---- refusals before anything is copied ---- */

/* A guest that outlives many requests under TCG; it ends by vm.shutdown. */
#define DIRTY_LONG "dirty.mb=32 dirty.seconds=900 dirty.rounds=100000"

Test(rehome, impossible_targets_are_refused_before_anything_is_copied)
{
	struct run_result r;
	struct gm_caps caps;

	test_caps(&caps);
	lock_hugetlb();
	long free2m = read_long(HUGETLB_2M "free_hugepages");
	start_vm("size=128M,backend=memfd", DIRTY_LONG, NULL);
	expect_refused(rehome("{\"region\":\"nope\"}"), 400, "no region 'nope'; its regions are: ram", "none");
	expect_refused(rehome("{\"numa_node\":63}"), 400, "NUMA node 63 is not online", "none");
	expect_refused(rehome("{\"size\":\"1G\"}"), 400, "unknown field 'size'", "none");
	bool gmem = caps.guest_memfd && (caps.gmem_flags & GM_GMEM_FLAG_MMAP);
	if (!gmem)
		/* a backend this kernel lacks: 501, and the client exits 3 */
		expect_refused(rehome("{\"backend\":\"guest-memfd\"}"), 501, "use backend=memfd", "none");
	else
		cr_log_info("guest_memfd works here: the lacking-backend refusal needs a kernel without it");
	/* a pool too small: the remedy names the sysctl */
	if (free2m >= 0 && free2m < 64)
		expect_refused(rehome("{\"hugepages\":\"2M\"}"), 400, "hugetlb pool is too small", "none");
	else
		cr_log_info("the 2M pool has %ld free pages: big enough, or none at all", free2m);

	/* the client: a size is no key of its; a refusal exits 2 with the server's line */
	run_gmvm(&r, 60, "rehome", "--api-sock", rt.f.sock, "ram", "size=1G", NULL);
	cr_expect_eq(r.status, 2, "%s", r.err);
	cr_expect(strstr(r.err, "unknown item 'size=1G'") && strstr(r.err, "size and bind stay"), "%s", r.err);
	run_result_free(&r);
	run_gmvm(&r, 60, "rehome", "--api-sock", rt.f.sock, "nope", NULL);
	cr_expect_eq(r.status, 2, "%s", r.err);
	cr_expect(strstr(r.err, "no region 'nope'"), "%s", r.err);
	run_result_free(&r);
	if (!gmem) {
		run_gmvm(&r, 60, "rehome", "--api-sock", rt.f.sock, "ram", "backend=guest-memfd", NULL);
		cr_expect_eq(r.status, 3, "%s", r.err);
		cr_expect(strstr(r.err, "use backend=memfd"), "%s", r.err);
		run_result_free(&r);
	}
	json_t *inf = info();
	cr_expect_str_eq(str(region_of(inf, "ram"), "backend"), "memfd");
	cr_expect_str_eq(str(json_object_get(inf, "rehome"), "phase"), "none");
	json_decref(inf);
	char *ev = slurp(rt.f.events);
	cr_expect(!strstr(ev, "\"event\":\"rehome\""), "a refused re-home began:\n%s", ev);
	free(ev);
	expect_guest_still_checks_then_shutdown();
}

/* ---- failures midway and cancel: the guest stays on its old memory ---- */

Test(rehome, a_failure_midway_leaves_the_guest_on_its_old_memory)
{
	/* test only: the second populate of the new memory fails as if its pool ran dry */
	setenv("GMVM_TEST_REHOME_FAIL_AFTER", "1", 1);
	start_vm("size=128M,backend=memfd", DIRTY, NULL);
	unsetenv("GMVM_TEST_REHOME_FAIL_AFTER");
	struct answer a = rehome("{\"backend\":\"anon\"}");
	const char *msg = str(a.body, "error");
	cr_expect_eq(a.http, 500, "%s", json_dumps(a.body, 0));
	cr_expect(*msg && !strchr(msg, '\n'), "one line: %s", msg);
	json_t *inf = info();
	cr_expect_str_eq(str(json_object_get(inf, "rehome"), "phase"), "failed", "%s", json_dumps(inf, 0));
	cr_expect_str_eq(str(json_object_get(inf, "rehome"), "error"), msg);
	cr_expect_str_eq(str(region_of(inf, "ram"), "backend"), "memfd");
	cr_expect_str_eq(str(inf, "state"), "running");
	json_decref(inf);
	json_decref(a.body);
	char *ev = slurp(rt.f.events);
	cr_expect(strstr(ev, "\"phase\":\"failed\""), "no failed rehome event:\n%s", ev);
	free(ev);
	expect_guest_passes();
}

struct bg {
	pthread_t t;
	const char *body;
	struct answer a;
};

static void *bg_rehome(void *arg)
{
	struct bg *b = arg;

	b->a = put("vm.memory-rehome", b->body, "bg.json");
	return NULL;
}

/* Wait until the events say one more re-home began than before. */
static bool wait_began(size_t before)
{
	for (int i = 0; i < 60000; i++) {
		char *ev = slurp(rt.f.events);
		size_t n = count_substr(ev, "\"phase\":\"preparing\"");

		free(ev);
		if (n > before)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * A long re-home (a preallocated 1G target, a pause of 1 ms it can hardly
 * meet): a second one is 409, a cancel stops it, the guest runs on its
 * old memory.  A re-home that ends before the cancel reaches it (a fast
 * host) is tried again the other way round, a few times.
 */
Test(rehome, busy_then_cancel_leaves_the_guest_on_its_old_memory)
{
	static const char *const bodies[] = {
		"{\"backend\":\"anon\",\"prealloc\":true,\"downtime_ms\":1,\"timeout_s\":600}",
		"{\"backend\":\"memfd\",\"prealloc\":true,\"downtime_ms\":1,\"timeout_s\":600}",
	};
	const char *backend = "memfd";
	struct run_result r;
	bool cancelled = false;

	/* test only: 100 ms before each run copied, so the cancel (a process
	 * started under emulation takes seconds) comes while it copies */
	setenv("GMVM_TEST_REHOME_SLOW_MS", "100", 1);
	start_vm("size=1G,backend=memfd", "dirty.mb=64 dirty.seconds=60 dirty.rounds=6000", NULL);
	unsetenv("GMVM_TEST_REHOME_SLOW_MS");
	for (int attempt = 0; attempt < 6 && !cancelled; attempt++) {
		struct bg b = { .body = bodies[attempt % 2] };
		char *ev = slurp(rt.f.events);
		size_t began = count_substr(ev, "\"phase\":\"preparing\"");

		free(ev);
		pthread_create(&b.t, NULL, bg_rehome, &b);
		cr_assert(wait_began(began), "no re-home began");
		struct answer busy = rehome("{}");
		run_gmvm(&r, 60, "rehome-cancel", "--api-sock", rt.f.sock, NULL);
		pthread_join(b.t, NULL);
		if (r.status == 0) {
			cancelled = true;
			cr_expect_eq(busy.http, 409, "%s", json_dumps(busy.body, 0));
			cr_expect(strstr(str(busy.body, "error"), "a re-home of region ram is running"), "%s",
				  json_dumps(busy.body, 0));
			expect_run(&r, 0, "re-home cancelled; the guest runs on its old memory");
			cr_expect_eq(b.a.http, 500, "%s", json_dumps(b.a.body, 0));
			cr_expect(strstr(str(b.a.body, "error"), "cancelled by vm.memory-rehome-cancel"), "%s",
				  json_dumps(b.a.body, 0));
		} else {
			/* it ended first: it (or the "busy" one) completed; go on from where it is */
			cr_log_info("attempt %d: the re-home ended before the cancel (%d, %s); busy: %d %s; cancel: %d %s",
				    attempt, b.a.http, json_dumps(b.a.body, 0), busy.http, json_dumps(busy.body, 0), r.status,
				    r.err);
			cr_assert_eq(b.a.http, 200, "%s", json_dumps(b.a.body, 0));
			backend = attempt % 2 ? "memfd" : "anon";
		}
		run_result_free(&r);
		json_decref(busy.body);
		json_decref(b.a.body);
	}
	cr_assert(cancelled, "no re-home lasted long enough to be cancelled in 6 attempts");
	json_t *inf = info();
	cr_expect_str_eq(str(json_object_get(inf, "rehome"), "phase"), "cancelled", "%s",
			 json_dumps(json_object_get(inf, "rehome"), 0));
	cr_expect_str_eq(str(region_of(inf, "ram"), "backend"), backend);
	cr_expect_str_eq(str(inf, "state"), "running");
	json_decref(inf);
	/* nothing runs now: a cancel is a 409, and the client says so with exit 1 */
	run_gmvm(&r, 60, "rehome-cancel", "--api-sock", rt.f.sock, NULL);
	cr_expect_eq(r.status, 1, "%s", r.err);
	cr_expect(strstr(r.err, "gmvm: no re-home is running; vm.info shows the last one"), "%s", r.err);
	run_result_free(&r);
	expect_guest_passes();
}
