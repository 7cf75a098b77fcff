/*
 * net/slirp: user-mode networking through libslirp, one Slirp per
 * interface: the guest's network 10.0.2.0/24, the host 10.0.2.2, DNS
 * 10.0.2.3, DHCP from 10.0.2.15, no IPv6.  Needs no root and no host setup.
 *
 * libslirp is not thread-safe: every call into it holds s->mu (the vCPU's
 * slirp_input in send, the thread's fill/poll/timers).  Frames slirp makes
 * for the guest (send_packet, under s->mu, on either thread) only go into
 * a bounded queue; the thread hands them to rx->receive with no lock held,
 * so the device's locks never nest inside ours.  Lock order: s->mu, then
 * s->qmu; the gate (backend.h) is taken with neither held.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/backend.h"

#define SLIRP_MTU 1500
#define SLOT_BYTES (14 + SLIRP_MTU)  /* an Ethernet header and an MTU */
#define RXQ_LEN 256                  /* frames waiting for the guest, beyond: dropped (TCP resends) */

struct slirp_timer {
	struct slirp_timer *next;
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms;           /* -1: not armed */
};

struct rx_slot {
	uint16_t len;
	uint8_t data[SLOT_BYTES];
};

struct slirp_be {
	struct gm_netdev *nd;
	struct gm_net_config cfg;
	pthread_mutex_t mu;          /* every call into libslirp */
	Slirp *slirp;
	struct slirp_timer *timers;
	struct pollfd *pfds;         /* [0]: the waker; then what slirp_pollfds_fill asked */
	unsigned npfds, cap;
	uint8_t *txbuf;              /* a gathered frame for slirp_input, under mu */
	pthread_mutex_t qmu;         /* the queue's head/count; slots are the thread's once queued */
	struct rx_slot *q;
	unsigned qhead, qcount;
};

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct slirp_be *s = opaque;

	pthread_mutex_lock(&s->qmu);
	if (len > SLOT_BYTES || s->qcount == RXQ_LEN) {
		pthread_mutex_unlock(&s->qmu);
		atomic_fetch_add_explicit(&s->nd->rx_drops, 1, memory_order_relaxed);
		return (ssize_t)len;
	}
	struct rx_slot *slot = &s->q[(s->qhead + s->qcount) % RXQ_LEN];

	slot->len = (uint16_t)len;
	memcpy(slot->data, buf, len);
	s->qcount++;
	pthread_mutex_unlock(&s->qmu);
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	struct slirp_be *s = opaque;

	gm_netdev_log(s->nd, "virtio-net (user): the guest sent a bad frame: %s", msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct slirp_be *s = opaque;
	struct slirp_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->id = id;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = s->timers;
	s->timers = t;
	return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
	struct slirp_be *s = opaque;

	for (struct slirp_timer **p = &s->timers; *p; p = &(*p)->next)
		if (*p == timer) {
			*p = (*p)->next;
			free(timer);
			return;
		}
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	((struct slirp_timer *)timer)->expire_ms = expire_ms;
}

/* The thread polls what slirp_pollfds_fill names each round: nothing to keep. */
static void cb_register_poll_fd(int fd, void *opaque) { (void)fd; (void)opaque; }
static void cb_unregister_poll_fd(int fd, void *opaque) { (void)fd; (void)opaque; }

static void cb_notify(void *opaque)
{
	struct slirp_be *s = opaque;

	gm_net_waker_kick(&s->nd->wake);
}

static const SlirpCb callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_unregister_poll_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

static int add_poll(int fd, int events, void *opaque)
{
	struct slirp_be *s = opaque;
	short ev = 0;

	if (s->npfds == s->cap) {
		unsigned cap = s->cap * 2;
		struct pollfd *p = realloc(s->pfds, cap * sizeof(*p));

		if (!p)
			return -1; /* not polled this round; slirp asks again next round */
		s->pfds = p;
		s->cap = cap;
	}
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	s->pfds[s->npfds] = (struct pollfd){ .fd = fd, .events = ev };
	return (int)s->npfds++;
}

static int get_revents(int idx, void *opaque)
{
	struct slirp_be *s = opaque;
	short re;
	int ev = 0;

	if (idx < 1 || (unsigned)idx >= s->npfds)
		return 0;
	re = s->pfds[idx].revents;
	if (re & POLLIN)
		ev |= SLIRP_POLL_IN;
	if (re & POLLOUT)
		ev |= SLIRP_POLL_OUT;
	if (re & POLLPRI)
		ev |= SLIRP_POLL_PRI;
	if (re & (POLLERR | POLLNVAL))
		ev |= SLIRP_POLL_ERR;
	if (re & POLLHUP)
		ev |= SLIRP_POLL_HUP;
	return ev;
}

