/*
 * net/slirp: a real libslirp backend with a fake device: ARP and ICMP
 * answered by slirp, a UDP datagram from a host socket through hostfwd to
 * the "guest" and its echo back, pause/resume, a full guest, and ports
 * that cannot be forwarded.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../fd_count.h"
#include "frames.h"

#define GUEST_IP ip4(10, 0, 2, 15)
#define HOST_IP ip4(10, 0, 2, 2)

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* A UDP port free on 127.0.0.1 now. */
static uint16_t free_udp_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static struct gm_netdev *open_user(const char *opt, struct fake_rx *f)
{
	struct gm_net_config cfg;
	struct gm_netdev *nd;
	struct gm_error err = { 0 };

	cr_assert_eq(gm_net_config_parse(opt, &cfg, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_netdev_open(&cfg, &nd, &err), 0, "open: %s", err.msg);
	cr_assert_eq(gm_netdev_vnet_hdr_len(nd), 0);
	cr_assert_eq(gm_netdev_offloads(nd), 0);
	fake_rx_init(f);
	cr_assert_eq(gm_netdev_start(nd, &f->rx, 0, &err), 0, "start: %s", err.msg);
	return nd;
}

static int send_frame(struct gm_netdev *nd, const uint8_t *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return gm_netdev_send(nd, &iov, 1);
}

/* The next frame that is not slirp asking who 10.0.2.15 is (answered as the guest would). */
static size_t wait_not_arp(struct gm_netdev *nd, struct fake_rx *f, uint8_t *buf, int ms)
{
	size_t len;

	while ((len = fake_rx_wait(f, buf, 0, ms))) {
		uint8_t reply[1514];

		if (eth_type(buf) != 0x0806)
			return len;
		cr_assert_eq(arp_op(buf), 1, "slirp sent an ARP reply nobody asked for");
		cr_assert_eq(arp_tip(buf), GUEST_IP);
		cr_assert_eq(send_frame(nd, reply, build_arp(reply, 2, guest_mac, GUEST_IP, buf + 6, arp_sip(buf))), 0);
	}
	return 0;
}

static int host_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 5 };

	cr_assert_geq(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void host_send(int fd, uint16_t port, const char *msg)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	cr_assert_eq(sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)strlen(msg));
}

Test(slirp, answers_arp_for_the_host)
{
	struct fake_rx f;
	struct gm_netdev *nd = open_user("user", &f);
	uint8_t buf[2048];
	size_t len;

	cr_assert_eq(send_frame(nd, buf, build_arp(buf, 1, guest_mac, GUEST_IP, bcast, HOST_IP)), 0);
	len = fake_rx_wait(&f, buf, 0, 3000);
	cr_assert_geq(len, 42, "no ARP reply from slirp");
	cr_assert_eq(eth_type(buf), 0x0806);
	cr_assert_eq(arp_op(buf), 2);
	cr_assert_eq(arp_sip(buf), HOST_IP);
	cr_assert_eq(memcmp(buf, guest_mac, 6), 0, "the reply is not to the guest's MAC");
	gm_netdev_close(nd);
}

Test(slirp, answers_ping_of_the_host)
{
	struct fake_rx f;
	struct gm_netdev *nd = open_user("user", &f);
	uint8_t buf[2048], host_mac[6];
	size_t len;

	cr_assert_eq(send_frame(nd, buf, build_arp(buf, 1, guest_mac, GUEST_IP, bcast, HOST_IP)), 0);
	cr_assert_gt(fake_rx_wait(&f, buf, 0, 3000), 0);
	memcpy(host_mac, buf + 6, 6);
	cr_assert_eq(send_frame(nd, buf, build_icmp_echo(buf, guest_mac, host_mac, GUEST_IP, HOST_IP, 0x4242)), 0);
	len = wait_not_arp(nd, &f, buf, 3000);
	cr_assert_geq(len, 14 + 20 + 16, "no ICMP echo reply from slirp");
	cr_assert_eq(eth_type(buf), 0x0800);
	cr_assert_eq(ip_proto(buf), 1);
	cr_assert_eq(buf[14 + 20], 0, "ICMP type %u is not an echo reply", buf[14 + 20]);
	cr_assert_eq(memcmp(buf + 14 + 20 + 8, "gmvmping", 8), 0);
}

