/*
 * dev/virtio/net: virtio-net (id 1, virtio 1.2 5.1) over a net backend
 * (net/netdev.h).  One queue pair now (rx 0, tx 1, no control queue);
 * struct vnet_qp is what a pair needs, so multiqueue is more of them.
 *
 * Frames always carry the 12-byte virtio_net_hdr_v1 on the rings
 * (VERSION_1), num_buffers 1 (no MRG_RXBUF).  A backend with no header of
 * its own (slirp) gets the frame without it on TX, and RX writes a zero
 * header in front; a tap with IFF_VNET_HDR takes and gives it unchanged.
 *
 * Threads and locks: TX runs on the vCPU that kicked, under qp->tx_lock;
 * RX on the backend's thread (net_rx.c), under qp->rx_lock.  The order
 * is tx_lock then rx_lock, never the other way: slirp may hand a reply
 * to receive from inside gm_netdev_send, which then takes the rx_lock
 * with the tx_lock held.  A reset takes both, in that order, so nothing is
 * in flight after it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dev/virtio/net.h"
#include "util/le.h"

#define NET_F_MAC    (UINT64_C(1) << 5)
#define NET_F_STATUS (UINT64_C(1) << 16)
#define NET_S_LINK_UP 1
#define CONFIG_LEN 10 /* mac[6], status, max_virtqueue_pairs */
#define STATE_TAIL 12 /* mac[6], guest IPv4 (4, network order), status (le16) */

static void log_line(struct vnet *n, const char *line)
{
	if (n->host.log)
		n->host.log(n->host.opaque, line);
}

/* The guest's own IPv4 source, from the frame it sends: what the announcement after a move says. */
static void snoop_ip(struct vnet *n, const struct gm_virtq_elem *e)
{
	uint8_t eth[14 + 32];
	size_t got = gm_virtq_elem_read(e, VNET_HDR_LEN, eth, sizeof(eth));
	uint16_t type;
	uint32_t ip = 0;

	if (got < 14)
		return;
	type = (uint16_t)(eth[12] << 8 | eth[13]);
	if (type == 0x0806 && got >= 14 + 18 && eth[14 + 7] <= 2) /* ARP request or reply: the sender's */
		memcpy(&ip, eth + 14 + 14, 4);
	else if (type == 0x0800 && got >= 14 + 20 && (eth[14] >> 4) == 4)
		memcpy(&ip, eth + 14 + 12, 4);
	if (ip && ip != 0xffffffff)
		__atomic_store_n(&n->guest_ip, ip, __ATOMIC_RELAXED);
}

/* One TX chain out, or refused (counted, logged once): the chain goes back used either way. */
static void send_chain(struct vnet *n, struct vnet_qp *qp, const struct gm_virtq_elem *e)
{
	size_t skip = n->hdr_len ? 0 : VNET_HDR_LEN;
	int cnt = 0;

	if (e->out_bytes > GM_NET_FRAME_MAX || e->out_bytes < VNET_HDR_LEN + 14) {
		__atomic_add_fetch(&n->tx_refused, 1, __ATOMIC_RELAXED);
		if (!__atomic_exchange_n(&n->refusal_logged, true, __ATOMIC_RELAXED)) {
			char line[160];

			snprintf(line, sizeof(line),
				 "virtio-net: the guest sent a frame of %llu bytes (header included), outside %u..%u; refused (logged once)",
				 (unsigned long long)e->out_bytes, VNET_HDR_LEN + 14, GM_NET_FRAME_MAX);
			log_line(n, line);
		}
		return;
	}
	/* the readable buffers as they are, less the header when the backend takes none */
	for (unsigned i = 0; i < e->nout; i++) {
		size_t len = e->seg[i].len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		qp->iov[cnt].iov_base = e->seg[i].hva + skip;
		qp->iov[cnt].iov_len = len - skip;
		skip = 0;
		cnt++;
	}
	snoop_ip(n, e);
	if (!n->nd || gm_netdev_send(n->nd, qp->iov, cnt) < 0) {
		__atomic_add_fetch(&n->tx_drops, 1, __ATOMIC_RELAXED);
		return;
	}
	__atomic_add_fetch(&n->tx_packets, 1, __ATOMIC_RELAXED);
	/* the Ethernet frame's bytes, as rx counts them: no header */
	__atomic_add_fetch(&n->tx_bytes, e->out_bytes - VNET_HDR_LEN, __ATOMIC_RELAXED);
}

