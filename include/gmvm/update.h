/*
 * Live update: a running gmvm hands its guest to a new gmvm process (a new
 * binary, or the same one) on the same host.  Nothing of guest memory is
 * copied: the new process receives every region's fd over a UNIX socket
 * (SCM_RIGHTS) with the API's listening socket, the console and event
 * monitor fds and the VM identity lock, builds a new VM over the same
 * memory, loads the state the old one wrote while paused, and runs the
 * guest once the old one has let it go.  See docs/live-update.md.
 *
 * Old side: gm_machine_live_update.  New side: gm_takeover_* (what `gmvm
 * run --takeover FD` does).
 */
#ifndef GMVM_UPDATE_H
#define GMVM_UPDATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "gmvm/caps.h"
#include "gmvm/config.h"
#include "gmvm/error.h"
#include "gmvm/machine.h"

/* Most extra arguments a new process may be given, and fds the owner may add. */
#define GM_UPDATE_MAX_ARGS 32
#define GM_UPDATE_MAX_OWNER_FDS 4

/* An fd of the owner's (not the machine's) that goes along: "api", "events". */
struct gm_handover_fd {
	const char *name;   /* [a-z]+, the new process finds it by this */
	int fd;             /* stays the caller's: sent as a duplicate */
	const char *path;   /* what it is bound to, for the new one's messages (may be NULL) */
};

struct gm_update_params {
	const char *binary;             /* NULL: the running binary (/proc/self/exe) */
	const char *const *args;        /* extra `gmvm run` options for the new process */
	unsigned nargs;
	struct gm_handover_fd owner_fds[GM_UPDATE_MAX_OWNER_FDS];
	unsigned nowner_fds;
	/*
	 * The owner's share of the pause (may be NULL): quiesce runs with the
	 * guest paused, before the fds go (the API stops accepting; clients
	 * wait in the socket's backlog for the new process); unquiesce runs
	 * on an abort after it (serving goes on here; its failure is added to
	 * the update's error).
	 */
	int (*quiesce)(void *opaque, struct gm_error *err);
	int (*unquiesce)(void *opaque, struct gm_error *err);
	/* Right after COMMIT went out (may be NULL): the guest is new_pid's; the owner answers nothing about it any more. */
	void (*committed)(void *opaque, pid_t new_pid);
	/*
	 * Run start(arg), which starts the new process, on a thread of the
	 * owner's choosing, and return its value (may be NULL: on the caller's
	 * thread).  A seccomp filter is inherited across exec: an owner that
	 * confines its threads starts the new gmvm from a thread whose filter
	 * lets a gmvm start (gmvm run: its launcher thread).  -errno if start
	 * could not run.
	 */
	int (*launch)(void *opaque, int (*start)(void *arg), void *arg);
	void *opaque;
};

enum gm_update_phase {
	GM_UPDATE_NONE,       /* none has run */
	GM_UPDATE_STARTING,   /* the new process is being started */
	GM_UPDATE_CHECKING,   /* it checks it can take over; the guest runs */
	GM_UPDATE_HANDOVER,   /* paused: state and fds go over */
	GM_UPDATE_LOADING,    /* paused: the new one builds its VM and loads the state */
	GM_UPDATE_COMPLETED,  /* the new process runs the guest; this one ends */
	GM_UPDATE_REFUSED,    /* the new process cannot take over; nothing was paused */
	GM_UPDATE_ABORTED,    /* it failed or died after the pause; the guest runs on here */
};

/* Where a live update stands (the last one, once it ended). */
struct gm_update_progress {
	enum gm_update_phase phase;
	char binary[256];
	pid_t pid;              /* the new process */
	unsigned updates;       /* live updates this VM has been through before this one */
	double check_ms;        /* the new process's checks, guest running */
	double pause_ms;        /* completed: the guest's one pause, as this side measured it */
	double load_ms;         /* of the pause: the new process building its VM and loading the state */
	double elapsed_ms;
	uint64_t state_bytes;   /* the state stream handed over */
	unsigned fds;           /* fds handed over */
	char bind[128];         /* how the new process binds each region: "ram=mapped,data=mapped" */
	char error[512];        /* refused or aborted: why */
};

/* "none", "starting", "checking", ... */
const char *gm_update_phase_name(enum gm_update_phase p);

/*
 * Hand m to a new process, blocking until it ended.  0: the new process
 * runs the guest and m has ended (GM_EXIT_UPDATED, status 0): the caller
 * stops serving and exits without touching guest memory.  Any failure
 * before the new process said it is ready leaves the guest running here
 * as it was (or paused, if the user had paused it), the new process
 * killed, and err says why.  -EBUSY while a migration, re-home or snapshot
 * runs; refused up front (GM_STATUS_BAD_INPUT) for memory that has no fd
 * (backend=anon: re-home it to memfd first).
 */
int gm_machine_live_update(struct gm_machine *m, const struct gm_update_params *p,
			   struct gm_update_progress *result, struct gm_error *err);

/* A consistent copy of where the current (or last) live update stands. */
void gm_machine_update_progress(struct gm_machine *m, struct gm_update_progress *out);

/* ---- the new process ---- */

struct gm_takeover;

/*
 * On the handover socket fd (ours from now on): read the old process's
 * HELLO, check this binary can take over with user's options (stream
 * version, caps, regions and how each will be bound), build the VM over
 * the memory handed over, and answer.  The guest still runs in the old
 * process.  A refusal is sent to the old process and returned.
 */
int gm_takeover_open(int fd, const struct gm_config *user, const struct gm_caps *caps, struct gm_takeover **out,
		     struct gm_error *err);
/*
 * Receive the state (the old process paused the guest) and the owner's
 * fds, and load the state into the machine, which is then the caller's.
 * It stands paused.
 */
int gm_takeover_receive(struct gm_takeover *t, struct gm_machine **out, struct gm_error *err);
/* An owner's fd the old process sent ("api", "events"), now the caller's; -1 if none. */
int gm_takeover_take_fd(struct gm_takeover *t, const char *name, const char **path);
/*
 * Tell the old process READY, wait for its COMMIT (or its death: then the
 * guest is ours all the same), and resume the guest if it ran.  Until this
 * returns the guest must not run here.
 */
int gm_takeover_finish(struct gm_takeover *t, struct gm_machine *m, struct gm_error *err);
/*
 * After gm_takeover_finish, once the API serves again: the devices take
 * what the old process lets go of after COMMIT (hostfwd ports, a tap),
 * waiting for it if need be (up to 30 s on a loaded host).  The owner's
 * thread, whose allow-list can open them; the guest runs or stays paused
 * meanwhile, and a failure is logged: the guest runs on without.
 */
void gm_takeover_adopt_devices(struct gm_machine *m);
void gm_takeover_close(struct gm_takeover *t);

#endif
