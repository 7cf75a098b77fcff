/*
 * dev/virtio/net_announce: after a load (a restore, a migration, a live
 * update) the guest may sit behind another port of the network: a
 * gratuitous ARP from its MAC and IPv4 (as snooped from its own frames)
 * tells switches and neighbours, three times at 0, 50 and 150 ms, on a
 * thread of its own so the start is not held up.  With the IPv4 unknown,
 * an RARP from the MAC does it, as QEMU does.
 */
#include <string.h>
#include <time.h>

#include "dev/virtio/net.h"
#include "gmvm/thread.h"

size_t gm_vnet_announce_frame(const uint8_t mac[6], uint32_t ip, uint8_t out[60])
{
	static const uint8_t arp_head[8] = { 0, 1, 8, 0, 6, 4, 0, 1 }; /* Ethernet, IPv4, request */
	static const uint8_t rarp_head[8] = { 0, 1, 8, 0, 6, 4, 0, 3 }; /* reverse request */
	uint8_t *a = out + 14;

	memset(out, 0, 60);
	memset(out, 0xff, 6);
	memcpy(out + 6, mac, 6);
	out[12] = ip ? 0x08 : 0x80;
	out[13] = ip ? 0x06 : 0x35;
	memcpy(a, ip ? arp_head : rarp_head, 8);
	memcpy(a + 8, mac, 6);       /* sender */
	memcpy(a + 14, &ip, 4);
	if (!ip)
		memcpy(a + 18, mac, 6); /* RARP: whose address is asked */
	memcpy(a + 24, &ip, 4);      /* target = sender: gratuitous */
	return 60;                   /* the Ethernet minimum, padding included */
}

static void *announcer(void *opaque)
{
	static const unsigned at_ms[] = { 0, 50, 150 };
	struct vnet *n = opaque;
	struct timespec t0, until;
	uint8_t frame[60];

	gm_thread_started(GM_THREAD_NET);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_mutex_lock(&n->announce_lock);
	for (unsigned i = 0; i < sizeof(at_ms) / sizeof(at_ms[0]) && !n->announce_stop; i++) {
		until = t0;
		until.tv_nsec += (long)at_ms[i] * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		while (!n->announce_stop && pthread_cond_timedwait(&n->announce_cond, &n->announce_lock, &until) == 0)
			;
		if (n->announce_stop || !n->nd)
			break;
		size_t len = gm_vnet_announce_frame(n->mac, __atomic_load_n(&n->guest_ip, __ATOMIC_RELAXED), frame);
		gm_netdev_inject(n->nd, frame, len);
	}
	pthread_mutex_unlock(&n->announce_lock);
	return NULL;
}

void gm_vnet_announce_maybe(struct vnet *n)
{
	pthread_mutex_lock(&n->announce_lock);
	if (n->started && n->announce_pending && !n->announcing && n->nd) {
		n->announce_pending = false;
		n->announce_stop = false;
		n->announcing = pthread_create(&n->announcer, NULL, announcer, n) == 0;
	}
	pthread_mutex_unlock(&n->announce_lock);
}

void gm_vnet_announce_stop(struct vnet *n)
{
	bool join;

	pthread_mutex_lock(&n->announce_lock);
	n->announce_stop = true;
	join = n->announcing;
	n->announcing = false;
	pthread_cond_broadcast(&n->announce_cond);
	pthread_mutex_unlock(&n->announce_lock);
	if (join)
		pthread_join(n->announcer, NULL);
}
