/*
 * vmm/: the machine.  One thread per vCPU runs KVM_RUN and dispatches exits
 * to the devices; the thread that created the machine waits, pauses,
 * resumes and stops it.  This header is shared by the vmm/ files only.
 *
 * Locking: m->lock guards the run state (pause depth, parked count, stop,
 * exit).  A vCPU leaves KVM_RUN when it finds immediate_exit set or gets
 * GM_KICK_SIGNAL; it then parks in gm_vcpu_park() while paused.
 */
#ifndef GM_VMM_H
#define GM_VMM_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>

#include "dev/dev.h"
#include "gmvm/machine.h"
#include "kvm/kvm.h"

#define GM_KICK_SIGNAL (SIGRTMIN + 3)

struct gm_vcpu {
	struct gm_machine *m;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	bool thread_done;
};

struct gm_machine {
	struct gm_config cfg;
	char *kernel, *cmdline, *console_path; /* owned copies of cfg's strings */
	struct gm_caps caps;
	int kvm_fd, vm_fd;
	struct gm_memory *mem;
	struct gm_iobus *bus;
	struct gm_console_io *console;
	struct gm_serial *serial;
	struct gm_exit_port *exit_port;
	struct gm_ioapic *ioapic;
	struct gm_dev_host host;
	uint32_t saved_msrs[GM_MAX_SAVED_MSRS];
	unsigned nsaved_msrs;

	unsigned ncpus;
	struct gm_vcpu vcpus[GM_MAX_CPUS];

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started;
	unsigned pause_depth;  /* > 0: vCPUs must park */
	unsigned parked;       /* vCPU threads parked now */
	unsigned live;         /* vCPU threads not yet finished */
	bool stopping;
	struct gm_exit exit;   /* first reason to end wins */

	struct gm_trace trace;  /* the points this machine marked */
};

/* vcpu.c */
int gm_vcpus_create(struct gm_machine *m, enum gm_entry entry, uint64_t entry_addr, struct gm_error *err);
int gm_vcpus_start(struct gm_machine *m, struct gm_error *err);
void gm_vcpus_destroy(struct gm_machine *m);

/* pause.c */
/* Install the kick signal's handler (idempotent, process-wide). */
int gm_kick_install(struct gm_error *err);
/* With m->lock held: make every running vCPU leave KVM_RUN soon. */
void gm_kick_all_locked(struct gm_machine *m);
/* On a vCPU thread after KVM_RUN returned EINTR: park while paused; true when the vCPU must stop. */
bool gm_vcpu_park(struct gm_vcpu *v);
/* Record why the machine ends (first caller wins) and stop every vCPU. */
void gm_machine_end(struct gm_machine *m, enum gm_exit_kind kind, int status, uint32_t value,
		    unsigned cpu, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* True when every vCPU is halted with interrupts off (machine paused). */
bool gm_all_vcpus_halted(struct gm_machine *m);

#endif
