/*
 * move/rehome: a running guest's memory region moved onto a new memory
 * object (another backend, page size or NUMA node, or a fresh compact copy
 * of the same).  It is live migration with a local memory object as the
 * destination: the same dirty rounds (rounds.c) copy the region while the
 * guest runs, then one pause copies the rest and swaps the backing under
 * the region (gm_memory_adopt), and the old object is freed after the
 * guest runs again.  Until that swap nothing the guest sees has changed:
 * any failure, the timeout or a cancel frees the new object, puts dirty
 * tracking back as it was, and the guest goes on on its old memory.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gmvm/rehome.h"
#include "mem/mem.h"
#include "move/move.h"

#define MIB (1024.0 * 1024.0)
/* pages copied between two looks at the abort flag: 2 MiB */
#define RUN_PAGES 512u

struct rh {
	struct gm_machine *m;
	struct gm_rehome_params p;
	struct gm_memory *mem;    /* the region: stays, its backing changes */
	struct gm_memory *fresh;  /* the new object; after the switch, the old backing */
	struct gm_mem_config cfg; /* fresh's */
	struct gm_caps caps;      /* the machine's, the hugetlb pools read again now */
	struct gm_rounds rs;
	struct gm_rehome_progress pr; /* the engine's copy of the record */
	uint64_t *data;           /* round 1: the pages that may hold data */
	uint64_t copied, skipped; /* 4 KiB pages */
	long fail_after;          /* GMVM_TEST_REHOME_FAIL_AFTER, -1: none */
	long slow_ms;             /* GMVM_TEST_REHOME_SLOW_MS: a sleep before each run copied, 0: none */
	uint64_t populates;
	bool no_populate;         /* the kernel lacks MADV_POPULATE_WRITE */
	bool held;
	int aborted;              /* atomic: the pacer saw a cancel or the deadline */
	uint64_t deadline_us, pause_us;
};

const char *gm_rehome_phase_name(enum gm_rehome_phase p)
{
	static const char *const names[] = { "none", "preparing", "copying", "switching", "completed", "failed",
					     "cancelled" };

	return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "unknown";
}

/* The engine's numbers into the machine's record; an event with a copy when event. */
static void publish(struct rh *h, bool event)
{
	struct gm_rehome_progress copy;

	h->pr.pages_copied = h->copied;
	h->pr.pages_skipped = h->skipped;
	h->pr.elapsed_ms = (double)(gm_now_us() - h->rs.t0_us) / 1000.0;
	pthread_mutex_lock(&h->m->rehome.lock);
	h->m->rehome.prog = h->pr;
	copy = h->pr;
	pthread_mutex_unlock(&h->m->rehome.lock);
	if (event)
		gm_emit(h->m, (struct gm_event){ .kind = GM_EVENT_REHOME, .rehome = &copy });
}

static void set_phase(struct rh *h, enum gm_rehome_phase phase)
{
	h->pr.phase = phase;
	publish(h, true);
}

/* ---- copying into the new object ---- */

static bool zero_page(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (unsigned i = 0; i < GM_MOVE_PAGE / 8; i += 8)
		if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7])
			return false;
	return true;
}

/*
 * Allocate the target pages before writing them: a backing that runs out
 * then answers ENOMEM here instead of a SIGBUS in the middle of memcpy.
 */
static int populate(struct rh *h, uint64_t first, uint64_t n, struct gm_error *err)
{
	struct gm_error why = { 0 };
	int e = 0;
	char mib[32];

	if (h->no_populate)
		return 0;
	h->populates++;
	if (h->fail_after >= 0 && h->populates > (uint64_t)h->fail_after) {
		e = ENOMEM; /* test only: as if the hugetlb pool or the host ran dry here */
	} else {
		int r = gm_memory_populate(h->fresh, first * GM_MOVE_PAGE, n * GM_MOVE_PAGE);

		if (r == -EINVAL && h->populates == 1) {
			/* before Linux 5.14: write as the guest would, unchecked */
			h->no_populate = true;
			return 0;
		}
		e = -r;
	}
	if (!e)
		return 0;
	gm_memory_populate_fail(h->fresh, e, &why);
	snprintf(mib, sizeof(mib), "%.0f", (double)h->copied * GM_MOVE_PAGE / MIB);
	return gm_fail(err, why.status, e, "re-home of region %s to %s stopped after %s MiB: %s; the guest runs on its old memory",
		       h->pr.region, h->pr.to, mib, why.msg);
}

