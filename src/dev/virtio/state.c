/*
 * dev/virtio/state: the transport's part of a virtio device's state in the
 * stream (layout 1, little-endian), read as untrusted input: every value is
 * checked against what this device and guest memory allow before any of
 * it is applied.  Guest memory itself is not read here: on an incoming
 * postcopy migration it may not have arrived yet; the rings' contents are
 * checked, as always, when the queue is next used.
 *
 *   u16 length of the transport's part      u32 status (driver-written bits)
 *   u8  broken                              u32 device/driver features select
 *   u64 driver features                     u32 queue select
 *   u32 interrupt status                    u32 config generation
 *   u8  queues, then per queue: u16 size, u8 ready, u8 0, u64 desc, avail,
 *       used, u16 next available, u16 used index
 */
#include <errno.h>
#include <string.h>

#include "dev/virtio/transport.h"
#include "util/le.h"

#define HEAD_LEN  36
#define QUEUE_LEN 32

#define STATUS_BITS (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK | \
		     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_FAILED)

size_t gm_virtio_save(struct gm_virtio *v, uint8_t *out, size_t max)
{
	size_t len = HEAD_LEN + QUEUE_LEN * (size_t)v->ops->nqueues;
	uint8_t *p = out;

	if (max < len)
		return 0;
	memset(out, 0, len);
	pthread_mutex_lock(&v->lock);
	gm_put_le16(p, (uint16_t)len);
	gm_put_le32(p + 2, v->status);
	p[6] = __atomic_load_n(&v->broken, __ATOMIC_ACQUIRE);
	gm_put_le32(p + 7, v->dev_features_sel);
	gm_put_le32(p + 11, v->drv_features_sel);
	gm_put_le64(p + 15, v->driver_features);
	gm_put_le32(p + 23, v->queue_sel);
	pthread_mutex_lock(&v->irq_lock);
	gm_put_le32(p + 27, v->isr);
	pthread_mutex_unlock(&v->irq_lock);
	gm_put_le32(p + 31, __atomic_load_n(&v->config_generation, __ATOMIC_ACQUIRE));
	p[35] = (uint8_t)v->ops->nqueues;
	p += HEAD_LEN;
	for (unsigned i = 0; i < v->ops->nqueues; i++, p += QUEUE_LEN) {
		struct gm_virtq *q = &v->q[i];

		pthread_mutex_lock(&q->lock);
		gm_put_le16(p, q->num);
		p[2] = q->ready;
		gm_put_le64(p + 4, q->desc);
		gm_put_le64(p + 12, q->avail);
		gm_put_le64(p + 20, q->used);
		gm_put_le16(p + 28, q->last_avail);
		gm_put_le16(p + 30, q->used_idx);
		pthread_mutex_unlock(&q->lock);
	}
	pthread_mutex_unlock(&v->lock);
	return len;
}

static int bad(struct gm_virtio *v, struct gm_error *err, const char *what)
{
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s state: %s; the state is corrupt or from another device",
		       v->ops->name, what);
}

static int check(struct gm_virtio *v, const uint8_t *d, size_t len, struct gm_error *err)
{
	size_t want = HEAD_LEN + QUEUE_LEN * (size_t)v->ops->nqueues;
	uint32_t status;
	uint64_t feat;

	if (len < HEAD_LEN || gm_le16(d) != want || len < want || d[35] != v->ops->nqueues)
		return bad(v, err, "its length or number of queues does not match this device");
	status = gm_le32(d + 2);
	feat = gm_le64(d + 15);
	if (status & ~(uint32_t)STATUS_BITS || d[6] > 1 || gm_le32(d + 27) & ~(uint32_t)3)
		return bad(v, err, "it holds status or interrupt bits no virtio device has");
	if ((status & VIRTIO_STATUS_DRIVER_OK) && !(status & VIRTIO_STATUS_FEATURES_OK))
		return bad(v, err, "DRIVER_OK without FEATURES_OK");
	if ((status & VIRTIO_STATUS_FEATURES_OK) && (!(feat & GM_VIRTIO_F_VERSION_1) || (feat & ~v->offered)))
		return bad(v, err, "the accepted features are not ones this device offers");
	for (unsigned i = 0; i < v->ops->nqueues; i++) {
		const uint8_t *q = d + HEAD_LEN + QUEUE_LEN * i;
		uint16_t num = gm_le16(q);

		if (!num || (num & (num - 1)) || num > v->ops->queue_max || q[2] > 1 || q[3])
			return bad(v, err, "a queue's size or ready flag is out of range");
		if (q[2] && gm_virtq_check_layout(v, num, gm_le64(q + 4), gm_le64(q + 12), gm_le64(q + 20)))
			return bad(v, err, "a live queue's rings are misaligned or outside guest memory");
	}
	return 0;
}

int gm_virtio_load(struct gm_virtio *v, const uint8_t *d, size_t len, size_t *used, struct gm_error *err)
{
	int r = check(v, d, len, err);
	bool start;

	if (r)
		return r;
	pthread_mutex_lock(&v->lock);
	if (__atomic_load_n(&v->active, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&v->active, false, __ATOMIC_RELEASE);
		if (v->ops->reset)
			v->ops->reset(v->dev);
	}
	v->status = gm_le32(d + 2);
	__atomic_store_n(&v->broken, d[6] != 0, __ATOMIC_RELEASE);
	v->dev_features_sel = gm_le32(d + 7);
	v->drv_features_sel = gm_le32(d + 11);
	v->driver_features = gm_le64(d + 15);
	v->queue_sel = gm_le32(d + 23);
	__atomic_store_n(&v->config_generation, gm_le32(d + 31), __ATOMIC_RELEASE);
	for (unsigned i = 0; i < v->ops->nqueues; i++) {
		const uint8_t *p = d + HEAD_LEN + QUEUE_LEN * i;
		struct gm_virtq *q = &v->q[i];

		pthread_mutex_lock(&q->lock);
		q->num = gm_le16(p);
		q->ready = p[2];
		q->desc = gm_le64(p + 4);
		q->avail = gm_le64(p + 12);
		q->used = gm_le64(p + 20);
		q->last_avail = gm_le16(p + 28);
		q->used_idx = gm_le16(p + 30);
		q->signalled_valid = false; /* the next notify interrupts: at worst one spurious */
		pthread_mutex_unlock(&q->lock);
	}
	pthread_mutex_lock(&v->irq_lock);
	v->isr = gm_le32(d + 27);
	v->line = !v->isr; /* so the line below is driven, whatever it was */
	pthread_mutex_unlock(&v->irq_lock);
	start = (v->status & VIRTIO_STATUS_DRIVER_OK) && !d[6];
	if (start && v->ops->activate && v->ops->activate(v->dev, v->driver_features) < 0) {
		pthread_mutex_unlock(&v->lock);
		gm_virtio_broken(v, "the device could not start again with its saved features");
		return gm_fail(err, GM_STATUS_FAILURE, EIO, "%s could not start again with its saved features",
			       v->ops->name);
	}
	__atomic_store_n(&v->active, start, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&v->lock);
	gm_virtio_interrupt(v, 0);
	if (used)
		*used = HEAD_LEN + QUEUE_LEN * (size_t)v->ops->nqueues;
	return 0;
}
