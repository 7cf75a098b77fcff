/*
 * gm_machine: a VM with its memory, devices and vCPU threads.  Lifecycle:
 * create (checks, VM, memory, load guest) -> start (vCPU threads) -> wait
 * (until the guest exits or a timeout) -> destroy.  While running it can be
 * paused and resumed; paused, its binding can be switched and vCPU state got
 * and set.  Migration, snapshots and live update are "pause, do, resume".
 *
 * Threading contract
 * - create, set_hooks, set_console_sink, start and destroy belong to one
 *   thread, the owner (gmvm: main()).  destroy must not race any other call.
 * - Between start and destroy any thread may call pause, resume, shutdown,
 *   switch_binding, discard, get/set_vcpu_state, state, info getters and
 *   counters.  Calls that change the machine (pause, resume, shutdown,
 *   switch_binding, discard, set_vcpu_state) are serialised by the machine
 *   itself: two callers never interleave, whatever thread they are on.
 * - Nothing may pause from a vCPU thread (a device callback): pause,
 *   resume-after-pause, switch_binding and get/set_vcpu_state answer
 *   -EDEADLK there instead of waiting for the caller's own vCPU to park.
 * - vCPU state is read and written only while every vCPU is parked: after a
 *   successful gm_machine_pause (or before start); otherwise -EBUSY.
 * - Kicks: gmvm makes a vCPU leave KVM_RUN with GM_KICK_SIGNAL
 *   (SIGRTMIN + 3) sent to that thread with pthread_kill.  The signal is
 *   blocked in every vCPU thread and unblocked only inside KVM_RUN through
 *   KVM_SET_SIGNAL_MASK, then taken with sigtimedwait: no signal handler
 *   is installed and the process's other threads never see it.  A program
 *   embedding libgmvm must not use SIGRTMIN + 3 for anything else.
 * - Hooks (log, event) are called on whichever thread caused them: a vCPU
 *   thread, the halt poller in gm_machine_wait, or the caller of pause.
 *   They must not call back into the machine, and should return quickly.
 * - The library never prints, never touches the terminal and installs no
 *   signal handler: messages go to the log hook, if one is set.
 */
#ifndef GMVM_MACHINE_H
#define GMVM_MACHINE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gmvm/caps.h"
#include "gmvm/config.h"
#include "gmvm/error.h"
#include "gmvm/memory.h"
#include "gmvm/trace.h"
#include "gmvm/vcpu_state.h"

struct gm_machine;

enum gm_exit_kind {
	GM_EXIT_NONE,      /* still running */
	GM_EXIT_PORT,      /* guest wrote to the exit port 0xf4 */
	GM_EXIT_POWEROFF,  /* guest asked to power off (i8042 reset, system event) */
	GM_EXIT_HALTED,    /* every vCPU halted with interrupts off */
	GM_EXIT_CRASH,     /* triple fault, emulation failure, KVM internal error */
	GM_EXIT_TIMEOUT,   /* gm_machine_wait's timeout passed */
	GM_EXIT_STOPPED,   /* gm_machine_stop() */
	GM_EXIT_ERROR,     /* a host-side failure (ioctl failed) */
	GM_EXIT_SHUTDOWN,  /* gm_machine_shutdown(): asked to end (API), status 0 */
	GM_EXIT_MIGRATED,  /* the guest runs on at a migration's destination, status 0 */
	GM_EXIT_UPDATED,   /* a live update's new process runs the guest, status 0 */
};

/* What the machine is doing, as the API reports it. */
enum gm_machine_state {
	GM_STATE_CREATED,  /* built, vCPUs not started */
	GM_STATE_RUNNING,
	GM_STATE_PAUSED,   /* paused by gm_machine_pause() */
	GM_STATE_SHUTDOWN, /* the guest has ended (gm_machine_exit() says why) */
};

/* Exits counted per vCPU, by kind. */
enum gm_exit_counter {
	GM_COUNT_IO,          /* port I/O */
	GM_COUNT_MMIO,
	GM_COUNT_EOI,         /* level-triggered EOI for the userspace IOAPIC */
	GM_COUNT_INTERRUPTED, /* KVM_RUN left for a kick (pause, stop) */
	GM_COUNT_OTHER,       /* everything else (system events, shutdown, errors) */
	GM_COUNT_KINDS,
};

struct gm_counters {
	unsigned ncpus;
	uint64_t exits[GM_MAX_CPUS][GM_COUNT_KINDS];
	uint64_t pauses;    /* times the guest was stopped, for any reason */
	uint64_t paused_ns; /* total time it stood stopped */
	uint64_t halt_checks; /* pauses taken only to confirm that every vCPU halted */
};