static int copy_pages(struct rh *h, uint64_t first, uint64_t n, struct gm_error *err)
{
	int r = populate(h, first, n, err);

	if (!r) {
		memcpy((uint8_t *)h->fresh->host + first * GM_MOVE_PAGE, (uint8_t *)h->mem->host + first * GM_MOVE_PAGE,
		       n * GM_MOVE_PAGE);
		h->copied += n;
	}
	return r;
}

/* A run of selected pages; in round 1 the all-zero ones stay out (the new object reads zero there). */
static int copy_run(struct rh *h, uint64_t first, uint64_t n, bool round1, struct gm_error *err)
{
	const uint8_t *src = (const uint8_t *)h->mem->host;
	uint64_t end = first + n;
	int r = 0;

	/* test only: a re-home long enough to be cancelled, however fast the host copies */
	if (h->slow_ms > 0)
		usleep((useconds_t)h->slow_ms * 1000);
	if (__atomic_load_n(&h->aborted, __ATOMIC_ACQUIRE))
		return -ECANCELED; /* the message is the caller's: cancel or timeout */
	if (!round1)
		return copy_pages(h, first, n, err);
	for (uint64_t p = first; p < end && !r;) {
		uint64_t q = p;

		while (q < end && zero_page(src + q * GM_MOVE_PAGE))
			q++;
		h->skipped += q - p;
		for (p = q; q < end && !zero_page(src + q * GM_MOVE_PAGE); q++)
			;
		if (q > p)
			r = copy_pages(h, p, q - p, err);
		p = q;
	}
	return r;
}

static uint64_t next_set(const uint64_t *bm, uint64_t p, uint64_t n)
{
	while (p < n) {
		uint64_t w = bm[p / 64] >> (p % 64);

		if (w)
			return p + (uint64_t)__builtin_ctzll(w) < n ? p + (uint64_t)__builtin_ctzll(w) : n;
		p = (p / 64 + 1) * 64;
	}
	return n;
}

static uint64_t next_clear(const uint64_t *bm, uint64_t p, uint64_t n)
{
	while (p < n) {
		uint64_t w = ~bm[p / 64] >> (p % 64);

		if (w)
			return p + (uint64_t)__builtin_ctzll(w) < n ? p + (uint64_t)__builtin_ctzll(w) : n;
		p = (p / 64 + 1) * 64;
	}
	return n;
}

/* The rounds' sink: round 1 every page that may hold data, later rounds the dirty ones. */
static int sink_move(struct gm_rounds *rs, bool all, struct gm_error *err)
{
	struct rh *h = rs->opaque;
	uint64_t npages = rs->rg[0].npages;
	const uint64_t *sel = rs->bm[0];
	int r = 0;

	if (all) {
		if ((r = gm_memory_data_pages(h->mem, h->data, err)) < 0)
			return r;
		sel = h->data;
		h->skipped += npages - gm_move_bits(sel, npages); /* holes: never read, never allocated */
	}
	for (uint64_t p = next_set(sel, 0, npages); p < npages && !r; p = next_set(sel, p, npages)) {
		uint64_t end = next_clear(sel, p, npages);

		end = end - p > RUN_PAGES ? p + RUN_PAGES : end;
		r = copy_run(h, p, end - p, all, err);
		p = end;
	}
	return r;
}

static uint64_t sink_bytes(struct gm_rounds *rs)
{
	return ((struct rh *)rs->opaque)->copied * GM_MOVE_PAGE;
}

static void sink_report(struct gm_rounds *rs, const struct gm_round_report *rr, bool event)
{
	struct rh *h = rs->opaque;

	h->pr.round = rr->round;
	h->pr.pages_total = rr->total;
	h->pr.pages_left = rr->left;
	h->pr.copy_mbps = rr->mbps;
	h->pr.throttle_pct = rr->throttle;
	publish(h, event);
}

static const struct gm_rounds_sink copy_sink = {
	.move = sink_move,
	.bytes = sink_bytes,
	.report = sink_report,
};

