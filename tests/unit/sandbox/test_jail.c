/*
 * The jail without KVM: option parsing, the checks' one-line refusals, and
 * (as root) the jail itself around a stand-in for gmvm run that reports
 * what it sees: its root, user, groups, capability sets, no_new_privs,
 * devices, mounts and PID.  /dev/kvm inside is only a node (mknod needs no
 * module), so this runs on a host without KVM; the integration suite boots
 * real guests in it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "sandbox/jail.h"

#define UID 4242
#define GID 4243

static char root[64];

static void make_root(void)
{
	snprintf(root, sizeof(root), "/tmp/gmvm-jail-XXXXXX");
	cr_assert_not_null(mkdtemp(root));
	cr_assert_eq(chown(root, UID, GID), 0);
	char p[128];
	snprintf(p, sizeof(p), "%s/g.elf", root);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs("not an elf", f);
	fclose(f);
	snprintf(p, sizeof(p), "%s/snap", root);
	cr_assert_eq(mkdir(p, 0755), 0);
}

static void remove_root(void)
{
	char cmd[128];

	if (root[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		cr_assert_eq(system(cmd), 0);
	}
}

/* Parse `gmvm jail ARGS -- run RUN...` into j as gm_cli_jail does; 0 or the error. */
static int parse(struct gm_jail *j, struct gm_config *cfg, struct gm_error *err, const char *const *args)
{
	char *argv[64];
	int argc = 0, run_at;

	argv[argc++] = "jail";
	for (; *args; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	int r = gm_cli_jail_parse(argc, argv, j, &run_at, err);
	if (r)
		return r;
	r = gm_cli_parse_run(argc - run_at, argv + run_at, cfg, err);
	if (!r)
		r = gm_cli_jail_from_run(cfg, j, err);
	if (!r && j->root && !strcmp(j->root, "ROOT"))
		j->root = root;
	return r;
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

Test(jail_parse, options_and_what_run_needs, .init = make_root, .fini = remove_root)
{
	struct gm_jail j;
	struct gm_config cfg;
	struct gm_error err = { 0 };

	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "4242", "--gid", "4243", "--rlimit",
					       "nofile=64,fsize=1G", "--", "run", "/g.elf", "--disk", "path=/d.img",
					       "--api-sock", "/api.sock", "--console", "file:/c.log")),
		     0, "%s", err.msg);
	cr_assert_eq(j.uid, 4242);
	cr_assert_eq(j.gid, 4243);
	cr_assert_eq(j.rl.nofile, 64);
	cr_assert_eq(j.rl.fsize, 1ull << 30);
	cr_assert_eq(j.rl.nproc, GM_JAIL_DEFAULT_NPROC);
	cr_assert_eq(j.netns, GM_JAIL_NETNS_NEW, "no --net: a network namespace of its own");
	cr_assert_not(j.tun);
	cr_assert_eq(j.npaths, 4);
	cr_assert_str_eq(j.paths[1].path, "/d.img");
	cr_assert_eq(j.paths[3].kind, GM_JAIL_PATH_CREATE);

	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "1", "--gid", "1", "--", "run", "/g.elf",
					       "--net", "tap=tap0")),
		     0, "%s", err.msg);
	cr_assert_eq(j.netns, GM_JAIL_NETNS_HOST, "a tap lives in the host's namespace");
	cr_assert(j.tun);
	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "1", "--gid", "1", "--netns", "new", "--",
					       "run", "--incoming", "tcp:127.0.0.1:4444")),
		     0, "%s", err.msg);
	cr_assert_eq(j.netns, GM_JAIL_NETNS_NEW, "--netns overrides");
	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "1", "--gid", "1", "--", "run",
					       "--incoming", "tcp:127.0.0.1:4444")),
		     0, "%s", err.msg);
	cr_assert_eq(j.netns, GM_JAIL_NETNS_HOST);
}

static void expect_parse_error(const char *const *args, const char *want)
{
	struct gm_jail j;
	struct gm_config cfg;
	struct gm_error err = { 0 };

	cr_assert_lt(parse(&j, &cfg, &err, args), 0);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert(strstr(err.msg, want), "want '%s' in: %s", want, err.msg);
	cr_assert_null(strchr(err.msg, '\n'));
}

