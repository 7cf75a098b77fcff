/*
 * The guest-first guarantees, shown on the real kernel: for each backend
 * (anon, memfd 4K, memfd on 2M hugetlb, guest-memfd; anon and memfd also
 * pinned with movable=off), which of the host's memory-management features
 * can act on guest memory: KSM, swap/reclaim, THP, compaction, NUMA
 * balancing.  Each test boots the `fill` guest (identical pages, then idle),
 * lets the kernel's own machinery run with settings that make it act fast
 * (all restored after), and reads the answer from /proc/PID/smaps,
 * /proc/PID/pagemap and the cgroup's memory.stat.  The guest then checks
 * every byte it wrote: whatever the host did, the guest sees its data.
 * docs/memory.md ("Guest-first guarantees") has the table these prove.
 * Most cells need root (KSM, swap, THP and compaction settings); without it,
 * or without what a cell needs, the test skips and says why.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "harness.h"
#include "mm_host.h"
#include "procs.h"
#include "test_vm.h"

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif

#define MEM_MB  128
#define FILL_MB 48
#define KSM     "/sys/kernel/mm/ksm/"
#define THP     "/sys/kernel/mm/transparent_hugepage/"
#define HUGE2M  "/sys/kernel/mm/hugepages/hugepages-2048kB/"

/* One row of the table: a backend as a user asks for it. */
struct row {
	const char *spec;          /* after "128M," */
	enum mm_kind kind;
	bool pinned, hugetlb, gmem;
};

static const struct row ANON = { "backend=anon", MM_ANON, false, false, false };
static const struct row ANON_PINNED = { "backend=anon,movable=off", MM_ANON, true, false, false };
static const struct row MEMFD = { "backend=memfd", MM_MEMFD, false, false, false };
static const struct row MEMFD_PINNED = { "backend=memfd,movable=off", MM_MEMFD, true, false, false };
static const struct row MEMFD_2M = { "backend=memfd,hugepages=2M", MM_MEMFD, false, true, false };
static const struct row GMEM = { "backend=guest-memfd", MM_GMEM, false, false, true };

enum { MERGE = 1, CGROUP = 2 };

static struct {
	char dir[64], out[128], err[128];
	pid_t pid;
	int tell;                  /* gmvm's stdin: a byte ends the guest's wait */
	uint64_t gpa, len;         /* the filled region */
	const char *cgroup;
} gt = { .tell = -1 };

static void teardown(void);

static void setup(void)
{
	strcpy(gt.dir, "/tmp/gmvm-gua-XXXXXX");
	cr_assert(mkdtemp(gt.dir));
	snprintf(gt.out, sizeof(gt.out), "%s/out", gt.dir);
	snprintf(gt.err, sizeof(gt.err), "%s/err", gt.dir);
	char run[96];
	snprintf(run, sizeof(run), "%s/run", gt.dir);
	setenv("GMVM_RUN_DIR", run, 1);
	signal(SIGPIPE, SIG_IGN);
	mm_on_skip(teardown);
}

static void teardown(void)
{
	/* gmvm first: it holds the pool pages, the swap slots and the cgroup */
	kill_reap(&gt.pid);
	if (gt.tell >= 0)
		close(gt.tell);
	gt.tell = -1;
	mm_cgroup_remove();
	mm_swap_cleanup();
	mm_knobs_restore();
	if (gt.dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", gt.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", gt.dir);
		gt.dir[0] = 0;
	}
}

TestSuite(guarantees, .init = setup, .fini = teardown, .timeout = 900);

static void dump(void)
{
	char *o = slurp(gt.out), *e = slurp(gt.err);

	fprintf(stderr, "---- gmvm stdout\n%s\n---- gmvm stderr\n%s\n", o, e);
	free(o);
	free(e);
}

/* Kernel release at least major.minor. */
static bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int a = 0, b = 0;

	return uname(&u) == 0 && sscanf(u.release, "%d.%d", &a, &b) == 2 && (a > major || (a == major && b >= minor));
}

/* What the row needs from this kernel, else skip: first thing in a test, before anything is changed. */
static void require_row(const struct row *r)
{
	require_kvm();
	if (r->gmem)
		require_guest_memfd();
}

