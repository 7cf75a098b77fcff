/*
 * tests/integration/mm_host: the host's memory management as a test sees and
 * steers it: sysfs/procfs knobs (set, and put back after), a process's
 * mappings as /proc/PID/smaps sums them, page frame numbers from
 * /proc/PID/pagemap, a swap device made for the test (zram), and a cgroup v2
 * of the test's own whose memory the kernel is asked to reclaim.  What cannot
 * be had here ends the test with cr_skip_test and the reason.
 */
#ifndef GM_TEST_MM_HOST_H
#define GM_TEST_MM_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <criterion/criterion.h>

/*
 * Criterion runs no .fini after cr_skip_test: mm_skip runs the cleanup the
 * test registered (its .fini, which must bear running twice) and then skips.
 * Every skip once something was changed must be an mm_skip.
 */
void mm_on_skip(void (*cleanup)(void));
void mm_skip_cleanup(void);
#define mm_skip(...) do { mm_skip_cleanup(); cr_skip_test(__VA_ARGS__); } while (0)

/* Skip unless the test runs as root; what names what needs it. */
void mm_need_root(const char *what);

/* The first line of path into buf (trailing newline cut); false when it cannot be read. */
bool mm_read_line(const char *path, char *buf, size_t len);
/* The number at the start of path, or -1 when it cannot be read. */
long long mm_read_num(const char *path);
/* The bracketed choice of a sysfs selector ("always [madvise] never"), or "" */
const char *mm_selected(const char *path, char *buf, size_t len);

/*
 * Write value to the knob at path, keeping what it held; mm_knobs_restore()
 * writes every kept value back, newest first.  A knob that is absent skips
 * the test (why says what it is for); one that refuses the value fails it.
 */
void mm_knob_set(const char *path, const char *value, const char *why);
void mm_knobs_restore(void);

/* Which of a process's mappings is guest RAM. */
enum mm_kind {
	MM_ANON,   /* private anonymous: the one of exactly the guest's size */
	MM_MEMFD,  /* /memfd:gmvm-ram (4K shmem or hugetlb) */
	MM_GMEM,   /* anon_inode:[kvm-gmem] */
};

/* smaps of the guest-RAM mappings, in kB, summed over them. */
struct mm_vma {
	unsigned n;                 /* mappings found */
	uint64_t start, end;        /* the first */
	uint64_t rss, swap, ksm, anon_huge, shmem_pmd, file_pmd, hugetlb, locked;
	long page_kb;               /* KernelPageSize of the first */
	int thp_eligible;           /* -1: no such field */
	bool has_ksm;               /* the kernel has smaps' KSM: field */
	char flags[192];            /* VmFlags of the first */
};

/* Fill v for pid's guest RAM of size bytes; false when no mapping matched. */
bool mm_guest_vma(pid_t pid, enum mm_kind kind, uint64_t size, struct mm_vma *v);
/* True when the two-letter VmFlags code is set (" mg", " nh", " lo" ...). */
bool mm_has_flag(const struct mm_vma *v, const char *code);
/* True when any mapping of pid has the VmFlags code. */
bool mm_any_flag(pid_t pid, const char *code);

/* PFNs of pid's n pages from addr (0: not present).  Root only. */
void mm_pfns(pid_t pid, uint64_t addr, size_t n, uint64_t *pfn);

/* Swap with room for at least bytes: the host's, or a zram device made now. */
void mm_swap_ensure(uint64_t bytes);
void mm_swap_cleanup(void);

/*
 * A cgroup v2 child of the root with the memory controller, for one process:
 * its directory (the child writes "0" to DIR/cgroup.procs before exec).
 */
const char *mm_cgroup_make(void);
void mm_cgroup_remove(void);
/* The number of key in the cgroup's memory.stat, or -1. */
long long mm_cgroup_stat(const char *key);
/* Ask the kernel to reclaim bytes from the cgroup: 0, or -errno (EAGAIN: it got less). */
int mm_cgroup_reclaim(uint64_t bytes);

/* The memory policy /proc/PID/numa_maps shows for the mapping at start ("default", "local", "bind:0" ...); false: none. */
bool mm_numa_policy(pid_t pid, uint64_t start, char *buf, size_t len);

/* Online NUMA nodes. */
unsigned mm_numa_nodes(void);

#endif