static void abort_copy(void *opaque)
{
	__atomic_store_n(&((struct rh *)opaque)->aborted, 1, __ATOMIC_RELEASE);
}

/* ---- before anything is made ---- */

/* The new object's config: the region's, with the keys given changed; refusals before anything exists. */
static int plan(struct rh *h, struct gm_error *err)
{
	const struct gm_mem_config *old = &h->mem->cfg;
	char s[32];
	int r;

	h->cfg = *old;
	if (h->p.memory && *h->p.memory && (r = gm_mem_config_parse(h->p.memory, &h->cfg, err)) < 0)
		return r;
	if (h->cfg.size != old->size)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "re-homing keeps region %s's size (%s); drop size=",
			       h->pr.region, gm_mem_size_str(old->size, s, sizeof(s)));
	/* a key not given keeps the region's setting, where it still fits the backend */
	if (!h->cfg.bind_given && old->bind_given && h->cfg.backend == old->backend) {
		h->cfg.bind = old->bind;
		h->cfg.bind_given = true;
	}
	if (!h->cfg.movable_given && old->movable_given && h->cfg.backend == old->backend) {
		h->cfg.movable = old->movable;
		h->cfg.movable_given = true;
	}
	h->cfg.bind = h->cfg.bind_given ? h->cfg.bind : gm_mem_effective_bind(&h->cfg);
	/* the region's, not the object's: a snapshot's tracking carries over */
	h->cfg.track_dirty = old->track_dirty;
	h->caps = h->m->caps;
	gm_mem_pools_refresh(&h->caps);
	if ((r = gm_memory_check(&h->cfg, &h->caps, err)) < 0)
		return r;
	/* while it copies, the old object stays locked beside the new one */
	uint64_t locked = gm_mem_pinned_bytes(&h->cfg);
	for (unsigned i = 0; i < h->m->nmems && locked; i++)
		locked += gm_mem_pinned_bytes(&h->m->mems[i]->cfg);
	if ((r = gm_mem_check_memlock(locked, &h->caps, "this VM's pinned memory with the new object beside it", err)) < 0)
		return r;
	gm_mem_config_describe(old, h->pr.from, sizeof(h->pr.from));
	gm_mem_config_describe(&h->cfg, h->pr.to, sizeof(h->pr.to));
	return 0;
}

static int refuse(struct rh *h, struct gm_error *err)
{
	struct gm_exit ended;
	int i;

	if (gm_machine_exit(h->m, &ended) == 0)
		return gm_fail(err, GM_STATUS_FAILURE, ESRCH, "the guest has ended (%s); there is no memory to re-home",
			       ended.reason);
	if (h->m->ondemand)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EBUSY,
			       "this VM was restored with restore-mode=ondemand and its memory is still filled on first touch; restore with restore-mode=copy to re-home it");
	if ((i = gm_machine_region_index(h->m, h->pr.region, err)) < 0)
		return i;
	h->mem = h->m->mems[i];
	return plan(h, err);
}

/* ---- the whole ---- */

/* Paused: the last dirty pages, then the backing swapped under the region. */
static int switch_over(struct rh *h, struct gm_error *err)
{
	uint64_t more;
	int r;

	h->pr.pages_left = h->rs.rr.left;
	set_phase(h, GM_REHOME_SWITCHING);
	/* no throttling, no abort from here: the pause is short and all or nothing */
	gm_pacer_stop(h->rs.pacer);
	h->rs.pacer = NULL;
	if (__atomic_load_n(&h->aborted, __ATOMIC_ACQUIRE) || __atomic_load_n(&h->m->rehome.cancel, __ATOMIC_ACQUIRE))
		return -ECANCELED;
	h->pause_us = gm_now_us();
	if ((r = gm_hold(h->m, err)) < 0)
		return r;
	h->held = true;
	r = gm_rounds_collect(&h->rs, false, &more, err);
	if (!r)
		r = sink_move(&h->rs, false, err);
	if (!r)
		r = gm_memory_adopt(h->mem, h->fresh, err);
	if (r)
		return r;
	/* tracking as before, on the new backing: stopped if ours (a gmem
	 * target binds gmem again), else the pages seen marked again */
	gm_rounds_untrack(&h->rs, true);
	gm_release(h->m);
	h->held = false;
	h->pr.pause_ms = (double)(gm_now_us() - h->pause_us) / 1000.0;
	h->pr.pages_left = 0;
	return 0;
}