/* A 2M hugetlb pool with room for the guest: the host's, or grown for the test. */
static void reserve_pool(const struct row *r)
{
	if (r->hugetlb) {
		long long nr = mm_read_num(HUGE2M "nr_hugepages"), fr = mm_read_num(HUGE2M "free_hugepages");
		long long need = MEM_MB / 2;
		char v[32];

		if (nr < 0)
			mm_skip("this kernel has no 2M hugetlb pages");
		if (fr < need) {
			snprintf(v, sizeof(v), "%lld", nr + need - fr);
			mm_knob_set(HUGE2M "nr_hugepages", v, "reserving 2M hugetlb pages");
			fr = mm_read_num(HUGE2M "free_hugepages");
			if (fr < need)
				mm_skip("the kernel gave %lld free 2M hugetlb pages of the %lld asked (fragmented memory)",
					     fr, need);
		}
	}
}

/* Boot the fill guest on r's memory (flags: MERGE, CGROUP) and wait until it has filled. */
static void start_fill(const struct row *r, int flags, const char *cmdline)
{
	char mem[96], cl[128];
	int p[2];
	char *elf = guest_path("fill");

	snprintf(mem, sizeof(mem), "%dM,%s", MEM_MB, r->spec);
	snprintf(cl, sizeof(cl), "fill.mb=%d fill.seconds=1200%s%s", FILL_MB, cmdline ? " " : "", cmdline ? cmdline : "");
	const char *argv[] = { gmvm_bin(), "run", "--memory", mem, "--cmdline", cl, elf, NULL };
	if (flags & CGROUP)
		gt.cgroup = mm_cgroup_make();
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	gt.pid = fork();
	cr_assert(gt.pid >= 0);
	if (gt.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		/* inherited by gmvm across fork and, from Linux 6.7, across exec */
		if ((flags & MERGE) && prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) != 0)
			_exit(125);
		if (flags & CGROUP) {
			char procs[256];
			snprintf(procs, sizeof(procs), "%s/cgroup.procs", gt.cgroup);
			int fd = open(procs, O_WRONLY);
			if (fd < 0 || write(fd, "0", 1) != 1)
				_exit(124);
			close(fd);
		}
		int o = open(gt.out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(gt.err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		dup2(p[0], 0);
		dup2(o, 1);
		dup2(e, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(p[0]);
	gt.tell = p[1];
	free(elf);
	for (int i = 0; i < 3000; i++) {
		int st = wait_exit(gt.pid, 0.1);
		if (st >= 0) {
			gt.pid = 0;
			dump();
			cr_assert_fail("gmvm ended (status %d) before the guest filled its pages (--memory %s)", st, mem);
		}
		char *o = slurp(gt.out);
		char *at = strstr(o, "fill: ready ");
		unsigned long long gpa, len;
		/* the whole line: the guest may be halfway through writing it */
		bool ready = at && strchr(at, '\n') && sscanf(at, "fill: ready gpa=%llx len=%llx", &gpa, &len) == 2;
		free(o);
		if (ready) {
			gt.gpa = gpa;
			gt.len = len;
			cr_log_info("--memory %s: the guest filled %llu MiB at 0x%llx", mem, len >> 20, gpa);
			return;
		}
	}
	dump();
	cr_assert_fail("no 'fill: ready' from the guest in 300 s");
}

/* Tell the guest to check its pages; it must find every byte as written and exit 0. */
static void finish_fill(void)
{
	cr_assert_eq(write(gt.tell, "x", 1), 1, "cannot write to gmvm's stdin: %s", strerror(errno));
	int st = wait_exit(gt.pid, 300);
	if (st != 0 || !wait_file_has(gt.out, "fill: ok", 1))
		dump();
	cr_assert_eq(st, 0, "the guest's check of its pages failed (gmvm status %d)", st);
	gt.pid = 0;
}

static void vma(const struct row *r, struct mm_vma *v)
{
	cr_assert(mm_guest_vma(gt.pid, r->kind, (uint64_t)MEM_MB << 20, v), "no guest-RAM mapping in /proc/%d/smaps",
		  (int)gt.pid);
}

static const uint64_t fill_kb = (uint64_t)FILL_MB << 10;

/* ---------------- KSM ---------------- */

static void ksm_on(void)
{
	mm_need_root("KSM's settings");
	if (access(KSM "run", F_OK) != 0)
		mm_skip("this kernel has no KSM (/sys/kernel/mm/ksm)");
	if (prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) < 0)
		mm_skip("this kernel has no PR_SET_MEMORY_MERGE (Linux 6.4): a process cannot opt in to KSM");
	if (!kernel_at_least(6, 7))
		mm_skip("PR_SET_MEMORY_MERGE is kept across exec from Linux 6.7 only: gmvm cannot be opted in from outside");
	/* smart_scan (6.7) skips pages that did not merge recently: off, to scan every page every time */
	if (access(KSM "smart_scan", F_OK) == 0)
		mm_knob_set(KSM "smart_scan", "0", "KSM scanning every page");
	mm_knob_set(KSM "pages_to_scan", "4000", "KSM scanning fast");
	mm_knob_set(KSM "sleep_millisecs", "20", "KSM scanning fast");
	mm_knob_set(KSM "run", "1", "running ksmd");
}

/* Wait until ksmd has made two more full scans (a page merges on its second look). */
static void ksm_two_scans(void)
{
	long long s0 = mm_read_num(KSM "full_scans");

	for (int i = 0; i < 3000 && mm_read_num(KSM "full_scans") < s0 + 3; i++)
		sleep_ms(100);
	cr_assert_geq(mm_read_num(KSM "full_scans"), s0 + 3, "ksmd made fewer than 3 full scans in 300 s");
}

static void ksm_cell(const struct row *r, bool merges)
{
	struct mm_vma v;

	require_row(r);
	ksm_on();
	reserve_pool(r);
	start_fill(r, MERGE, NULL);
	/* the opt-in reached gmvm: its other anonymous mappings are mergeable */
	cr_assert(mm_any_flag(gt.pid, "mg"), "no mapping of gmvm is mergeable: PR_SET_MEMORY_MERGE did not survive exec");
	if (merges) {
		for (int i = 0; i < 3000; i++) {
			vma(r, &v);
			if (!v.has_ksm || v.ksm >= fill_kb / 2)
				break;
			sleep_ms(100);
		}
		if (!v.has_ksm)
			mm_skip("this kernel's smaps has no KSM: field: cannot count merged guest pages");
		cr_log_info("KSM: %" PRIu64 " of %" PRIu64 " kB of guest RAM merged", v.ksm, fill_kb);
		cr_expect(mm_has_flag(&v, "mg"), "guest RAM is not VM_MERGEABLE (VmFlags:%s)", v.flags);
		cr_assert_geq(v.ksm, fill_kb / 2, "ksmd merged only %" PRIu64 " kB of %" PRIu64 " kB of identical guest pages",
			      v.ksm, fill_kb);
	} else {
		ksm_two_scans();
		vma(r, &v);
		cr_log_info("KSM: %" PRIu64 " kB merged after 3 full scans (VmFlags:%s)", v.ksm, v.flags);
		cr_expect(!mm_has_flag(&v, "mg"), "guest RAM is VM_MERGEABLE (VmFlags:%s)", v.flags);
		cr_assert_eq(v.ksm, 0, "ksmd merged %" PRIu64 " kB of guest RAM", v.ksm);
	}
	finish_fill();
}

Test(guarantees, ksm_anon) { ksm_cell(&ANON, true); }
Test(guarantees, ksm_anon_pinned) { ksm_cell(&ANON_PINNED, false); }
Test(guarantees, ksm_memfd) { ksm_cell(&MEMFD, false); }
Test(guarantees, ksm_memfd_pinned) { ksm_cell(&MEMFD_PINNED, false); }
Test(guarantees, ksm_memfd_hugetlb) { ksm_cell(&MEMFD_2M, false); }
Test(guarantees, ksm_guest_memfd) { ksm_cell(&GMEM, false); }

/* ---------------- swap and reclaim ---------------- */

static void swap_cell(const struct row *r, bool swaps)
{
	struct mm_vma v;
	long long unevictable;

	require_row(r);
	mm_need_root("swap and a cgroup");
	reserve_pool(r);
	mm_swap_ensure((uint64_t)MEM_MB << 20);
	start_fill(r, CGROUP, NULL);
	/* the kernel's own reclaim, asked of gmvm's cgroup alone; a few rounds: it takes the cold pages first */
	for (int i = 0; i < 8; i++) {
		int e = mm_cgroup_reclaim((uint64_t)MEM_MB << 20);
		cr_assert(e == 0 || e == -EAGAIN, "memory.reclaim: %s", strerror(-e));
		vma(r, &v);
		if (swaps && v.swap >= fill_kb / 2)
			break;
	}
	unevictable = mm_cgroup_stat("unevictable");
	cr_log_info("after reclaim: Swap %" PRIu64 " kB, Rss %" PRIu64 " kB, Locked %" PRIu64 " kB, hugetlb %" PRIu64
		    " kB of the guest mapping; cgroup unevictable %lld kB",
		    v.swap, v.rss, v.locked, v.hugetlb, unevictable / 1024);
	if (swaps) {
		cr_assert_geq(v.swap, fill_kb / 2, "reclaim swapped out only %" PRIu64 " kB of %" PRIu64 " kB of guest RAM",
			      v.swap, fill_kb);
	} else {
		cr_assert_eq(v.swap, 0, "%" PRIu64 " kB of guest RAM went to swap", v.swap);
		if (r->pinned)
			cr_assert_geq(v.locked, fill_kb, "only %" PRIu64 " kB of guest RAM is locked", v.locked);
		if (r->hugetlb)
			cr_assert_geq(v.hugetlb, fill_kb, "only %" PRIu64 " kB of hugetlb guest RAM is left", v.hugetlb);
		/* guest_memfd's pages live in no mapping the guest faults through: the memcg counts them */
		if (r->gmem)
			cr_assert_geq(unevictable, (long long)fill_kb * 1024, "only %lld bytes unevictable in gmvm's cgroup",
				      unevictable);
	}
	finish_fill();
}

Test(guarantees, swap_anon) { swap_cell(&ANON, true); }
Test(guarantees, swap_anon_pinned) { swap_cell(&ANON_PINNED, false); }
Test(guarantees, swap_memfd) { swap_cell(&MEMFD, true); }
Test(guarantees, swap_memfd_pinned) { swap_cell(&MEMFD_PINNED, false); }
Test(guarantees, swap_memfd_hugetlb) { swap_cell(&MEMFD_2M, false); }
Test(guarantees, swap_guest_memfd) { swap_cell(&GMEM, false); }

/* ---------------- transparent huge pages ---------------- */

static void thp_cell(const struct row *r, bool acts)
{
	struct mm_vma v;
	uint64_t huge = 0;

	require_row(r);
	mm_need_root("THP settings");
	/* the host's most eager policy: huge pages at fault and khugepaged collapsing fast */
	mm_knob_set(THP "enabled", "always", "THP for anonymous memory");
	mm_knob_set(THP "shmem_enabled", "always", "THP for shmem (memfd)");
	mm_knob_set(THP "khugepaged/scan_sleep_millisecs", "100", "khugepaged scanning fast");
	mm_knob_set(THP "khugepaged/pages_to_scan", "8192", "khugepaged scanning fast");
	reserve_pool(r);
	start_fill(r, 0, NULL);
	for (int i = 0; i < (acts ? 600 : 50); i++) {
		vma(r, &v);
		huge = v.anon_huge + v.shmem_pmd + v.file_pmd;
		if (acts && huge >= fill_kb / 2)
			break;
		sleep_ms(100);
	}
	cr_log_info("THPeligible %d, AnonHugePages %" PRIu64 " kB, ShmemPmdMapped %" PRIu64 " kB, KernelPageSize %ld kB, VmFlags:%s",
		    v.thp_eligible, v.anon_huge, v.shmem_pmd, v.page_kb, v.flags);
	if (acts) {
		cr_expect_eq(v.thp_eligible, 1, "guest RAM is not THP-eligible (VmFlags:%s)", v.flags);
		cr_assert_geq(huge, fill_kb / 2, "only %" PRIu64 " kB of guest RAM in transparent huge pages", huge);
	} else {
		cr_expect_neq(v.thp_eligible, 1, "guest RAM is THP-eligible");
		cr_assert_eq(huge, 0, "%" PRIu64 " kB of guest RAM in transparent huge pages", huge);
		if (r->pinned)
			cr_expect(mm_has_flag(&v, "nh"), "no MADV_NOHUGEPAGE on pinned guest RAM (VmFlags:%s)", v.flags);
		if (r->hugetlb)
			cr_expect_eq(v.page_kb, 2048, "hugetlb guest RAM in %ld kB pages", v.page_kb);
	}
	finish_fill();
}

Test(guarantees, thp_anon) { thp_cell(&ANON, true); }
Test(guarantees, thp_anon_pinned) { thp_cell(&ANON_PINNED, false); }
Test(guarantees, thp_memfd) { thp_cell(&MEMFD, true); }
Test(guarantees, thp_memfd_pinned) { thp_cell(&MEMFD_PINNED, false); }
Test(guarantees, thp_memfd_hugetlb) { thp_cell(&MEMFD_2M, false); }
Test(guarantees, thp_guest_memfd) { thp_cell(&GMEM, false); }

/* ---------------- compaction ---------------- */

enum move { MAY_MOVE, NEVER_MOVES };

static void compaction_cell(const struct row *r, enum move want, bool no_unevictable)
{
	struct mm_vma v;
	size_t n = gt.len / 4096, present = 0, moved = 0;

	require_row(r);
	mm_need_root("compaction and page frame numbers");
	if (access("/proc/sys/vm/compact_memory", F_OK) != 0)
		mm_skip("this kernel has no compaction (CONFIG_COMPACTION)");
	/* compaction passes over transparent huge pages: 4K pages, so that a movable page is one it may move */
	if (!r->hugetlb) {
		mm_knob_set(THP "enabled", "never", "4K anonymous pages");
		mm_knob_set(THP "shmem_enabled", "never", "4K shmem pages");
	}
	if (no_unevictable)
		mm_knob_set("/proc/sys/vm/compact_unevictable_allowed", "0", "compaction leaving locked pages alone");
	reserve_pool(r);
	start_fill(r, 0, NULL);
	n = gt.len / 4096;
	vma(r, &v);
	uint64_t at = v.start + gt.gpa;   /* low RAM: offset in the memory object == guest-physical address */
	cr_assert_leq(at + gt.len, v.end, "the filled region is outside the guest mapping");
	if (r->gmem) {
		/* bound gmem, the guest's pages are in no host page table: read them through gmvm's mapping */
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/mem", (int)gt.pid);
		int fd = open(path, O_RDONLY);
		char *buf = malloc(gt.len);
		bool ok = fd >= 0 && buf && pread(fd, buf, gt.len, (off_t)at) == (ssize_t)gt.len;
		free(buf);
		if (fd >= 0)
			close(fd);
		if (!ok)
			mm_skip("cannot read guest_memfd memory through /proc/PID/mem (%s): no PFNs to compare",
				     strerror(errno));
	}
	uint64_t *before = calloc(n, 8), *after = calloc(n, 8);
	cr_assert(before && after);
	mm_pfns(gt.pid, at, n, before);
	/* up to three rounds: a round moves pages only where it builds free blocks */
	for (int round = 0; round < 3 && moved == 0; round++) {
		/* synchronous: every zone compacted when the write returns */
		int fd = open("/proc/sys/vm/compact_memory", O_WRONLY | O_CLOEXEC);
		cr_assert(fd >= 0 && write(fd, "1", 1) == 1, "cannot compact memory: %s", strerror(errno));
		close(fd);
		mm_pfns(gt.pid, at, n, after);
		present = 0;
		for (size_t i = 0; i < n; i++) {
			if (!before[i] || !after[i])
				continue;
			present++;
			moved += before[i] != after[i];
		}
	}
	free(before);
	free(after);
	cr_log_info("compaction (up to 3 rounds) moved %zu of %zu present guest pages", moved, present);
	cr_assert_geq(present, n / 2, "only %zu of %zu guest pages are in gmvm's page tables", present, n);
	if (want == NEVER_MOVES)
		cr_assert_eq(moved, 0, "compaction moved %zu guest pages", moved);
	finish_fill();
	if (want == MAY_MOVE && moved == 0)
		mm_skip("compaction moved none of %zu movable guest pages this time: it moves pages only to build free blocks",
			present);
}

Test(guarantees, compaction_anon) { compaction_cell(&ANON, MAY_MOVE, false); }
/* mlock keeps a page resident, not in place: compaction moves locked pages unless told not to */
Test(guarantees, compaction_anon_pinned) { compaction_cell(&ANON_PINNED, MAY_MOVE, false); }
Test(guarantees, compaction_anon_pinned_unevictable_off) { compaction_cell(&ANON_PINNED, NEVER_MOVES, true); }
Test(guarantees, compaction_memfd) { compaction_cell(&MEMFD, MAY_MOVE, false); }
Test(guarantees, compaction_memfd_pinned) { compaction_cell(&MEMFD_PINNED, MAY_MOVE, false); }
Test(guarantees, compaction_memfd_pinned_unevictable_off) { compaction_cell(&MEMFD_PINNED, NEVER_MOVES, true); }
Test(guarantees, compaction_memfd_hugetlb) { compaction_cell(&MEMFD_2M, NEVER_MOVES, false); }
Test(guarantees, compaction_guest_memfd) { compaction_cell(&GMEM, NEVER_MOVES, false); }

/* ---------------- NUMA balancing ---------------- */

/*
 * What one node can show: the memory policy of the guest mapping.  The
 * kernel's NUMA scanner (task_numa_work) passes by every mapping whose
 * policy lacks MPOL_F_MOF (vma_policy_mof): an explicit policy without
 * MPOL_F_NUMA_BALANCING ("=balancing" in numa_maps), and shmem without a
 * shared policy asking for it; and it passes by hugetlb.  Anonymous memory
 * under the default policy is what it scans.
 */
static void numa_policy_cell(const struct row *r, bool scanned)
{
	struct mm_vma v;
	char pol[128];

	require_row(r);
	start_fill(r, 0, NULL);
	vma(r, &v);
	cr_assert(mm_numa_policy(gt.pid, v.start, pol, sizeof(pol)), "no numa_maps line for the guest mapping (CONFIG_NUMA?)");
	cr_log_info("numa_maps policy of guest RAM: %s", pol);
	if (scanned) {
		cr_assert_str_eq(pol, "default", "anonymous guest RAM has policy %s", pol);
	} else {
		cr_assert(strcmp(pol, "default") != 0 || r->kind != MM_ANON, "anonymous guest RAM has the default policy");
		cr_assert_null(strstr(pol, "balancing"), "guest RAM asks for NUMA balancing: %s", pol);
	}
	finish_fill();
}

Test(guarantees, numa_policy_anon) { numa_policy_cell(&ANON, true); }
Test(guarantees, numa_policy_anon_pinned) { numa_policy_cell(&ANON_PINNED, false); }
Test(guarantees, numa_policy_memfd) { numa_policy_cell(&MEMFD, false); }
Test(guarantees, numa_policy_memfd_pinned) { numa_policy_cell(&MEMFD_PINNED, false); }

Test(guarantees, numa_balancing)
{
	unsigned nodes = mm_numa_nodes();

	if (nodes < 2)
		cr_skip_test("one NUMA node: NUMA balancing has no other node to move guest pages to (docs/memory.md says what applies)");
	cr_skip_test("%u NUMA nodes: NUMA balancing is not exercised by this suite; docs/memory.md gives the kernel's rules",
		     nodes);
}

/* One test at a time: they share ksmd, khugepaged, the swap device and the sysfs settings. */
int main(int argc, char *argv[])
{
	struct criterion_test_set *tests = criterion_initialize();
	int result = 0;

	criterion_options.jobs = 1;
	if (criterion_handle_args(argc, argv, true))
		result = !criterion_run_all_tests(tests);
	criterion_finalize(tests);
	return result;
}
