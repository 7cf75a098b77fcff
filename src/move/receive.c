/*
 * move/receive: the destination's side of the connections, one thread
 * each.  Pages go straight into guest memory as their sections come (each
 * checked whole first, and every run's place checked against the region);
 * the machine's sections, which only the first connection carries, are
 * kept for the end.  The first failure shuts every connection down so the
 * other threads stop too (their reading side only: the first connection
 * must still carry the REFUSED answer), and is the one reported.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include "mem/mem.h"
#include "move/move.h"
#include "vmm/state.h"
#include "gmvm/thread.h"

struct recv_all {
	int *fd;
	unsigned n;
	const struct gm_move_region *rg;
	unsigned nrg;
	struct gm_stream_in *state;
	pthread_mutex_t lock;
	bool failed;
	int rc;
	struct gm_error err;
};

struct recv_one {
	struct recv_all *all;
	unsigned idx;
	struct gm_stream_reader *rd;
	const struct gm_section *sec;
	struct gm_error err;
	int rc;
};

static int put_run(void *opaque, uint32_t region, uint64_t first, uint64_t npages, const uint8_t *data)
{
	struct recv_one *one = opaque;
	const struct gm_move_region *g = &one->all->rg[region];

	/* the walk checked that first + npages does not wrap */
	if (first + npages > g->npages)
		return gm_section_fail(&one->err, one->sec,
				       "pages %" PRIu64 "..%" PRIu64 " pass the end of region %" PRIu32 " (%" PRIu64
				       " pages); the sender's memory is not this machine's",
				       first, first + npages - 1, region, g->npages);
	if (data)
		memcpy(g->host + first * GM_MOVE_PAGE, data, npages * GM_MOVE_PAGE);
	else /* freed, not written: a page the guest gave back stays free here */
		gm_memory_zero(g->mem, first * GM_MOVE_PAGE, npages * GM_MOVE_PAGE);
	return 0;
}

static int take(struct recv_one *one, const struct gm_section *sec)
{
	struct recv_all *all = one->all;

	one->sec = sec;
	switch (sec->type) {
	case GM_SECTION_PAGES:
		if (sec->instance >= all->nrg)
			return gm_section_fail(&one->err, sec, "region %" PRIu32 " of a machine with %u", sec->instance,
					       all->nrg);
		if (gm_stream_pages_shift(sec) != 12)
			return gm_section_fail(&one->err, sec, "pages of %u bytes; a migration sends 4 KiB pages",
					       1u << gm_stream_pages_shift(sec));
		return gm_stream_pages_foreach(sec, put_run, one, &one->err);
	case GM_SECTION_VCPU:
	case GM_SECTION_CLOCK:
	case GM_SECTION_GSI_ROUTES:
	case GM_SECTION_DEVICE:
	case GM_SECTION_REGION:
	case GM_SECTION_DIRTY_BITMAP:
	case GM_SECTION_MIGRATION:
		if (one->idx == 0) {
			int r = gm_stream_in_add(all->state, sec, &one->err);
			/* the machine's last section: what follows is the caller's (END, or postcopy's pages) */
			return r ? r : sec->type == GM_SECTION_MIGRATION;
		}
		return gm_section_fail(&one->err, sec, "the machine's state on connection %u; it comes on the first only",
				       one->idx + 1);
	default:
		return gm_section_fail(&one->err, sec, "has no place in a migration");
	}
}

static void *recv_thread(void *arg)
{
	struct recv_one *one = arg;
	struct recv_all *all = one->all;
	const struct gm_section *sec;
	int r;

	gm_thread_started(GM_THREAD_MIGRATION);
	while ((r = gm_stream_reader_next(one->rd, &sec, &one->err)) == 1)
		if ((r = take(one, sec)) != 0)
			break;
	one->rc = r = r > 0 ? 0 : r;
	if (r < 0) {
		pthread_mutex_lock(&all->lock);
		if (!all->failed) {
			all->failed = true;
			all->rc = r;
			all->err = one->err;
			for (unsigned i = 0; i < all->n; i++)
				shutdown(all->fd[i], SHUT_RD);
		}
		pthread_mutex_unlock(&all->lock);
	}
	return NULL;
}

int gm_receive_all(int *fd, struct gm_stream_reader **rd, unsigned n, const struct gm_move_region *rg,
		   unsigned nrg, struct gm_stream_in *state, struct gm_error *err)
{
	struct recv_all all = { .fd = fd, .n = n, .rg = rg, .nrg = nrg, .state = state };
	struct recv_one one[GM_MIGRATION_MAX_CONNECTIONS];
	pthread_t tid[GM_MIGRATION_MAX_CONNECTIONS];
	bool started[GM_MIGRATION_MAX_CONNECTIONS] = { false };

	pthread_mutex_init(&all.lock, NULL);
	for (unsigned i = 0; i < n; i++) {
		one[i] = (struct recv_one){ .all = &all, .idx = i, .rd = rd[i] };
		if (i > 0 && !(started[i] = pthread_create(&tid[i], NULL, recv_thread, &one[i]) == 0)) {
			one[i].rc = gm_fail(&one[i].err, GM_STATUS_FAILURE, EAGAIN,
					    "incoming migration: cannot start a thread for connection %u", i + 1);
			pthread_mutex_lock(&all.lock);
			if (!all.failed) {
				all.failed = true;
				all.rc = one[i].rc;
				all.err = one[i].err;
				for (unsigned k = 0; k < n; k++)
					shutdown(fd[k], SHUT_RD);
			}
			pthread_mutex_unlock(&all.lock);
		}
	}
	recv_thread(&one[0]);
	for (unsigned i = 1; i < n; i++)
		if (started[i])
			pthread_join(tid[i], NULL);
	pthread_mutex_destroy(&all.lock);
	if (all.failed) {
		*err = all.err;
		return all.rc;
	}
	return 0;
}