/* One change of state, as the event hook receives it. */
enum gm_event_kind {
	GM_EVENT_CREATED,  /* delivered once, when the hooks are set */
	GM_EVENT_RUNNING,  /* vCPUs started */
	GM_EVENT_PAUSED,
	GM_EVENT_RESUMED,
	GM_EVENT_BINDING,  /* memory binding switched: binding, region */
	GM_EVENT_DISCARD,  /* guest memory discarded: gpa, length, region */
	GM_EVENT_SHUTDOWN, /* the guest ended: exit */
	GM_EVENT_MIGRATION, /* a migration changed phase or ended a round: migration */
	GM_EVENT_MIGRATED,  /* the destination runs the guest: migration (then SHUTDOWN) */
	GM_EVENT_REHOME,    /* a re-home changed phase, ended a round, or ended: rehome */
	GM_EVENT_UPDATE,    /* a live update changed phase or ended: update */
};

struct gm_migration_progress;
struct gm_rehome_progress;
struct gm_update_progress;

struct gm_event {
	enum gm_event_kind kind;
	uint64_t time_us;          /* CLOCK_MONOTONIC, microseconds */
	enum gm_bind binding;      /* GM_EVENT_BINDING */
	uint64_t gpa, length;      /* GM_EVENT_DISCARD */
	const char *region;        /* GM_EVENT_BINDING, GM_EVENT_DISCARD: the region's name */
	const struct gm_exit *exit; /* GM_EVENT_SHUTDOWN */
	const struct gm_migration_progress *migration; /* GM_EVENT_MIGRATION, _MIGRATED */
	const struct gm_rehome_progress *rehome;       /* GM_EVENT_REHOME */
	const struct gm_update_progress *update;       /* GM_EVENT_UPDATE */
};

enum gm_log_level { GM_LOG_ERROR, GM_LOG_WARN, GM_LOG_INFO };

/* How the machine reports to its owner (every member may be NULL). */
struct gm_hooks {
	void *opaque;
	/* one line, no newline, no "gmvm: " prefix */
	void (*log)(void *opaque, enum gm_log_level level, const char *line);
	void (*event)(void *opaque, const struct gm_event *ev);
};

struct gm_exit {
	enum gm_exit_kind kind;
	int status;          /* the exit status `gmvm run` uses */
	uint32_t port_value; /* for GM_EXIT_PORT */
	unsigned cpu;        /* the vCPU that ended the machine */
	char reason[256];    /* one line for humans */
};

/* Console output goes here instead of the configured console when set. */
typedef void (*gm_console_sink)(void *opaque, const char *buf, size_t len);

/*
 * Check cfg against caps, create the VM, its memory and devices and load the
 * guest ELF.  Nothing runs yet.  Every refusal happens before the VM exists.
 */
int gm_machine_create(const struct gm_config *cfg, const struct gm_caps *caps,
		      struct gm_machine **out, struct gm_error *err);

/* Set the hooks (call before gm_machine_start); the event hook at once gets GM_EVENT_CREATED. */
void gm_machine_set_hooks(struct gm_machine *m, const struct gm_hooks *hooks);

/* Send console output to sink (call before gm_machine_start). */
void gm_machine_set_console_sink(struct gm_machine *m, gm_console_sink sink, void *opaque);

/* Start one thread per vCPU. */
int gm_machine_start(struct gm_machine *m, struct gm_error *err);

/*
 * Wait for the guest to end, at most timeout seconds (<= 0: forever).
 * Returns 0 with *out filled when it ended, -ETIMEDOUT (out->kind
 * GM_EXIT_TIMEOUT, status 124) when the time passed; the machine is then
 * still running and can be waited for again or stopped.
 */
int gm_machine_wait(struct gm_machine *m, double timeout, struct gm_exit *out);

/* Stop every vCPU for good (idempotent); gm_machine_wait then returns. */
void gm_machine_stop(struct gm_machine *m);

/*
 * End the guest on request: gm_machine_wait returns GM_EXIT_SHUTDOWN with
 * status 0 and reason.  -ESRCH when the guest has already ended.
 */
int gm_machine_shutdown(struct gm_machine *m, const char *reason, struct gm_error *err);

/*
 * Bring every vCPU out of KVM_RUN and park it, and keep it parked until
 * gm_machine_resume.  Before start, the vCPUs park before their first
 * KVM_RUN.  -EALREADY when already paused, -ESRCH when the guest ended,
 * -EDEADLK on a vCPU thread.  resume: -EALREADY when not paused.
 */
