/*
 * config/net: the --net option into a gm_net_config.
 *   user[,hostfwd=PROTO:[ADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...[,mac=MAC]
 *   tap=NAME[,mac=MAC]
 * hostfwd takes QEMU's spelling (tcp::8080-:80, udp:127.0.0.1:5555-:7) and
 * the short one (udp:5555-7).  Syntax only: whether a port is free or the
 * tap opens is the backend's business (net/).  The output is written only
 * on success.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gmvm/config.h"
#include "util/escape.h"

#define Q(s, buf) gm_escape((s), (buf), sizeof(buf))
#define NET_HINT "use user[,hostfwd=udp|tcp:[ADDR]:HOSTPORT-[10.0.2.15]:GUESTPORT][,mac=MAC] or tap=NAME[,mac=MAC]"
#define FWD_HINT "use hostfwd=udp|tcp:[ADDR]:HOSTPORT-[10.0.2.15]:GUESTPORT, e.g. hostfwd=tcp::8080-:80 or hostfwd=udp:5555-7"
#define GUEST_ADDR "10.0.2.15"

/* One item of the option, cut out (NUL-terminated) so helpers can use libc. */
struct item {
	char s[128];
};

static bool cut(const char *p, size_t n, struct item *it)
{
	if (n >= sizeof(it->s))
		return false;
	memcpy(it->s, p, n);
	it->s[n] = '\0';
	return true;
}

/* "1".."65535" only: no sign, no spaces, no 0 (QEMU's "pick one" would hide the port from the user). */
static bool parse_port(const char *s, uint16_t *out)
{
	unsigned v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > 65535)
			return false;
	}
	if (!v)
		return false;
	*out = (uint16_t)v;
	return true;
}

/*
 * "[ADDR:]PORT" (or ":PORT") split at its last ':'; *addr is "" when absent.
 * The caller's buffer is cut in place.
 */
static void split_addr(char *s, const char **addr, const char **port)
{
	char *c = strrchr(s, ':');

	if (!c) {
		*addr = "";
		*port = s;
		return;
	}
	*c = '\0';
	*addr = s;
	*port = c + 1;
}

static int parse_fwd(const char *opt, const char *val, struct gm_hostfwd *f, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT], qv[GM_ESCAPE_SHORT];
	struct item it;
	char *colon, *dash;
	const char *haddr, *hport, *gaddr, *gport;
	struct in_addr a;

	if (!cut(val, strlen(val), &it))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: hostfwd= is too long; " FWD_HINT, Q(opt, q));
	colon = strchr(it.s, ':');
	dash = strchr(it.s, '-');
	if (!colon || !dash || dash < colon)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: hostfwd=%s is not PROTO:HOSTPORT-GUESTPORT; " FWD_HINT,
			       Q(opt, q), Q(val, qv));
	*colon = '\0';
	*dash = '\0';
	/* an empty protocol is tcp, as in QEMU */
	if (!strcmp(it.s, "udp"))
		f->udp = true;
	else if (!strcmp(it.s, "tcp") || !it.s[0])
		f->udp = false;
	else
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: hostfwd protocol '%s' is unknown; use tcp or udp",
			       Q(opt, q), Q(it.s, qv));
	split_addr(colon + 1, &haddr, &hport);
	split_addr(dash + 1, &gaddr, &gport);
	/*
	 * 127.0.0.1 unless the user names an address: QEMU binds 0.0.0.0, but
	 * a guest's port should not be open to the network unasked (give
	 * 0.0.0.0 for that).
	 */
	if (!*haddr) {
		f->host_addr = htonl(INADDR_LOOPBACK);
	} else if (inet_pton(AF_INET, haddr, &a) == 1) {
		f->host_addr = a.s_addr;
	} else {
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: host address '%s' is not an IPv4 address; give one like 127.0.0.1 or 0.0.0.0, or none",
			       Q(opt, q), Q(haddr, qv));
	}
	if (!parse_port(hport, &f->host_port))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: host port '%s' is not a port; use 1 to 65535",
			       Q(opt, q), Q(hport, qv));
	if (*gaddr && strcmp(gaddr, GUEST_ADDR))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: guest address '%s' is not the guest's; leave it out or give " GUEST_ADDR,
			       Q(opt, q), Q(gaddr, qv));
	if (!parse_port(gport, &f->guest_port))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: guest port '%s' is not a port; use 1 to 65535",
			       Q(opt, q), Q(gport, qv));
	return 0;
}

