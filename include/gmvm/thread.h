/*
 * The kinds of thread a gmvm process runs, and the one hook through which
 * each tells its owner that it started.  Every thread libgmvm makes calls
 * gm_thread_started(kind) before it does anything else, so an owner can
 * confine it (gmvm run installs a seccomp allow-list per kind, src/sandbox/).
 * The library itself confines nothing.
 */
#ifndef GMVM_THREAD_H
#define GMVM_THREAD_H

enum gm_thread_kind {
	GM_THREAD_MAIN,      /* the owner's thread once the machine runs: waits for its end, tears it down */
	GM_THREAD_VCPU,      /* KVM_RUN and the exits it handles: device emulation, memory given back */
	GM_THREAD_API,       /* the API server's poller and its connection threads */
	GM_THREAD_MIGRATION, /* operations: snapshot, migration (both ends), re-homing, live-update handover */
	GM_THREAD_BLK_IO,    /* virtio-blk's io_uring reaper or its worker */
	GM_THREAD_CONSOLE,   /* console input */
	GM_THREAD_NET,       /* a net backend's thread (libslirp or tap) and the gratuitous-ARP announcer */
	GM_THREAD_LAUNCHER,  /* starts a live update's new gmvm (exec); what confines it, that gmvm keeps for good */
	GM_THREAD_KINDS
};

/* "main", "vcpu", "api", "migration", "blk-io", "console", "net", "launcher"; "unknown" else. */
const char *gm_thread_kind_name(enum gm_thread_kind kind);

/*
 * Called at the start of every thread of that kind (and by the owner for
 * its own thread), on that thread.  Set once, before any machine, API or
 * device exists; NULL: nothing happens.  Process-wide by nature: a seccomp
 * filter belongs to a thread, not to a machine.
 */
typedef void (*gm_thread_start_fn)(enum gm_thread_kind kind, void *opaque);
void gm_thread_set_start_hook(gm_thread_start_fn fn, void *opaque);

/* Run the hook for kind on the calling thread (libgmvm's threads call it first thing). */
void gm_thread_started(enum gm_thread_kind kind);

#endif
