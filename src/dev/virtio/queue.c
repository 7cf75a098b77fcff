/*
 * dev/virtio/queue: split virtqueues (virtio 1.2, 2.7).  Every ring and
 * descriptor is untrusted guest input: each address goes through the
 * host's checked guest_ptr, each descriptor is copied once before it is
 * looked at (the guest may change it meanwhile), a chain may not be longer
 * than its table, loop, nest indirect tables or put a readable buffer after
 * a writable one.  Anything else marks the device broken.
 *
 * No host pointer into guest memory outlives a call: each one is derived
 * again from its guest address, since memory may be re-homed while the
 * machine is held.  Ring indices are read and written with atomics on the
 * host's native order: gmvm runs x86 guests on x86 hosts only, both
 * little-endian as virtio 1.x wants.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dev/virtio/transport.h"
#include "util/le.h"

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

#define DESC_SIZE 16

static uint64_t avail_size(uint16_t num)
{
	return 6 + 2 * (uint64_t)num; /* flags, idx, ring[num], used_event */
}

static uint64_t used_size(uint16_t num)
{
	return 6 + 8 * (uint64_t)num; /* flags, idx, ring[num] of {id, len}, avail_event */
}

static uint8_t *gptr(const struct gm_virtio *v, uint64_t gpa, uint64_t len)
{
	if (gpa + len < gpa || !v->host.guest_ptr)
		return NULL;
	return v->host.guest_ptr(v->host.opaque, gpa, len);
}

static void written(const struct gm_virtio *v, uint64_t gpa, uint64_t len)
{
	if (v->host.guest_written && len)
		v->host.guest_written(v->host.opaque, gpa, len);
}

static bool negotiated(const struct gm_virtq *q, uint64_t feature)
{
	return q->v->driver_features & feature;
}

void gm_virtq_clear(struct gm_virtq *q, uint16_t queue_max)
{
	q->num = queue_max;
	q->ready = false;
	q->desc = q->avail = q->used = 0;
	q->last_avail = q->used_idx = q->signalled_used = 0;
	q->signalled_valid = false;
}

const char *gm_virtq_check_layout(const struct gm_virtio *v, uint16_t num, uint64_t desc, uint64_t avail,
				  uint64_t used)
{
	if (!num || (num & (num - 1)) || num > v->ops->queue_max)
		return "its size is not a power of 2 up to QueueNumMax";
	if ((desc & 15) || (avail & 1) || (used & 3))
		return "a ring is misaligned (descriptors 16, driver area 2, device area 4 bytes)";
	if (!gptr(v, desc, DESC_SIZE * (uint64_t)num) || !gptr(v, avail, avail_size(num)) ||
	    !gptr(v, used, used_size(num)))
		return "a ring lies outside guest memory";
	return NULL;
}

static bool load16(const struct gm_virtio *v, uint64_t gpa, int order, uint16_t *out)
{
	uint16_t *p = (uint16_t *)gptr(v, gpa, 2);

	if (!p)
		return false;
	*out = __atomic_load_n(p, order);
	return true;
}

static bool store16(const struct gm_virtio *v, uint64_t gpa, int order, uint16_t val)
{
	uint16_t *p = (uint16_t *)gptr(v, gpa, 2);

	if (!p)
		return false;
	__atomic_store_n(p, val, order);
	written(v, gpa, 2);
	return true;
}

/*
 * Walk the chain at head into e; with q->lock held.  False (and why) when it
 * is bad.  ranges: a buffer outside guest memory is no fault of the chain
 * (its hva is NULL): the device reads only its address and length.
 */
