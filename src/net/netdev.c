/*
 * net/netdev: the one gm_netdev a virtio-net device talks to, dispatching
 * to the backend cfg names through an ops table, and what both backends
 * share: the delivery gate that pause and resume close and open, the
 * counters, and the eventfd that wakes a backend's thread.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "net/backend.h"
#include "gmvm/thread.h"

static const struct gm_netdev_ops *const backends[] = {
	[GM_NET_USER] = &gm_netdev_slirp_ops,
	[GM_NET_TAP] = &gm_netdev_tap_ops,
};

int64_t gm_net_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int gm_net_waker_init(struct gm_net_waker *w)
{
	w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	atomic_init(&w->pending, false);
	return w->fd < 0 ? -errno : 0;
}

void gm_net_waker_kick(struct gm_net_waker *w)
{
	uint64_t one = 1;

	if (!atomic_exchange(&w->pending, true))
		(void)!write(w->fd, &one, sizeof(one));
}

void gm_net_waker_drain(struct gm_net_waker *w)
{
	uint64_t v;

	atomic_store(&w->pending, false);
	(void)!read(w->fd, &v, sizeof(v));
}

void gm_net_waker_fini(struct gm_net_waker *w)
{
	if (w->fd >= 0)
		close(w->fd);
	w->fd = -1;
}

void gm_netdev_log(struct gm_netdev *nd, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (!nd->rx.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	nd->rx.log(nd->rx.opaque, line);
}

int gm_netdev_open(const struct gm_net_config *cfg, struct gm_netdev **out, struct gm_error *err)
{
	struct gm_netdev *nd;
	int r;

	*out = NULL;
	if ((unsigned)cfg->kind >= sizeof(backends) / sizeof(backends[0]) || !backends[cfg->kind])
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net: unknown kind %d; use user or tap=NAME", (int)cfg->kind);
	nd = calloc(1, sizeof(*nd));
	if (!nd)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "--net: out of memory for the interface; free some memory");
	nd->ops = backends[cfg->kind];
	pthread_mutex_init(&nd->gate, NULL);
	pthread_cond_init(&nd->gate_cv, NULL);
	r = gm_net_waker_init(&nd->wake);
	if (r < 0) {
		gm_fail(err, GM_STATUS_FAILURE, -r, "--net: cannot make an eventfd (%s); raise the open files limit", strerror(-r));
		goto fail;
	}
	r = nd->ops->open(nd, cfg, err);
	if (r < 0)
		goto fail;
	*out = nd;
	return 0;
fail:
	gm_net_waker_fini(&nd->wake);
	pthread_cond_destroy(&nd->gate_cv);
	pthread_mutex_destroy(&nd->gate);
	free(nd);
	return r;
}

unsigned gm_netdev_vnet_hdr_len(const struct gm_netdev *nd)
{
	return nd->vnet_hdr_len;
}

uint64_t gm_netdev_offloads(const struct gm_netdev *nd)
{
	return nd->offloads;
}

int gm_netdev_set_offloads(struct gm_netdev *nd, uint64_t features, struct gm_error *err)
{
	if (!nd->ops->set_offloads)
		return 0;
	return nd->ops->set_offloads(nd, features & nd->offloads, err);
}

static void *run_thread(void *arg)
{
	struct gm_netdev *nd = arg;

	gm_thread_started(GM_THREAD_NET);
	nd->ops->run(nd);
	return NULL;
}

int gm_netdev_start(struct gm_netdev *nd, const struct gm_netdev_rx *rx, unsigned wait_ms, struct gm_error *err)
{
	int r;

	if (nd->started)
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY, "--net: the interface is already started; start it once");
	nd->rx = *rx;
	r = nd->ops->start(nd, wait_ms, err);
	if (r < 0)
		return r;
	r = pthread_create(&nd->thread, NULL, run_thread, nd);
	if (r)
		return gm_fail(err, GM_STATUS_FAILURE, r, "--net: cannot start the interface's thread (%s); raise the thread limit", strerror(r));
	nd->started = true;
	return 0;
}

int gm_netdev_send(struct gm_netdev *nd, const struct iovec *iov, int iovcnt)
{
	size_t len = 0;
	int r;

	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	r = len > GM_NET_FRAME_MAX || len <= nd->vnet_hdr_len ? -EMSGSIZE : nd->ops->send(nd, iov, iovcnt, len);
	if (r < 0) {
		atomic_fetch_add_explicit(&nd->tx_drops, 1, memory_order_relaxed);
		return r;
	}
	atomic_fetch_add_explicit(&nd->tx_frames, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&nd->tx_bytes, len - nd->vnet_hdr_len, memory_order_relaxed);
	return 0;
}

int gm_netdev_inject(struct gm_netdev *nd, const uint8_t *frame, size_t len)
{
	static const uint8_t zero_hdr[16];
	struct iovec iov[2] = {
		{ .iov_base = (void *)zero_hdr, .iov_len = nd->vnet_hdr_len },
		{ .iov_base = (void *)frame, .iov_len = len },
	};

	return nd->vnet_hdr_len ? gm_netdev_send(nd, iov, 2) : gm_netdev_send(nd, iov + 1, 1);
}

bool gm_netdev_deliver(struct gm_netdev *nd, const struct iovec *iov, int iovcnt, size_t len)
{
	bool taken;

	pthread_mutex_lock(&nd->gate);
	if (nd->paused) {
		pthread_mutex_unlock(&nd->gate);
		return false;
	}
	nd->delivering = true;
	pthread_mutex_unlock(&nd->gate);

	/* no netdev lock held: the device takes its own in there */
	taken = nd->rx.receive(nd->rx.opaque, iov, iovcnt, len);

	pthread_mutex_lock(&nd->gate);
	nd->delivering = false;
	pthread_cond_broadcast(&nd->gate_cv);
	pthread_mutex_unlock(&nd->gate);
	if (taken) {
		atomic_fetch_add_explicit(&nd->rx_frames, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&nd->rx_bytes, len - nd->vnet_hdr_len, memory_order_relaxed);
	}
	return taken;
}

