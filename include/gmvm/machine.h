/*
 * gm_machine: a VM with its memory, devices and vCPU threads.  Lifecycle:
 * create (checks, VM, memory, load guest) -> start (vCPU threads) -> wait
 * (until the guest exits or a timeout) -> destroy.  While running it can be
 * paused and resumed; paused, its binding can be switched and vCPU state got
 * and set.  Migration, snapshots and live update are "pause, do, resume".
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

/* Bring every vCPU out of KVM_RUN and park it; resume lets them go on. */
int gm_machine_pause(struct gm_machine *m, struct gm_error *err);
int gm_machine_resume(struct gm_machine *m, struct gm_error *err);

/* Switch the memory binding (pauses and resumes around it if running). */
int gm_machine_switch_binding(struct gm_machine *m, enum gm_bind mode, struct gm_error *err);

/* Discard guest RAM [gpa, gpa+len): the guest reads zeros there afterwards. */
int gm_machine_discard(struct gm_machine *m, uint64_t gpa, uint64_t len, struct gm_error *err);

/* vCPU state; the machine must be paused (or not yet started). */
unsigned gm_machine_cpus(const struct gm_machine *m);
int gm_machine_get_vcpu_state(struct gm_machine *m, unsigned cpu, struct gm_vcpu_state *st,
			      struct gm_error *err);
int gm_machine_set_vcpu_state(struct gm_machine *m, unsigned cpu, const struct gm_vcpu_state *st,
			      struct gm_error *err);

struct gm_memory *gm_machine_memory(struct gm_machine *m);

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