static void transmit(struct vnet *n, struct vnet_qp *qp)
{
	struct gm_virtq *q = gm_virtio_queue(n->v, qp->tx);
	bool pushed = false;

	pthread_mutex_lock(&qp->tx_lock);
	while (n->running && gm_virtq_pop(q, qp->tx_e) == 1) {
		send_chain(n, qp, qp->tx_e);
		gm_virtq_push(q, qp->tx_e, 0);
		pushed = true;
	}
	if (pushed)
		gm_virtq_notify(q);
	pthread_mutex_unlock(&qp->tx_lock);
}

static void net_notify(void *dev, unsigned q)
{
	struct vnet *n = dev;
	struct vnet_qp *qp;

	if (q / 2 >= VNET_PAIRS)
		return;
	qp = &n->qp[q / 2];
	if (q == qp->tx)
		transmit(n, qp);
	else if (n->nd)
		gm_netdev_rx_ready(n->nd); /* new receive buffers: what the backend holds may go in */
}

static void net_config_read(void *dev, uint32_t off, uint8_t *out, unsigned len)
{
	struct vnet *n = dev;
	uint8_t cfg[CONFIG_LEN];

	memcpy(cfg, n->mac, 6);
	gm_put_le16(cfg + 6, n->status);
	gm_put_le16(cfg + 8, VNET_PAIRS);
	memcpy(out, cfg + off, len);
}

/* Every queue's locks, tx before rx (see the top): nothing is in flight while running changes. */
static void set_running(struct vnet *n, bool on)
{
	for (unsigned i = 0; i < VNET_PAIRS; i++) {
		pthread_mutex_lock(&n->qp[i].tx_lock);
		pthread_mutex_lock(&n->qp[i].rx_lock);
	}
	n->running = on;
	for (unsigned i = VNET_PAIRS; i-- > 0;) {
		pthread_mutex_unlock(&n->qp[i].rx_lock);
		pthread_mutex_unlock(&n->qp[i].tx_lock);
	}
}

static int net_activate(void *dev, uint64_t features)
{
	struct vnet *n = dev;
	struct gm_error err = { 0 };
	uint64_t off = n->nd ? gm_netdev_offloads(n->nd) & features : 0;

	if (n->nd && gm_netdev_offloads(n->nd) && gm_netdev_set_offloads(n->nd, off, &err)) {
		log_line(n, err.msg);
		return -EIO;
	}
	set_running(n, true);
	if (n->nd)
		gm_netdev_rx_ready(n->nd);
	return 0;
}

/* Status 0: running goes false under every lock, so no chain is being filled or sent after it, and none will be. */
static void net_reset_dev(void *dev)
{
	set_running(dev, false);
}

static unsigned instances(const struct gm_config *cfg)
{
	return cfg->nnets;
}

static void destroy(void *dev)
{
	struct vnet *n = dev;

	if (!n)
		return;
	gm_vnet_announce_stop(n);
	gm_netdev_close(n->nd);
	gm_virtio_free(n->v);
	for (unsigned i = 0; i < VNET_PAIRS; i++) {
		free(n->qp[i].rx_e);
		free(n->qp[i].tx_e);
		pthread_mutex_destroy(&n->qp[i].rx_lock);
		pthread_mutex_destroy(&n->qp[i].tx_lock);
	}
	pthread_mutex_destroy(&n->announce_lock);
	pthread_mutex_destroy(&n->nd_lock);
	pthread_cond_destroy(&n->announce_cond);
	free(n);
}

/* 52:54:00 (QEMU's locally administered prefix, what users expect) and 3 bytes of the UUID and index. */
static void default_mac(const struct gm_dev_ctx *ctx, uint8_t mac[6])
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (unsigned i = 0; i < 16; i++)
		h = (h ^ ctx->uuid[i]) * 16777619u;
	h = (h ^ ctx->instance) * 16777619u;
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

