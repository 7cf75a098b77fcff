/* move/transport: the sockets of a migration; see transport.h (URLs: url.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "move/transport.h"
#include "util/escape.h"

/* What we ask for each socket's buffer: several ms of a fast link in flight. */
#define SOCKBUF_BYTES (8 << 20)
/*
 * A sender opens its parallel connections one after another, before the
 * receiver accepts them: room for all of them (a TCP SYN dropped for a
 * full queue costs a second's retry).
 */
#define LISTEN_BACKLOG 16
/* How often gm_move_accept looks at its cancel flag. */
#define CANCEL_POLL_MS 100

/* ---- deadlines and socket options ------------------------------------------ */

/* A deadline in ms on CLOCK_MONOTONIC, -1 for none. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_in(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* ms left before deadline for poll(): -1 for none, 0 once it passed. */
static int left_ms(int64_t deadline)
{
	if (deadline < 0)
		return -1;
	int64_t left = deadline - now_ms();
	return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Wait until fd is ready for events (or in error: the next call says which), or -ETIMEDOUT. */
static int wait_for(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int left = left_ms(deadline);
		int n = poll(&p, 1, left);

		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n == 0 && left == 0)
			return -ETIMEDOUT;
	}
}

static long sysctl_long(const char *path)
{
	char buf[32] = "";
	FILE *f = fopen(path, "re");
	long v = -1;

	if (f) {
		if (fgets(buf, sizeof(buf), f))
			v = strtol(buf, NULL, 10);
		fclose(f);
	}
	return v;
}

/*
 * Ask for SOCKBUF_BYTES of send or receive buffer.  A UNIX socket's stays
 * at the small default otherwise, so always.  TCP grows its own up to
 * tcp_wmem/tcp_rmem's maximum (4-6 MiB) and setting SO_SNDBUF turns that
 * off while net.core.[wr]mem_max caps what may be set (208 KiB unless an
 * admin raised it): set it only when the cap lets it be larger.  Before
 * listen()/connect(), so TCP's window scale is chosen for it.
 */
static void grow_buffer(int fd, bool tcp, bool send)
{
	int want = SOCKBUF_BYTES;

	if (tcp && sysctl_long(send ? "/proc/sys/net/core/wmem_max" : "/proc/sys/net/core/rmem_max") < want)
		return;
	(void)setsockopt(fd, SOL_SOCKET, send ? SO_SNDBUF : SO_RCVBUF, &want, sizeof(want));
}

