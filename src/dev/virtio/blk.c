/*
 * dev/virtio/blk: virtio-blk (virtio 1.2, 5.2) over one file or block
 * device per --disk.  Requests are taken from the queue on the vCPU that
 * kicked it, started on blk_io's engine (io_uring or a worker thread) and
 * answered from the engine's thread.  A count of requests in flight lets
 * a hold (quiesce), a driver reset and destroy wait until none is left, so
 * no guest pointer outlives a pause.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev/virtio/blk_io.h"
#include "dev/virtio/virtio.h"
#include "util/escape.h"

/* Feature bits (5.2.3) */
#define BLK_F_SEG_MAX  (UINT64_C(1) << 2)
#define BLK_F_RO       (UINT64_C(1) << 5)
#define BLK_F_BLK_SIZE (UINT64_C(1) << 6)
#define BLK_F_FLUSH    (UINT64_C(1) << 9)

/* Request types and status (5.2.6) */
#define BLK_T_IN     0
#define BLK_T_OUT    1
#define BLK_T_FLUSH  4
#define BLK_T_GET_ID 8
#define BLK_S_OK     0
#define BLK_S_IOERR  1
#define BLK_S_UNSUPP 2

#define SECTOR 512u
#define BLK_ID_BYTES 20
#define QUEUE_SIZE 128
#define POOL (QUEUE_SIZE + 1) /* + 1: a kick with the queue full still has one to pop into */
#define NQUEUES 1           /* one today; everything below is per queue */
#define SEG_MAX (QUEUE_SIZE - 2)
#define CONFIG_LEN 36       /* up to num_queues (offered only with F_MQ) */
#define STATE_MAGIC 0x6b6c4267u /* "gBlk" */

struct blk;

/* One request: the chain, the I/O built from it, where its status goes. */
struct blk_req {
	struct gm_blk_req io;   /* first: done gets it back */
	struct blk *b;
	unsigned q;
	uint8_t *status;
	struct blk_req *next_free;
	struct iovec iov[GM_VIRTQ_MAX_SEGS];
	struct gm_virtq_elem elem;
};

struct blk_queue {
	pthread_mutex_t pop_lock;       /* one vCPU at a time takes chains */
	struct blk_req *reqs;           /* POOL of them */
};

struct blk {
	struct gm_dev_host host;
	struct gm_virtio_ops ops;        /* blk_ops, with RO for a read-only disk */
	struct gm_virtio *v;
	struct gm_blk_io *io;
	int fd;
	bool readonly;
	uint64_t capacity;               /* 512-byte sectors */
	char name[8];                    /* "vda" */
	char id[BLK_ID_BYTES];
	struct blk_queue queues[NQUEUES];
	uint8_t config[CONFIG_LEN];

	pthread_mutex_t lock;            /* the free list and the counts */
	pthread_cond_t idle;             /* inflight fell to 0 */
	struct blk_req *free;
	unsigned inflight;
	bool dropping;                   /* a driver reset: answer nothing, just count down */
};

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static unsigned instances(const struct gm_config *cfg)
{
	return cfg->ndisks;
}

