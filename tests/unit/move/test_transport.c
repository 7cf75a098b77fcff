/*
 * The migration transport on real sockets, without KVM: a UNIX socket in a
 * temporary directory and TCP on loopback (port 0, then the bound port).
 * What a user would notice: the bytes arrive, a second receiver is refused,
 * the socket file is private and goes away, waits end on time, and a peer
 * that went away is named as such.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "move/transport.h"

static char dir[64];

static void make_dir(void)
{
	strcpy(dir, "/tmp/gmvm-move-XXXXXX");
	cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(transport, .init = make_dir, .fini = remove_dir, .timeout = 30);

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct gm_move_url unix_url(const char *name)
{
	struct gm_move_url u = { .kind = GM_URL_UNIX };

	snprintf(u.path, sizeof(u.path), "%s/%s", dir, name);
	return u;
}

static struct gm_move_url tcp_url(const char *host, uint16_t port)
{
	struct gm_move_url u = { .kind = GM_URL_TCP, .port = port };

	snprintf(u.host, sizeof(u.host), "%s", host);
	return u;
}

static void expect_cloexec(int fd)
{
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "fd %d is not close-on-exec", fd);
}

static void expect_blocking(int fd)
{
	cr_assert_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0, "fd %d is left non-blocking", fd);
}

static void expect_nodelay(int fd)
{
	int v = 0;
	socklen_t n = sizeof(v);

	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &n), 0);
	cr_assert(v, "fd %d has Nagle on", fd);
}

/* Listen on u, connect, accept: the two ends in *snd and *rcv. */
static void pair(const struct gm_move_url *u, struct gm_move_listener *l, int *snd, int *rcv)
{
	struct gm_error err = { 0 };
	struct gm_move_url to = *u;

	cr_assert_eq(gm_move_listen(u, l, &err), 0, "listen: %s", err.msg);
	expect_cloexec(l->fd);
	if (u->kind == GM_URL_TCP && u->port == 0) {
		int port = gm_move_bound_port(l->fd);
		cr_assert_gt(port, 0, "bound port: %s", strerror(-port));
		to.port = (uint16_t)port;
	}
	cr_assert_eq(gm_move_connect(&to, 2000, snd, &err), 0, "connect: %s", err.msg);
	cr_assert_eq(gm_move_accept(l->fd, 2000, NULL, rcv, &err), 0, "accept: %s", err.msg);
	expect_cloexec(*snd);
	expect_cloexec(*rcv);
	expect_blocking(*snd);
	expect_blocking(*rcv);
}

struct sender {
	int fd;
	const unsigned char *buf;
	size_t n;
	int r;
	struct gm_error err;
};

static void *send_thread(void *opaque)
{
	struct sender *s = opaque;

	s->r = gm_move_write_all(s->fd, s->buf, s->n, 10000, &s->err);
	return NULL;
}

/* 32 MiB through the pair: far more than any socket buffer, so both sides wait and resume. */
static void exchange(int snd, int rcv)
{
	const size_t n = 32u << 20;
	unsigned char *out = malloc(n), *in = malloc(n);
	struct sender s = { .fd = snd, .buf = out, .n = n };
	struct gm_error err = { 0 };
	pthread_t t;

	cr_assert(out && in);
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)(i * 2654435761u >> 24);
	cr_assert_eq(pthread_create(&t, NULL, send_thread, &s), 0);
	cr_assert_eq(gm_move_read_all(rcv, in, n, 10000, &err), 0, "read_all: %s", err.msg);
	pthread_join(t, NULL);
	cr_assert_eq(s.r, 0, "write_all: %s", s.err.msg);
	cr_assert(memcmp(in, out, n) == 0, "the bytes changed on the way");
	free(out);
	free(in);
}