/* Under s->mu: fire what is due; a handler may free or re-arm any timer, so look again after each. */
static void fire_timers(struct slirp_be *s)
{
	for (;;) {
		int64_t now = gm_net_now_ms();
		struct slirp_timer *t;

		for (t = s->timers; t; t = t->next)
			if (t->expire_ms >= 0 && t->expire_ms <= now)
				break;
		if (!t)
			return;
		t->expire_ms = -1;
		slirp_handle_timer(s->slirp, t->id, t->cb_opaque);
	}
}

static uint32_t timers_timeout(struct slirp_be *s, uint32_t timeout)
{
	int64_t now = gm_net_now_ms();

	for (struct slirp_timer *t = s->timers; t; t = t->next)
		if (t->expire_ms >= 0)
			timeout = t->expire_ms <= now ? 0 : (uint32_t)(t->expire_ms - now) < timeout ? (uint32_t)(t->expire_ms - now) : timeout;
	return timeout;
}

/* With no lock held: hand the queued frames to the guest until it has no room. */
static void flush_queue(struct slirp_be *s)
{
	for (;;) {
		struct rx_slot *slot;

		pthread_mutex_lock(&s->qmu);
		slot = s->qcount ? &s->q[s->qhead] : NULL;
		pthread_mutex_unlock(&s->qmu);
		if (!slot)
			return;
		struct iovec iov = { .iov_base = slot->data, .iov_len = slot->len };

		if (!gm_netdev_deliver(s->nd, &iov, 1, slot->len))
			return;
		pthread_mutex_lock(&s->qmu);
		s->qhead = (s->qhead + 1) % RXQ_LEN;
		s->qcount--;
		pthread_mutex_unlock(&s->qmu);
	}
}

static void slirp_run(struct gm_netdev *nd)
{
	struct slirp_be *s = nd->be;

	pthread_mutex_lock(&s->mu);
	while (!atomic_load(&nd->stop)) {
		uint32_t timeout = UINT32_MAX;
		int n;

		s->npfds = 1;
		s->pfds[0] = (struct pollfd){ .fd = nd->wake.fd, .events = POLLIN };
		slirp_pollfds_fill(s->slirp, &timeout, add_poll, s);
		timeout = timers_timeout(s, timeout);
		pthread_mutex_unlock(&s->mu);

		n = poll(s->pfds, s->npfds, timeout == UINT32_MAX ? -1 : (int)(timeout > 60000 ? 60000 : timeout));
		if (n > 0 && s->pfds[0].revents)
			gm_net_waker_drain(&nd->wake);

		pthread_mutex_lock(&s->mu);
		slirp_pollfds_poll(s->slirp, n < 0, get_revents, s);
		fire_timers(s);
		pthread_mutex_unlock(&s->mu);

		flush_queue(s);
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
}

static const char *fwd_name(const struct gm_hostfwd *f, char *buf, size_t len)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &f->host_addr, a, sizeof(a));
	snprintf(buf, len, "%s:%s:%u", f->udp ? "udp" : "tcp", a, f->host_port);
	return buf;
}

/* Can f's host port be bound now?  0 or -errno, as slirp's own bind would see it. */
static int probe_port(const struct gm_hostfwd *f)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(f->host_port), .sin_addr.s_addr = f->host_addr };
	int fd = socket(AF_INET, (f->udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0), one = 1, r = 0;

	if (fd < 0)
		return -errno;
	/* slirp's TCP listener sets SO_REUSEADDR (a TIME_WAIT is no conflict), its UDP one does not */
	if (!f->udp)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || (!f->udp && listen(fd, 1) < 0))
		r = -errno;
	close(fd);
	return r;
}

static int fwd_fail(const struct gm_hostfwd *f, int e, unsigned waited_ms, struct gm_error *err)
{
	char name[48], in_use[40] = "in use";

	fwd_name(f, name, sizeof(name));
	if (waited_ms)
		snprintf(in_use, sizeof(in_use), "still in use after %u s", waited_ms / 1000);
	if (e == EADDRINUSE)
		return gm_fail(err, GM_STATUS_FAILURE, e, "--net user,hostfwd=%s: the port is %s; stop what holds it (ss -lnp 'sport = :%u') or forward another port",
			       name, in_use, f->host_port);
	if (e == EACCES)
		return gm_fail(err, GM_STATUS_BAD_INPUT, e, "--net user,hostfwd=%s: binding the port is not allowed (%s); use a port above 1023 or run as root",
			       name, strerror(e));
	return gm_fail(err, GM_STATUS_BAD_INPUT, e, "--net user,hostfwd=%s: cannot bind the port (%s); use an address of this host, e.g. 127.0.0.1 or 0.0.0.0",
		       name, strerror(e));
}

static void slirp_be_free(void *be)
{
	struct slirp_be *s = be;

	if (s->slirp)
		slirp_cleanup(s->slirp);
	while (s->timers) {
		struct slirp_timer *t = s->timers;

		s->timers = t->next;
		free(t);
	}
	pthread_mutex_destroy(&s->qmu);
	pthread_mutex_destroy(&s->mu);
	free(s->q);
	free(s->txbuf);
	free(s->pfds);
	free(s);
}

