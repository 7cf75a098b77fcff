/*
 * The virtio-mmio transport driven through its registers as a guest
 * driver would, over fake guest memory (tests/unit/dev/virtio_fake.c):
 * identification, feature negotiation, queue setup, interrupts, reset,
 * config space, save/load, virtio-rng end to end (virtio-console and the
 * line on a real IOAPIC: test_virtio_devices.c).  On real KVM: the test
 * guests of tests/integration/test_virtio.c.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "virtio_fake.h"
#include "util/le.h"

#define MEM   (UINT64_C(1) << 20)
#define DESC  0x1000
#define AVAIL 0x2000
#define USED  0x3000
#define BUF   0x10000
#define CANARY 0xa5

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40

static struct fake *f;
static void *dev;
static const struct gm_device_type *type;

/* A device of our own, to watch what the transport tells it. */
struct tdev {
	unsigned activated, notified, resets;
	uint64_t features;
	uint8_t config[16];
	struct gm_virtio *v;
};

static void t_config_read(void *d, uint32_t off, uint8_t *out, unsigned len)
{
	memcpy(out, ((struct tdev *)d)->config + off, len);
}

static void t_config_write(void *d, uint32_t off, const uint8_t *data, unsigned len)
{
	memcpy(((struct tdev *)d)->config + off, data, len);
}

static int t_activate(void *d, uint64_t features)
{
	((struct tdev *)d)->activated++;
	((struct tdev *)d)->features = features;
	return 0;
}

static void t_notify(void *d, unsigned q)
{
	(void)q;
	((struct tdev *)d)->notified++;
}

static void t_reset(void *d)
{
	((struct tdev *)d)->resets++;
}

static const struct gm_virtio_ops t_ops = {
	.name = "virtio-test",
	.device_id = 42,
	.features = UINT64_C(1) << 5,
	.nqueues = 2,
	.queue_max = 64,
	.config_len = 16,
	.config_read = t_config_read,
	.config_write = t_config_write,
	.activate = t_activate,
	.notify = t_notify,
	.reset = t_reset,
};

static struct tdev td;

static void setup(void)
{
	f = fake_new(MEM);
	memset(f->mem, CANARY, MEM);
	dev = NULL;
	type = NULL;
}

static void teardown(void)
{
	if (type && dev)
		type->destroy(dev);
	if (td.v)
		gm_virtio_free(td.v);
	memset(&td, 0, sizeof(td));
	fake_free(f);
}

static void make(const struct gm_device_type *t)
{
	struct gm_error err = { 0 };

	type = t;
	cr_assert_eq(t->create(&f->ctx, &dev, &err), 0, "%s", err.msg);
}

static void make_test_dev(void)
{
	struct gm_error err = { 0 };

	for (unsigned i = 0; i < 16; i++)
		td.config[i] = (uint8_t)(0x10 + i);
	cr_assert_eq(gm_virtio_new(&f->ctx, &t_ops, &td, &td.v, &err), 0, "%s", err.msg);
}

/* Every byte of guest memory outside [lo, hi) ranges still holds the canary. */
static void assert_canary_outside(const uint64_t (*keep)[2], unsigned n)
{
	for (uint64_t a = 0; a < MEM; a++) {
		bool in = false;

		for (unsigned i = 0; i < n; i++)
			in |= a >= keep[i][0] && a < keep[i][1];
		if (!in && f->mem[a] != CANARY)
			cr_assert_fail("guest memory at 0x%llx changed", (unsigned long long)a);
	}
}

TestSuite(virtio_mmio, .init = setup, .fini = teardown);