Test(jail_parse, refusals)
{
	expect_parse_error(ARGS("--root", "/x", "--uid", "1", "--gid", "1"), "no gmvm run command");
	expect_parse_error(ARGS("--uid", "x1", "--", "run", "/g"), "--uid x1: give a number");
	expect_parse_error(ARGS("--netns", "other", "--", "run", "/g"), "--netns other: use new or host");
	expect_parse_error(ARGS("--rlimit", "stack=1", "--", "run", "/g"), "--rlimit stack=1: write nofile=N");
	expect_parse_error(ARGS("--rlimit", "fsize=2X", "--", "run", "/g"), "--rlimit fsize=2X");
	expect_parse_error(ARGS("--bogus", "--", "run", "/g"), "unknown option '--bogus'");
	expect_parse_error(ARGS("--root"), "--root needs a value");
	expect_parse_error(ARGS("--", "run", "--takeover", "5"), "--takeover in a jail");
}

/* A check of j gives a one-line refusal holding want. */
static void expect_check(int (*check)(const struct gm_jail *, struct gm_error *), const struct gm_jail *j,
			 const char *want)
{
	struct gm_error err = { 0 };

	cr_assert_lt(check(j, &err), 0, "no refusal, want '%s'", want);
	cr_assert(strstr(err.msg, want), "want '%s' in: %s", want, err.msg);
	cr_assert_null(strchr(err.msg, '\n'), "more than one line: %s", err.msg);
}

Test(jail_check, ids_root_paths_cgroup, .init = make_root, .fini = remove_root)
{
	struct gm_jail j;
	struct gm_config cfg;
	struct gm_error err = { 0 };
	char p[256], host[80];

	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "0", "--gid", "4243", "--", "run", "/g.elf")), 0);
	expect_check(gm_jail_check_ids, &j, "--uid 0: the jail runs the VM as an unprivileged user");
	j.uid = UID;
	j.gid = 0;
	expect_check(gm_jail_check_ids, &j, "--gid 0");
	j.gid = GID;
	cr_assert_eq(gm_jail_check_ids(&j, &err), 0);
	if (geteuid() != 0)
		cr_skip_test("not root: the ownership checks need files of another uid");
	cr_assert_eq(gm_jail_check_root(&j, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_jail_check_paths(&j, &err), 0, "%s", err.msg);
	j.uid = UID + 1;
	snprintf(p, sizeof(p), "chown %u:%u %s", UID + 1, GID, root);
	expect_check(gm_jail_check_root, &j, p);
	j.uid = UID;

	/* a host file outside DIR: not there, whatever the host has */
	snprintf(host, sizeof(host), "%s.host", root);
	int fd = open(host, O_CREAT | O_WRONLY, 0644);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "4242", "--gid", "4243", "--", "run", "/g.elf",
					       "--disk", host)), 0);
	snprintf(p, sizeof(p), "--disk %s: no such file in the jail, which sees only %s; put", host, root);
	expect_check(gm_jail_check_paths, &j, p);
	/* nor through a symlink in DIR that points at it: resolved inside DIR, as the jail will */
	snprintf(p, sizeof(p), "%s/link.img", root);
	cr_assert_eq(symlink(host, p), 0);
	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "4242", "--gid", "4243", "--", "run", "/g.elf",
					       "--disk", "/link.img")), 0);
	expect_check(gm_jail_check_paths, &j, "--disk /link.img: no such file in the jail");
	unlink(host);
	/* the host's spelling of a file in DIR */
	snprintf(p, sizeof(p), "%s/g.elf", root);
	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "4242", "--gid", "4243", "--", "run", p)), 0);
	expect_check(gm_jail_check_paths, &j, "is /; name it /g.elf");
	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "4242", "--gid", "4243", "--", "run",
					       "--restore", "/g.elf")), 0);
	expect_check(gm_jail_check_paths, &j, "--restore /g.elf: not a directory");
	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "4242", "--gid", "4243", "--", "run",
					       "--restore", "/snap", "--api-sock", "/nodir/a.sock")), 0);
	expect_check(gm_jail_check_paths, &j, "--api-sock /nodir/a.sock: its directory is not in the jail");
	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "4242", "--gid", "4243", "--", "run",
					       "/g.elf", "--console", "file:/dev/shm/x")), 0);
	expect_check(gm_jail_check_paths, &j, "--console file:/dev/shm/x: /dev in the jail is its own");
	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "4242", "--gid", "4243", "--", "run",
					       "/g.elf", "--console", "file:/dev/null", "--api-sock", "a.sock")), 0);
	cr_assert_eq(gm_jail_check_paths(&j, &err), 0, "%s", err.msg);

	/* what the jail mounts itself must not be something else in DIR */
	snprintf(p, sizeof(p), "%s/dev", root);
	cr_assert_eq(symlink("/dev", p), 0);
	expect_check(gm_jail_check_root, &j, "/dev is not a directory; the jail mounts its own /dev there, remove it");
	unlink(p);

	j.cgroup = "/tmp/not-a-cgroup/vm1";
	expect_check(gm_jail_check_cgroup, &j, "not under a cgroup v2 mount (/tmp is not cgroup2)");
	j.cgroup = "relative/x";
	expect_check(gm_jail_check_cgroup, &j, "give an absolute path");
	j.root = "/etc/no-such-dir";
	expect_check(gm_jail_check_root, &j, "--root /etc/no-such-dir: No such file or directory; make it");
	/* a name that would break the line is written escaped, wherever the line names it */
	j.root = "/etc/no\nsuch";
	expect_check(gm_jail_check_root, &j, "(mkdir /etc/no\\nsuch; chown");
	char odd[256], elf[280];

	snprintf(odd, sizeof(odd), "%s/x\ny", root);
	snprintf(elf, sizeof(elf), "%s/g.elf", odd);
	cr_assert_eq(mkdir(odd, 0700), 0);
	cr_assert_eq(close(open(elf, O_CREAT | O_WRONLY, 0644)), 0);
	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", odd, "--uid", "4242", "--gid", "4243", "--", "run",
					       "/g.elf", "--console", "file:/dev/shm/x")), 0);
	expect_check(gm_jail_check_paths, &j, "/x\\ny and name it /x");
	unlink(elf);
	rmdir(odd);
}

