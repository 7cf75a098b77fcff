/*
 * dev/virtio/blk_io: io_uring with a completion thread, or a worker thread
 * doing the same with preadv/pwritev/fdatasync (see blk_io.h).
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev/virtio/blk_io.h"
#include "gmvm/thread.h"

#define STOP_TAG 0 /* the user_data of the NOP that ends the completion thread */

struct gm_blk_io {
	int fd;
	bool uring;
	gm_blk_done_fn done;
	void *opaque;
	unsigned depth;

	pthread_mutex_t lock;     /* the ring's submission side, or the worker's list */
	pthread_cond_t more;      /* worker: something queued, or stop */
	struct gm_blk_req *head, **tail;
	bool stop;

	struct io_uring ring;
	pthread_t thread;
	bool have_thread;
};

enum gm_blk_engine gm_blk_engine_from_env(void)
{
	const char *e = getenv("GMVM_BLK_ENGINE");

	if (e && !strcmp(e, "thread"))
		return GM_BLK_ENGINE_THREAD;
	if (e && !strcmp(e, "uring"))
		return GM_BLK_ENGINE_URING;
	return GM_BLK_ENGINE_AUTO;
}

const char *gm_blk_io_engine_name(const struct gm_blk_io *io)
{
	return io->uring ? "io_uring" : "thread";
}

/*
 * The synchronous way, skip bytes already done: the worker's whole job,
 * and io_uring's rare short transfer (a file that shrank under us, a
 * signal) finishing the rest.
 */
static int do_sync(int fd, const struct gm_blk_req *req, uint64_t skip)
{
	struct iovec iov[64];
	unsigned i = 0;

	if (req->op == GM_BLK_FLUSH)
		return fdatasync(fd) < 0 ? -errno : 0;
	while (skip < req->len) {
		unsigned n = 0;
		uint64_t at = 0, want = 0;

		/* find the iovec holding byte skip, then take up to 64 from there */
		for (i = 0; i < req->niov && at + req->iov[i].iov_len <= skip; i++)
			at += req->iov[i].iov_len;
		for (; i < req->niov && n < 64; i++, n++) {
			iov[n] = req->iov[i];
			if (!n) {
				iov[0].iov_base = (char *)iov[0].iov_base + (skip - at);
				iov[0].iov_len -= skip - at;
			}
			want += iov[n].iov_len;
		}
		if (!want)
			return -EIO;
		ssize_t r = req->op == GM_BLK_READ ? preadv(fd, iov, (int)n, (off_t)(req->off + skip))
						   : pwritev(fd, iov, (int)n, (off_t)(req->off + skip));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO; /* past the end of the file: it shrank */
		skip += (uint64_t)r;
	}
	return 0;
}

static void *worker(void *arg)
{
	struct gm_blk_io *io = arg;

	gm_thread_started(GM_THREAD_BLK_IO);
	pthread_mutex_lock(&io->lock);
	for (;;) {
		struct gm_blk_req *req = io->head;

		if (!req) {
			if (io->stop)
				break;
			pthread_cond_wait(&io->more, &io->lock);
			continue;
		}
		io->head = req->next;
		if (!io->head)
			io->tail = &io->head;
		pthread_mutex_unlock(&io->lock);
		io->done(io->opaque, req, do_sync(io->fd, req, 0));
		pthread_mutex_lock(&io->lock);
	}
	pthread_mutex_unlock(&io->lock);
	return NULL;
}

/* A completion's result as done wants it: retried transfers (EAGAIN, EINTR, short) finished here. */
static int finish(struct gm_blk_io *io, const struct gm_blk_req *req, int res)
{
	if (res == -EAGAIN || res == -EINTR)
		return do_sync(io->fd, req, 0);
	if (res < 0 || req->op == GM_BLK_FLUSH)
		return res < 0 ? res : 0;
	if ((uint64_t)res < req->len)
		return do_sync(io->fd, req, (uint64_t)res);
	return 0;
}

static void *reaper(void *arg)
{
	struct gm_blk_io *io = arg;

	gm_thread_started(GM_THREAD_BLK_IO);
	for (;;) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(&io->ring, &cqe);

		if (r == -EINTR || r == -EAGAIN)
			continue;
		if (r < 0)
			break; /* the ring is unusable: nothing more will complete */
		struct gm_blk_req *req = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&io->ring, cqe);
		if (!req)
			break;
		io->done(io->opaque, req, finish(io, req, res));
	}
	return NULL;
}

