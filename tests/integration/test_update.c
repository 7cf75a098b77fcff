/*
 * Live update through the real API and the real client: a `gmvm run`
 * process whose `dirty` guest keeps rewriting and checking its pages hands
 * the guest to a new gmvm process (PUT vmm.live-update, `gmvm update`).
 * Each time: the old process exits 0 ("updated"), the new one answers on
 * the same socket path, the console file goes on where it was, and the
 * guest's own check passes.  Refusals (anon memory, a stream version from
 * the future) and a new process killed at each step leave the guest
 * running in the old process.  No memory is copied: the new process holds
 * the very same memfds with the same allocated blocks.
 *
 * The new process is the old one's child; the test makes itself a child
 * subreaper so that, once the old one has exited, it can wait for the new
 * one's exit status as for any of its own children.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "procs.h"
#include "test_vm.h"
#include "update_vm.h"

TestSuite(update, .init = update_vm_setup, .fini = update_vm_teardown, .timeout = 900);

/* ---- the guest goes on in the new process ---- */

Test(update, while_dirty_runs_the_guest_goes_on_in_a_new_process)
{
	/* 30 s: an update's checks alone took 8 s on a loaded CI host under TCG */
	start_vm("size=256M,backend=memfd", DIRTY_FOR(30, 4500));
	char *before = slurp(ut.f.console);

	json_t *a = expect_updated(update_with_curl("{}"), "running");
	cr_expect(strstr(str(a, "bind"), "ram=mapped"), "a memfd is bound mapped: %s", json_dumps(a, 0));
	json_decref(a);
	expect_guest_passes();
	/* the same console file, not truncated: what came before is still at its start */
	char *after = slurp(ut.f.console);
	cr_expect(!strncmp(after, before, strlen(before)), "the console lost what it held before the update:\n%s", after);
	cr_expect_gt(count_substr(after, "dirty: round"), count_substr(before, "dirty: round"),
		     "no round after the update:\n%s", after);
	free(before);
	free(after);
	/* the old process wrote its last events, the new one its own, into the same file */
	cr_expect_eq(count_events("shutdown", "kind", "updated"), 1);
	cr_expect_geq(count_events("resumed", NULL, NULL), 1, "the new process never said it resumed the guest");
}

Test(update, twice_in_a_row_then_the_client)
{
	char bin[PATH_MAX], body[PATH_MAX + 32];
	struct run_result r;

	cr_assert(realpath(gmvm_bin(), bin), "%s: %s", gmvm_bin(), strerror(errno));
	start_vm("size=256M,backend=memfd", DIRTY_LONG);
	snprintf(body, sizeof(body), "{\"binary\":\"%s\"}", bin);
	json_t *a = expect_updated(update(body), "running");
	cr_expect_str_eq(str(a, "binary"), bin);
	double first = num(a, "updates");
	json_decref(a);
	expect_more_rounds();

	/* the second one through the client: one line with the new pid and the pause */
	pid_t old = ut.pid;
	run_gmvm(&r, 300, "update", "--api-sock", ut.f.sock, NULL);
	if (r.status != 0)
		dump_all();
	expect_run(&r, 0, "updated: gmvm pid ");
	int pid = 0;
	double paused = -1;
	const char *p = strstr(r.out, "paused ");
	cr_expect(sscanf(r.out, "updated: gmvm pid %d", &pid) == 1 && pid > 0 && pid != old, "%s", r.out);
	cr_expect(p && sscanf(p, "paused %lf ms", &paused) == 1 && paused > 0, "no pause on the client's line: %s", r.out);
	cr_expect_eq(count_substr(r.out, "\n"), 1, "one line: %s", r.out);
	run_result_free(&r);
	cr_expect_eq(wait_gone(old, 60), 0, "the first new process's exit status after the second update");
	track(pid);

	json_t *inf = info();
	json_t *lu = json_object_get(inf, "live_update");
	cr_expect_str_eq(str(lu, "phase"), "completed");
	cr_expect_eq(num(lu, "updates"), 2, "vm.info counts both updates: %s", json_dumps(lu, 0));
	cr_expect_eq(num(lu, "updates"), first + 1, "%s", json_dumps(lu, 0));
	cr_expect_eq((pid_t)num(lu, "pid"), pid, "vm.info's pid is the client's: %s", json_dumps(lu, 0));
	cr_expect_float_eq(num(lu, "pause_ms"), paused, 0.051, "the client's pause is vm.info's");
	json_decref(inf);
	cr_expect_eq(count_events("shutdown", "kind", "updated"), 2);
	expect_guest_checks_then_shutdown();
}

