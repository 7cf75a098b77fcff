/*
 * move/postcopy: starting the guest at the destination before all of its
 * memory is there, the missing pages fetched when it touches them.  That
 * needs userfaultfd on the destination's memory: it works for memfd and
 * anon, and this kernel refuses it on guest_memfd (UFFDIO_REGISTER says
 * EINVAL; `gmvm probe` shows it), so a guest_memfd region is refused at
 * request time, before anything is sent, with the kernel's own answer.
 *
 * The source's part: once the destination runs the guest, send every page
 * still dirty (the bitmap the destination got), a stripe at a time, and
 * between stripes first the pages the guest over there stopped on.  The
 * source is paused for good by then, so a page sent twice is the same
 * page twice.  The destination's part is postcopy_dest.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "kvm/caps_host.h"
#include "mem/mem.h"
#include "move/move.h"
#include "gmvm/thread.h"

int gm_move_postcopy_check(struct gm_machine *m, struct gm_error *err)
{
	struct gm_move_region rg[GM_MAX_REGIONS];
	unsigned n = gm_move_regions(m, rg, GM_MAX_REGIONS);

	for (unsigned i = 0; i < n; i++) {
		const struct gm_mem_config *c = &rg[i].mem->cfg;

		if (c->backend == GM_BACKEND_GUEST_MEMFD) {
			/* asked of this VM on this (migration) thread: the full probe
			 * would make a VM of its own, which no running thread's
			 * seccomp list allows */
			int e = gm_caps_uffd_on_gmem(m->vm_fd, m->caps.gmem_flags);

			if (e)
				return gm_fail(err, GM_STATUS_NO_KERNEL, e,
					       "postcopy needs userfaultfd on the guest's memory, and this kernel refuses it on guest_memfd (%s; gmvm probe shows it); migrate with memory_mode precopy, or use backend=memfd",
					       strerror(e));
		}
		if (rg[i].mem->page_size > GM_PAGE_4K)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "postcopy fetches 4K pages one at a time, which hugepage-backed memory cannot take; migrate with memory_mode precopy");
	}
	return 0;
}

/* ---- the source, once the guest runs over there ---- */

struct serve {
	int fd;
	struct gm_stream_out *w;
	const struct gm_move_region *rg;
	unsigned nrg;
	uint64_t *const *dirty;
	unsigned flags;
	pthread_mutex_t lock;
	struct { uint32_t region; uint64_t page; } *asked; /* requests not served yet */
	size_t nasked, cap;
	bool done;            /* DONE came */
	int rc;               /* the answers' reader failed */
	struct gm_error err;
};

/* The destination's PAGE requests and its DONE, on the first connection's other direction. */
static void *answers(void *arg)
{
	struct serve *s = arg;
	struct gm_frame f;
	int r;

	gm_thread_started(GM_THREAD_MIGRATION);
	while ((r = gm_frame_recv(s->fd, &f, -1, &s->err)) == 0 && f.kind == GM_FRAME_PAGE) {
		pthread_mutex_lock(&s->lock);
		if (s->nasked == s->cap) {
			size_t cap = s->cap ? 2 * s->cap : 256;
			void *p = realloc(s->asked, cap * sizeof(*s->asked));
			if (p) {
				s->asked = p;
				s->cap = cap;
			}
		}
		/* a request that cannot be queued is served by the sweep anyway */
		if (s->nasked < s->cap) {
			s->asked[s->nasked].region = f.status;
			s->asked[s->nasked].page = f.page;
			s->nasked++;
		}
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_lock(&s->lock);
	if (r == 0 && f.kind == GM_FRAME_DONE)
		s->done = true;
	else if (r == 0)
		s->rc = gm_fail(&s->err, GM_STATUS_FAILURE, EPROTO, "postcopy: the destination sent frame %u", f.kind);
	else
		s->rc = r;
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static bool bit(const uint64_t *bm, uint64_t i)
{
	return bm[i / 64] >> (i % 64) & 1;
}

/* The pages the guest over there waits for, first; each goes once. */
static int serve_asked(struct serve *s, struct gm_error *err)
{
	int r = 0;

	pthread_mutex_lock(&s->lock);
	while (s->nasked && !r) {
		uint32_t region = s->asked[s->nasked - 1].region;
		uint64_t page = s->asked[s->nasked - 1].page;

		s->nasked--;
		if (region >= s->nrg || page >= s->rg[region].npages || !bit(s->dirty[region], page))
			continue; /* sent already, or not one it lacks */
		s->dirty[region][page / 64] &= ~(UINT64_C(1) << (page % 64));
		pthread_mutex_unlock(&s->lock);
		uint64_t one = 1;
		r = gm_stream_out_pages(s->w, region, s->rg[region].host + page * GM_MOVE_PAGE, GM_MOVE_PAGE, page, 1,
					&one, s->flags | GM_PAGES_ZEROS, err);
		if (!r)
			r = gm_stream_out_flush(s->w, err);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int gm_postcopy_serve(int fd, struct gm_stream_out *w, const struct gm_move_region *rg, unsigned nrg,
		      uint64_t *const *dirty, unsigned flags, struct gm_error *err)
{
	struct serve s = { .fd = fd, .w = w, .rg = rg, .nrg = nrg, .dirty = dirty, .flags = flags };
	pthread_t tid;
	int r = 0;

	pthread_mutex_init(&s.lock, NULL);
	if (pthread_create(&tid, NULL, answers, &s) != 0) {
		pthread_mutex_destroy(&s.lock);
		return gm_fail(err, GM_STATUS_FAILURE, EAGAIN, "postcopy: cannot start the thread for the destination's requests");
	}
	/* the rest in order, a stripe at a time, the requests between stripes */
	for (unsigned i = 0; i < nrg && !r; i++)
		for (uint64_t first = 0; first < rg[i].npages && !r; first += GM_MOVE_STRIPE_PAGES) {
			uint64_t n = rg[i].npages - first < GM_MOVE_STRIPE_PAGES ? rg[i].npages - first
										: GM_MOVE_STRIPE_PAGES;

			r = serve_asked(&s, err);
			pthread_mutex_lock(&s.lock);
			int failed = s.rc;
			pthread_mutex_unlock(&s.lock);
			if (!r && failed)
				r = gm_fail(err, GM_STATUS_FAILURE, -failed, "postcopy: %s", s.err.msg);
			if (!r)
				r = gm_stream_out_pages(w, i, rg[i].host + first * GM_MOVE_PAGE, GM_MOVE_PAGE, first, n,
							dirty[i] + first / 64, flags | GM_PAGES_ZEROS, err);
			if (!r)
				r = gm_stream_out_flush(w, err);
		}
	if (!r)
		r = gm_stream_out_end(w, err);
	if (r)
		shutdown(fd, SHUT_RDWR);
	pthread_join(tid, NULL);
	if (!r && !s.done)
		r = gm_fail(err, GM_STATUS_FAILURE, s.rc ? -s.rc : EPROTO,
			    "postcopy: the destination did not confirm that all memory arrived: %s", s.err.msg);
	free(s.asked);
	pthread_mutex_destroy(&s.lock);
	return r;
}
