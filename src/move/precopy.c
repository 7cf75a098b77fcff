/*
 * move/precopy: live migration's source.  All memory goes while the guest
 * runs, then rounds of the pages it wrote meanwhile (dirty tracking,
 * mem/dirty.c), each round measuring the link, until what is left would
 * go within the downtime asked for.  Then one pause: the rest of the
 * pages, every vCPU and device, and the identity handed over; the source
 * ends only when the destination answers that its guest runs.  Anything
 * failing before that answer leaves the guest running here as it was:
 * the sockets are shut, tracking stops (the memory bound as before), the
 * pages tracking saw are marked again for the next diff snapshot, the
 * identity is taken back, the hold released.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mem/mem.h"
#include "move/move.h"
#include "vmm/state.h"

#define CONNECT_MS 10000
#define ANSWER_MS 60000
#define IDENTITY_WAIT_MS 10000

struct mig {
	struct gm_machine *m;
	struct gm_migration_params p;
	struct gm_move_url url;
	char url_text[GM_MOVE_URL_TEXT];
	struct gm_channels ch;
	struct gm_rounds rs;     /* the regions, their bitmaps, the pacer (rounds.c) */
	uint64_t pause_us, downtime_us, deadline_us;
	bool committed;      /* the guest runs at the destination: this one may never resume */
	bool held;
	bool identity_given; /* the lock is released for the destination to take */
	char session[33];
};

static void abort_sends(void *opaque)
{
	gm_channels_abort(&((struct mig *)opaque)->ch);
}

/* ---- connecting ---- */

static int channel_header(struct mig *g, unsigned i, struct gm_error *err)
{
	struct gm_channel *c = &g->ch.ch[i];
	json_t *extra = json_pack("{s:{s:s, s:i, s:i, s:s, s:b}}", "migration", "session", g->session, "channel",
				  (int)i, "connections", (int)g->ch.n, "mode", g->p.postcopy ? "postcopy" : "precopy",
				  "compress", g->p.compress);
	char *text = NULL;
	int r;

	if (i == 0) {
		text = gm_state_header(g->m, extra);
	} else {
		/* the others only say whose they are */
		char uuid[37];
		json_t *h = json_pack("{s:s, s:s}", "gmvm_version", GMVM_VERSION, "uuid",
				      (gm_uuid_format(g->m->uuid, uuid), uuid));
		json_object_update(h, extra);
		text = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(h);
	}
	json_decref(extra);
	r = text ? gm_stream_out_open(c->fd, &c->w, err)
		 : gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "migration: out of memory for the header");
	if (!r)
		r = gm_stream_out_header(c->w, text, strlen(text), err);
	if (!r)
		r = gm_stream_out_flush(c->w, err);
	free(text);
	return r;
}

static int connect_all(struct mig *g, struct gm_error *err)
{
	struct gm_frame f;
	int r = 0;

	/* the first connection, its header and the destination's READY before
	 * the others: a refusal costs one connection */
	r = gm_move_connect(&g->url, CONNECT_MS, &g->ch.ch[0].fd, err);
	if (!r)
		r = channel_header(g, 0, err);
	if (!r)
		r = gm_frame_recv(g->ch.ch[0].fd, &f, ANSWER_MS, err);
	if (!r && f.kind == GM_FRAME_REFUSED)
		return gm_frame_refusal(&f, err);
	if (!r && f.kind != GM_FRAME_READY)
		return gm_fail(err, GM_STATUS_FAILURE, EPROTO,
			       "migration: the destination answered the header with frame %" PRIu32
			       " instead of READY; is it the same gmvm version?", f.kind);
	for (unsigned i = 1; i < g->ch.n && !r; i++) {
		r = gm_move_connect(&g->url, CONNECT_MS, &g->ch.ch[i].fd, err);
		if (!r)
			r = channel_header(g, i, err);
	}
	/* a cancel that came while a connection was being made finds it here */
	if (!r && __atomic_load_n(&g->ch.aborted, __ATOMIC_ACQUIRE))
		r = gm_fail(err, GM_STATUS_FAILURE, ECANCELED, "migration: stopped while connecting");
	return r;
}

