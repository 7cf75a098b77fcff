/*
 * virtio-net on a tap, as root in a network namespace of the test's own:
 * the host side (10.0.2.2/24 on the tap) reaches the vnet guest's
 * 10.0.2.15 by ARP and UDP; a migrated guest announces itself with a
 * gratuitous ARP on the destination's tap; a live update hands the tap
 * over and the echo goes on.  Skipped, saying why, without root or tun.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "net_vm.h"

/*
 * A network namespace of the test's own with the taps made in it (the
 * first one with 10.0.2.2/24, the host side of the guest's 10.0.2.15), or
 * a skip saying what is missing.
 */
static void tap_netns(const char *const *taps)
{
	char cmd[512];
	int fd;

	require_kvm();
	if (geteuid() != 0)
		cr_skip_test("taps need root (CAP_NET_ADMIN) to be made in a namespace of the test's own");
	fd = open("/dev/net/tun", O_RDWR);
	if (fd < 0)
		cr_skip_test("no /dev/net/tun here (%s): the kernel has no tun driver loaded", strerror(errno));
	close(fd);
	if (unshare(CLONE_NEWNET))
		cr_skip_test("cannot make a network namespace (%s)", strerror(errno));
	cr_assert_eq(system("ip link set lo up"), 0);
	for (unsigned i = 0; taps[i]; i++) {
		snprintf(cmd, sizeof(cmd), "ip tuntap add dev %s mode tap multi_queue && ip link set %s up%s%s", taps[i],
			 taps[i], i ? "" : " && ip addr add 10.0.2.2/24 dev ", i ? "" : taps[i]);
		cr_assert_eq(system(cmd), 0, "%s", cmd);
	}
}

Test(net_tap, udp_echo_over_a_tap, .init = nv_setup, .fini = nv_teardown, .timeout = 600)
{
	static const char *const taps[] = { "gmvt0", NULL };
	struct udp u;

	tap_netns(taps);
	nv.pid = start_vnet("tap=gmvt0", NULL, nv.f.console, nv.f.out, nv.f.err);
	udp_open_to(&u, 0x0a00020f, 7); /* 10.0.2.15: the kernel's ARP finds the guest on the tap */
	echo_many(&u, 1);
	expect_finished(&nv.pid, nv.f.console, nv_quit(&u), 13);
	close(u.fd);
}

Test(net_tap, echo_across_a_live_update_on_the_same_tap, .init = nv_setup, .fini = nv_teardown, .timeout = 600)
{
	static const char *const taps[] = { "gmvt0", NULL };
	struct udp u;

	tap_netns(taps);
	nv.pid = start_vnet("tap=gmvt0", NULL, nv.f.console, nv.f.out, nv.f.err);
	udp_open_to(&u, 0x0a00020f, 7);
	nv_echo(&u, 1, 1000);
	nv_update();
	/* the new process took a queue of the tap; the old one let go of its own at the commit */
	nv_echo_after_update(&u);
}

/* Whether frame (n bytes) is a gratuitous ARP from mac for 10.0.2.15. */
static bool announces(const uint8_t *fr, ssize_t n, const uint8_t mac[6])
{
	static const uint8_t ip[4] = { 10, 0, 2, 15 };

	return n >= 42 && fr[12] == 8 && fr[13] == 6 && fr[21] == 1 && !memcmp(fr + 6, mac, 6) &&
	       !memcmp(fr + 22, mac, 6) && !memcmp(fr + 28, ip, 4) && !memcmp(fr + 38, ip, 4);
}

Test(net_tap, a_migrated_guest_announces_itself_on_its_new_tap, .init = nv_setup, .fini = nv_teardown, .timeout = 600)
{
	static const char *const taps[] = { "gmvt0", "gmvt1", NULL };
	char mac_text[18];
	uint8_t mac[6], fr[2048];
	unsigned m[6];
	struct udp u;

	tap_netns(taps);
	nv.pid = start_vnet("tap=gmvt0", NULL, nv.f.console, nv.f.out, nv.f.err);
	guest_mac(nv.f.console, mac_text);
	cr_assert_eq(sscanf(mac_text, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]), 6);
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)m[i];
	/* the guest's address goes through the device: what it announces later */
	udp_open_to(&u, 0x0a00020f, 7);
	nv_echo(&u, 1, 100);

	int ps = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	cr_assert_geq(ps, 0, "AF_PACKET: %s", strerror(errno));
	struct sockaddr_ll ll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				  .sll_ifindex = (int)if_nametoindex("gmvt1") };
	cr_assert_eq(bind(ps, (struct sockaddr *)&ll, sizeof(ll)), 0, "%s", strerror(errno));

	nv_migrate("tap=gmvt1");
	for (int i = 0; i < 60; i++) {
		struct pollfd p = { .fd = ps, .events = POLLIN };
		if (poll(&p, 1, 1000) != 1)
			continue;
		ssize_t n = recv(ps, fr, sizeof(fr), 0);
		if (announces(fr, n, mac)) {
			close(ps);
			close(u.fd);
			return;
		}
		i--; /* another frame: the minute is counted in silences */
	}
	nv_dump();
	cr_assert_fail("no gratuitous ARP from %s for 10.0.2.15 on the destination's tap", mac_text);
}

