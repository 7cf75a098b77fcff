/*
 * dev/virtio/net: what net.c (the device: TX, config, state), net_rx.c
 * (frames to the guest) and net_announce.c (the gratuitous ARP after a
 * move) share.
 */
#ifndef GM_DEV_VIRTIO_NET_H
#define GM_DEV_VIRTIO_NET_H

#include <pthread.h>
#include <sys/uio.h>

#include "dev/virtio/virtio.h"
#include "net/netdev.h"

#define VNET_PAIRS 1     /* queue pairs: multiqueue is more of them */
#define VNET_HDR_LEN 12  /* struct virtio_net_hdr_v1 */

struct vnet;

/* One queue pair: rx is popped only by the backend's thread, tx only by a kicking vCPU. */
struct vnet_qp {
	struct vnet *n;
	unsigned rx, tx;             /* queue indices */
	pthread_mutex_t rx_lock, tx_lock; /* tx_lock before rx_lock (see net.c) */
	struct gm_virtq_elem *rx_e, *tx_e;
	struct iovec iov[GM_VIRTQ_MAX_SEGS];
};

struct vnet {
	struct gm_virtio *v;
	struct gm_virtio_ops ops;    /* the features depend on the backend */
	struct gm_dev_host host;
	struct gm_netdev *nd;        /* NULL once released; nd_lock keeps stats() off a closing one */
	pthread_mutex_t nd_lock;
	struct gm_netdev_rx rx_if;
	unsigned hdr_len;            /* the backend's: 0 or VNET_HDR_LEN */
	bool takeover;               /* a live update's new process: the backend starts at adopt, after COMMIT */
	bool start_deferred;
	bool running;                /* activated, not reset: written with every qp's locks held */
	uint8_t mac[6];
	uint16_t status;
	uint32_t guest_ip;           /* network order, 0 unknown; atomic */
	bool refusal_logged;
	uint64_t rx_packets, rx_bytes, rx_drops, tx_packets, tx_bytes, tx_drops, tx_refused; /* atomic */
	struct vnet_qp qp[VNET_PAIRS];

	/* announcing after a load: a short-lived thread, under announce_lock */
	pthread_mutex_t announce_lock;
	pthread_cond_t announce_cond;
	pthread_t announcer;
	bool started, announce_pending, announcing, announce_stop;
};

/* net_rx.c: the backend's receive (opaque: the queue pair). */
bool gm_vnet_receive(void *opaque, const struct iovec *iov, int iovcnt, size_t len);

/* net_announce.c: after a load, once started, tell the network where the guest is (3 times, 0/50/150 ms). */
void gm_vnet_announce_maybe(struct vnet *n);
/* Stop an announcement under way and wait for its thread. */
void gm_vnet_announce_stop(struct vnet *n);
/* The frame announcing mac (and ip, network order; 0: an RARP instead), 60 bytes into out; its length. */
size_t gm_vnet_announce_frame(const uint8_t mac[6], uint32_t ip, uint8_t out[60]);

#endif
