/*
 * sandbox/jail_mounts: the jail's root, made in its own mount namespace so
 * the host sees none of it.  DIR becomes / (pivot_root, the old root
 * detached, so nothing of the host stays reachable), then the jail mounts
 * what gmvm run needs and nothing more, all after the pivot so that every
 * path resolves inside DIR:
 *   /dev   a small tmpfs with kvm, null, urandom (and net/tun for --net tap),
 *          owned by the VM's user;
 *   /proc  for the new PID namespace (the probe reads meminfo and a few
 *          /proc/sys knobs; gmvm reads /proc/self);
 *   /sys   a read-only tmpfs holding only read-only binds of
 *          /sys/kernel/mm (hugepage pools, THP, KSM) and
 *          /sys/devices/system/node (NUMA nodes), what the probe reads;
 *   /run   a tmpfs of the VM's user for its identity lock (GMVM_RUN_DIR).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "sandbox/jail.h"
#include "util/escape.h"

#define NOSUID_NOEXEC (MS_NOSUID | MS_NOEXEC)

static int fail_errno(struct gm_error *err, const char *what, const char *path)
{
	int e = errno;
	char q[GM_ESCAPE_PATH];

	return gm_fail(err, GM_STATUS_FAILURE, e, "cannot %s %s for the jail: %s", what, gm_escape(path, q, sizeof(q)),
		       strerror(e));
}

/* A mount point in the new root: made when missing (recorded in made), else it must be a directory. */
static int mount_point(const char *path, unsigned bit, unsigned *made, struct gm_error *err)
{
	if (mkdir(path, 0755) == 0) {
		*made |= bit;
		return 0;
	}
	if (errno != EEXIST)
		return fail_errno(err, "make", path);
	return 0;
}

struct node {
	const char *path;
	unsigned maj, min;
	mode_t mode;
};

static int make_dev(const struct gm_jail *j, unsigned *made, struct gm_error *err)
{
	static const struct node nodes[] = {
		{ "/dev/kvm", 10, 232, 0600 },
		{ "/dev/null", 1, 3, 0666 },
		{ "/dev/urandom", 1, 9, 0666 },
	};
	static const struct node tun = { "/dev/net/tun", 10, 200, 0600 };

	int r = mount_point("/dev", GM_JAIL_MADE_DEV, made, err);

	if (r)
		return r;
	if (mount("tmpfs", "/dev", "tmpfs", NOSUID_NOEXEC, "mode=0755,size=64k,nr_inodes=16") < 0)
		return fail_errno(err, "mount a tmpfs on", "/dev");
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]) + j->tun; i++) {
		const struct node *n = i < sizeof(nodes) / sizeof(nodes[0]) ? &nodes[i] : &tun;

		if (n == &tun && mkdir("/dev/net", 0755) < 0)
			return fail_errno(err, "make", "/dev/net");
		if (mknod(n->path, S_IFCHR | n->mode, makedev(n->maj, n->min)) < 0)
			return fail_errno(err, "make the device", n->path);
		/* mknod's mode went through the umask: set it exactly */
		if (chown(n->path, j->uid, j->gid) < 0 || chmod(n->path, n->mode) < 0)
			return fail_errno(err, "give the VM's user", n->path);
	}
	/* nothing more comes in */
	if (mount(NULL, "/dev", NULL, MS_REMOUNT | NOSUID_NOEXEC | MS_RDONLY, NULL) < 0)
		return fail_errno(err, "make read-only", "/dev");
	return 0;
}

/* Bind the fresh sysfs's sub (at /sys/.host/sub) to /sys/sub, read-only; skipped when the kernel has none. */
static int bind_sys(const char *sub, struct gm_error *err)
{
	char from[128], to[128], part[128];
	struct stat st;

	snprintf(from, sizeof(from), "/sys/.host/%s", sub);
	snprintf(to, sizeof(to), "/sys/%s", sub);
	if (stat(from, &st) < 0)
		return 0;
	for (char *s = to + 1; (s = strchr(s, '/')); s++) {
		snprintf(part, sizeof(part), "%.*s", (int)(s - to), to);
		if (mkdir(part, 0755) < 0 && errno != EEXIST)
			return fail_errno(err, "make", part);
	}
	if (mkdir(to, 0755) < 0 && errno != EEXIST)
		return fail_errno(err, "make", to);
	if (mount(from, to, NULL, MS_BIND, NULL) < 0)
		return fail_errno(err, "bind", to);
	if (mount(NULL, to, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | NOSUID_NOEXEC | MS_NODEV, NULL) < 0)
		return fail_errno(err, "make read-only", to);
	return 0;
}

