/*
 * sandbox/jail: the processes of `gmvm jail` and the dropping of privileges.
 *
 *   gmvm jail (host, root)     checks done; clones the next one into new
 *      |                       mount, PID, IPC, UTS (and network) namespaces,
 *      |                       puts it in the cgroup, lets it go, forwards
 *      |                       SIGTERM/SIGINT/SIGHUP, exits with its status
 *      +- init (PID 1, root)   makes the root (jail_mounts.c), forks gmvm,
 *          |                   forwards the signals (PID 1 ignores those it
 *          |                   has no handler for), reaps, exits with gmvm's
 *          |                   status, unmounts and removes what it made
 *          +- gmvm run         rlimits, uid/gid without supplementary groups,
 *                              every capability set empty (bounding and
 *                              ambient too), no_new_privs; then gm_cli_run
 *                              in this process: exec'ing the dynamically
 *                              linked binary would need /lib inside DIR.
 * A failure while making the jail comes back to the outer process as a
 * gm_error over a pipe, so it is one line like any check's.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cap-ng.h>

#include "sandbox/jail.h"
#include "util/escape.h"

static uint64_t default_fsize(void)
{
	unsigned long long kb = 0;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "re");

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
				break;
		fclose(f);
	}
	if (!kb)
		return UINT64_C(64) << 30;
	return ((uint64_t)kb << 10) + (UINT64_C(1) << 30);
}

void gm_jail_defaults(struct gm_jail *j)
{
	memset(j, 0, sizeof(*j));
	j->uid = (uid_t)-1;
	j->gid = (gid_t)-1;
	j->netns = GM_JAIL_NETNS_AUTO;
	j->keep_fd = -1;
	j->rl.nofile = GM_JAIL_DEFAULT_NOFILE;
	j->rl.nproc = GM_JAIL_DEFAULT_NPROC;
	j->rl.fsize = default_fsize();
}

/* N with an optional K, M, G or T (binary) suffix; 0 and overflow refused. */
static int parse_count(const char *s, size_t n, bool units, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	size_t i = 0;

	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (i == 0)
		return -EINVAL;
	if (i + 1 == n && units) {
		const char *u = strchr("KMGT", s[i] & ~0x20);

		if (!u || !s[i])
			return -EINVAL;
		mul = UINT64_C(1) << (10 * (1 + (u - "KMGT")));
		i++;
	}
	if (i != n || v == 0 || v > UINT64_MAX / mul)
		return -EINVAL;
	*out = v * mul;
	return 0;
}

int gm_jail_parse_rlimit(const char *s, struct gm_jail_rlimits *rl, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];

	for (const char *p = s; *p;) {
		size_t n = strcspn(p, ","), k = strcspn(p, "=");
		uint64_t *dst = NULL;
		bool units = false;

		if (k < n) {
			if (k == 6 && !strncmp(p, "nofile", 6))
				dst = &rl->nofile;
			else if (k == 5 && !strncmp(p, "fsize", 5))
				dst = &rl->fsize, units = true;
			else if (k == 5 && !strncmp(p, "nproc", 5))
				dst = &rl->nproc;
		}
		if (!dst || parse_count(p + k + 1, n - k - 1, units, dst))
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "--rlimit %s: write nofile=N,fsize=BYTES,nproc=N (any of them, each a positive number; fsize takes K, M, G, T)",
				       gm_escape(s, q, sizeof(q)));
		p += n + (p[n] == ',');
	}
	if (!*s)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--rlimit: empty; write nofile=N,fsize=BYTES,nproc=N");
	return 0;
}

int gm_jail_add_path(struct gm_jail *j, const char *option, const char *path, enum gm_jail_path_kind kind,
		     struct gm_error *err)
{
	if (j->npaths == GM_JAIL_MAX_PATHS)
		return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG, "more than %d paths in gmvm run's arguments; use fewer",
			       GM_JAIL_MAX_PATHS);
	j->paths[j->npaths++] = (struct gm_jail_path){ option, path, kind };
	return 0;
}

int gm_jail_join_cgroup(const char *path, pid_t pid, struct gm_error *err)
{
	char p[4096], q[GM_ESCAPE_PATH];
	int e = 0;

	gm_escape(path, q, sizeof(q));
	snprintf(p, sizeof(p), "%s", path);
	for (char *s = p + 1;; s++) {
		char c = *s;

		if (c != '/' && c)
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			int e = errno;
			char made[GM_ESCAPE_PATH];

			return gm_fail(err, GM_STATUS_FAILURE, e, "--cgroup %s: cannot make %s: %s", q,
				       gm_escape(p, made, sizeof(made)), strerror(e));
		}
		*s = c;
		if (!c)
			break;
	}
	snprintf(p, sizeof(p), "%s/cgroup.procs", path);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || dprintf(fd, "%d\n", (int)pid) < 0)
		e = errno;
	if (fd >= 0)
		close(fd);
	if (e)
		return gm_fail(err, GM_STATUS_FAILURE, e,
			       "--cgroup %s: cannot join it (%s); give a leaf group, without controllers in its cgroup.subtree_control",
			       q, strerror(e));
	return 0;
}

