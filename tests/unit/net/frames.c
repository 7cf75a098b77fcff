/* tests/unit/net/frames: see frames.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "frames.h"

const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return htonl(a << 24 | b << 16 | c << 8 | d);
}

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static size_t eth(uint8_t *buf, const uint8_t *dmac, const uint8_t *smac, uint16_t type)
{
	memcpy(buf, dmac, 6);
	memcpy(buf + 6, smac, 6);
	put16(buf + 12, type);
	return ETH_HLEN_;
}

size_t build_arp(uint8_t *buf, uint16_t op, const uint8_t *smac, uint32_t sip, const uint8_t *tmac, uint32_t tip)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, zero[6];
	uint8_t *a = buf + eth(buf, op == 1 ? bcast : tmac, smac, 0x0806);

	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, smac, 6);
	memcpy(a + 14, &sip, 4);
	memcpy(a + 18, op == 1 ? zero : tmac, 6);
	memcpy(a + 24, &tip, 4);
	memset(a + 28, 0, 18); /* pad to the 60-byte minimum */
	return ETH_HLEN_ + 46;
}

static void ip_hdr(uint8_t *ip, uint8_t proto, uint32_t sip, uint32_t dip, size_t plen)
{
	memset(ip, 0, IP_HLEN_);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(IP_HLEN_ + plen));
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, &sip, 4);
	memcpy(ip + 16, &dip, 4);
	memcpy(ip + 10, &(uint16_t){ csum(ip, IP_HLEN_) }, 2);
}

size_t build_icmp_echo(uint8_t *buf, const uint8_t *smac, const uint8_t *dmac, uint32_t sip, uint32_t dip, uint16_t id)
{
	uint8_t *ip = buf + eth(buf, dmac, smac, 0x0800), *icmp = ip + IP_HLEN_;

	memset(icmp, 0, 16);
	icmp[0] = 8;
	put16(icmp + 4, id);
	put16(icmp + 6, 1);
	memcpy(icmp + 8, "gmvmping", 8);
	memcpy(icmp + 2, &(uint16_t){ csum(icmp, 16) }, 2);
	ip_hdr(ip, 1, sip, dip, 16);
	return ETH_HLEN_ + IP_HLEN_ + 16;
}

size_t build_udp(uint8_t *buf, const uint8_t *smac, const uint8_t *dmac, uint32_t sip, uint32_t dip,
		 uint16_t sport, uint16_t dport, const void *payload, size_t plen)
{
	uint8_t *ip = buf + eth(buf, dmac, smac, 0x0800), *udp = ip + IP_HLEN_;

	put16(udp, sport);
	put16(udp + 2, dport);
	put16(udp + 4, (uint16_t)(UDP_HLEN_ + plen));
	put16(udp + 6, 0); /* no checksum: allowed over IPv4 */
	memcpy(udp + UDP_HLEN_, payload, plen);
	ip_hdr(ip, 17, sip, dip, UDP_HLEN_ + plen);
	return ETH_HLEN_ + IP_HLEN_ + UDP_HLEN_ + plen;
}

size_t build_udp_echo(uint8_t *out, const uint8_t *in, size_t len)
{
	const uint8_t *ip = in + ETH_HLEN_, *udp = ip + IP_HLEN_;
	uint32_t sip, dip;
	uint16_t plen = (uint16_t)(udp[4] << 8 | udp[5]) - UDP_HLEN_;

	(void)len;
	memcpy(&sip, ip + 12, 4);
	memcpy(&dip, ip + 16, 4);
	return build_udp(out, in, in + 6, dip, sip, (uint16_t)(udp[2] << 8 | udp[3]), (uint16_t)(udp[0] << 8 | udp[1]),
			 udp + UDP_HLEN_, plen);
}

uint16_t eth_type(const uint8_t *f)
{
	return (uint16_t)(f[12] << 8 | f[13]);
}

uint16_t arp_op(const uint8_t *f)
{
	return (uint16_t)(f[ETH_HLEN_ + 6] << 8 | f[ETH_HLEN_ + 7]);
}

uint32_t arp_sip(const uint8_t *f)
{
	uint32_t v;

	memcpy(&v, f + ETH_HLEN_ + 14, 4);
	return v;
}

uint32_t arp_tip(const uint8_t *f)
{
	uint32_t v;

	memcpy(&v, f + ETH_HLEN_ + 24, 4);
	return v;
}

uint8_t ip_proto(const uint8_t *f)
{
	return f[ETH_HLEN_ + 9];
}

static bool fake_receive(void *opaque, const struct iovec *iov, int iovcnt, size_t len)
{
	struct fake_rx *f = opaque;
	size_t off = 0;

	pthread_mutex_lock(&f->mu);
	if (f->paused)
		f->while_paused++;
	if (!f->room) {
		f->refused++;
		pthread_mutex_unlock(&f->mu);
		return false;
	}
	if (f->count < 64 && len <= sizeof(f->frames[0])) {
		for (int i = 0; i < iovcnt; i++) {
			memcpy(f->frames[f->count] + off, iov[i].iov_base, iov[i].iov_len);
			off += iov[i].iov_len;
		}
		f->lens[f->count++] = len;
		pthread_cond_broadcast(&f->cv);
	}
	pthread_mutex_unlock(&f->mu);
	return true;
}

void fake_rx_init(struct fake_rx *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	f->room = true;
	f->rx.opaque = f;
	f->rx.receive = fake_receive;
}

void fake_rx_set_room(struct fake_rx *f, bool room)
{
	pthread_mutex_lock(&f->mu);
	f->room = room;
	pthread_mutex_unlock(&f->mu);
}

size_t fake_rx_wait(struct fake_rx *f, uint8_t *out, size_t skip, int ms)
{
	struct timespec dl;
	size_t len = 0;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&f->mu);
	while (f->next == f->count)
		if (pthread_cond_timedwait(&f->cv, &f->mu, &dl) == ETIMEDOUT)
			break;
	if (f->next < f->count) {
		len = f->lens[f->next] - skip;
		memcpy(out, f->frames[f->next] + skip, len);
		f->next++;
	}
	pthread_mutex_unlock(&f->mu);
	return len;
}