Test(transport, unix_round_trip)
{
	struct gm_move_url u = unix_url("in.sock");
	struct gm_move_listener l;
	struct stat st;
	int snd, rcv;

	pair(&u, &l, &snd, &rcv);
	cr_assert_eq(lstat(u.path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 0777, 0600, "the socket is %o, not private", st.st_mode & 0777);
	exchange(snd, rcv);
	gm_move_unlisten(&l);
	cr_assert_eq(l.fd, -1);
	cr_assert_eq(access(u.path, F_OK), -1, "the socket path outlived the listener");
	gm_move_unlisten(&l); /* idempotent */
	close(snd);
	close(rcv);
}

Test(transport, tcp_loopback_port_0)
{
	struct gm_move_url u = tcp_url("127.0.0.1", 0);
	struct gm_move_listener l;
	int snd, rcv;

	pair(&u, &l, &snd, &rcv);
	expect_nodelay(snd);
	expect_nodelay(rcv);
	exchange(snd, rcv);
	exchange(rcv, snd);
	gm_move_unlisten(&l);
	close(snd);
	close(rcv);
}

Test(transport, tcp_ipv6_loopback)
{
	struct gm_move_url u = tcp_url("::1", 0);
	struct gm_move_listener l;
	struct gm_error err = { 0 };
	int snd, rcv, probe = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	if (probe < 0 || bind(probe, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		cr_skip_test("no IPv6 loopback here (%s)", strerror(errno));
	close(probe);
	cr_assert_eq(gm_move_url_parse("tcp:[::1]:4444", &u, &err), 0, "%s", err.msg);
	u.port = 0;
	pair(&u, &l, &snd, &rcv);
	expect_nodelay(snd);
	exchange(snd, rcv);
	gm_move_unlisten(&l);
	close(snd);
	close(rcv);
}

Test(transport, tcp_by_name_tries_every_address)
{
	/* "localhost" may resolve to ::1 first; the listener is on 127.0.0.1 only */
	struct gm_move_url u = tcp_url("127.0.0.1", 0), to = tcp_url("localhost", 0);
	struct gm_move_listener l;
	struct gm_error err = { 0 };
	int snd, rcv;

	cr_assert_eq(gm_move_listen(&u, &l, &err), 0, "%s", err.msg);
	to.port = (uint16_t)gm_move_bound_port(l.fd);
	cr_assert_eq(gm_move_connect(&to, 2000, &snd, &err), 0, "connect: %s", err.msg);
	cr_assert_eq(gm_move_accept(l.fd, 2000, NULL, &rcv, &err), 0, "accept: %s", err.msg);
	gm_move_unlisten(&l);
	close(snd);
	close(rcv);
}

Test(transport, bound_port_of_a_unix_socket)
{
	struct gm_move_url u = unix_url("p.sock");
	struct gm_move_listener l;
	struct gm_error err = { 0 };

	cr_assert_eq(gm_move_listen(&u, &l, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_move_bound_port(l.fd), -EAFNOSUPPORT);
	gm_move_unlisten(&l);
}

Test(transport, a_live_unix_socket_is_refused_a_stale_one_replaced)
{
	struct gm_move_url u = unix_url("busy.sock");
	struct gm_move_listener l1, l2;
	struct gm_error err = { 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	cr_assert_eq(gm_move_listen(&u, &l1, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_move_listen(&u, &l2, &err), -EADDRINUSE);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert(strstr(err.msg, "another process is serving the migration socket"), "%s", err.msg);
	cr_assert(strstr(err.msg, "choose another migration socket path"), "%s", err.msg);
	gm_move_unlisten(&l1);

	/* a socket file whose process died: nobody listens, it is replaced */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sa.sun_path, u.path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	gm_error_clear(&err);
	cr_assert_eq(gm_move_listen(&u, &l2, &err), 0, "a stale socket was not replaced: %s", err.msg);
	gm_move_unlisten(&l2);
}

Test(transport, unlisten_leaves_a_path_someone_else_took)
{
	struct gm_move_url u = unix_url("taken.sock");
	struct gm_move_listener l;
	struct gm_error err = { 0 };
	char moved[128];

	cr_assert_eq(gm_move_listen(&u, &l, &err), 0, "%s", err.msg);
	/* another process replaced the path (ours moved away, a new file in its place) */
	snprintf(moved, sizeof(moved), "%s/old.sock", dir);
	cr_assert_eq(rename(u.path, moved), 0);
	FILE *f = fopen(u.path, "w");
	cr_assert_not_null(f);
	fclose(f);
	gm_move_unlisten(&l);
	cr_assert_eq(access(u.path, F_OK), 0, "unlisten removed a path that was not ours");
}

Test(transport, a_busy_tcp_port_is_refused)
{
	struct gm_move_url u = tcp_url("127.0.0.1", 0);
	struct gm_move_listener l1, l2;
	struct gm_error err = { 0 };

	cr_assert_eq(gm_move_listen(&u, &l1, &err), 0, "%s", err.msg);
	u.port = (uint16_t)gm_move_bound_port(l1.fd);
	cr_assert_eq(gm_move_listen(&u, &l2, &err), -EADDRINUSE);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert(strstr(err.msg, "another process uses that port; choose another port"), "%s", err.msg);
	gm_move_unlisten(&l1);
}

Test(transport, listen_on_an_address_not_ours)
{
	/* TEST-NET-1 (RFC 5737) is nobody's address */
	struct gm_move_url u = tcp_url("192.0.2.1", 0);
	struct gm_move_listener l;
	struct gm_error err = { 0 };

	cr_assert_eq(gm_move_listen(&u, &l, &err), -EADDRNOTAVAIL);
	cr_assert(strstr(err.msg, "'192.0.2.1' is not an address of this machine; use one of its addresses or 0.0.0.0"),
		  "%s", err.msg);
}

Test(transport, accept_times_out)
{
	struct gm_move_url u = tcp_url("127.0.0.1", 0);
	struct gm_move_listener l;
	struct gm_error err = { 0 };
	int fd = 7;

	cr_assert_eq(gm_move_listen(&u, &l, &err), 0, "%s", err.msg);
	double t0 = now_s();
	cr_assert_eq(gm_move_accept(l.fd, 300, NULL, &fd, &err), -ETIMEDOUT);
	double took = now_s() - t0;
	cr_assert(took >= 0.29 && took < 2, "waited %.3f s for a 300 ms timeout", took);
	cr_assert_eq(fd, -1);
	cr_assert(strstr(err.msg, "no sender connected within 0.3 s; start gmvm migrate on the source"), "%s", err.msg);
	gm_move_unlisten(&l);
}

static void *cancel_later(void *opaque)
{
	usleep(200000);
	*(volatile int *)opaque = 1;
	return NULL;
}

Test(transport, accept_is_cancelled)
{
	struct gm_move_url u = unix_url("c.sock");
	struct gm_move_listener l;
	struct gm_error err = { 0 };
	volatile int cancel = 0;
	pthread_t t;
	int fd;

	cr_assert_eq(gm_move_listen(&u, &l, &err), 0, "%s", err.msg);
	cr_assert_eq(pthread_create(&t, NULL, cancel_later, (void *)&cancel), 0);
	double t0 = now_s();
	cr_assert_eq(gm_move_accept(l.fd, -1, &cancel, &fd, &err), -ECANCELED);
	double took = now_s() - t0;
	pthread_join(t, NULL);
	cr_assert(took >= 0.19 && took < 1.5, "cancel noticed after %.3f s", took);
	cr_assert(strstr(err.msg, "waiting for the sender was cancelled"), "%s", err.msg);
	gm_move_unlisten(&l);
}

/* A port nobody listens on: bind one, note it, close it. */
static uint16_t free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t n = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &n), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

Test(transport, connect_refused_says_nothing_listens)
{
	struct gm_move_url u = tcp_url("127.0.0.1", free_port());
	struct gm_error err = { 0 };
	char want[256];
	int fd = 7;

	cr_assert_eq(gm_move_connect(&u, 2000, &fd, &err), -ECONNREFUSED);
	cr_assert_eq(fd, -1);
	snprintf(want, sizeof(want),
		 "nothing listens at tcp:127.0.0.1:%u (127.0.0.1 refused the connection); start gmvm run --incoming tcp:127.0.0.1:%u on the destination first",
		 u.port, u.port);
	cr_assert_str_eq(err.msg, want);

	u = unix_url("nobody.sock");
	gm_error_clear(&err);
	cr_assert_eq(gm_move_connect(&u, 2000, &fd, &err), -ENOENT);
	cr_assert(strstr(err.msg, "nothing listens at unix:"), "%s", err.msg);
	cr_assert(strstr(err.msg, "(No such file or directory); start gmvm run --incoming unix:"), "%s", err.msg);
}

Test(transport, connect_to_an_unknown_name)
{
	struct gm_move_url u = tcp_url("no-such-host.invalid", 4444);
	struct gm_error err = { 0 };
	int fd;

	cr_assert_lt(gm_move_connect(&u, 2000, &fd, &err), 0);
	cr_assert(strstr(err.msg, "tcp:no-such-host.invalid:4444: cannot resolve 'no-such-host.invalid'"), "%s",
		  err.msg);
}

Test(transport, connect_times_out_on_a_full_backlog)
{
	/* a listener that never accepts: once its queue is full the kernel drops SYNs */
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t n = sizeof(sa);
	struct gm_error err = { 0 };
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[4], fd, r = 0;

	cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(lfd, 0), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sa, &n), 0);
	struct gm_move_url u = tcp_url("127.0.0.1", ntohs(sa.sin_port));
	for (int i = 0; i < 4 && r == 0; i++) {
		gm_error_clear(&err);
		r = gm_move_connect(&u, 300, &fill[i], &err);
		if (r == 0)
			continue;
		cr_assert_eq(r, -ETIMEDOUT, "%s", err.msg);
		cr_assert(strstr(err.msg, "no answer from tcp:127.0.0.1:"), "%s", err.msg);
		cr_assert(strstr(err.msg, "within 300 ms; check the address, the route and any firewall"), "%s", err.msg);
		for (int j = 0; j < i; j++)
			close(fill[j]);
	}
	if (r == 0)
		cr_skip_test("this kernel takes connections past a full backlog; no timeout to see");
	(void)fd;
	close(lfd);
}

Test(transport, read_all_from_a_peer_that_closed)
{
	struct gm_move_url u = unix_url("r.sock");
	struct gm_move_listener l;
	struct gm_error err = { 0 };
	char buf[100];
	int snd, rcv;

	pair(&u, &l, &snd, &rcv);
	cr_assert_eq(gm_move_write_all(snd, "0123456789", 10, 1000, &err), 0, "%s", err.msg);
	close(snd);
	cr_assert_eq(gm_move_read_all(rcv, buf, sizeof(buf), 2000, &err), -ECONNRESET);
	cr_assert_str_eq(err.msg, "the peer closed the connection after 10 of 100 bytes; its own messages say why");
	gm_move_unlisten(&l);
	close(rcv);
}

Test(transport, write_all_to_a_peer_that_closed)
{
	/* no SIGPIPE: the test process would die of it */
	struct gm_move_url u = tcp_url("127.0.0.1", 0);
	struct gm_move_listener l;
	struct gm_error err = { 0 };
	static char buf[8 << 20];
	int snd, rcv, r;

	pair(&u, &l, &snd, &rcv);
	close(rcv);
	r = gm_move_write_all(snd, buf, sizeof(buf), 5000, &err);
	cr_assert(r == -EPIPE || r == -ECONNRESET, "write_all: %d %s", r, err.msg);
	cr_assert(strstr(err.msg, "the peer closed the connection after "), "%s", err.msg);
	gm_move_unlisten(&l);
	close(snd);
}

Test(transport, read_all_times_out_on_a_silent_peer)
{
	struct gm_move_url u = unix_url("s.sock");
	struct gm_move_listener l;
	struct gm_error err = { 0 };
	char buf[10];
	int snd, rcv;

	pair(&u, &l, &snd, &rcv);
	cr_assert_eq(gm_move_write_all(snd, "abc", 3, 1000, &err), 0, "%s", err.msg);
	double t0 = now_s();
	cr_assert_eq(gm_move_read_all(rcv, buf, sizeof(buf), 250, &err), -ETIMEDOUT);
	double took = now_s() - t0;
	cr_assert(took >= 0.24 && took < 2, "waited %.3f s for 250 ms", took);
	cr_assert_str_eq(err.msg, "the peer sent 3 of 10 bytes in 250 ms and no more; check the network and that the peer runs");
	gm_move_unlisten(&l);
	close(snd);
	close(rcv);
}

Test(transport, write_all_times_out_on_a_peer_that_does_not_read)
{
	struct gm_move_url u = tcp_url("127.0.0.1", 0);
	struct gm_move_listener l;
	struct gm_error err = { 0 };
	const size_t n = 256u << 20;
	char *buf = calloc(1, n);
	int snd, rcv;

	cr_assert_not_null(buf);
	pair(&u, &l, &snd, &rcv);
	double t0 = now_s();
	cr_assert_eq(gm_move_write_all(snd, buf, n, 300, &err), -ETIMEDOUT, "%s", err.msg);
	double took = now_s() - t0;
	cr_assert(took >= 0.29 && took < 3, "waited %.3f s for 300 ms", took);
	cr_assert(strstr(err.msg, "the peer took "), "%s", err.msg);
	cr_assert(strstr(err.msg, " of 268435456 bytes in 300 ms and no more"), "%s", err.msg);
	free(buf);
	gm_move_unlisten(&l);
	close(snd);
	close(rcv);
}

Test(transport, zero_bytes_is_nothing_to_do)
{
	struct gm_error err = { 0 };

	/* no socket is touched for an empty transfer */
	cr_assert_eq(gm_move_write_all(-1, "", 0, 0, &err), 0);
	cr_assert_eq(gm_move_read_all(-1, NULL, 0, 0, &err), 0);
}
