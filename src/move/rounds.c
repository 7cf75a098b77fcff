/*
 * move/rounds: the dirty-round loop that live migration's precopy and
 * re-homing share.  Round 1 moves everything while the guest runs, with
 * dirty tracking (mem/dirty.c) already on, so every page the guest writes
 * meanwhile shows up in the next collect; each later round moves what the
 * one before let the guest write, measuring how fast the sink moves pages,
 * until what is left would go within the pause asked for.  When the guest
 * dirties about as fast as the sink moves, no number of rounds converges:
 * the pacer then holds the vCPUs back a step more each round.  What moving
 * means (sending over the channels, copying into a new memory object) is
 * the sink's; this file knows only pages, bitmaps and time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "move/move.h"

#define MAX_ROUNDS 64
/* auto-converge: once a round's dirtying is over half of what the sink moved */
#define THROTTLE_FIRST 20u
#define THROTTLE_STEP 10u

uint64_t gm_move_bits(const uint64_t *bm, uint64_t npages)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < (npages + 63) / 64; i++)
		n += (uint64_t)__builtin_popcountll(bm[i]);
	return n;
}

int gm_rounds_alloc(struct gm_rounds *rs, struct gm_error *err)
{
	for (unsigned i = 0; i < rs->nrg; i++) {
		size_t words = (rs->rg[i].npages + 63) / 64;

		rs->bm[i] = calloc(words ? words : 1, 8);
		rs->seen[i] = calloc(words ? words : 1, 8);
		if (!rs->bm[i] || !rs->seen[i])
			return gm_fail(err, GM_STATUS_FAILURE, ENOMEM,
				       "%s: out of memory for the dirty bitmaps; free host memory and try again", rs->what);
	}
	return 0;
}

void gm_rounds_free(struct gm_rounds *rs)
{
	gm_pacer_stop(rs->pacer);
	rs->pacer = NULL;
	for (unsigned i = 0; i < rs->nrg; i++) {
		free(rs->bm[i]);
		free(rs->seen[i]);
		rs->bm[i] = rs->seen[i] = NULL;
	}
}

int gm_rounds_start_tracking(struct gm_rounds *rs, struct gm_error *err)
{
	int r = 0;

	for (unsigned i = 0; i < rs->nrg && !r; i++) {
		struct gm_memory *mem = rs->rg[i].mem;

		if (gm_memory_dirty_active(mem))
			continue; /* a snapshot's tracking: shared, and left on */
		/* a gmem binding is deleted and made again as mapped: not under a running
		 * vCPU; and devices writing guest memory mark pages in the bitmaps
		 * start allocates and stop frees: not beside them */
		bool pause = gm_memory_dirty_needs_pause(mem) || gm_devices_write_guest(rs->m);
		if (pause && (r = gm_hold(rs->m, err)) < 0)
			break;
		r = gm_memory_dirty_start(mem, err);
		if (pause)
			gm_release(rs->m);
		if (!r)
			rs->tracking_ours[i] = true;
	}
	return r;
}

int gm_rounds_collect(struct gm_rounds *rs, bool fresh, uint64_t *pages, struct gm_error *err)
{
	*pages = 0;
	for (unsigned i = 0; i < rs->nrg; i++) {
		uint64_t words = (rs->rg[i].npages + 63) / 64;
		int r;

		if (fresh)
			memset(rs->bm[i], 0, words * 8);
		if ((r = gm_memory_dirty_collect(rs->rg[i].mem, rs->bm[i], err)) < 0)
			return r;
		for (uint64_t w = 0; w < words; w++)
			rs->seen[i][w] |= rs->bm[i][w];
		*pages += gm_move_bits(rs->bm[i], rs->rg[i].npages);
	}
	return 0;
}

void gm_rounds_report(struct gm_rounds *rs, bool event)
{
	struct gm_round_report *rr = &rs->rr;

	rr->bytes = rs->sink->bytes(rs);
	rr->mbps = rs->rate;
	rr->expect_ms = rs->rate > 0 ? (double)rr->left * GM_MOVE_PAGE / rs->rate / 1000.0 : 0;
	rr->throttle = rs->throttle;
	rr->elapsed_ms = (double)(gm_now_us() - rs->t0_us) / 1000.0;
	rs->sink->report(rs, rr, event);
}