static int slirp_open(struct gm_netdev *nd, const struct gm_net_config *cfg, struct gm_error *err)
{
	SlirpConfig sc = {
		.version = 4,
		.in_enabled = true,
		.vnetwork.s_addr = htonl(0x0a000200),   /* 10.0.2.0 */
		.vnetmask.s_addr = htonl(0xffffff00),
		.vhost.s_addr = htonl(0x0a000202),      /* 10.0.2.2 */
		.vdhcp_start.s_addr = htonl(0x0a00020f),/* 10.0.2.15 */
		.vnameserver.s_addr = htonl(0x0a000203),/* 10.0.2.3 */
		.if_mtu = SLIRP_MTU,
		.if_mru = SLIRP_MTU,
	};
	struct slirp_be *s;

	/* a wrong port is refused before any VM exists; one in use may be an update's old process: start waits for it */
	for (unsigned i = 0; i < cfg->nfwd; i++) {
		int r = probe_port(&cfg->fwd[i]);

		if (r < 0 && r != -EADDRINUSE)
			return fwd_fail(&cfg->fwd[i], -r, 0, err);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "--net user: out of memory; free some memory");
	pthread_mutex_init(&s->mu, NULL);
	pthread_mutex_init(&s->qmu, NULL);
	s->nd = nd;
	s->cfg = *cfg;
	s->cap = 16;
	s->pfds = calloc(s->cap, sizeof(*s->pfds));
	s->q = calloc(RXQ_LEN, sizeof(*s->q));
	s->txbuf = malloc(GM_NET_FRAME_MAX);
	if (!s->pfds || !s->q || !s->txbuf) {
		slirp_be_free(s);
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "--net user: out of memory; free some memory");
	}
	s->slirp = slirp_new(&sc, &callbacks, s);
	if (!s->slirp) {
		slirp_be_free(s);
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "--net user: libslirp %s would not start; check its version (4.7 or newer)",
			       slirp_version_string());
	}
	nd->be = s;
	nd->vnet_hdr_len = 0;
	nd->offloads = 0;
	return 0;
}

static int add_fwds(struct slirp_be *s, unsigned wait_ms, struct gm_error *err)
{
	int64_t deadline = gm_net_now_ms() + wait_ms;
	struct in_addr guest = { .s_addr = htonl(0x0a00020f) };

	for (unsigned i = 0; i < s->cfg.nfwd; i++) {
		const struct gm_hostfwd *f = &s->cfg.fwd[i];
		struct in_addr host = { .s_addr = f->host_addr };

		for (;;) {
			int e, r;

			/* under mu: a live update's new process starts here with its vCPUs already sending */
			pthread_mutex_lock(&s->mu);
			r = slirp_add_hostfwd(s->slirp, f->udp, host, f->host_port, guest, f->guest_port);
			pthread_mutex_unlock(&s->mu);
			if (r == 0)
				break;
			/* slirp's errno is not reliable after its cleanup: ask the port itself */
			e = -probe_port(f);
			if (e == EADDRINUSE && gm_net_now_ms() < deadline) {
				nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000000 }, NULL);
				continue;
			}
			return fwd_fail(f, e ? e : EADDRINUSE, wait_ms, err);
		}
	}
	return 0;
}

static int slirp_start(struct gm_netdev *nd, unsigned wait_ms, struct gm_error *err)
{
	/* no thread yet, but vCPUs may already send (a live update's deferred start): add_fwds locks */
	return add_fwds(nd->be, wait_ms, err);
}

static int slirp_send(struct gm_netdev *nd, const struct iovec *iov, int iovcnt, size_t len)
{
	struct slirp_be *s = nd->be;
	const uint8_t *frame = iov[0].iov_base;

	pthread_mutex_lock(&s->mu);
	if (iovcnt > 1) {
		size_t off = 0;

		for (int i = 0; i < iovcnt; i++) {
			memcpy(s->txbuf + off, iov[i].iov_base, iov[i].iov_len);
			off += iov[i].iov_len;
		}
		frame = s->txbuf;
	}
	slirp_input(s->slirp, frame, (int)len);
	pthread_mutex_unlock(&s->mu);
	/*
	 * Always wake the thread: slirp may have queued replies (ours or its
	 * own if-queue, which only slirp_pollfds_poll drains: a frame held for
	 * an ARP answer expires after 1 s), opened sockets or armed timers the
	 * thread's poll() does not know yet.  Kicks coalesce until it runs.
	 */
	gm_net_waker_kick(&nd->wake);
	return 0;
}

const struct gm_netdev_ops gm_netdev_slirp_ops = {
	.open = slirp_open,
	.start = slirp_start,
	.run = slirp_run,
	.send = slirp_send,
	.free = slirp_be_free,
};
