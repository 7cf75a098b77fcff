/*
 * move/channels: the source's connections, each carrying one stream.  A
 * round's pages are cut into stripes of GM_MOVE_STRIPE_PAGES, and channel
 * i sends every stripe s with s % n == i, all channels at once on threads
 * of their own: the link, not one core's copying and checksumming, should
 * bound a migration.  A page keeps its channel from round to round, so the
 * destination applies its copies in the order they were taken.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "move/move.h"
#include "gmvm/thread.h"

struct round {
	struct gm_channels *c;
	unsigned idx;
	const struct gm_move_region *rg;
	unsigned nrg;
	uint64_t *const *bitmaps;
	unsigned flags;
};

static int send_stripes(const struct round *rd)
{
	struct gm_channel *ch = &rd->c->ch[rd->idx];
	unsigned n = rd->c->n;

	for (unsigned r = 0; r < rd->nrg; r++) {
		const struct gm_move_region *g = &rd->rg[r];
		const uint64_t *bm = rd->bitmaps ? rd->bitmaps[r] : NULL;
		uint64_t nstripes = (g->npages + GM_MOVE_STRIPE_PAGES - 1) / GM_MOVE_STRIPE_PAGES;

		for (uint64_t s = rd->idx; s < nstripes; s += n) {
			uint64_t first = s * GM_MOVE_STRIPE_PAGES;
			uint64_t count = g->npages - first < GM_MOVE_STRIPE_PAGES ? g->npages - first
										   : GM_MOVE_STRIPE_PAGES;
			/* a stripe is a multiple of 64 pages, so its bitmap starts on a word */
			const uint64_t *sbm = bm ? bm + first / 64 : NULL;
			int rc = gm_stream_out_pages(ch->w, r, g->host + first * GM_MOVE_PAGE, GM_MOVE_PAGE,
						     first, count, sbm, rd->flags, &ch->err);

			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/*
 * One channel failing leaves the others blocked on a peer that may have
 * stopped reading: shut their sending side so every thread returns, and
 * keep the receiving side, where the destination may have said why.
 */
static void stop_sends(struct gm_channels *c)
{
	for (unsigned i = 0; i < c->n; i++)
		if (c->ch[i].fd >= 0)
			shutdown(c->ch[i].fd, SHUT_WR);
}

static void *channel_thread(void *arg)
{
	struct round *rd = arg;

	gm_thread_started(GM_THREAD_MIGRATION);
	rd->c->ch[rd->idx].rc = send_stripes(rd);
	if (rd->c->ch[rd->idx].rc < 0)
		stop_sends(rd->c);
	return NULL;
}

int gm_channels_send(struct gm_channels *c, const struct gm_move_region *rg, unsigned nrg,
		     uint64_t *const *bitmaps, bool with_zeros, struct gm_error *err)
{
	struct round rd[GM_MIGRATION_MAX_CONNECTIONS];
	pthread_t tid[GM_MIGRATION_MAX_CONNECTIONS];
	bool started[GM_MIGRATION_MAX_CONNECTIONS] = { false };
	int r = 0;

	for (unsigned i = 0; i < c->n; i++) {
		rd[i] = (struct round){ c, i, rg, nrg, bitmaps,
					c->flags | (with_zeros ? GM_PAGES_ZEROS : 0) };
		c->ch[i].rc = 0;
		/* the first channel's share runs on the caller's thread */
		if (i > 0)
			started[i] = pthread_create(&tid[i], NULL, channel_thread, &rd[i]) == 0;
		if (i > 0 && !started[i])
			c->ch[i].rc = gm_fail(&c->ch[i].err, GM_STATUS_FAILURE, EAGAIN,
					      "migration: cannot start a thread for connection %u", i + 1);
	}
	c->ch[0].rc = send_stripes(&rd[0]);
	if (c->ch[0].rc < 0)
		stop_sends(c);
	for (unsigned i = 1; i < c->n; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
	for (unsigned i = 0; i < c->n && !r; i++)
		if (c->ch[i].rc < 0) {
			*err = c->ch[i].err;
			r = c->ch[i].rc;
		}
	return r;
}

uint64_t gm_channels_bytes(const struct gm_channels *c)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < c->n; i++)
		if (c->ch[i].w)
			n += gm_stream_out_bytes(c->ch[i].w);
	return n;
}

int gm_channels_end_others(struct gm_channels *c, struct gm_error *err)
{
	for (unsigned i = 1; i < c->n; i++) {
		int r = gm_stream_out_end(c->ch[i].w, err);

		if (r < 0)
			return r;
	}
	return 0;
}

void gm_channels_abort(struct gm_channels *c)
{
	__atomic_store_n(&c->aborted, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < c->n; i++)
		if (c->ch[i].fd >= 0)
			shutdown(c->ch[i].fd, SHUT_RDWR);
}

void gm_channels_close(struct gm_channels *c)
{
	for (unsigned i = 0; i < c->n; i++) {
		gm_stream_out_free(c->ch[i].w);
		c->ch[i].w = NULL;
		if (c->ch[i].fd >= 0)
			close(c->ch[i].fd);
		c->ch[i].fd = -1;
	}
	c->n = 0;
}