/* A ring's sqe, making room by submitting when the queue is full (not expected: depth fits). */
static struct io_uring_sqe *get_sqe(struct gm_blk_io *io)
{
	struct io_uring_sqe *sqe;

	while (!(sqe = io_uring_get_sqe(&io->ring)))
		io_uring_submit(&io->ring);
	return sqe;
}

void gm_blk_io_queue(struct gm_blk_io *io, struct gm_blk_req *req)
{
	req->next = NULL;
	pthread_mutex_lock(&io->lock);
	if (!io->uring) {
		*io->tail = req;
		io->tail = &req->next;
		pthread_cond_signal(&io->more);
	} else {
		struct io_uring_sqe *sqe = get_sqe(io);

		if (req->op == GM_BLK_READ)
			io_uring_prep_readv(sqe, io->fd, req->iov, req->niov, req->off);
		else if (req->op == GM_BLK_WRITE)
			io_uring_prep_writev(sqe, io->fd, req->iov, req->niov, req->off);
		else
			io_uring_prep_fsync(sqe, io->fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data(sqe, req);
	}
	pthread_mutex_unlock(&io->lock);
}

void gm_blk_io_kick(struct gm_blk_io *io)
{
	if (!io->uring)
		return; /* the worker woke on queue */
	pthread_mutex_lock(&io->lock);
	for (int tries = 0; tries < 1000; tries++) {
		int r = io_uring_submit(&io->ring);

		if (r >= 0 || (r != -EINTR && r != -EAGAIN && r != -EBUSY))
			break;
	}
	pthread_mutex_unlock(&io->lock);
}

int gm_blk_io_new(int fd, unsigned depth, enum gm_blk_engine which, gm_blk_done_fn done, void *opaque,
		  const char *who, struct gm_blk_io **out, struct gm_error *err)
{
	struct gm_blk_io *io = calloc(1, sizeof(*io));
	int r;

	if (!io)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "%s: out of memory for its I/O engine", who);
	io->fd = fd;
	io->done = done;
	io->opaque = opaque;
	io->depth = depth;
	io->tail = &io->head;
	pthread_mutex_init(&io->lock, NULL);
	pthread_cond_init(&io->more, NULL);

	if (which != GM_BLK_ENGINE_THREAD) {
		r = io_uring_queue_init(depth, &io->ring, 0);
		if (r == 0)
			io->uring = true;
		else if (which == GM_BLK_ENGINE_URING) {
			r = gm_fail(err, GM_STATUS_NO_KERNEL, -r,
				"%s: io_uring cannot be set up here (%s); unset GMVM_BLK_ENGINE to use the worker thread",
				who, strerror(-r));
			goto fail;
		}
	}
	/* the machine's signals (vCPU kicks, SIGINT) are not this thread's business */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&io->thread, NULL, io->uring ? reaper : worker, io);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		r = gm_fail(err, GM_STATUS_FAILURE, r, "%s: cannot start its I/O thread (%s)", who, strerror(r));
		goto fail;
	}
	io->have_thread = true;
	*out = io;
	return 0;
fail:
	if (io->uring)
		io_uring_queue_exit(&io->ring);
	pthread_mutex_destroy(&io->lock);
	pthread_cond_destroy(&io->more);
	free(io);
	return r;
}

void gm_blk_io_free(struct gm_blk_io *io)
{
	if (!io)
		return;
	if (io->have_thread) {
		pthread_mutex_lock(&io->lock);
		io->stop = true;
		if (io->uring) {
			struct io_uring_sqe *sqe = get_sqe(io);

			/* after everything before it: the caller has quiesced, but be sure */
			io_uring_prep_nop(sqe);
			io_uring_sqe_set_flags(sqe, IOSQE_IO_DRAIN);
			io_uring_sqe_set_data(sqe, (void *)(uintptr_t)STOP_TAG);
			io_uring_submit(&io->ring);
		} else {
			pthread_cond_signal(&io->more);
		}
		pthread_mutex_unlock(&io->lock);
		pthread_join(io->thread, NULL);
	}
	if (io->uring)
		io_uring_queue_exit(&io->ring);
	pthread_mutex_destroy(&io->lock);
	pthread_cond_destroy(&io->more);
	free(io);
}
