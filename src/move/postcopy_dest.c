/*
 * move/postcopy_dest: the destination's side of postcopy.  Before the
 * guest runs: drop the pages the source's bitmap says are stale here, and
 * register the memory with userfaultfd, so a touch of a missing page stops
 * the toucher (a vCPU inside KVM, or gmvm) until it is filled.  While it
 * runs: one thread takes the source's pages as they stream in and places
 * them (UFFDIO_COPY, which wakes whoever waits on them); another takes the
 * faults: a page the source still owes is asked for (once), any other
 * missing page was zero there and is placed as zero at once.  At the
 * source's END every page is here: the memory is unregistered and the
 * source is told DONE.  Losing the source before that is fatal for the
 * guest, whose memory is then incomplete: the machine ends with that
 * reason rather than hang or run on wrong memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mem/backend.h"
#include "mem/mem.h"
#include "move/move.h"
#include "util/le.h"
#include "vmm/state.h"
#include "gmvm/thread.h"

struct gm_postcopy_dest {
	struct gm_machine *m;
	int fd;                        /* the first connection */
	struct gm_stream_reader *rd;
	struct gm_move_region rg[GM_MAX_REGIONS];
	unsigned nrg;
	uint64_t *owed[GM_MAX_REGIONS];    /* the source's bitmap: pages still to come */
	uint64_t *arrived[GM_MAX_REGIONS]; /* atomic bits */
	uint64_t *asked[GM_MAX_REGIONS];   /* the fault thread's own */
	int uffd;
	int wake[2];
	pthread_mutex_t send_lock;     /* PAGE frames and DONE share the connection */
	pthread_t faults, pages;
	bool faults_started, pages_started;
	int registered;                /* atomic: the memory is still registered */
};

static bool test_bit(const uint64_t *bm, uint64_t i)
{
	return __atomic_load_n(&bm[i / 64], __ATOMIC_ACQUIRE) >> (i % 64) & 1;
}

static void set_bit(uint64_t *bm, uint64_t i)
{
	__atomic_fetch_or(&bm[i / 64], UINT64_C(1) << (i % 64), __ATOMIC_RELEASE);
}

static int fail_uffd(int e, const char *what, struct gm_error *err)
{
	return gm_fail(err, e == EINVAL ? GM_STATUS_NO_KERNEL : GM_STATUS_FAILURE, e,
		       "postcopy: %s failed: %s; this memory cannot be filled on demand here, migrate with memory_mode precopy",
		       what, strerror(e));
}

/* The bitmap of region i from the state's DIRTY_BITMAP section, checked. */
static int read_owed(struct gm_postcopy_dest *pd, const struct gm_stream_in *state, unsigned i,
		     struct gm_error *err)
{
	const struct gm_section *sec = gm_stream_in_find(state, GM_SECTION_DIRTY_BITMAP, i);
	uint64_t npages = pd->rg[i].npages, words = (npages + 63) / 64;

	if (!sec)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "postcopy: no DIRTY_BITMAP section for region %u; the sender is not a gmvm of this version", i);
	if (sec->len != 8 + words * 8 || gm_le64(sec->data) != npages)
		return gm_section_fail(err, sec, "a bitmap of another size than region %u's %" PRIu64 " pages", i, npages);
	pd->owed[i] = malloc(words * 8);
	pd->arrived[i] = calloc(words, 8);
	pd->asked[i] = calloc(words, 8);
	if (!pd->owed[i] || !pd->arrived[i] || !pd->asked[i])
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "postcopy: out of memory for the page bitmaps");
	memcpy(pd->owed[i], sec->data + 8, words * 8);
	return 0;
}

/* Drop what is stale here: the owed pages, in runs. */
static int drop_owed(struct gm_postcopy_dest *pd, unsigned i, struct gm_error *err)
{
	struct gm_memory *mem = pd->rg[i].mem;
	uint64_t n = pd->rg[i].npages;

	for (uint64_t p = 0; p < n;) {
		if (!test_bit(pd->owed[i], p)) {
			p++;
			continue;
		}
		uint64_t q = p;
		while (q < n && test_bit(pd->owed[i], q))
			q++;
		int r = mem->ops->discard(mem, p * GM_MOVE_PAGE, (q - p) * GM_MOVE_PAGE, err);
		if (r < 0)
			return r;
		p = q;
	}
	return 0;
}

int gm_postcopy_dest_prepare(struct gm_machine *m, const struct gm_stream_in *state,
			     struct gm_postcopy_dest **out, struct gm_error *err)
{
	struct gm_postcopy_dest *pd = calloc(1, sizeof(*pd));
	struct uffdio_api api = { .api = UFFD_API };
	int r = 0;

