/*
 * net/tap: a tap device, frames with a 12-byte virtio_net_hdr_v1 in front
 * both ways (IFF_VNET_HDR), so the guest's checksum and TSO offloads go
 * through unchanged when the kernel takes them (TUNSETOFFLOAD).
 *
 * A tap that does not exist is made by TUNSETIFF when we have
 * CAP_NET_ADMIN; it is not persistent (it goes with our fd) and its link
 * state and addresses are the user's business: we never bring it up.  We
 * ask for IFF_MULTI_QUEUE so a live update's new process can attach a
 * queue beside the old one's.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "net/backend.h"

#define VNET_HDR_LEN 12              /* struct virtio_net_hdr_v1 */
#define READ_BURST 64                /* frames read per wake-up before looking at the waker again */

/* virtio-net feature bits the tap carries end to end once TUNSETOFFLOAD takes them */
#define F_CSUM (1ull << 0)
#define F_GUEST_CSUM (1ull << 1)
#define F_GUEST_TSO4 (1ull << 7)
#define F_GUEST_TSO6 (1ull << 8)
#define F_HOST_TSO4 (1ull << 11)
#define F_HOST_TSO6 (1ull << 12)
#define TAP_OFFLOADS (F_CSUM | F_GUEST_CSUM | F_GUEST_TSO4 | F_GUEST_TSO6 | F_HOST_TSO4 | F_HOST_TSO6)

struct tap_be {
	struct gm_netdev *nd;
	char name[IFNAMSIZ];
	int fd;
	atomic_bool attached;        /* TUNSETIFF and its set-up done (else deferred to start: EBUSY); vCPUs read it as they send */
	uint8_t *buf;                /* one frame read from the tap, kept while the guest has no room */
	size_t len;                  /* 0: none kept */
};

#define ACCESS_HINT "run as root, or make the tap for your user first: ip tuntap add %s mode tap user %u multi_queue"

/* TUNSETIFF, multi-queue first; 0, or -errno (EBUSY: a single-queue tap another process holds). */
static int attach(struct tap_be *t)
{
	struct ifreq ifr = { 0 };
	int r;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
	r = ioctl(t->fd, TUNSETIFF, &ifr);
	/* an existing tap made without multi_queue refuses a queue that asks for it */
	if (r < 0 && errno == EINVAL) {
		ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
		r = ioctl(t->fd, TUNSETIFF, &ifr);
	}
	return r < 0 ? -errno : 0;
}

static int attach_fail(struct tap_be *t, int e, unsigned waited_ms, struct gm_error *err)
{
	if (e == EPERM || e == EACCES)
		return gm_fail(err, GM_STATUS_BAD_INPUT, e, "--net tap=%s: not allowed to open or make the tap; " ACCESS_HINT,
			       t->name, t->name, (unsigned)getuid());
	if (e == EBUSY) {
		char after[32] = "";

		if (waited_ms)
			snprintf(after, sizeof(after), " still after %u s", waited_ms / 1000);
		return gm_fail(err, GM_STATUS_FAILURE, e, "--net tap=%s: another process holds the tap%s; stop it, or make the tap with multi_queue",
			       t->name, after);
	}
	return gm_fail(err, GM_STATUS_FAILURE, e, "--net tap=%s: cannot attach to the tap (%s); check it is a tap (ip -d link show %s)",
		       t->name, strerror(e), t->name);
}

/* After attach: the header size, and which offloads the kernel takes (none on until the guest says). */
static int setup(struct tap_be *t, struct gm_error *err)
{
	int hdr = VNET_HDR_LEN;

	if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr) < 0)
		return gm_fail(err, GM_STATUS_NO_KERNEL, errno, "--net tap=%s: the kernel refuses a %d-byte vnet header (%s); use a newer kernel",
			       t->name, VNET_HDR_LEN, strerror(errno));
	if (ioctl(t->fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0)
		t->nd->offloads = TAP_OFFLOADS;
	if (ioctl(t->fd, TUNSETOFFLOAD, 0) < 0)
		t->nd->offloads = 0;
	t->attached = true;
	return 0;
}

static void tap_be_free(void *be)
{
	struct tap_be *t = be;

	if (t->fd >= 0)
		close(t->fd);
	free(t->buf);
	free(t);
}