/* One round through the sink; its bytes per µs (== MB/s) into rs->rate when big enough to time. */
static int move_round(struct gm_rounds *rs, bool all, struct gm_error *err)
{
	uint64_t b0 = rs->sink->bytes(rs), t0 = gm_now_us();
	int r = rs->sink->move(rs, all, err);
	uint64_t dt = gm_now_us() - t0, db = rs->sink->bytes(rs) - b0;

	if (!r && dt > 200 && db > 64 * 1024)
		rs->rate = (double)db / (double)dt;
	return r;
}

int gm_rounds_run(struct gm_rounds *rs, struct gm_error *err)
{
	struct gm_round_report *rr = &rs->rr;
	uint64_t last_bytes = 0;
	int r;

	rr->total = 0;
	for (unsigned i = 0; i < rs->nrg; i++)
		rr->total += rs->rg[i].npages;
	rr->round = 1;
	rr->left = rr->total;
	gm_rounds_report(rs, true);
	r = move_round(rs, true, err);
	rr->sent = rr->total;
	for (unsigned round = 2; !r; round++) {
		uint64_t before = rs->sink->bytes(rs);

		if ((r = gm_rounds_collect(rs, true, &rr->left, err)) < 0)
			break;
		rr->round = round;
		/* nothing left fits any pause, measured or not (a region never written moves nothing to time) */
		double expect_ms = !rr->left ? 0 : rs->rate > 0 ? (double)rr->left * GM_MOVE_PAGE / rs->rate / 1000.0 : 1e9;
		/* postcopy starts the guest over there after the first round */
		if (expect_ms <= rs->downtime_ms || round > MAX_ROUNDS || rs->first_only) {
			gm_rounds_report(rs, true);
			return 0;
		}
		/* dirtying keeps pace with the sink: hold the vCPUs back a step more */
		if (round > 2 && (double)rr->left * GM_MOVE_PAGE > 0.5 * (double)last_bytes && rs->throttle < 99) {
			rs->throttle = rs->throttle ? rs->throttle + THROTTLE_STEP : THROTTLE_FIRST;
			rs->throttle = rs->throttle > 99 ? 99 : rs->throttle;
			gm_pacer_set_throttle(rs->pacer, rs->throttle);
			gm_log(rs->m, GM_LOG_INFO,
			       "%s: the guest wrote %.1f MB while %.1f MB were %s; its vCPUs are now held %u%% of the time",
			       rs->what, (double)rr->left * GM_MOVE_PAGE / 1e6, (double)last_bytes / 1e6, rs->moved,
			       rs->throttle);
		}
		gm_rounds_report(rs, true);
		r = move_round(rs, false, err);
		last_bytes = rs->sink->bytes(rs) - before;
		rr->sent += rr->left;
	}
	return r;
}

void gm_rounds_untrack(struct gm_rounds *rs, bool held)
{
	struct gm_error ignored = { 0 };

	for (unsigned i = 0; i < rs->nrg; i++) {
		struct gm_memory *mem = rs->rg[i].mem;

		if (rs->tracking_ours[i]) {
			bool pause = (gm_memory_dirty_needs_pause(mem) || gm_devices_write_guest(rs->m)) && !held;
			if (!pause || gm_hold(rs->m, NULL) == 0) {
				gm_memory_dirty_stop(mem, &ignored);
				if (pause)
					gm_release(rs->m);
			}
			rs->tracking_ours[i] = false;
		} else if (gm_memory_dirty_active(mem)) {
			/* the pages seen belong to the next diff snapshot too */
			for (uint64_t p = 0; p < rs->rg[i].npages; p++)
				if (rs->seen[i][p / 64] >> (p % 64) & 1)
					gm_memory_dirty_mark(mem, p * GM_MOVE_PAGE, GM_MOVE_PAGE);
		}
	}
}