	*out = NULL;
	if (!pd)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "postcopy: out of memory");
	pd->m = m;
	pd->fd = pd->uffd = pd->wake[0] = pd->wake[1] = -1;
	pthread_mutex_init(&pd->send_lock, NULL);
	pd->nrg = gm_move_regions(m, pd->rg, GM_MAX_REGIONS);
	for (unsigned i = 0; i < pd->nrg && !r; i++)
		r = read_owed(pd, state, i, err);
	for (unsigned i = 0; i < pd->nrg && !r; i++)
		r = drop_owed(pd, i, err);
	if (!r) {
		/* no UFFD_USER_MODE_ONLY: KVM's own faults on the mapping must come here */
		pd->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		if (pd->uffd < 0)
			r = fail_uffd(errno, "userfaultfd (for kernel faults it needs root or vm.unprivileged_userfaultfd=1)", err);
	}
	if (!r && ioctl(pd->uffd, UFFDIO_API, &api) < 0)
		r = fail_uffd(errno, "UFFDIO_API", err);
	for (unsigned i = 0; i < pd->nrg && !r; i++) {
		struct uffdio_register reg = {
			.range = { .start = (uint64_t)(uintptr_t)pd->rg[i].host, .len = pd->rg[i].npages * GM_MOVE_PAGE },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};
		if (ioctl(pd->uffd, UFFDIO_REGISTER, &reg) < 0)
			r = fail_uffd(errno, pd->rg[i].mem->cfg.backend == GM_BACKEND_GUEST_MEMFD
						     ? "UFFDIO_REGISTER on guest_memfd memory"
						     : "UFFDIO_REGISTER",
				      err);
	}
	if (!r)
		pd->registered = 1;
	if (!r && pipe2(pd->wake, O_CLOEXEC) < 0)
		r = gm_fail(err, GM_STATUS_FAILURE, errno, "postcopy: no wake-up pipe: %s", strerror(errno));
	if (r) {
		gm_postcopy_dest_stop(pd);
		return r;
	}
	*out = pd;
	return 0;
}

/* Place npages at page first of region i: data, or zeros when data is NULL.  A page already there stays. */
static int place(struct gm_postcopy_dest *pd, unsigned i, uint64_t first, uint64_t npages, const uint8_t *data)
{
	uint8_t *host = pd->rg[i].host;

	for (uint64_t p = first; p < first + npages; p++) {
		int rc;

		if (data) {
			struct uffdio_copy c = { .dst = (uint64_t)(uintptr_t)(host + p * GM_MOVE_PAGE),
						 .src = (uint64_t)(uintptr_t)(data + (p - first) * GM_MOVE_PAGE),
						 .len = GM_MOVE_PAGE };
			while ((rc = ioctl(pd->uffd, UFFDIO_COPY, &c)) < 0 && errno == EAGAIN)
				c.copy = 0;
		} else {
			struct uffdio_zeropage z = { .range = { .start = (uint64_t)(uintptr_t)(host + p * GM_MOVE_PAGE),
								 .len = GM_MOVE_PAGE } };
			while ((rc = ioctl(pd->uffd, UFFDIO_ZEROPAGE, &z)) < 0 && errno == EAGAIN)
				z.zeropage = 0;
		}
		/* EEXIST: asked and streamed both, or touched by no one yet and placed twice */
		if (rc < 0 && errno != EEXIST)
			return -errno;
		set_bit(pd->arrived[i], p);
	}
	return 0;
}

struct pages_ctx {
	struct gm_postcopy_dest *pd;
	const struct gm_section *sec;
	struct gm_error *err;
};

static int put_pages(void *opaque, uint32_t region, uint64_t first, uint64_t npages, const uint8_t *data)
{
	struct pages_ctx *c = opaque;
	struct gm_postcopy_dest *pd = c->pd;
	int r;

	if (region >= pd->nrg || first + npages > pd->rg[region].npages)
		return gm_section_fail(c->err, c->sec, "pages past the end of region %" PRIu32, region);
	if ((r = place(pd, region, first, npages, data)) < 0)
		return fail_uffd(-r, "placing a page", c->err);
	return 0;
}

static void unregister(struct gm_postcopy_dest *pd)
{
	if (!__atomic_exchange_n(&pd->registered, 0, __ATOMIC_ACQ_REL))
		return;
	for (unsigned i = 0; i < pd->nrg; i++) {
		struct uffdio_range range = { .start = (uint64_t)(uintptr_t)pd->rg[i].host,
					      .len = pd->rg[i].npages * GM_MOVE_PAGE };
		/* wakes whoever still waits: every page owed is here, the rest was zero */
		ioctl(pd->uffd, UFFDIO_UNREGISTER, &range);
	}
}

