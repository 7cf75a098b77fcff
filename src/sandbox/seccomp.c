/*
 * sandbox/seccomp: one allow-list per kind of thread (seccomp_lists.c).
 *
 * gm_seccomp_setup, on main's thread before any other thread exists,
 * builds every kind's BPF program once (libseccomp, exported to memory),
 * so that a thread starting later loads its program with one seccomp(2)
 * call: no allocation, no libseccomp, nothing that can fail half-way on a
 * thread that already runs.  It then installs the SIGSYS reporter and the
 * thread-start hook, and confines main to the process baseline (every
 * kind's list and what setting up needs).  Filters stack: a thread made by
 * a confined thread keeps its maker's filter and adds its own, so a kind
 * started by another kind's thread must be within the maker's list (the
 * op thread's MIGRATION list holds the API's for that reason).
 *
 * A call off the list (on): the kernel raises SIGSYS on the thread; the
 * reporter writes one line naming the thread's kind and the call, and the
 * process exits with status 1.  log: the kernel allows and logs it (audit
 * type=1326, comm= is "gm-<kind>").
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "sandbox/seccomp_lists.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define GM_SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define GM_SANITIZED 1
#endif

/* The baseline's program sits after the kinds'. */
#define BASELINE GM_THREAD_KINDS
/* Syscall numbers the reporter can name (x86-64 has fewer than this). */
#define NAMES 512
#define NAME_LEN 24
/* syslog(SYSLOG_ACTION_SIZE_BUFFER): harmless, and on no list */
#define VIOLATION_NR SYS_syslog

static enum gm_seccomp_mode mode = GM_SECCOMP_OFF;
static bool ready;
static struct sock_fprog progs[GM_THREAD_KINDS + 1];
static char names[NAMES][NAME_LEN];
static int violate_kind = -1;
/* the kind whose filter this thread loaded: -1 none (main setting up, or a thread that inherited its maker's) */
static __thread int cur_kind = -1;
static pthread_t setup_thread; /* main, which set up under the baseline */

int gm_seccomp_parse(const char *s, enum gm_seccomp_mode *out, struct gm_error *err)
{
	if (!strcmp(s, "on"))
		*out = GM_SECCOMP_ON;
	else if (!strcmp(s, "log"))
		*out = GM_SECCOMP_LOG;
	else if (!strcmp(s, "off"))
		*out = GM_SECCOMP_OFF;
	else
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--seccomp %s: say on, log or off", s);
	return 0;
}

/* ---- the reporter: async-signal-safe, write(2) and exit_group(2) only ---- */

static size_t put(char *buf, size_t n, size_t cap, const char *s)
{
	while (*s && n < cap)
		buf[n++] = *s++;
	return n;
}

static size_t put_num(char *buf, size_t n, size_t cap, unsigned long v, unsigned base)
{
	char tmp[24];
	size_t k = 0;

	do {
		tmp[k++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v && k < sizeof(tmp));
	while (k && n < cap)
		buf[n++] = tmp[--k];
	return n;
}

/*
 * The kind the reporter names.  A thread that loaded a filter knows its
 * own.  One its maker made without the start hook (libmicrohttpd's
 * connection threads, the op thread's runners) runs under the maker's
 * filter and carries the maker's name, gm-<kind>, which the kernel copied
 * at clone: that names it (PR_GET_NAME is on every list).  libmicrohttpd
 * renames its own threads MHD-listen, MHD-connection...: the API's.
 */
static const char *kind_label(char comm[16])
{
	if (cur_kind >= 0)
		return gm_thread_kind_name((enum gm_thread_kind)cur_kind);
	if (pthread_equal(pthread_self(), setup_thread))
		return "main (setting up)";
	if (prctl(PR_GET_NAME, comm, 0, 0, 0) == 0 && !strncmp(comm, "gm-", 3))
		return comm + 3;
	if (!strncmp(comm, "MHD-", 4))
		return gm_thread_kind_name(GM_THREAD_API);
	return "unnamed (made by main while setting up)";
}

static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	char line[512], comm[16] = "";
	size_t n = 0, cap = sizeof(line) - 1;
	int nr = si->si_syscall;
	int arg = -1; /* the argument the lists filter on, shown in hex */

	(void)sig;
	n = put(line, n, cap, "gmvm: seccomp: the ");
	n = put(line, n, cap, kind_label(comm));
	n = put(line, n, cap, " thread made syscall ");
	n = put(line, n, cap, nr >= 0 && nr < NAMES && names[nr][0] ? names[nr] : "?");
	n = put(line, n, cap, " (");
	n = put_num(line, n, cap, (unsigned long)nr, 10);
	n = put(line, n, cap, ")");
	if (nr == SYS_ioctl || nr == SYS_fcntl)
		arg = 1;
	else if (nr == SYS_socket || nr == SYS_prctl || nr == SYS_clone)
		arg = 0;
	else if (nr == SYS_mmap || nr == SYS_mprotect)
		arg = 2;
#if defined(__x86_64__)
	static const int regs[] = { REG_RDI, REG_RSI, REG_RDX };

	if (arg >= 0) {
		n = put(line, n, cap, nr == SYS_ioctl ? " request 0x" : " argument 0x");
		n = put_num(line, n, cap, (unsigned long)((ucontext_t *)ctx)->uc_mcontext.gregs[regs[arg]], 16);
	}
#else
	(void)ctx, (void)arg;
#endif
	n = put(line, n, cap, ", which its allow-list does not permit; gmvm stops (status 1); --seccomp log runs on and logs such calls\n");
	(void)!write(STDERR_FILENO, line, n);
	syscall(SYS_exit_group, 1);
}

