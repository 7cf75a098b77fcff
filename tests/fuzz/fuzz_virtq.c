/*
 * Fuzz target for split virtqueues (dev/virtio/queue.c): a hostile guest's
 * rings and descriptor chains.  Input: a 16-byte queue config, then the
 * guest memory image (GUEST_MEM bytes, zero-padded), which lives in a
 * malloc'd buffer of exactly that size so ASan sees any access outside it.
 *
 *   u8  log2 of the queue size (mod 9: 1..256)   u8 feature bits (1 indirect, 2 event idx)
 *   u16 reserved                                 u32 desc, u32 avail, u32 used (guest addresses)
 *
 * The queue is set up through the MMIO registers as a driver would; then
 * chains are popped and pushed until the queue is empty or the device
 * breaks, every byte of every buffer read or written.  Invariants: pop
 * returns 1, 0 or -EINVAL; a chain's segments lie inside guest memory and
 * add up to its byte counts; at most one log line; a refused chain or a
 * refused queue leaves the device broken (DEVICE_NEEDS_RESET).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/dev/virtio_fake.h"
#include "util/le.h"

#define GUEST_MEM 65536u

#define CHECK(cond, ...)                                                           \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "fuzz_virtq: %s: ", #cond);                \
			fprintf(stderr, __VA_ARGS__);                              \
			fputc('\n', stderr);                                       \
			abort();                                                   \
		}                                                                  \
	} while (0)

static const struct gm_virtio_ops ops = {
	.name = "virtio-fuzz",
	.device_id = 99,
	.nqueues = 1,
	.queue_max = 256,
};

static struct gm_virtq_elem elem;

static void check_elem(const struct fake *f, const struct gm_virtq_elem *e)
{
	uint64_t out = 0, in = 0;

	CHECK(e->nout + e->nin <= GM_VIRTQ_MAX_SEGS, "%u segments", e->nout + e->nin);
	for (unsigned i = 0; i < e->nout + e->nin; i++) {
		const struct gm_virtq_seg *s = &e->seg[i];

		CHECK(s->len && s->gpa < f->size && s->len <= f->size - s->gpa && s->hva == f->mem + s->gpa,
		      "segment %u at 0x%llx+%u", i, (unsigned long long)s->gpa, s->len);
		*(i < e->nout ? &out : &in) += s->len;
	}
	CHECK(out == e->out_bytes && in == e->in_bytes, "byte counts");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *mem;
	struct fake *f;
	struct gm_virtio *v;
	struct gm_error err = { 0 };
	uint8_t sink[64];

	if (size < 16)
		return 0;
	mem = calloc(1, GUEST_MEM);
	if (!mem)
		abort();
	memcpy(mem, data + 16, size - 16 < GUEST_MEM ? size - 16 : GUEST_MEM);
	f = fake_over(mem, GUEST_MEM);
	if (gm_virtio_new(&f->ctx, &ops, NULL, &v, &err))
		abort();

	uint16_t num = (uint16_t)(1u << (data[0] % 9));
	uint64_t features = GM_VIRTIO_F_VERSION_1 | (data[1] & 1 ? GM_VIRTIO_F_INDIRECT_DESC : 0) |
			    (data[1] & 2 ? GM_VIRTIO_F_EVENT_IDX : 0);
	CHECK(fake_negotiate(f, FAKE_BASE, features) & 8, "FEATURES_OK refused");
	fake_wr(f, FAKE_BASE, 0x38, num);
	fake_wr(f, FAKE_BASE, 0x80, gm_le32(data + 4));
	fake_wr(f, FAKE_BASE, 0x90, gm_le32(data + 8));
	fake_wr(f, FAKE_BASE, 0xa0, gm_le32(data + 12));
	fake_wr(f, FAKE_BASE, 0x44, 1);
	fake_wr(f, FAKE_BASE, 0x70, 0xf);

	struct gm_virtq *q = gm_virtio_queue(v, 0);
	bool ready = fake_rd(f, FAKE_BASE, 0x44);
	CHECK(ready || (fake_rd(f, FAKE_BASE, 0x70) & 0x40), "a refused queue must break the device");
	for (unsigned n = 0; ready && n < 4u * num + 4; n++) {
		int r = gm_virtq_pop(q, &elem);

		CHECK(r == 1 || r == 0 || r == -EINVAL, "pop returned %d", r);
		if (r == -EINVAL)
			CHECK(fake_rd(f, FAKE_BASE, 0x70) & 0x40, "a refused chain must break the device");
		if (r != 1)
			break;
		check_elem(f, &elem);
		for (size_t off = 0; off < elem.out_bytes; off += sizeof(sink))
			gm_virtq_elem_read(&elem, off, sink, sizeof(sink));
		for (size_t off = 0; off < elem.in_bytes; off += sizeof(sink))
			gm_virtq_elem_write(&elem, off, sink, sizeof(sink));
		gm_virtq_push(q, &elem, (uint32_t)elem.in_bytes);
		gm_virtq_notify(q);
	}
	CHECK(f->nlog <= 1, "%u log lines", f->nlog);
	gm_virtio_free(v);
	fake_free(f);
	free(mem);
	return 0;
}