/* rlimits, then the user, then no capabilities at all, then no way to gain any. */
static int drop_privileges(const struct gm_jail *j, struct gm_error *err)
{
	const struct {
		int res;
		uint64_t v;
		const char *name;
	} lims[] = {
		{ RLIMIT_NOFILE, j->rl.nofile, "nofile" },
		{ RLIMIT_FSIZE, j->rl.fsize, "fsize" },
		{ RLIMIT_NPROC, j->rl.nproc, "nproc" },
	};

	for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
		struct rlimit rl = { (rlim_t)lims[i].v, (rlim_t)lims[i].v };

		if (setrlimit(lims[i].res, &rl) < 0)
			return gm_fail(err, GM_STATUS_BAD_INPUT, errno, "--rlimit %s=%llu: %s; give a smaller one",
				       lims[i].name, (unsigned long long)lims[i].v, strerror(errno));
	}
	capng_clear(CAPNG_SELECT_ALL);
	int r = capng_change_id((int)j->uid, (int)j->gid,
				CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING | CAPNG_CLEAR_AMBIENT);
	if (r < 0)
		return gm_fail(err, GM_STATUS_FAILURE, EPERM, "cannot become uid %u gid %u without capabilities (libcap-ng step %d)",
			       (unsigned)j->uid, (unsigned)j->gid, r);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot set no_new_privs: %s", strerror(errno));
	/* trust, but check: every set empty, no way back to root */
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	bool ok = getresuid(&ru, &eu, &su) == 0 && ru == j->uid && eu == j->uid && su == j->uid &&
		  getresgid(&rg, &eg, &sg) == 0 && rg == j->gid && eg == j->gid && sg == j->gid &&
		  getgroups(0, NULL) == 0 && capng_get_caps_process() == 0 &&
		  capng_have_capabilities(CAPNG_SELECT_CAPS) == CAPNG_NONE;
	for (int c = 0; ok && c <= CAP_LAST_CAP; c++)
		ok = prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 0 && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) <= 0;
	if (!ok)
		return gm_fail(err, GM_STATUS_FAILURE, EPERM,
			       "the jail could not drop every privilege (uid, groups or a capability set remains); not starting the VM");
	return 0;
}

/* A setup failure for the outer process to report (one write, atomic on a pipe). */
static void report(int fd, const struct gm_error *e)
{
	if (write(fd, e, sizeof(*e)) != (ssize_t)sizeof(*e)) {
		/* the outer process is gone: nobody to tell */
	}
}

static int status_of(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
}

static void on_signal(int sig)
{
	(void)sig; /* a handler, so PID 1 receives the signal: sigwaitinfo takes it */
}

static const int fwd_sigs[] = { SIGTERM, SIGINT, SIGHUP };

static void gmvm_child(const struct gm_jail *j, int rep, int (*main_fn)(int, char **), int argc, char **argv,
		       const sigset_t *old)
{
	struct gm_error e = { 0 };
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	for (size_t i = 0; i < sizeof(fwd_sigs) / sizeof(fwd_sigs[0]); i++)
		sigaction(fwd_sigs[i], &dfl, NULL);
	sigaction(SIGCHLD, &dfl, NULL);
	sigprocmask(SIG_SETMASK, old, NULL);
	if (drop_privileges(j, &e)) {
		report(rep, &e);
		_exit(e.status);
	}
	/* past --rlimit fsize a write fails with EFBIG, which gmvm reports, instead of a core dump */
	signal(SIGXFSZ, SIG_IGN);
	close(rep);
	exit(main_fn(argc, argv));
}

/*
 * Close every fd above 2 but the pipes and the one gmvm run is given: an
 * inherited descriptor of a host directory or file would be a way out of
 * the new root (openat from it), whatever the mounts say.
 */
static void close_other_fds(int a, int b, int c)
{
	int keep[3] = { a, b, c };
	unsigned from = 3;

	/* sorted, so the holes between them are ranges to close */
	for (int i = 0; i < 3; i++)
		for (int k = i + 1; k < 3; k++)
			if (keep[k] < keep[i]) {
				int t = keep[i];
				keep[i] = keep[k];
				keep[k] = t;
			}
	for (int i = 0; i < 3; i++) {
		if (keep[i] < (int)from)
			continue;
		if ((unsigned)keep[i] > from)
			close_range(from, (unsigned)keep[i] - 1, 0);
		from = (unsigned)keep[i] + 1;
	}
	close_range(from, ~0U, 0);
}

