/*
 * sandbox/jail: `gmvm jail`, gmvm run in its own namespaces and root, as an
 * unprivileged user with no capabilities.  jail_check.c checks everything
 * before anything is made; jail_mounts.c makes the root; jail.c makes the
 * processes (the outer gmvm jail, a tiny init as PID 1 of the new PID
 * namespace, and the confined gmvm) and drops the privileges.
 */
#ifndef GM_SANDBOX_JAIL_H
#define GM_SANDBOX_JAIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "gmvm/error.h"

enum gm_jail_netns {
	GM_JAIL_NETNS_AUTO, /* new, unless the VM needs the host's (the CLI decides) */
	GM_JAIL_NETNS_NEW,
	GM_JAIL_NETNS_HOST,
};

/* The rlimits the confined gmvm gets (GM_JAIL_DEFAULT_*, or --rlimit). */
struct gm_jail_rlimits {
	uint64_t nofile; /* open fds: vCPU fds, memfds, disks, sockets, the API's connections */
	uint64_t fsize;  /* the largest file it may write, in bytes: a snapshot's memory file */
	uint64_t nproc;  /* threads of its uid (RLIMIT_NPROC counts threads, per uid) */
};
#define GM_JAIL_DEFAULT_NOFILE 4096
/* 64 vCPUs at most, plus API, migration channels, disk and net workers: ample room */
#define GM_JAIL_DEFAULT_NPROC 512
/* default fsize: the host's RAM (MemTotal) plus 1 GiB, so a snapshot of any guest that fits fits */

/* What a path in gmvm run's arguments must be inside the jail. */
enum gm_jail_path_kind {
	GM_JAIL_PATH_FILE,   /* read: a file that exists (kernel, --initrd, --disk) */
	GM_JAIL_PATH_DIR,    /* read: a directory that exists (--restore) */
	GM_JAIL_PATH_CREATE, /* made by gmvm: its directory must exist (console file, sockets) */
};

struct gm_jail_path {
	const char *option; /* as the message names it, e.g. "--disk" */
	const char *path;   /* as gmvm run will see it, inside the jail */
	enum gm_jail_path_kind kind;
};

#define GM_JAIL_MAX_PATHS 96

struct gm_jail {
	const char *root; /* DIR: the jail's / */
	uid_t uid;
	gid_t gid;
	const char *cgroup; /* a cgroup v2 directory to join, made if missing; NULL: none */
	enum gm_jail_netns netns;
	bool tun; /* /dev/net/tun: the VM has --net tap */
	int keep_fd; /* an fd gmvm run is given (--event-monitor fd=N); every other above 2 is closed; -1: none */
	struct gm_jail_rlimits rl;
	struct gm_jail_path paths[GM_JAIL_MAX_PATHS];
	unsigned npaths;
};

/* No root, uid, gid (-1), no cgroup, netns auto, no fd kept, the default rlimits. */
void gm_jail_defaults(struct gm_jail *j);

/* "nofile=N,fsize=BYTES,nproc=N" (any subset; fsize takes 512M, 4G ...) into rl. */
int gm_jail_parse_rlimit(const char *s, struct gm_jail_rlimits *rl, struct gm_error *err);

/* Add a path gmvm run will open inside the jail; -E2BIG past GM_JAIL_MAX_PATHS. */
int gm_jail_add_path(struct gm_jail *j, const char *option, const char *path, enum gm_jail_path_kind kind,
		     struct gm_error *err);

/*
 * jail_check.c: every check, before anything is made, each failure one line
 * naming the fix (status 2; 3 for a host without /dev/kvm).  The pieces are
 * separate so tests can run them without root or KVM.
 */
int gm_jail_check(const struct gm_jail *j, struct gm_error *err);
int gm_jail_check_privilege(struct gm_error *err); /* root with CAP_SYS_ADMIN */
int gm_jail_check_kvm(struct gm_error *err);       /* the host's /dev/kvm */
int gm_jail_check_ids(const struct gm_jail *j, struct gm_error *err);
int gm_jail_check_root(const struct gm_jail *j, struct gm_error *err);
int gm_jail_check_paths(const struct gm_jail *j, struct gm_error *err);
int gm_jail_check_cgroup(const struct gm_jail *j, struct gm_error *err);

/*
 * jail_mounts.c, in the new mount namespace (and PID namespace, for /proc):
 * make / private, pivot into j->root with the old root detached, then mount
 * the jail's own /dev, /proc, /sys (read-only, the memory facts only) and
 * /run.  made gets which of them had to be created as empty directories in
 * DIR, for gm_jail_unmount_root.
 */
#define GM_JAIL_MADE_DEV 1u
#define GM_JAIL_MADE_PROC 2u
#define GM_JAIL_MADE_SYS 4u
#define GM_JAIL_MADE_RUN 8u
int gm_jail_mount_root(const struct gm_jail *j, unsigned *made, struct gm_error *err);
/* At the end: unmount them and remove the directories made, so DIR is as it was. */
void gm_jail_unmount_root(unsigned made);

/* jail.c: make the cgroup (if missing) and move pid into it. */
int gm_jail_join_cgroup(const char *path, pid_t pid, struct gm_error *err);

/*
 * Run main_fn(argc, argv) confined as j says, in a child of a tiny init;
 * wait for it, forwarding SIGTERM, SIGINT and SIGHUP.  Returns its exit
 * status (128 + N when a signal N ended it), or a negative errno with err
 * set when the jail could not be made.
 */
int gm_jail_run(const struct gm_jail *j, int (*main_fn)(int, char **), int argc, char **argv,
		struct gm_error *err);

#endif
