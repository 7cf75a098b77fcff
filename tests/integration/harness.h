/*
 * tests/integration/harness: run build/gmvm as a user would and capture what
 * they would see (exit status, stdout, stderr); find the built guests; skip
 * with a reason when the machine lacks KVM.
 */
#ifndef GM_TEST_HARNESS_H
#define GM_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gmvm/caps.h>

struct run_result {
	int status;     /* exit status, or 128 + signal */
	char *out;      /* stdout, NUL-terminated */
	char *err;      /* stderr, NUL-terminated */
};

/*
 * spec with ",backend=$GMVM_TEST_BACKEND" added when that is set and spec
 * names no backend: runs the suites on kernels without a usable guest_memfd
 * (a nested KVM rig).  Thread-local buffers, the last four calls stay valid.
 */
const char *test_memory(const char *spec);

/* Run gmvm with the NULL-terminated arguments (after "gmvm"); kill it after limit seconds. */
void run_gmvm(struct run_result *r, double limit, const char *arg, ...) __attribute__((sentinel));
void run_gmvm_argv(struct run_result *r, double limit, const char *const *argv);
void run_result_free(struct run_result *r);

/*
 * Require KVM, then run `gmvm run ARGS... build/guests/GUEST.elf`, the
 * NULL-terminated ARGS coming after guest.
 */
void run_guest(struct run_result *r, double limit, const char *guest, ...) __attribute__((sentinel));

/* Assert gmvm's exit status and that its stdout holds want; show all output when not. */
void expect_run(const struct run_result *r, int status, const char *want);

/* Path of build/guests/NAME.elf (static buffer per call site is not needed: caller frees). */
char *guest_path(const char *name);

/* cr_skip_test with a one-line reason unless /dev/kvm can be opened. */
void require_kvm(void);

/* Require KVM, then probe it through libgmvm (gm_caps_probe, fast) into caps. */
void test_caps(struct gm_caps *caps);

/*
 * cr_skip_test with a one-line reason unless this kernel's guest_memfd can
 * back guest RAM as gmvm uses it (KVM_CAP_GUEST_MEMFD with the mmap and
 * init-shared flags, and KVM_CAP_USER_MEMORY2): for tests whose point is
 * backend=guest-memfd or bind=gmem, which name that backend in their spec.
 */
void require_guest_memfd(void);

/*
 * cr_skip_test with a one-line reason unless the host has at least bytes of
 * RAM as gmvm counts it (MemTotal): below that, gmvm refuses the size.
 */
void require_host_ram(uint64_t bytes);

/*
 * BASE/name (malloc'd), BASE a directory /tmp/gmvm-TAG-XXXXXX made on the
 * first call, with GMVM_RUN_DIR pointed inside it so the identity locks of
 * the test's VMs stay its own.
 */
char *test_scratch(const char *tag, const char *name);

/* The number in the file (a sysfs or procfs knob), or -1 when it cannot be read. */
long read_long(const char *path);
/* Write v and a newline to the file; false when it cannot be written. */
bool write_long(const char *path, long v);

/*
 * The 2M hugetlb pool: true when it has at least pages free, raised as
 * root when short (hugetlb_2m_restore, from a .fini, puts it back); false
 * with the reason in why.  Takes lock_hugetlb first.
 */
bool hugetlb_2m(long pages, char *why, size_t len);
void hugetlb_2m_restore(void);
/*
 * The tests of a suite run in parallel processes: those that read or set
 * the 2M pool hold this lock until they end (the process's exit drops it).
 */
void lock_hugetlb(void);

/* Number of occurrences of needle in hay. */
size_t count_substr(const char *hay, const char *needle);

/*
 * Assert how every failure of gmvm looks: the exit status, stdout empty,
 * and exactly one line on stderr, "gmvm: ...", that holds want.
 */
void expect_error_line(const struct run_result *r, int status, const char *want);
/*
 * Run gmvm with the NULL-terminated head (the command and the options it
 * needs) then args (those under test): a usage error, exit 2 and one line
 * holding want.
 */
void expect_usage_error(const char *const *head, const char *const *args, const char *want);

#endif
