/*
 * gmvm jail on real KVM, as root: a jailed gmvm boots hello; it sees only
 * its root; it runs as the given uid and gid with every capability set
 * empty and no_new_privs; its API, snapshots and migration work through
 * the jail's paths (DIR/api.sock on the host is /api.sock inside); the
 * checks refuse with one line and change nothing; --cgroup places it.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "harness.h"
#include "procs.h"
#include "test_vm.h"

#define UID "4242"
#define GID "4243"

static struct {
	char dir[64];      /* DIR, the jail's root */
	char scratch[64];  /* the host's side: outputs, a host-only file, the destination */
	pid_t jail, dst;
	char cgroup[96];
} jt;

static void setup(void)
{
	snprintf(jt.dir, sizeof(jt.dir), "/tmp/gmvm-jail-XXXXXX");
	cr_assert(mkdtemp(jt.dir));
	cr_assert_eq(chown(jt.dir, 4242, 4243), 0);
	cr_assert_eq(chmod(jt.dir, 0755), 0);
	snprintf(jt.scratch, sizeof(jt.scratch), "/tmp/gmvm-jail-host-XXXXXX");
	cr_assert(mkdtemp(jt.scratch));
	char run[96];
	snprintf(run, sizeof(run), "%s/run", jt.scratch);
	setenv("GMVM_RUN_DIR", run, 1);
}

static void teardown(void)
{
	char cmd[192];

	kill_reap(&jt.jail);
	kill_reap(&jt.dst);
	if (jt.cgroup[0])
		rmdir(jt.cgroup);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", jt.dir, jt.scratch);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", jt.dir);
}

TestSuite(jail, .init = setup, .fini = teardown, .timeout = 600);

static char *in_dir(const char *name)
{
	char *p;

	cr_assert(asprintf(&p, "%s/%s", jt.dir, name) > 0);
	return p;
}

static char *in_scratch(const char *name)
{
	char *p;

	cr_assert(asprintf(&p, "%s/%s", jt.scratch, name) > 0);
	return p;
}

/* guests/NAME.elf copied into DIR as /NAME.elf, owned by the jail's user. */
static void put_guest(const char *name)
{
	char cmd[512], *elf = guest_path(name);

	snprintf(cmd, sizeof(cmd), "cp '%s' '%s/%s.elf' && chown 4242:4243 '%s/%s.elf'", elf, jt.dir, name, jt.dir, name);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	free(elf);
}

/* DIR's entries, one line each, sorted: to show a refusal changed nothing. */
static char *listing(void)
{
	char cmd[128], *out = NULL;
	size_t len = 0;

	snprintf(cmd, sizeof(cmd), "ls -la --time-style=+ '%s' | sort", jt.dir);
	FILE *f = popen(cmd, "r");
	cr_assert(f);
	FILE *m = open_memstream(&out, &len);
	char buf[512];
	while (fgets(buf, sizeof(buf), f))
		fputs(buf, m);
	pclose(f);
	fclose(m);
	return out;
}

/* argv for gmvm jail --root DIR --uid --gid [jail extra] -- run [run args] */
static size_t jail_argv(const char **argv, const char *const *jail_extra, const char *const *run_args)
{
	size_t n = 0;

	argv[n++] = gmvm_bin();
	argv[n++] = "jail";
	argv[n++] = "--root";
	argv[n++] = jt.dir;
	argv[n++] = "--uid";
	argv[n++] = UID;
	argv[n++] = "--gid";
	argv[n++] = GID;
	for (; jail_extra && *jail_extra; jail_extra++)
		argv[n++] = *jail_extra;
	argv[n++] = "--";
	argv[n++] = "run";
	for (; *run_args; run_args++)
		argv[n++] = *run_args;
	argv[n] = NULL;
	return n;
}

#define L(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void run_jail(struct run_result *r, double limit, const char *const *jail_extra, const char *const *run_args)
{
	const char *argv[64];

	jail_argv(argv, jail_extra, run_args);
	run_gmvm_argv(r, limit, argv + 1);
}

/* The jail left nothing of its own in DIR. */
static void expect_dir_clean(void)
{
	const char *own[] = { "dev", "proc", "sys", "run" };

	for (size_t i = 0; i < 4; i++) {
		char *p = in_dir(own[i]);
		cr_expect_neq(access(p, F_OK), 0, "%s left behind", p);
		free(p);
	}
}

Test(jail, boots_hello)
{
	struct run_result r;

	require_kvm();
	put_guest("hello");
	run_jail(&r, 300, NULL, L("--memory", test_memory("size=64M"), "/hello.elf"));
	expect_run(&r, 0, "Hello from gmvm guest");
	run_result_free(&r);
	expect_dir_clean();
}

/*
 * A file on the host outside DIR is not there for the jail, whether named
 * directly or through a symlink in DIR; the same name inside DIR works.
 */