static void init_main(const struct gm_jail *j, int go, int rep, int (*main_fn)(int, char **), int argc,
		      char **argv)
{
	struct gm_error e = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t set, old;
	unsigned made = 0;
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close_other_fds(go, rep, j->keep_fd);
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(fwd_sigs) / sizeof(fwd_sigs[0]); i++)
		sigaddset(&set, fwd_sigs[i]);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, &old);
	for (int s = 1; s < NSIG; s++)
		if (sigismember(&set, s) == 1)
			sigaction(s, &sa, NULL);
	/* the outer process has put us in the cgroup (or died, or given up) */
	if (read(go, &c, 1) != 1)
		_exit(1);
	close(go);
	if (gm_jail_mount_root(j, &made, &e)) {
		report(rep, &e);
		gm_jail_unmount_root(made);
		_exit(e.status ? e.status : 1);
	}
	/* the identity lock, in the jail's own /run (the caller's GMVM_RUN_DIR is a host path) */
	setenv("GMVM_RUN_DIR", "/run", 1);
	pid_t pid = fork();
	if (pid == 0)
		gmvm_child(j, rep, main_fn, argc, argv, &old);
	if (pid < 0) {
		gm_fail(&e, GM_STATUS_FAILURE, errno, "cannot start gmvm in the jail: %s", strerror(errno));
		report(rep, &e);
		gm_jail_unmount_root(made);
		_exit(1);
	}
	close(rep);
	int status = 1;
	for (;;) {
		siginfo_t si;
		int st;

		if (sigwaitinfo(&set, &si) < 0)
			continue;
		if (si.si_signo != SIGCHLD) {
			kill(pid, si.si_signo);
			continue;
		}
		pid_t w;
		bool done = false;
		while ((w = waitpid(-1, &st, WNOHANG)) > 0)
			if (w == pid) {
				status = status_of(st);
				done = true;
			}
		if (done)
			break;
	}
	gm_jail_unmount_root(made);
	_exit(status);
}

static volatile sig_atomic_t outer_child;

static void outer_forward(int sig)
{
	if (outer_child > 0)
		kill(outer_child, sig);
}

int gm_jail_run(const struct gm_jail *j, int (*main_fn)(int, char **), int argc, char **argv,
		struct gm_error *err)
{
	int go[2], rep[2];
	unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS |
			      (j->netns == GM_JAIL_NETNS_HOST ? 0 : CLONE_NEWNET);

	if (pipe2(go, O_CLOEXEC) < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot make a pipe: %s", strerror(errno));
	if (pipe2(rep, O_CLOEXEC) < 0) {
		int e = errno;
		close(go[0]);
		close(go[1]);
		return gm_fail(err, GM_STATUS_FAILURE, e, "cannot make a pipe: %s", strerror(e));
	}
	struct sigaction sa = { .sa_handler = outer_forward };
	for (size_t i = 0; i < sizeof(fwd_sigs) / sizeof(fwd_sigs[0]); i++)
		sigaction(fwd_sigs[i], &sa, NULL);
	fflush(NULL);
	/* a raw clone: fork's semantics, into the new namespaces (this process stays in the host's) */
	pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
	if (pid == 0) {
		close(go[1]);
		close(rep[0]);
		init_main(j, go[0], rep[1], main_fn, argc, argv);
	}
	int e = errno;
	close(go[0]);
	close(rep[1]);
	if (pid < 0) {
		close(go[1]);
		close(rep[0]);
		return gm_fail(err, GM_STATUS_FAILURE, e, "cannot make the jail's namespaces: %s", strerror(e));
	}
	outer_child = pid;
	int r = j->cgroup ? gm_jail_join_cgroup(j->cgroup, pid, err) : 0;
	if (!r && write(go[1], "g", 1) != 1)
		r = gm_fail(err, GM_STATUS_FAILURE, errno, "the jail's init died before it started");
	close(go[1]);
	/* EOF: gmvm runs confined; a gm_error: the jail could not be made */
	struct gm_error child_err = { 0 };
	ssize_t n = 0;
	if (!r) {
		do
			n = read(rep[0], &child_err, sizeof(child_err));
		while (n < 0 && errno == EINTR);
	}
	close(rep[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	outer_child = 0;
	if (r)
		return r;
	if (n == (ssize_t)sizeof(child_err)) {
		child_err.msg[sizeof(child_err.msg) - 1] = '\0';
		return gm_fail(err, child_err.status ? child_err.status : GM_STATUS_FAILURE,
			       child_err.errnum ? child_err.errnum : EPERM, "%s", child_err.msg);
	}
	return status_of(st);
}
