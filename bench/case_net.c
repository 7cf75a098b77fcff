/*
 * bench/case_net: case 13 (`--case net`), UDP through user-mode networking:
 * gmvm's `--net user` (libslirp) next to QEMU 7.2 microvm's `-netdev user`
 * (the same libslirp) with virtio-net-device on modern virtio-mmio, both
 * running the `vnet` guest (guests/vnet.c: answers ARP, echoes every UDP
 * datagram to its port 7, "quit" ends it).  The bench is the other end: a
 * UDP socket on 127.0.0.1 talking to the VMM's hostfwd port, so every
 * datagram goes host socket -> slirp -> virtio-net -> guest and back.
 *
 * Per run: round trips one datagram at a time (GMVM_BENCH_NET_RTT_N,
 * default 2000, 64-byte payloads: median and p99), then a window of
 * GMVM_BENCH_NET_WINDOW (default 32) outstanding 1400-byte datagrams for
 * GMVM_BENCH_NET_MS (default 2000) ms: echoed MB/s, datagrams/s and how
 * many never came back.  Each datagram carries a sequence number; an echo
 * is counted once and only when its bytes are what was sent.
 *
 * QEMU microvm lists its virtio-mmio transports on the kernel command line
 * only with acpi=off, so the QEMU side names the transport itself as case
 * 11 does (the last of 24, 0xfeb02e00, IRQ 47; the guest polls).
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "background.h"
#include "bench.h"

#define QEMU_MMIO_ENTRY "virtio_mmio.device=512@0xfeb02e00:47"
#define GUEST_PORT 7
#define RTT_BYTES 64
#define BULK_BYTES 1400
#define READY "vnet: up"
#define START_TIMEOUT_MS 30000	/* until the guest says it is up (times timeout_scale) */
#define FIRST_ECHO_MS 10000	/* until the first echo: slirp's ARP for the guest comes first */
#define ECHO_TIMEOUT_MS 1000	/* one round trip given up as lost */
#define STALL_MS 200		/* bulk: nothing back for this long refills the window */
#define DRAIN_MS 300		/* bulk: late echoes still counted as arrived (not as throughput) */
#define END_TIMEOUT_MS 10000	/* from "quit" to the VMM gone */

enum { S_GMVM, S_QEMU };
enum { M_RTT_MED, M_RTT_P99, M_MBS, M_PPS, M_LOST };

static long rtt_n, bulk_ms, window;
static char about[2048];

/* A UDP port on 127.0.0.1 free right now (the VMM binds it a moment later); 0 when none. */
static uint16_t free_udp_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint16_t port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* The payload of datagram seq: the number, then bytes that depend on it. */
static void fill(uint8_t *buf, size_t len, uint64_t seq)
{
	memcpy(buf, &seq, 8);
	for (size_t i = 8; i < len; i++)
		buf[i] = (uint8_t)(seq * 31 + i);
}

/* The sequence number of an echo whose bytes are those fill() made for it; UINT64_MAX otherwise. */
static uint64_t check(const uint8_t *buf, ssize_t n, size_t len)
{
	uint64_t seq;

	if (n != (ssize_t)len)
		return UINT64_MAX;
	memcpy(&seq, buf, 8);
	for (size_t i = 8; i < len; i++)
		if (buf[i] != (uint8_t)(seq * 31 + i))
			return UINT64_MAX;
	return seq;
}

/* Waits up to ms for a datagram on fd; its length, 0 on timeout, -1 with errno. */
static ssize_t recv_wait(int fd, uint8_t *buf, size_t cap, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r = poll(&p, 1, ms);

	if (r <= 0)
		return r;
	return recv(fd, buf, cap, MSG_DONTWAIT);
}

/* The bench's socket, connected to the VMM's hostfwd port: only its echoes come back to it. */
static int open_socket(uint16_t port, char *why, size_t whylen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int buf = 1 << 20;

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		snprintf(why, whylen, "cannot open a UDP socket to 127.0.0.1:%u: %s%s", port, strerror(e),
			 e == ENETUNREACH ? "; the loopback interface is down: ip link set lo up" : "");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	return fd;
}

/* Sends datagram 0 until it comes back: slirp has then learnt the guest's MAC. */
static int first_echo(int fd, int scale, char *why, size_t whylen)
{
	uint8_t out[RTT_BYTES], in[2048];
	double deadline = bg_now_us() + FIRST_ECHO_MS * 1e3 * scale;

	fill(out, sizeof(out), 0);
	while (bg_now_us() < deadline) {
		/* ECONNREFUSED: the VMM's port was not bound yet; try again */
		send(fd, out, sizeof(out), 0);
		ssize_t n = recv_wait(fd, in, sizeof(in), 100 * scale);

		if (n > 0 && check(in, n, sizeof(out)) == 0)
			return 0;
	}
	snprintf(why, whylen, "no echo of a first datagram within %d ms (is the guest's port %d forwarded?)",
		 FIRST_ECHO_MS * scale, GUEST_PORT);
	return -1;
}

