/*
 * rt/virtio: the test guests' virtio-mmio driver (see virtio.h).  Queues
 * live in RAM from rt_ram_alloc; one page-aligned block per queue holds
 * the descriptor table, the avail ring and (on the next page boundary
 * that fits) the used ring.
 */
#include "virtio.h"

static struct rt_virtio devs[RT_VIRTIO_MAX_DEVS];
static unsigned ndevs;
static bool scanned;

uint32_t rt_vio_read(const struct rt_virtio *d, unsigned reg)
{
	return *(volatile uint32_t *)(d->base + reg);
}

void rt_vio_write(const struct rt_virtio *d, unsigned reg, uint32_t v)
{
	*(volatile uint32_t *)(d->base + reg) = v;
}

uint32_t rt_virtio_status(const struct rt_virtio *d)
{
	return rt_vio_read(d, VIO_STATUS);
}

uint8_t rt_virtio_cfg8(const struct rt_virtio *d, unsigned off)
{
	return *(volatile uint8_t *)(d->base + VIO_CONFIG + off);
}

uint32_t rt_virtio_cfg32(const struct rt_virtio *d, unsigned off)
{
	return rt_vio_read(d, VIO_CONFIG + off);
}

uint64_t rt_virtio_cfg64(const struct rt_virtio *d, unsigned off)
{
	return rt_virtio_cfg32(d, off) | (uint64_t)rt_virtio_cfg32(d, off + 4) << 32;
}

/* A number at *p (decimal or 0x hex, optional K/M/G); p moves past it. */
static uint64_t number(const char **p)
{
	const char *s = *p;
	uint64_t v = 0;
	unsigned base = 10;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (;; s++) {
		unsigned dgt;
		if (*s >= '0' && *s <= '9')
			dgt = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			dgt = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			dgt = (unsigned)(*s - 'A' + 10);
		else
			break;
		v = v * base + dgt;
	}
	if (*s == 'K' || *s == 'k') {
		v <<= 10;
		s++;
	}
	*p = s;
	return v;
}

unsigned rt_virtio_scan(struct rt_virtio *out, unsigned max)
{
	static const char key[] = "virtio_mmio.device=";
	const char *c = rt_cmdline();
	unsigned n = 0;

	for (const char *p = c; *p && n < max; p++) {
		if ((p != c && p[-1] != ' ') || memcmp(p, key, sizeof(key) - 1))
			continue;
		const char *s = p + sizeof(key) - 1;
		(void)number(&s);
		if (*s++ != '@')
			continue;
		uint64_t base = number(&s);
		if (*s++ != ':')
			continue;
		struct rt_virtio *d = &out[n];
		memset(d, 0, sizeof(*d));
		d->base = base;
		d->irq = (unsigned)number(&s);
		if (rt_vio_read(d, VIO_MAGIC) != 0x74726976 || rt_vio_read(d, VIO_VERSION) != 2) {
			rt_printf("virtio: no version-2 virtio-mmio device at 0x%lx\n", (unsigned long)base);
			continue;
		}
		d->device_id = rt_vio_read(d, VIO_DEVICE_ID);
		if (d->device_id)
			n++;
	}
	return n;
}

struct rt_virtio *rt_virtio_find(uint32_t id, unsigned index)
{
	if (!scanned) {
		ndevs = rt_virtio_scan(devs, RT_VIRTIO_MAX_DEVS);
		scanned = true;
	}
	for (unsigned i = 0; i < ndevs; i++)
		if (devs[i].device_id == id && !index--)
			return &devs[i];
	return NULL;
}

static void set_addr(const struct rt_virtio *d, unsigned reg, uint64_t a)
{
	rt_vio_write(d, reg, (uint32_t)a);
	rt_vio_write(d, reg + 4, (uint32_t)(a >> 32));
}

static int fail(struct rt_virtio *d, int step, const char *why)
{
	rt_printf("virtio: device %u at 0x%lx: %s\n", d->device_id, (unsigned long)d->base, why);
	rt_vio_write(d, VIO_STATUS, rt_virtio_status(d) | VIO_S_FAILED);
	return -step;
}

static int setup_queue(struct rt_virtio *d, unsigned qi, uint16_t want)
{
	struct rt_virtq *q = &d->q[qi];

	rt_vio_write(d, VIO_QUEUE_SEL, qi);
	uint32_t max = rt_vio_read(d, VIO_QUEUE_NUM_MAX);
	if (!max)
		return fail(d, 5, "a queue the driver needs is missing");
	uint16_t size = want;
	while (size > max)
		size >>= 1;
	uint64_t used_off = ((uint64_t)size * 16 + 6 + 2 * size + 2 + 4095) & ~4095ull;
	uint64_t mem = rt_ram_alloc(used_off + ((6 + 8ull * size + 2 + 4095) & ~4095ull), 4096);
	if (!mem)
		return fail(d, 5, "no RAM for the queue");
	memset((void *)mem, 0, used_off + 4096);
	q->size = size;
	q->desc = (struct vring_desc *)mem;
	q->avail = (struct vring_avail *)(mem + 16ull * size);
	q->used = (struct vring_used *)(mem + used_off);
	for (uint16_t i = 0; i < size; i++)
		q->desc[i].next = (uint16_t)(i + 1);
	q->free_head = 0;
	q->nfree = size;
	q->last_used = 0;
	rt_vio_write(d, VIO_QUEUE_NUM, size);
	set_addr(d, VIO_QUEUE_DESC, (uint64_t)q->desc);
	set_addr(d, VIO_QUEUE_DRIVER, (uint64_t)q->avail);
	set_addr(d, VIO_QUEUE_DEVICE, (uint64_t)q->used);
	rt_vio_write(d, VIO_QUEUE_READY, 1);
	return 0;
}

