/*
 * tests/integration/net_vm: see net_vm.h.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "net_vm.h"

struct net_vm nv;

/* Whether 127.0.0.1 is reachable: a UDP connect says so without sending. */
static bool loopback_up(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	bool up = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

	if (fd >= 0)
		close(fd);
	return up;
}

void nv_setup(void)
{
	/* a bare VM (the nested rig) may boot with lo down: as root, a namespace of the test's own has it up */
	if (!loopback_up() && (geteuid() != 0 || unshare(CLONE_NEWNET) || system("ip link set lo up") || !loopback_up()))
		cr_skip_test("the loopback interface is down and cannot be brought up here (ip link set lo up, as root)");

	vm_files_make(&nv.f, "gmvm-net");
	snprintf(nv.console2, sizeof(nv.console2), "%s/console2", nv.f.dir);
	snprintf(nv.err2, sizeof(nv.err2), "%s/err2", nv.f.dir);
	snprintf(nv.out2, sizeof(nv.out2), "%s/out2", nv.f.dir);
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	nv.pid = nv.pid2 = 0;
}

void nv_teardown(void)
{
	kill_reap(&nv.pid);
	kill_reap(&nv.pid2);
	vm_files_remove(&nv.f);
}

void nv_dump(void)
{
	char *e = slurp(nv.f.err), *c = slurp(nv.f.console), *e2 = slurp(nv.err2), *c2 = slurp(nv.console2);

	fprintf(stderr, "---- stderr\n%s\n---- console\n%s\n---- stderr 2\n%s\n---- console 2\n%s\n", e, c, e2, c2);
	free(e);
	free(c);
	free(e2);
	free(c2);
}

/* A UDP port nobody on 127.0.0.1 has now (the kernel's pick). */
unsigned free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	return ntohs(a.sin_port);
}

void net_arg(char *buf, size_t len, unsigned port)
{
	snprintf(buf, len, "user,hostfwd=udp:127.0.0.1:%u-:7", port);
}

/* gmvm run vnet.elf with --net net (and its API on nv.f.sock), back once the guest is up. */
pid_t start_vnet(const char *net, const char *const *extra, const char *console, const char *out,
			const char *err)
{
	char con[200];
	char *elf = guest_path("vnet");
	const char *argv[32] = { gmvm_bin(), "run", "--api-sock", nv.f.sock, "--console", con, "--memory",
				 test_memory("size=64M"), "--net", net };
	unsigned n = 10;

	require_kvm();
	snprintf(con, sizeof(con), "file:%s", console);
	for (; extra && *extra; extra++)
		argv[n++] = *extra;
	argv[n++] = elf;
	argv[n] = NULL;
	pid_t p = spawn(argv, out, err);
	if (!wait_file_has(console, " port 7\n", 300)) {
		nv_dump();
		cr_assert_fail("the vnet guest did not come up");
	}
	free(elf);
	return p;
}

void udp_open_to(struct udp *u, uint32_t addr, unsigned port)
{
	u->fd = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(u->fd, 0);
	u->to = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				      .sin_addr.s_addr = htonl(addr) };
}

void udp_open(struct udp *u, unsigned port)
{
	udp_open_to(u, INADDR_LOOPBACK, port);
}

/* The next datagram within ms milliseconds into buf: its length, or -1. */
ssize_t udp_recv(struct udp *u, uint8_t *buf, size_t max, int ms)
{
	struct pollfd p = { .fd = u->fd, .events = POLLIN };

	if (poll(&p, 1, ms) != 1)
		return -1;
	return recv(u->fd, buf, max, 0);
}

/*
 * Send a datagram of size bytes (a pattern of seq) and wait for its echo,
 * byte for byte; sent again after a silence (the first one may wait on
 * slirp's ARP for the guest, or on a destination still binding).  Echoes
 * of earlier datagrams sent twice are passed over.  How many were sent.
 */
unsigned nv_echo(struct udp *u, unsigned seq, size_t size)
{
	uint8_t want[1500], got[2048];

	for (size_t i = 0; i < size; i++)
		want[i] = (uint8_t)(seq * 31 + i * 7 + (i >> 8));
	for (unsigned tries = 1; tries <= 12; tries++) {
		cr_assert_eq(sendto(u->fd, want, size, 0, (struct sockaddr *)&u->to, sizeof(u->to)), (ssize_t)size,
			     "sendto: %s", strerror(errno));
		ssize_t n;
		while ((n = udp_recv(u, got, sizeof(got), 5000)) >= 0)
			if ((size_t)n == size && !memcmp(got, want, size))
				return tries;
	}
	nv_dump();
	cr_assert_fail("no echo of datagram %u (%zu bytes) in a minute", seq, size);
	return 0;
}

/* Sizes from 1 to 1400 bytes: how many datagrams were sent in all. */
unsigned echo_many(struct udp *u, unsigned first_seq)
{
	static const size_t sizes[] = { 1, 2, 3, 17, 64, 100, 511, 512, 999, 1024, 1200, 1399, 1400 };
	unsigned sent = 0;

	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		sent += nv_echo(u, first_seq + i, sizes[i]);
	return sent;
}