/* rtt_n round trips, one at a time: median and p99 in us, and how many were lost. */
static int measure_rtt(int fd, int scale, double *out, long *lost, char *why, size_t whylen)
{
	uint8_t buf[RTT_BYTES], in[2048];
	double *t = malloc((size_t)rtt_n * sizeof(*t));
	long got = 0;

	if (!t) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	for (long i = 0; i < rtt_n; i++) {
		uint64_t seq = (uint64_t)i + 1;

		fill(buf, sizeof(buf), seq);
		double t0 = bg_now_us(), deadline = t0 + ECHO_TIMEOUT_MS * 1e3 * scale;

		if (send(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf)) {
			snprintf(why, whylen, "send to the VMM's port failed: %s", strerror(errno));
			free(t);
			return -1;
		}
		for (;;) {
			double left = deadline - bg_now_us();
			ssize_t n = left > 0 ? recv_wait(fd, in, sizeof(in), (int)(left / 1e3) + 1) : 0;

			if (n <= 0) {
				(*lost)++;
				break;
			}
			/* a late echo of an earlier datagram is not this one's */
			if (check(in, n, sizeof(buf)) == seq) {
				t[got++] = bg_now_us() - t0;
				break;
			}
		}
	}
	if (got < rtt_n / 2) {
		snprintf(why, whylen, "%ld of %ld round trips lost", rtt_n - got, rtt_n);
		free(t);
		return -1;
	}
	out[M_RTT_MED] = stats_median(t, (size_t)got);
	out[M_RTT_P99] = stats_percentile(t, (size_t)got, 99);
	free(t);
	return 0;
}

/* Bulk: the window's bookkeeping, by sequence number (from 0 at the phase's base). */
struct window {
	uint8_t *seen;		/* seen[s]: datagram s came back */
	uint64_t cap, sent, back, oldest;	/* oldest: the first not back nor given up */
	uint64_t seen_ahead;	/* how many at or after oldest came back */
};

/* Datagrams sent and neither back nor given up for lost. */
static uint64_t inflight(const struct window *w)
{
	return w->sent - w->oldest - w->seen_ahead;
}

/* Gives up on the oldest datagrams that REORDER later ones overtook (every one when all), and on those back. */
#define REORDER 4
static void advance(struct window *w, uint64_t newest, bool all)
{
	while (w->oldest < w->sent && (w->seen[w->oldest] || all || w->oldest + REORDER < newest)) {
		w->seen_ahead -= w->seen[w->oldest];
		w->oldest++;
	}
}

/* An echo of datagram s; true when it is the first of s. */
static bool arrived(struct window *w, uint64_t s)
{
	if (s >= w->sent || w->seen[s])
		return false;
	w->seen[s] = 1;
	w->back++;
	w->seen_ahead += s >= w->oldest;	/* one given up already is late, not in flight */
	advance(w, s, false);
	return true;
}