/* ---- every backend ---- */

Test(update, memfd_on_2m_hugepages_keeps_its_pages)
{
	char why[256];

	require_kvm();
	if (!hugetlb_2m(64, why, sizeof(why)))
		cr_skip_test("%s", why);
	start_vm("size=128M,backend=memfd,hugepages=2M", DIRTY_LONG);
	long free_before = read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
	json_decref(expect_updated(update("{}"), "running"));
	/* not one hugepage taken for a copy */
	cr_expect_eq(read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"), free_before,
		     "the update took hugepages");
	json_t *inf = info();
	cr_expect_eq(num(region_of(inf, "ram"), "page_size"), 2 << 20, "%s", json_dumps(region_of(inf, "ram"), 0));
	cr_expect_str_eq(str(region_of(inf, "ram"), "backend"), "memfd");
	json_decref(inf);
	expect_guest_checks_then_shutdown();
}

Test(update, guest_memfd_is_bound_mapped_or_linked)
{
	require_guest_memfd();
	start_vm("size=128M,backend=guest-memfd", DIRTY_LONG);
	json_t *a = expect_updated(update("{}"), "running");
	const char *bind = str(a, "bind");
	cr_expect(strstr(bind, "ram=mapped") || strstr(bind, "ram=gmem"), "bind: %s", bind);
	json_t *inf = info();
	cr_expect_str_eq(str(region_of(inf, "ram"), "backend"), "guest-memfd");
	cr_expect(strstr(bind, str(region_of(inf, "ram"), "binding")), "vm.info's binding %s, the answer's %s",
		  str(region_of(inf, "ram"), "binding"), bind);
	json_decref(inf);
	json_decref(a);
	expect_guest_checks_then_shutdown();
}

Test(update, anon_is_refused_with_the_rehome_line_then_works_after_a_rehome)
{
	struct run_result r;

	/* a refusal, a re-home and an update: the guest runs until told to stop */
	start_vm("size=128M,backend=anon", DIRTY_LONG);
	struct answer a = update("{}");
	cr_expect(strstr(str(a.body, "error"), "backend=anon"), "%s", json_dumps(a.body, 0));
	cr_expect(strstr(str(a.body, "error"), "gmvm rehome"), "no remedy: %s", json_dumps(a.body, 0));
	expect_not_updated(a, 400, "has no fd to hand to another process", NULL);
	cr_expect_eq(count_events("update", "phase", "handover"), 0, "a refused update paused the guest");
	expect_more_rounds();

	run_gmvm(&r, 300, "rehome", "--api-sock", ut.f.sock, "ram", "backend=memfd", NULL);
	if (r.status != 0)
		dump_all();
	expect_run(&r, 0, "rehome: region ram now memfd");
	run_result_free(&r);
	json_decref(expect_updated(update("{}"), "running"));
	json_t *inf = info();
	cr_expect_str_eq(str(region_of(inf, "ram"), "backend"), "memfd");
	json_decref(inf);
	expect_guest_checks_then_shutdown();
}

/* ---- the API and the console through the update ---- */

/* Clients asking vm.info one after another for as long as the update runs. */
struct asker {
	pthread_t t;
	atomic_bool stop, update_answered;
	unsigned asked, ok, from_new, from_new_during;
	char failure[256];
};

static void *ask_info(void *arg)
{
	struct asker *k = arg;
	while (!atomic_load(&k->stop)) {
		bool during = !atomic_load(&k->update_answered);
		int st;
		json_t *j = http("GET", "vm.info", NULL, &st);

		k->asked++;
		if (st != 200 || !j) {
			if (!k->failure[0])
				snprintf(k->failure, sizeof(k->failure), "request %u: %s (%d: %s)", k->asked,
					 st < 0 ? strerror(-st) : st == 0 ? "no answer" : !j ? "an answer that is not JSON" : "not 200",
					 st, j ? str(j, "error") : "");
		} else {
			k->ok++;
			if (!strcmp(str(json_object_get(j, "live_update"), "phase"), "completed")) {
				k->from_new++;
				k->from_new_during += during;
			}
		}
		json_decref(j);
	}
	return NULL;
}