/* Pages go out in big writes; small ones (the acknowledgement) must not wait for Nagle. */
static void no_delay(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int set_blocking(int fd, bool blocking)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, blocking ? fl & ~O_NONBLOCK : fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static bool is_tcp_socket(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
	       (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
}

/* ---- the sender: connect ---------------------------------------------------- */

/* One address: 0 with a blocking socket in *fd, or -errno. */
static int connect_one(const struct sockaddr *sa, socklen_t len, bool tcp, int64_t deadline, int *fd)
{
	int s = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r = 0;

	if (s < 0)
		return -errno;
	if (tcp)
		no_delay(s);
	grow_buffer(s, tcp, true);
	while (connect(s, sa, len) < 0) {
		if (errno == EINPROGRESS || errno == EINTR) {
			/* an interrupted connect goes on in the background: wait for it the same way */
			int soerr = 0;
			socklen_t n = sizeof(soerr);

			r = wait_for(s, POLLOUT, deadline);
			if (!r && getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &n) < 0)
				r = -errno;
			else if (!r)
				r = -soerr;
			break;
		}
		if (errno == EAGAIN && !tcp && left_ms(deadline) != 0) {
			/* a UNIX listener's backlog is full: it is there, just busy */
			usleep(10000);
			continue;
		}
		r = errno == EAGAIN ? -ETIMEDOUT : -errno;
		break;
	}
	if (!r)
		r = set_blocking(s, true);
	if (r < 0) {
		close(s);
		return r;
	}
	*fd = s;
	return 0;
}

static int connect_unix(const struct gm_move_url *u, int timeout_ms, int *fd, struct gm_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char url[GM_MOVE_URL_TEXT];
	int r;

	gm_move_url_format(u, url, sizeof(url));
	memcpy(sa.sun_path, u->path, sizeof(sa.sun_path) - 1);
	r = connect_one((struct sockaddr *)&sa, sizeof(sa), false, deadline_in(timeout_ms), fd);
	if (r == -ENOENT || r == -ECONNREFUSED)
		return gm_fail(err, GM_STATUS_FAILURE, -r,
			       "nothing listens at %s (%s); start gmvm run --incoming %s on the destination first", url,
			       strerror(-r), url);
	if (r == -ETIMEDOUT)
		return gm_fail(err, GM_STATUS_FAILURE, ETIMEDOUT,
			       "%s did not take the connection within %d ms; is the destination stopped or busy?", url,
			       timeout_ms);
	if (r < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -r, "cannot connect to %s: %s; check the path and its permissions",
			       url, strerror(-r));
	return 0;
}

static void addr_text(const struct addrinfo *ai, char *buf, size_t len)
{
	const void *a = ai->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
						  : (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr;

	if (!inet_ntop(ai->ai_family, a, buf, (socklen_t)len))
		snprintf(buf, len, "?");
}

/* getaddrinfo's refusal as one line; -errno. */
static int resolve_failed(const char *url, const char *host, int gai, struct gm_error *err)
{
	char h[GM_ESCAPE_SHORT];

	gm_escape(host, h, sizeof(h));
	if (gai == EAI_NONAME || gai == EAI_FAIL || gai == EAI_NODATA)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EHOSTUNREACH, "%s: cannot resolve '%s' (%s); check the host name",
			       url, h, gai_strerror(gai));
	return gm_fail(err, GM_STATUS_FAILURE, gai == EAI_SYSTEM ? errno : EAGAIN,
		       "%s: cannot resolve '%s' (%s); check the name service and retry", url, h, gai_strerror(gai));
}

static int connect_tcp(const struct gm_move_url *u, int timeout_ms, int *fd, struct gm_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *list, *ai;
	char url[GM_MOVE_URL_TEXT], port[8], where[INET6_ADDRSTRLEN] = "?";
	int64_t deadline = deadline_in(timeout_ms);
	int r = -EHOSTUNREACH, gai;

	gm_move_url_format(u, url, sizeof(url));
	snprintf(port, sizeof(port), "%u", u->port);
	gai = getaddrinfo(u->host, port, &hints, &list);
	if (gai)
		return resolve_failed(url, u->host, gai, err);
	/* every address in turn: a name may resolve to ::1 first while the destination listens on 127.0.0.1 */
	for (ai = list; ai; ai = ai->ai_next) {
		r = connect_one(ai->ai_addr, ai->ai_addrlen, true, deadline, fd);
		addr_text(ai, where, sizeof(where));
		if (!r || r == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(list);
	if (r == -ECONNREFUSED)
		return gm_fail(err, GM_STATUS_FAILURE, ECONNREFUSED,
			       "nothing listens at %s (%s refused the connection); start gmvm run --incoming %s on the destination first",
			       url, where, url);
	if (r == -ETIMEDOUT)
		return gm_fail(err, GM_STATUS_FAILURE, ETIMEDOUT,
			       "no answer from %s (%s) within %d ms; check the address, the route and any firewall", url,
			       where, timeout_ms);
	if (r < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -r, "cannot connect to %s (%s): %s; check the address and the network",
			       url, where, strerror(-r));
	return 0;
}

int gm_move_connect(const struct gm_move_url *u, int timeout_ms, int *fd, struct gm_error *err)
{
	*fd = -1;
	return u->kind == GM_URL_UNIX ? connect_unix(u, timeout_ms, fd, err) : connect_tcp(u, timeout_ms, fd, err);
}

/* ---- the receiver: listen and accept one ------------------------------------ */

static int listen_failed(const char *url, const struct gm_move_url *u, int e, struct gm_error *err)
{
	char h[GM_ESCAPE_SHORT];

	if (e == EADDRINUSE)
		return gm_fail(err, GM_STATUS_BAD_INPUT, e,
			       "cannot listen at %s: another process uses that port; choose another port or stop it", url);
	if (e == EADDRNOTAVAIL)
		return gm_fail(err, GM_STATUS_BAD_INPUT, e,
			       "cannot listen at %s: '%s' is not an address of this machine; use one of its addresses or 0.0.0.0",
			       url, gm_escape(u->host, h, sizeof(h)));
	if (e == EACCES)
		return gm_fail(err, GM_STATUS_BAD_INPUT, e,
			       "cannot listen at %s: %s; ports below 1024 need privileges, choose a higher one", url,
			       strerror(e));
	return gm_fail(err, GM_STATUS_FAILURE, e, "cannot listen at %s: %s; check the address", url, strerror(e));
}

static int listen_tcp(const struct gm_move_url *u, struct gm_move_listener *l, struct gm_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *list, *ai;
	char url[GM_MOVE_URL_TEXT], port[8];
	int one = 1, e = EADDRNOTAVAIL, gai;

	gm_move_url_format(u, url, sizeof(url));
	snprintf(port, sizeof(port), "%u", u->port);
	gai = getaddrinfo(u->host, port, &hints, &list);
	if (gai)
		return resolve_failed(url, u->host, gai, err);
	for (ai = list; ai && l->fd < 0; ai = ai->ai_next) {
		int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (s < 0) {
			e = errno;
			continue;
		}
		/* a destination restarted on the same port must not wait out TIME_WAIT */
		(void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		grow_buffer(s, true, false); /* accepted sockets inherit it */
		if (bind(s, ai->ai_addr, ai->ai_addrlen) == 0 && listen(s, LISTEN_BACKLOG) == 0) {
			l->fd = s;
			break;
		}
		e = errno;
		close(s);
	}
	freeaddrinfo(list);
	return l->fd < 0 ? listen_failed(url, u, e, err) : 0;
}

int gm_move_listen(const struct gm_move_url *u, struct gm_move_listener *l, struct gm_error *err)
{
	int r;

	*l = (struct gm_move_listener){ .fd = -1, .u = { .fd = -1 } };
	if (u->kind == GM_URL_UNIX) {
		r = gm_unix_listen(u->path, "migration socket", LISTEN_BACKLOG, &l->u, err);
		if (r < 0)
			return r;
		l->fd = l->u.fd;
	} else {
		r = listen_tcp(u, l, err);
		if (r < 0)
			return r;
	}
	/* accept() after poll() must not block when the connection went away in between */
	r = set_blocking(l->fd, false);
	if (r < 0) {
		gm_move_unlisten(l);
		return gm_fail(err, GM_STATUS_FAILURE, -r, "cannot set up the migration socket: %s", strerror(-r));
	}
	return 0;
}

int gm_move_bound_port(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(lfd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -EAFNOSUPPORT;
}

int gm_move_accept(int lfd, int timeout_ms, const volatile int *cancel, int *fd, struct gm_error *err)
{
	int64_t deadline = deadline_in(timeout_ms);

	*fd = -1;
	for (;;) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int left, slice, n, c;

		if (cancel && *cancel)
			return gm_fail(err, GM_STATUS_FAILURE, ECANCELED, "waiting for the sender was cancelled");
		left = left_ms(deadline);
		slice = cancel && (left < 0 || left > CANCEL_POLL_MS) ? CANCEL_POLL_MS : left;
		n = poll(&p, 1, slice);
		if (n < 0 && errno != EINTR)
			return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot wait for the sender: %s", strerror(errno));
		if (n > 0) {
			c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0) {
				if (is_tcp_socket(c))
					no_delay(c);
				grow_buffer(c, is_tcp_socket(c), false);
				*fd = c;
				return 0;
			}
			/* the sender gave up between poll and accept: wait for the next */
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot accept the sender's connection: %s; check the process's fd limit",
					       strerror(errno));
		}
		if (left == 0 && n <= 0)
			return gm_fail(err, GM_STATUS_FAILURE, ETIMEDOUT,
				       "no sender connected within %.1f s; start gmvm migrate on the source sooner or allow more time (--incoming-timeout)",
				       timeout_ms / 1000.0);
	}
}

void gm_move_unlisten(struct gm_move_listener *l)
{
	gm_unix_unlink(&l->u);
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->u.fd = -1;
}

/* ---- whole transfers ---------------------------------------------------------- */

static int peer_closed(int e, size_t done, size_t n, struct gm_error *err)
{
	return gm_fail(err, GM_STATUS_FAILURE, e,
		       "the peer closed the connection after %zu of %zu bytes; its own messages say why", done, n);
}

int gm_move_write_all(int fd, const void *p, size_t n, int timeout_ms, struct gm_error *err)
{
	int64_t deadline = deadline_in(timeout_ms);
	const char *b = p;
	size_t done = 0;

	while (done < n) {
		ssize_t k = send(fd, b + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		int r;

		if (k > 0) {
			done += (size_t)k;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EPIPE || errno == ECONNRESET)
			return peer_closed(errno, done, n, err);
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot send to the peer: %s; check the network",
				       strerror(errno));
		r = wait_for(fd, POLLOUT, deadline);
		if (r == -ETIMEDOUT)
			return gm_fail(err, GM_STATUS_FAILURE, ETIMEDOUT,
				       "the peer took %zu of %zu bytes in %d ms and no more; check the network and that the peer runs",
				       done, n, timeout_ms);
		if (r < 0)
			return gm_fail(err, GM_STATUS_FAILURE, -r, "cannot wait for the connection: %s", strerror(-r));
	}
	return 0;
}

int gm_move_read_all(int fd, void *p, size_t n, int timeout_ms, struct gm_error *err)
{
	int64_t deadline = deadline_in(timeout_ms);
	char *b = p;
	size_t done = 0;

	while (done < n) {
		ssize_t k = recv(fd, b + done, n - done, MSG_DONTWAIT);
		int r;

		if (k > 0) {
			done += (size_t)k;
			continue;
		}
		if (k == 0)
			return peer_closed(ECONNRESET, done, n, err);
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET || errno == EPIPE)
			return peer_closed(errno, done, n, err);
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot receive from the peer: %s; check the network",
				       strerror(errno));
		r = wait_for(fd, POLLIN, deadline);
		if (r == -ETIMEDOUT)
			return gm_fail(err, GM_STATUS_FAILURE, ETIMEDOUT,
				       "the peer sent %zu of %zu bytes in %d ms and no more; check the network and that the peer runs",
				       done, n, timeout_ms);
		if (r < 0)
			return gm_fail(err, GM_STATUS_FAILURE, -r, "cannot wait for the connection: %s", strerror(-r));
	}
	return 0;
}
