/*
 * net/: where a virtio-net interface's frames go on the host.  A backend
 * (slirp.c: user-mode networking through libslirp; tap.c: a tap device)
 * moves whole Ethernet frames both ways and knows nothing of virtio; the
 * device (dev/virtio/net.c) knows nothing of sockets.
 *
 * Frames may carry a virtio-net header in front (struct virtio_net_hdr_v1,
 * 12 bytes) when gm_netdev_vnet_hdr_len() says so: a tap opened with
 * IFF_VNET_HDR takes and gives the guest's header unchanged, which is how
 * checksum and TSO offloads go end to end; slirp has none (0), and the
 * device then strips and adds the header itself and offers no offloads.
 *
 * Threads: each backend has one thread of its own that reads the host side
 * and hands frames to rx->receive, only there: never from inside
 * gm_netdev_send, which runs on the caller's thread (a vCPU's, for a TX
 * kick) and may wake the backend's thread to deliver slirp's replies.
 * Multiqueue later: one backend per queue pair, so nothing here is shared
 * between queues.
 */
#ifndef GM_NET_NETDEV_H
#define GM_NET_NETDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "gmvm/config.h"
#include "gmvm/error.h"

#define GM_NET_FRAME_MAX 65562 /* the largest frame with its vnet header: 64 KiB TSO + Ethernet + 12 */

struct gm_netdev;

/* What the device gives the backend: where frames for the guest go. */
struct gm_netdev_rx {
	void *opaque;
	/*
	 * One frame for the guest (vnet header first when the backend has one),
	 * on the backend's thread.  Return false when the guest has no room
	 * now: the backend keeps that frame (and reads no more from the host)
	 * until gm_netdev_rx_ready(); true when it was taken or dropped for good.
	 */
	bool (*receive)(void *opaque, const struct iovec *iov, int iovcnt, size_t len);
	/* Optional (NULL: dropped): one line for the machine's log, e.g. slirp's report of a guest's bad frame; any thread. */
	void (*log)(void *opaque, const char *line);
};

/* What went through the backend, for the device's stats; each counter only grows. */
struct gm_netdev_counters {
	uint64_t rx_frames, rx_bytes;   /* handed to the guest (rx->receive took them) */
	uint64_t rx_drops;              /* meant for the guest, dropped: queue full, too big */
	uint64_t tx_frames, tx_bytes;   /* from the guest (gm_netdev_send, inject) out to the host */
	uint64_t tx_drops;              /* from the guest, dropped: the host side full or failing */
};

/*
 * Open the backend cfg names (slirp instance, or attach to the tap, made
 * when absent), nothing running yet.  Refusals in one line: a tap that
 * cannot be opened says why and how (root, /dev/net/tun, the name).
 */
int gm_netdev_open(const struct gm_net_config *cfg, struct gm_netdev **out, struct gm_error *err);
/* 12 when frames carry a virtio_net_hdr_v1 both ways, 0 when bare. */
unsigned gm_netdev_vnet_hdr_len(const struct gm_netdev *nd);
/* The virtio-net offload feature bits (CSUM, GUEST_CSUM, *_TSO4/6 ...) the backend carries end to end; 0 for slirp. */
uint64_t gm_netdev_offloads(const struct gm_netdev *nd);
/* The driver accepted these features: tell the backend which offloads the guest takes (TUNSETOFFLOAD). */
int gm_netdev_set_offloads(struct gm_netdev *nd, uint64_t features, struct gm_error *err);
/*
 * How long a live update's new process waits for the old one to let go
 * of the hostfwd ports or the tap: the old one closes its backend after
 * COMMIT while the new one starts, which on a loaded host takes seconds.
 * Any other start waits for no one (a migration's source holds them
 * until the destination runs): a port or tap in use is refused at once.
 */
#define GM_NET_HANDOVER_WAIT_MS 30000
/*
 * Start the backend's thread (and, for slirp, bind the hostfwd ports),
 * retrying a port in use (EADDRINUSE) or a tap held (EBUSY) for up to
 * wait_ms.  rx must outlive it.
 */
int gm_netdev_start(struct gm_netdev *nd, const struct gm_netdev_rx *rx, unsigned wait_ms, struct gm_error *err);
/* A frame from the guest (vnet header first when the backend has one); 0, or -errno when it was dropped. */
int gm_netdev_send(struct gm_netdev *nd, const struct iovec *iov, int iovcnt);
/* The guest put receive buffers up: deliver what waits, read the host side again. */
void gm_netdev_rx_ready(struct gm_netdev *nd);
/*
 * Stop delivering to rx (returns once no receive is running and none will
 * start), and go on again.  The device's quiesce and resume: the host side
 * is left to queue (tap) or drop (slirp queue full) meanwhile.
 */
void gm_netdev_pause(struct gm_netdev *nd);
void gm_netdev_resume(struct gm_netdev *nd);
/*
 * Send a frame made on the host (a gratuitous ARP after a migration) out to
 * the network, as if the guest had sent it; frame has no vnet header.
 */
int gm_netdev_inject(struct gm_netdev *nd, const uint8_t *frame, size_t len);
/* A snapshot of the counters; any thread. */
void gm_netdev_counters(const struct gm_netdev *nd, struct gm_netdev_counters *c);
/* Stop the thread, close sockets and the tap; NULL is fine. */
void gm_netdev_close(struct gm_netdev *nd);

#endif
