/*
 * Split virtqueues against a hostile driver: each bad chain must mark the
 * device broken (DEVICE_NEEDS_RESET, a config interrupt), log exactly one
 * line naming why, hand nothing to the device, and leave guest memory (and
 * everything around it: guard pages) untouched.  Plus the good cases a
 * device relies on: out/in split, elem_read/elem_write, push's used ring.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "virtio_fake.h"
#include "util/le.h"

#define MEM   (UINT64_C(1) << 20)
#define DESC  0x1000
#define AVAIL 0x2000
#define USED  0x3000
#define BUF   0x10000
#define NUM   8
#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

static struct fake *f;
static struct gm_virtio *v;
static struct gm_virtq *vq;
static struct fake_q q;
static struct gm_virtq_elem e;
static uint8_t snapshot[MEM];

static void nop_notify(void *d, unsigned i)
{
	(void)d;
	(void)i;
}

static const struct gm_virtio_ops ops = {
	.name = "virtio-hostile",
	.device_id = 99,
	.nqueues = 1,
	.queue_max = NUM,
	.notify = nop_notify,
};

static void start(uint64_t features)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_virtio_new(&f->ctx, &ops, NULL, &v, &err), 0, "%s", err.msg);
	cr_assert(fake_negotiate(f, FAKE_BASE, GM_VIRTIO_F_VERSION_1 | features) & 8);
	fake_queue(f, FAKE_BASE, &q, 0, NUM, DESC, AVAIL, USED);
	fake_wr(f, FAKE_BASE, 0x70, 0xf);
	vq = gm_virtio_queue(v, 0);
	cr_assert_not_null(vq);
}

static void setup(void)
{
	f = fake_new(MEM);
	memset(f->mem, 0x5a, MEM);
	v = NULL;
	start(GM_VIRTIO_F_INDIRECT_DESC);
}

static void teardown(void)
{
	gm_virtio_free(v);
	fake_free(f);
}

TestSuite(virtq, .init = setup, .fini = teardown);

/* Publish head, pop: the chain must be refused with a line containing what. */
static void assert_refused(uint16_t head, const char *what)
{
	fake_avail(&q, head);
	memcpy(snapshot, f->mem, MEM);
	f->nlog = 0;
	cr_assert_eq(gm_virtq_pop(vq, &e), -EINVAL);
	cr_assert_eq(memcmp(snapshot, f->mem, MEM), 0, "guest memory untouched");
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70) & 0x40, 0x40, "DEVICE_NEEDS_RESET");
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x60) & 2, 2, "a config-change interrupt");
	cr_assert(f->line);
	cr_assert_eq(f->nlog, 1, "one line");
	cr_assert(strstr(f->last_log, what), "'%s' in: %s", what, f->last_log);
	cr_assert(strstr(f->last_log, "virtio-hostile at 0xd0000000"), "%s", f->last_log);
	/* broken: nothing more comes out, no more lines, pushes and kicks ignored */
	fake_avail(&q, 0);
	cr_assert_eq(gm_virtq_pop(vq, &e), 0);
	fake_kick(&q);
	cr_assert_eq(f->nlog, 1);
	cr_assert_not(gm_virtio_active(v));
}

