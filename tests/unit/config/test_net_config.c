/* gm_net_config_parse: every --net form and every refusal's message. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <string.h>

#include "gmvm/config.h"

static struct gm_net_config net_ok(const char *opt)
{
	struct gm_net_config n;
	struct gm_error err = { 0 };

	memset(&n, 0xa5, sizeof(n));
	cr_assert_eq(gm_net_config_parse(opt, &n, &err), 0, "'%s' refused: %s", opt, err.msg);
	cr_assert_eq(err.msg[0], '\0');
	return n;
}

static void net_bad(const char *opt, const char *msg)
{
	struct gm_net_config n, before;
	struct gm_error err = { 0 };

	memset(&n, 0x5a, sizeof(n));
	before = n;
	cr_assert_lt(gm_net_config_parse(opt, &n, &err), 0, "'%s' accepted", opt);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert(!strncmp(err.msg, "--net", 5), "'%s': message '%s' does not start with --net", opt, err.msg);
	cr_assert(strstr(err.msg, msg), "'%s': message '%s' lacks '%s'", opt, err.msg, msg);
	cr_assert_null(strchr(err.msg, '\n'));
	cr_assert_eq(memcmp(&n, &before, sizeof(n)), 0, "'%s' changed the config on failure", opt);
}

static void fwd_is(const struct gm_hostfwd *f, bool udp, const char *addr, unsigned hport, unsigned gport)
{
	cr_assert_eq(f->udp, udp);
	cr_assert_eq(f->host_addr, inet_addr(addr));
	cr_assert_eq(f->host_port, hport);
	cr_assert_eq(f->guest_port, gport);
}

Test(net_config, user_alone)
{
	struct gm_net_config n = net_ok("user");

	cr_assert_eq(n.kind, GM_NET_USER);
	cr_assert_eq(n.nfwd, 0);
	cr_assert_not(n.mac_given);
	cr_assert_eq(n.tap[0], '\0');
}

Test(net_config, hostfwd_spellings)
{
	struct gm_net_config n = net_ok("user,hostfwd=tcp::8080-:80,hostfwd=udp:127.0.0.1:5555-:7,hostfwd=udp:5556-7,"
					"hostfwd=tcp:0.0.0.0:2222-10.0.2.15:22,hostfwd=:8081-:81");

	cr_assert_eq(n.nfwd, 5);
	fwd_is(&n.fwd[0], false, "127.0.0.1", 8080, 80);
	fwd_is(&n.fwd[1], true, "127.0.0.1", 5555, 7);
	fwd_is(&n.fwd[2], true, "127.0.0.1", 5556, 7);
	fwd_is(&n.fwd[3], false, "0.0.0.0", 2222, 22);
	fwd_is(&n.fwd[4], false, "127.0.0.1", 8081, 81);
}

Test(net_config, same_port_both_protocols)
{
	struct gm_net_config n = net_ok("user,hostfwd=udp:5555-7,hostfwd=tcp:5555-7");

	cr_assert_eq(n.nfwd, 2);
}

Test(net_config, mac)
{
	struct gm_net_config n = net_ok("user,mac=52:54:00:Ab:cD:ef");
	static const uint8_t want[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

	cr_assert(n.mac_given);
	cr_assert_eq(memcmp(n.mac, want, 6), 0);
	n = net_ok("mac=02:00:00:00:00:01,user");
	cr_assert(n.mac_given);
	cr_assert_eq(n.mac[5], 1);
}

Test(net_config, tap)
{
	struct gm_net_config n = net_ok("tap=tap0");

	cr_assert_eq(n.kind, GM_NET_TAP);
	cr_assert_str_eq(n.tap, "tap0");
	n = net_ok("tap=a.b-c_D123456,mac=52:54:00:12:34:56");
	cr_assert_str_eq(n.tap, "a.b-c_D123456");
	cr_assert(n.mac_given);
	n = net_ok("tap=abcdefghijklmno");
	cr_assert_str_eq(n.tap, "abcdefghijklmno");
}

Test(net_config, refuses_kind)
{
	net_bad("", "--net: empty");
	net_bad("mac=52:54:00:12:34:56", "no user or tap=NAME");
	net_bad("bridge", "unknown item 'bridge'");
	net_bad("user=1", "unknown item 'user'");
	net_bad("user,tap=t0", "say user or tap=NAME once");
	net_bad("user,user", "say user or tap=NAME once");
	net_bad("user,,mac=52:54:00:12:34:56", "unknown item ''");
	net_bad("user,foo=bar", "unknown item 'foo'");
}

Test(net_config, refuses_tap_names)
{
	net_bad("tap=", "1 to 15 characters");
	net_bad("tap=abcdefghijklmnop", "1 to 15 characters");
	net_bad("tap=..", "is not . or ..");
	net_bad("tap=a/b", "only letters, digits");
	net_bad("tap=a:b", "only letters, digits");
	net_bad("tap=a b", "only letters, digits");
	net_bad("tap=t0,hostfwd=udp:5555-7", "hostfwd= is for user networking");
}

Test(net_config, refuses_macs)
{
	net_bad("user,mac=52:54:00:12:34", "not six hex bytes");
	net_bad("user,mac=52:54:00:12:34:56:78", "not six hex bytes");
	net_bad("user,mac=52-54-00-12-34-56", "not six hex bytes");
	net_bad("user,mac=5g:54:00:12:34:56", "not six hex bytes");
	net_bad("user,mac=01:00:5e:00:00:01", "multicast");
	net_bad("user,mac=ff:ff:ff:ff:ff:ff", "multicast");
	net_bad("user,mac=00:00:00:00:00:00", "no address");
	net_bad("user,mac=52:54:00:12:34:56,mac=52:54:00:12:34:57", "mac= given twice");
}

Test(net_config, refuses_hostfwds)
{
	net_bad("user,hostfwd=udp:5555", "not PROTO:HOSTPORT-GUESTPORT");
	net_bad("user,hostfwd=5555-7", "not PROTO:HOSTPORT-GUESTPORT");
	net_bad("user,hostfwd=sctp:5555-7", "protocol 'sctp' is unknown");
	net_bad("user,hostfwd=udp:0-7", "host port '0'");
	net_bad("user,hostfwd=udp:65536-7", "host port '65536'");
	net_bad("user,hostfwd=udp:-5-7", "host port ''");
	net_bad("user,hostfwd=udp:x-7", "host port 'x'");
	net_bad("user,hostfwd=udp:5555-", "guest port ''");
	net_bad("user,hostfwd=udp:5555-70000", "guest port '70000'");
	net_bad("user,hostfwd=udp:localhost:5555-7", "'localhost' is not an IPv4 address");
	net_bad("user,hostfwd=udp:1.2.3:5555-7", "'1.2.3' is not an IPv4 address");
	net_bad("user,hostfwd=udp:5555-10.0.2.16:7", "guest address '10.0.2.16'");
	net_bad("user,hostfwd=udp:5555-7,hostfwd=udp:127.0.0.2:5555-8", "udp:5555 is forwarded twice");
	net_bad("user,hostfwd=udp:1-7,hostfwd=udp:2-7,hostfwd=udp:3-7,hostfwd=udp:4-7,hostfwd=udp:5-7,"
		"hostfwd=udp:6-7,hostfwd=udp:7-7,hostfwd=udp:8-7,hostfwd=udp:9-7", "more than 8 hostfwd=");
}

Test(net_config, quotes_input_safely)
{
	net_bad("user,mac=\n\x1b[31m", "\\n\\x1b[31m");
}