/* ---- building the programs ---- */

static int allow_rows(scmp_filter_ctx c, int nr, unsigned argn, const struct gm_sc_row *rows, int64_t end,
		      unsigned bit, bool mask32)
{
	int r = 0;

	for (const struct gm_sc_row *row = rows; !r && row->what != end; row++) {
		if (!(row->kinds & bit))
			continue;
		struct scmp_arg_cmp cmp = { .arg = argn, .op = mask32 ? SCMP_CMP_MASKED_EQ : SCMP_CMP_EQ,
					    .datum_a = mask32 ? 0xffffffffu : (scmp_datum_t)row->what,
					    .datum_b = mask32 ? (scmp_datum_t)row->what & 0xffffffffu : 0 };
		r = seccomp_rule_add_array(c, SCMP_ACT_ALLOW, nr, 1, &cmp);
	}
	return r == -EEXIST ? 0 : r;
}

/*
 * What the sanitizers' runtimes call on any thread, in sanitized builds only:
 * LSan's stop-the-world at exit (a tracer task made with clone, ptrace, its
 * /proc reads through the legacy open and getdents), ASan's maps.  Without
 * them a leak check at exit would hang: the tracer blocks every signal, so a
 * call off the list kills it silently and the exiting thread waits for it,
 * spinning in sched_yield.
 */
static int add_sanitizer_calls(scmp_filter_ctx c)
{
	static const int san[] = { SCMP_SYS(prctl), SCMP_SYS(clone), SCMP_SYS(ptrace), SCMP_SYS(wait4),
				   SCMP_SYS(openat), SCMP_SYS(open), SCMP_SYS(getdents64), SCMP_SYS(getdents),
				   SCMP_SYS(readlinkat),
				   SCMP_SYS(sched_yield), SCMP_SYS(mmap), SCMP_SYS(mprotect),
				   SCMP_SYS(rt_sigaction), SCMP_SYS(kill), SCMP_SYS(getppid), SCMP_SYS(readlink),
				   SCMP_SYS(pipe2), SCMP_SYS(dup2), SCMP_SYS(waitid) };
	int r = 0;

	for (size_t i = 0; i < sizeof(san) / sizeof(san[0]); i++)
		if ((r = seccomp_rule_add(c, SCMP_ACT_ALLOW, san[i], 0)) && r != -EEXIST)
			return r;
	return 0;
}

static int add_kind(scmp_filter_ctx c, unsigned bit, bool sanitized)
{
	int r = 0;

	r = r ? r : allow_rows(c, SCMP_SYS(ioctl), 1, gm_sc_ioctl, 0, bit, true);
	r = r ? r : allow_rows(c, SCMP_SYS(fcntl), 1, gm_sc_fcntl, -1, bit, false);
	r = r ? r : allow_rows(c, SCMP_SYS(socket), 0, gm_sc_socket, -1, bit, false);
	/* threads, never processes: clone3's flags sit in memory a filter cannot read, so it says
	 * ENOSYS and glibc falls back to clone, whose flags it can */
	r = r ? r : seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r || sanitized)
		return r ? r : add_sanitizer_calls(c);
	r = r ? r : allow_rows(c, SCMP_SYS(prctl), 0, gm_sc_prctl, -1, bit, false);
	/* nothing executable is mapped after set-up */
	r = r ? r : seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	r = r ? r : seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	r = r ? r : seccomp_rule_add(c, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	return r;
}

