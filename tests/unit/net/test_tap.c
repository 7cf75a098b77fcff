/*
 * net/tap: a real tap in a network namespace of the test's own (root
 * only): frames both ways between gm_netdev and the host's stack, the
 * 12-byte vnet header, offloads reported only when the kernel took them,
 * pause/resume, a single-queue tap another process holds, and the refusal
 * a user without access sees.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../fd_count.h"
#include "frames.h"

#define HDR 12
#define TAP_IP ip4(10, 9, 0, 1)
#define GUEST_IP ip4(10, 9, 0, 2)

static const uint8_t zero_hdr[HDR];

static void enter_netns(void)
{
	if (geteuid() != 0)
		cr_skip_test("tap tests need root (CAP_NET_ADMIN) to make a network namespace and a tap");
	if (access("/dev/net/tun", R_OK | W_OK))
		cr_skip_test("/dev/net/tun is missing (modprobe tun)");
	if (unshare(CLONE_NEWNET))
		cr_skip_test("cannot make a network namespace (%s)", strerror(errno));
}

static struct gm_netdev *open_tap(const char *name, struct gm_error *err)
{
	struct gm_net_config cfg;
	struct gm_netdev *nd = NULL;
	char opt[32];

	snprintf(opt, sizeof(opt), "tap=%s", name);
	cr_assert_eq(gm_net_config_parse(opt, &cfg, err), 0);
	if (gm_netdev_open(&cfg, &nd, err))
		return NULL;
	return nd;
}

/* Up, with 10.9.0.1/24, as the user would with ip(8); returns the tap's MAC in mac. */
static void tap_up(const char *name, uint8_t mac[6])
{
	struct ifreq ifr = { 0 };
	struct sockaddr_in *sa = (struct sockaddr_in *)&ifr.ifr_addr;
	int s = socket(AF_INET, SOCK_DGRAM, 0);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = TAP_IP;
	cr_assert_eq(ioctl(s, SIOCSIFADDR, &ifr), 0, "SIOCSIFADDR: %s", strerror(errno));
	sa->sin_addr.s_addr = ip4(255, 255, 255, 0);
	cr_assert_eq(ioctl(s, SIOCSIFNETMASK, &ifr), 0);
	cr_assert_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	cr_assert_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	cr_assert_eq(ioctl(s, SIOCGIFHWADDR, &ifr), 0);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(s);
}

static struct gm_netdev *started_tap(const char *name, struct fake_rx *f, uint8_t tap_mac[6])
{
	struct gm_error err = { 0 };
	struct gm_netdev *nd;

	enter_netns();
	nd = open_tap(name, &err);
	cr_assert_not_null(nd, "open: %s", err.msg);
	cr_assert_eq(gm_netdev_vnet_hdr_len(nd), HDR);
	fake_rx_init(f);
	cr_assert_eq(gm_netdev_start(nd, &f->rx, 0, &err), 0, "start: %s", err.msg);
	tap_up(name, tap_mac);
	return nd;
}

static int send_hdr(struct gm_netdev *nd, const uint8_t *frame, size_t len)
{
	struct iovec iov[2] = { { (void *)zero_hdr, HDR }, { (void *)frame, len } };

	return gm_netdev_send(nd, iov, 2);
}

static int packet_socket(const char *name)
{
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL), .sll_ifindex = (int)if_nametoindex(name) };
	struct timeval tv = { .tv_sec = 3 };
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));

	cr_assert_geq(s, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&ll, sizeof(ll)), 0);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return s;
}

/* The next frame fake_rx got that is not IPv6 chatter of a new link; skip the vnet header. */
static size_t wait_v4(struct fake_rx *f, uint8_t *buf, int ms)
{
	size_t len;

	while ((len = fake_rx_wait(f, buf, HDR, ms)) && eth_type(buf) == 0x86dd)
		;
	return len;
}