static void *pages_thread(void *arg)
{
	struct gm_postcopy_dest *pd = arg;
	struct gm_error err = { 0 };
	const struct gm_section *sec;
	int r;

	gm_thread_started(GM_THREAD_MIGRATION);
	while ((r = gm_stream_reader_next(pd->rd, &sec, &err)) == 1) {
		struct pages_ctx c = { pd, sec, &err };

		r = sec->type == GM_SECTION_PAGES ? gm_stream_pages_foreach(sec, put_pages, &c, &err)
						  : gm_section_fail(&err, sec, "not pages, in postcopy");
		if (r < 0)
			break;
	}
	if (r == 0) {
		unregister(pd);
		pthread_mutex_lock(&pd->send_lock);
		gm_frame_send(pd->fd, GM_FRAME_DONE, 0, NULL, 10000, &err);
		pthread_mutex_unlock(&pd->send_lock);
		gm_log(pd->m, GM_LOG_INFO, "postcopy: all of the guest's memory arrived");
		return NULL;
	}
	gm_machine_end(pd->m, GM_EXIT_ERROR, GM_STATUS_FAILURE, 0, 0,
		       "postcopy: the source went away before all of the guest's memory arrived (%s); the guest cannot go on without it",
		       err.msg);
	/* the vCPUs stop before they run again; wake those waiting on a page */
	unregister(pd);
	return NULL;
}

/* A fault at addr: ask for an owed page once; a page never owed was zero there. */
static void on_fault(struct gm_postcopy_dest *pd, uint64_t addr)
{
	for (unsigned i = 0; i < pd->nrg; i++) {
		uint64_t base = (uint64_t)(uintptr_t)pd->rg[i].host, p;
		struct gm_error err = { 0 };

		if (addr < base || addr >= base + pd->rg[i].npages * GM_MOVE_PAGE)
			continue;
		p = (addr - base) / GM_MOVE_PAGE;
		if (!test_bit(pd->owed[i], p)) {
			place(pd, i, p, 1, NULL);
		} else if (test_bit(pd->arrived[i], p)) {
			struct uffdio_range w = { .start = base + p * GM_MOVE_PAGE, .len = GM_MOVE_PAGE };
			ioctl(pd->uffd, UFFDIO_WAKE, &w);
		} else if (!(pd->asked[i][p / 64] >> (p % 64) & 1)) {
			pd->asked[i][p / 64] |= UINT64_C(1) << (p % 64);
			pthread_mutex_lock(&pd->send_lock);
			gm_frame_send_page(pd->fd, i, p, &err);
			pthread_mutex_unlock(&pd->send_lock);
		}
		return;
	}
}

static void *faults_thread(void *arg)
{
	struct gm_postcopy_dest *pd = arg;

	gm_thread_started(GM_THREAD_MIGRATION);
	for (;;) {
		struct pollfd p[2] = { { .fd = pd->uffd, .events = POLLIN }, { .fd = pd->wake[0], .events = POLLIN } };
		struct uffd_msg msg;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[1].revents)
			return NULL;
		if (!(p[0].revents & POLLIN))
			continue;
		ssize_t n = read(pd->uffd, &msg, sizeof(msg));
		if (n == (ssize_t)sizeof(msg) && msg.event == UFFD_EVENT_PAGEFAULT)
			on_fault(pd, msg.arg.pagefault.address & ~(uint64_t)(GM_MOVE_PAGE - 1));
	}
}

int gm_postcopy_dest_start(struct gm_postcopy_dest *pd, int fd, struct gm_stream_reader *rd, struct gm_error *err)
{
	pd->fd = fd;
	pd->rd = rd;
	if (pthread_create(&pd->faults, NULL, faults_thread, pd) != 0)
		return gm_fail(err, GM_STATUS_FAILURE, EAGAIN, "postcopy: cannot start the fault thread");
	pd->faults_started = true;
	if (pthread_create(&pd->pages, NULL, pages_thread, pd) != 0)
		return gm_fail(err, GM_STATUS_FAILURE, EAGAIN, "postcopy: cannot start the page thread");
	pd->pages_started = true;
	return 0;
}

void gm_postcopy_dest_stop(struct gm_postcopy_dest *pd)
{
	if (!pd)
		return;
	if (pd->pages_started) {
		/* the guest ended (or never ran): stop taking pages */
		if (pd->fd >= 0)
			shutdown(pd->fd, SHUT_RD);
		pthread_join(pd->pages, NULL);
	}
	if (pd->faults_started) {
		if (write(pd->wake[1], "x", 1) < 0) {
			/* the thread also ends when the pipe closes */
		}
		pthread_join(pd->faults, NULL);
	}
	unregister(pd);
	if (pd->uffd >= 0)
		close(pd->uffd);
	for (int i = 0; i < 2; i++)
		if (pd->wake[i] >= 0)
			close(pd->wake[i]);
	for (unsigned i = 0; i < pd->nrg; i++) {
		free(pd->owed[i]);
		free(pd->arrived[i]);
		free(pd->asked[i]);
	}
	pthread_mutex_destroy(&pd->send_lock);
	free(pd);
}
