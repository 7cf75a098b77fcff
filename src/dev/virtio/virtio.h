/*
 * dev/virtio: the virtio-mmio transport (virtio 1.x, modern only: version 2
 * registers, no legacy) and split virtqueues, shared by every virtio device.
 *
 * A device (blk.c, console.c, rng.c) fills a gm_virtio_ops and calls
 * gm_virtio_new() from its create; the transport claims an MMIO window and
 * an interrupt line from the allocator, registers the window on the bus,
 * and adds "virtio_mmio.device=SIZE@ADDR:GSI" to the kernel command line.
 * The device never parses descriptors itself: gm_virtq_pop() hands it a
 * chain already checked against guest memory (every address through the
 * host's guest_ptr, lengths, loops, chain length, indirect tables), or
 * marks the device broken (DEVICE_NEEDS_RESET) and returns an error.
 *
 * Threads: MMIO accesses arrive on vCPU threads; the transport serialises
 * them with its lock and calls ops->notify without it.  A device may pop
 * and push on any thread (a worker, an io_uring completion thread), one
 * thread per queue at a time; gm_virtq_push()/gm_virtq_notify() are safe
 * beside MMIO accesses.
 */
#ifndef GM_DEV_VIRTIO_H
#define GM_DEV_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev/dev.h"

#define GM_VIRTIO_MMIO_SIZE 0x200     /* registers 0x000-0x0ff, config space from 0x100 */
#define GM_VIRTIO_MAX_QUEUES 8
#define GM_VIRTQ_MAX_SIZE 1024        /* the most descriptors a queue may have */
#define GM_VIRTQ_MAX_SEGS 1024        /* the most buffers one chain may have (indirect included) */

/* Device IDs (virtio 1.2, 5) */
#define GM_VIRTIO_ID_NET     1
#define GM_VIRTIO_ID_BLOCK   2
#define GM_VIRTIO_ID_CONSOLE 3
#define GM_VIRTIO_ID_RNG     4
#define GM_VIRTIO_ID_BALLOON 5

/* Feature bits the transport owns; a device lists its own in ops->features. */
#define GM_VIRTIO_F_VERSION_1 (UINT64_C(1) << 32)
/* Offered for every device unless its ops->transport_features_off names them. */
#define GM_VIRTIO_F_INDIRECT_DESC (UINT64_C(1) << 28)
#define GM_VIRTIO_F_EVENT_IDX     (UINT64_C(1) << 29)

struct gm_virtio;
struct gm_virtq;

/* One buffer of a chain: host pointer (already checked), its guest address and length. */
struct gm_virtq_seg {
	uint8_t *hva;
	uint64_t gpa;
	uint32_t len;
};

/*
 * A popped chain: nout driver-written (readable) buffers, then nin
 * device-writable ones, in the order the driver put them.  seg[] is big
 * enough for the worst chain; allocate elems with the device, not on a
 * small stack.
 */
struct gm_virtq_elem {
	uint16_t head;             /* what gm_virtq_push gives back to the driver */
	unsigned nout, nin;
	uint64_t out_bytes, in_bytes;
	struct gm_virtq_seg seg[GM_VIRTQ_MAX_SEGS];
};

/* What a device tells the transport about itself. */
struct gm_virtio_ops {
	const char *name;          /* "virtio-blk": for messages, the MMIO window's owner */
	uint32_t device_id;        /* GM_VIRTIO_ID_* */
	uint64_t features;         /* the device's offer, besides VERSION_1 (added by the transport) */
	unsigned nqueues;          /* 1..GM_VIRTIO_MAX_QUEUES */
	uint16_t queue_max;        /* QueueNumMax for every queue, a power of 2 <= GM_VIRTQ_MAX_SIZE */
	uint32_t config_len;       /* bytes of device config space (<= 0x100) */
	/* Read device config [off, off+len) into out (bounds already checked). */
	void (*config_read)(void *dev, uint32_t off, uint8_t *out, unsigned len);
	/* A driver write to config space; NULL: ignored. */
	void (*config_write)(void *dev, uint32_t off, const uint8_t *data, unsigned len);
	/* The driver set DRIVER_OK with these features: start serving.  An error marks the device broken. */
	int (*activate)(void *dev, uint64_t features);
	/* The driver kicked queue q (vCPU thread, transport lock not held). */
	void (*notify)(void *dev, unsigned q);
	/* The driver reset the device (status 0): stop and drop everything in flight, wait for it. */
	void (*reset)(void *dev);
	/* With vCPUs parked: finish or wait out I/O in flight (gm_device_type.quiesce). May be NULL. */
	void (*quiesce)(void *dev);
	/* Ring features (GM_VIRTIO_F_INDIRECT_DESC, _EVENT_IDX) this device does not want offered; 0: all. */
	uint64_t transport_features_off;
};

