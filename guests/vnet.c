/*
 * vnet: a UDP echo host on the first virtio-net device (features VERSION_1
 * and MAC only, so no offloads: every frame carries a zero 12-byte
 * virtio_net_hdr_v1).  Params vnet.ip (10.0.2.15) and vnet.port (7).
 * Prints "vnet: up mac M ip A port P", answers ARP requests for its IP,
 * sends every UDP datagram to its port back to where it came from (payload
 * unchanged) and ignores everything else.  A datagram of exactly "quit"
 * gets "bye N" (N: datagrams echoed), then "vnet: N echoed, M arp
 * answered" and the exit.  It checks what it receives (IPv4 header
 * checksums, UDP lengths) and says how many were bad at the end.  Polls
 * only, modern virtio-mmio only: it runs under QEMU's microvm as well.
 */
#include "rt.h"
#include "virtio.h"

#define NET_F_MAC (1ull << 5)
#define HDR 12
#define QSIZE 64
#define BUF 2048

static uint8_t rxbuf[QSIZE][BUF] __attribute__((aligned(4096)));
static uint8_t txbuf[BUF] __attribute__((aligned(64)));
static int buf_of_head[QSIZE];

static struct rt_virtio *dev;
static uint8_t mac[6];
static uint8_t myip[4];
static uint16_t myport;
static unsigned echoed, arp_answered, bad_csum, bad_udp, tx_lost;

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The Internet checksum (RFC 1071) of n bytes. */
static uint16_t csum(const uint8_t *p, unsigned n)
{
	uint32_t s = 0;

	for (unsigned i = 0; i + 1 < n; i += 2)
		s += be16(p + i);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void post_rx(unsigned i)
{
	struct rt_vbuf b = { (uint64_t)rxbuf[i], BUF, true };
	int head = rt_virtq_add(dev, 0, &b, 1);

	if (head >= 0)
		buf_of_head[head] = (int)i;
}

/* Send txbuf's frame of len bytes (after the header) and wait until the device took it. */
static void send_frame(unsigned len)
{
	struct rt_vbuf b = { (uint64_t)txbuf, HDR + len, false };
	uint16_t head;
	uint32_t ulen;

	memset(txbuf, 0, HDR);
	if (rt_virtq_add(dev, 1, &b, 1) < 0) {
		tx_lost++;
		return;
	}
	rt_virtq_kick(dev, 1);
	if (rt_virtq_wait(dev, 1, &head, &ulen, 5000) != 1)
		tx_lost++;
}

static void answer_arp(const uint8_t *f, unsigned len)
{
	const uint8_t *a = f + 14;
	uint8_t *o = txbuf + HDR, *r = o + 14;

	if (len < 14 + 28 || be16(a) != 1 || be16(a + 2) != 0x0800 || a[4] != 6 || a[5] != 4 || be16(a + 6) != 1 ||
	    memcmp(a + 24, myip, 4))
		return;
	memcpy(o, f + 6, 6);
	memcpy(o + 6, mac, 6);
	put_be16(o + 12, 0x0806);
	memcpy(r, a, 6);
	put_be16(r + 6, 2);
	memcpy(r + 8, mac, 6);
	memcpy(r + 14, myip, 4);
	memcpy(r + 18, a + 8, 6);
	memcpy(r + 24, a + 14, 4);
	memset(r + 28, 0, 60 - 14 - 28);
	send_frame(60);
	arp_answered++;
}

/* A UDP reply to the datagram in f (its IPv4 header ihl bytes): payload n bytes of p. */
static void reply_udp(const uint8_t *f, unsigned ihl, const uint8_t *p, unsigned n)
{
	const uint8_t *ip = f + 14, *udp = ip + ihl;
	uint8_t *o = txbuf + HDR, *oip = o + 14, *oudp = oip + 20;

	memcpy(o, f + 6, 6);
	memcpy(o + 6, mac, 6);
	put_be16(o + 12, 0x0800);
	memset(oip, 0, 20);
	oip[0] = 0x45;
	put_be16(oip + 2, (uint16_t)(20 + 8 + n));
	put_be16(oip + 4, (uint16_t)echoed);
	oip[8] = 64;
	oip[9] = 17;
	memcpy(oip + 12, myip, 4);
	memcpy(oip + 16, ip + 12, 4);
	put_be16(oip + 10, csum(oip, 20));
	put_be16(oudp, myport);
	memcpy(oudp + 2, udp, 2);
	put_be16(oudp + 4, (uint16_t)(8 + n));
	put_be16(oudp + 6, 0); /* no UDP checksum: allowed over IPv4 */
	memmove(oudp + 8, p, n);
	unsigned len = 14 + 20 + 8 + n;
	if (len < 60) {
		memset(o + len, 0, 60 - len);
		len = 60;
	}
	send_frame(len);
}

/* 1 when the guest should end (it got "quit"). */
static int handle_ipv4(const uint8_t *f, unsigned len)
{
	const uint8_t *ip = f + 14;
	unsigned ihl, total, ulen;

	if (len < 14 + 20 || ip[0] >> 4 != 4)
		return 0;
	ihl = (ip[0] & 15) * 4u;
	total = be16(ip + 2);
	if (ihl < 20 || total < ihl || total > len - 14) {
		bad_csum++;
		return 0;
	}
	if (csum(ip, ihl)) {
		bad_csum++;
		return 0;
	}
	if (memcmp(ip + 16, myip, 4) || ip[9] != 17 || (be16(ip + 6) & 0x3fff))
		return 0; /* not ours, not UDP, or a fragment */
	const uint8_t *udp = ip + ihl;
	if (total - ihl < 8 || (ulen = be16(udp + 4)) < 8 || ulen > total - ihl) {
		bad_udp++;
		return 0;
	}
	if (be16(udp + 2) != myport)
		return 0;
	const uint8_t *p = udp + 8;
	unsigned n = ulen - 8;
	if (n == 4 && !memcmp(p, "quit", 4)) {
		char bye[32];
		int bl = rt_snprintf(bye, sizeof(bye), "bye %u", echoed);
		reply_udp(f, ihl, (const uint8_t *)bye, (unsigned)bl);
		return 1;
	}
	if (n > BUF - HDR - 14 - 20 - 8)
		return 0;
	reply_udp(f, ihl, p, n);
	echoed++;
	return 0;
}

static int handle(const uint8_t *f, unsigned len)
{
	if (len < 14)
		return 0;
	if (memcmp(f, mac, 6) && memcmp(f, "\xff\xff\xff\xff\xff\xff", 6))
		return 0;
	switch (be16(f + 12)) {
	case 0x0806:
		answer_arp(f, len);
		return 0;
	case 0x0800:
		return handle_ipv4(f, len);
	}
	return 0;
}

/* "a.b.c.d" into out; false when it is not one. */
static bool parse_ip(const char *s, uint8_t out[4])
{
	for (int i = 0; i < 4; i++) {
		unsigned v = 0, digits = 0;
		while (*s >= '0' && *s <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(*s++ - '0');
			digits++;
		}
		if (!digits || v > 255 || (i < 3 ? *s++ != '.' : *s != '\0'))
			return false;
		out[i] = (uint8_t)v;
	}
	return true;
}

int main(void)
{
	const char *ipp = rt_param("vnet.ip") ? rt_param("vnet.ip") : "10.0.2.15";
	uint64_t port = rt_param_u64("vnet.port", 7);

	dev = rt_virtio_find(1, 0);
	if (!dev || !parse_ip(ipp, myip) || !port || port > 65535) {
		rt_printf("vnet: no virtio-net device, or vnet.ip/vnet.port not an IPv4 address and a port\n");
		return RT_EXIT_FAIL;
	}
	myport = (uint16_t)port;
	if (rt_virtio_init(dev, NET_F_MAC, 2, QSIZE))
		return RT_EXIT_FAIL;
	if (!(dev->features & NET_F_MAC)) {
		rt_printf("vnet: the device offers no MAC\n");
		return RT_EXIT_FAIL;
	}
	for (unsigned i = 0; i < 6; i++)
		mac[i] = rt_virtio_cfg8(dev, i);
	for (unsigned i = 0; i < QSIZE; i++)
		post_rx(i);
	rt_virtq_kick(dev, 0);
	rt_printf("vnet: up mac %02x:%02x:%02x:%02x:%02x:%02x ip %u.%u.%u.%u port %u\n", mac[0], mac[1], mac[2],
		  mac[3], mac[4], mac[5], myip[0], myip[1], myip[2], myip[3], myport);
	for (;;) {
		uint16_t head;
		uint32_t len;
		int quit = 0;

		if (rt_virtio_status(dev) & VIO_S_NEEDS_RESET) {
			rt_printf("vnet: the device needs a reset\n");
			return RT_EXIT_FAIL;
		}
		if (!rt_virtq_get(dev, 0, &head, &len)) {
			__builtin_ia32_pause();
			continue;
		}
		if (head >= QSIZE || buf_of_head[head] < 0) {
			rt_printf("vnet: the device gave back a receive buffer it never had (%u)\n", head);
			return RT_EXIT_FAIL;
		}
		unsigned i = (unsigned)buf_of_head[head];
		buf_of_head[head] = -1;
		if (len >= HDR && len <= BUF)
			quit = handle(rxbuf[i] + HDR, len - HDR);
		post_rx(i);
		rt_virtq_kick(dev, 0);
		if (quit)
			break;
	}
	rt_printf("vnet: %u echoed, %u arp answered\n", echoed, arp_answered);
	rt_printf("vnet: %u bad ip headers, %u bad udp lengths, %u frames not sent\n", bad_csum, bad_udp, tx_lost);
	return 0;
}