Test(virtq, a_good_chain_splits_into_out_and_in)
{
	uint8_t buf[32];
	uint32_t id, len;

	memcpy(f->mem + BUF, "request!", 8);
	fake_desc(f, DESC, 2, BUF, 8, F_NEXT, 4);
	fake_desc(f, DESC, 4, BUF + 0x100, 16, F_NEXT | F_WRITE, 6);
	fake_desc(f, DESC, 6, BUF + 0x200, 16, F_WRITE, 0);
	fake_avail(&q, 2);
	cr_assert_eq(gm_virtq_pop(vq, &e), 1);
	cr_assert_eq(e.head, 2);
	cr_assert_eq(e.nout, 1);
	cr_assert_eq(e.nin, 2);
	cr_assert_eq(e.out_bytes, 8);
	cr_assert_eq(e.in_bytes, 32);
	cr_assert_eq(gm_virtq_elem_read(&e, 0, buf, sizeof(buf)), 8);
	cr_assert_eq(memcmp(buf, "request!", 8), 0);
	cr_assert_eq(gm_virtq_elem_write(&e, 10, "0123456789abcdefXYZ", 19), 19, "crosses into the 2nd buffer");
	cr_assert_eq(memcmp(f->mem + BUF + 0x100 + 10, "012345", 6), 0);
	cr_assert_eq(memcmp(f->mem + BUF + 0x200, "6789abcdefXYZ", 13), 0);
	cr_assert_eq(gm_virtq_elem_write(&e, 30, "toolong", 7), 2, "short at the end");
	cr_assert_eq(gm_virtq_pop(vq, &e), 0, "empty now");
	gm_virtq_push(vq, &e, 1000);
	fake_used_elem(&q, 0, &id, &len);
	cr_assert_eq(id, 2);
	cr_assert_eq(len, 32, "a device's written length is capped at the chain's writable bytes");
	cr_assert_eq(fake_used_idx(&q), 1);
	cr_assert_eq(f->nlog, 0);
}

Test(virtq, zero_length_buffers_are_skipped)
{
	fake_desc(f, DESC, 0, 0xdead0000000, 0, F_NEXT, 1);
	fake_desc(f, DESC, 1, BUF, 4, F_WRITE, 0);
	fake_avail(&q, 0);
	cr_assert_eq(gm_virtq_pop(vq, &e), 1);
	cr_assert_eq(e.nout + e.nin, 1);
}

Test(virtq, buffer_outside_guest_memory)
{
	fake_desc(f, DESC, 0, MEM - 8, 16, F_WRITE, 0);
	assert_refused(0, "outside guest memory");
}

Test(virtq, buffer_address_plus_length_overflows)
{
	fake_desc(f, DESC, 0, UINT64_MAX - 4, 16, 0, 0);
	assert_refused(0, "outside guest memory");
}

Test(virtq, a_loop)
{
	fake_desc(f, DESC, 0, BUF, 8, F_NEXT, 1);
	fake_desc(f, DESC, 1, BUF, 8, F_NEXT, 0);
	assert_refused(0, "loops or is longer");
}

Test(virtq, a_self_loop)
{
	fake_desc(f, DESC, 3, BUF, 8, F_NEXT, 3);
	assert_refused(3, "loops or is longer");
}

Test(virtq, next_beyond_the_table)
{
	fake_desc(f, DESC, 0, BUF, 8, F_NEXT, NUM);
	assert_refused(0, "beyond its table");
}

Test(virtq, head_beyond_the_queue)
{
	assert_refused(NUM, "head");
}

Test(virtq, readable_after_writable)
{
	fake_desc(f, DESC, 0, BUF, 8, F_WRITE | F_NEXT, 1);
	fake_desc(f, DESC, 1, BUF + 0x100, 8, 0, 0);
	assert_refused(0, "readable buffer follows a writable");
}

Test(virtq, avail_index_jumps_past_the_queue)
{
	memcpy(snapshot, f->mem, MEM);
	gm_put_le16(f->mem + AVAIL + 2, NUM + 1);
	f->nlog = 0;
	cr_assert_eq(gm_virtq_pop(vq, &e), -EINVAL);
	cr_assert_eq(f->nlog, 1);
	cr_assert(strstr(f->last_log, "jumped from 0 to 9"), "%s", f->last_log);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70) & 0x40, 0x40);
}

Test(virtq, indirect_table_misaligned_length)
{
	fake_desc(f, DESC, 0, BUF + 0x800, 24, F_INDIRECT, 0);
	assert_refused(0, "multiple of 16");
}

Test(virtq, indirect_table_too_big)
{
	fake_desc(f, DESC, 0, BUF, 16 * (GM_VIRTQ_MAX_SEGS + 1), F_INDIRECT, 0);
	assert_refused(0, "multiple of 16");
}

Test(virtq, indirect_table_outside_guest_memory)
{
	fake_desc(f, DESC, 0, MEM - 16, 32, F_INDIRECT, 0);
	assert_refused(0, "indirect table outside guest memory");
}