static struct blk_req *req_get(struct blk *b)
{
	pthread_mutex_lock(&b->lock);
	struct blk_req *r = b->free;
	if (r) {
		b->free = r->next_free;
		b->inflight++;
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

static void req_put(struct blk *b, struct blk_req *r)
{
	pthread_mutex_lock(&b->lock);
	r->next_free = b->free;
	b->free = r;
	if (!--b->inflight)
		pthread_cond_broadcast(&b->idle);
	pthread_mutex_unlock(&b->lock);
}

/* Wait until nothing is in flight. */
static void wait_idle(struct blk *b)
{
	pthread_mutex_lock(&b->lock);
	while (b->inflight)
		pthread_cond_wait(&b->idle, &b->lock);
	pthread_mutex_unlock(&b->lock);
}

/* Answer r: its status byte, the used ring, the interrupt; then it is free again. */
static void answer(struct blk_req *r, uint8_t status, bool notify)
{
	struct blk *b = r->b;
	bool drop;

	pthread_mutex_lock(&b->lock);
	drop = b->dropping;
	pthread_mutex_unlock(&b->lock);
	if (!drop) {
		struct gm_virtq *vq = gm_virtio_queue(b->v, r->q);

		*r->status = status;
		/* every writable byte counts as written: the status is the last, and
		 * the dirty marks must cover it whatever the data part held */
		gm_virtq_push(vq, &r->elem, (uint32_t)r->elem.in_bytes);
		if (notify)
			gm_virtq_notify(vq);
	}
	req_put(b, r);
}

static void io_done(void *opaque, struct gm_blk_req *io, int res)
{
	(void)opaque;
	answer((struct blk_req *)io, res ? BLK_S_IOERR : BLK_S_OK, true);
}

/*
 * iov of the chain's bytes [from, to) counting out buffers then in ones,
 * into r->iov; the number of entries.
 */
static unsigned gather(struct blk_req *r, unsigned first, unsigned last, uint64_t skip, uint64_t len)
{
	unsigned n = 0;

	for (unsigned i = first; i < last && len; i++) {
		struct gm_virtq_seg *s = &r->elem.seg[i];
		if (skip >= s->len) {
			skip -= s->len;
			continue;
		}
		uint64_t take = s->len - skip;
		if (take > len)
			take = len;
		r->iov[n].iov_base = s->hva + skip;
		r->iov[n].iov_len = take;
		n++;
		len -= take;
		skip = 0;
	}
	return n;
}

/*
 * Turn a popped chain into I/O, or answer it at once.  Returns true when
 * it went to the engine, false when it was answered (or refused: the
 * device is then broken and the chain is dropped).
 */
static bool start(struct blk *b, struct blk_req *r)
{
	struct gm_virtq_elem *e = &r->elem;
	uint8_t hdr[16];
	struct gm_virtq_seg *last = e->nin ? &e->seg[e->nout + e->nin - 1] : NULL;

	if (e->out_bytes < sizeof(hdr) || !last || !last->len) {
		gm_virtio_broken(b->v, last && last->len ? "virtio-blk: a request's header is shorter than 16 bytes"
							 : "virtio-blk: a request has no status byte");
		req_put(b, r);
		return false;
	}
	gm_virtq_elem_read(e, 0, hdr, sizeof(hdr));
	uint32_t type = (uint32_t)get_le(hdr, 4);
	uint64_t sector = get_le(hdr + 8, 8);

	r->status = last->hva + last->len - 1;
	uint64_t data_in = e->in_bytes - 1, data_out = e->out_bytes - sizeof(hdr);

	switch (type) {
	case BLK_T_IN:
	case BLK_T_OUT: {
		bool in = type == BLK_T_IN;
		uint64_t len = in ? data_in : data_out;

		if ((!in && b->readonly) || len % SECTOR || sector > b->capacity ||
		    len / SECTOR > b->capacity - sector) {
			answer(r, BLK_S_IOERR, false);
			return false;
		}
		r->io.op = in ? GM_BLK_READ : GM_BLK_WRITE;
		r->io.off = sector * SECTOR;
		r->io.len = len;
		r->io.iov = r->iov;
		r->io.niov = in ? gather(r, e->nout, e->nout + e->nin, 0, len)
				: gather(r, 0, e->nout, sizeof(hdr), len);
		if (!len) {
			answer(r, BLK_S_OK, false);
			return false;
		}
		gm_blk_io_queue(b->io, &r->io);
		return true;
	}
	case BLK_T_FLUSH:
		r->io.op = GM_BLK_FLUSH;
		r->io.len = 0;
		r->io.niov = 0;
		gm_blk_io_queue(b->io, &r->io);
		return true;
	case BLK_T_GET_ID:
		/* the id is NUL-padded to 20 bytes; a shorter buffer takes its start */
		gm_virtq_elem_write(e, 0, b->id, data_in < BLK_ID_BYTES ? data_in : BLK_ID_BYTES);
		answer(r, BLK_S_OK, false);
		return false;
	default:
		answer(r, BLK_S_UNSUPP, false);
		return false;
	}
}

static void notify(void *dev, unsigned q)
{
	struct blk *b = dev;
	struct blk_queue *bq;
	struct gm_virtq *vq;
	bool answered = false, started = false;

	if (q >= NQUEUES || !(vq = gm_virtio_queue(b->v, q)))
		return;
	bq = &b->queues[q];
	pthread_mutex_lock(&bq->pop_lock);
	for (;;) {
		struct blk_req *r = req_get(b);
		if (!r) {
			/* one more than the queue's descriptors in flight: the driver reused a head */
			gm_virtio_broken(b->v, "virtio-blk: the driver offered more requests than its queue holds");
			break;
		}
		r->q = q;
		int got = gm_virtq_pop(vq, &r->elem);
		if (got <= 0) {
			req_put(b, r);
			break;
		}
		if (start(b, r))
			started = true;
		else
			answered = true;
	}
	pthread_mutex_unlock(&bq->pop_lock);
	if (started)
		gm_blk_io_kick(b->io);
	if (answered)
		gm_virtq_notify(vq);
}

static void config_read(void *dev, uint32_t off, uint8_t *out, unsigned len)
{
	struct blk *b = dev;

	memcpy(out, b->config + off, len);
}

static int activate(void *dev, uint64_t features)
{
	(void)dev;
	(void)features;
	return 0;
}

/* The driver reset the device: whatever is still in flight finishes unanswered. */
static void vreset(void *dev)
{
	struct blk *b = dev;

	pthread_mutex_lock(&b->lock);
	b->dropping = true;
	while (b->inflight)
		pthread_cond_wait(&b->idle, &b->lock);
	b->dropping = false;
	pthread_mutex_unlock(&b->lock);
}

static void quiesce(void *dev)
{
	if (dev)
		wait_idle(dev);
}

static const struct gm_virtio_ops blk_ops = {
	.name = "virtio-blk",
	.device_id = GM_VIRTIO_ID_BLOCK,
	.features = BLK_F_SEG_MAX | BLK_F_BLK_SIZE | BLK_F_FLUSH,
	.nqueues = NQUEUES,
	.queue_max = QUEUE_SIZE,
	.config_len = CONFIG_LEN,
	.config_read = config_read,
	.activate = activate,
	.notify = notify,
	.reset = vreset,
	.quiesce = quiesce,
};

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void destroy(void *dev);

static int create(const struct gm_dev_ctx *ctx, void **dev, struct gm_error *err)
{
	const struct gm_disk_config *d = &ctx->cfg->disks[ctx->instance];
	struct blk *b = calloc(1, sizeof(*b));
	uint64_t bytes = 0;
	int r;

	*dev = NULL;
	if (!b)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for virtio-blk");
	b->fd = -1;
	b->host = ctx->host;
	b->readonly = d->readonly;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->idle, NULL);
	snprintf(b->name, sizeof(b->name), "vd%c", 'a' + (int)(ctx->instance % 26));
	/* stable across a restore, a migration or an update, whatever the path there */
	snprintf(b->id, sizeof(b->id), "gmvm-%s", b->name);
	for (unsigned q = 0; q < NQUEUES; q++) {
		pthread_mutex_init(&b->queues[q].pop_lock, NULL);
		/* large (the worst chain each), touched only as the queue fills */
		b->queues[q].reqs = calloc(POOL, sizeof(struct blk_req));
		if (!b->queues[q].reqs) {
			destroy(b);
			return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for virtio-blk's requests");
		}
		for (unsigned i = 0; i < POOL; i++) {
			struct blk_req *req = &b->queues[q].reqs[i];
			req->b = b;
			req->next_free = b->free;
			b->free = req;
		}
	}
	if ((r = gm_blk_disk_open(d, &b->fd, &bytes, err)) < 0) {
		destroy(b);
		return r;
	}
	b->capacity = bytes / SECTOR;
	put_le(b->config + 0, b->capacity, 8);
	put_le(b->config + 12, SEG_MAX, 4);
	put_le(b->config + 20, SECTOR, 4);
	put_le(b->config + 34, NQUEUES, 2);

	char who[64];
	snprintf(who, sizeof(who), "virtio-blk %s", b->name);
	if ((r = gm_blk_io_new(b->fd, QUEUE_SIZE * NQUEUES, gm_blk_engine_from_env(), io_done, b, who, &b->io, err)) < 0) {
		destroy(b);
		return r;
	}
	b->ops = blk_ops;
	if (d->readonly)
		b->ops.features |= BLK_F_RO;
	if ((r = gm_virtio_new(ctx, &b->ops, b, &b->v, err)) < 0) {
		destroy(b);
		return r;
	}
	if (b->host.log) {
		char line[256], q[GM_ESCAPE_SHORT];
		snprintf(line, sizeof(line), "virtio-blk %s: %s, %llu sectors%s%s, I/O by %s", b->name,
			 gm_escape(d->path, q, sizeof(q)), (unsigned long long)b->capacity,
			 d->readonly ? ", read-only" : "", d->direct ? ", O_DIRECT" : "", gm_blk_io_engine_name(b->io));
		b->host.log(b->host.opaque, line);
	}
	*dev = b;
	return 0;
}

/* The machine resets: the transport and everything in flight go. */
static void reset(void *dev)
{
	struct blk *b = dev;

	gm_virtio_reset(b->v); /* calls vreset: the driver's reset and the machine's are one */
}

/* Ours first (so load can check it before the transport changes), then the transport's. */
static size_t save(void *dev, uint8_t *out, size_t max)
{
	struct blk *b = dev;
	const size_t own = 16;

	if (max < own)
		return 0;
	wait_idle(b);
	put_le(out, STATE_MAGIC, 4);
	put_le(out + 4, b->readonly, 4);
	put_le(out + 8, b->capacity, 8);
	size_t n = gm_virtio_save(b->v, out + own, max - own);
	return n ? own + n : 0;
}

static int load(void *dev, const uint8_t *data, size_t len, uint32_t version, struct gm_error *err)
{
	struct blk *b = dev;
	size_t used = 0;

	if (version != 1 || len < 16 || get_le(data, 4) != STATE_MAGIC)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "virtio-blk %s: the saved state is not one this gmvm reads; use a matching gmvm",
			       b->name);
	if (get_le(data + 4, 4) != b->readonly)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "virtio-blk %s: the saved disk was %s; give it with readonly=%s again",
			       b->name, b->readonly ? "writable" : "read-only", b->readonly ? "off" : "on");
	if (get_le(data + 8, 8) != b->capacity)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "virtio-blk %s: the disk has %llu sectors, the saved one had %llu; give the same disk",
			       b->name, (unsigned long long)b->capacity, (unsigned long long)get_le(data + 8, 8));
	wait_idle(b);
	return gm_virtio_load(b->v, data + 16, len - 16, &used, err);
}

static void destroy(void *dev)
{
	struct blk *b = dev;

	if (!b)
		return;
	wait_idle(b);
	gm_blk_io_free(b->io);
	if (b->v)
		gm_virtio_free(b->v);
	if (b->fd >= 0)
		close(b->fd);
	for (unsigned q = 0; q < NQUEUES; q++) {
		pthread_mutex_destroy(&b->queues[q].pop_lock);
		free(b->queues[q].reqs);
	}
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->idle);
	free(b);
}

const struct gm_device_type gm_dev_virtio_blk = {
	.name = "virtio-blk",
	.state_version = 1,
	/* reads land in guest buffers from the completion thread */
	.writes_guest = true,
	.instances = instances,
	.create = create,
	.quiesce = quiesce,
	.reset = reset,
	.save = save,
	.load = load,
	.destroy = destroy,
};