Test(virtio_mmio, identifies_itself_and_claims_a_window_and_a_line)
{
	make(&gm_dev_virtio_rng);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x000), 0x74726976);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x004), 2);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x008), GM_VIRTIO_ID_RNG);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x00c), 0x4d564d47); /* "GMVM" */
	fake_wr(f, FAKE_BASE, 0x14, 1);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x10), 1, "VERSION_1 (bit 32) offered, nothing else high");
	fake_wr(f, FAKE_BASE, 0x14, 0);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x10), (1u << 28) | (1u << 29), "INDIRECT_DESC and EVENT_IDX");
	fake_wr(f, FAKE_BASE, 0x14, 2);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x10), 0);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x34), 256, "QueueNumMax of queue 0");
	fake_wr(f, FAKE_BASE, 0x30, 1);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x34), 0, "rng has one queue");
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0xb0), 0xffffffff, "no shared memory region");
	cr_assert_str_eq(f->cmdline, "virtio_mmio.device=512@0xd0000000:16");
	/* 16-bit or misaligned register accesses read as zeros */
	uint8_t d[2] = { 1, 1 };
	gm_iobus_mmio(f->bus, FAKE_BASE, d, 2, false);
	cr_assert_eq(d[0] | d[1], 0);
}

Test(virtio_mmio, features_ok_needs_version_1_and_only_offered_bits)
{
	make_test_dev();
	cr_assert_eq(fake_negotiate(f, FAKE_BASE, UINT64_C(1) << 5) & S_FEATURES_OK, 0, "no VERSION_1: refused");
	cr_assert_eq(f->nlog, 1);
	cr_assert(strstr(f->last_log, "VERSION_1"), "%s", f->last_log);
	cr_assert_eq(fake_negotiate(f, FAKE_BASE, GM_VIRTIO_F_VERSION_1 | (UINT64_C(1) << 6)) & S_FEATURES_OK, 0,
		     "a bit not offered: refused");
	cr_assert_eq(fake_negotiate(f, FAKE_BASE, GM_VIRTIO_F_VERSION_1 | (UINT64_C(1) << 5)) & S_FEATURES_OK,
		     S_FEATURES_OK);
	fake_wr(f, FAKE_BASE, 0x70, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	cr_assert_eq(td.activated, 1);
	cr_assert_eq(td.features, GM_VIRTIO_F_VERSION_1 | (UINT64_C(1) << 5));
	cr_assert(gm_virtio_active(td.v));
	/* features are fixed after FEATURES_OK */
	fake_wr(f, FAKE_BASE, 0x24, 0);
	fake_wr(f, FAKE_BASE, 0x20, 0);
	cr_assert_eq(gm_virtio_features(td.v), GM_VIRTIO_F_VERSION_1 | (UINT64_C(1) << 5));
}

Test(virtio_mmio, driver_ok_without_features_ok_breaks_the_device)
{
	make_test_dev();
	fake_wr(f, FAKE_BASE, 0x70, S_ACK | S_DRIVER | S_DRIVER_OK);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70) & S_NEEDS_RESET, S_NEEDS_RESET);
	cr_assert_eq(td.activated, 0);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x60), 2, "a config-change interrupt");
	cr_assert(f->line);
}

Test(virtio_mmio, queue_setup_checks_size_and_rings)
{
	struct fake_q q;

	make_test_dev();
	fake_negotiate(f, FAKE_BASE, GM_VIRTIO_F_VERSION_1);
	fake_queue(f, FAKE_BASE, &q, 0, 64, DESC, AVAIL, USED);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x44), 1);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x38), 64);
	/* a live queue's registers do not change */
	fake_wr(f, FAKE_BASE, 0x38, 16);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x38), 64);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70) & S_NEEDS_RESET, 0);
	cr_assert_eq(f->nlog, 0);

	/* not a power of two */
	fake_wr(f, FAKE_BASE, 0x30, 1);
	fake_wr(f, FAKE_BASE, 0x38, 24);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70) & S_NEEDS_RESET, S_NEEDS_RESET);
	cr_assert_eq(f->nlog, 1);
	cr_assert(strstr(f->last_log, "virtio-test at 0xd0000000: queue 1: QueueNum 24"), "%s", f->last_log);

	/* after a reset: a ring outside guest memory */
	fake_negotiate(f, FAKE_BASE, GM_VIRTIO_F_VERSION_1);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70) & S_NEEDS_RESET, 0, "reset clears NEEDS_RESET");
	fake_queue(f, FAKE_BASE, &q, 1, 64, MEM - 512, AVAIL, USED);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x44), 0);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70) & S_NEEDS_RESET, S_NEEDS_RESET);
	cr_assert(strstr(f->last_log, "outside guest memory"), "%s", f->last_log);

	/* misaligned */
	fake_negotiate(f, FAKE_BASE, GM_VIRTIO_F_VERSION_1);
	fake_queue(f, FAKE_BASE, &q, 1, 64, DESC + 8, AVAIL, USED);
	cr_assert(strstr(f->last_log, "misaligned"), "%s", f->last_log);
}

