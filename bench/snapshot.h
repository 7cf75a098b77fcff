/*
 * bench/snapshot: what case 7's three files share.  case_snapshot.c builds
 * the case and runs a side; snapshot_gmvm.c and snapshot_qemu.c hold one
 * VMM's save and restore each.  A run of a side boots the `dirty` guest,
 * saves it, ends that VMM, restores in a new process, waits for the guest
 * to carry on, ends it; the case deletes the files.
 */
#ifndef BENCH_SNAPSHOT_H
#define BENCH_SNAPSHOT_H

#include <limits.h>
#include <stddef.h>

#include "api_client.h"
#include "background.h"
#include "bench.h"
#include "qmp.h"

#define SNAP_ROUND_LINE "dirty: round "	/* the guest's line once per round, each page checked */
#define SNAP_MIG_FILE "qemu.mig"
#define SNAP_EVENT_FD 3			/* gmvm's --event-monitor fd=3 in a restore: a pipe to the bench */

enum { S7_COPY, S7_MAP, S7_ONDEMAND, S7_QEMU };
enum { M7_SAVE_MS, M7_SAVE_MBS, M7_PAUSED_MS, M7_RESTORE_MS, M7_IN_MAIN_MS, M7_DISK_MIB };

/* The guest both VMMs run, from --snapshot-mib and --gmvm-backend. */
struct snap_guest {
	int mib;		/* guest RAM, MiB */
	int written_mib;	/* what the guest keeps written */
	double bytes;		/* guest RAM in bytes, for MB/s */
	char cmdline[128];	/* the guest's */
	char size[16];		/* QEMU's -m, "1024M" */
	char memory[64];	/* gmvm's --memory */
};

/* One run of one side: its files, and the VMM running now with the bench's connection to it. */
struct snap_run {
	const struct snap_guest *guest;
	char dir[PATH_MAX];	/* $DIR, made for this run */
	char snap[PATH_MAX + 16], mig[PATH_MAX + 16];
	int ev_fd;		/* gmvm's event monitor, the pipe's read end; -1 when closed */
	struct bg_proc p;	/* p.out -1: nothing started */
	struct api_client a;	/* gmvm; a.curl NULL when closed */
	struct qmp q;		/* QEMU; q.fd -1 when closed */
	int boot_ms, save_ms, restore_ms, carry_on_ms, end_ms;	/* the waits, scaled to the guest and host */
};

/* Closes the bench's connections to the VMM (API, QMP, event pipe). */
void snap_close_conns(struct snap_run *x);
/* Waits for the VMM asked to end (by `asked`) to go; -1 with a reason if it stays (it is then killed). */
int snap_wait_gone(struct snap_run *x, const char *asked, char *why, size_t whylen);
/* Adds the space path takes on disk (st_blocks, so holes are free) to *bytes. */
int snap_add_disk_use(const char *path, double *bytes, char *why, size_t whylen);

/* snapshot_gmvm.c: save through the API, restore with `gmvm run --restore DIR --restore-mode mode`. */
int snap_run_gmvm(struct snap_run *x, const struct bench_side *s, const char *mode, double *out, char *why,
		  size_t whylen);
/* snapshot_qemu.c: stop + migrate to a file, restore with -incoming from it. */
int snap_run_qemu(struct snap_run *x, const struct bench_side *s, double *out, char *why, size_t whylen);

#endif