Test(slirp, hostfwd_udp_echo)
{
	char opt[64], got[64];
	uint16_t port = free_udp_port();
	struct fake_rx f;
	struct gm_netdev *nd;
	struct gm_netdev_counters c;
	uint8_t buf[2048], echo[2048];
	size_t len;
	int hs = host_socket();
	ssize_t n;

	snprintf(opt, sizeof(opt), "user,hostfwd=udp:%u-7", port);
	nd = open_user(opt, &f);
	host_send(hs, port, "hello guest");
	len = wait_not_arp(nd, &f, buf, 3000);
	cr_assert_gt(len, 0, "the datagram never reached the guest");
	cr_assert_eq(ip_proto(buf), 17);
	cr_assert_eq(memcmp(buf + 14 + 16, &(uint32_t){ GUEST_IP }, 4), 0, "not to 10.0.2.15");
	cr_assert_eq(buf[14 + 20 + 2] << 8 | buf[14 + 20 + 3], 7, "not to port 7");
	cr_assert_eq(memcmp(buf + 14 + 28, "hello guest", 11), 0);

	cr_assert_eq(send_frame(nd, echo, build_udp_echo(echo, buf, len)), 0);
	n = recv(hs, got, sizeof(got), 0);
	cr_assert_eq(n, 11, "the host got no echo");
	cr_assert_eq(memcmp(got, "hello guest", 11), 0);

	gm_netdev_counters(nd, &c);
	cr_assert_geq(c.rx_frames, 1);
	cr_assert_geq(c.tx_frames, 1);
	cr_assert_geq(c.tx_bytes, len);
	cr_assert_eq(c.rx_drops, 0);
	close(hs);
	gm_netdev_close(nd);
}

Test(slirp, pause_holds_frames_until_resume)
{
	char opt[64];
	uint16_t port = free_udp_port();
	struct fake_rx f;
	struct gm_netdev *nd;
	uint8_t buf[2048];
	int hs = host_socket();

	snprintf(opt, sizeof(opt), "user,hostfwd=udp:%u-7", port);
	nd = open_user(opt, &f);
	gm_netdev_pause(nd);
	f.paused = true;
	host_send(hs, port, "while paused");
	cr_assert_eq(fake_rx_wait(&f, buf, 0, 500), 0, "a frame reached the guest while paused");
	cr_assert_eq(f.while_paused, 0);
	pthread_mutex_lock(&f.mu);
	f.paused = false;
	pthread_mutex_unlock(&f.mu);
	gm_netdev_resume(nd);
	cr_assert_gt(fake_rx_wait(&f, buf, 0, 3000), 0, "nothing came after resume");
	close(hs);
	gm_netdev_close(nd);
}

Test(slirp, a_full_guest_gets_the_frame_after_rx_ready)
{
	struct fake_rx f;
	struct gm_netdev *nd = open_user("user", &f);
	uint8_t buf[2048];

	fake_rx_set_room(&f, false);
	cr_assert_eq(send_frame(nd, buf, build_arp(buf, 1, guest_mac, GUEST_IP, bcast, HOST_IP)), 0);
	cr_assert_eq(fake_rx_wait(&f, buf, 0, 300), 0);
	cr_assert_geq(f.refused, 1, "the backend never offered the reply");
	fake_rx_set_room(&f, true);
	gm_netdev_rx_ready(nd);
	cr_assert_gt(fake_rx_wait(&f, buf, 0, 3000), 0, "rx_ready did not deliver the kept frame");
	cr_assert_eq(arp_op(buf), 2);
	gm_netdev_close(nd);
}

