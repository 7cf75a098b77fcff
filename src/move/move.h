/*
 * move/: moving a machine.  The precopy engine (precopy.c) sends a running
 * machine's memory in rounds of dirty pages over one or more connections
 * (channels.c), holds the vCPUs back when the guest dirties faster than the
 * link (pacer.c), then pauses once for the rest and the state; the
 * destination (incoming.c, receive.c) takes it in and answers; postcopy.c
 * and postcopy_dest.c start the guest before all of its memory is there.
 * The wire is the state stream (state/stream.h), one per connection; the
 * destination's few answers go back on the first connection as frames
 * (frames.c).  progress.c keeps the record vm.info shows.  This header is
 * for src/move only.
 */
#ifndef GM_MOVE_H
#define GM_MOVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gmvm/migration.h"
#include "move/transport.h"
#include "state/stream.h"
#include "vmm/vmm.h"

/* Pages go in 4 KiB units, dirty tracking's, whatever backs the memory. */
#define GM_MOVE_PAGE 4096u
/* A channel takes every Nth stripe of this many pages: a page always
 * travels on the same connection, so a later round's copy cannot overtake
 * an earlier one. */
#define GM_MOVE_STRIPE_PAGES 512u

/* ---- frames: what the destination answers on the first connection ---- */

enum gm_frame_kind {
	GM_FRAME_READY = 1,    /* header taken, machine built: send the rest */
	GM_FRAME_REFUSED = 2,  /* u32 gm_status, then one line: why */
	GM_FRAME_RUNNING = 3,  /* state loaded, the guest runs (or stands paused as it did) */
	GM_FRAME_PAGE = 4,     /* postcopy: the guest waits for page `page` of region `status` */
	GM_FRAME_DONE = 5,     /* postcopy: every page arrived; the source may go */
};

#define GM_FRAME_MAX 1024u

struct gm_frame {
	uint32_t kind;
	uint32_t status;          /* REFUSED: a gm_status; PAGE: the region */
	uint64_t page;            /* PAGE */
	char text[GM_FRAME_MAX];  /* REFUSED: the line */
};

int gm_frame_send(int fd, uint32_t kind, uint32_t status, const char *text, int timeout_ms,
		  struct gm_error *err);
int gm_frame_send_page(int fd, uint32_t region, uint64_t page, struct gm_error *err);
/* One frame, checked (magic, kind, length); -ETIMEDOUT after timeout_ms. */
int gm_frame_recv(int fd, struct gm_frame *f, int timeout_ms, struct gm_error *err);
/* A REFUSED frame as the caller's error: "the destination refused: ...". */
int gm_frame_refusal(const struct gm_frame *f, struct gm_error *err);

/* ---- the machine's memory, as the engine sees it ---- */

struct gm_move_region {
	struct gm_memory *mem;
	uint8_t *host;
	uint64_t npages; /* GM_MOVE_PAGE pages */
};

/* Pages a dirty bitmap of npages selects (set bits). */
uint64_t gm_move_bits(const uint64_t *bm, uint64_t npages);

/* m's memory regions in index order (the stream's region numbers); how many. */
unsigned gm_move_regions(struct gm_machine *m, struct gm_move_region *out, unsigned max);

/* ---- channels: the source's connections, each one stream ---- */

struct gm_channel {
	int fd;
	struct gm_stream_out *w;
	struct gm_error err;
	int rc;
};

struct gm_channels {
	unsigned n;
	struct gm_channel ch[GM_MIGRATION_MAX_CONNECTIONS];
	unsigned flags;           /* GM_PAGES_* for every run */
	int aborted;              /* atomic: gm_channels_abort ran */
};

/*
 * Send what bitmaps select of every region (bitmaps[r] NULL: all of region
 * r) over every channel at once, channel i taking the stripes s with
 * s % n == i; zero pages go as zero runs when with_zeros.  Returns 0 or
 * the first channel's failure.
 */
int gm_channels_send(struct gm_channels *c, const struct gm_move_region *rg, unsigned nrg,
		     uint64_t *const *bitmaps, bool with_zeros, struct gm_error *err);
/* Bytes produced on every channel so far. */
uint64_t gm_channels_bytes(const struct gm_channels *c);
/* END on every channel but the first (which carries the state after its pages). */
int gm_channels_end_others(struct gm_channels *c, struct gm_error *err);
/* Make every blocked send return (a cancel or a timeout): shut the sockets down. */
void gm_channels_abort(struct gm_channels *c);
void gm_channels_close(struct gm_channels *c);

/* ---- the pacer: auto-converge, the deadline and cancels ---- */

struct gm_pacer;
/* A thread that every 10 ms holds m's vCPUs for throttle_pct of the time,
 * and calls abort(opaque) once when the deadline (0: none) passes or
 * *cancel (an atomic int) turns non-zero. */
int gm_pacer_start(struct gm_machine *m, uint64_t deadline_us, const int *cancel, void (*abort)(void *),
		   void *opaque, struct gm_pacer **out, struct gm_error *err);
void gm_pacer_set_throttle(struct gm_pacer *p, unsigned pct);
/* True once the deadline passed (the abort was a timeout). */
bool gm_pacer_timed_out(const struct gm_pacer *p);
void gm_pacer_stop(struct gm_pacer *p);

/* ---- rounds: the dirty-round loop, shared by migration and re-homing ---- */

/* Where a round stands, for the caller's record. */
struct gm_round_report {
	unsigned round;
	uint64_t total, left, sent, bytes;
	double mbps, expect_ms, elapsed_ms;
	unsigned throttle;
};