int gm_machine_pause(struct gm_machine *m, struct gm_error *err);
int gm_machine_resume(struct gm_machine *m, struct gm_error *err);

enum gm_machine_state gm_machine_state(struct gm_machine *m);
const char *gm_machine_state_name(enum gm_machine_state s);
/* The config the machine was built from (its strings are the machine's copies). */
const struct gm_config *gm_machine_config(const struct gm_machine *m);
/* The machine's UUID as 36 characters and a NUL. */
void gm_machine_uuid(const struct gm_machine *m, char out[37]);
/* 0 and *out once the guest has ended; -EAGAIN while it runs. */
int gm_machine_exit(struct gm_machine *m, struct gm_exit *out);
/* A consistent copy of the counters (any thread, any time). */
void gm_machine_counters(struct gm_machine *m, struct gm_counters *out);
const char *gm_exit_counter_name(enum gm_exit_counter c);
const char *gm_exit_kind_name(enum gm_exit_kind k);

/* Switch the RAM's binding (pauses and resumes around it if running). */
int gm_machine_switch_binding(struct gm_machine *m, enum gm_bind mode, struct gm_error *err);
/* The same for the region called region; -ENOENT (GM_STATUS_BAD_INPUT) naming the regions when there is none. */
int gm_machine_switch_region_binding(struct gm_machine *m, const char *region, enum gm_bind mode,
				     struct gm_error *err);

/* Discard guest memory [gpa, gpa+len) of whichever region holds it: the guest reads zeros there afterwards. */
int gm_machine_discard(struct gm_machine *m, uint64_t gpa, uint64_t len, struct gm_error *err);
/* The same, with the range required inside the region called region (NULL: any region). */
int gm_machine_discard_region(struct gm_machine *m, const char *region, uint64_t gpa, uint64_t len,
			      struct gm_error *err);

/*
 * The machine's devices by their type name ("virtio-balloon", "virtio-net"),
 * for the API, without the core naming any.  set: a run-time setting of the
 * first device of that type (-ENODEV, GM_STATUS_BAD_INPUT, naming the
 * option that adds it, when the VM has none; -ENOENT for an unknown key).
 * each_stats: calls fn once per device that shows numbers, in creation
 * order, with its type name, its index among its type, and its numbers.
 */
struct gm_dev_stat;
int gm_machine_device_set(struct gm_machine *m, const char *type, const char *key, int64_t value,
			  struct gm_error *err);
void gm_machine_device_stats(struct gm_machine *m,
			     void (*fn)(void *opaque, const char *type, unsigned index,
					const struct gm_dev_stat *stats, unsigned n),
			     void *opaque);

/* vCPU state; the machine must be paused (or not yet started). */
unsigned gm_machine_cpus(const struct gm_machine *m);
int gm_machine_get_vcpu_state(struct gm_machine *m, unsigned cpu, struct gm_vcpu_state *st,
			      struct gm_error *err);
int gm_machine_set_vcpu_state(struct gm_machine *m, unsigned cpu, const struct gm_vcpu_state *st,
			      struct gm_error *err);

/* The RAM, the region "ram" (the same as gm_machine_region(m, 0)). */
struct gm_memory *gm_machine_memory(struct gm_machine *m);

/*
 * The memory regions: index 0 is "ram", then the config's regions in
 * order.  Each is a gm_memory; gm_memory_info names it.  NULL past the end,
 * or for a name the machine does not have.
 */
unsigned gm_machine_regions(const struct gm_machine *m);
struct gm_memory *gm_machine_region(struct gm_machine *m, unsigned i);
struct gm_memory *gm_machine_region_named(struct gm_machine *m, const char *name);

/*
 * The one checked accessor for the whole guest-physical space: a host
 * pointer for [gpa, gpa+len) when the range lies in one piece of one region,
 * else NULL.
 */
void *gm_machine_hva(struct gm_machine *m, uint64_t gpa, uint64_t len);

/* Print a vCPU's registers (for a crash report); the vCPU must not be running. */
void gm_machine_dump_vcpu(struct gm_machine *m, unsigned cpu, FILE *out);

/*
 * Copy into *into the start-up trace points this machine reached (checked,
 * VM, memory, loaded, vCPUs, first run, first exit, end); the caller marks
 * its own (start, probed, exit) and prints the whole with gm_trace_print().
 */
void gm_machine_trace(const struct gm_machine *m, struct gm_trace *into);

/* Stop (if running), join threads, free everything. */
void gm_machine_destroy(struct gm_machine *m);

#endif
