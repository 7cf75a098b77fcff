/*
 * sandbox/jail_check: everything `gmvm jail` checks before it makes
 * anything, each failure one line naming the fix.  Paths are resolved as the
 * jail will see them: inside DIR, with DIR as "/" (openat2 RESOLVE_IN_ROOT),
 * so a symlink in DIR that points at a host file is seen as the jail sees it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cap-ng.h>
#include <linux/magic.h>
#include <linux/openat2.h>

#include "sandbox/jail.h"
#include "util/escape.h"

#define Q(s, buf) gm_escape((s), (buf), sizeof(buf))
#define BAD GM_STATUS_BAD_INPUT

int gm_jail_check_privilege(struct gm_error *err)
{
	if (geteuid() != 0 || capng_get_caps_process() != 0 ||
	    !capng_have_capability(CAPNG_EFFECTIVE, CAP_SYS_ADMIN))
		return gm_fail(err, BAD, EPERM,
			       "needs root (CAP_SYS_ADMIN) to make namespaces; run it as root");
	return 0;
}

int gm_jail_check_kvm(struct gm_error *err)
{
	struct stat st;

	if (stat("/dev/kvm", &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 10 ||
	    minor(st.st_rdev) != 232)
		return gm_fail(err, GM_STATUS_NO_KERNEL, ENODEV,
			       "the host has no /dev/kvm to give the jail; load kvm_amd or kvm_intel (modprobe kvm_intel) and enable virtualization in the firmware");
	return 0;
}

int gm_jail_check_ids(const struct gm_jail *j, struct gm_error *err)
{
	if (j->uid == (uid_t)-1 || j->gid == (gid_t)-1)
		return gm_fail(err, BAD, EINVAL,
			       "--uid N and --gid N are needed: the user the VM runs as, e.g. --uid 4242 --gid 4242");
	if (j->uid == 0)
		return gm_fail(err, BAD, EINVAL,
			       "--uid 0: the jail runs the VM as an unprivileged user; give another uid, e.g. --uid 4242");
	if (j->gid == 0)
		return gm_fail(err, BAD, EINVAL,
			       "--gid 0: the jail runs the VM without root's group; give another gid, e.g. --gid 4242");
	return 0;
}

/* The mount points the jail makes its own: in DIR they are absent or plain directories. */
static const char *const own_dirs[] = { "dev", "proc", "sys", "run" };

int gm_jail_check_root(const struct gm_jail *j, struct gm_error *err)
{
	char q[GM_ESCAPE_PATH];
	struct stat st;

	if (!j->root || !*j->root)
		return gm_fail(err, BAD, EINVAL, "--root DIR is needed: the directory the VM will see as /");
	Q(j->root, q); /* every line below names it */
	if (j->root[0] != '/')
		return gm_fail(err, BAD, EINVAL, "--root %s: give an absolute path", q);
	if (stat(j->root, &st) < 0)
		return gm_fail(err, BAD, errno, "--root %s: %s; make it (mkdir %s; chown %u:%u %s) and put the VM's files in it",
			       q, strerror(errno), q, (unsigned)j->uid, (unsigned)j->gid, q);
	if (!S_ISDIR(st.st_mode))
		return gm_fail(err, BAD, ENOTDIR, "--root %s: not a directory; give the directory the VM will see as /",
			       q);
	if (st.st_ino == 2 && !strcmp(j->root, "/"))
		return gm_fail(err, BAD, EINVAL, "--root /: that is the host's whole root; give a directory that holds only the VM's files");
	if (st.st_uid != j->uid || !(st.st_mode & S_IWUSR) || !(st.st_mode & S_IXUSR))
		return gm_fail(err, BAD, EACCES,
			       "--root %s: owned by uid %u mode %03o, not writable by uid %u; chown %u:%u %s (and chmod u+rwx)",
			       q, (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777), (unsigned)j->uid,
			       (unsigned)j->uid, (unsigned)j->gid, q);
	for (size_t i = 0; i < sizeof(own_dirs) / sizeof(own_dirs[0]); i++) {
		char p[PATH_MAX];

		snprintf(p, sizeof(p), "%s/%s", j->root, own_dirs[i]);
		if (lstat(p, &st) == 0 && !S_ISDIR(st.st_mode))
			return gm_fail(err, BAD, EEXIST,
				       "--root %s: %s/%s is not a directory; the jail mounts its own /%s there, remove it",
				       q, q, own_dirs[i], own_dirs[i]);
	}
	return 0;
}

