/*
 * dev/virtio/rng: virtio-rng (entropy device, id 4), one request queue.
 * Each chain's device-writable buffers are filled from the host's
 * getrandom() right on the vCPU that kicked: the work is small and
 * synchronous, so there is nothing in flight to quiesce or save.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/random.h>

#include "dev/virtio/virtio.h"
#include "util/le.h"

/* The most bytes one request gets: keeps a vCPU exit short; the driver asks again. */
#define RNG_MAX_REQUEST 65536

struct vrng {
	pthread_mutex_t lock; /* a kick's work against a reset */
	struct gm_virtio *v;
	struct gm_virtq_elem e;
};

/* Fill [hva, hva+len); the bytes actually written. */
static size_t fill(uint8_t *hva, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = getrandom(hva + done, len - done, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	return done;
}

static void rng_notify(void *dev, unsigned qi)
{
	struct vrng *r = dev;
	struct gm_virtq *q = gm_virtio_queue(r->v, qi);

	if (!q)
		return;
	pthread_mutex_lock(&r->lock);
	while (gm_virtq_pop(q, &r->e) == 1) {
		size_t total = 0;

		for (unsigned i = r->e.nout; i < r->e.nout + r->e.nin && total < RNG_MAX_REQUEST; i++) {
			size_t want = r->e.seg[i].len, got;

			if (want > RNG_MAX_REQUEST - total)
				want = RNG_MAX_REQUEST - total;
			got = fill(r->e.seg[i].hva, want);
			total += got;
			if (got < want)
				break;
		}
		gm_virtq_push(q, &r->e, (uint32_t)total);
	}
	gm_virtq_notify(q);
	pthread_mutex_unlock(&r->lock);
}

static int rng_activate(void *dev, uint64_t features)
{
	(void)dev;
	(void)features;
	return 0;
}

/* Waits for a kick being served on another vCPU: after it nothing is in flight. */
static void rng_reset_dev(void *dev)
{
	struct vrng *r = dev;

	pthread_mutex_lock(&r->lock);
	pthread_mutex_unlock(&r->lock);
}

static const struct gm_virtio_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = GM_VIRTIO_ID_RNG,
	.nqueues = 1,
	.queue_max = 256,
	.activate = rng_activate,
	.notify = rng_notify,
	.reset = rng_reset_dev,
};

static unsigned instances(const struct gm_config *cfg)
{
	return cfg->virtio_rng;
}

static void destroy(void *dev)
{
	struct vrng *r = dev;

	if (!r)
		return;
	gm_virtio_free(r->v);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static int create(const struct gm_dev_ctx *ctx, void **dev, struct gm_error *err)
{
	struct vrng *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for virtio-rng");
	pthread_mutex_init(&r->lock, NULL);
	ret = gm_virtio_new(ctx, &rng_ops, r, &r->v, err);
	if (ret) {
		destroy(r);
		return ret;
	}
	*dev = r;
	return 0;
}

static void reset(void *dev)
{
	gm_virtio_reset(((struct vrng *)dev)->v);
}

/* The transport's state is all there is. */
static size_t save(void *dev, uint8_t *out, size_t max)
{
	return gm_virtio_save(((struct vrng *)dev)->v, out, max);
}

static int load(void *dev, const uint8_t *data, size_t len, uint32_t version, struct gm_error *err)
{
	struct vrng *r = dev;
	size_t used;
	int ret;

	if (version != 1)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "virtio-rng state is of version %u; this gmvm reads version 1", version);
	/* the transport's part leads with its length: nothing may follow it */
	if (len < 2 || gm_le16(data) != len)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "virtio-rng state is %zu bytes, not the transport's alone; the state is corrupt", len);
	ret = gm_virtio_load(r->v, data, len, &used, err);
	return ret;
}

const struct gm_device_type gm_dev_virtio_rng = {
	.name = "virtio-rng",
	.state_version = 1,
	.writes_guest = true,
	.instances = instances,
	.create = create,
	.reset = reset,
	.save = save,
	.load = load,
	.destroy = destroy,
};
