/*
 * dev/virtio/net_rx: frames from the backend into the guest's receive
 * buffers, on the backend's thread, under the queue pair's rx_lock.
 */
#include <string.h>

#include "dev/virtio/net.h"
#include "util/le.h"

static void dropped(struct vnet *n)
{
	__atomic_add_fetch(&n->rx_drops, 1, __ATOMIC_RELAXED);
}

/* Copy the frame (header first) into e's writable buffers; the bytes written. */
static size_t fill(struct vnet *n, const struct gm_virtq_elem *e, const struct iovec *iov, int iovcnt)
{
	size_t off = 0;

	if (!n->hdr_len) {
		/* no offloads negotiated: all zero, and num_buffers 1 */
		uint8_t hdr[VNET_HDR_LEN] = { 0 };

		gm_put_le16(hdr + 10, 1);
		off = gm_virtq_elem_write(e, 0, hdr, sizeof(hdr));
	}
	for (int i = 0; i < iovcnt; i++)
		off += gm_virtq_elem_write(e, off, iov[i].iov_base, iov[i].iov_len);
	if (n->hdr_len) {
		/* the tap's header as it came, but num_buffers is 1 without MRG_RXBUF (virtio 1.2 5.1.6.3.1) */
		uint8_t one[2];

		gm_put_le16(one, 1);
		gm_virtq_elem_write(e, 10, one, 2);
	}
	return off;
}

bool gm_vnet_receive(void *opaque, const struct iovec *iov, int iovcnt, size_t len)
{
	struct vnet_qp *qp = opaque;
	struct vnet *n = qp->n;
	struct gm_virtq *q = gm_virtio_queue(n->v, qp->rx);
	size_t need = len + (n->hdr_len ? 0 : VNET_HDR_LEN);
	bool taken = true;
	int r;

	pthread_mutex_lock(&qp->rx_lock);
	if (!n->running || len < n->hdr_len + 14) {
		/* no driver to take it (nor one that will soon): gone, not kept */
		dropped(n);
		goto out;
	}
	r = gm_virtq_pop(q, qp->rx_e);
	if (r == 0) {
		/* the backend keeps it until the driver kicks the rx queue (net_notify -> rx_ready) */
		taken = false;
		goto out;
	}
	if (r < 0) {
		dropped(n); /* the device is broken now: the driver resets it */
		goto out;
	}
	if (qp->rx_e->in_bytes < need) {
		/*
		 * A buffer too small for the frame: a chain cannot go back on
		 * the avail ring, so it comes back used with 0 bytes (the Linux
		 * driver counts that as a length error and reposts it) and the
		 * frame is dropped.
		 */
		gm_virtq_push(q, qp->rx_e, 0);
		gm_virtq_notify(q);
		dropped(n);
		goto out;
	}
	size_t written = fill(n, qp->rx_e, iov, iovcnt);
	gm_virtq_push(q, qp->rx_e, (uint32_t)written);
	gm_virtq_notify(q);
	__atomic_add_fetch(&n->rx_packets, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&n->rx_bytes, len - n->hdr_len, __ATOMIC_RELAXED);
out:
	pthread_mutex_unlock(&qp->rx_lock);
	return taken;
}
