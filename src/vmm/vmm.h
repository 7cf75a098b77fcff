/*
 * vmm/: the machine.  One thread per vCPU runs KVM_RUN and dispatches exits
 * to the devices; the thread that created the machine waits, pauses,
 * resumes and stops it.  This header is shared by the vmm/ files only.
 *
 * Locking: m->op_lock serialises the calls that change the machine (see
 * the threading contract in gmvm/machine.h); m->lock, always taken after
 * it, guards the run state (hold depth, parked count, stop, exit).  A vCPU
 * leaves KVM_RUN when it finds immediate_exit set or gets GM_KICK_SIGNAL
 * (blocked outside KVM_RUN, see pause.c); it then parks in gm_vcpu_park()
 * while held.
 */
#ifndef GM_VMM_H
#define GM_VMM_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <time.h>

#include "dev/dev.h"
#include "gmvm/machine.h"
#include "gmvm/migration.h"
#include "gmvm/rehome.h"
#include "gmvm/update.h"
#include "kvm/kvm.h"
#include "x86/x86.h"

#define GM_KICK_SIGNAL (SIGRTMIN + 3)

#define GM_MAX_DEVICES 32

struct gm_device {
	const struct gm_device_type *type;
	void *dev;
};

struct gm_vcpu {
	struct gm_machine *m;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool thread_started;
	bool thread_done;
	uint64_t exits[GM_COUNT_KINDS]; /* written by this vCPU's thread only, read relaxed */
	uint64_t cpu_ns_seen;           /* its thread's CPU time at the halt poller's last look */
};

/* A migration's record on its machine (src/move runs it; vm.info reads it). */
struct gm_migration_slot {
	pthread_mutex_t lock;       /* guards prog */
	struct gm_migration_progress prog;
	int running;                /* atomic: one migration at a time */
	int cancel;                 /* atomic: vm.migration-cancel asked */
};

/* A re-home's record on its machine (src/move/rehome.c runs it; vm.info reads it). */
struct gm_rehome_slot {
	pthread_mutex_t lock;       /* guards prog */
	struct gm_rehome_progress prog;
	int running;                /* atomic: one re-home at a time */
	int cancel;                 /* atomic: vm.memory-rehome-cancel asked */
};

/* A live update's record on its machine (src/move/update.c runs it; vm.info reads it). */
struct gm_update_slot {
	pthread_mutex_t lock;       /* guards prog */
	struct gm_update_progress prog;
	int running;                /* atomic: one live update at a time */
	unsigned count;             /* live updates this VM went through (carried to the next process) */
};

struct gm_machine {
	struct gm_config cfg;
	char *kernel, *cmdline, *console_path; /* owned copies of cfg's strings */
	uint8_t uuid[16];      /* the VM's identity: --uuid or made at create */
	int lock_fd;           /* the identity lock (identity.c), held for the machine's life */
	struct gm_ondemand *ondemand; /* restore-mode=ondemand's page server, or NULL */
	char snapshot_id[37];  /* the last snapshot taken or restored, parent of the next diff */
	struct gm_caps caps;
	int kvm_fd, vm_fd;
	struct gm_dirty_rings *rings; /* the VM's dirty rings (mem/dirty_ring.h), NULL: bitmap log */
	/* The memory regions: mems[0] is "ram", then cfg.regions in order, each
	 * named within the VM (gm_memory_name) and with memslots of its own. */
	struct gm_memory *mems[GM_MAX_REGIONS];
	unsigned nmems;
	struct gm_memory *mem;  /* == mems[0], the RAM: the boot tables, the image, vm.info's first */
	struct gm_iobus *bus;
	struct gm_console_io *console;
	struct gm_resources *res;
	struct gm_device devs[GM_MAX_DEVICES]; /* in creation order */
	unsigned ndevs;
	char dev_cmdline[GM_BOOT_CMDLINE_MAX]; /* the devices' kernel command-line entries (virtio_mmio.device=...) */
	/* the interrupt controller, as it offered itself (gm_dev_host.set_irqchip) */
	void (*chip_set_irq)(void *chip, unsigned pin, bool level);
	void (*chip_eoi)(void *chip, uint8_t vector);
	void *chip;
	/* the level-triggered routes last given to KVM, for the state stream */
	struct gm_msi_route routes[GM_IOAPIC_PINS];
	unsigned nroutes;
	uint32_t saved_msrs[GM_MAX_SAVED_MSRS];
	unsigned nsaved_msrs;
	/* the --cpu template the vCPUs were built with, canonical, with what was
	 * hidden for an emulated CPL0 (cfg.cpu points here; the state header carries it) */
	char cpu_spec[GM_CPU_SPEC_MAX];
	char cpu_note[64];     /* those hidden features, logged when the vCPUs start; "" none */
	uint64_t xcr0_allowed; /* what that CPUID lets XCR0 hold: a state asking for more is refused */