/* "quit": "bye N" back with N the datagrams the guest echoed; N. */
unsigned nv_quit(struct udp *u)
{
	uint8_t got[256];

	for (unsigned tries = 0; tries < 12; tries++) {
		cr_assert_eq(sendto(u->fd, "quit", 4, 0, (struct sockaddr *)&u->to, sizeof(u->to)), 4);
		ssize_t n;
		while ((n = udp_recv(u, got, sizeof(got) - 1, 5000)) >= 0) {
			got[n] = 0;
			if (!strncmp((char *)got, "bye ", 4))
				return (unsigned)strtoul((char *)got + 4, NULL, 10);
		}
	}
	nv_dump();
	cr_assert_fail("no \"bye\" for \"quit\"");
	return 0;
}

/* The guest of *p ended with 0 after echoing what it said "bye" to, with nothing bad seen. */
void expect_finished(pid_t *p, const char *console, unsigned echoed, unsigned at_least)
{
	char line[64];
	int st = wait_exit(*p, 120);

	if (st != 0)
		nv_dump();
	cr_assert_eq(st, 0, "the exit status of gmvm (the guest's)");
	*p = 0;
	char *c = slurp(console);
	snprintf(line, sizeof(line), "vnet: %u echoed, ", echoed);
	const char *s = strstr(c, line);
	cr_assert_not_null(s, "the guest did not say '%s':\n%s", line, c);
	cr_assert_geq(strtoul(s + strlen(line), NULL, 10), 1, "no ARP request answered:\n%s", c);
	cr_assert(strstr(c, "vnet: 0 bad ip headers, 0 bad udp lengths, 0 frames not sent"), "%s", c);
	cr_assert_geq(echoed, at_least);
	free(c);
}

/* The MAC the guest printed when it came up (the last time, in console). */
void guest_mac(const char *console, char mac[18])
{
	char *c = slurp(console);
	const char *s = strstr(c, "vnet: up mac "), *next;

	cr_assert_not_null(s, "%s", c);
	while ((next = strstr(s + 1, "vnet: up mac ")))
		s = next;
	memcpy(mac, s + 13, 17);
	mac[17] = 0;
	free(c);
}

void expect_200(struct answer a, const char *what)
{
	if (a.http != 200)
		nv_dump();
	cr_assert_eq(a.http, 200, "%s: %s", what, a.body ? json_dumps(a.body, 0) : "(no body)");
	json_decref(a.body);
}

struct answer nv_put(const char *endpoint, const char *body)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/answer.json", nv.f.dir);
	return api_put(nv.f.sock, endpoint, body, path, nv_dump);
}

/* Migrate the guest of nv.pid over a unix socket to a new `gmvm run --incoming` with --net net (nv.pid2, nv.console2). */
void nv_migrate(const char *net)
{
	char url[160], con[200], body[256];

	snprintf(url, sizeof(url), "unix:%s/mig.sock", nv.f.dir);
	snprintf(con, sizeof(con), "file:%s", nv.console2);
	const char *argv[] = { gmvm_bin(), "run", "--incoming", url, "--net", net, "--console", con, NULL };
	nv.pid2 = spawn(argv, nv.out2, nv.err2);
	for (int i = 0; i < 500 && access(url + 5, F_OK) != 0; i++)
		cr_assert_eq(wait_exit(nv.pid2, 0.02), -1, "the destination ended early:\n%s", slurp(nv.err2));
	snprintf(body, sizeof(body), "{\"destination_url\":\"%s\"}", url);
	expect_200(nv_put("vm.send-migration", body), "migration");
	cr_assert_eq(wait_exit(nv.pid, 120), 0, "the source's exit status after the migration");
	nv.pid = 0;
}

/* The guest with a hostfwd from a free port, u sending there, and one datagram of size echoed (0: none); the port. */
unsigned start_forwarded(struct udp *u, size_t size)
{
	char net[64];
	unsigned port = free_port();

	net_arg(net, sizeof(net), port);
	nv.pid = start_vnet(net, NULL, nv.f.console, nv.f.out, nv.f.err);
	udp_open(u, port);
	if (size)
		nv_echo(u, 1, size);
	return port;
}

void nv_update(void)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/answer.json", nv.f.dir);
	struct answer a = api_put(nv.f.sock, "vmm.live-update", "{}", path, nv_dump);
	if (a.http != 200)
		nv_dump();
	cr_assert_eq(a.http, 200, "update: %s", a.body ? json_dumps(a.body, 0) : "(no body)");
	pid_t newpid = (pid_t)json_integer_value(json_object_get(a.body, "pid"));
	json_decref(a.body);
	cr_assert_gt(newpid, 0);
	cr_assert_eq(wait_exit(nv.pid, 120), 0, "the old process's exit status after the update");
	nv.pid = 0;
	nv.pid2 = newpid; /* the old process's child: ours now (subreaper) */
}

void nv_echo_after_update(struct udp *u)
{
	echo_many(u, 10);
	expect_finished(&nv.pid2, nv.f.console, nv_quit(u), 14);
	char *c = slurp(nv.f.console);
	cr_expect_eq(count_substr(c, "vnet: up"), 1, "the guest started over:\n%s", c);
	free(c);
	close(u->fd);
}