static int parse_mac(const char *opt, const char *val, uint8_t mac[6], struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT], qv[GM_ESCAPE_SHORT];
	const char *p = val;

	for (int i = 0; i < 6; i++, p += 3) {
		/* two hex digits (isxdigit stops at the NUL before p[2] is read), then ':' or the end */
		if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) || p[2] != (i == 5 ? '\0' : ':'))
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: mac '%s' is not six hex bytes; write it like mac=52:54:00:12:34:56",
				       Q(opt, q), Q(val, qv));
		mac[i] = (uint8_t)strtoul((char[3]){ p[0], p[1], '\0' }, NULL, 16);
	}
	if (mac[0] & 1)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: mac %s is a multicast address; use a unicast one (lowest bit of the first byte clear), e.g. 52:54:00:12:34:56",
			       Q(opt, q), Q(val, qv));
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: mac 00:00:00:00:00:00 is no address; give a real one, e.g. 52:54:00:12:34:56",
			       Q(opt, q));
	return 0;
}

/* 1 to 15 of [A-Za-z0-9_.-], not "." or "..": what the kernel takes as an interface name, minus the oddities. */
static int parse_tap(const char *opt, const char *val, char *out, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];
	size_t n = strlen(val);

	if (!n || n > GM_TAP_NAME_MAX || !strcmp(val, ".") || !strcmp(val, ".."))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: a tap name has 1 to %d characters and is not . or ..; e.g. tap=tap0",
			       Q(opt, q), GM_TAP_NAME_MAX);
	for (const char *p = val; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '.' || *p == '-'))
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: a tap name takes only letters, digits, '_', '.' and '-'; e.g. tap=tap0",
				       Q(opt, q));
	memcpy(out, val, n + 1);
	return 0;
}

static int check_fwds(const char *opt, const struct gm_net_config *n, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];

	if (n->nfwd && n->kind != GM_NET_USER)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: hostfwd= is for user networking; a tap's guest is reached through the tap itself",
			       Q(opt, q));
	for (unsigned i = 0; i < n->nfwd; i++)
		for (unsigned j = 0; j < i; j++)
			if (n->fwd[i].udp == n->fwd[j].udp && n->fwd[i].host_port == n->fwd[j].host_port)
				return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: host port %s:%u is forwarded twice; give each host port once",
					       Q(opt, q), n->fwd[i].udp ? "udp" : "tcp", n->fwd[i].host_port);
	return 0;
}

int gm_net_config_parse(const char *opt, struct gm_net_config *out, struct gm_error *err)
{
	struct gm_net_config n = { 0 };
	char q[GM_ESCAPE_SHORT];
	bool kind_given = false;
	const char *p = opt;
	int r;

	if (!opt || !*opt)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net: empty; " NET_HINT);
	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		struct item it;
		char *val;

		if (!cut(p, len, &it))
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: an item is too long; " NET_HINT, Q(opt, q));
		val = strchr(it.s, '=');
		if (val)
			*val++ = '\0';
		r = 0;
		if (!strcmp(it.s, "user") && !val) {
			if (kind_given)
				return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: say user or tap=NAME once; one --net per interface", Q(opt, q));
			kind_given = true;
			n.kind = GM_NET_USER;
		} else if (!strcmp(it.s, "tap") && val) {
			if (kind_given)
				return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: say user or tap=NAME once; one --net per interface", Q(opt, q));
			kind_given = true;
			n.kind = GM_NET_TAP;
			r = parse_tap(opt, val, n.tap, err);
		} else if (!strcmp(it.s, "hostfwd") && val) {
			if (n.nfwd == GM_MAX_HOSTFWD)
				return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG, "--net %s: more than %d hostfwd=; forward fewer ports",
					       Q(opt, q), GM_MAX_HOSTFWD);
			r = parse_fwd(opt, val, &n.fwd[n.nfwd++], err);
		} else if (!strcmp(it.s, "mac") && val) {
			if (n.mac_given)
				return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: mac= given twice; give it once", Q(opt, q));
			n.mac_given = true;
			r = parse_mac(opt, val, n.mac, err);
		} else {
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: unknown item '%s'; " NET_HINT, Q(opt, q), Q(it.s, (char[GM_ESCAPE_SHORT]){ 0 }));
		}
		if (r)
			return r;
		p = end ? end + 1 : p + len;
	}
	if (!kind_given)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--net %s: no user or tap=NAME; " NET_HINT, Q(opt, q));
	if ((r = check_fwds(opt, &n, err)))
		return r;
	*out = n;
	return 0;
}