Test(virtio_mmio, config_space_bounds_and_sizes)
{
	uint8_t d[8];

	make_test_dev();
	gm_iobus_mmio(f->bus, FAKE_BASE + 0x100, d, 8, false);
	cr_assert_eq(gm_le64(d), UINT64_C(0x1716151413121110));
	gm_iobus_mmio(f->bus, FAKE_BASE + 0x10e, d, 2, false);
	cr_assert_eq(gm_le16(d), 0x1f1e);
	gm_iobus_mmio(f->bus, FAKE_BASE + 0x10f, d, 1, false);
	cr_assert_eq(d[0], 0x1f);
	memset(d, 0xff, sizeof(d));
	gm_iobus_mmio(f->bus, FAKE_BASE + 0x10c, d, 8, false); /* runs past config_len */
	cr_assert_eq(gm_le64(d), 0);
	memset(d, 0xff, sizeof(d));
	gm_iobus_mmio(f->bus, FAKE_BASE + 0x101, d, 4, false); /* misaligned */
	cr_assert_eq(gm_le32(d), 0);
	gm_put_le32(d, 0xdeadbeef);
	gm_iobus_mmio(f->bus, FAKE_BASE + 0x104, d, 4, true);
	cr_assert_eq(gm_le32(td.config + 4), 0xdeadbeef);
	gm_iobus_mmio(f->bus, FAKE_BASE + 0x1fc, d, 4, true); /* beyond: dropped */
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0xfc), 0);
	gm_virtio_config_changed(td.v);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0xfc), 1);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x60), 2);
}

Test(virtio_mmio, reset_clears_queues_status_and_interrupt)
{
	struct fake_q q;

	make_test_dev();
	fake_negotiate(f, FAKE_BASE, GM_VIRTIO_F_VERSION_1);
	fake_queue(f, FAKE_BASE, &q, 0, 16, DESC, AVAIL, USED);
	fake_wr(f, FAKE_BASE, 0x70, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	fake_kick(&q);
	cr_assert_eq(td.notified, 1);
	gm_virtio_config_changed(td.v);
	cr_assert(f->line);
	unsigned resets = td.resets;
	fake_wr(f, FAKE_BASE, 0x70, 0);
	cr_assert_eq(td.resets, resets + 1);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70), 0);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x60), 0);
	cr_assert_not(f->line);
	fake_wr(f, FAKE_BASE, 0x30, 0);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x44), 0);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x38), 64, "QueueNum back to the maximum");
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x80), 0);
	cr_assert_not(gm_virtio_active(td.v));
	fake_kick(&q);
	cr_assert_eq(td.notified, 1, "no kicks before DRIVER_OK");
}

