/*
 * Migration URLs: the accepted forms parse into their parts and format back
 * the same; anything else is refused with one line (exit status 2) that
 * quotes the URL and shows the accepted form.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "move/transport.h"

static void good(const char *s, int kind, const char *host_or_path, unsigned port)
{
	struct gm_error err = { 0 };
	struct gm_move_url u;
	char back[GM_MOVE_URL_TEXT];

	cr_assert_eq(gm_move_url_parse(s, &u, &err), 0, "%s: %s", s, err.msg);
	cr_assert_eq((int)u.kind, kind, "%s", s);
	if (kind == GM_URL_TCP) {
		cr_assert_str_eq(u.host, host_or_path, "%s", s);
		cr_assert_eq(u.port, port, "%s", s);
	} else {
		cr_assert_str_eq(u.path, host_or_path, "%s", s);
	}
	cr_assert_str_eq(gm_move_url_format(&u, back, sizeof(back)), s);
}

static void bad(const char *s, int errnum, const char *want)
{
	struct gm_error err = { 0 };
	struct gm_move_url u;

	memset(&u, 0x5a, sizeof(u));
	cr_assert_eq(gm_move_url_parse(s, &u, &err), -errnum, "%s was taken", s);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT, "%s", s);
	cr_assert_eq(err.errnum, errnum, "%s", s);
	cr_assert(strstr(err.msg, want), "%s: expected '%s' in: %s", s, want, err.msg);
	cr_assert_null(strchr(err.msg, '\n'), "%s: not one line: %s", s, err.msg);
	cr_assert_eq(u.host[0], '\0', "%s: a refused URL leaves nothing behind", s);
	cr_assert_eq(u.path[0], '\0', "%s: a refused URL leaves nothing behind", s);
}

Test(url, tcp_forms)
{
	good("tcp:127.0.0.1:4444", GM_URL_TCP, "127.0.0.1", 4444);
	good("tcp:localhost:1", GM_URL_TCP, "localhost", 1);
	good("tcp:dest-2.example.org:65535", GM_URL_TCP, "dest-2.example.org", 65535);
	good("tcp:0.0.0.0:4444", GM_URL_TCP, "0.0.0.0", 4444);
	good("tcp:[::1]:4444", GM_URL_TCP, "::1", 4444);
	good("tcp:[::]:80", GM_URL_TCP, "::", 80);
	good("tcp:[fe80::1%eth0]:4444", GM_URL_TCP, "fe80::1%eth0", 4444);
	good("tcp:[2001:db8::7]:22", GM_URL_TCP, "2001:db8::7", 22);
}

Test(url, unix_forms)
{
	char longest[5 + 107 + 1], path[108];

	good("unix:/tmp/gmvm-migrate.sock", GM_URL_UNIX, "/tmp/gmvm-migrate.sock", 0);
	good("unix:relative.sock", GM_URL_UNIX, "relative.sock", 0);
	good("unix:./a b/c:d.sock", GM_URL_UNIX, "./a b/c:d.sock", 0);
	memset(path, 'p', 107);
	path[0] = '/';
	path[107] = '\0';
	snprintf(longest, sizeof(longest), "unix:%s", path);
	good(longest, GM_URL_UNIX, path, 0);
}

Test(url, not_a_migration_url)
{
	static const char *const urls[] = { "", "http://h:80", "TCP:h:1", "file:///tmp/x", "tcp", "unix",
					    "/tmp/x.sock", "h:4444" };

	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++)
		bad(urls[i], EINVAL, "is not a migration URL; write tcp:HOST:PORT (e.g. tcp:192.0.2.7:4444) or unix:PATH");
	bad("ftp:x", EINVAL, "'ftp:x' is not a migration URL");
}

Test(url, tcp_refusals)
{
	bad("tcp:", EINVAL, "'tcp:' has no port; write tcp:HOST:PORT");
	bad("tcp:host", EINVAL, "'tcp:host' has no port; write tcp:HOST:PORT, e.g. tcp:192.0.2.7:4444");
	bad("tcp::4444", EINVAL, "'tcp::4444' names no host; write tcp:HOST:PORT (tcp:0.0.0.0:PORT listens on every address)");
	bad("tcp:[]:4444", EINVAL, "names no host");
	bad("tcp:host:", EINVAL, "'tcp:host:': the port '' is not a number from 1 to 65535");
	bad("tcp:host:0", EINVAL, "the port '0' is not a number from 1 to 65535");
	bad("tcp:host:65536", EINVAL, "the port '65536' is not a number");
	bad("tcp:host:99999999999999999999", EINVAL, "is not a number from 1 to 65535");
	bad("tcp:host:12a", EINVAL, "the port '12a' is not");
	bad("tcp:host:+1", EINVAL, "the port '+1' is not");
	bad("tcp:host:-1", EINVAL, "the port '-1' is not");
	bad("tcp:host: 1", EINVAL, "the port ' 1' is not");
	bad("tcp:::1:4444", EINVAL, "an IPv6 address goes in brackets, e.g. tcp:[::1]:4444");
	bad("tcp:2001:db8::1:4444", EINVAL, "an IPv6 address goes in brackets");
	bad("tcp:[::1", EINVAL, "the '[' of the IPv6 address has no ']'");
	bad("tcp:[::1]4444", EINVAL, "has no port after the address; write tcp:[ADDRESS]:PORT");
	bad("tcp:[::1]", EINVAL, "has no port after the address");
	bad("tcp:[example.org]:1", EINVAL, "'example.org' is not an IPv6 address; brackets are only for IPv6 addresses");
	bad("tcp:[127.0.0.1]:1", EINVAL, "is not an IPv6 address");
	bad("tcp:[fe80::1%]:1", EINVAL, "is not an IPv6 address");
	bad("tcp:a b:1", EINVAL, "'a b' is not a host name or address");
	bad("tcp:h/x:1", EINVAL, "is not a host name or address");
	bad("tcp:h\n:1", EINVAL, "'h\\n' is not a host name or address");
}

Test(url, tcp_host_too_long)
{
	char s[300], host[256];

	memset(s, 'h', sizeof(s));
	memcpy(s, "tcp:", 4);
	memcpy(s + 4 + 256, ":1", 3);
	bad(s, ENAMETOOLONG, "the host is 256 bytes, more than a host name can be (255)");
	memcpy(s + 4 + 255, ":1", 3);
	memset(host, 'h', 255);
	host[255] = '\0';
	good(s, GM_URL_TCP, host, 1);
}

Test(url, unix_refusals)
{
	char s[5 + 108 + 1];

	bad("unix:", EINVAL, "'unix:' names no socket path; write unix:PATH");
	memcpy(s, "unix:", 5);
	memset(s + 5, 'p', 108);
	s[5 + 108] = '\0';
	bad(s, ENAMETOOLONG, "the socket path is 108 bytes, more than the 107 a UNIX socket path can take; choose a shorter path");
}

Test(url, escapes_what_it_quotes)
{
	bad("tcp:h:1\x1b[2J", EINVAL, "'tcp:h:1\\x1b[2J': the port '1\\x1b[2J' is not");
	bad("bogus\nsecond line", EINVAL, "'bogus\\nsecond line' is not a migration URL");
}

Test(url, null_is_refused)
{
	bad(NULL, EINVAL, "'' is not a migration URL");
}