/* path as the jail sees it, from DIR's fd: RESOLVE_IN_ROOT keeps "..", "/" and symlinks inside. */
static int open_in_root(int rootfd, const char *path, bool dir)
{
	struct open_how how = {
		.flags = O_PATH | O_CLOEXEC | (dir ? O_DIRECTORY : 0),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : fd;
}

/* The first component of path ("dev" for "/dev/x"), when it is one the jail mounts itself. */
static const char *own_dir_of(const char *path)
{
	while (*path == '/')
		path++;
	for (size_t i = 0; i < sizeof(own_dirs) / sizeof(own_dirs[0]); i++) {
		size_t n = strlen(own_dirs[i]);

		if (!strncmp(path, own_dirs[i], n) && (path[n] == '/' || !path[n]))
			return own_dirs[i];
	}
	return NULL;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s && s[1] ? s + 1 : s ? "FILE" : path;
}

/* "--disk PATH", but "--console file:PATH": the option as the user wrote it. */
#define SEP(opt) ((opt)[strlen(opt) - 1] == ':' || (opt)[strlen(opt) - 1] == '=' ? "" : " ")

/* One path missing (or wrong) in the jail: the line that says where to put it. */
static int path_fail(const struct gm_jail *j, const struct gm_jail_path *p, int e, const char *what,
		     struct gm_error *err)
{
	char q[GM_ESCAPE_PATH], r[GM_ESCAPE_PATH], b[GM_ESCAPE_SHORT], in[GM_ESCAPE_PATH];
	size_t n = strlen(j->root);

	Q(p->path, q);
	Q(j->root, r);
	Q(base_name(p->path), b);
	if (!strncmp(p->path, j->root, n) && p->path[n] == '/')
		return gm_fail(err, BAD, e, "%s%s%s: inside the jail %s is /; name it %s", p->option, SEP(p->option), q,
			       r, Q(p->path + n, in));
	return gm_fail(err, BAD, e, "%s%s%s: %s in the jail, which sees only %s; put %s in %s and name it /%s",
		       p->option, SEP(p->option), q, what, r, b, r, b);
}

static int check_one(const struct gm_jail *j, int rootfd, const struct gm_jail_path *p, struct gm_error *err)
{
	char q[GM_ESCAPE_PATH], rq[GM_ESCAPE_PATH], b[GM_ESCAPE_SHORT], d[PATH_MAX];
	const char *own = own_dir_of(p->path);
	struct stat st;
	int fd;

	if (!strcmp(p->path, "/dev/null") && p->kind != GM_JAIL_PATH_DIR)
		return 0;
	if (own)
		return gm_fail(err, BAD, EINVAL,
			       "%s%s%s: /%s in the jail is its own, not DIR's; put the file in %s and name it /%s",
			       p->option, SEP(p->option), Q(p->path, q), own, Q(j->root, rq), Q(base_name(p->path), b));
	if (p->kind == GM_JAIL_PATH_CREATE) {
		/* gmvm makes it: its directory must be there */
		snprintf(d, sizeof(d), "%s", p->path);
		char *slash = strrchr(d, '/');

		if (!slash)
			return 0; /* relative to the jail's cwd, which is / */
		slash[slash == d ? 1 : 0] = '\0';
		fd = open_in_root(rootfd, d, true);
		if (fd < 0)
			return path_fail(j, p, -fd, "its directory is not", err);
		close(fd);
		return 0;
	}
	fd = open_in_root(rootfd, p->path, p->kind == GM_JAIL_PATH_DIR);
	if (fd < 0)
		return path_fail(j, p, -fd, fd == -ENOTDIR ? "not a directory" : "no such file", err);
	int r = fstat(fd, &st);
	close(fd);
	if (r < 0)
		return path_fail(j, p, errno, "unreadable", err);
	if (p->kind == GM_JAIL_PATH_FILE && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return path_fail(j, p, EINVAL, "not a file", err);
	return 0;
}

int gm_jail_check_paths(const struct gm_jail *j, struct gm_error *err)
{
	char q[GM_ESCAPE_PATH];
	int rootfd = open(j->root, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (rootfd < 0)
		return gm_fail(err, BAD, errno, "--root %s: %s", Q(j->root, q), strerror(errno));
	int r = 0;
	for (unsigned i = 0; !r && i < j->npaths; i++)
		r = check_one(j, rootfd, &j->paths[i], err);
	close(rootfd);
	return r;
}

int gm_jail_check_cgroup(const struct gm_jail *j, struct gm_error *err)
{
	char q[GM_ESCAPE_PATH], p[PATH_MAX];
	struct statfs fs;
	struct stat st;

	if (!j->cgroup)
		return 0;
	Q(j->cgroup, q);
	if (j->cgroup[0] != '/' || strstr(j->cgroup, "/..") || strlen(j->cgroup) >= sizeof(p))
		return gm_fail(err, BAD, EINVAL,
			       "--cgroup %s: give an absolute path without '..' under a cgroup v2 mount, e.g. /sys/fs/cgroup/gmvm/vm1", q);
	if (stat(j->cgroup, &st) == 0 && !S_ISDIR(st.st_mode))
		return gm_fail(err, BAD, ENOTDIR, "--cgroup %s: not a directory; give a cgroup v2 group (a directory)", q);
	/* the deepest part that exists must be cgroup2: the rest is made there */
	snprintf(p, sizeof(p), "%s", j->cgroup);
	while (stat(p, &st) < 0) {
		char *slash = strrchr(p, '/');

		if (!slash || slash == p)
			break;
		*slash = '\0';
	}
	if (statfs(p, &fs) < 0 || fs.f_type != CGROUP2_SUPER_MAGIC) {
		char pq[GM_ESCAPE_PATH];

		return gm_fail(err, BAD, EINVAL,
			       "--cgroup %s: not under a cgroup v2 mount (%s is not cgroup2); give a group under /sys/fs/cgroup on a cgroup v2 host",
			       q, Q(p, pq));
	}
	return 0;
}

int gm_jail_check(const struct gm_jail *j, struct gm_error *err)
{
	int r = gm_jail_check_privilege(err);

	if (!r)
		r = gm_jail_check_ids(j, err);
	if (!r)
		r = gm_jail_check_root(j, err);
	if (!r)
		r = gm_jail_check_paths(j, err);
	if (!r)
		r = gm_jail_check_cgroup(j, err);
	if (!r)
		r = gm_jail_check_kvm(err);
	return r;
}