Test(jail, host_files_out_of_sight)
{
	struct run_result r;
	char cmd[512], *host = in_scratch("disk.img"), *link = in_dir("link.img");

	require_kvm();
	put_guest("hello");
	snprintf(cmd, sizeof(cmd), "truncate -s 1M '%s'", host);
	cr_assert_eq(system(cmd), 0);
	char *before = listing();
	char spec[160];
	snprintf(spec, sizeof(spec), "path=%s", host);
	run_jail(&r, 60, NULL, L("--memory", test_memory("size=64M"), "--disk", spec, "/hello.elf"));
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert(strstr(r.err, "no such file in the jail"), "%s", r.err);
	cr_assert_eq(count_substr(r.err, "\n"), 1, "%s", r.err);
	run_result_free(&r);
	cr_assert_eq(symlink(host, link), 0);
	run_jail(&r, 60, NULL, L("--memory", test_memory("size=64M"), "--disk", "path=/link.img", "/hello.elf"));
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert(strstr(r.err, "--disk /link.img: no such file in the jail"), "%s", r.err);
	run_result_free(&r);
	unlink(link);
	char *after = listing();
	cr_assert_str_eq(after, before, "a refusal changed DIR");
	/* the host's path, made inside DIR: found there */
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s%s' && rmdir '%s%s' && truncate -s 1M '%s%s' && chown -R 4242:4243 '%s'",
		 jt.dir, host, jt.dir, host, jt.dir, host, jt.dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	run_jail(&r, 300, NULL, L("--memory", test_memory("size=64M"), "--disk", spec, "/hello.elf"));
	expect_run(&r, 0, "Hello from gmvm guest");
	run_result_free(&r);
	free(before);
	free(after);
	free(host);
	free(link);
}

/* /proc/PID/task/PID/children: the first child's pid, or 0. */
static pid_t child_of(pid_t pid)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	char *s = slurp(p);
	pid_t c = (pid_t)atoi(s);
	free(s);
	return c;
}

/* The jailed gmvm: the outer process's grandchild (its child is the jail's init). */
static pid_t jailed_gmvm(void)
{
	pid_t init = 0, g = 0;

	for (int i = 0; i < 500 && !(g = init ? child_of(init) : 0); i++) {
		init = child_of(jt.jail);
		sleep_ms(20);
	}
	cr_assert_gt(g, 0, "no jailed gmvm under %d", (int)jt.jail);
	return g;
}

/* Start the dirty guest in the jail with its API at /api.sock and console at /con.log. */
static void start_jailed_dirty(const char *const *jail_extra, unsigned seconds)
{
	char cmdline[96], *sock = in_dir("api.sock"), *con = in_dir("con.log");
	char *out = in_scratch("jail.out"), *err = in_scratch("jail.err");
	const char *argv[64];

	require_kvm();
	put_guest("dirty");
	snprintf(cmdline, sizeof(cmdline), "dirty.mb=32 dirty.seconds=%u dirty.rounds=2000", seconds);
	jail_argv(argv, jail_extra,
		  L("--api-sock", "/api.sock", "--console", "file:/con.log", "--memory", test_memory("size=256M"),
		    "--cmdline", cmdline, "/dirty.elf"));
	jt.jail = spawn(argv, out, err);
	for (int i = 0; i < 3000 && !can_connect(sock); i++)
		cr_assert_eq(wait_exit(jt.jail, 0.02), -1, "the jail ended early:\n%s", slurp(err));
	cr_assert(can_connect(sock), "no API at %s:\n%s", sock, slurp(err));
	cr_assert(wait_file_has(con, "dirty: start", 120), "no guest output:\n%s", slurp(err));
	free(sock);
	free(con);
	free(out);
	free(err);
}

static char *status_of(pid_t pid)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/%d/status", (int)pid);
	return slurp(p);
}

static void expect_line(const char *status, const char *want)
{
	cr_expect(strstr(status, want), "no '%s' in:\n%s", want, status);
}

/* Which namespace of kind pid is in, as its /proc link reads. */
static char *ns_of(const char *pid, const char *kind)
{
	char p[64], *buf = calloc(1, 64);

	snprintf(p, sizeof(p), "/proc/%s/ns/%s", pid, kind);
	cr_assert_gt(readlink(p, buf, 63), 0, "%s", p);
	return buf;
}