Test(update, the_api_and_the_console_go_on_through_the_update)
{
	struct asker k = { 0 };

	start_vm("size=256M,backend=memfd", DIRTY_LONG);
	char *before = slurp(ut.f.console);
	pthread_create(&k.t, NULL, ask_info, &k);
	sleep_ms(200);
	struct answer a = update("{}");
	atomic_store(&k.update_answered, true);
	json_decref(expect_updated(a, "running"));
	/* a few answers from the new one, then stop */
	for (int i = 0; i < 500 && k.from_new < 3; i++)
		sleep_ms(20);
	atomic_store(&k.stop, true);
	pthread_join(k.t, NULL);
	cr_log_info("vm.info asked %u times through the update: %u answered, %u by the new process (%u of them before "
		    "the update's own answer came)",
		    k.asked, k.ok, k.from_new, k.from_new_during);
	cr_expect_eq(k.ok, k.asked, "a client went unanswered on the socket path: %s", k.failure);
	cr_expect_geq(k.from_new, 1, "no answer came from the new process");

	expect_more_rounds();
	char *after = slurp(ut.f.console);
	cr_expect(!strncmp(after, before, strlen(before)), "the console lost what it held before the update:\n%s", after);
	cr_expect_gt(strlen(after), strlen(before), "the console file did not grow");
	free(before);
	free(after);
	expect_guest_checks_then_shutdown();
}

/* ---- the new process killed at each step: the old one runs the guest on ---- */

Test(update, a_new_process_killed_at_each_step_leaves_the_guest_running, .timeout = 1200)
{
	static const char *const phases[] = { "hello", "check", "handover", "state", "load", "ready" };
	pid_t old;

	/* six failed updates and one that works; the guest runs until told to stop (each try may take 10 s under TCG) */
	start_vm("size=256M,backend=memfd", DIRTY_LONG);
	old = ut.pid;
	for (unsigned i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		char body[96];
		/* a death before CAN paused nothing: refused; after the pause: aborted, the guest resumed */
		bool paused = i >= 2;

		snprintf(body, sizeof(body), "{\"args\":[\"--test-update-die=%s\"]}", phases[i]);
		struct answer a = update(body);
		const char *msg = str(a.body, "error");
		cr_expect(strstr(msg, "killed") || strstr(msg, "died") || strstr(msg, "signal"),
			  "killed at %s: the line does not say the new process died: %s", phases[i], msg);
		cr_expect_eq(a.http, 500, "killed at %s: %s", phases[i], json_dumps(a.body, 0));
		expect_not_updated(a, 0, "", paused ? "aborted" : "refused");
		cr_expect_eq(ut.pid, old);
		cr_expect_eq(count_events("update", "phase", paused ? "aborted" : "refused"), paused ? i - 1 : i + 1,
			     "update events of phase %s after the death at %s", paused ? "aborted" : "refused", phases[i]);
		cr_expect_eq(count_events("shutdown", "kind", "updated"), 0, "the old one said it was updated");
		expect_more_rounds();
	}
	json_decref(expect_updated(update("{}"), "running"));
	expect_guest_checks_then_shutdown();
}

/* ---- no copy ---- */

/* A memfd of the process, as the kernel sees it. */
struct memobj {
	dev_t dev;
	ino_t ino;
	off_t size;
	blkcnt_t blocks;
};

/* The memfds of pid of at least min bytes (guest memory, not the small ones), up to max. */
static unsigned memfds_of(pid_t pid, off_t min, struct memobj *out, unsigned max)
{
	char dir[64], path[320], link[256];
	unsigned n = 0;
	struct dirent *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	DIR *dp = opendir(dir);
	cr_assert(dp, "%s: %s", dir, strerror(errno));
	while ((d = readdir(dp)) && n < max) {
		struct stat st;
		ssize_t len;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len < 0 || stat(path, &st) != 0)
			continue;
		link[len] = '\0';
		if (strncmp(link, "/memfd:", 7) || !S_ISREG(st.st_mode) || st.st_size < min)
			continue;
		/* one fd per object */
		bool dup = false;
		for (unsigned i = 0; i < n; i++)
			dup |= out[i].dev == st.st_dev && out[i].ino == st.st_ino;
		if (!dup)
			out[n++] = (struct memobj){ st.st_dev, st.st_ino, st.st_size, st.st_blocks };
	}
	closedir(dp);
	return n;
}

/*
 * Update a guest of the memory (and regions) given whose `dirty` touches
 * 64M: the new process holds the same memfds (same inodes), with the same
 * blocks allocated give or take what the running guest touched meanwhile,
 * and no other big one.  Returns the pause.
 */