static int send_one(int fd, struct window *w, uint64_t base)
{
	uint8_t buf[BULK_BYTES];

	if (w->sent == w->cap) {
		uint8_t *more = realloc(w->seen, w->cap * 2);

		if (!more)
			return -1;
		memset(more + w->cap, 0, w->cap);
		w->seen = more;
		w->cap *= 2;
	}
	fill(buf, sizeof(buf), base + w->sent);
	if (send(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(buf))
		return -1;
	w->sent++;
	return 0;
}

/*
 * A window of outstanding bulk datagrams for bulk_ms: MB/s and datagrams/s
 * of the echoes back within that time; those not back even DRAIN_MS later
 * are lost.  A datagram overtaken by REORDER later ones leaves the window
 * (slirp and the guest keep order: it is lost), and a window from which
 * nothing comes back for STALL_MS is sent afresh.  Sequence numbers start
 * at base.
 */
static int measure_bulk(int fd, int scale, uint64_t base, double *out, long *lost, char *why, size_t whylen)
{
	uint8_t in[2048];
	struct window w = { .cap = 1 << 16 };
	uint64_t in_time;
	double t0 = bg_now_us(), end = t0 + bulk_ms * 1e3, last_back = t0, stop;

	if (!(w.seen = calloc(w.cap, 1))) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	while (bg_now_us() < end) {
		while (inflight(&w) < (uint64_t)window && send_one(fd, &w, base) == 0)
			;
		ssize_t n = recv_wait(fd, in, sizeof(in), 10);

		if (n == 0 && bg_now_us() - last_back > STALL_MS * 1e3 * scale)
			advance(&w, 0, true);
		for (; n > 0; n = recv(fd, in, sizeof(in), MSG_DONTWAIT))
			if (arrived(&w, check(in, n, BULK_BYTES) - base))
				last_back = bg_now_us();
	}
	stop = bg_now_us();
	in_time = w.back;
	for (double d = stop + DRAIN_MS * 1e3 * scale; bg_now_us() < d;) {
		ssize_t n = recv_wait(fd, in, sizeof(in), 10);

		if (n > 0)
			arrived(&w, check(in, n, BULK_BYTES) - base);
	}
	free(w.seen);
	*lost += (long)(w.sent - w.back);
	if (!in_time) {
		snprintf(why, whylen, "none of %llu bulk datagrams came back within %ld ms",
			 (unsigned long long)w.sent, bulk_ms);
		return -1;
	}
	double secs = (stop - t0) / 1e6;

	out[M_MBS] = (double)in_time * BULK_BYTES / secs / 1e6;
	out[M_PPS] = (double)in_time / secs;
	return 0;
}

/* "quit" until "bye N" comes back, then the VMM must end by itself with status 0. */
static int finish(struct bg_proc *p, int fd, int scale, char *why, size_t whylen)
{
	uint8_t in[2048];
	bool bye = false;

	for (int i = 0; i < 5 && !bye; i++) {
		send(fd, "quit", 4, 0);
		double deadline = bg_now_us() + ECHO_TIMEOUT_MS * 1e3 * scale;

		for (double left; !bye && (left = deadline - bg_now_us()) > 0;) {
			ssize_t n = recv_wait(fd, in, sizeof(in) - 1, (int)(left / 1e3) + 1);

			bye = n > 4 && !memcmp(in, "bye ", 4);
		}
	}
	if (!bye) {
		snprintf(why, whylen, "no 'bye N' answer to 'quit'");
		return -1;
	}
	if (bg_wait_end(p, END_TIMEOUT_MS * scale) < 0) {
		snprintf(why, whylen, "still running %d s after 'quit' (killed)", END_TIMEOUT_MS * scale / 1000);
		return -1;
	}
	if (p->status != 0) {
		snprintf(why, whylen, "exit status %d after 'quit', expected 0", p->status);
		return -1;
	}
	return 0;
}

/*
 * The side's command with the hostfwd port of this run in place of the
 * "PORT" the side was built with (each run binds a fresh port: a port the
 * last run's VMM just closed could still be held in the kernel).
 */
static char **argv_with_port(const struct bench_side *s, uint16_t port)
{
	static char *argv[BENCH_MAX_ARGS];
	static char arg[256];
	int i;

	for (i = 0; s->argv[i]; i++) {
		const char *at = strstr(s->argv[i], "PORT");

		argv[i] = s->argv[i];
		/* only the -netdev / --net value: a path could hold the word */
		if (at && !strncmp(s->argv[i], "user,", 5)) {
			snprintf(arg, sizeof(arg), "%.*s%u%s", (int)(at - s->argv[i]), s->argv[i], port, at + 4);
			argv[i] = arg;
		}
	}
	argv[i] = NULL;
	return argv;
}

static int run_net(struct bench_case *c, int side, double *out, char *why, size_t whylen, char **output)
{
	struct bg_proc p = { .out = -1 };
	uint16_t port = free_udp_port();
	int fd = -1, scale = c->timeout_scale, r = -1;
	long lost = 0;

	if (!port) {
		snprintf(why, whylen, "no free UDP port on 127.0.0.1");
		return -1;
	}
	if (bg_start(&p, argv_with_port(&c->sides[side], port), why, whylen) < 0)
		goto out;
	if (bg_wait_line(&p, READY, START_TIMEOUT_MS * scale, why, whylen) < 0 ||
	    (fd = open_socket(port, why, whylen)) < 0 || first_echo(fd, scale, why, whylen) < 0 ||
	    measure_rtt(fd, scale, out, &lost, why, whylen) < 0 ||
	    measure_bulk(fd, scale, (uint64_t)rtt_n + 1, out, &lost, why, whylen) < 0 ||
	    finish(&p, fd, scale, why, whylen) < 0)
		goto out;
	out[M_LOST] = (double)lost;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		bg_alive(&p);
		*output = bg_output(&p);
	}
	bg_stop(&p);
	return r;
}

