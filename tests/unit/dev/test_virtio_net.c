/*
 * virtio-net over the real transport, fake guest memory (virtio_fake.c)
 * and a fake backend defined here in place of net/netdev.c: what reaches
 * the backend from a TX chain (the header stripped or kept), what a frame
 * for the guest becomes in its buffers, the refusals of bad chains, the
 * MAC in config space (given, or made from the UUID), and the state: the
 * MAC and the guest's address survive a save and load, and the loaded
 * device announces the guest with a gratuitous ARP.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/netdev.h"
#include "util/le.h"
#include "virtio_fake.h"

#define MEM     (UINT64_C(1) << 20)
#define BUF     0x10000
#define D_NEXT  1
#define D_WRITE 2
#define S_ALL   (1 | 2 | 4 | 8)
#define F_MAC   (UINT64_C(1) << 5)
#define F_STATUS (UINT64_C(1) << 16)

/* ---- the fake backend ---- */

struct gm_netdev {
	int unused;
};
static struct gm_netdev the_nd;
static struct {
	unsigned hdr_len;
	const struct gm_netdev_rx *rx;
	uint8_t sent[4096];
	size_t sent_len;
	unsigned nsent, ninjected, rx_ready;
	uint8_t injected[128];
} fb;

int gm_netdev_open(const struct gm_net_config *cfg, struct gm_netdev **out, struct gm_error *err)
{
	(void)cfg;
	(void)err;
	*out = &the_nd;
	return 0;
}
unsigned gm_netdev_vnet_hdr_len(const struct gm_netdev *nd)
{
	(void)nd;
	return fb.hdr_len;
}
uint64_t gm_netdev_offloads(const struct gm_netdev *nd)
{
	(void)nd;
	return 0;
}
int gm_netdev_set_offloads(struct gm_netdev *nd, uint64_t features, struct gm_error *err)
{
	(void)nd;
	(void)features;
	(void)err;
	return 0;
}
int gm_netdev_start(struct gm_netdev *nd, const struct gm_netdev_rx *rx, unsigned wait_ms, struct gm_error *err)
{
	(void)nd;
	(void)wait_ms;
	(void)err;
	fb.rx = rx;
	return 0;
}
int gm_netdev_send(struct gm_netdev *nd, const struct iovec *iov, int iovcnt)
{
	(void)nd;
	fb.sent_len = 0;
	for (int i = 0; i < iovcnt; i++) {
		memcpy(fb.sent + fb.sent_len, iov[i].iov_base, iov[i].iov_len);
		fb.sent_len += iov[i].iov_len;
	}
	fb.nsent++;
	return 0;
}
void gm_netdev_rx_ready(struct gm_netdev *nd)
{
	(void)nd;
	fb.rx_ready++;
}
void gm_netdev_pause(struct gm_netdev *nd)
{
	(void)nd;
}
void gm_netdev_resume(struct gm_netdev *nd)
{
	(void)nd;
}
int gm_netdev_inject(struct gm_netdev *nd, const uint8_t *frame, size_t len)
{
	(void)nd;
	if (!fb.ninjected++)
		memcpy(fb.injected, frame, len < sizeof(fb.injected) ? len : sizeof(fb.injected));
	return 0;
}
void gm_netdev_counters(const struct gm_netdev *nd, struct gm_netdev_counters *c)
{
	(void)nd;
	memset(c, 0, sizeof(*c));
}
void gm_netdev_close(struct gm_netdev *nd)
{
	(void)nd;
}

/* ---- the device ---- */

static struct fake *f;
static void *dev;
static struct gm_config cfg;
static struct fake_q rxq, txq;

static void new_fake(const uint8_t uuid[16])
{
	f = fake_new(MEM);
	f->ctx.cfg = &cfg;
	memcpy(f->ctx.uuid, uuid, sizeof(f->ctx.uuid));
}

/* The device gone and another machine (a bus of its own) with this UUID: the next device is at FAKE_BASE again. */
static void next_machine(const uint8_t uuid[16])
{
	if (dev)
		gm_dev_virtio_net.destroy(dev);
	dev = NULL;
	fake_free(f);
	new_fake(uuid);
}