/* Negotiate, one queue of 16 at DESC/AVAIL/USED, DRIVER_OK. */
static void start_rng(struct fake_q *q, uint64_t features)
{
	make(&gm_dev_virtio_rng);
	cr_assert(fake_negotiate(f, FAKE_BASE, GM_VIRTIO_F_VERSION_1 | features) & S_FEATURES_OK);
	fake_queue(f, FAKE_BASE, q, 0, 16, DESC, AVAIL, USED);
	fake_wr(f, FAKE_BASE, 0x70, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

static bool all_canary(uint64_t a, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (f->mem[a + i] != CANARY)
			return false;
	return true;
}

Test(virtio_mmio, rng_fills_the_buffers_and_interrupts)
{
	struct fake_q q;
	uint32_t id, len;

	start_rng(&q, 0);
	fake_desc(f, DESC, 3, BUF, 64, 1 | 2, 5);
	fake_desc(f, DESC, 5, BUF + 0x100, 32, 2, 0);
	fake_avail(&q, 3);
	f->nwritten = 0;
	fake_kick(&q);
	cr_assert_eq(fake_used_idx(&q), 1);
	fake_used_elem(&q, 0, &id, &len);
	cr_assert_eq(id, 3);
	cr_assert_eq(len, 96);
	cr_assert_not(all_canary(BUF, 64));
	cr_assert_not(all_canary(BUF + 0x100, 32));
	cr_assert(all_canary(BUF + 64, 0x100 - 64), "nothing between the buffers was written");
	cr_assert(f->line);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x60), 1);
	fake_wr(f, FAKE_BASE, 0x64, 1);
	cr_assert_not(f->line, "the line drops on InterruptACK");
	/* dirty marks reach from the first buffer's... no: from the used ring to the last buffer */
	cr_assert_leq(f->written_lo, USED + 2);
	cr_assert_geq(f->written_hi, BUF + 0x100 + 32);
	const uint64_t keep[][2] = { { DESC, DESC + 16 * 16 }, { AVAIL, AVAIL + 6 + 2 * 16 },
				     { USED, USED + 6 + 8 * 16 }, { BUF, BUF + 64 }, { BUF + 0x100, BUF + 0x120 } };
	assert_canary_outside(keep, 5);
	cr_assert_eq(f->nlog, 0);
}

Test(virtio_mmio, rng_through_an_indirect_table)
{
	struct fake_q q;
	uint32_t id, len;

	start_rng(&q, GM_VIRTIO_F_INDIRECT_DESC);
	fake_desc(f, BUF + 0x800, 0, BUF, 16, 1 | 2, 1);
	fake_desc(f, BUF + 0x800, 1, BUF + 0x40, 16, 2, 0);
	fake_desc(f, DESC, 0, BUF + 0x800, 32, 4, 0);
	fake_avail(&q, 0);
	fake_kick(&q);
	cr_assert_eq(fake_used_idx(&q), 1);
	fake_used_elem(&q, 0, &id, &len);
	cr_assert_eq(id, 0);
	cr_assert_eq(len, 32);
	cr_assert_not(all_canary(BUF + 0x40, 16));
}

Test(virtio_mmio, event_idx_suppresses_interrupts_the_driver_did_not_ask_for)
{
	struct fake_q q;

	start_rng(&q, GM_VIRTIO_F_EVENT_IDX);
	for (unsigned i = 0; i < 4; i++)
		fake_desc(f, DESC, i, BUF + 0x100 * i, 8, 2, 0);
	/* used_event = 1: interrupt when the used index passes 1 (the 2nd entry) */
	gm_put_le16(f->mem + AVAIL + 4 + 2 * 16, 1);
	fake_avail(&q, 0);
	fake_kick(&q);
	cr_assert_eq(fake_used_idx(&q), 1);
	cr_assert_eq(f->raises, 1, "the first notification always goes");
	fake_wr(f, FAKE_BASE, 0x64, 1);
	fake_avail(&q, 1);
	fake_kick(&q);
	cr_assert_eq(fake_used_idx(&q), 2);
	cr_assert_eq(f->raises, 2, "used index went 1 -> 2, past used_event 1");
	fake_wr(f, FAKE_BASE, 0x64, 1);
	fake_avail(&q, 2);
	fake_kick(&q);
	cr_assert_eq(fake_used_idx(&q), 3);
	cr_assert_eq(f->raises, 2, "used_event 1 already passed: suppressed");
	/* the device asked to be kicked at the next entry it will take */
	cr_assert_eq(gm_le16(f->mem + USED + 4 + 8 * 16), 3);
}