static int run(struct rh *h, struct gm_error *err)
{
	struct gm_move_region *rg = &h->rs.rg[0];
	int r;

	h->pr.pages_total = h->mem->size / GM_MOVE_PAGE;
	h->pr.pages_left = h->pr.pages_total;
	set_phase(h, GM_REHOME_PREPARING);
	gm_log(h->m, GM_LOG_INFO, "re-home of region %s: %s to %s, %.0f MiB", h->pr.region, h->pr.from, h->pr.to,
	       (double)h->mem->size / MIB);
	h->pr.resident_before = gm_memory_resident(h->mem);
	r = gm_memory_create(&h->cfg, &h->caps, h->m->vm_fd, &h->fresh, err);
	if (!r)
		r = gm_memory_set_identity(h->fresh, gm_memory_uuid(h->mem), gm_memory_name(h->mem), err);
	if (!r)
		r = gm_memory_place(h->fresh, h->mem->gpa, h->mem->regions[0].slot, err);
	if (r)
		return r;
	*rg = (struct gm_move_region){ .mem = h->mem, .host = h->mem->host, .npages = h->mem->size / GM_MOVE_PAGE };
	h->rs.nrg = 1;
	h->data = calloc((rg->npages + 63) / 64, 8);
	if (!h->data)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "re-home: out of memory for the page bitmaps; free host memory and try again");
	r = gm_rounds_alloc(&h->rs, err);
	if (!r)
		r = gm_pacer_start(h->m, h->deadline_us, &h->m->rehome.cancel, abort_copy, h, &h->rs.pacer, err);
	if (!r)
		r = gm_rounds_start_tracking(&h->rs, err);
	if (!r) {
		set_phase(h, GM_REHOME_COPYING);
		r = gm_rounds_run(&h->rs, err);
	}
	if (!r)
		r = switch_over(h, err);
	return r;
}

/* A failure before the swap (or the swap's own, undone by adopt): the guest goes on as it was. */
static int undo(struct rh *h, int r, struct gm_error *err)
{
	struct gm_error why = { 0 };

	gm_pacer_stop(h->rs.pacer);
	h->rs.pacer = NULL;
	if (h->rs.nrg)
		gm_rounds_untrack(&h->rs, h->held);
	if (h->held)
		gm_release(h->m);
	h->held = false;
	/* a cancel or the deadline stopped the copy: say that, not what it broke */
	if (r == -ECANCELED || __atomic_load_n(&h->aborted, __ATOMIC_ACQUIRE)) {
		if (!__atomic_load_n(&h->m->rehome.cancel, __ATOMIC_ACQUIRE))
			gm_fail(&why, GM_STATUS_FAILURE, ETIMEDOUT,
				"re-home of region %s did not finish within timeout_s=%u; the guest runs on its old memory",
				h->pr.region, h->p.timeout_s);
		else
			gm_fail(&why, GM_STATUS_FAILURE, ECANCELED,
				"re-home of region %s cancelled by vm.memory-rehome-cancel; the guest runs on its old memory",
				h->pr.region);
		*err = why;
		return -why.errnum;
	}
	return r;
}

static void end(struct rh *h, int r, struct gm_error *err)
{
	h->pr.phase = !r ? GM_REHOME_COMPLETED : r == -ECANCELED ? GM_REHOME_CANCELLED : GM_REHOME_FAILED;
	snprintf(h->pr.error, sizeof(h->pr.error), "%s", r ? err->msg : "");
	if (!r) {
		h->pr.pages_left = 0;
		h->pr.resident_after = gm_memory_resident(h->mem);
		gm_log(h->m, GM_LOG_INFO,
		       "re-home of region %s done: now %s, %" PRIu64 " pages copied in %u rounds, %" PRIu64 " skipped, paused %.1f ms",
		       h->pr.region, h->pr.to, h->copied, h->pr.round, h->skipped, h->pr.pause_ms);
	} else {
		gm_log(h->m, GM_LOG_INFO, "re-home of region %s %s: %s", h->pr.region,
		       gm_rehome_phase_name(h->pr.phase), err->msg);
	}
	publish(h, true);
}

