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
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "harness.h"
#include "procs.h"
#include "test_vm.h"

#define HUGETLB_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/"
#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"
/* The guests outlive any re-home here: 20 s with a clock, 2000 rounds without (TCG: minutes). */
#define DIRTY "dirty.mb=32 dirty.seconds=20 dirty.rounds=2000"
#define REGION_GPA "0x40000000"

static struct {
	char dir[64], sock[128], console[128], out[128], err[128], events[128];
	pid_t pid;
	long nr_hugepages; /* to restore; -1: left alone */
} rt = { .nr_hugepages = -1 };

static void setup(void)
{
	strcpy(rt.dir, "/tmp/gmvm-rehome-XXXXXX");
	cr_assert(mkdtemp(rt.dir));
	snprintf(rt.sock, sizeof(rt.sock), "%s/api.sock", rt.dir);
	snprintf(rt.console, sizeof(rt.console), "%s/console", rt.dir);
	snprintf(rt.out, sizeof(rt.out), "%s/out", rt.dir);
	snprintf(rt.err, sizeof(rt.err), "%s/err", rt.dir);
	snprintf(rt.events, sizeof(rt.events), "%s/events", rt.dir);
	char run[96];
	snprintf(run, sizeof(run), "%s/run", rt.dir);
	setenv("GMVM_RUN_DIR", run, 1);
	rt.nr_hugepages = -1;
}

/*
 * The tests of a suite run in parallel processes: those that read or set
 * the 2M pool hold this lock until they end (the process's exit drops it).
 */
static void lock_hugetlb(void)
{
	int fd = open("/tmp/gmvm-test-hugetlb.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);

	cr_assert_geq(fd, 0);
	cr_assert_eq(flock(fd, LOCK_EX), 0);
}

static void teardown(void)
{
	kill_reap(&rt.pid);
	if (rt.nr_hugepages >= 0 && !write_long(NR_HUGEPAGES, rt.nr_hugepages))
		fprintf(stderr, "cannot restore %s to %ld\n", NR_HUGEPAGES, rt.nr_hugepages);
	unsetenv("GMVM_TEST_REHOME_FAIL_AFTER");
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rt.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", rt.dir);
}

TestSuite(rehome, .init = setup, .fini = teardown, .timeout = 900);

static void dump_all(void)
{
	char *e = slurp(rt.err), *c = slurp(rt.console);

	fprintf(stderr, "---- gmvm stderr\n%s\n---- console\n%s\n", e, c);
	free(e);
	free(c);
}

/* gmvm run GUEST with --memory memory, the API and events, extra options (NULL-ended) before the guest. */
static void start_vm(const char *memory, const char *cmdline, ...)
{
	char con[160], mon[160];
	char *elf = guest_path("dirty");
	const char *argv[32];
	unsigned n = 0;
	va_list ap;

	require_kvm();
	snprintf(con, sizeof(con), "file:%s", rt.console);
	snprintf(mon, sizeof(mon), "path=%s", rt.events);
	argv[n++] = gmvm_bin();
	argv[n++] = "run";
	argv[n++] = "--api-sock";
	argv[n++] = rt.sock;
	argv[n++] = "--event-monitor";
	argv[n++] = mon;
	argv[n++] = "--console";
	argv[n++] = con;
	argv[n++] = "--memory";
	argv[n++] = test_memory(memory);
	argv[n++] = "--cmdline";
	argv[n++] = cmdline;
	va_start(ap, cmdline);
	for (const char *a = va_arg(ap, const char *); a && n < 28; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n++] = elf;
	argv[n] = NULL;
	rt.pid = spawn(argv, rt.out, rt.err);
	for (int i = 0; i < 3000 && !can_connect(rt.sock); i++)
		if (wait_exit(rt.pid, 0.02) != -1) {
			dump_all();
			cr_assert_fail("gmvm ended before its API was up");
		}
	cr_assert(can_connect(rt.sock), "no API");
	if (!wait_file_has(rt.console, "dirty: start", 120)) {
		dump_all();
		cr_assert_fail("the guest did not start");
	}
	/* into its rounds of rewriting pages */
	sleep_ms(500);
	free(elf);
}

/* PUT endpoint with body (NULL: none) through curl, the answer kept in rt.dir/file. */
static struct answer put(const char *endpoint, const char *body, const char *file)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", rt.dir, file);
	return api_put(rt.sock, endpoint, body, path, dump_all);
}