/*
 * Make the transport for dev: an MMIO window and a GSI from ctx->res,
 * the window on ctx->bus, the command-line entry through ctx->host.
 * ops must outlive the transport.
 */
int gm_virtio_new(const struct gm_dev_ctx *ctx, const struct gm_virtio_ops *ops, void *dev,
		  struct gm_virtio **out, struct gm_error *err);
void gm_virtio_free(struct gm_virtio *v);

/*
 * The machine resets the device (gm_device_type.reset): as a driver's
 * status 0 would (ops->reset, queues forgotten, status 0, line lowered).
 */
void gm_virtio_reset(struct gm_virtio *v);

/* Where it lives, for logs and tests. */
uint64_t gm_virtio_mmio_base(const struct gm_virtio *v);
unsigned gm_virtio_gsi(const struct gm_virtio *v);
/* The features the driver accepted (valid once activated). */
uint64_t gm_virtio_features(const struct gm_virtio *v);
struct gm_virtq *gm_virtio_queue(struct gm_virtio *v, unsigned q);
/*
 * Change the device's own offer to features (bits of ops->features only: the
 * set it may choose from) before the driver negotiated; false, unchanged,
 * once FEATURES_OK is set (until a reset).
 */
bool gm_virtio_set_offer(struct gm_virtio *v, uint64_t features);
/* True between DRIVER_OK and a reset, while not broken. */
bool gm_virtio_active(const struct gm_virtio *v);

/*
 * The next available chain of q into e: 1 when one was taken, 0 when the
 * queue is empty (or not ready), -EINVAL when the chain is bad (an
 * address outside guest memory, a loop, too long, a write buffer before a
 * read one, a bad indirect table): the device is then marked broken with
 * one logged line naming why, and nothing of guest memory was touched.
 */
int gm_virtq_pop(struct gm_virtq *q, struct gm_virtq_elem *e);
/*
 * gm_virtq_pop for a queue whose buffers only name guest ranges (a
 * balloon's free page reports): a buffer outside guest memory does not make
 * the chain bad; its seg has hva NULL and the device refuses that one
 * range.  Everything else about the chain is checked as by gm_virtq_pop.
 */
int gm_virtq_pop_ranges(struct gm_virtq *q, struct gm_virtq_elem *e);
/*
 * Give e back with written bytes put into its device-writable buffers:
 * the used ring entry, the used index, and dirty marks for every guest
 * page the device wrote (the in buffers up to written, the used ring).
 */
void gm_virtq_push(struct gm_virtq *q, const struct gm_virtq_elem *e, uint32_t written);
/*
 * Copy between a popped chain and host memory: read the driver's (out)
 * bytes from offset off of the chain's readable part, or write into its
 * device-writable (in) part.  Return how many bytes were copied (short at
 * the end of the buffers).  Writes are not marked dirty here: push does
 * that up to its written length.
 */
size_t gm_virtq_elem_read(const struct gm_virtq_elem *e, size_t off, void *buf, size_t len);
size_t gm_virtq_elem_write(const struct gm_virtq_elem *e, size_t off, const void *buf, size_t len);
/* Interrupt the driver for q's used buffers unless it asked not to be (VIRTQ_AVAIL_F_NO_INTERRUPT / used_event). */
void gm_virtq_notify(struct gm_virtq *q);

/* The device found the driver's request nonsensical beyond one bad chain: DEVICE_NEEDS_RESET, one logged line. */
void gm_virtio_broken(struct gm_virtio *v, const char *why);
/* Raise a configuration-change interrupt (e.g. a disk's capacity changed). */
void gm_virtio_config_changed(struct gm_virtio *v);

/*
 * The transport's state (status, features both ways, selected queue, each
 * queue's size/ready/addresses/next avail and used index, interrupt status,
 * config generation) into out, at most max bytes; returns the length or 0
 * when it does not fit.  load checks all of data (addresses against guest
 * memory, sizes, indices) before it changes anything, then re-activates the
 * device when the state says DRIVER_OK.  A device appends its own state
 * after this (load's *used tells where the transport's ends; it may be
 * NULL; the transport's part starts with its own length, u16 LE).
 */
size_t gm_virtio_save(struct gm_virtio *v, uint8_t *out, size_t max);
int gm_virtio_load(struct gm_virtio *v, const uint8_t *data, size_t len, size_t *used, struct gm_error *err);

/* The device types (blk.c, console.c, rng.c, net.c, balloon.c) for the registry (dev/builtin.c). */
extern const struct gm_device_type gm_dev_virtio_blk, gm_dev_virtio_console, gm_dev_virtio_rng,
	gm_dev_virtio_net, gm_dev_virtio_balloon;

#endif
