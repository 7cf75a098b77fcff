/*
 * Live migration: a running machine moved to a gmvm on another host (or
 * another process), over TCP or a UNIX socket, while the guest keeps
 * running.  Precopy sends all memory, then rounds of the pages written
 * meanwhile, then pauses once for the rest and the state; the source ends
 * only when the destination says its guest runs.  See docs/migration.md.
 */
#ifndef GMVM_MIGRATION_H
#define GMVM_MIGRATION_H

#include <stdbool.h>
#include <stdint.h>

#include "gmvm/caps.h"
#include "gmvm/config.h"
#include "gmvm/error.h"
#include "gmvm/machine.h"

#define GM_MIGRATION_MAX_CONNECTIONS 16

struct gm_migration_params {
	const char *url;        /* tcp:HOST:PORT or unix:PATH */
	unsigned downtime_ms;   /* the pause to aim for, 1..60000 (0: 50) */
	unsigned timeout_s;     /* the whole migration, 0: no limit */
	unsigned connections;   /* 1..16 (0: 1) */
	bool postcopy;          /* start the guest over there before all memory is there */
	bool compress;          /* zstd on every run of pages */
};

enum gm_migration_phase {
	GM_MIGRATION_NONE,          /* none has run */
	GM_MIGRATION_CONNECTING,
	GM_MIGRATION_PRECOPY,       /* rounds while the guest runs */
	GM_MIGRATION_STOP_AND_COPY, /* paused: the rest, the state, the answer */
	GM_MIGRATION_POSTCOPY,      /* the guest runs over there; pages follow */
	GM_MIGRATION_COMPLETED,
	GM_MIGRATION_FAILED,
	GM_MIGRATION_CANCELLED,
};

/* Where a migration stands (the last one, once it ended). */
struct gm_migration_progress {
	enum gm_migration_phase phase;
	char url[300];
	unsigned round;
	uint64_t pages_total;    /* 4 KiB pages of guest memory */
	uint64_t pages_left;     /* dirty, still to send */
	uint64_t pages_sent;     /* in all rounds, zero runs included */
	uint64_t bytes_sent;     /* on the wire, every connection */
	double bandwidth_mbps;   /* MB/s (10^6 bytes), measured over the last round */
	double expected_downtime_ms;
	unsigned throttle_pct;   /* the share of time the vCPUs are held (auto-converge) */
	double elapsed_ms;
	double downtime_ms;      /* completed: pause to the destination's answer */
	char error[512];         /* failed or cancelled: why */
};

/* "none", "connecting", "precopy", ... */
const char *gm_migration_phase_name(enum gm_migration_phase p);

/*
 * Migrate m to p->url, blocking until it ends.  Parameters and what this
 * kernel can do are checked before anything is sent.  On success the
 * destination runs the guest and m has ended (GM_EXIT_MIGRATED, status 0).
 * On any failure (the peer went away, the timeout, a cancel) the guest
 * runs on here as it was, its memory binding restored, and err says why.
 * -EBUSY while another migration runs.
 */
int gm_machine_migrate(struct gm_machine *m, const struct gm_migration_params *p,
		       struct gm_migration_progress *result, struct gm_error *err);

/* Stop a running migration (from another thread); -ESRCH when none runs. */
int gm_machine_migration_cancel(struct gm_machine *m, struct gm_error *err);

/* A consistent copy of where the current (or last) migration stands. */
void gm_machine_migration_progress(struct gm_machine *m, struct gm_migration_progress *out);

/*
 * The destination.  gm_incoming_open listens on cfg->incoming, takes
 * exactly one sender and reads and checks its header (and, with
 * cfg->incoming_identity, that it is that VM) before anything is built.
 */
struct gm_incoming;
int gm_incoming_open(const struct gm_config *cfg, struct gm_incoming **out, struct gm_error *err);
/*
 * Build the sender's machine (vCPUs, regions) with the user's options
 * (console, API, --memory and --region to put it on other memory here),
 * take the memory and state as they come, and leave the machine started
 * and paused with everything loaded and the identity taken over.  Then set
 * hooks and call gm_incoming_finish.
 */
int gm_incoming_receive(struct gm_incoming *in, const struct gm_config *user, const struct gm_caps *caps,
			struct gm_machine **out, struct gm_error *err);
/* Resume the guest when it ran on the source, and tell the source; then it may go. */
int gm_incoming_finish(struct gm_incoming *in, struct gm_machine *m, struct gm_error *err);
/* After the machine ended (postcopy serves its memory until then), or on failure. */
void gm_incoming_close(struct gm_incoming *in);

#endif