static bool walk(struct gm_virtq *q, uint16_t head, struct gm_virtq_elem *e, bool ranges, char *why,
		 size_t whylen)
{
	const struct gm_virtio *v = q->v;
	uint64_t table = q->desc;
	unsigned size = q->num, budget = q->num, i = head, nseg = 0;
	bool indirect = false;

	e->head = head;
	e->nout = e->nin = 0;
	e->out_bytes = e->in_bytes = 0;
	for (bool first = true;; first = false) {
		const uint8_t *p = gptr(v, table + (uint64_t)i * DESC_SIZE, DESC_SIZE);
		uint8_t d[DESC_SIZE];

		if (budget-- == 0) {
			snprintf(why, whylen, "queue %u: a descriptor chain loops or is longer than its table (%u)",
				 q->index, size);
			return false;
		}
		if (!p) {
			snprintf(why, whylen, "queue %u: a descriptor table lies outside guest memory", q->index);
			return false;
		}
		memcpy(d, p, sizeof(d)); /* once: the guest may rewrite it while we look */
		uint64_t addr = gm_le64(d);
		uint32_t len = gm_le32(d + 8);
		uint16_t flags = gm_le16(d + 12), next = gm_le16(d + 14);

		if (flags & VIRTQ_DESC_F_INDIRECT) {
			const char *bad = NULL;

			if (!negotiated(q, GM_VIRTIO_F_INDIRECT_DESC))
				bad = "an indirect descriptor without VIRTIO_F_INDIRECT_DESC";
			else if (indirect)
				bad = "an indirect table inside an indirect table";
			else if (!first)
				bad = "an indirect descriptor that is not the chain's head";
			else if (flags & VIRTQ_DESC_F_NEXT)
				bad = "an indirect descriptor with NEXT set";
			else if (!len || len % DESC_SIZE || len / DESC_SIZE > GM_VIRTQ_MAX_SEGS)
				bad = "an indirect table whose length is not a multiple of 16 up to 16 KiB";
			else if (!gptr(v, addr, len))
				bad = "an indirect table outside guest memory";
			if (bad) {
				snprintf(why, whylen, "queue %u: %s", q->index, bad);
				return false;
			}
			table = addr;
			size = budget = len / DESC_SIZE;
			i = 0;
			indirect = true;
			continue;
		}
		if (len) {
			uint8_t *hva = gptr(v, addr, len);

			if (!hva && !ranges) {
				snprintf(why, whylen, "queue %u: a buffer at 0x%llx of %u bytes lies outside guest memory",
					 q->index, (unsigned long long)addr, len);
				return false;
			}
			if (flags & VIRTQ_DESC_F_WRITE) {
				e->nin++;
				e->in_bytes += len;
			} else if (e->nin) {
				snprintf(why, whylen, "queue %u: a readable buffer follows a writable one", q->index);
				return false;
			} else {
				e->nout++;
				e->out_bytes += len;
			}
			if (nseg == GM_VIRTQ_MAX_SEGS) { /* budget keeps this from happening: belt and braces */
				snprintf(why, whylen, "queue %u: a chain of more than %u buffers", q->index,
					 GM_VIRTQ_MAX_SEGS);
				return false;
			}
			e->seg[nseg++] = (struct gm_virtq_seg){ .hva = hva, .gpa = addr, .len = len };
		}
		if (!(flags & VIRTQ_DESC_F_NEXT))
			return true;
		if (next >= size) {
			snprintf(why, whylen, "queue %u: a descriptor's next (%u) is beyond its table (%u)", q->index,
				 next, size);
			return false;
		}
		i = next;
	}
}

