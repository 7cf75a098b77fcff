/* tests/unit/dev/fake_transport: see fake_transport.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_transport.h"

struct gm_virtq {
	struct gm_virtio *v;
};

struct gm_virtio {
	const struct gm_virtio_ops *ops;
	void *dev;
	struct gm_virtq q;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fake_chain chains[FAKE_MAX_CHAINS];
	unsigned offered, taken;
	uint16_t heads[FAKE_MAX_CHAINS];
	uint32_t written[FAKE_MAX_CHAINS];
	unsigned pushed, notifies, resets;
	char why[256];
	bool broken;
};

static struct gm_virtio *last;

struct gm_virtio *fake_virtio_last(void) { return last; }
const struct gm_virtio_ops *fake_virtio_ops(struct gm_virtio *v) { return v->ops; }
void *fake_virtio_dev(struct gm_virtio *v) { return v->dev; }

int gm_virtio_new(const struct gm_dev_ctx *ctx, const struct gm_virtio_ops *ops, void *dev,
		  struct gm_virtio **out, struct gm_error *err)
{
	struct gm_virtio *v = calloc(1, sizeof(*v));

	(void)ctx;
	if (!v)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "fake: no memory");
	v->ops = ops;
	v->dev = dev;
	v->q.v = v;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	last = v;
	*out = v;
	return 0;
}

void gm_virtio_free(struct gm_virtio *v)
{
	if (last == v)
		last = NULL;
	free(v);
}

void gm_virtio_reset(struct gm_virtio *v)
{
	v->ops->reset(v->dev);
	pthread_mutex_lock(&v->lock);
	v->resets++;
	v->broken = false;
	pthread_mutex_unlock(&v->lock);
}

uint64_t gm_virtio_mmio_base(const struct gm_virtio *v) { (void)v; return 0xd0000000; }
unsigned gm_virtio_gsi(const struct gm_virtio *v) { (void)v; return 5; }
uint64_t gm_virtio_features(const struct gm_virtio *v) { return v->ops->features | GM_VIRTIO_F_VERSION_1; }
struct gm_virtq *gm_virtio_queue(struct gm_virtio *v, unsigned q) { return q ? NULL : &v->q; }
bool gm_virtio_active(const struct gm_virtio *v) { return !v->broken; }

int gm_virtq_pop(struct gm_virtq *q, struct gm_virtq_elem *e)
{
	struct gm_virtio *v = q->v;
	int r = 0;

	pthread_mutex_lock(&v->lock);
	if (!v->broken && v->taken < v->offered) {
		const struct fake_chain *c = &v->chains[v->taken++];

		e->head = c->head;
		e->nout = c->nout;
		e->nin = c->nin;
		e->out_bytes = e->in_bytes = 0;
		for (unsigned i = 0; i < c->nout + c->nin; i++) {
			e->seg[i] = c->seg[i];
			if (i < c->nout)
				e->out_bytes += c->seg[i].len;
			else
				e->in_bytes += c->seg[i].len;
		}
		r = 1;
	}
	pthread_mutex_unlock(&v->lock);
	return r;
}

void gm_virtq_push(struct gm_virtq *q, const struct gm_virtq_elem *e, uint32_t written)
{
	struct gm_virtio *v = q->v;

	pthread_mutex_lock(&v->lock);
	if (v->pushed < FAKE_MAX_CHAINS) {
		v->heads[v->pushed] = e->head;
		v->written[v->pushed] = written;
	}
	v->pushed++;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

void gm_virtq_notify(struct gm_virtq *q)
{
	pthread_mutex_lock(&q->v->lock);
	q->v->notifies++;
	pthread_mutex_unlock(&q->v->lock);
}

static size_t elem_copy(const struct gm_virtq_elem *e, unsigned first, unsigned n, size_t off, void *buf,
			size_t len, bool to_elem)
{
	size_t done = 0;

	for (unsigned i = first; i < first + n && done < len; i++) {
		const struct gm_virtq_seg *s = &e->seg[i];
		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		size_t take = s->len - off < len - done ? s->len - off : len - done;
		if (to_elem)
			memcpy(s->hva + off, (const char *)buf + done, take);
		else
			memcpy((char *)buf + done, s->hva + off, take);
		done += take;
		off = 0;
	}
	return done;
}

size_t gm_virtq_elem_read(const struct gm_virtq_elem *e, size_t off, void *buf, size_t len)
{
	return elem_copy(e, 0, e->nout, off, buf, len, false);
}

size_t gm_virtq_elem_write(const struct gm_virtq_elem *e, size_t off, const void *buf, size_t len)
{
	return elem_copy(e, e->nout, e->nin, off, (void *)buf, len, true);
}

void gm_virtio_broken(struct gm_virtio *v, const char *why)
{
	pthread_mutex_lock(&v->lock);
	if (!v->broken)
		strncpy(v->why, why, sizeof(v->why) - 1);
	v->broken = true;
	pthread_mutex_unlock(&v->lock);
}

void gm_virtio_config_changed(struct gm_virtio *v) { (void)v; }

/* The fake's transport state: four bytes, "FAKE". */
size_t gm_virtio_save(struct gm_virtio *v, uint8_t *out, size_t max)
{
	(void)v;
	if (max < 4)
		return 0;
	memcpy(out, "FAKE", 4);
	return 4;
}

int gm_virtio_load(struct gm_virtio *v, const uint8_t *data, size_t len, size_t *used, struct gm_error *err)
{
	(void)v;
	if (len < 4 || memcmp(data, "FAKE", 4))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "fake: bad transport state");
	*used = 4;
	return 0;
}

void fake_offer(struct gm_virtio *v, const struct fake_chain *c)
{
	pthread_mutex_lock(&v->lock);
	if (v->offered < FAKE_MAX_CHAINS)
		v->chains[v->offered++] = *c;
	pthread_mutex_unlock(&v->lock);
}

void fake_kick(struct gm_virtio *v)
{
	v->ops->notify(v->dev, 0);
}

bool fake_wait_pushed(struct gm_virtio *v, unsigned n, double seconds)
{
	struct timespec until;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)seconds + 1;
	pthread_mutex_lock(&v->lock);
	while (v->pushed < n && ok)
		ok = pthread_cond_timedwait(&v->cond, &v->lock, &until) == 0;
	ok = v->pushed >= n;
	pthread_mutex_unlock(&v->lock);
	return ok;
}

#define GETTER(type, name, expr)                      \
	type name(struct gm_virtio *v)                 \
	{                                              \
		pthread_mutex_lock(&v->lock);          \
		type r = (expr);                       \
		pthread_mutex_unlock(&v->lock);        \
		return r;                              \
	}
GETTER(unsigned, fake_pushed, v->pushed)
GETTER(unsigned, fake_notifies, v->notifies)
GETTER(unsigned, fake_resets, v->resets)
GETTER(const char *, fake_broken, v->broken ? v->why : NULL)

uint16_t fake_push_head(struct gm_virtio *v, unsigned i) { return v->heads[i]; }
uint32_t fake_push_written(struct gm_virtio *v, unsigned i) { return v->written[i]; }