static const uint8_t uuid1[16] = { 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
				   0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11 };
static const uint8_t uuid2[16] = { 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
				   0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x10 };

static void setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.takeover_fd = -1;
	cfg.nnets = 1;
	new_fake(uuid1);
	memset(&fb, 0, sizeof(fb));
	dev = NULL;
}

static void teardown(void)
{
	if (dev)
		gm_dev_virtio_net.destroy(dev);
	fake_free(f);
}

TestSuite(virtio_net, .init = setup, .fini = teardown);

static void create(void **d)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_dev_virtio_net.create(&f->ctx, d, &err), 0, "%s", err.msg);
}

/* Create, negotiate MAC, both queues, DRIVER_OK, the backend started. */
static void start(void)
{
	struct gm_error err = { 0 };

	create(&dev);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x08), GM_VIRTIO_ID_NET);
	cr_assert(fake_negotiate(f, FAKE_BASE, GM_VIRTIO_F_VERSION_1 | F_MAC) & 8);
	fake_queue(f, FAKE_BASE, &rxq, 0, 16, 0x1000, 0x1400, 0x1800);
	fake_queue(f, FAKE_BASE, &txq, 1, 16, 0x2000, 0x2400, 0x2800);
	fake_wr(f, FAKE_BASE, 0x70, S_ALL);
	cr_assert_eq(gm_dev_virtio_net.start(dev, &err), 0, "%s", err.msg);
}

static void config_mac(uint8_t mac[6])
{
	uint32_t lo = fake_rd(f, FAKE_BASE, 0x100), hi = fake_rd(f, FAKE_BASE, 0x104);

	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)(i < 4 ? lo >> (8 * i) : hi >> (8 * (i - 4)));
}

static uint64_t stat_of(const char *key)
{
	struct gm_dev_stat st[GM_DEV_STATS_MAX];
	unsigned n = gm_dev_virtio_net.stats(dev, st, GM_DEV_STATS_MAX);

	for (unsigned i = 0; i < n; i++)
		if (!strcmp(st[i].key, key))
			return st[i].value;
	cr_assert_fail("no stat %s", key);
	return 0;
}

/* An Ethernet frame with IPv4 source 10.0.2.15 at gpa (60 bytes). */
static void ipv4_frame(uint64_t gpa)
{
	uint8_t *e = f->mem + gpa;

	memset(e, 0, 60);
	memset(e, 0xff, 6);
	memcpy(e + 6, "\x52\x54\x00\xaa\xbb\xcc", 6);
	e[12] = 8;
	e[14] = 0x45;
	memcpy(e + 14 + 12, "\x0a\x00\x02\x0f", 4);
}

Test(virtio_net, config_offers_the_given_mac_and_link_up)
{
	uint8_t mac[6];

	cfg.nets[0].mac_given = true;
	memcpy(cfg.nets[0].mac, "\x02\x01\x02\x03\x04\x05", 6);
	create(&dev);
	fake_wr(f, FAKE_BASE, 0x14, 0);
	uint32_t feat = fake_rd(f, FAKE_BASE, 0x10);
	cr_assert_eq(feat & (F_MAC | F_STATUS), F_MAC | F_STATUS);
	config_mac(mac);
	cr_assert_arr_eq(mac, "\x02\x01\x02\x03\x04\x05", 6);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x104) >> 16, 1, "link up");
	uint8_t pairs[2];
	gm_iobus_mmio(f->bus, FAKE_BASE + 0x108, pairs, 2, false);
	cr_assert_eq(gm_le16(pairs), 1, "one queue pair");
}

Test(virtio_net, a_default_mac_comes_from_the_uuid_and_the_index)
{
	uint8_t a[6], b[6], c[6];

	create(&dev);
	config_mac(a);
	next_machine(uuid1);
	create(&dev);
	config_mac(b);
	next_machine(uuid2);
	create(&dev);
	config_mac(c);
	cr_assert_arr_eq(a, "\x52\x54\x00", 3);
	cr_assert_arr_eq(a, b, 6, "the same UUID made two MACs");
	cr_assert_arr_neq(a, c, 6, "another UUID made the same MAC");
}

