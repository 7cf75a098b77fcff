/*
 * vnethostile: a virtio-net driver that breaks the rules a device must
 * survive, then shows the device still works.  On user networking (the
 * gateway 10.0.2.2 answers ARP):
 *   1. a TX chain of one device-writable buffer only (no frame at all);
 *   2. a TX frame of 128 KiB, past the largest a frame may be;
 *   3. receive buffers of 20 bytes, too small for any frame, then an ARP
 *      request whose reply cannot fit;
 * each must come back used (length 0) with the device not asking for a
 * reset.  Then real buffers and the same ARP request: the reply arrives.
 * Prints "vnethostile: N ok" per step and "vnethostile ok" at the end.
 */
#include "rt.h"
#include "virtio.h"

#define NET_F_MAC (1ull << 5)
#define HDR 12
#define QSIZE 16
#define BIG (128u << 10)

static uint8_t small[4][20];
static uint8_t rxbuf[QSIZE][2048] __attribute__((aligned(4096)));
static uint8_t frame[HDR + 60];
static struct rt_virtio *dev;
static uint8_t mac[6];

static bool healthy(const char *step)
{
	if (rt_virtio_status(dev) & VIO_S_NEEDS_RESET) {
		rt_printf("vnethostile: %s: the device gave up (NEEDS_RESET)\n", step);
		return false;
	}
	return true;
}

/* Put the chain up, kick, and wait for it to come back: its used length, or -1. */
static long roundtrip(unsigned q, const struct rt_vbuf *b, unsigned n)
{
	uint16_t head;
	uint32_t len;

	if (rt_virtq_add(dev, q, b, n) < 0)
		return -1;
	rt_virtq_kick(dev, q);
	return rt_virtq_wait(dev, q, &head, &len, 10000) == 1 ? (long)len : -1;
}

/* An ARP request from 10.0.2.15 for the gateway 10.0.2.2, out through TX. */
static bool ask_gateway(void)
{
	static const uint8_t head[8] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	uint8_t *e = frame + HDR, *a = e + 14;

	memset(frame, 0, sizeof(frame));
	memset(e, 0xff, 6);
	memcpy(e + 6, mac, 6);
	e[12] = 0x08;
	e[13] = 0x06;
	memcpy(a, head, 8);
	memcpy(a + 8, mac, 6);
	memcpy(a + 14, "\x0a\x00\x02\x0f", 4);
	memcpy(a + 24, "\x0a\x00\x02\x02", 4);
	struct rt_vbuf b = { (uint64_t)frame, sizeof(frame), false };
	return roundtrip(1, &b, 1) == 0;
}

int main(void)
{
	uint16_t head;
	uint32_t len;

	dev = rt_virtio_find(1, 0);
	if (!dev || rt_virtio_init(dev, NET_F_MAC, 2, QSIZE)) {
		rt_printf("vnethostile: no virtio-net device to bring up\n");
		return RT_EXIT_FAIL;
	}
	for (unsigned i = 0; i < 6; i++)
		mac[i] = rt_virtio_cfg8(dev, i);

	/* 1: nothing to send, only room to write */
	struct rt_vbuf w = { (uint64_t)rxbuf[0], 2048, true };
	if (roundtrip(1, &w, 1) != 0 || !healthy("1"))
		return RT_EXIT_FAIL;
	rt_printf("vnethostile: 1 ok\n");

	/* 2: a frame larger than any */
	uint64_t big = rt_ram_alloc(BIG, 4096);
	if (!big)
		return RT_EXIT_FAIL;
	memset((void *)big, 0x5a, BIG);
	struct rt_vbuf bb[2] = { { big, BIG / 2, false }, { big + BIG / 2, BIG / 2, false } };
	if (roundtrip(1, bb, 2) != 0 || !healthy("2"))
		return RT_EXIT_FAIL;
	rt_printf("vnethostile: 2 ok\n");

	/* 3: receive buffers no frame fits in; the gateway's ARP reply comes back as a 0-length use */
	for (unsigned i = 0; i < 4; i++) {
		struct rt_vbuf s = { (uint64_t)small[i], sizeof(small[i]), true };
		rt_virtq_add(dev, 0, &s, 1);
	}
	rt_virtq_kick(dev, 0);
	if (!ask_gateway() || rt_virtq_wait(dev, 0, &head, &len, 10000) != 1 || len != 0 || !healthy("3")) {
		rt_printf("vnethostile: 3: no 0-length use of a buffer too small\n");
		return RT_EXIT_FAIL;
	}
	rt_printf("vnethostile: 3 ok\n");
	/* what is left of the small ones goes first: take them back, as the device uses them */
	for (unsigned i = 0; i < QSIZE; i++) {
		struct rt_vbuf r = { (uint64_t)rxbuf[i], 2048, true };
		rt_virtq_add(dev, 0, &r, 1);
	}
	rt_virtq_kick(dev, 0);

	/* the device still works: the gateway's answer arrives whole */
	for (unsigned tries = 0; tries < 20; tries++) {
		if (!ask_gateway())
			return RT_EXIT_FAIL;
		while (rt_virtq_wait(dev, 0, &head, &len, 1000) == 1) {
			if (len < HDR + 42 || len > 2048)
				continue;
			for (unsigned i = 0; i < QSIZE; i++) {
				const uint8_t *e = rxbuf[i] + HDR;
				if ((uint64_t)rxbuf[i] == dev->q[0].desc[head].addr && e[12] == 8 && e[13] == 6 &&
				    e[14 + 7] == 2 && !memcmp(e + 14 + 14, "\x0a\x00\x02\x02", 4)) {
					rt_printf("vnethostile: the gateway answered\n");
					rt_printf("vnethostile ok\n");
					return 0;
				}
			}
		}
	}
	rt_printf("vnethostile: no answer from the gateway after the hostile steps\n");
	return RT_EXIT_FAIL;
}