/* The host's own checks: where this machine lacks KVM (or root), their lines. */
Test(jail_check, kvm_and_privilege)
{
	struct gm_error err = { 0 };

	if (access("/dev/kvm", F_OK) == 0) {
		cr_assert_eq(gm_jail_check_kvm(&err), 0, "%s", err.msg);
	} else {
		cr_assert_lt(gm_jail_check_kvm(&err), 0);
		cr_assert_eq(err.status, GM_STATUS_NO_KERNEL);
		cr_assert(strstr(err.msg, "the host has no /dev/kvm to give the jail; load kvm_amd or kvm_intel"), "%s",
			  err.msg);
	}
	memset(&err, 0, sizeof(err));
	if (geteuid() == 0)
		cr_assert_eq(gm_jail_check_privilege(&err), 0, "%s", err.msg);
	else
		cr_assert(gm_jail_check_privilege(&err) < 0 && strstr(err.msg, "needs root (CAP_SYS_ADMIN)"));
}

/*
 * The stand-in for gmvm run: argv[1] names what to do.  "report" writes
 * what it sees to /seen (in DIR, so the test reads it at DIR/seen) and
 * returns 7; "sleep" waits for a signal.
 */
static int fake_run(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "sleep")) {
		for (;;)
			pause();
	}
	FILE *out = fopen("/seen", "w");
	if (!out)
		return 99;
	struct stat st;
	fprintf(out, "pid=%d uid=%u gid=%u groups=%d\n", (int)getpid(), (unsigned)getuid(), (unsigned)getgid(),
		getgroups(0, NULL));
	if (stat("/dev/kvm", &st) == 0)
		fprintf(out, "kvm=%o:%u:%u:%u\n", (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid,
			major(st.st_rdev), minor(st.st_rdev));
	if (stat("/dev/null", &st) == 0)
		fprintf(out, "null=%o\n", (unsigned)(st.st_mode & 07777));
	fprintf(out, "tun=%d\n", access("/dev/net/tun", F_OK) == 0);
	fprintf(out, "etc=%d\n", access("/etc/passwd", F_OK) == 0);
	fprintf(out, "elf=%d\n", access("/g.elf", R_OK) == 0);
	fprintf(out, "thp=%d\n", access("/sys/kernel/mm/transparent_hugepage/enabled", R_OK) == 0);
	fprintf(out, "sysw=%d\n", open("/sys/x", O_CREAT | O_WRONLY, 0600) >= 0);
	fprintf(out, "class=%d\n", access("/sys/class", F_OK) == 0);
	fprintf(out, "run=%s:%d\n", getenv("GMVM_RUN_DIR"), access("/run", W_OK) == 0);
	if (argc > 3)
		fprintf(out, "leaked=%d kept=%d\n", fcntl(atoi(argv[2]), F_GETFD) != -1, fcntl(atoi(argv[3]), F_GETFD) != -1);
	char line[256];
	FILE *s = fopen("/proc/self/status", "r");
	while (s && fgets(line, sizeof(line), s))
		if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10))
			fputs(line, out);
	if (s)
		fclose(s);
	fclose(out);
	return 7;
}

static void need_root(void)
{
	if (geteuid() != 0)
		cr_skip_test("not root: gmvm jail needs root to make namespaces");
}