/* With q->lock held: 1 taken, 0 empty, -1 bad (why filled). */
static int pop_locked(struct gm_virtq *q, struct gm_virtq_elem *e, bool ranges, char *why, size_t whylen)
{
	const struct gm_virtio *v = q->v;
	uint16_t avail_idx, head, pending;

	if (!q->ready || __atomic_load_n(&v->broken, __ATOMIC_ACQUIRE))
		return 0;
	for (int tries = 0;; tries++) {
		if (!load16(v, q->avail + 2, __ATOMIC_ACQUIRE, &avail_idx)) {
			snprintf(why, whylen, "queue %u: the driver area lies outside guest memory", q->index);
			return -1;
		}
		pending = (uint16_t)(avail_idx - q->last_avail);
		if (pending > q->num) {
			snprintf(why, whylen, "queue %u: the available index jumped from %u to %u, more than %u entries",
				 q->index, q->last_avail, avail_idx, q->num);
			return -1;
		}
		if (pending || tries || !negotiated(q, GM_VIRTIO_F_EVENT_IDX))
			break;
		/*
		 * Empty: ask to be kicked at the next entry (avail_event), then look
		 * once more, since the driver may have added one before it could
		 * see the request and decided not to kick.
		 */
		if (!store16(v, q->used + 4 + 8 * (uint64_t)q->num, __ATOMIC_RELAXED, q->last_avail)) {
			snprintf(why, whylen, "queue %u: the device area lies outside guest memory", q->index);
			return -1;
		}
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	if (!pending)
		return 0;
	if (!load16(v, q->avail + 4 + 2 * (uint64_t)(q->last_avail % q->num), __ATOMIC_RELAXED, &head)) {
		snprintf(why, whylen, "queue %u: the driver area lies outside guest memory", q->index);
		return -1;
	}
	if (head >= q->num) {
		snprintf(why, whylen, "queue %u: a chain's head (%u) is beyond the queue (%u)", q->index, head, q->num);
		return -1;
	}
	if (!walk(q, head, e, ranges, why, whylen))
		return -1;
	q->last_avail++;
	return 1;
}

static int pop(struct gm_virtq *q, struct gm_virtq_elem *e, bool ranges)
{
	char why[160];
	int r;

	pthread_mutex_lock(&q->lock);
	r = pop_locked(q, e, ranges, why, sizeof(why));
	pthread_mutex_unlock(&q->lock);
	if (r >= 0)
		return r;
	gm_virtio_broken(q->v, why);
	return -EINVAL;
}

int gm_virtq_pop(struct gm_virtq *q, struct gm_virtq_elem *e)
{
	return pop(q, e, false);
}

int gm_virtq_pop_ranges(struct gm_virtq *q, struct gm_virtq_elem *e)
{
	return pop(q, e, true);
}

void gm_virtq_push(struct gm_virtq *q, const struct gm_virtq_elem *e, uint32_t len)
{
	const struct gm_virtio *v = q->v;
	uint64_t left = len < e->in_bytes ? len : e->in_bytes, slot;
	uint8_t *p;

	pthread_mutex_lock(&q->lock);
	/* A reset (or a breakage) since the pop: the driver forgot this chain. */
	if (!q->ready || __atomic_load_n(&v->broken, __ATOMIC_ACQUIRE)) {
		pthread_mutex_unlock(&q->lock);
		return;
	}
	for (unsigned i = e->nout; i < e->nout + e->nin && left; i++) {
		uint64_t n = e->seg[i].len < left ? e->seg[i].len : left;

		written(v, e->seg[i].gpa, n);
		left -= n;
	}
	slot = q->used + 4 + 8 * (uint64_t)(q->used_idx % q->num);
	p = gptr(v, slot, 8);
	if (!p) {
		pthread_mutex_unlock(&q->lock);
		gm_virtio_broken(q->v, "the device area lies outside guest memory");
		return;
	}
	gm_put_le32(p, e->head);
	gm_put_le32(p + 4, (uint32_t)(len < e->in_bytes ? len : e->in_bytes));
	written(v, slot, 8);
	q->used_idx++;
	/* release: the entry and the buffers before the index that publishes them */
	store16(v, q->used + 2, __ATOMIC_RELEASE, q->used_idx);
	pthread_mutex_unlock(&q->lock);
}

/* virtio 1.2, 2.7.10: whether used_idx crossed event since old. */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

void gm_virtq_notify(struct gm_virtq *q)
{
	struct gm_virtio *v = q->v;
	bool need = false;
	uint16_t val;

	pthread_mutex_lock(&q->lock);
	if (q->ready && !__atomic_load_n(&v->broken, __ATOMIC_ACQUIRE)) {
		/* the used index we published before what the driver asked for */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (negotiated(q, GM_VIRTIO_F_EVENT_IDX)) {
			if (load16(v, q->avail + 4 + 2 * (uint64_t)q->num, __ATOMIC_RELAXED, &val))
				need = !q->signalled_valid || need_event(val, q->used_idx, q->signalled_used);
			q->signalled_used = q->used_idx;
			q->signalled_valid = true;
		} else if (load16(v, q->avail, __ATOMIC_RELAXED, &val)) {
			need = !(val & VIRTQ_AVAIL_F_NO_INTERRUPT);
		}
	}
	pthread_mutex_unlock(&q->lock);
	if (need)
		gm_virtio_interrupt(v, VIRTIO_INT_VRING);
}

size_t gm_virtq_elem_read(const struct gm_virtq_elem *e, size_t off, void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < e->nout && done < len; i++) {
		const struct gm_virtq_seg *s = &e->seg[i];

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		size_t n = s->len - off < len - done ? s->len - off : len - done;
		memcpy((uint8_t *)buf + done, s->hva + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t gm_virtq_elem_write(const struct gm_virtq_elem *e, size_t off, const void *buf, size_t len)
{
	size_t done = 0;

	for (unsigned i = e->nout; i < e->nout + e->nin && done < len; i++) {
		const struct gm_virtq_seg *s = &e->seg[i];

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		size_t n = s->len - off < len - done ? s->len - off : len - done;
		memcpy(s->hva + off, (const uint8_t *)buf + done, n);
		done += n;
		off = 0;
	}
	return done;
}
