/*
 * net/backend: what netdev.c shares with the two backends (slirp.c, tap.c).
 * netdev.c owns the gm_netdev: the ops table, the delivery gate (pause and
 * resume), the counters and the thread's wake-up; a backend owns its host
 * side and its thread.
 *
 * Lock order: a backend's own lock (slirp's mutex) may be held while the
 * gate's is taken, never the other way; rx->receive runs with no netdev
 * lock held, so the device may take its own locks there.
 */
#ifndef GM_NET_BACKEND_H
#define GM_NET_BACKEND_H

#include <pthread.h>
#include <stdatomic.h>

#include "net/netdev.h"

struct gm_netdev_ops {
	/* Fill nd->be, nd->vnet_hdr_len, nd->offloads; nothing runs yet. */
	int (*open)(struct gm_netdev *nd, const struct gm_net_config *cfg, struct gm_error *err);
	/* Bind/attach what open deferred (nd->rx is set), retrying one another gmvm holds for wait_ms; run() starts after. */
	int (*start)(struct gm_netdev *nd, unsigned wait_ms, struct gm_error *err);
	/* The backend's thread: reads the host side until nd->stop. */
	void (*run)(struct gm_netdev *nd);
	/* One frame out; len is the sum of the iov.  0 or -errno (dropped). */
	int (*send)(struct gm_netdev *nd, const struct iovec *iov, int iovcnt, size_t len);
	int (*set_offloads)(struct gm_netdev *nd, uint64_t features, struct gm_error *err);
	/* Free a backend's be (never NULL; the thread is joined already). */
	void (*free)(void *be);
};

/* An eventfd that wakes a backend's thread; kicks between two drains cost one write. */
struct gm_net_waker {
	int fd;
	atomic_bool pending;
};

struct gm_netdev {
	const struct gm_netdev_ops *ops;
	void *be;
	struct gm_netdev_rx rx;
	unsigned vnet_hdr_len;
	uint64_t offloads;
	bool started;
	pthread_t thread;            /* running ops->run once started */
	struct gm_net_waker wake;   /* the backend thread's: rx_ready, resume, stop */
	atomic_bool stop;
	/* the gate: pause waits until no receive runs */
	pthread_mutex_t gate;
	pthread_cond_t gate_cv;
	bool paused, delivering;
	_Atomic uint64_t rx_frames, rx_bytes, rx_drops, tx_frames, tx_bytes, tx_drops;
};

extern const struct gm_netdev_ops gm_netdev_slirp_ops, gm_netdev_tap_ops;

/*
 * On the backend's thread: hand one frame to rx->receive unless paused.
 * false: not taken (paused, or the guest has no room): keep it and try
 * again when the waker fires.
 */
bool gm_netdev_deliver(struct gm_netdev *nd, const struct iovec *iov, int iovcnt, size_t len);
void gm_netdev_log(struct gm_netdev *nd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int gm_net_waker_init(struct gm_net_waker *w);
void gm_net_waker_kick(struct gm_net_waker *w);
/* Clear before looking at what the kick was for, so no kick is lost. */
void gm_net_waker_drain(struct gm_net_waker *w);
void gm_net_waker_fini(struct gm_net_waker *w);

/* Milliseconds on CLOCK_MONOTONIC (retry deadlines, slirp's clock). */
int64_t gm_net_now_ms(void);

#endif