static char *slurp_file(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

Test(jail_run, confined_as_asked, .init = make_root, .fini = remove_root)
{
	struct gm_jail j;
	struct gm_config cfg;
	struct gm_error err = { 0 };
	char p[256];

	need_root();
	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "4242", "--gid", "4243", "--", "run",
					       "/g.elf")), 0, "%s", err.msg);
	/* a host directory's fd would lead out of the root: closed; the one gmvm is given (fd=N): kept */
	int hostdir = open("/etc", O_RDONLY | O_DIRECTORY), given = open("/dev/null", O_WRONLY);
	char a2[16], a3[16];
	snprintf(a2, sizeof(a2), "%d", hostdir);
	snprintf(a3, sizeof(a3), "%d", given);
	j.keep_fd = given;
	char *argv[] = { "run", "report", a2, a3, NULL };
	int st = gm_jail_run(&j, fake_run, 4, argv, &err);
	close(hostdir);
	close(given);
	cr_assert_eq(st, 7, "status %d: %s", st, err.msg);
	snprintf(p, sizeof(p), "%s/seen", root);
	const char *seen = slurp_file(p);
	cr_log_info("%s", seen);
	cr_assert(strstr(seen, "pid=2 uid=4242 gid=4243 groups=0\n"), "%s", seen);
	cr_assert(strstr(seen, "kvm=600:4242:10:232\n"), "%s", seen);
	cr_assert(strstr(seen, "null=666\n"), "%s", seen);
	cr_assert(strstr(seen, "tun=0\n"), "%s", seen);
	cr_assert(strstr(seen, "etc=0\n"), "the host's /etc is out of sight: %s", seen);
	cr_assert(strstr(seen, "elf=1\n"), "%s", seen);
	cr_assert(strstr(seen, "sysw=0\n"), "%s", seen);
	cr_assert(strstr(seen, "class=0\n"), "only the memory facts of /sys: %s", seen);
	cr_assert(strstr(seen, "run=/run:1\n"), "%s", seen);
	cr_assert(strstr(seen, "leaked=0 kept=1\n"), "%s", seen);
	if (access("/sys/kernel/mm/transparent_hugepage/enabled", R_OK) == 0)
		cr_assert(strstr(seen, "thp=1\n"), "%s", seen);
	const char *caps[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
	for (size_t i = 0; i < 5; i++) {
		char want[64];
		snprintf(want, sizeof(want), "%s:\t0000000000000000\n", caps[i]);
		cr_assert(strstr(seen, want), "want %s in %s", want, seen);
	}
	cr_assert(strstr(seen, "NoNewPrivs:\t1\n"), "%s", seen);
	/* nothing left in DIR but what was there and what gmvm wrote */
	const char *gone[] = { "dev", "proc", "sys", "run" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/%s", root, gone[i]);
		cr_assert_neq(access(p, F_OK), 0, "%s left behind", p);
	}
}

Test(jail_run, tun_with_a_tap_and_setup_failures, .init = make_root, .fini = remove_root)
{
	struct gm_jail j;
	struct gm_config cfg;
	struct gm_error err = { 0 };
	char p[256];

	need_root();
	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "4242", "--gid", "4243", "--netns", "new",
					       "--", "run", "/g.elf", "--net", "tap=gmvmj0")), 0, "%s", err.msg);
	char *argv[] = { "run", "report", NULL };
	cr_assert_eq(gm_jail_run(&j, fake_run, 2, argv, &err), 7, "%s", err.msg);
	snprintf(p, sizeof(p), "%s/seen", root);
	cr_assert(strstr(slurp_file(p), "tun=1\n"), "%s", slurp_file(p));
	/* an rlimit the kernel refuses comes back as the one line */
	j.rl.nofile = 1ull << 40;
	cr_assert_lt(gm_jail_run(&j, fake_run, 2, argv, &err), 0);
	cr_assert(strstr(err.msg, "--rlimit nofile=1099511627776:"), "%s", err.msg);
}

/* A signal to the outer process reaches gmvm through init: 128 + SIGTERM. */
Test(jail_run, forwards_sigterm, .init = make_root, .fini = remove_root)
{
	struct gm_jail j;
	struct gm_config cfg;
	struct gm_error err = { 0 };

	need_root();
	cr_assert_eq(parse(&j, &cfg, &err, ARGS("--root", "ROOT", "--uid", "4242", "--gid", "4243", "--", "run",
					       "/g.elf")), 0);
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = { "run", "sleep", NULL };
		_exit(gm_jail_run(&j, fake_run, 2, argv, &err) & 0xff);
	}
	usleep(300 * 1000);
	cr_assert_eq(kill(pid, SIGTERM), 0);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st));
	cr_assert_eq(WEXITSTATUS(st), 128 + SIGTERM);
}