/* which: a kind, or BASELINE; into progs[which] */
static int build(int which, struct gm_error *err)
{
	unsigned bit = which == BASELINE ? ~0u : 1u << which;
	bool baseline = which == BASELINE || which == GM_THREAD_LAUNCHER;
#ifdef GM_SANITIZED
	bool sanitized = true;
#else
	bool sanitized = false;
#endif
	scmp_filter_ctx c = seccomp_init(mode == GM_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
	int r = c ? 0 : -ENOMEM, fd = -1;

	if (baseline)
		bit = ~0u;
	if (!r)
		r = seccomp_attr_set(c, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (const struct gm_sc_row *row = gm_sc_plain; !r && row->what >= 0; row++)
		if (row->kinds & bit)
			r = seccomp_rule_add(c, SCMP_ACT_ALLOW, (int)row->what, 0);
	for (const int *s = gm_sc_setup; !r && baseline && *s >= 0; s++)
		if ((r = seccomp_rule_add(c, SCMP_ACT_ALLOW, *s, 0)) == -EEXIST)
			r = 0;
	if (!r && !baseline)
		r = add_kind(c, bit, sanitized);
	else if (!r && sanitized)
		r = add_sanitizer_calls(c);
	if (!r && (fd = memfd_create("gm-seccomp", MFD_CLOEXEC)) < 0)
		r = -errno;
	if (!r)
		r = seccomp_export_bpf(c, fd);
	off_t len = r ? 0 : lseek(fd, 0, SEEK_END);
	void *buf = r || len <= 0 ? NULL : malloc((size_t)len);

	if (!r && (!buf || pread(fd, buf, (size_t)len, 0) != len))
		r = buf ? -EIO : -ENOMEM;
	if (fd >= 0)
		close(fd);
	seccomp_release(c);
	if (r) {
		free(buf);
		return gm_fail(err, GM_STATUS_FAILURE, -r, "seccomp: cannot build the %s allow-list (%s); run with --seccomp off to go without",
			       which == BASELINE ? "baseline" : gm_thread_kind_name((enum gm_thread_kind)which), strerror(-r));
	}
	progs[which].filter = buf;
	progs[which].len = (unsigned short)((size_t)len / sizeof(struct sock_filter));
	return 0;
}

static int load(int which)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &progs[which]) < 0)
		return -errno;
	return 0;
}

/*
 * The thread-start hook: a thread that cannot be confined does not run (fail
 * closed).  Some of libgmvm's thread bodies also run inline on their
 * caller's thread (gm_receive_all's first connection runs on the caller):
 * on main that is the owner's thread, whose list the owner picks
 * (gm_cli_run enters MAIN once set-up is done), so the hook leaves it be;
 * a thread already of that kind needs no second copy of its filter.
 */
static void on_thread_start(enum gm_thread_kind kind, void *opaque)
{
	struct gm_error e = { 0 };

	(void)opaque;
	if ((pid_t)syscall(SYS_gettid) == getpid() || cur_kind == (int)kind)
		return;
	if (gm_seccomp_enter(kind, &e) < 0) {
		fprintf(stderr, "gmvm: %s\n", e.msg);
		syscall(SYS_exit_group, 1);
	}
}

int gm_seccomp_setup(enum gm_seccomp_mode m, struct gm_error *err)
{
	struct sigaction sa = { 0 };
	const char *v = getenv("GMVM_TEST_SECCOMP_VIOLATE");
	int r;

	if (m == GM_SECCOMP_OFF || ready)
		return 0;
	mode = m;
	setup_thread = pthread_self();
	for (int i = 0; i < NAMES; i++) {
		char *s = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, i);

		if (s) {
			snprintf(names[i], NAME_LEN, "%s", s);
			free(s);
		}
	}
	violate_kind = -1;
	for (int k = 0; v && *v && k < GM_THREAD_KINDS; k++)
		if (!strcmp(v, gm_thread_kind_name((enum gm_thread_kind)k)))
			violate_kind = k;
	for (int i = 0; i <= BASELINE; i++)
		if ((r = build(i, err)) < 0)
			return r;
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "seccomp: cannot catch SIGSYS (%s)", strerror(errno));
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sa.sa_mask, NULL);
	if ((r = load(BASELINE)) < 0)
		return gm_fail(err, GM_STATUS_NO_KERNEL, -r,
			       "seccomp: the kernel refused the process filter (%s); run with --seccomp off to go without",
			       strerror(-r));
	ready = true;
	gm_thread_set_start_hook(on_thread_start, NULL);
	return 0;
}

int gm_seccomp_enter(enum gm_thread_kind kind, struct gm_error *err)
{
	char name[16];
	int r;

	if (!ready || (unsigned)kind >= GM_THREAD_KINDS)
		return 0;
	/* comm names the kind in the kernel's audit lines; main keeps "gmvm" for ps and pgrep */
	if (kind != GM_THREAD_MAIN) {
		snprintf(name, sizeof(name), "gm-%s", gm_thread_kind_name(kind));
		prctl(PR_SET_NAME, name, 0, 0, 0);
	}
	cur_kind = (int)kind;
	/* a thread that blocks every signal (blk-io, the API's workers) would have the
	 * kernel reset SIGSYS to its default, a silent core dump: the reporter must run */
	sigset_t sys;

	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	if ((r = load((int)kind)) < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -r, "seccomp: the kernel refused the %s thread's filter (%s); run with --seccomp off to go without",
			       gm_thread_kind_name(kind), strerror(-r));
	/* test only (GMVM_TEST_SECCOMP_VIOLATE=<kind>): prove the list is in force */
	if ((int)kind == violate_kind)
		syscall(VIOLATION_NR, 10, NULL, 0);
	return 0;
}

_Static_assert(GM_SECCOMP_ON == 0 && GM_SECCOMP_LOG == 1 && GM_SECCOMP_OFF == 2,
	       "gm_config.seccomp holds these numbers (cli/options.c)");