Test(tap, frames_both_ways_with_the_vnet_header)
{
	struct fake_rx f;
	uint8_t tap_mac[6], frame[1514], got[2048];
	struct gm_netdev *nd = started_tap("gmt0", &f, tap_mac);
	int ps = packet_socket("gmt0");
	size_t len = build_arp(frame, 1, guest_mac, GUEST_IP, NULL, TAP_IP);
	ssize_t n;

	/* the guest asks who 10.9.0.1 is: the host's stack sees the frame and answers */
	cr_assert_eq(send_hdr(nd, frame, len), 0);
	do
		n = recv(ps, got, sizeof(got), 0);
	while (n > 0 && !((size_t)n == len && !memcmp(got, frame, len)));
	cr_assert_eq((size_t)n, len, "the host never saw the guest's frame");
	cr_assert_gt(wait_v4(&f, got, 3000), 0, "no ARP reply reached the guest");
	cr_assert_eq(eth_type(got), 0x0806);
	cr_assert_eq(arp_op(got), 2);
	cr_assert_eq(arp_sip(got), TAP_IP);
	cr_assert_eq(memcmp(got, guest_mac, 6), 0);
	cr_assert_eq(memcmp(got + 6, tap_mac, 6), 0);

	/* a frame written on the host side arrives whole */
	len = build_udp(frame, tap_mac, guest_mac, TAP_IP, GUEST_IP, 4242, 7, "to the guest", 12);
	cr_assert_eq(send(ps, frame, len, 0), (ssize_t)len);
	cr_assert_eq(wait_v4(&f, got, 3000), len);
	cr_assert_eq(memcmp(got, frame, len), 0);
	/* its header: no offload flags, num_buffers 1 (le16), never stale bytes */
	cr_assert_eq(memcmp(f.frames[f.next - 1], "\0\0\0\0\0\0\0\0\0\0\1\0", HDR), 0);
	close(ps);
	gm_netdev_close(nd);
}