int gm_machine_rehome(struct gm_machine *m, const struct gm_rehome_params *p, struct gm_rehome_progress *result,
		      struct gm_error *err)
{
	struct rh *h = calloc(1, sizeof(*h));
	const char *hook = getenv("GMVM_TEST_REHOME_FAIL_AFTER"), *slow = getenv("GMVM_TEST_REHOME_SLOW_MS");
	int expect = 0, r;

	if (!h)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "re-home: out of memory");
	h->m = m;
	h->p = *p;
	h->fail_after = hook && *hook ? strtol(hook, NULL, 10) : -1;
	h->slow_ms = slow && *slow ? strtol(slow, NULL, 10) : 0;
	h->rs = (struct gm_rounds){ .m = m, .what = "re-home", .moved = "copied", .sink = &copy_sink, .opaque = h,
				    .downtime_ms = p->downtime_ms ? p->downtime_ms : 10 };
	snprintf(h->pr.region, sizeof(h->pr.region), "%s", p->region && *p->region ? p->region : GM_RAM_REGION);
	if (p->downtime_ms > 60000)
		r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "re-home: a pause of %u ms asked; give 1 to 60000 ms",
			    p->downtime_ms);
	else if (__atomic_load_n(&m->migration.running, __ATOMIC_ACQUIRE))
		r = gm_fail(err, GM_STATUS_FAILURE, EBUSY,
			    "a migration is running; wait for it or PUT vm.migration-cancel, then re-home");
	else if (__atomic_load_n(&m->update.running, __ATOMIC_ACQUIRE))
		r = gm_fail(err, GM_STATUS_FAILURE, EBUSY, "a live update is running; re-home after it (in the new process)");
	else if (!__atomic_compare_exchange_n(&m->rehome.running, &expect, 1, false, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE))
		r = gm_fail(err, GM_STATUS_FAILURE, EBUSY,
			    "a re-home is already running; wait for it or PUT vm.memory-rehome-cancel");
	else
		r = 1;
	if (r <= 0) {
		/* refused before it began: the machine's record stays the last re-home's */
		if (result) {
			*result = (struct gm_rehome_progress){ .phase = GM_REHOME_FAILED };
			snprintf(result->region, sizeof(result->region), "%s", h->pr.region);
			snprintf(result->error, sizeof(result->error), "%s", err->msg);
		}
		free(h);
		return r;
	}
	pthread_mutex_lock(&m->op_lock);
	__atomic_store_n(&m->rehome.cancel, 0, __ATOMIC_RELEASE);
	h->rs.t0_us = gm_now_us();
	h->deadline_us = p->timeout_s ? h->rs.t0_us + (uint64_t)p->timeout_s * 1000000 : 0;
	r = refuse(h, err);
	if (r) {
		if (result) {
			*result = h->pr;
			result->phase = GM_REHOME_FAILED;
			snprintf(result->error, sizeof(result->error), "%s", err->msg);
		}
	} else {
		r = run(h, err);
		if (r)
			r = undo(h, r, err);
		end(h, r, err);
		if (result)
			gm_machine_rehome_progress(m, result);
	}
	pthread_mutex_unlock(&m->op_lock);
	/* the old backing after a switch, else the new object: freed with the guest running */
	gm_memory_destroy(h->fresh);
	gm_rounds_free(&h->rs);
	free(h->data);
	free(h);
	__atomic_store_n(&m->rehome.running, 0, __ATOMIC_RELEASE);
	return r;
}

int gm_machine_rehome_cancel(struct gm_machine *m, struct gm_error *err)
{
	if (!__atomic_load_n(&m->rehome.running, __ATOMIC_ACQUIRE))
		return gm_fail(err, GM_STATUS_FAILURE, ESRCH, "no re-home is running");
	__atomic_store_n(&m->rehome.cancel, 1, __ATOMIC_RELEASE);
	return 0;
}

void gm_machine_rehome_progress(struct gm_machine *m, struct gm_rehome_progress *out)
{
	pthread_mutex_lock(&m->rehome.lock);
	*out = m->rehome.prog;
	pthread_mutex_unlock(&m->rehome.lock);
}