int rt_virtio_init(struct rt_virtio *d, uint64_t want, unsigned nq, uint16_t qsize)
{
	if (nq > RT_VIRTIO_MAX_QUEUES)
		return fail(d, 1, "more queues asked than the driver keeps");
	rt_vio_write(d, VIO_STATUS, 0);
	rt_vio_write(d, VIO_STATUS, VIO_S_ACK);
	rt_vio_write(d, VIO_STATUS, VIO_S_ACK | VIO_S_DRIVER);
	rt_vio_write(d, VIO_DEV_FEAT_SEL, 0);
	d->offered = rt_vio_read(d, VIO_DEV_FEATURES);
	rt_vio_write(d, VIO_DEV_FEAT_SEL, 1);
	d->offered |= (uint64_t)rt_vio_read(d, VIO_DEV_FEATURES) << 32;
	if (!(d->offered & VIO_F_VERSION_1))
		return fail(d, 2, "VERSION_1 not offered");
	d->features = (want | VIO_F_VERSION_1) & d->offered;
	rt_vio_write(d, VIO_DRV_FEAT_SEL, 0);
	rt_vio_write(d, VIO_DRV_FEATURES, (uint32_t)d->features);
	rt_vio_write(d, VIO_DRV_FEAT_SEL, 1);
	rt_vio_write(d, VIO_DRV_FEATURES, (uint32_t)(d->features >> 32));
	rt_vio_write(d, VIO_STATUS, VIO_S_ACK | VIO_S_DRIVER | VIO_S_FEATURES_OK);
	if (!(rt_virtio_status(d) & VIO_S_FEATURES_OK))
		return fail(d, 3, "FEATURES_OK refused");
	d->nqueues = nq;
	for (unsigned i = 0; i < nq; i++) {
		int r = setup_queue(d, i, qsize);
		if (r)
			return r;
	}
	rt_vio_write(d, VIO_STATUS, VIO_S_ACK | VIO_S_DRIVER | VIO_S_FEATURES_OK | VIO_S_DRIVER_OK);
	return 0;
}

int rt_virtq_add(struct rt_virtio *d, unsigned qi, const struct rt_vbuf *b, unsigned n)
{
	struct rt_virtq *q = &d->q[qi];

	if (!n || n > q->nfree)
		return -1;
	uint16_t head = q->free_head, i = head, last = head;
	for (unsigned k = 0; k < n; k++) {
		struct vring_desc *desc = &q->desc[i];
		desc->addr = b[k].addr;
		desc->len = b[k].len;
		desc->flags = (uint16_t)((b[k].write ? VRING_DESC_F_WRITE : 0) | (k + 1 < n ? VRING_DESC_F_NEXT : 0));
		last = i;
		i = desc->next;
	}
	q->free_head = q->desc[last].next;
	q->nfree = (uint16_t)(q->nfree - n);
	uint16_t idx = q->avail->idx;
	q->avail->ring[idx & (q->size - 1)] = head;
	__atomic_store_n(&q->avail->idx, (uint16_t)(idx + 1), __ATOMIC_RELEASE);
	return head;
}

void rt_virtq_kick(struct rt_virtio *d, unsigned qi)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	rt_vio_write(d, VIO_QUEUE_NOTIFY, qi);
}

bool rt_virtq_get(struct rt_virtio *d, unsigned qi, uint16_t *head, uint32_t *len)
{
	struct rt_virtq *q = &d->q[qi];
	uint16_t idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);

	if (idx == q->last_used)
		return false;
	struct vring_used_elem *e = &q->used->ring[q->last_used & (q->size - 1)];
	uint16_t h = (uint16_t)e->id, i = h, n = 1;
	*head = h;
	*len = e->len;
	q->last_used++;
	/* give the chain's descriptors back */
	while (q->desc[i].flags & VRING_DESC_F_NEXT) {
		i = q->desc[i].next;
		n++;
	}
	q->desc[i].next = q->free_head;
	q->free_head = h;
	q->nfree = (uint16_t)(q->nfree + n);
	/* quiet the (unused) interrupt line */
	uint32_t isr = rt_vio_read(d, VIO_INT_STATUS);
	if (isr)
		rt_vio_write(d, VIO_INT_ACK, isr);
	return true;
}

int rt_virtq_wait(struct rt_virtio *d, unsigned qi, uint16_t *head, uint32_t *len, uint64_t timeout_ms)
{
	uint64_t khz = rt_tsc_khz(), start = rt_rdtsc();

	for (uint64_t spins = 0;; spins++) {
		if (rt_virtq_get(d, qi, head, len))
			return 1;
		if ((spins & 63) == 0) {
			if (rt_virtio_status(d) & VIO_S_NEEDS_RESET)
				return -1;
			if (khz ? rt_rdtsc() - start > timeout_ms * khz : spins > timeout_ms * 1000)
				return 0;
			if (!khz)
				rt_delay_us(1);
		}
		__asm__ volatile("pause");
	}
}