/* ---- the rounds (rounds.c) through the channels ---- */

static void put_round(struct gm_migration_progress *pr, void *opaque)
{
	const struct gm_round_report *rr = opaque;

	pr->round = rr->round;
	pr->pages_total = rr->total;
	pr->pages_left = rr->left;
	pr->pages_sent = rr->sent;
	pr->bytes_sent = rr->bytes;
	pr->bandwidth_mbps = rr->mbps;
	pr->expected_downtime_ms = rr->expect_ms;
	pr->throttle_pct = rr->throttle;
	pr->elapsed_ms = rr->elapsed_ms;
}

static void sink_report(struct gm_rounds *rs, const struct gm_round_report *rr, bool event)
{
	gm_move_update(rs->m, put_round, (void *)rr, event);
}

static uint64_t sink_bytes(struct gm_rounds *rs)
{
	return gm_channels_bytes(&((struct mig *)rs->opaque)->ch);
}

/*
 * A round: every page that may hold data (zero pages left out: the
 * destination's are zero), else this round's bitmaps.  Round 1 asks the
 * backing which pages hold data rather than reading every page: a hole
 * read through a shmem mapping is allocated, so memory the guest gave back
 * (a balloon) or never touched would fill up here just to be found zero.
 * Tracking is already on, so a page written after the look goes next round.
 */
static int sink_move(struct gm_rounds *rs, bool all, struct gm_error *err)
{
	struct mig *g = rs->opaque;
	uint64_t *data[GM_MAX_REGIONS] = { NULL };
	int r = 0;

	for (unsigned i = 0; all && i < rs->nrg && !r; i++) {
		size_t words = (rs->rg[i].npages + 63) / 64;
		struct gm_error ignored = { 0 };

		data[i] = malloc((words ? words : 1) * 8);
		if (!data[i])
			r = gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "migration: out of memory for the data bitmaps");
		else if (gm_memory_data_pages(rs->rg[i].mem, data[i], &ignored) < 0)
			memset(data[i], 0xff, words * 8); /* cannot tell: read every page, as before */
	}
	if (!r)
		r = gm_channels_send(&g->ch, rs->rg, rs->nrg, all ? data : rs->bm, !all, err);
	for (unsigned i = 0; i < rs->nrg; i++)
		free(data[i]);
	return r;
}

static const struct gm_rounds_sink channels_sink = {
	.move = sink_move,
	.bytes = sink_bytes,
	.report = sink_report,
};

/* ---- the pause ---- */

/* Postcopy: which pages the destination lacks, so it drops its stale copies and asks for them. */
static int send_dirty_bitmaps(struct mig *g, struct gm_error *err)
{
	int r = 0;

	for (unsigned i = 0; i < g->rs.nrg && !r; i++) {
		struct gm_buf b = { 0 };

		gm_buf_u64(&b, g->rs.rg[i].npages);
		gm_buf_bytes(&b, g->rs.bm[i], (g->rs.rg[i].npages + 63) / 64 * 8);
		r = b.failed ? gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "migration: out of memory for the dirty bitmap")
			     : gm_stream_out_section(g->ch.ch[0].w, GM_SECTION_DIRTY_BITMAP, i, 1, b.data, b.len, true, err);
		gm_buf_free(&b);
	}
	return r;
}

/* The last section: whether the guest ran (the destination leaves it as it was) and the mode. */
static int send_tail(struct mig *g, bool running, struct gm_error *err)
{
	json_t *tail = json_pack("{s:b, s:b}", "running", running, "postcopy", g->p.postcopy);
	char *text = json_dumps(tail, JSON_COMPACT);
	int r = text ? gm_stream_out_section(g->ch.ch[0].w, GM_SECTION_MIGRATION, 0, 1, text, strlen(text), false, err)
		     : gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "migration: out of memory");

	free(text);
	json_decref(tail);
	return r;
}

/*
 * Paused: the rest of the pages (precopy) or the bitmap of them (postcopy),
 * the state, the identity, and the answer that the guest runs there.  The
 * identity lock is let go just before the first connection's last bytes,
 * so a destination on this same host can take it when it has everything.
 */
