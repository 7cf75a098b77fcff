/*
 * move/url: migration URLs (tcp:HOST:PORT, unix:PATH) as transport.h says,
 * checked as text only: nothing is resolved, so `gmvm run --incoming` and
 * `gmvm migrate` refuse a malformed one before anything else happens.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "move/transport.h"
#include "util/escape.h"

static int parse_port(const char *s, const char *q, uint16_t *port, struct gm_error *err)
{
	char p[GM_ESCAPE_SHORT];
	unsigned long v = 0;
	const char *c = s;

	for (; *c >= '0' && *c <= '9' && v <= 65535; c++)
		v = v * 10 + (unsigned long)(*c - '0');
	if (c == s || *c || v == 0 || v > 65535)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "'%s': the port '%s' is not a number from 1 to 65535; write tcp:HOST:PORT, e.g. tcp:192.0.2.7:4444",
			       q, gm_escape(s, p, sizeof(p)));
	*port = (uint16_t)v;
	return 0;
}

/* A host name or IPv4 literal: letters, digits, '-', '.', '_'. */
static bool host_chars_ok(const char *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '.' || c == '_'))
			return false;
	}
	return true;
}

/* An IPv6 literal, with an optional %zone (fe80::1%eth0). */
static bool is_ipv6(const char *h)
{
	char addr[INET6_ADDRSTRLEN];
	struct in6_addr a;
	size_t n = strcspn(h, "%");

	if (n >= sizeof(addr) || (h[n] == '%' && !h[n + 1]))
		return false;
	memcpy(addr, h, n);
	addr[n] = '\0';
	return inet_pton(AF_INET6, addr, &a) == 1;
}

static int parse_tcp(const char *rest, const char *q, struct gm_move_url *u, struct gm_error *err)
{
	char h[GM_ESCAPE_SHORT];
	const char *host = rest, *port;
	size_t n;

	if (*rest == '[') {
		const char *close = strchr(rest, ']');
		if (!close)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "'%s': the '[' of the IPv6 address has no ']'; write e.g. tcp:[::1]:4444", q);
		if (close[1] != ':')
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "'%s' has no port after the address; write tcp:[ADDRESS]:PORT, e.g. tcp:[::1]:4444", q);
		host = rest + 1;
		n = (size_t)(close - host);
		port = close + 2;
	} else {
		const char *colon = strrchr(rest, ':');
		if (!colon)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "'%s' has no port; write tcp:HOST:PORT, e.g. tcp:192.0.2.7:4444", q);
		n = (size_t)(colon - rest);
		port = colon + 1;
		if (memchr(rest, ':', n))
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "'%s': an IPv6 address goes in brackets, e.g. tcp:[::1]:4444", q);
	}
	if (n == 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "'%s' names no host; write tcp:HOST:PORT (tcp:0.0.0.0:PORT listens on every address)", q);
	if (n >= sizeof(u->host))
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENAMETOOLONG,
			       "'%s': the host is %zu bytes, more than a host name can be (255); check the URL", q, n);
	memcpy(u->host, host, n);
	u->host[n] = '\0';
	if (*rest == '[' ? !is_ipv6(u->host) : !host_chars_ok(u->host, n))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       *rest == '[' ? "'%s': '%s' is not an IPv6 address; brackets are only for IPv6 addresses"
					    : "'%s': '%s' is not a host name or address; write tcp:HOST:PORT, e.g. tcp:192.0.2.7:4444",
			       q, gm_escape(u->host, h, sizeof(h)));
	u->kind = GM_URL_TCP;
	return parse_port(port, q, &u->port, err);
}

static int parse_unix(const char *path, const char *q, struct gm_move_url *u, struct gm_error *err)
{
	size_t n = strlen(path);

	if (n == 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "'%s' names no socket path; write unix:PATH, e.g. unix:/tmp/gmvm-migrate.sock", q);
	if (n >= sizeof(u->path))
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENAMETOOLONG,
			       "'%s': the socket path is %zu bytes, more than the %zu a UNIX socket path can take; choose a shorter path",
			       q, n, sizeof(u->path) - 1);
	u->kind = GM_URL_UNIX;
	memcpy(u->path, path, n + 1);
	return 0;
}

int gm_move_url_parse(const char *s, struct gm_move_url *u, struct gm_error *err)
{
	char q[GM_ESCAPE_PATH];
	int r;

	memset(u, 0, sizeof(*u));
	if (!s)
		s = "";
	gm_escape(s, q, sizeof(q));
	if (strncmp(s, "tcp:", 4) == 0)
		r = parse_tcp(s + 4, q, u, err);
	else if (strncmp(s, "unix:", 5) == 0)
		r = parse_unix(s + 5, q, u, err);
	else
		r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			    "'%s' is not a migration URL; write tcp:HOST:PORT (e.g. tcp:192.0.2.7:4444) or unix:PATH", q);
	if (r < 0)
		memset(u, 0, sizeof(*u));
	return r;
}

const char *gm_move_url_format(const struct gm_move_url *u, char *buf, size_t len)
{
	char e[GM_MOVE_URL_TEXT];

	if (u->kind == GM_URL_UNIX)
		snprintf(buf, len, "unix:%s", gm_escape(u->path, e, sizeof(e)));
	else if (strchr(u->host, ':'))
		snprintf(buf, len, "tcp:[%s]:%u", gm_escape(u->host, e, sizeof(e)), u->port);
	else
		snprintf(buf, len, "tcp:%s:%u", gm_escape(u->host, e, sizeof(e)), u->port);
	return buf;
}
