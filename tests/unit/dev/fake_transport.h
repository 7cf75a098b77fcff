/*
 * tests/unit/dev/fake_transport: a stand-in for the virtio-mmio core
 * (virtio.h) so a device can be driven without guest memory or a bus:
 * the test offers chains of host buffers, the fake hands them to the
 * device's pop and records what it pushes, notifies and calls broken.
 */
#ifndef GM_TEST_FAKE_TRANSPORT_H
#define GM_TEST_FAKE_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "dev/virtio/virtio.h"

#define FAKE_MAX_CHAINS 512

struct fake_chain {
	unsigned nout, nin;
	struct gm_virtq_seg seg[8];
	uint16_t head;
};

/* The device's transport made by the last gm_virtio_new (NULL before any). */
struct gm_virtio *fake_virtio_last(void);
const struct gm_virtio_ops *fake_virtio_ops(struct gm_virtio *v);
void *fake_virtio_dev(struct gm_virtio *v);
/* Queue c (copied) on queue 0 without a kick; fake_kick calls ops->notify(dev, 0). */
void fake_offer(struct gm_virtio *v, const struct fake_chain *c);
void fake_kick(struct gm_virtio *v);
/* Wait up to seconds until n chains were pushed in all; false on timeout. */
bool fake_wait_pushed(struct gm_virtio *v, unsigned n, double seconds);
unsigned fake_pushed(struct gm_virtio *v);
/* The i-th push: the head and written length. */
uint16_t fake_push_head(struct gm_virtio *v, unsigned i);
uint32_t fake_push_written(struct gm_virtio *v, unsigned i);
unsigned fake_notifies(struct gm_virtio *v);
/* NULL while not broken, else the reason given. */
const char *fake_broken(struct gm_virtio *v);
unsigned fake_resets(struct gm_virtio *v);

#endif