static struct answer rehome(const char *body)
{
	return put("vm.memory-rehome", body, "answer.json");
}

static json_t *info(void)
{
	char cmd[512], path[160];

	snprintf(path, sizeof(path), "%s/info.json", rt.dir);
	snprintf(cmd, sizeof(cmd), "curl -sS --unix-socket '%s' -o '%s' http://localhost/api/v1/vm.info", rt.sock, path);
	cr_assert_eq(system(cmd), 0);
	char *text = slurp(path);
	json_t *j = json_loads(text, 0, NULL);
	cr_assert(j, "vm.info is not JSON: %s", text);
	free(text);
	return j;
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
	char *con = slurp(rt.console);
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
	char *con = slurp(rt.console);
	size_t rounds = count_substr(con, "dirty: round");
	bool more = false;

	free(con);
	for (int i = 0; i < 6000 && !more; i++) {
		con = slurp(rt.console);
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

	char *ev = slurp(rt.events);
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

/* ---- the 2M hugetlb pool ---- */

/* At least pages free 2M hugepages, raising the pool as root (put back after); false with why. */
static bool hugetlb_2m(long pages, char *why, size_t len)
{
	long nr = read_long(HUGETLB_2M "nr_hugepages"), free_now = read_long(HUGETLB_2M "free_hugepages");

	if (nr < 0) {
		snprintf(why, len, "this kernel has no 2M hugetlb pool (%s)", HUGETLB_2M);
		return false;
	}
	if (free_now >= pages)
		return true;
	if (geteuid() != 0) {
		snprintf(why, len, "the 2M hugetlb pool has %ld free pages, the test needs %ld: as root it sets %s itself",
			 free_now, pages, NR_HUGEPAGES);
		return false;
	}
	if (rt.nr_hugepages < 0)
		rt.nr_hugepages = read_long(NR_HUGEPAGES);
	write_long(NR_HUGEPAGES, nr + (pages - free_now));
	free_now = read_long(HUGETLB_2M "free_hugepages");
	if (free_now < pages) {
		snprintf(why, len, "the 2M hugetlb pool could grow to only %ld free pages of the %ld needed (memory fragmented?)",
			 free_now, pages);
		return false;
	}
	return true;
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
	run_gmvm(&r, 300, "rehome", "--api-sock", rt.sock, "extra", "backend=anon,prealloc=off", NULL);
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
	run_gmvm(&r, 60, "rehome", "--api-sock", rt.sock, "ram", "size=1G", NULL);
	cr_expect_eq(r.status, 2, "%s", r.err);
	cr_expect(strstr(r.err, "unknown item 'size=1G'") && strstr(r.err, "size and bind stay"), "%s", r.err);
	run_result_free(&r);
	run_gmvm(&r, 60, "rehome", "--api-sock", rt.sock, "nope", NULL);
	cr_expect_eq(r.status, 2, "%s", r.err);
	cr_expect(strstr(r.err, "no region 'nope'"), "%s", r.err);
	run_result_free(&r);
	if (!gmem) {
		run_gmvm(&r, 60, "rehome", "--api-sock", rt.sock, "ram", "backend=guest-memfd", NULL);
		cr_expect_eq(r.status, 3, "%s", r.err);
		cr_expect(strstr(r.err, "use backend=memfd"), "%s", r.err);
		run_result_free(&r);
	}
	json_t *inf = info();
	cr_expect_str_eq(str(region_of(inf, "ram"), "backend"), "memfd");
	cr_expect_str_eq(str(json_object_get(inf, "rehome"), "phase"), "none");
	json_decref(inf);
	char *ev = slurp(rt.events);
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
	char *ev = slurp(rt.events);
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
		char *ev = slurp(rt.events);
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
		char *ev = slurp(rt.events);
		size_t began = count_substr(ev, "\"phase\":\"preparing\"");

		free(ev);
		pthread_create(&b.t, NULL, bg_rehome, &b);
		cr_assert(wait_began(began), "no re-home began");
		struct answer busy = rehome("{}");
		run_gmvm(&r, 60, "rehome-cancel", "--api-sock", rt.sock, NULL);
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
	run_gmvm(&r, 60, "rehome-cancel", "--api-sock", rt.sock, NULL);
	cr_expect_eq(r.status, 1, "%s", r.err);
	cr_expect(strstr(r.err, "gmvm: no re-home is running; vm.info shows the last one"), "%s", r.err);
	run_result_free(&r);
	expect_guest_passes();
}