static int stop_and_copy(struct mig *g, struct gm_error *err)
{
	struct gm_round_report *rr = &g->rs.rr;
	struct gm_channel *main_ch = &g->ch.ch[0];
	bool running;
	uint64_t more;
	struct gm_frame f;
	int r;

	gm_move_set_phase(g->m, g->p.postcopy ? GM_MIGRATION_POSTCOPY : GM_MIGRATION_STOP_AND_COPY, true);
	g->pause_us = gm_now_us();
	gm_pacer_set_throttle(g->rs.pacer, 0);
	if ((r = gm_hold(g->m, err)) < 0)
		return r;
	g->held = true;
	pthread_mutex_lock(&g->m->lock);
	running = !g->m->user_paused;
	pthread_mutex_unlock(&g->m->lock);
	r = gm_rounds_collect(&g->rs, false, &more, err);
	if (!r && !g->p.postcopy)
		r = gm_channels_send(&g->ch, g->rs.rg, g->rs.nrg, g->rs.bm, true, err);
	if (!r)
		r = gm_channels_end_others(&g->ch, err);
	if (!r && g->p.postcopy)
		r = send_dirty_bitmaps(g, err);
	if (!r)
		r = gm_state_write_sections(g->m, main_ch->w, err);
	if (!r)
		r = send_tail(g, running, err);
	if (!r) {
		gm_identity_unlock(g->m->uuid, g->m->lock_fd);
		g->m->lock_fd = -1;
		g->identity_given = true;
		r = g->p.postcopy ? gm_stream_out_flush(main_ch->w, err) : gm_stream_out_end(main_ch->w, err);
	}
	if (!g->p.postcopy) {
		rr->sent += more;
		rr->left = 0;
	}
	gm_rounds_report(&g->rs, false);
	if (!r)
		r = gm_frame_recv(main_ch->fd, &f, ANSWER_MS, err);
	if (!r && f.kind == GM_FRAME_REFUSED)
		r = gm_frame_refusal(&f, err);
	else if (!r && f.kind != GM_FRAME_RUNNING)
		r = gm_fail(err, GM_STATUS_FAILURE, EPROTO,
			    "migration: the destination answered frame %" PRIu32 " instead of RUNNING", f.kind);
	if (!r)
		g->downtime_us = gm_now_us() - g->pause_us;
	return r;
}

/* ---- the whole ---- */

static int check_params(struct mig *g, struct gm_error *err)
{
	int r = gm_move_url_parse(g->p.url ? g->p.url : "", &g->url, err);

	if (r)
		return r;
	gm_move_url_format(&g->url, g->url_text, sizeof(g->url_text));
	if (g->p.connections == 0)
		g->p.connections = 1;
	if (g->p.downtime_ms == 0)
		g->p.downtime_ms = 50;
	if (g->p.connections > GM_MIGRATION_MAX_CONNECTIONS)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "migration: %u connections asked; give 1 to %d",
			       g->p.connections, GM_MIGRATION_MAX_CONNECTIONS);
	if (g->p.downtime_ms > 60000)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "migration: a downtime of %u ms asked; give 1 to 60000 ms", g->p.downtime_ms);
	if (g->p.postcopy)
		return gm_move_postcopy_check(g->m, err);
	return 0;
}

static int setup(struct mig *g, struct gm_error *err)
{
	uint8_t raw[16];
	int r = gm_uuid_generate(raw, err);

	for (unsigned i = 0; i < 16 && !r; i++)
		snprintf(g->session + 2 * i, 3, "%02x", raw[i]);
	g->rs.nrg = gm_move_regions(g->m, g->rs.rg, GM_MAX_REGIONS);
	if (!r)
		r = gm_rounds_alloc(&g->rs, err);
	return r;
}

/*
 * A failure before the destination's RUNNING: the guest goes on here.
 * Returns false when it must not, because the destination took the
 * identity (its guest may run: one of the two must stay stopped).
 */