static int create(const struct gm_dev_ctx *ctx, void **dev, struct gm_error *err)
{
	const struct gm_net_config *nc = &ctx->cfg->nets[ctx->instance];
	struct vnet *n = calloc(1, sizeof(*n));
	pthread_condattr_t ca;
	int r;

	if (!n)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for virtio-net");
	pthread_mutex_init(&n->announce_lock, NULL);
	pthread_mutex_init(&n->nd_lock, NULL);
	/* the announcer's waits are against CLOCK_MONOTONIC: a wall clock set back would stretch them */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->announce_cond, &ca);
	pthread_condattr_destroy(&ca);
	for (unsigned i = 0; i < VNET_PAIRS; i++) {
		struct vnet_qp *qp = &n->qp[i];

		pthread_mutex_init(&qp->rx_lock, NULL);
		pthread_mutex_init(&qp->tx_lock, NULL);
		qp->n = n;
		qp->rx = 2 * i;
		qp->tx = 2 * i + 1;
		qp->rx_e = malloc(sizeof(*qp->rx_e));
		qp->tx_e = malloc(sizeof(*qp->tx_e));
		if (!qp->rx_e || !qp->tx_e) {
			destroy(n);
			return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for virtio-net's queues");
		}
	}
	n->host = ctx->host;
	n->takeover = ctx->cfg->takeover_fd >= 0;
	n->status = NET_S_LINK_UP;
	if (nc->mac_given)
		memcpy(n->mac, nc->mac, 6);
	else
		default_mac(ctx, n->mac);
	r = gm_netdev_open(nc, &n->nd, err);
	if (r) {
		n->nd = NULL;
		destroy(n);
		return r;
	}
	n->hdr_len = gm_netdev_vnet_hdr_len(n->nd);
	n->ops = (struct gm_virtio_ops){
		.name = "virtio-net",
		.device_id = GM_VIRTIO_ID_NET,
		.features = NET_F_MAC | NET_F_STATUS | gm_netdev_offloads(n->nd),
		.nqueues = 2 * VNET_PAIRS,
		.queue_max = 256,
		.config_len = CONFIG_LEN,
		.config_read = net_config_read,
		.activate = net_activate,
		.notify = net_notify,
		.reset = net_reset_dev,
	};
	r = gm_virtio_new(ctx, &n->ops, n, &n->v, err);
	if (r) {
		destroy(n);
		return r;
	}
	*dev = n;
	return 0;
}

static void backend_log(void *opaque, const char *line)
{
	log_line(((struct vnet_qp *)opaque)->n, line);
}

/* wait_ms: how long a port or tap the old gmvm of a live update still holds is waited for (netdev.h) */
static int start_backend(struct vnet *n, unsigned wait_ms, struct gm_error *err)
{
	int r;

	n->rx_if = (struct gm_netdev_rx){ .opaque = &n->qp[0], .receive = gm_vnet_receive, .log = backend_log };
	r = gm_netdev_start(n->nd, &n->rx_if, wait_ms, err);
	if (r)
		return r;
	pthread_mutex_lock(&n->announce_lock);
	n->started = true;
	pthread_mutex_unlock(&n->announce_lock);
	gm_vnet_announce_maybe(n);
	return 0;
}

/*
 * A live update's new process starts its devices before the old one's
 * COMMIT, and the old one holds the guest's ports until then: the backend
 * starts at adopt, after the COMMIT.
 */
static int start(void *dev, struct gm_error *err)
{
	struct vnet *n = dev;

	if (n->takeover) {
		n->start_deferred = true;
		return 0;
	}
	/* nobody to wait for: a migration's source holds the ports until this side runs */
	return start_backend(n, 0, err);
}

static void quiesce(void *dev)
{
	struct vnet *n = dev;

	if (n->nd)
		gm_netdev_pause(n->nd);
}

static void resume(void *dev)
{
	struct vnet *n = dev;

	if (n->nd)
		gm_netdev_resume(n->nd);
}

/* On the owner's thread: its allow-list has the sockets and TUNSETIFF a backend opens, an API thread's has not. */
static void adopt(void *dev)
{
	struct vnet *n = dev;
	struct gm_error err = { 0 };

	if (n->nd && n->start_deferred) {
		n->start_deferred = false;
		/* too late to refuse: the guest is this process's; it runs on, unplugged, and the log says why */
		if (start_backend(n, GM_NET_HANDOVER_WAIT_MS, &err))
			log_line(n, err.msg);
	}
}

static void reset(void *dev)
{
	gm_virtio_reset(((struct vnet *)dev)->v);
}

