/*
 * tests/unit/net/frames: Ethernet frames built and read by hand for the
 * backend tests (ARP, IPv4 ICMP and UDP), and a fake device that collects
 * what a backend hands to rx->receive.
 */
#ifndef GM_TEST_NET_FRAMES_H
#define GM_TEST_NET_FRAMES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/netdev.h"

#define ETH_HLEN_ 14
#define IP_HLEN_ 20
#define UDP_HLEN_ 8

extern const uint8_t guest_mac[6];

/* IPv4 a.b.c.d in network order */
uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d);

/* Each returns the frame's length; buf must hold 1514 bytes. */
size_t build_arp(uint8_t *buf, uint16_t op, const uint8_t *smac, uint32_t sip, const uint8_t *tmac, uint32_t tip);
size_t build_icmp_echo(uint8_t *buf, const uint8_t *smac, const uint8_t *dmac, uint32_t sip, uint32_t dip, uint16_t id);
size_t build_udp(uint8_t *buf, const uint8_t *smac, const uint8_t *dmac, uint32_t sip, uint32_t dip,
		 uint16_t sport, uint16_t dport, const void *payload, size_t plen);
/* The UDP echo the test guest sends: MACs, IPs and ports swapped, payload unchanged. */
size_t build_udp_echo(uint8_t *out, const uint8_t *in, size_t len);

uint16_t eth_type(const uint8_t *f);
/* An ARP frame's opcode and target IP (network order). */
uint16_t arp_op(const uint8_t *f);
uint32_t arp_tip(const uint8_t *f);
uint32_t arp_sip(const uint8_t *f);
uint8_t ip_proto(const uint8_t *f);

/* The fake device: frames copied into a list; room=false refuses them. */
struct fake_rx {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool room;
	bool paused;                 /* set by the test around gm_netdev_pause: a receive then is a bug */
	unsigned while_paused;       /* receives while paused */
	unsigned refused;            /* receives answered false */
	unsigned count, next;        /* frames kept, next not yet taken by the test */
	uint8_t frames[64][2048];
	size_t lens[64];
	struct gm_netdev_rx rx;
};

void fake_rx_init(struct fake_rx *f);
void fake_rx_set_room(struct fake_rx *f, bool room);
/* The next frame received within ms, or 0; skip bytes of header dropped. */
size_t fake_rx_wait(struct fake_rx *f, uint8_t *out, size_t skip, int ms);

#endif