static bool undo(struct mig *g)
{
	struct gm_error e2 = { 0 };
	bool ours = true;

	gm_channels_abort(&g->ch);
	gm_pacer_stop(g->rs.pacer);
	g->rs.pacer = NULL;
	/* a destination that was killed lets go of it as its process ends */
	if (g->identity_given && gm_identity_lock_wait(g->m->uuid, &g->m->lock_fd, IDENTITY_WAIT_MS, &e2) < 0)
		ours = false;
	gm_rounds_untrack(&g->rs, g->held);
	if (g->held && ours)
		gm_release(g->m);
	return ours;
}

static void free_mig(struct mig *g)
{
	gm_rounds_free(&g->rs);
	gm_channels_close(&g->ch);
}

struct ending {
	enum gm_migration_phase phase;
	const char *error;
	double downtime_ms, elapsed_ms;
};

static void put_end(struct gm_migration_progress *pr, void *opaque)
{
	const struct ending *e = opaque;

	pr->phase = e->phase;
	pr->elapsed_ms = e->elapsed_ms;
	pr->downtime_ms = e->downtime_ms;
	pr->pages_left = e->phase == GM_MIGRATION_COMPLETED ? 0 : pr->pages_left;
	snprintf(pr->error, sizeof(pr->error), "%s", e->error ? e->error : "");
}

static int run(struct mig *g, struct gm_error *err)
{
	int r;

	gm_move_set_phase(g->m, GM_MIGRATION_CONNECTING, true);
	for (unsigned i = 0; i < GM_MIGRATION_MAX_CONNECTIONS; i++)
		g->ch.ch[i].fd = -1;
	g->ch.n = g->p.connections;
	g->ch.flags = g->p.compress ? GM_PAGES_COMPRESS : 0;
	r = setup(g, err);
	if (!r)
		r = gm_pacer_start(g->m, g->deadline_us, &g->m->migration.cancel, abort_sends, g, &g->rs.pacer, err);
	if (!r)
		r = connect_all(g, err);
	if (!r)
		r = gm_rounds_start_tracking(&g->rs, err);
	if (!r) {
		gm_move_set_phase(g->m, GM_MIGRATION_PRECOPY, true);
		r = gm_rounds_run(&g->rs, err);
	}
	if (!r)
		r = stop_and_copy(g, err);
	if (!r && g->p.postcopy) {
		g->committed = true;
		/* the guest starts over there now and never runs here again: its ports and taps are the destination's */
		gm_devices_release(g->m);
		r = gm_postcopy_serve(g->ch.ch[0].fd, g->ch.ch[0].w, g->rs.rg, g->rs.nrg, g->rs.bm, g->ch.flags, err);
		g->rs.rr.left = 0;
		gm_rounds_report(&g->rs, false);
	}
	if (!r)
		return 0;
	if (g->committed) {
		/* the guest runs over there with pages missing: it is lost, and this copy must not run */
		char cause[sizeof(err->msg)];

		snprintf(cause, sizeof(cause), "%s", err->msg);
		gm_error_clear(err);
		r = gm_fail(err, GM_STATUS_FAILURE, r < 0 ? -r : EIO,
			    "postcopy failed after the guest started at the destination (%s); the guest cannot go on there and must not run twice, so it stops here too",
			    cause);
		gm_machine_end(g->m, GM_EXIT_ERROR, GM_STATUS_FAILURE, 0, 0, "%s", err->msg);
		return r;
	}
	/* a cancel or the deadline shut the sockets: say that, not "broken pipe" */
	struct gm_error why = { 0 };
	if (g->rs.pacer && gm_pacer_timed_out(g->rs.pacer))
		gm_fail(&why, GM_STATUS_FAILURE, ETIMEDOUT,
			"migration to %s did not finish within timeout_s=%u; the guest runs on here", g->url_text,
			g->p.timeout_s);
	else if (__atomic_load_n(&g->m->migration.cancel, __ATOMIC_ACQUIRE))
		gm_fail(&why, GM_STATUS_FAILURE, ECANCELED,
			"migration to %s cancelled by vm.migration-cancel; the guest runs on here", g->url_text);
	if (why.msg[0]) {
		*err = why;
		r = -why.errnum;
	} else if (r == -EPIPE || r == -ECONNRESET) {
		/* the destination hung up: it may have said why first */
		struct gm_frame f;
		struct gm_error ignored = { 0 };

		if (gm_frame_recv(g->ch.ch[0].fd, &f, 1000, &ignored) == 0 && f.kind == GM_FRAME_REFUSED) {
			gm_error_clear(err);
			r = gm_frame_refusal(&f, err);
		}
	}
	if (!undo(g)) {
		gm_machine_end(g->m, GM_EXIT_ERROR, GM_STATUS_FAILURE, 0, 0,
			       "migration failed after the destination took over the VM identity (%s); the guest stays stopped here so that it cannot run twice",
			       err->msg);
	}
	return r;
}

