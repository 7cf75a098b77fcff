/*
 * rt/virtio.h: a small virtio-mmio (version 2) driver for the test guests:
 * find the devices the kernel command line lists
 * (virtio_mmio.device=SIZE@ADDR:IRQ), bring one up per virtio 1.2 3.1,
 * put chains on split virtqueues and poll the used ring (no interrupts).
 * Everything is usable at CPL3: the MMIO windows sit in the identity map.
 */
#ifndef RT_VIRTIO_H
#define RT_VIRTIO_H

#include "rt.h"

#define RT_VIRTIO_MAX_DEVS   8
#define RT_VIRTIO_MAX_QUEUES 4   /* virtio-balloon uses up to 4 */

/* Registers (virtio 1.2, 4.2.2) */
#define VIO_MAGIC          0x000
#define VIO_VERSION        0x004
#define VIO_DEVICE_ID      0x008
#define VIO_DEV_FEATURES   0x010
#define VIO_DEV_FEAT_SEL   0x014
#define VIO_DRV_FEATURES   0x020
#define VIO_DRV_FEAT_SEL   0x024
#define VIO_QUEUE_SEL      0x030
#define VIO_QUEUE_NUM_MAX  0x034
#define VIO_QUEUE_NUM      0x038
#define VIO_QUEUE_READY    0x044
#define VIO_QUEUE_NOTIFY   0x050
#define VIO_INT_STATUS     0x060
#define VIO_INT_ACK        0x064
#define VIO_STATUS         0x070
#define VIO_QUEUE_DESC     0x080
#define VIO_QUEUE_DRIVER   0x090
#define VIO_QUEUE_DEVICE   0x0a0
#define VIO_CONFIG         0x100

#define VIO_S_ACK         0x01
#define VIO_S_DRIVER      0x02
#define VIO_S_DRIVER_OK   0x04
#define VIO_S_FEATURES_OK 0x08
#define VIO_S_NEEDS_RESET 0x40
#define VIO_S_FAILED      0x80

#define VIO_F_INDIRECT_DESC (1ull << 28)
#define VIO_F_VERSION_1     (1ull << 32)

#define VRING_DESC_F_NEXT     1
#define VRING_DESC_F_WRITE    2
#define VRING_DESC_F_INDIRECT 4

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];
};

struct rt_virtq {
	uint16_t size;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t free_head, nfree;
	uint16_t last_used;
};

struct rt_virtio {
	uint64_t base;
	unsigned irq;
	uint32_t device_id;
	uint64_t offered, features;   /* what the device offered, what we accepted */
	unsigned nqueues;
	struct rt_virtq q[RT_VIRTIO_MAX_QUEUES];
};

/* One buffer of a chain: guest-physical (= our virtual) address, length, device-writable. */
struct rt_vbuf {
	uint64_t addr;
	uint32_t len;
	bool write;
};

/* The devices on the command line, in order, into out (at most max); how many. */
unsigned rt_virtio_scan(struct rt_virtio *out, unsigned max);
/* The first device of type id (and the index-th of those), or NULL. */
struct rt_virtio *rt_virtio_find(uint32_t id, unsigned index);

/*
 * Bring d up: reset, ACKNOWLEDGE, DRIVER, features (VERSION_1 and want &
 * offered), FEATURES_OK, nq queues of at most qsize entries, DRIVER_OK.
 * Returns 0 or a negative step number with the reason printed.
 */
int rt_virtio_init(struct rt_virtio *d, uint64_t want, unsigned nq, uint16_t qsize);

uint32_t rt_vio_read(const struct rt_virtio *d, unsigned reg);
void rt_vio_write(const struct rt_virtio *d, unsigned reg, uint32_t v);
uint32_t rt_virtio_status(const struct rt_virtio *d);
uint8_t rt_virtio_cfg8(const struct rt_virtio *d, unsigned off);
uint32_t rt_virtio_cfg32(const struct rt_virtio *d, unsigned off);
uint64_t rt_virtio_cfg64(const struct rt_virtio *d, unsigned off);

/* Put a chain of n buffers on queue qi (readable ones first); its head, or -1 when the queue is full. */
int rt_virtq_add(struct rt_virtio *d, unsigned qi, const struct rt_vbuf *b, unsigned n);
/* Tell the device about what was added. */
void rt_virtq_kick(struct rt_virtio *d, unsigned qi);
/* Take one used chain (frees its descriptors): true with its head and length, false when none yet. */
bool rt_virtq_get(struct rt_virtio *d, unsigned qi, uint16_t *head, uint32_t *len);
/*
 * Poll until one used chain arrives or the device reports NEEDS_RESET or
 * timeout_ms passes: 1 with head/len, 0 on timeout, -1 on NEEDS_RESET.
 */
int rt_virtq_wait(struct rt_virtio *d, unsigned qi, uint16_t *head, uint32_t *len, uint64_t timeout_ms);

#endif
