/*
 * vhostile: hands the first virtio-blk device one bad chain on purpose
 * (vhostile.mode=), then checks the device said DEVICE_NEEDS_RESET (0x40),
 * that none of the guest's other memory changed (a canary), and that after
 * a reset the device serves a good request again.  Modes:
 *   oob       a buffer address far outside guest RAM
 *   loop      two descriptors whose NEXT point at each other
 *   long      every descriptor chained, the last back to the first
 *   nextoob   a NEXT index past the queue's end
 *   indirect  an indirect table out of RAM (needs INDIRECT_DESC)
 *   order     a readable buffer after a writable one
 *   avail     the avail index jumps by more than the queue size
 *   short     a 4-byte request header (the device's own check)
 * Prints "vhostile: MODE status=0x.." and "vhostile ok".
 */
#include "rt.h"
#include "virtio.h"

#define QSIZE 16
#define CANARY_BYTES (256 * 1024)

static struct rt_virtio *dev;
static struct {
	uint32_t type, reserved;
	uint64_t sector;
} hdr;
static uint8_t status, buf[512];

static uint64_t canary_word(uint64_t i)
{
	return (i + 1) * 0x9e3779b97f4a7c15ull;
}

static struct vring_desc *desc(uint16_t i)
{
	return &dev->q[0].desc[i];
}

static void set(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc *d = desc(i);
	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

/* Offer head i and kick. */
static void offer(uint16_t head, uint16_t jump)
{
	struct rt_virtq *q = &dev->q[0];
	uint16_t idx = q->avail->idx;

	q->avail->ring[idx & (q->size - 1)] = head;
	__atomic_store_n(&q->avail->idx, (uint16_t)(idx + jump), __ATOMIC_RELEASE);
	rt_virtq_kick(dev, 0);
}

int main(void)
{
	const char *mode = rt_param("vhostile.mode") ? rt_param("vhostile.mode") : "oob";
	uint64_t *canary = (uint64_t *)rt_ram_alloc(CANARY_BYTES, 4096);
	uint16_t n = QSIZE;

	dev = rt_virtio_find(2, 0);
	if (!dev || !canary) {
		rt_printf("vhostile: no virtio-blk device or no RAM\n");
		return RT_EXIT_FAIL;
	}
	for (uint64_t i = 0; i < CANARY_BYTES / 8; i++)
		canary[i] = canary_word(i);
	if (rt_virtio_init(dev, VIO_F_INDIRECT_DESC, 1, QSIZE))
		return RT_EXIT_FAIL;
	n = dev->q[0].size;
	const uint16_t R = 0, W = VRING_DESC_F_WRITE, N = VRING_DESC_F_NEXT;
	uint64_t far = 0xfff000000000ull;

	/* a good request's layout: header, data, status */
	set(0, (uint64_t)&hdr, 16, R | N, 1);
	set(1, (uint64_t)buf, sizeof(buf), W | N, 2);
	set(2, (uint64_t)&status, 1, W, 0);
	if (!rt_strcmp(mode, "oob")) {
		set(1, far, sizeof(buf), W | N, 2);
	} else if (!rt_strcmp(mode, "loop")) {
		set(1, (uint64_t)buf, sizeof(buf), W | N, 0);
	} else if (!rt_strcmp(mode, "long")) {
		for (uint16_t i = 0; i < n; i++)
			set(i, (uint64_t)buf, 16, R | N, (uint16_t)((i + 1) % n));
	} else if (!rt_strcmp(mode, "nextoob")) {
		set(1, (uint64_t)buf, sizeof(buf), W | N, (uint16_t)(n + 5));
	} else if (!rt_strcmp(mode, "indirect")) {
		if (!(dev->features & VIO_F_INDIRECT_DESC)) {
			rt_printf("vhostile: INDIRECT_DESC not offered\n");
			return RT_EXIT_FAIL;
		}
		set(0, far, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	} else if (!rt_strcmp(mode, "order")) {
		set(0, (uint64_t)&status, 1, W | N, 1);
		set(1, (uint64_t)&hdr, 16, R | N, 2);
	} else if (!rt_strcmp(mode, "short")) {
		set(0, (uint64_t)&hdr, 4, R | N, 1);
	} else if (rt_strcmp(mode, "avail")) {
		rt_printf("vhostile: unknown mode %s\n", mode);
		return RT_EXIT_FAIL;
	}
	status = 0xee;
	offer(0, !rt_strcmp(mode, "avail") ? (uint16_t)(n + 3) : 1);

	/* the device answers a bad chain with NEEDS_RESET, not with a used entry */
	uint32_t st = 0;
	for (int i = 0; i < 100000 && !(st & VIO_S_NEEDS_RESET); i++)
		st = rt_virtio_status(dev);
	rt_printf("vhostile: %s status=0x%x\n", mode, st);
	if (!(st & VIO_S_NEEDS_RESET))
		return RT_EXIT_FAIL;
	if (dev->q[0].used->idx != 0 || status != 0xee) {
		rt_printf("vhostile: the device answered the bad chain\n");
		return RT_EXIT_FAIL;
	}
	for (uint64_t i = 0; i < CANARY_BYTES / 8; i++)
		if (canary[i] != canary_word(i)) {
			rt_printf("vhostile: canary word %lu changed\n", (unsigned long)i);
			return RT_EXIT_FAIL;
		}

	/* after a reset the device works again */
	if (rt_virtio_init(dev, 0, 1, QSIZE))
		return RT_EXIT_FAIL;
	struct rt_vbuf b[3] = {
		{ (uint64_t)&hdr, 16, false }, { (uint64_t)buf, 20, true }, { (uint64_t)&status, 1, true } };
	uint16_t head;
	uint32_t len;
	hdr.type = 8; /* GET_ID */
	hdr.sector = 0;
	rt_virtq_add(dev, 0, b, 3);
	rt_virtq_kick(dev, 0);
	if (rt_virtq_wait(dev, 0, &head, &len, 60000) != 1 || status != 0) {
		rt_printf("vhostile: no good answer after the reset (status 0x%x)\n", rt_virtio_status(dev));
		return RT_EXIT_FAIL;
	}
	rt_printf("vhostile: after reset id=%s\n", (const char *)buf);
	rt_printf("vhostile ok\n");
	return 0;
}