int gm_machine_migrate(struct gm_machine *m, const struct gm_migration_params *p,
		       struct gm_migration_progress *result, struct gm_error *err)
{
	struct mig *g = calloc(1, sizeof(*g));
	struct gm_exit ended;
	int expect = 0, r;

	if (!g)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "migration: out of memory");
	g->m = m;
	g->p = *p;
	g->rs = (struct gm_rounds){ .m = m, .what = "migration", .moved = "sent", .sink = &channels_sink, .opaque = g,
				    .first_only = g->p.postcopy };
	if ((r = check_params(g, err)) < 0) {
		free(g);
		return r;
	}
	g->rs.downtime_ms = g->p.downtime_ms;
	if (__atomic_load_n(&m->rehome.running, __ATOMIC_ACQUIRE)) {
		free(g);
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY,
			       "a re-home of guest memory is running; wait for it or PUT vm.memory-rehome-cancel");
	}
	if (__atomic_load_n(&m->update.running, __ATOMIC_ACQUIRE)) {
		free(g);
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY, "a live update is running; migrate after it (from the new process)");
	}
	if (!__atomic_compare_exchange_n(&m->migration.running, &expect, 1, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		free(g);
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY,
			       "a migration is already running; wait for it or PUT vm.migration-cancel");
	}
	pthread_mutex_lock(&m->op_lock);
	if (gm_machine_exit(m, &ended) == 0) {
		r = gm_fail(err, GM_STATUS_FAILURE, ESRCH, "the guest has ended (%s); there is nothing to migrate",
			    ended.reason);
	} else {
		__atomic_store_n(&m->migration.cancel, 0, __ATOMIC_RELEASE);
		pthread_mutex_lock(&m->migration.lock);
		memset(&m->migration.prog, 0, sizeof(m->migration.prog));
		snprintf(m->migration.prog.url, sizeof(m->migration.prog.url), "%s", g->url_text);
		pthread_mutex_unlock(&m->migration.lock);
		g->rs.t0_us = gm_now_us();
		g->deadline_us = p->timeout_s ? g->rs.t0_us + (uint64_t)p->timeout_s * 1000000 : 0;
		r = run(g, err);
		bool cancelled = r == -ECANCELED;
		struct ending e = { .phase = r ? (cancelled ? GM_MIGRATION_CANCELLED : GM_MIGRATION_FAILED)
					       : GM_MIGRATION_COMPLETED,
				    .error = r ? err->msg : NULL,
				    .elapsed_ms = (double)(gm_now_us() - g->rs.t0_us) / 1000.0,
				    .downtime_ms = r ? 0 : (double)g->downtime_us / 1000.0 };
		gm_move_update(m, put_end, &e, true);
		if (!r) {
			if (!g->p.postcopy)
				gm_devices_release(m); /* the destination binds the guest's ports and taps */
			gm_emit(m, (struct gm_event){ .kind = GM_EVENT_MIGRATED, .migration = &m->migration.prog });
			gm_machine_end(m, GM_EXIT_MIGRATED, GM_STATUS_OK, 0, 0, "migrated to %s", g->url_text);
		}
	}
	pthread_mutex_unlock(&m->op_lock);
	free_mig(g);
	free(g);
	if (result)
		gm_machine_migration_progress(m, result);
	__atomic_store_n(&m->migration.running, 0, __ATOMIC_RELEASE);
	return r;
}