Test(virtq, nested_indirect_tables)
{
	fake_desc(f, BUF + 0x800, 0, BUF + 0xc00, 16, F_INDIRECT, 0);
	fake_desc(f, BUF + 0xc00, 0, BUF, 16, F_WRITE, 0);
	fake_desc(f, DESC, 0, BUF + 0x800, 16, F_INDIRECT, 0);
	assert_refused(0, "inside an indirect table");
}

Test(virtq, indirect_with_next)
{
	fake_desc(f, BUF + 0x800, 0, BUF, 16, F_WRITE, 0);
	fake_desc(f, DESC, 0, BUF + 0x800, 16, F_INDIRECT | F_NEXT, 1);
	assert_refused(0, "indirect descriptor with NEXT");
}

Test(virtq, indirect_after_a_direct_buffer)
{
	fake_desc(f, BUF + 0x800, 0, BUF, 16, F_WRITE, 0);
	fake_desc(f, DESC, 0, BUF + 0x100, 8, F_NEXT, 1);
	fake_desc(f, DESC, 1, BUF + 0x800, 16, F_INDIRECT, 0);
	assert_refused(0, "not the chain's head");
}

Test(virtq, a_loop_inside_an_indirect_table)
{
	fake_desc(f, BUF + 0x800, 0, BUF, 8, F_NEXT, 1);
	fake_desc(f, BUF + 0x800, 1, BUF, 8, F_NEXT, 0);
	fake_desc(f, DESC, 0, BUF + 0x800, 32, F_INDIRECT, 0);
	assert_refused(0, "loops or is longer");
}

Test(virtq, next_beyond_an_indirect_table)
{
	fake_desc(f, BUF + 0x800, 0, BUF, 8, F_NEXT, 2);
	fake_desc(f, DESC, 0, BUF + 0x800, 32, F_INDIRECT, 0);
	assert_refused(0, "beyond its table (2)");
}

Test(virtq, a_long_indirect_chain_is_fine)
{
	/* 64 buffers in a table: more than the queue's 8 entries, as indirect allows */
	for (unsigned i = 0; i < 64; i++)
		fake_desc(f, BUF + 0x1000, i, BUF + 8 * i, 8, (i < 63 ? F_NEXT : 0) | F_WRITE, (uint16_t)(i + 1));
	fake_desc(f, DESC, 0, BUF + 0x1000, 64 * 16, F_INDIRECT, 0);
	fake_avail(&q, 0);
	cr_assert_eq(gm_virtq_pop(vq, &e), 1);
	cr_assert_eq(e.nin, 64);
	cr_assert_eq(e.in_bytes, 512);
}

Test(virtq, indirect_without_the_feature)
{
	gm_virtio_free(v);
	gm_resources_free(f->res);
	gm_iobus_free(f->bus);
	f->ctx.res = f->res = gm_resources_new();
	f->ctx.bus = f->bus = gm_iobus_new();
	f->cmdline[0] = '\0';
	start(0);
	fake_desc(f, BUF + 0x800, 0, BUF, 16, F_WRITE, 0);
	fake_desc(f, DESC, 0, BUF + 0x800, 16, F_INDIRECT, 0);
	assert_refused(0, "without VIRTIO_F_INDIRECT_DESC");
}

Test(virtq, a_reset_mends_a_broken_device)
{
	fake_desc(f, DESC, 0, BUF, 8, F_WRITE | F_NEXT, 1);
	fake_desc(f, DESC, 1, BUF, 8, 0, 0);
	assert_refused(0, "readable");
	fake_negotiate(f, FAKE_BASE, GM_VIRTIO_F_VERSION_1);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70) & 0x40, 0);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x60), 0);
	cr_assert_not(f->line);
	fake_queue(f, FAKE_BASE, &q, 0, NUM, DESC, AVAIL, USED);
	fake_wr(f, FAKE_BASE, 0x70, 0xf);
	fake_desc(f, DESC, 0, BUF, 8, F_WRITE, 0);
	fake_avail(&q, 0);
	cr_assert_eq(gm_virtq_pop(vq, &e), 1);
}