Test(virtio_net, tx_strips_the_header_for_a_bare_backend)
{
	uint32_t id, len;

	start();
	memset(f->mem + BUF, 0x77, 12);
	ipv4_frame(BUF + 0x100);
	fake_desc(f, 0x2000, 0, BUF, 12, D_NEXT, 1);
	fake_desc(f, 0x2000, 1, BUF + 0x100, 60, 0, 0);
	fake_avail(&txq, 0);
	fake_kick(&txq);
	cr_assert_eq(fb.nsent, 1);
	cr_assert_eq(fb.sent_len, 60);
	cr_assert_arr_eq(fb.sent, f->mem + BUF + 0x100, 60);
	cr_assert_eq(fake_used_idx(&txq), 1);
	fake_used_elem(&txq, 0, &id, &len);
	cr_assert_eq(id, 0);
	cr_assert_eq(len, 0);
	cr_assert_eq(stat_of("tx_packets"), 1);
	cr_assert_eq(stat_of("tx_bytes"), 60);
}

Test(virtio_net, tx_keeps_the_header_for_a_tap)
{
	fb.hdr_len = 12;
	start();
	memset(f->mem + BUF, 0x01, 12);
	ipv4_frame(BUF + 12);
	fake_desc(f, 0x2000, 0, BUF, 72, 0, 0);
	fake_avail(&txq, 0);
	fake_kick(&txq);
	cr_assert_eq(fb.sent_len, 72);
	cr_assert_arr_eq(fb.sent, f->mem + BUF, 72);
}

Test(virtio_net, bad_tx_chains_come_back_unsent_and_counted)
{
	uint32_t id, len;

	start();
	/* only room to write */
	fake_desc(f, 0x2000, 0, BUF, 2048, D_WRITE, 0);
	fake_avail(&txq, 0);
	/* a header and no frame */
	fake_desc(f, 0x2000, 1, BUF, 20, 0, 0);
	fake_avail(&txq, 1);
	/* larger than any frame: two 40 KiB buffers */
	fake_desc(f, 0x2000, 2, BUF, 40 << 10, D_NEXT, 3);
	fake_desc(f, 0x2000, 3, BUF + (40 << 10), 40 << 10, 0, 0);
	fake_avail(&txq, 2);
	fake_kick(&txq);
	cr_assert_eq(fb.nsent, 0);
	cr_assert_eq(fake_used_idx(&txq), 3);
	for (unsigned i = 0; i < 3; i++) {
		fake_used_elem(&txq, i, &id, &len);
		cr_assert_eq(len, 0);
	}
	cr_assert_eq(stat_of("tx_refused"), 3);
	cr_assert_eq(f->nlog, 1, "logged once, not per chain");
	cr_assert(strstr(f->last_log, "refused"), "%s", f->last_log);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70) & 0x40, 0, "the device carries on");
}

/* A frame of n bytes (pattern) handed to the device as the backend would. */
static bool deliver(size_t n)
{
	static uint8_t frame[2048];

	for (size_t i = 0; i < n; i++)
		frame[i] = (uint8_t)(i * 3 + 1);
	struct iovec iov[2] = { { frame, 20 }, { frame + 20, n - 20 } };
	return fb.rx->receive(fb.rx->opaque, iov, 2, n);
}

Test(virtio_net, rx_puts_a_zero_header_and_the_frame_in_the_buffer)
{
	uint32_t id, len;

	start();
	cr_assert_not(deliver(100), "no buffer yet: the backend must keep the frame");
	unsigned ready = fb.rx_ready;
	memset(f->mem + BUF, 0xee, 2048);
	fake_desc(f, 0x1000, 0, BUF, 2048, D_WRITE, 0);
	fake_avail(&rxq, 0);
	fake_kick(&rxq);
	cr_assert_gt(fb.rx_ready, ready, "a kick of the rx queue tells the backend");
	cr_assert(deliver(100));
	cr_assert_eq(fake_used_idx(&rxq), 1);
	fake_used_elem(&rxq, 0, &id, &len);
	cr_assert_eq(len, 112);
	uint8_t hdr[12] = { 0 };
	gm_put_le16(hdr + 10, 1);
	cr_assert_arr_eq(f->mem + BUF, hdr, 12, "a zero header with num_buffers 1");
	for (size_t i = 0; i < 100; i++)
		cr_assert_eq(f->mem[BUF + 12 + i], (uint8_t)(i * 3 + 1));
	cr_assert_eq(stat_of("rx_packets"), 1);
}

