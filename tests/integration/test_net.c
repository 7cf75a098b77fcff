/*
 * virtio-net with user-mode networking, as a user sees it: the vnet guest
 * echoes UDP datagrams that reach it through a hostfwd port, byte for
 * byte, before and after a snapshot and restore, a migration over a unix
 * socket and a live update (of a running or a paused guest); its MAC is the one given, or one made from the
 * VM's UUID; a --net the host cannot serve is refused in one line; a
 * driver that breaks the rules does not stop the device.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "net_vm.h"

Test(net, udp_echo_through_hostfwd, .init = nv_setup, .fini = nv_teardown, .timeout = 600)
{
	struct udp u;

	start_forwarded(&u, 0);
	unsigned sent = echo_many(&u, 1);
	cr_expect_geq(sent, 13);
	expect_finished(&nv.pid, nv.f.console, nv_quit(&u), 13);
	close(u.fd);
}

Test(net, mac_given_or_from_uuid, .init = nv_setup, .fini = nv_teardown, .timeout = 600)
{
	static const char *const uuid[] = { "--uuid", "6f1c2a3e-0d4b-4c8e-9a7f-2b5d1e3c4a6f", NULL };
	char mac[18], mac2[18], console3[200];

	nv.pid = start_vnet("user,mac=52:54:00:12:34:56", NULL, nv.f.console, nv.f.out, nv.f.err);
	guest_mac(nv.f.console, mac);
	cr_expect_str_eq(mac, "52:54:00:12:34:56");
	kill_reap(&nv.pid);
	/* a console file each: a line of an earlier run must not pass for this one's */
	snprintf(console3, sizeof(console3), "%s/console3", nv.f.dir);
	nv.pid = start_vnet("user", uuid, console3, nv.f.out, nv.f.err);
	guest_mac(console3, mac);
	kill_reap(&nv.pid);
	nv.pid2 = start_vnet("user", uuid, nv.console2, nv.out2, nv.err2);
	guest_mac(nv.console2, mac2);
	kill_reap(&nv.pid2);
	cr_expect_eq(strncmp(mac, "52:54:00:", 9), 0, "a default MAC %s outside 52:54:00", mac);
	cr_expect_str_eq(mac, mac2, "the same UUID made two MACs");
}

Test(net, echo_across_snapshot_and_restore, .init = nv_setup, .fini = nv_teardown, .timeout = 900)
{
	char snap[128], body[256], con[200];
	struct udp u;

	start_forwarded(&u, 300);
	snprintf(snap, sizeof(snap), "%s/snap", nv.f.dir);
	expect_200(nv_put("vm.pause", NULL), "pause");
	snprintf(body, sizeof(body), "{\"destination_url\":\"file://%s\"}", snap);
	expect_200(nv_put("vm.snapshot", body), "snapshot");
	kill_reap(&nv.pid);

	/* another number of interfaces than the guest has: refused in one line, nothing runs */
	struct run_result r;
	run_gmvm(&r, 60, "run", "--restore", snap, "--net", "user", "--net", "user", NULL);
	cr_assert_neq(r.status, 0, "restored with a second interface:\n%s", r.out);
	cr_assert(strstr(r.err, "the saved VM has 1 network interfaces and 2 were given"), "%s", r.err);
	cr_assert_eq(count_substr(r.err, "\n"), 1, "not one line:\n%s", r.err);
	run_result_free(&r);

	/* the saved VM's hostfwd: its port is free again */
	snprintf(con, sizeof(con), "file:%s", nv.console2);
	const char *argv[] = { gmvm_bin(), "run", "--restore", snap, "--console", con, NULL };
	nv.pid2 = spawn(argv, nv.out2, nv.err2);
	nv_echo(&u, 2, 1400);
	nv_echo(&u, 3, 1);
	expect_finished(&nv.pid2, nv.console2, nv_quit(&u), 3);
	char *c = slurp(nv.console2);
	cr_expect_null(strstr(c, "vnet: up"), "the restored guest started over:\n%s", c);
	free(c);
	close(u.fd);
}

Test(net, echo_across_migration, .init = nv_setup, .fini = nv_teardown, .timeout = 900)
{
	char net2[64];
	struct udp u, u2;
	unsigned port = start_forwarded(&u, 700), port2 = free_port();

	cr_assert_neq(port, port2);

	/* the destination forwards a port of its own */
	net_arg(net2, sizeof(net2), port2);
	nv_migrate(net2);
	udp_open(&u2, port2);
	echo_many(&u2, 10);
	expect_finished(&nv.pid2, nv.console2, nv_quit(&u2), 14);
	char *c = slurp(nv.console2);
	cr_expect_null(strstr(c, "vnet: up"), "the guest started over on the destination:\n%s", c);
	free(c);
	close(u.fd);
	close(u2.fd);
}

Test(net, echo_across_live_update_on_the_same_port, .init = nv_setup, .fini = nv_teardown, .timeout = 900)
{
	struct udp u;

	start_forwarded(&u, 1000);
	nv_update();
	/* the old process let go of the port at the commit: the new one serves it */
	nv_echo_after_update(&u);
}

/*
 * Paused through the update: the new process takes the port at the COMMIT,
 * on its main thread, and the guest is resumed later from an API thread,
 * whose seccomp list has no INET socket (which starting the backend there
 * would need).
 */
Test(net, echo_across_live_update_of_a_paused_guest, .init = nv_setup, .fini = nv_teardown, .timeout = 900)
{
	struct udp u;

	start_forwarded(&u, 1000);
	expect_200(nv_put("vm.pause", NULL), "pause");
	nv_update();
	expect_200(nv_put("vm.resume", NULL), "resume in the new process");
	nv_echo_after_update(&u);
}

Test(net, a_hostfwd_port_in_use_is_refused, .init = nv_setup, .fini = nv_teardown, .timeout = 120)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	char net[64];
	struct run_result r;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	net_arg(net, sizeof(net), ntohs(a.sin_port));
	run_guest(&r, 60, "vnet", "--memory", test_memory("size=64M"), "--net", net, NULL);
	close(fd);
	cr_assert_neq(r.status, 0, "gmvm ran with its hostfwd port taken");
	cr_assert_null(strstr(r.out, "vnet: up"), "the guest ran:\n%s", r.out);
	char port[16];
	snprintf(port, sizeof(port), "%u", ntohs(a.sin_port));
	cr_assert(strstr(r.err, port), "the refusal does not name the port:\n%s", r.err);
	cr_assert_eq(count_substr(r.err, "\n"), 1, "not one line:\n%s", r.err);
	run_result_free(&r);
}

Test(net, a_tap_name_too_long_is_refused, .timeout = 60)
{
	struct run_result r;

	run_gmvm(&r, 30, "run", "--net", "tap=a-name-longer-than-ifnamsiz", "/nonexistent.elf", NULL);
	expect_error_line(&r, 2, "tap");
	run_result_free(&r);
}

Test(net, a_hostile_driver_is_refused_and_the_device_goes_on, .init = nv_setup, .fini = nv_teardown, .timeout = 300)
{
	struct run_result r;

	run_guest(&r, 240, "vnethostile", "--memory", test_memory("size=64M"), "--net", "user", NULL);
	expect_run(&r, 0, "vnethostile ok");
	cr_assert(strstr(r.out, "vnethostile: 1 ok") && strstr(r.out, "vnethostile: 2 ok") &&
		  strstr(r.out, "vnethostile: 3 ok"), "%s", r.out);
	run_result_free(&r);
}