Test(jail, confined_user_caps_and_namespaces_then_api_and_snapshot)
{
	struct run_result r;

	start_jailed_dirty(NULL, 60);
	pid_t g = jailed_gmvm();
	char *st = status_of(g);
	expect_line(st, "\nUid:\t4242\t4242\t4242\t4242\n");
	expect_line(st, "\nGid:\t4243\t4243\t4243\t4243\n");
	/* no supplementary group: the kernel writes "Groups:\t" and a lone space, or nothing */
	cr_expect(strstr(st, "\nGroups:\t \n") || strstr(st, "\nGroups:\t\n"), "supplementary groups:\n%s", st);
	expect_line(st, "\nCapInh:\t0000000000000000\n");
	expect_line(st, "\nCapPrm:\t0000000000000000\n");
	expect_line(st, "\nCapEff:\t0000000000000000\n");
	expect_line(st, "\nCapBnd:\t0000000000000000\n");
	expect_line(st, "\nCapAmb:\t0000000000000000\n");
	expect_line(st, "\nNoNewPrivs:\t1\n");
	/* PID 2 of its own PID namespace: NSpid shows the host's pid, then 2 */
	char nspid[64];
	snprintf(nspid, sizeof(nspid), "\nNSpid:\t%d\t2\n", (int)g);
	expect_line(st, nspid);
	free(st);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)g);
	const char *kinds[] = { "mnt", "pid_for_children", "ipc", "uts", "net" };
	for (size_t i = 0; i < 5; i++) {
		char *mine = ns_of("self", kinds[i]), *its = ns_of(pid, kinds[i]);
		cr_expect_str_neq(mine, its, "the jailed gmvm shares the host's %s namespace", kinds[i]);
		free(mine);
		free(its);
	}

	/* the API from the host, at DIR/api.sock */
	char *sock = in_dir("api.sock");
	run_gmvm(&r, 60, "ping", "--api-sock", sock, NULL);
	cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
	run_result_free(&r);
	/* a snapshot to a host directory outside DIR: the jail has no such directory */
	char *hostsnap = in_scratch("snap");
	run_gmvm(&r, 120, "snapshot", "--api-sock", sock, hostsnap, NULL);
	cr_assert_neq(r.status, 0, "a snapshot landed outside the jail:\n%s", r.out);
	cr_assert_neq(access(hostsnap, F_OK), 0, "%s made on the host", hostsnap);
	run_result_free(&r);
	/* /snap inside is DIR/snap on the host */
	run_gmvm(&r, 300, "snapshot", "--api-sock", sock, "/snap", NULL);
	cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
	run_result_free(&r);
	char *snap = in_dir("snap");
	struct stat sb;
	cr_assert_eq(stat(snap, &sb), 0, "no %s", snap);
	cr_assert_eq(sb.st_uid, 4242, "the snapshot is not the jail user's");
	/* the jailed VM goes (SIGTERM through init: 128 + 15); its snapshot restores outside the jail */
	cr_assert_eq(kill(jt.jail, SIGTERM), 0);
	int s = wait_exit(jt.jail, 60);
	jt.jail = s == -1 ? jt.jail : 0;
	cr_expect_eq(s, 128 + SIGTERM, "the jail's exit status");
	expect_dir_clean();
	run_gmvm(&r, 600, "run", "--restore", snap, NULL);
	expect_run(&r, 0, "dirty: ok pages=");
	run_result_free(&r);
	free(sock);
	free(hostsnap);
	free(snap);
}

Test(jail, migrates_out_to_a_host_gmvm)
{
	struct run_result r;
	char url[128], con[128];
	char *msock = in_dir("m.sock"), *dcon = in_scratch("dst.log");

	start_jailed_dirty(NULL, 45);
	snprintf(url, sizeof(url), "unix:%s", msock);
	snprintf(con, sizeof(con), "file:%s", dcon);
	char *dout = in_scratch("dst.out"), *derr = in_scratch("dst.err");
	const char *argv[] = { gmvm_bin(), "run", "--incoming", url, "--console", con, NULL };
	jt.dst = spawn(argv, dout, derr);
	for (int i = 0; i < 500 && access(msock, F_OK) != 0; i++)
		cr_assert_eq(wait_exit(jt.dst, 0.02), -1, "the destination ended early:\n%s", slurp(derr));
	/* root's socket: the jail's user must be let in to connect */
	cr_assert_eq(chown(msock, 4242, 4243), 0);
	char *sock = in_dir("api.sock");
	/* the jailed side names it as it sees it */
	run_gmvm(&r, 600, "migrate", "--api-sock", sock, "unix:/m.sock", NULL);
	cr_assert_eq(r.status, 0, "%s%s\n%s", r.out, r.err, slurp(derr));
	run_result_free(&r);
	int s = wait_exit(jt.jail, 60);
	jt.jail = s == -1 ? jt.jail : 0;
	cr_expect_eq(s, 0, "the jailed source's exit status");
	s = wait_exit(jt.dst, 300);
	jt.dst = s == -1 ? jt.dst : 0;
	cr_expect_eq(s, 0, "the destination's exit status:\n%s", slurp(derr));
	char *c = slurp(dcon);
	cr_expect(strstr(c, "dirty: ok pages="), "no end on the destination:\n%s", c);
	free(c);
	free(msock);
	free(dcon);
	free(dout);
	free(derr);
	free(sock);
}