struct gm_rounds;

/* What the caller does with the pages: send them (precopy) or copy them (re-home). */
struct gm_rounds_sink {
	/* Move what rs->bm selects, or (all) round 1: every page that may hold data. */
	int (*move)(struct gm_rounds *rs, bool all, struct gm_error *err);
	/* Bytes moved so far: what the rate is measured on. */
	uint64_t (*bytes)(struct gm_rounds *rs);
	/* The round's numbers into the caller's record; announce them when event. */
	void (*report)(struct gm_rounds *rs, const struct gm_round_report *rr, bool event);
};

struct gm_rounds {
	struct gm_machine *m;
	const char *what;               /* "migration", "re-home": the log lines' subject */
	const char *moved;              /* "sent", "copied" */
	const struct gm_rounds_sink *sink;
	void *opaque;                   /* the sink's */
	struct gm_move_region rg[GM_MAX_REGIONS];
	unsigned nrg;
	uint64_t *bm[GM_MAX_REGIONS];   /* this round's dirty pages */
	uint64_t *seen[GM_MAX_REGIONS]; /* every page tracking reported, for a failure */
	bool tracking_ours[GM_MAX_REGIONS]; /* tracking of region i was started here */
	struct gm_pacer *pacer;
	unsigned downtime_ms;           /* converged: what is left goes within this */
	bool first_only;                /* postcopy: round 1 only */
	unsigned throttle;
	uint64_t t0_us;
	struct gm_round_report rr;
	double rate;                    /* bytes per µs (MB/s) the last timed round moved */
};

/* The bitmaps for rs->rg[0..nrg). */
int gm_rounds_alloc(struct gm_rounds *rs, struct gm_error *err);
/* Tracking on for every region (left as it is where it is on); a gmem binding switches to mapped, paused. */
int gm_rounds_start_tracking(struct gm_rounds *rs, struct gm_error *err);
/* The pages written since the last collect, ORed into rs->bm (cleared first when fresh); their count. */
int gm_rounds_collect(struct gm_rounds *rs, bool fresh, uint64_t *pages, struct gm_error *err);
/*
 * Round 1 (everything), then rounds of what was written meanwhile, holding
 * the vCPUs back (auto-converge) when they dirty faster than the sink
 * moves, until what is left would go within downtime_ms or 64 rounds
 * passed.  The last collect stays in rs->bm for the paused round.
 */
int gm_rounds_run(struct gm_rounds *rs, struct gm_error *err);
/* rs->rr with the bytes, rate and times brought up to date, to the sink's report. */
void gm_rounds_report(struct gm_rounds *rs, bool event);
/*
 * Tracking as it was before: stopped where it was started here (held: the
 * caller holds the vCPUs already), else every page seen marked again so
 * the next diff snapshot has it.
 */
void gm_rounds_untrack(struct gm_rounds *rs, bool held);
void gm_rounds_free(struct gm_rounds *rs);

/* ---- the destination's first header (incoming.c) ---- */

/*
 * Check the sender's stream header JSON (untrusted): a migration's, channel
 * 0, 1..16 connections, a machine gm_header_machine_parse accepts.  0 with
 * the VM's uuid, the session and the connection count filled, or -errno
 * with a one-line err and nothing filled.
 */
int gm_incoming_check_header(const char *json, char uuid[37], char session[33], unsigned *connections,
			     struct gm_error *err);

/* ---- the destination's connections (receive.c) ---- */

/*
 * Read every connection at once, a thread each, the others to their END,
 * the first to its MIGRATION section: pages into rg, the machine's
 * sections (first connection only) copied into state.  The first failure
 * stops all and is returned.
 */
int gm_receive_all(int *fd, struct gm_stream_reader **rd, unsigned n, const struct gm_move_region *rg,
		   unsigned nrg, struct gm_stream_in *state, struct gm_error *err);

/* ---- postcopy ---- */

/* 0 if m's memory can be migrated by postcopy on this kernel, else why not (status 3 for the kernel). */
int gm_move_postcopy_check(struct gm_machine *m, struct gm_error *err);
/*
 * The source, once the guest runs at the destination: every page dirty[]
 * selects on w (the first connection's stream), the pages the destination
 * asks for on fd first, then END, then wait for its DONE.  dirty is
 * consumed.
 */
int gm_postcopy_serve(int fd, struct gm_stream_out *w, const struct gm_move_region *rg, unsigned nrg,
		      uint64_t *const *dirty, unsigned flags, struct gm_error *err);

/* The destination (postcopy_dest.c). */
struct gm_postcopy_dest;
/* Before the state is applied: drop the pages the bitmaps in state say are stale, register the memory. */
int gm_postcopy_dest_prepare(struct gm_machine *m, const struct gm_stream_in *state,
			     struct gm_postcopy_dest **out, struct gm_error *err);
/* Before the guest resumes: take the source's pages from rd and the guest's faults. */
int gm_postcopy_dest_start(struct gm_postcopy_dest *pd, int fd, struct gm_stream_reader *rd, struct gm_error *err);
/* Stop both threads (the guest ended, or never ran) and free; NULL is fine. */
void gm_postcopy_dest_stop(struct gm_postcopy_dest *pd);

/* ---- progress: the machine's record, events ---- */

/* Change the record under its lock: fn(progress, opaque); then emit an event (when event). */
void gm_move_update(struct gm_machine *m, void (*fn)(struct gm_migration_progress *, void *), void *opaque,
		    bool event);
void gm_move_set_phase(struct gm_machine *m, enum gm_migration_phase phase, bool event);

#endif