Test(virtio_mmio, no_interrupt_flag_is_honoured_without_event_idx)
{
	struct fake_q q;

	start_rng(&q, 0);
	fake_desc(f, DESC, 0, BUF, 8, 2, 0);
	gm_put_le16(f->mem + AVAIL, 1); /* VIRTQ_AVAIL_F_NO_INTERRUPT */
	fake_avail(&q, 0);
	fake_kick(&q);
	cr_assert_eq(fake_used_idx(&q), 1);
	cr_assert_eq(f->raises, 0);
}

Test(virtio_mmio, save_then_load_into_a_new_device_continues_the_queue)
{
	struct fake_q q;
	uint8_t state[GM_DEV_STATE_MAX];
	struct gm_error err = { 0 };
	uint32_t id, len;
	size_t n;

	start_rng(&q, GM_VIRTIO_F_EVENT_IDX);
	fake_desc(f, DESC, 0, BUF, 8, 2, 0);
	fake_desc(f, DESC, 1, BUF + 0x100, 8, 2, 0);
	fake_avail(&q, 0);
	fake_kick(&q);
	cr_assert_eq(fake_used_idx(&q), 1);
	n = type->save(dev, state, sizeof(state));
	cr_assert_gt(n, 0);
	cr_assert_eq(type->save(dev, state, n - 1), 0, "too small a buffer: nothing");

	/* a new machine: fresh allocator and bus, the same guest memory */
	type->destroy(dev);
	dev = NULL;
	gm_resources_free(f->res);
	gm_iobus_free(f->bus);
	f->res = gm_resources_new();
	f->bus = gm_iobus_new();
	f->ctx.res = f->res;
	f->ctx.bus = f->bus;
	make(&gm_dev_virtio_rng);
	cr_assert_eq(type->load(dev, state, n, 1, &err), 0, "%s", err.msg);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70), S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x44), 1);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x80), DESC);
	fake_avail(&q, 1);
	fake_kick(&q);
	cr_assert_eq(fake_used_idx(&q), 2, "the queue continued where it was");
	fake_used_elem(&q, 1, &id, &len);
	cr_assert_eq(id, 1);
	cr_assert_eq(len, 8);
}

Test(virtio_mmio, load_refuses_corrupt_state_and_changes_nothing)
{
	struct fake_q q;
	uint8_t state[GM_DEV_STATE_MAX], bad[GM_DEV_STATE_MAX];
	struct gm_error err = { 0 };
	size_t n;

	start_rng(&q, 0);
	n = type->save(dev, state, sizeof(state));
	fake_wr(f, FAKE_BASE, 0x70, 0); /* reset: what a refused load must leave alone */

	memcpy(bad, state, n);
	bad[2] |= 0x20; /* a status bit no device has */
	cr_assert_neq(type->load(dev, bad, n, 1, &err), 0);
	cr_assert(strstr(err.msg, "virtio-rng state"), "%s", err.msg);
	memcpy(bad, state, n);
	gm_error_clear(&err);
	gm_put_le64(bad + 36 + 4, MEM - 16); /* the live queue's descriptors outside memory */
	cr_assert_neq(type->load(dev, bad, n, 1, &err), 0);
	cr_assert(strstr(err.msg, "outside guest memory"), "%s", err.msg);
	memcpy(bad, state, n);
	gm_put_le16(bad + 36, 3); /* size not a power of 2 */
	cr_assert_neq(type->load(dev, bad, n, 1, &err), 0);
	cr_assert_neq(type->load(dev, state, n - 1, 1, &err), 0, "truncated");
	cr_assert_neq(type->load(dev, state, n, 2, &err), 0, "unknown version");
	gm_error_clear(&err);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70), 0, "still reset");
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x44), 0);
	cr_assert_eq(type->load(dev, state, n, 1, &err), 0, "%s", err.msg);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70), S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}