static int tap_open(struct gm_netdev *nd, const struct gm_net_config *cfg, struct gm_error *err)
{
	struct tap_be *t = calloc(1, sizeof(*t));
	unsigned int features = 0;
	int r;

	if (!t)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "--net tap=%s: out of memory; free some memory", cfg->tap);
	t->nd = nd;
	snprintf(t->name, sizeof(t->name), "%s", cfg->tap);
	t->buf = malloc(GM_NET_FRAME_MAX);
	t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (t->fd < 0 || !t->buf) {
		int e = t->fd < 0 ? errno : ENOMEM;

		tap_be_free(t);
		if (e == ENOENT || e == ENXIO || e == ENODEV)
			return gm_fail(err, GM_STATUS_NO_KERNEL, e, "--net tap=%s: /dev/net/tun is missing; load the tun module (modprobe tun)", cfg->tap);
		if (e == EACCES || e == EPERM)
			return gm_fail(err, GM_STATUS_BAD_INPUT, e, "--net tap=%s: cannot open /dev/net/tun (%s); " ACCESS_HINT,
				       cfg->tap, strerror(e), cfg->tap, (unsigned)getuid());
		return gm_fail(err, GM_STATUS_FAILURE, e, "--net tap=%s: cannot open /dev/net/tun (%s); check the tun module", cfg->tap, strerror(e));
	}
	if (ioctl(t->fd, TUNGETFEATURES, &features) < 0 || (features & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) != (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) {
		tap_be_free(t);
		return gm_fail(err, GM_STATUS_NO_KERNEL, EOPNOTSUPP, "--net tap=%s: this kernel's tun lacks taps with vnet headers; use a newer kernel or --net user",
			       cfg->tap);
	}
	nd->vnet_hdr_len = VNET_HDR_LEN;
	nd->offloads = 0;
	nd->be = t;
	r = attach(t);
	/* EBUSY: an update's old process holds a single-queue tap; start waits for it */
	if (r == -EBUSY)
		return 0;
	if (r == 0)
		r = setup(t, err);
	else
		r = attach_fail(t, -r, 0, err);
	if (r < 0) {
		tap_be_free(t);
		nd->be = NULL;
	}
	return r;
}

static int tap_set_offloads(struct gm_netdev *nd, uint64_t features, struct gm_error *err)
{
	struct tap_be *t = nd->be;
	unsigned flags = 0;

	/* the kernel takes TSO only with checksum offload, as virtio does */
	if (features & F_GUEST_CSUM) {
		flags |= TUN_F_CSUM;
		if (features & F_GUEST_TSO4)
			flags |= TUN_F_TSO4;
		if (features & F_GUEST_TSO6)
			flags |= TUN_F_TSO6;
	}
	if (!t->attached)
		return flags ? gm_fail(err, GM_STATUS_FAILURE, ENOTCONN, "--net tap=%s: offloads asked before the tap is attached; start the interface first", t->name) : 0;
	if (ioctl(t->fd, TUNSETOFFLOAD, flags) < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "--net tap=%s: the tap refused offloads %#x (%s); report this bug",
			       t->name, flags, strerror(errno));
	return 0;
}

/* Read and deliver until the tap is empty, the guest is full, or a burst is done. */
static void pump(struct tap_be *t)
{
	for (int i = 0; i < READ_BURST; i++) {
		if (!t->len) {
			ssize_t n = read(t->fd, t->buf, GM_NET_FRAME_MAX);
			if (n < 0) {
				if (errno != EAGAIN && errno != EINTR)
					gm_netdev_log(t->nd, "virtio-net (tap %s): read: %s", t->name, strerror(errno));
				return;
			}
			if ((size_t)n <= VNET_HDR_LEN) {
				atomic_fetch_add_explicit(&t->nd->rx_drops, 1, memory_order_relaxed);
				continue;
			}
			/* num_buffers (le16): one buffer, as no MRG_RXBUF is offered; kernels leave it 0 or stale */
			t->buf[10] = 1;
			t->buf[11] = 0;
			t->len = (size_t)n;
		}
		struct iovec iov = { .iov_base = t->buf, .iov_len = t->len };

		if (!gm_netdev_deliver(t->nd, &iov, 1, t->len))
			return;
		t->len = 0;
	}
	/* more may wait: come back after a look at the waker */
	gm_net_waker_kick(&t->nd->wake);
}

static void tap_run(struct gm_netdev *nd)
{
	struct tap_be *t = nd->be;

	while (!atomic_load(&nd->stop)) {
		/* a kept frame: the tap's own queue holds the rest until rx_ready or resume */
		struct pollfd pfd[2] = {
			{ .fd = nd->wake.fd, .events = POLLIN },
			{ .fd = t->fd, .events = t->len ? 0 : POLLIN },
		};

		if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
			gm_netdev_log(nd, "virtio-net (tap %s): poll: %s", t->name, strerror(errno));
			break;
		}
		if (pfd[0].revents)
			gm_net_waker_drain(&nd->wake);
		if (atomic_load(&nd->stop))
			break;
		if (pfd[0].revents || pfd[1].revents)
			pump(t);
	}
}

static int tap_start(struct gm_netdev *nd, unsigned wait_ms, struct gm_error *err)
{
	struct tap_be *t = nd->be;
	int64_t deadline = gm_net_now_ms() + wait_ms;

	while (!t->attached) {
		int r = attach(t);

		if (r == 0)
			return setup(t, err);
		if (r != -EBUSY || gm_net_now_ms() >= deadline)
			return attach_fail(t, -r, wait_ms, err);
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000000 }, NULL);
	}
	return 0;
}

static int tap_send(struct gm_netdev *nd, const struct iovec *iov, int iovcnt, size_t len)
{
	struct tap_be *t = nd->be;
	ssize_t n;

	if (!t->attached)
		return -ENOTCONN;
	/* the tap full (EAGAIN) or gone: the frame is lost, as a network may lose it */
	n = writev(t->fd, iov, iovcnt);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

const struct gm_netdev_ops gm_netdev_tap_ops = {
	.open = tap_open,
	.start = tap_start,
	.run = tap_run,
	.send = tap_send,
	.set_offloads = tap_set_offloads,
	.free = tap_be_free,
};