Test(slirp, port_in_use_is_refused_after_retrying)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int holder = socket(AF_INET, SOCK_DGRAM, 0);
	struct gm_net_config cfg;
	struct gm_netdev *nd;
	struct gm_error err = { 0 };
	struct fake_rx f;
	char opt[64], want[96];
	struct timespec t0, t1;

	cr_assert_eq(bind(holder, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(holder, (struct sockaddr *)&sa, &sl), 0);
	snprintf(opt, sizeof(opt), "user,hostfwd=udp:%u-7", ntohs(sa.sin_port));
	cr_assert_eq(gm_net_config_parse(opt, &cfg, &err), 0);
	/* in use at open: maybe an update's old process, so open defers to start */
	cr_assert_eq(gm_netdev_open(&cfg, &nd, &err), 0, "%s", err.msg);
	fake_rx_init(&f);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_lt(gm_netdev_start(nd, &f.rx, 2000, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_assert_geq(t1.tv_sec - t0.tv_sec, 1, "start gave up before retrying for 2 s");
	snprintf(want, sizeof(want), "--net user,hostfwd=udp:127.0.0.1:%u: the port is still in use after 2 s", ntohs(sa.sin_port));
	cr_assert(strstr(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
	cr_assert_null(strchr(err.msg, '\n'));
	gm_netdev_close(nd);
	/* a fresh start waits for no one */
	err = (struct gm_error){ 0 };
	cr_assert_eq(gm_netdev_open(&cfg, &nd, &err), 0, "%s", err.msg);
	cr_assert_lt(gm_netdev_start(nd, &f.rx, 0, &err), 0);
	snprintf(want, sizeof(want), "--net user,hostfwd=udp:127.0.0.1:%u: the port is in use; stop what holds it", ntohs(sa.sin_port));
	cr_assert(strstr(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
	gm_netdev_close(nd);
	close(holder);
}

static void *close_later(void *fd)
{
	usleep(500 * 1000);
	close(*(int *)fd);
	return NULL;
}

Test(slirp, port_freed_during_start_is_taken)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int holder = socket(AF_INET, SOCK_DGRAM, 0), hs = host_socket();
	struct gm_net_config cfg;
	struct gm_netdev *nd;
	struct gm_error err = { 0 };
	struct fake_rx f;
	char opt[64];
	uint8_t buf[2048];
	pthread_t t;

	cr_assert_eq(bind(holder, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(holder, (struct sockaddr *)&sa, &sl), 0);
	snprintf(opt, sizeof(opt), "user,hostfwd=udp:%u-7", ntohs(sa.sin_port));
	cr_assert_eq(gm_net_config_parse(opt, &cfg, &err), 0);
	cr_assert_eq(gm_netdev_open(&cfg, &nd, &err), 0, "%s", err.msg);
	/* the "old process": lets go of the port a moment after start began */
	cr_assert_eq(pthread_create(&t, NULL, close_later, &holder), 0);
	fake_rx_init(&f);
	cr_assert_eq(gm_netdev_start(nd, &f.rx, GM_NET_HANDOVER_WAIT_MS, &err), 0, "%s", err.msg);
	host_send(hs, ntohs(sa.sin_port), "after the handover");
	cr_assert_gt(wait_not_arp(nd, &f, buf, 3000), 0, "the forwarded port does not reach the guest");
	pthread_join(t, NULL);
	close(hs);
	gm_netdev_close(nd);
}

Test(slirp, bad_host_address_is_refused_at_open)
{
	struct gm_net_config cfg;
	struct gm_netdev *nd;
	struct gm_error err = { 0 };

	/* TEST-NET-1: no address of this host */
	cr_assert_eq(gm_net_config_parse("user,hostfwd=tcp:192.0.2.1:8080-80", &cfg, &err), 0);
	cr_assert_lt(gm_netdev_open(&cfg, &nd, &err), 0);
	cr_assert_null(nd);
	cr_assert(strstr(err.msg, "--net user,hostfwd=tcp:192.0.2.1:8080: cannot bind the port"), "%s", err.msg);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
}

Test(slirp, close_leaks_no_fds)
{
	int before = test_open_fds();

	for (int i = 0; i < 3; i++) {
		struct fake_rx f;
		char opt[64];

		snprintf(opt, sizeof(opt), "user,hostfwd=udp:%u-7,hostfwd=tcp:%u-80", free_udp_port(), free_udp_port());
		gm_netdev_close(open_user(opt, &f));
	}
	cr_assert_eq(test_open_fds(), before);
}