/* Each check: status 2 (3 for KVM), one "gmvm jail: " line holding want, DIR unchanged. */
static void expect_refusal(const char *const *jail_extra, const char *const *run_args, const char *want)
{
	struct run_result r;
	char *before = listing();

	run_jail(&r, 60, jail_extra, run_args);
	cr_assert_eq(r.status, 2, "status %d\n%s", r.status, r.err);
	cr_assert_eq(strncmp(r.err, "gmvm jail: ", 11), 0, "%s", r.err);
	cr_assert_eq(count_substr(r.err, "\n"), 1, "not one line:\n%s", r.err);
	cr_assert(strstr(r.err, want), "want '%s' in:\n%s", want, r.err);
	cr_assert_str_empty(r.out);
	char *after = listing();
	cr_assert_str_eq(after, before, "a refusal changed DIR");
	run_result_free(&r);
	free(before);
	free(after);
}

Test(jail, refusals_name_the_fix_and_change_nothing)
{
	char want[160];

	require_kvm();
	put_guest("hello");
	expect_refusal(L("--uid", "0"), L("/hello.elf"), "--uid 0: the jail runs the VM as an unprivileged user");
	expect_refusal(NULL, L("/nope.elf"), "put nope.elf in");
	snprintf(want, sizeof(want), "inside the jail %s is /; name it /hello.elf", jt.dir);
	char *full = in_dir("hello.elf");
	expect_refusal(NULL, L(full), want);
	expect_refusal(NULL, L("/hello.elf", "--api-sock", "/no/dir/api.sock"), "its directory is not in the jail");
	expect_refusal(NULL, L("/hello.elf", "--initrd", "/etc/passwd"), "--initrd /etc/passwd: no such file in the jail");
	expect_refusal(L("--cgroup", "/tmp/not-a-cgroup"), L("/hello.elf"), "not under a cgroup v2 mount");
	expect_refusal(L("--uid", "4244"), L("/hello.elf"), "chown 4244:4243");
	free(full);

	/* DIR that does not exist, and a file for DIR */
	struct run_result r;
	const char *argv[] = { "jail", "--root", "/tmp/gmvm-jail-none", "--uid", UID, "--gid", GID, "--", "run", "/h.elf", NULL };
	run_gmvm_argv(&r, 60, argv);
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "gmvm jail: --root /tmp/gmvm-jail-none: No such file or directory; make it"), "%s", r.err);
	run_result_free(&r);

	/* not root: as the jail's own user, through setpriv */
	if (system("command -v setpriv >/dev/null") != 0) {
		cr_log_warn("no setpriv(1): the not-root refusal is not run");
		return;
	}
	char cmd[512], *err = in_scratch("setpriv.err");
	snprintf(cmd, sizeof(cmd),
		 "setpriv --reuid 4242 --regid 4243 --clear-groups --inh-caps=-all --bounding-set=-all %s jail --root %s --uid 4242 --gid 4243 -- run /hello.elf 2>%s",
		 gmvm_bin(), jt.dir, err);
	int s = system(cmd);
	cr_assert(WIFEXITED(s) && WEXITSTATUS(s) == 2, "status %d", s);
	char *e = slurp(err);
	cr_assert_str_eq(e, "gmvm jail: needs root (CAP_SYS_ADMIN) to make namespaces; run it as root\n");
	free(e);
	free(err);
}

Test(jail, cgroup_places_it)
{
	struct statfs fs;

	require_kvm();
	if (statfs("/sys/fs/cgroup", &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC)
		cr_skip_test("/sys/fs/cgroup is not a cgroup v2 mount here: --cgroup cannot be shown");
	snprintf(jt.cgroup, sizeof(jt.cgroup), "/sys/fs/cgroup/gmvm-jail-test-%d", (int)getpid());
	start_jailed_dirty(L("--cgroup", jt.cgroup), 30);
	pid_t g = jailed_gmvm();
	char p[64], want[96];
	snprintf(p, sizeof(p), "/proc/%d/cgroup", (int)g);
	char *cg = slurp(p);
	snprintf(want, sizeof(want), "0::/gmvm-jail-test-%d\n", (int)getpid());
	cr_expect_str_eq(cg, want);
	free(cg);
	cr_assert_eq(kill(jt.jail, SIGTERM), 0);
	int s = wait_exit(jt.jail, 60);
	jt.jail = s == -1 ? jt.jail : 0;
	/* the group empties as the jail goes */
	for (int i = 0; i < 100 && rmdir(jt.cgroup) != 0; i++)
		sleep_ms(50);
	cr_expect_neq(access(jt.cgroup, F_OK), 0, "%s could not be removed", jt.cgroup);
}
