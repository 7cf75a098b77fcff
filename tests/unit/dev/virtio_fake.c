/* The fake machine of virtio_fake.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "virtio_fake.h"
#include "util/le.h"

#define GUARD 4096

static void f_set_irq(void *opaque, unsigned gsi, bool level)
{
	struct fake *f = opaque;

	(void)gsi;
	if (level && !f->line)
		f->raises++;
	f->line = level;
}

static void *f_guest_ptr(void *opaque, uint64_t gpa, uint64_t len)
{
	struct fake *f = opaque;

	if (!len || gpa >= f->size || len > f->size - gpa)
		return NULL;
	return f->mem + gpa;
}

static void f_guest_written(void *opaque, uint64_t gpa, uint64_t len)
{
	struct fake *f = opaque;

	if (!f->nwritten++ || gpa < f->written_lo)
		f->written_lo = gpa;
	if (f->nwritten == 1 || gpa + len > f->written_hi)
		f->written_hi = gpa + len;
}

static int f_add_cmdline(void *opaque, const char *text, struct gm_error *err)
{
	struct fake *f = opaque;
	size_t have = strlen(f->cmdline);

	(void)err;
	snprintf(f->cmdline + have, sizeof(f->cmdline) - have, "%s%s", have ? " " : "", text);
	return 0;
}

static void f_log(void *opaque, const char *line)
{
	struct fake *f = opaque;

	f->nlog++;
	snprintf(f->last_log, sizeof(f->last_log), "%s", line);
}

static struct fake *setup(uint8_t *mem, uint64_t size)
{
	struct fake *f = calloc(1, sizeof(*f));

	if (!f)
		abort();
	f->mem = mem;
	f->size = size;
	f->bus = gm_iobus_new();
	f->res = gm_resources_new();
	if (!f->bus || !f->res)
		abort();
	f->ctx = (struct gm_dev_ctx){
		.bus = f->bus,
		.res = f->res,
		.host = { .opaque = f, .set_irq = f_set_irq, .guest_ptr = f_guest_ptr,
			  .guest_written = f_guest_written, .add_cmdline = f_add_cmdline, .log = f_log },
		.ncpus = 1,
	};
	return f;
}

struct fake *fake_new(uint64_t size)
{
	uint8_t *p = mmap(NULL, size + 2 * GUARD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct fake *f;

	if (p == MAP_FAILED || mprotect(p + GUARD, size, PROT_READ | PROT_WRITE))
		abort();
	f = setup(p + GUARD, size);
	f->guarded = true;
	return f;
}

struct fake *fake_over(uint8_t *mem, uint64_t size)
{
	return setup(mem, size);
}

void fake_free(struct fake *f)
{
	if (!f)
		return;
	if (f->guarded)
		munmap(f->mem - GUARD, f->size + 2 * GUARD);
	gm_resources_free(f->res);
	gm_iobus_free(f->bus);
	free(f);
}

uint32_t fake_rd(struct fake *f, uint64_t base, unsigned off)
{
	uint8_t d[4];

	gm_iobus_mmio(f->bus, base + off, d, 4, false);
	return gm_le32(d);
}

void fake_wr(struct fake *f, uint64_t base, unsigned off, uint32_t val)
{
	uint8_t d[4];

	gm_put_le32(d, val);
	gm_iobus_mmio(f->bus, base + off, d, 4, true);
}

uint32_t fake_negotiate(struct fake *f, uint64_t base, uint64_t accept)
{
	uint64_t offered;

	fake_wr(f, base, 0x70, 0);
	fake_wr(f, base, 0x70, 1);
	fake_wr(f, base, 0x70, 3);
	fake_wr(f, base, 0x14, 0);
	offered = fake_rd(f, base, 0x10);
	fake_wr(f, base, 0x14, 1);
	offered |= (uint64_t)fake_rd(f, base, 0x10) << 32;
	(void)offered; /* accept is taken as given: tests offer bits on purpose */
	fake_wr(f, base, 0x24, 0);
	fake_wr(f, base, 0x20, (uint32_t)accept);
	fake_wr(f, base, 0x24, 1);
	fake_wr(f, base, 0x20, (uint32_t)(accept >> 32));
	fake_wr(f, base, 0x70, 3 | 8);
	return fake_rd(f, base, 0x70);
}

void fake_queue(struct fake *f, uint64_t base, struct fake_q *q, unsigned index, uint16_t num, uint64_t desc,
		uint64_t avail, uint64_t used)
{
	*q = (struct fake_q){ .f = f, .base = base, .index = index, .num = num, .desc = desc, .avail = avail,
			      .used = used };
	if (desc + 16u * num <= f->size)
		memset(f->mem + desc, 0, 16u * num);
	if (avail + 6u + 2u * num <= f->size)
		memset(f->mem + avail, 0, 6u + 2u * num);
	if (used + 6u + 8u * num <= f->size)
		memset(f->mem + used, 0, 6u + 8u * num);
	fake_wr(f, base, 0x30, index);
	fake_wr(f, base, 0x38, num);
	fake_wr(f, base, 0x80, (uint32_t)desc);
	fake_wr(f, base, 0x84, (uint32_t)(desc >> 32));
	fake_wr(f, base, 0x90, (uint32_t)avail);
	fake_wr(f, base, 0x94, (uint32_t)(avail >> 32));
	fake_wr(f, base, 0xa0, (uint32_t)used);
	fake_wr(f, base, 0xa4, (uint32_t)(used >> 32));
	fake_wr(f, base, 0x44, 1);
}

void fake_desc(struct fake *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
	       uint16_t next)
{
	uint8_t *d = f->mem + table + 16u * i;

	gm_put_le64(d, addr);
	gm_put_le32(d + 8, len);
	gm_put_le16(d + 12, flags);
	gm_put_le16(d + 14, next);
}

void fake_avail(struct fake_q *q, uint16_t head)
{
	uint8_t *a = q->f->mem + q->avail;

	gm_put_le16(a + 4 + 2 * (q->avail_idx % q->num), head);
	q->avail_idx++;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	gm_put_le16(a + 2, q->avail_idx);
}

void fake_kick(struct fake_q *q)
{
	fake_wr(q->f, q->base, 0x50, q->index);
}

uint16_t fake_used_idx(const struct fake_q *q)
{
	return gm_le16(q->f->mem + q->used + 2);
}

void fake_used_elem(const struct fake_q *q, unsigned slot, uint32_t *id, uint32_t *len)
{
	const uint8_t *u = q->f->mem + q->used + 4 + 8 * (slot % q->num);

	*id = gm_le32(u);
	*len = gm_le32(u + 4);
}