static double update_without_copy(const char *what, unsigned nregions, const char *memory, const char *const *extra)
{
	struct memobj before[8], after[8];

	start_vm_argv(memory, "dirty.mb=64 dirty.seconds=900 dirty.rounds=100000 dirty.beat=50000", extra);
	unsigned nb = memfds_of(ut.pid, 128 << 20, before, 8);
	cr_assert_eq(nb, nregions, "%s: %u memfds of guest memory in the old process", what, nb);
	json_t *a = expect_updated(update("{}"), "running");
	double pause = num(a, "pause_ms");
	json_decref(a);
	unsigned na = memfds_of(ut.pid, 128 << 20, after, 8);
	cr_expect_eq(na, nb, "%s: the new process holds %u memfds of guest memory, the old one held %u", what, na, nb);
	for (unsigned i = 0; i < nb; i++) {
		bool same = false;
		for (unsigned j = 0; j < na; j++) {
			if (after[j].dev != before[i].dev || after[j].ino != before[i].ino)
				continue;
			same = true;
			/* the guest runs on meanwhile and may touch a page or two it never had
			 * (its stack, a first beat); a copy would double what it holds */
			cr_expect(after[j].blocks >= before[i].blocks && after[j].blocks <= before[i].blocks + before[i].blocks / 8,
				  "%s: memfd inode %ju of %jd bytes had %jd blocks, now %jd", what,
				  (uintmax_t)before[i].ino, (intmax_t)before[i].size, (intmax_t)before[i].blocks,
				  (intmax_t)after[j].blocks);
		}
		cr_expect(same, "%s: the new process does not hold memfd inode %ju of %jd bytes", what,
			  (uintmax_t)before[i].ino, (intmax_t)before[i].size);
		cr_log_info("%s: memfd inode %ju, %jd MiB, %jd MiB allocated", what, (uintmax_t)before[i].ino,
			    (intmax_t)(before[i].size >> 20), (intmax_t)(before[i].blocks * 512 >> 20));
	}
	expect_guest_checks_then_shutdown();
	return pause;
}

Test(update, no_memory_is_copied_at_1G_or_16G)
{
	/* 16G as RAM of 4G and three regions of 4G: sparse, and each fits a host of 4G+ */
	require_host_ram(4ull << 30);
	static const char *const regions[] = { "--region", "name=r1,size=4G,backend=memfd", "--region",
					       "name=r2,size=4G,backend=memfd", "--region", "name=r3,size=4G,backend=memfd",
					       NULL };
	double p1 = update_without_copy("1G", 1, "size=1G,backend=memfd", NULL);
	/* the next VM in the same directory: new socket, console and events */
	unlink(ut.f.sock);
	unlink(ut.f.console);
	unlink(ut.f.events);
	double p16 = update_without_copy("16G", 4, "size=4G,backend=memfd", regions);
	/* timing is the bench's (case 10); here only shown */
	cr_log_info("pause with 64M touched: 1G guest %.3f ms, 16G guest %.3f ms (ratio %.2f)", p1, p16, p16 / p1);
}

/* ---- refusals and a paused guest ---- */

Test(update, a_stream_version_from_the_future_is_refused_and_the_guest_goes_on)
{
	/* test only: the old process announces stream version 99 */
	setenv("GMVM_TEST_STREAM_VERSION", "99", 1);
	start_vm("size=128M,backend=memfd", DIRTY_LONG);
	unsetenv("GMVM_TEST_STREAM_VERSION");
	expect_not_updated(update("{}"), 400, "stream version 99", "refused");
	cr_expect_eq(count_events("update", "phase", "refused"), 1, "no update event phase refused");
	cr_expect_eq(count_events("update", "phase", "handover"), 0, "a refused update paused the guest");
	json_t *inf = info();
	cr_expect(strstr(str(json_object_get(inf, "live_update"), "error"), "stream version 99"), "%s",
		  json_dumps(json_object_get(inf, "live_update"), 0));
	json_decref(inf);
	expect_guest_checks_then_shutdown();
}

Test(update, a_paused_guest_stays_paused_in_the_new_process)
{
	start_vm("size=128M,backend=memfd", DIRTY_LONG);
	struct answer p = put("vm.pause", NULL);
	cr_assert_eq(p.http, 200, "%s", json_dumps(p.body, 0));
	json_decref(p.body);
	json_decref(expect_updated(update("{}"), "paused"));
	/* paused: no line comes */
	size_t lines = console_lines();
	sleep_ms(2000);
	cr_expect_eq(console_lines(), lines, "the guest ran after the update of a paused guest");
	struct answer r = put("vm.resume", NULL);
	cr_expect_eq(r.http, 200, "%s", json_dumps(r.body, 0));
	json_decref(r.body);
	json_t *inf = info();
	cr_expect_str_eq(str(inf, "state"), "running");
	json_decref(inf);
	expect_guest_checks_then_shutdown();
}