/* The guest lives in another process now: it binds the ports, it attaches the tap. */
static void release(void *dev)
{
	struct vnet *n = dev;

	struct gm_netdev *nd;

	gm_vnet_announce_stop(n);
	/* vm.info may be reading the backend's counters on the API thread right now */
	pthread_mutex_lock(&n->nd_lock);
	nd = n->nd;
	n->nd = NULL;
	pthread_mutex_unlock(&n->nd_lock);
	gm_netdev_close(nd);
}

static unsigned stats(void *dev, struct gm_dev_stat *out, unsigned max)
{
	struct vnet *n = dev;
	struct gm_netdev_counters c = { 0 };

	pthread_mutex_lock(&n->nd_lock);
	if (n->nd)
		gm_netdev_counters(n->nd, &c);
	pthread_mutex_unlock(&n->nd_lock);
	const struct gm_dev_stat all[] = {
		{ "rx_packets", __atomic_load_n(&n->rx_packets, __ATOMIC_RELAXED) },
		{ "rx_bytes", __atomic_load_n(&n->rx_bytes, __ATOMIC_RELAXED) },
		{ "rx_drops", __atomic_load_n(&n->rx_drops, __ATOMIC_RELAXED) },
		{ "tx_packets", __atomic_load_n(&n->tx_packets, __ATOMIC_RELAXED) },
		{ "tx_bytes", __atomic_load_n(&n->tx_bytes, __ATOMIC_RELAXED) },
		{ "tx_drops", __atomic_load_n(&n->tx_drops, __ATOMIC_RELAXED) },
		{ "tx_refused", __atomic_load_n(&n->tx_refused, __ATOMIC_RELAXED) },
		/* the backend's own: frames for the guest it had to drop (its queue full), frames the host refused */
		{ "host_rx_drops", c.rx_drops },
		{ "host_tx_drops", c.tx_drops },
	};
	unsigned k = 0;

	for (; k < max && k < sizeof(all) / sizeof(all[0]); k++)
		out[k] = all[k];
	return k;
}

/* The transport's state, then the MAC, the guest's IPv4 as snooped (0: unknown) and the link status. */
static size_t save(void *dev, uint8_t *out, size_t max)
{
	struct vnet *n = dev;
	size_t len = gm_virtio_save(n->v, out, max);
	uint32_t ip = __atomic_load_n(&n->guest_ip, __ATOMIC_RELAXED);

	if (!len || max - len < STATE_TAIL)
		return 0;
	memcpy(out + len, n->mac, 6);
	memcpy(out + len + 6, &ip, 4);
	gm_put_le16(out + len + 10, n->status);
	return len + STATE_TAIL;
}

static int load(void *dev, const uint8_t *data, size_t len, uint32_t version, struct gm_error *err)
{
	struct vnet *n = dev;
	size_t tlen = len >= 2 ? gm_le16(data) : 0;
	uint32_t ip;
	int r;

	if (version != 1)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "virtio-net state is of version %u; this gmvm reads version 1", version);
	if (!tlen || tlen > len || len - tlen != STATE_TAIL || (data[tlen] & 1) ||
	    (gm_le16(data + tlen + 10) & ~NET_S_LINK_UP))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "virtio-net state of %zu bytes does not hold a transport, a unicast MAC and a link status; the state is corrupt",
			       len);
	r = gm_virtio_load(n->v, data, tlen, NULL, err);
	if (r)
		return r;
	/* the guest read this MAC: it stays, whatever a new UUID or --net would make */
	memcpy(n->mac, data + tlen, 6);
	memcpy(&ip, data + tlen + 6, 4);
	__atomic_store_n(&n->guest_ip, ip, __ATOMIC_RELAXED);
	n->status = gm_le16(data + tlen + 10);
	/* it may have moved: tell the network where it is now */
	pthread_mutex_lock(&n->announce_lock);
	n->announce_pending = true;
	pthread_mutex_unlock(&n->announce_lock);
	gm_vnet_announce_maybe(n);
	return 0;
}

const struct gm_device_type gm_dev_virtio_net = {
	.name = "virtio-net",
	.state_version = 1,
	.writes_guest = true,
	.instances = instances,
	.create = create,
	.start = start,
	.quiesce = quiesce,
	.resume = resume,
	.reset = reset,
	.release = release,
	.adopt = adopt,
	.stats = stats,
	.save = save,
	.load = load,
	.destroy = destroy,
};