Test(tap, guest_udp_reaches_a_host_socket)
{
	struct fake_rx f;
	uint8_t tap_mac[6], frame[1514];
	struct gm_netdev *nd = started_tap("gmt0", &f, tap_mac);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(5555), .sin_addr.s_addr = TAP_IP };
	struct timeval tv = { .tv_sec = 3 };
	struct gm_netdev_counters c;
	int us = socket(AF_INET, SOCK_DGRAM, 0);
	char got[64];
	size_t len = build_udp(frame, guest_mac, tap_mac, GUEST_IP, TAP_IP, 1234, 5555, "from the guest", 14);

	cr_assert_eq(bind(us, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(us, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(send_hdr(nd, frame, len), 0);
	cr_assert_eq(recv(us, got, sizeof(got), 0), 14, "the host socket got nothing");
	cr_assert_eq(memcmp(got, "from the guest", 14), 0);
	gm_netdev_counters(nd, &c);
	cr_assert_eq(c.tx_frames, 1);
	cr_assert_eq(c.tx_bytes, len);
	close(us);
	gm_netdev_close(nd);
}

Test(tap, offloads_only_when_the_kernel_takes_them)
{
	struct gm_error err = { 0 };
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	struct gm_netdev *nd;
	uint64_t want;
	int fd;

	enter_netns();
	/* ask the kernel the same question on a tap of our own */
	fd = open("/dev/net/tun", O_RDWR);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "probe0");
	cr_assert_eq(ioctl(fd, TUNSETIFF, &ifr), 0);
	want = ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0
	       ? (1u << 0 | 1u << 1 | 1u << 7 | 1u << 8 | 1u << 11 | 1u << 12) : 0;
	close(fd);
	nd = open_tap("gmt0", &err);
	cr_assert_not_null(nd, "%s", err.msg);
	cr_assert_eq(gm_netdev_offloads(nd), want);
	/* what a guest that took them all, then none, would set */
	cr_assert_eq(gm_netdev_set_offloads(nd, want | 1ull << 32, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_netdev_set_offloads(nd, 0, &err), 0, "%s", err.msg);
	gm_netdev_close(nd);
}

Test(tap, pause_holds_frames_and_a_full_guest_waits_for_rx_ready)
{
	struct fake_rx f;
	uint8_t tap_mac[6], frame[1514], got[2048];
	struct gm_netdev *nd = started_tap("gmt0", &f, tap_mac);
	int ps = packet_socket("gmt0");
	size_t len = build_udp(frame, tap_mac, guest_mac, TAP_IP, GUEST_IP, 4242, 7, "first", 5);

	gm_netdev_pause(nd);
	f.paused = true;
	cr_assert_eq(send(ps, frame, len, 0), (ssize_t)len);
	cr_assert_eq(wait_v4(&f, got, 400), 0, "a frame reached the guest while paused");
	pthread_mutex_lock(&f.mu);
	f.paused = false;
	pthread_mutex_unlock(&f.mu);
	cr_assert_eq(f.while_paused, 0);
	gm_netdev_resume(nd);
	cr_assert_eq(wait_v4(&f, got, 3000), len, "nothing came after resume");
	cr_assert_eq(memcmp(got, frame, len), 0);

	fake_rx_set_room(&f, false);
	len = build_udp(frame, tap_mac, guest_mac, TAP_IP, GUEST_IP, 4242, 7, "second", 6);
	cr_assert_eq(send(ps, frame, len, 0), (ssize_t)len);
	cr_assert_eq(wait_v4(&f, got, 300), 0);
	cr_assert_geq(f.refused, 1);
	fake_rx_set_room(&f, true);
	gm_netdev_rx_ready(nd);
	cr_assert_eq(wait_v4(&f, got, 3000), len, "rx_ready did not deliver the kept frame");
	cr_assert_eq(memcmp(got, frame, len), 0);
	close(ps);
	gm_netdev_close(nd);
}

/* A single-queue tap held by "the old process" of a live update. */
static int hold_single_queue(const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	int fd = open("/dev/net/tun", O_RDWR);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	cr_assert_eq(ioctl(fd, TUNSETIFF, &ifr), 0);
	cr_assert_eq(ioctl(fd, TUNSETPERSIST, 1), 0);
	return fd;
}

static void *close_later(void *fd)
{
	usleep(500 * 1000);
	close(*(int *)fd);
	return NULL;
}

Test(tap, a_held_tap_is_taken_when_let_go)
{
	struct gm_error err = { 0 };
	struct fake_rx f;
	struct gm_netdev *nd;
	pthread_t t;
	int holder;

	enter_netns();
	holder = hold_single_queue("gmt1");
	nd = open_tap("gmt1", &err);
	cr_assert_not_null(nd, "open must defer a busy tap: %s", err.msg);
	cr_assert_eq(pthread_create(&t, NULL, close_later, &holder), 0);
	fake_rx_init(&f);
	cr_assert_eq(gm_netdev_start(nd, &f.rx, GM_NET_HANDOVER_WAIT_MS, &err), 0, "%s", err.msg);
	pthread_join(t, NULL);
	gm_netdev_close(nd);
}

Test(tap, a_held_tap_is_refused_after_retrying)
{
	struct gm_error err = { 0 };
	struct fake_rx f;
	struct gm_netdev *nd;
	int holder;

	enter_netns();
	holder = hold_single_queue("gmt1");
	nd = open_tap("gmt1", &err);
	cr_assert_not_null(nd, "%s", err.msg);
	fake_rx_init(&f);
	cr_assert_lt(gm_netdev_start(nd, &f.rx, 2000, &err), 0);
	cr_assert(strstr(err.msg, "--net tap=gmt1: another process holds the tap still after 2 s;"), "%s", err.msg);
	gm_netdev_close(nd);
	/* a fresh start waits for no one */
	err = (struct gm_error){ 0 };
	nd = open_tap("gmt1", &err);
	cr_assert_not_null(nd, "%s", err.msg);
	cr_assert_lt(gm_netdev_start(nd, &f.rx, 0, &err), 0);
	cr_assert(strstr(err.msg, "--net tap=gmt1: another process holds the tap; stop it"), "%s", err.msg);
	gm_netdev_close(nd);
	close(holder);
}

Test(tap, without_access_the_remedy_is_named)
{
	struct gm_error err = { 0 };

	enter_netns();
	cr_assert_eq(setresuid(65534, 65534, 65534), 0);
	cr_assert_null(open_tap("gmt2", &err));
	cr_assert(strstr(err.msg, "--net tap=gmt2: cannot open /dev/net/tun"), "%s", err.msg);
	cr_assert(strstr(err.msg, "ip tuntap add gmt2 mode tap user 65534 multi_queue"), "%s", err.msg);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
}

Test(tap, close_leaks_no_fds)
{
	struct fake_rx f;
	uint8_t mac[6];
	int before;

	enter_netns();
	before = test_open_fds();
	gm_netdev_close(started_tap("gmt0", &f, mac));
	cr_assert_eq(test_open_fds(), before);
}