	unsigned ncpus;
	struct gm_vcpu vcpus[GM_MAX_CPUS];

	struct gm_hooks hooks;

	pthread_mutex_t op_lock; /* serialises pause, resume, shutdown, rebind, discard, state set */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool started;
	unsigned pause_depth;  /* holds taken (gm_hold): > 0: vCPUs must park */
	bool user_paused;      /* one of those holds is gm_machine_pause's */
	unsigned parked;       /* vCPU threads parked now */
	unsigned live;         /* vCPU threads not yet finished */
	bool stopping;
	struct gm_exit exit;   /* first reason to end wins */
	uint64_t pauses, paused_ns, halt_checks;
	struct timespec held_since; /* when pause_depth last left 0 */
	/* gm_devices_quiesce/resume run without m->lock (devices take their own
	 * locks, wait for I/O); these, under m->lock, keep them one at a time and
	 * a resume from undoing the quiesce of a hold taken since the release */
	bool devs_busy;        /* a quiesce or resume runs */
	bool devs_quiet;       /* quiesced, not resumed since */

	struct gm_trace trace;  /* the points this machine marked */
	struct gm_migration_slot migration;
	struct gm_rehome_slot rehome;
	struct gm_update_slot update;
	/* a live update's new process runs the guest: never touch its memory again */
	bool handed_over;
};

/* vcpu.c */
/* With boot, vCPU 0 gets the boot registers of entry; without, a restore sets every vCPU. */
int gm_vcpus_create(struct gm_machine *m, bool boot, enum gm_entry entry, uint64_t entry_addr, struct gm_error *err);
int gm_vcpus_start(struct gm_machine *m, struct gm_error *err);
void gm_vcpus_destroy(struct gm_machine *m);

/* What a live update's new process builds on, handed over by the old one (fds stay the caller's). */
struct gm_handed {
	int region_fds[GM_MAX_REGIONS]; /* every region's memory, in region order ("ram" first) */
	int console_fd;                 /* the console file; -1: the console is not a file */
	const char *console_path;       /* its name, for messages */
	int lock_fd;                    /* the VM identity lock, held */
};

/* machine.c: create with (boot) or without (restore) a guest image; handed: over a live update's fds, else NULL */
int gm_machine_build(const struct gm_config *cfg, const struct gm_caps *caps, bool boot, const struct gm_handed *handed,
		     struct gm_machine **out, struct gm_error *err);

/* regions.c */
/*
 * Before any VM exists: the config's regions checked as a whole (names,
 * count, each memory against caps) and placed above the RAM (cfg.regions'
 * gpa filled in), refusals naming the region.
 */
int gm_regions_prepare(struct gm_machine *m, const struct gm_caps *caps, struct gm_error *err);
/* The index in m->mems of the region called name, or -ENOENT with a message naming the regions there are. */
int gm_machine_region_index(const struct gm_machine *m, const char *name, struct gm_error *err);

/* ondemand.c: restore-mode=ondemand, guest RAM filled by userfaultfd on first touch */
struct gm_page_source {
	const char *path;        /* a snapshot's memory file */
	const uint64_t *bitmap;  /* the pages it holds (a diff), NULL: all (the base) */
};
struct gm_ondemand;
/*
 * Serve every region of m from its chain: src[r * n + i] is link i (base
 * first) of region r, for m->nmems regions.  Copies what it needs, the
 * sources may go.
 */
int gm_ondemand_start(struct gm_machine *m, const struct gm_page_source *src, unsigned n, struct gm_error *err);
/* Stop serving (the vCPUs must have stopped) and free everything. */
void gm_ondemand_stop(struct gm_ondemand *od);

