/*
 * dev/virtio/transport: what mmio.c (registers, interrupts, state) and
 * queue.c (split virtqueues) share; devices see only virtio.h.
 *
 * Locks, outermost first: v->lock (register accesses, reset, activation),
 * q->lock (one queue's rings and indices), v->irq_lock (InterruptStatus and
 * the line).  A device thread pushing on a queue takes q->lock then
 * irq_lock, never v->lock, so a reset that waits for it cannot deadlock.
 */
#ifndef GM_DEV_VIRTIO_TRANSPORT_H
#define GM_DEV_VIRTIO_TRANSPORT_H

#include <pthread.h>

#include "dev/virtio/virtio.h"

/* Device status bits (virtio 1.2, 2.1) */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER      0x02
#define VIRTIO_STATUS_DRIVER_OK   0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED      0x80

/* InterruptStatus bits */
#define VIRTIO_INT_VRING  0x1
#define VIRTIO_INT_CONFIG 0x2

struct gm_virtq {
	struct gm_virtio *v;
	pthread_mutex_t lock;
	unsigned index;
	uint16_t num;            /* QueueNum */
	bool ready;              /* QueueReady, checked when set */
	uint64_t desc, avail, used; /* guest-physical: the three areas */
	uint16_t last_avail;     /* the next avail ring slot the device takes */
	uint16_t used_idx;       /* the used index last published */
	uint16_t signalled_used; /* used_idx when the driver was last interrupted (EVENT_IDX) */
	bool signalled_valid;
};

struct gm_virtio {
	pthread_mutex_t lock;
	pthread_mutex_t irq_lock;
	const struct gm_virtio_ops *ops;
	void *dev;
	struct gm_dev_host host;
	uint64_t base;
	unsigned gsi;
	uint64_t offered;        /* everything the device offers, VERSION_1 and ring features included */

	uint32_t status;         /* as the driver wrote it; NEEDS_RESET comes from broken */
	uint32_t dev_features_sel, drv_features_sel;
	uint64_t driver_features;
	uint32_t queue_sel;
	uint32_t config_generation;
	uint32_t isr;            /* InterruptStatus, under irq_lock */
	bool line;               /* the level we last drove, under irq_lock */
	bool active;             /* DRIVER_OK and activated: atomic reads */
	bool broken;             /* atomic */
	struct gm_virtq q[GM_VIRTIO_MAX_QUEUES];
};

/* Raise bits in InterruptStatus (and the line). */
void gm_virtio_interrupt(struct gm_virtio *v, uint32_t bits);
/* queue.c: forget everything about q (reset), with q->lock held by the caller or not running. */
void gm_virtq_clear(struct gm_virtq *q, uint16_t queue_max);
/* Whether the rings of a queue of num entries at desc/avail/used lie in guest memory, aligned; NULL or why not. */
const char *gm_virtq_check_layout(const struct gm_virtio *v, uint16_t num, uint64_t desc, uint64_t avail,
				  uint64_t used);

#endif