Test(virtio_net, a_receive_buffer_too_small_comes_back_empty)
{
	uint32_t id, len;

	start();
	fake_desc(f, 0x1000, 0, BUF, 64, D_WRITE, 0);
	fake_avail(&rxq, 0);
	fake_kick(&rxq);
	cr_assert(deliver(100), "the frame is dropped, not kept");
	fake_used_elem(&rxq, 0, &id, &len);
	cr_assert_eq(len, 0);
	cr_assert_eq(stat_of("rx_drops"), 1);
	cr_assert_eq(stat_of("rx_packets"), 0);
}

Test(virtio_net, the_state_keeps_the_mac_and_announces_the_guest)
{
	uint8_t state[GM_DEV_STATE_MAX], mac[6], mac2[6];
	struct gm_error err = { 0 };

	start();
	config_mac(mac);
	/* the guest's address, from a frame it sends */
	ipv4_frame(BUF + 12);
	fake_desc(f, 0x2000, 0, BUF, 72, 0, 0);
	fake_avail(&txq, 0);
	fake_kick(&txq);
	size_t n = gm_dev_virtio_net.save(dev, state, sizeof(state));
	cr_assert_gt(n, 12);

	/* another machine (another UUID) with the guest's memory: the guest keeps its MAC */
	uint8_t *mem = malloc(MEM);
	memcpy(mem, f->mem, MEM);
	next_machine(uuid2);
	memcpy(f->mem, mem, MEM);
	free(mem);
	create(&dev);
	cr_assert_lt(gm_dev_virtio_net.load(dev, state, n - 1, 1, &err), 0, "a cut state was taken");
	cr_assert_lt(gm_dev_virtio_net.load(dev, state, n, 2, &err), 0, "another version was taken");
	cr_assert_eq(gm_dev_virtio_net.load(dev, state, n, 1, &err), 0, "%s", err.msg);
	config_mac(mac2);
	cr_assert_arr_eq(mac, mac2, 6);
	cr_assert_eq(gm_dev_virtio_net.start(dev, &err), 0, "%s", err.msg);
	for (int i = 0; i < 100 && fb.ninjected < 3; i++)
		usleep(10000);
	cr_assert_eq(fb.ninjected, 3, "three announcements");
	const uint8_t *a = fb.injected;
	cr_assert_arr_eq(a, "\xff\xff\xff\xff\xff\xff", 6);
	cr_assert_arr_eq(a + 6, mac, 6);
	cr_assert(a[12] == 8 && a[13] == 6 && a[21] == 1, "an ARP request");
	cr_assert_arr_eq(a + 22, mac, 6);
	cr_assert_arr_eq(a + 28, "\x0a\x00\x02\x0f", 4);
	cr_assert_arr_eq(a + 38, "\x0a\x00\x02\x0f", 4, "gratuitous: target = sender");
}

Test(virtio_net, rx_from_a_tap_keeps_its_header_with_num_buffers_1)
{
	uint32_t id, len;

	fb.hdr_len = 12;
	start();
	fake_desc(f, 0x1000, 0, BUF, 2048, D_WRITE, 0);
	fake_avail(&rxq, 0);
	fake_kick(&rxq);
	cr_assert(deliver(100));
	fake_used_elem(&rxq, 0, &id, &len);
	cr_assert_eq(len, 100, "the tap's header is part of its frame");
	for (size_t i = 0; i < 10; i++)
		cr_assert_eq(f->mem[BUF + i], (uint8_t)(i * 3 + 1), "header byte %zu changed", i);
	cr_assert_eq(gm_le16(f->mem + BUF + 10), 1, "num_buffers");
	cr_assert_eq(f->mem[BUF + 12], (uint8_t)(12 * 3 + 1));
}