void bench_case_net(struct bench_case *c, const struct bench_opts *o)
{
	char fwd[64], append[128];

	rtt_n = bench_env_num("GMVM_BENCH_NET_RTT_N", 2000, 10, 1000000);
	bulk_ms = bench_env_num("GMVM_BENCH_NET_MS", 2000, 100, 600000);
	window = bench_env_num("GMVM_BENCH_NET_WINDOW", 32, 1, 256);
	bench_init_case(c, o, 13, "UDP through user-mode networking");
	c->run = run_net;
	c->n_metrics = 5;
	c->metrics[M_RTT_MED] = (struct bench_metric){ "RTT median us", 1 };
	c->metrics[M_RTT_P99] = (struct bench_metric){ "RTT p99 us", 1 };
	c->metrics[M_MBS] = (struct bench_metric){ "echoed MB/s", 2 };
	c->metrics[M_PPS] = (struct bench_metric){ "datagrams/s", 0 };
	c->metrics[M_LOST] = (struct bench_metric){ "lost", 0 };
	/* PORT: replaced by each run's port (argv_with_port) */
	snprintf(fwd, sizeof(fwd), "user,hostfwd=udp:PORT-%d", GUEST_PORT);
	bench_note_backend(bench_add_side(c, "gmvm (--net user)", o->gmvm, "run", "--cpus", "1", "--memory",
					  bench_gmvm_memory(o, "256M"), "--net", fwd,
					  bench_path_in(o->guests, "vnet.elf"), (char *)NULL), o);
	struct bench_side *q = bench_add_qemu(c, o, "QEMU (-netdev user)", bench_path_in(o->guests, "vnet.elf"), "1",
					      "256M");

	snprintf(fwd, sizeof(fwd), "user,id=n0,hostfwd=udp:127.0.0.1:PORT-:%d", GUEST_PORT);
	snprintf(append, sizeof(append), "vnet.port=%d %s", GUEST_PORT, QEMU_MMIO_ENTRY);
	bench_side_append(q, "-global", "virtio-mmio.force-legacy=false", "-netdev", fwd, "-device",
			  "virtio-net-device,netdev=n0", "-append", append, (char *)NULL);
	bench_add_ratio(c, S_GMVM, S_QEMU, M_RTT_MED, "gmvm / QEMU RTT median");
	bench_add_ratio(c, S_GMVM, S_QEMU, M_RTT_P99, "gmvm / QEMU RTT p99");
	bench_add_ratio(c, S_GMVM, S_QEMU, M_MBS, "gmvm / QEMU echoed MB/s");
	bench_add_ratio(c, S_GMVM, S_QEMU, M_PPS, "gmvm / QEMU datagrams/s");
	c->n_targets = 2;
	c->targets[0] = (struct bench_target){ "gmvm RTT median <= QEMU's", 0, 0, 0, true, 1.0, "x" };
	c->targets[1] = (struct bench_target){ "gmvm echoed MB/s >= QEMU's", 2, 0, 0, false, 1.0, "x" };
	snprintf(about, sizeof(about),
		 "The `vnet` guest (1 vCPU, 256 MiB) on one virtio-net interface with user-mode networking: gmvm "
		 "`--net user,hostfwd=udp:PORT-%d`, QEMU 7.2 microvm `-netdev user,id=n0,hostfwd=udp:127.0.0.1:PORT-:%d "
		 "-device virtio-net-device,netdev=n0 -global virtio-mmio.force-legacy=false` (both libslirp; "
		 "`-append ... %s`: QEMU lists its transports on the command line only with acpi=off). The guest "
		 "polls its queues at CPL3, answers ARP and echoes every UDP datagram to port %d; the bench is the "
		 "other end, a UDP socket on 127.0.0.1 sending to the VMM's forwarded port (a fresh port each run).\n\n"
		 "*RTT*: %ld round trips, one datagram (%d bytes of payload) at a time, timed by the bench from "
		 "send to the echo's arrival; median and 99th percentile. *Echoed MB/s* and *datagrams/s*: %ld "
		 "datagrams of %d bytes kept outstanding for %ld ms, payload bytes (10^6) of the echoes back "
		 "within that time. *Lost*: datagrams of either phase never echoed (a round trip waits %d ms; "
		 "in the window, one overtaken by %d later ones is given up, and a window that stalls for %d ms "
		 "is sent afresh). Every echo is checked byte for byte. "
		 "Set GMVM_BENCH_NET_RTT_N, GMVM_BENCH_NET_WINDOW and GMVM_BENCH_NET_MS to change the counts.",
		 GUEST_PORT, GUEST_PORT, QEMU_MMIO_ENTRY, GUEST_PORT, rtt_n, RTT_BYTES, window, BULK_BYTES,
		 bulk_ms, ECHO_TIMEOUT_MS, REORDER, STALL_MS);
	c->about = about;
	bg_kvm_unusable(c->skip, sizeof(c->skip));
}
