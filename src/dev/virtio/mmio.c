/*
 * dev/virtio/mmio: the virtio-mmio register window (virtio 1.2, 4.2.2,
 * version 2 only), feature negotiation, device status, reset, the
 * "broken" state and the interrupt line.
 *
 * The line follows InterruptStatus: high while any bit is set, low once
 * the driver acknowledged them all.  That is what a level-triggered pin
 * wants (our IOAPIC re-delivers it after an EOI while it is still high),
 * and on an edge-triggered pin every 0 -> 1 of InterruptStatus is a new
 * rising edge; since Linux's handler acknowledges before it walks the used
 * rings, nothing is missed either way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev/virtio/transport.h"
#include "util/le.h"

#define MAGIC     0x74726976u /* "virt" */
#define VENDOR_ID 0x4d564d47u /* "GMVM" */

enum {
	REG_MAGIC = 0x000,
	REG_VERSION = 0x004,
	REG_DEVICE_ID = 0x008,
	REG_VENDOR_ID = 0x00c,
	REG_DEV_FEATURES = 0x010,
	REG_DEV_FEATURES_SEL = 0x014,
	REG_DRV_FEATURES = 0x020,
	REG_DRV_FEATURES_SEL = 0x024,
	REG_QUEUE_SEL = 0x030,
	REG_QUEUE_NUM_MAX = 0x034,
	REG_QUEUE_NUM = 0x038,
	REG_QUEUE_READY = 0x044,
	REG_QUEUE_NOTIFY = 0x050,
	REG_INT_STATUS = 0x060,
	REG_INT_ACK = 0x064,
	REG_STATUS = 0x070,
	REG_QUEUE_DESC_LO = 0x080,
	REG_QUEUE_DESC_HI = 0x084,
	REG_QUEUE_DRIVER_LO = 0x090,
	REG_QUEUE_DRIVER_HI = 0x094,
	REG_QUEUE_DEVICE_LO = 0x0a0,
	REG_QUEUE_DEVICE_HI = 0x0a4,
	REG_SHM_SEL = 0x0ac,
	REG_SHM_LEN_LO = 0x0b0,
	REG_SHM_BASE_HI = 0x0bc,
	REG_CONFIG_GEN = 0x0fc,
	CONFIG_SPACE = 0x100,
};

static void log_line(struct gm_virtio *v, const char *what)
{
	char line[256];

	if (!v->host.log)
		return;
	snprintf(line, sizeof(line), "%s at 0x%llx: %s", v->ops->name, (unsigned long long)v->base, what);
	v->host.log(v->host.opaque, line);
}

static void drive_line(struct gm_virtio *v, bool level)
{
	if (v->line == level)
		return;
	v->line = level;
	if (v->host.set_irq)
		v->host.set_irq(v->host.opaque, v->gsi, level);
}

void gm_virtio_interrupt(struct gm_virtio *v, uint32_t bits)
{
	pthread_mutex_lock(&v->irq_lock);
	v->isr |= bits;
	drive_line(v, v->isr != 0);
	pthread_mutex_unlock(&v->irq_lock);
}

static void interrupt_ack(struct gm_virtio *v, uint32_t bits)
{
	pthread_mutex_lock(&v->irq_lock);
	v->isr &= ~bits;
	drive_line(v, v->isr != 0);
	pthread_mutex_unlock(&v->irq_lock);
}

void gm_virtio_broken(struct gm_virtio *v, const char *why)
{
	char line[200];

	if (__atomic_exchange_n(&v->broken, true, __ATOMIC_ACQ_REL))
		return; /* one line per breakage: a hostile driver cannot flood the log */
	snprintf(line, sizeof(line), "%s; the device stops until the guest resets it (DEVICE_NEEDS_RESET)", why);
	log_line(v, line);
	gm_virtio_interrupt(v, VIRTIO_INT_CONFIG);
}

void gm_virtio_config_changed(struct gm_virtio *v)
{
	__atomic_add_fetch(&v->config_generation, 1, __ATOMIC_ACQ_REL);
	gm_virtio_interrupt(v, VIRTIO_INT_CONFIG);
}

/* With v->lock held. */
static void reset_locked(struct gm_virtio *v)
{
	__atomic_store_n(&v->active, false, __ATOMIC_RELEASE);
	if (v->ops->reset)
		v->ops->reset(v->dev); /* returns once nothing of the device is in flight */
	for (unsigned i = 0; i < v->ops->nqueues; i++) {
		pthread_mutex_lock(&v->q[i].lock);
		gm_virtq_clear(&v->q[i], v->ops->queue_max);
		pthread_mutex_unlock(&v->q[i].lock);
	}
	v->status = 0;
	v->dev_features_sel = v->drv_features_sel = v->queue_sel = 0;
	v->driver_features = 0;
	__atomic_store_n(&v->broken, false, __ATOMIC_RELEASE);
	pthread_mutex_lock(&v->irq_lock);
	v->isr = 0;
	drive_line(v, false);
	pthread_mutex_unlock(&v->irq_lock);
}