/* identity.c: one owner per VM identity on this host (an flock) */
int gm_identity_lock(const uint8_t uuid[16], int *fd, struct gm_error *err);
/* The same, waiting up to wait_ms for a holder that is going away (a migration's other end). */
int gm_identity_lock_wait(const uint8_t uuid[16], int *fd, unsigned wait_ms, struct gm_error *err);
void gm_identity_unlock(const uint8_t uuid[16], int fd);
/* The lock a live update handed over (held through the open file it shares): checked, duplicated into *fd. */
int gm_identity_adopt(const uint8_t uuid[16], int handed_fd, int *fd, struct gm_error *err);

/* vcpu_state.c: with m->op_lock held and every vCPU parked */
int gm_vcpu_get_locked(struct gm_machine *m, unsigned cpu, struct gm_vcpu_state *st, struct gm_error *err);
int gm_vcpu_set_locked(struct gm_machine *m, unsigned cpu, const struct gm_vcpu_state *st, struct gm_error *err);

/* devices.c: the registry's instances on this machine */
int gm_devices_create(struct gm_machine *m, struct gm_error *err);
int gm_devices_start(struct gm_machine *m, struct gm_error *err);
/* With every vCPU parked: each device finishes what it has in flight (gm_hold calls it). */
void gm_devices_quiesce(struct gm_machine *m);
/* Its pair, when the last hold ends (gm_release calls it): held-back device work goes on. */
void gm_devices_resume(struct gm_machine *m);
/* True when a device writes guest memory (gm_device_type.writes_guest). */
bool gm_devices_write_guest(const struct gm_machine *m);
/* The guest went to another process for good: devices let go of host resources it needs (gm_device_type.release). */
void gm_devices_release(struct gm_machine *m);
/* A live update's COMMIT came: devices take what the old process let go of (gm_device_type.adopt). */
void gm_devices_adopt(struct gm_machine *m);
/*
 * The guest gave back RAM [gpa, gpa+len) (gm_dev_host.discard, vmm/give_back.c):
 * free the backing pages inside (hugetlb: whole huge pages only), mark them
 * written for dirty tracking; *freed is what was freed.  No machine-wide lock.
 */
int gm_machine_give_back(struct gm_machine *m, uint64_t gpa, uint64_t len, uint64_t *freed, struct gm_error *err);
void gm_devices_destroy(struct gm_machine *m);

/* pause.c */
/* On a vCPU thread, before its first KVM_RUN: block the kick outside KVM_RUN. */
int gm_kick_setup_vcpu(struct gm_vcpu *v, struct gm_error *err);
/* On a vCPU thread after KVM_RUN returned EINTR: take the pending kick. */
void gm_kick_consume(void);
/* With m->lock held: make every running vCPU leave KVM_RUN soon. */
void gm_kick_all_locked(struct gm_machine *m);
/* On a vCPU thread before KVM_RUN: park while held; true when the vCPU must stop. */
bool gm_vcpu_park(struct gm_vcpu *v);
/*
 * Take a hold: every vCPU leaves KVM_RUN and parks until the matching
 * gm_release.  Holds nest (an operation inside a user pause).  -EDEADLK on
 * a vCPU thread, -ESRCH when the machine ended.
 */
int gm_hold(struct gm_machine *m, struct gm_error *err);
void gm_release(struct gm_machine *m);
/* A hold only if every vCPU is already parked (or none started); -EBUSY otherwise. */
int gm_hold_if_parked(struct gm_machine *m, struct gm_error *err);
/* True on one of m's vCPU threads. */
bool gm_on_vcpu_thread(struct gm_machine *m);
/* Record why the machine ends (first caller wins) and stop every vCPU. */
void gm_machine_end(struct gm_machine *m, enum gm_exit_kind kind, int status, uint32_t value,
		    unsigned cpu, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* True when every vCPU is halted with interrupts off (machine paused). */
bool gm_all_vcpus_halted(struct gm_machine *m);

/* hooks.c */
void gm_emit(struct gm_machine *m, struct gm_event ev);
void gm_log(struct gm_machine *m, enum gm_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
uint64_t gm_now_us(void);
uint64_t gm_ns_since(const struct timespec *t);

/* halt.c: the owner's look for a guest that halted for good (see gm_machine_wait) */
struct gm_halt_poll {
	double interval;      /* seconds until the next look */
	uint64_t pauses_seen; /* m->pauses at the last look */
};
void gm_halt_poll_init(struct gm_halt_poll *hp);
/* Called by gm_machine_wait without m->lock; ends the machine when every vCPU halted. */
void gm_halt_poll(struct gm_machine *m, struct gm_halt_poll *hp);

#endif