void gm_netdev_rx_ready(struct gm_netdev *nd)
{
	gm_net_waker_kick(&nd->wake);
}

void gm_netdev_pause(struct gm_netdev *nd)
{
	pthread_mutex_lock(&nd->gate);
	nd->paused = true;
	while (nd->delivering)
		pthread_cond_wait(&nd->gate_cv, &nd->gate);
	pthread_mutex_unlock(&nd->gate);
}

void gm_netdev_resume(struct gm_netdev *nd)
{
	pthread_mutex_lock(&nd->gate);
	nd->paused = false;
	pthread_mutex_unlock(&nd->gate);
	gm_net_waker_kick(&nd->wake);
}

void gm_netdev_counters(const struct gm_netdev *nd, struct gm_netdev_counters *c)
{
	struct gm_netdev *n = (struct gm_netdev *)nd; /* atomics' loads take no const */

	c->rx_frames = atomic_load_explicit(&n->rx_frames, memory_order_relaxed);
	c->rx_bytes = atomic_load_explicit(&n->rx_bytes, memory_order_relaxed);
	c->rx_drops = atomic_load_explicit(&n->rx_drops, memory_order_relaxed);
	c->tx_frames = atomic_load_explicit(&n->tx_frames, memory_order_relaxed);
	c->tx_bytes = atomic_load_explicit(&n->tx_bytes, memory_order_relaxed);
	c->tx_drops = atomic_load_explicit(&n->tx_drops, memory_order_relaxed);
}

void gm_netdev_close(struct gm_netdev *nd)
{
	if (!nd)
		return;
	atomic_store(&nd->stop, true);
	gm_net_waker_kick(&nd->wake);
	if (nd->started)
		pthread_join(nd->thread, NULL);
	if (nd->be)
		nd->ops->free(nd->be);
	gm_net_waker_fini(&nd->wake);
	pthread_cond_destroy(&nd->gate_cv);
	pthread_mutex_destroy(&nd->gate);
	free(nd);
}