void gm_virtio_reset(struct gm_virtio *v)
{
	pthread_mutex_lock(&v->lock);
	reset_locked(v);
	pthread_mutex_unlock(&v->lock);
}

/* With v->lock held: the driver wrote Status. */
static void write_status(struct gm_virtio *v, uint32_t val)
{
	uint32_t old = v->status, st;

	if (val == 0) {
		reset_locked(v);
		return;
	}
	/* Bits are only ever set until a reset; NEEDS_RESET is the device's. */
	st = old | (val & 0xff & ~(uint32_t)VIRTIO_STATUS_NEEDS_RESET);
	if ((st & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		if (!(v->driver_features & GM_VIRTIO_F_VERSION_1)) {
			log_line(v, "the driver did not accept VERSION_1 (a legacy driver?); FEATURES_OK refused");
			st &= ~(uint32_t)(VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
		} else if (v->driver_features & ~v->offered) {
			log_line(v, "the driver accepted features the device did not offer; FEATURES_OK refused");
			st &= ~(uint32_t)(VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
		}
	}
	v->status = st;
	if (!(st & VIRTIO_STATUS_DRIVER_OK) || (old & VIRTIO_STATUS_DRIVER_OK))
		return;
	if (!(st & VIRTIO_STATUS_FEATURES_OK)) {
		gm_virtio_broken(v, "the driver set DRIVER_OK without FEATURES_OK");
		return;
	}
	if (__atomic_load_n(&v->broken, __ATOMIC_ACQUIRE))
		return;
	if (v->ops->activate && v->ops->activate(v->dev, v->driver_features) < 0) {
		gm_virtio_broken(v, "the device could not start with the features the driver accepted");
		return;
	}
	__atomic_store_n(&v->active, true, __ATOMIC_RELEASE);
}

static bool is_pow2(uint32_t x)
{
	return x && !(x & (x - 1));
}

static void set_addr(uint64_t *a, bool hi, uint32_t val)
{
	*a = hi ? (*a & 0xffffffffu) | (uint64_t)val << 32 : (*a & ~UINT64_C(0xffffffff)) | val;
}

/* With v->lock held.  Returns the queue to notify, or -1. */
static int write_reg(struct gm_virtio *v, uint64_t off, uint32_t val)
{
	struct gm_virtq *q = v->queue_sel < v->ops->nqueues ? &v->q[v->queue_sel] : NULL;
	bool broken = __atomic_load_n(&v->broken, __ATOMIC_ACQUIRE);
	char why[160];

	switch (off) {
	case REG_DEV_FEATURES_SEL:
		v->dev_features_sel = val;
		return -1;
	case REG_DRV_FEATURES:
		/* the features are fixed once FEATURES_OK is set */
		if (v->status & VIRTIO_STATUS_FEATURES_OK || v->drv_features_sel > 1)
			return -1;
		set_addr(&v->driver_features, v->drv_features_sel == 1, val);
		return -1;
	case REG_DRV_FEATURES_SEL:
		v->drv_features_sel = val;
		return -1;
	case REG_QUEUE_SEL:
		v->queue_sel = val;
		return -1;
	case REG_INT_ACK:
		interrupt_ack(v, val);
		return -1;
	case REG_STATUS:
		write_status(v, val);
		return -1;
	case REG_QUEUE_NOTIFY:
		/* Kicks of a broken, not yet started or unknown queue are dropped. */
		if (broken || !__atomic_load_n(&v->active, __ATOMIC_ACQUIRE) || val >= v->ops->nqueues ||
		    !v->q[val].ready)
			return -1;
		return (int)val;
	default:
		break;
	}
	/* The rest configure the selected queue, and only while it is not live. */
	if (!q || broken)
		return -1;
	pthread_mutex_lock(&q->lock);
	if (q->ready && off != REG_QUEUE_READY) {
		pthread_mutex_unlock(&q->lock);
		return -1;
	}
	switch (off) {
	case REG_QUEUE_NUM:
		if (!is_pow2(val) || val > v->ops->queue_max) {
			pthread_mutex_unlock(&q->lock);
			snprintf(why, sizeof(why), "queue %u: QueueNum %u is not a power of 2 up to %u", q->index,
				 val, v->ops->queue_max);
			gm_virtio_broken(v, why);
			return -1;
		}
		q->num = (uint16_t)val;
		break;
	case REG_QUEUE_READY:
		if (!(val & 1)) {
			q->ready = false;
			break;
		}
		if (!q->ready) {
			const char *bad = gm_virtq_check_layout(v, q->num, q->desc, q->avail, q->used);

			if (bad) {
				pthread_mutex_unlock(&q->lock);
				snprintf(why, sizeof(why), "queue %u: %s", q->index, bad);
				gm_virtio_broken(v, why);
				return -1;
			}
			q->ready = true;
		}
		break;
	case REG_QUEUE_DESC_LO:
	case REG_QUEUE_DESC_HI:
		set_addr(&q->desc, off == REG_QUEUE_DESC_HI, val);
		break;
	case REG_QUEUE_DRIVER_LO:
	case REG_QUEUE_DRIVER_HI:
		set_addr(&q->avail, off == REG_QUEUE_DRIVER_HI, val);
		break;
	case REG_QUEUE_DEVICE_LO:
	case REG_QUEUE_DEVICE_HI:
		set_addr(&q->used, off == REG_QUEUE_DEVICE_HI, val);
		break;
	default:
		break; /* read-only registers, SHMSel, QueueReset: ignored */
	}
	pthread_mutex_unlock(&q->lock);
	return -1;
}

/* With v->lock held. */
static uint32_t read_reg(struct gm_virtio *v, uint64_t off)
{
	struct gm_virtq *q = v->queue_sel < v->ops->nqueues ? &v->q[v->queue_sel] : NULL;
	uint32_t val = 0;

	switch (off) {
	case REG_MAGIC:
		return MAGIC;
	case REG_VERSION:
		return 2;
	case REG_DEVICE_ID:
		return v->ops->device_id;
	case REG_VENDOR_ID:
		return VENDOR_ID;
	case REG_DEV_FEATURES:
		if (v->dev_features_sel > 1)
			return 0;
		return (uint32_t)(v->offered >> (32 * v->dev_features_sel));
	case REG_QUEUE_NUM_MAX:
		return q ? v->ops->queue_max : 0;
	case REG_INT_STATUS:
		pthread_mutex_lock(&v->irq_lock);
		val = v->isr;
		pthread_mutex_unlock(&v->irq_lock);
		return val;
	case REG_STATUS:
		return v->status | (__atomic_load_n(&v->broken, __ATOMIC_ACQUIRE) ? VIRTIO_STATUS_NEEDS_RESET : 0);
	case REG_CONFIG_GEN:
		return __atomic_load_n(&v->config_generation, __ATOMIC_ACQUIRE);
	default:
		break;
	}
	/* No shared memory regions: a length and base of all ones (4.2.2). */
	if (off >= REG_SHM_LEN_LO && off <= REG_SHM_BASE_HI)
		return 0xffffffffu;
	if (!q)
		return 0;
	pthread_mutex_lock(&q->lock);
	switch (off) {
	case REG_QUEUE_NUM:
		val = q->num;
		break;
	case REG_QUEUE_READY:
		val = q->ready;
		break;
	case REG_QUEUE_DESC_LO:
	case REG_QUEUE_DESC_HI:
		val = (uint32_t)(q->desc >> (off == REG_QUEUE_DESC_HI ? 32 : 0));
		break;
	case REG_QUEUE_DRIVER_LO:
	case REG_QUEUE_DRIVER_HI:
		val = (uint32_t)(q->avail >> (off == REG_QUEUE_DRIVER_HI ? 32 : 0));
		break;
	case REG_QUEUE_DEVICE_LO:
	case REG_QUEUE_DEVICE_HI:
		val = (uint32_t)(q->used >> (off == REG_QUEUE_DEVICE_HI ? 32 : 0));
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&q->lock);
	return val;
}

/*
 * Device config space: 1, 2, 4 or 8 bytes, aligned to the access (8-byte
 * ones to 4, as drivers read 64-bit fields), inside config_len; anything
 * else reads as zeros and is dropped.
 */
static void config_access(struct gm_virtio *v, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
	bool ok = (size == 1 || size == 2 || size == 4 || size == 8) && !(off % (size > 4 ? 4 : size)) &&
		  off < v->ops->config_len && size <= v->ops->config_len - off;

	if (!ok) {
		if (!is_write)
			memset(data, 0, size);
		return;
	}
	if (is_write) {
		if (v->ops->config_write)
			v->ops->config_write(v->dev, (uint32_t)off, data, size);
	} else if (v->ops->config_read) {
		v->ops->config_read(v->dev, (uint32_t)off, data, size);
	} else {
		memset(data, 0, size);
	}
}

static void mmio_access(void *opaque, uint64_t addr, uint8_t *data, unsigned size, bool is_write)
{
	struct gm_virtio *v = opaque;
	uint64_t off = addr - v->base;
	int notify = -1;

	if (off >= CONFIG_SPACE) {
		pthread_mutex_lock(&v->lock);
		config_access(v, off - CONFIG_SPACE, data, size, is_write);
		pthread_mutex_unlock(&v->lock);
		return;
	}
	/* Registers take 32-bit aligned accesses only (4.2.2.2); others read 0, writes drop. */
	if (size != 4 || (off & 3)) {
		if (!is_write)
			memset(data, 0, size);
		return;
	}
	pthread_mutex_lock(&v->lock);
	if (is_write)
		notify = write_reg(v, off, gm_le32(data));
	else
		gm_put_le32(data, read_reg(v, off));
	pthread_mutex_unlock(&v->lock);
	/* without the lock: the device may pop, push and interrupt from here */
	if (notify >= 0 && v->ops->notify)
		v->ops->notify(v->dev, (unsigned)notify);
}

int gm_virtio_new(const struct gm_dev_ctx *ctx, const struct gm_virtio_ops *ops, void *dev,
		  struct gm_virtio **out, struct gm_error *err)
{
	char entry[96];
	struct gm_virtio *v;
	int r;

	if (!ops->nqueues || ops->nqueues > GM_VIRTIO_MAX_QUEUES || !is_pow2(ops->queue_max) ||
	    ops->queue_max > GM_VIRTQ_MAX_SIZE || ops->config_len > 0x100)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL, "%s: bad queue or config layout (a gmvm bug)", ops->name);
	v = calloc(1, sizeof(*v));
	if (!v)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for %s", ops->name);
	pthread_mutex_init(&v->lock, NULL);
	pthread_mutex_init(&v->irq_lock, NULL);
	v->ops = ops;
	v->dev = dev;
	v->host = ctx->host;
	v->offered = (ops->features | GM_VIRTIO_F_VERSION_1 | GM_VIRTIO_F_INDIRECT_DESC | GM_VIRTIO_F_EVENT_IDX) &
		     ~ops->transport_features_off;
	v->offered |= GM_VIRTIO_F_VERSION_1; /* modern only: never optional */
	for (unsigned i = 0; i < GM_VIRTIO_MAX_QUEUES; i++) {
		pthread_mutex_init(&v->q[i].lock, NULL);
		v->q[i].v = v;
		v->q[i].index = i;
		gm_virtq_clear(&v->q[i], ops->queue_max);
	}
	r = gm_res_alloc_gsi(ctx->res, ops->name, &v->gsi, err);
	if (!r)
		r = gm_res_alloc_mmio(ctx->res, GM_VIRTIO_MMIO_SIZE, ops->name, &v->base, err);
	if (!r && ctx->host.add_cmdline) {
		snprintf(entry, sizeof(entry), "virtio_mmio.device=%u@0x%llx:%u", GM_VIRTIO_MMIO_SIZE,
			 (unsigned long long)v->base, v->gsi);
		r = ctx->host.add_cmdline(ctx->host.opaque, entry, err);
	}
	/* the window last: the bus keeps v from then on */
	if (!r)
		r = gm_iobus_add_mmio(ctx->bus, v->base, GM_VIRTIO_MMIO_SIZE, mmio_access, v, ops->name, err);
	if (r) {
		gm_virtio_free(v);
		return r;
	}
	*out = v;
	return 0;
}

void gm_virtio_free(struct gm_virtio *v)
{
	if (!v)
		return;
	for (unsigned i = 0; i < GM_VIRTIO_MAX_QUEUES; i++)
		pthread_mutex_destroy(&v->q[i].lock);
	pthread_mutex_destroy(&v->irq_lock);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

uint64_t gm_virtio_mmio_base(const struct gm_virtio *v)
{
	return v->base;
}

unsigned gm_virtio_gsi(const struct gm_virtio *v)
{
	return v->gsi;
}

bool gm_virtio_set_offer(struct gm_virtio *v, uint64_t features)
{
	bool ok;

	pthread_mutex_lock(&v->lock);
	ok = !(v->status & VIRTIO_STATUS_FEATURES_OK);
	if (ok)
		v->offered = (v->offered & ~v->ops->features) | (features & v->ops->features);
	pthread_mutex_unlock(&v->lock);
	return ok;
}

uint64_t gm_virtio_features(const struct gm_virtio *v)
{
	return v->driver_features;
}

struct gm_virtq *gm_virtio_queue(struct gm_virtio *v, unsigned q)
{
	return q < v->ops->nqueues ? &v->q[q] : NULL;
}

bool gm_virtio_active(const struct gm_virtio *v)
{
	return __atomic_load_n(&v->active, __ATOMIC_ACQUIRE) && !__atomic_load_n(&v->broken, __ATOMIC_ACQUIRE);
}