static int make_sys(unsigned *made, struct gm_error *err)
{
	const unsigned long fl = NOSUID_NOEXEC | MS_NODEV;

	int r = mount_point("/sys", GM_JAIL_MADE_SYS, made, err);

	if (r)
		return r;
	if (mount("tmpfs", "/sys", "tmpfs", fl, "mode=0755,size=64k") < 0)
		return fail_errno(err, "mount a tmpfs on", "/sys");
	/* a whole sysfs, briefly, to bind the two parts from; then it goes */
	if (mkdir("/sys/.host", 0700) < 0)
		return fail_errno(err, "make", "/sys/.host");
	if (mount("sysfs", "/sys/.host", "sysfs", fl | MS_RDONLY, NULL) < 0)
		return fail_errno(err, "mount sysfs on", "/sys/.host");
	r = bind_sys("kernel/mm", err);
	if (!r)
		r = bind_sys("devices/system/node", err);
	if (umount2("/sys/.host", MNT_DETACH) < 0 && !r)
		r = fail_errno(err, "unmount", "/sys/.host");
	if (!r && rmdir("/sys/.host") < 0)
		r = fail_errno(err, "remove", "/sys/.host");
	if (!r && mount(NULL, "/sys", NULL, MS_REMOUNT | fl | MS_RDONLY, NULL) < 0)
		r = fail_errno(err, "make read-only", "/sys");
	return r;
}

int gm_jail_mount_root(const struct gm_jail *j, unsigned *made, struct gm_error *err)
{
	struct statvfs vfs;
	char opts[64];

	*made = 0;
	/* nothing we mount may reach the host's namespace, nor the host's reach us */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail_errno(err, "make private", "/");
	/* pivot_root wants a mount point: DIR bound on itself, submounts and all */
	if (mount(j->root, j->root, NULL, MS_BIND | MS_REC, NULL) < 0)
		return fail_errno(err, "bind", j->root);
	/* keep a read-only DIR read-only; no set-uid, nothing executed from it */
	unsigned long ro = statvfs(j->root, &vfs) == 0 && (vfs.f_flag & ST_RDONLY) ? MS_RDONLY : 0;
	if (mount(NULL, j->root, NULL, MS_REMOUNT | MS_BIND | NOSUID_NOEXEC | ro, NULL) < 0)
		return fail_errno(err, "remount nosuid,noexec", j->root);
	if (chdir(j->root) < 0)
		return fail_errno(err, "enter", j->root);
	/* the old root goes on top of the new one, and is then detached: no path leads out */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return fail_errno(err, "pivot_root into", j->root);
	if (umount2(".", MNT_DETACH) < 0)
		return fail_errno(err, "detach the host's root from", j->root);
	if (chdir("/") < 0)
		return fail_errno(err, "enter", "/");
	int r = make_dev(j, made, err);
	if (!r && (r = mount_point("/proc", GM_JAIL_MADE_PROC, made, err)) == 0 &&
	    mount("proc", "/proc", "proc", NOSUID_NOEXEC | MS_NODEV, NULL) < 0)
		r = fail_errno(err, "mount", "/proc");
	if (!r)
		r = make_sys(made, err);
	if (!r && (r = mount_point("/run", GM_JAIL_MADE_RUN, made, err)) == 0) {
		snprintf(opts, sizeof(opts), "mode=0700,size=1m,uid=%u,gid=%u", (unsigned)j->uid, (unsigned)j->gid);
		if (mount("tmpfs", "/run", "tmpfs", NOSUID_NOEXEC | MS_NODEV, opts) < 0)
			r = fail_errno(err, "mount a tmpfs on", "/run");
	}
	return r;
}

void gm_jail_unmount_root(unsigned made)
{
	static const struct {
		const char *path;
		unsigned bit;
	} pts[] = {
		{ "/dev", GM_JAIL_MADE_DEV },
		{ "/proc", GM_JAIL_MADE_PROC },
		{ "/sys", GM_JAIL_MADE_SYS },
		{ "/run", GM_JAIL_MADE_RUN },
	};

	for (size_t i = 0; i < sizeof(pts) / sizeof(pts[0]); i++) {
		umount2(pts[i].path, MNT_DETACH);
		if (made & pts[i].bit)
			rmdir(pts[i].path);
	}
}
