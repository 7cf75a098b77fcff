/*
 * util/fdpass.c: framed messages with fds over a UNIX stream socket.
 * Stream sockets keep no message boundaries, so both sides loop over short
 * reads and writes; the kernel delivers the fds with the first byte of the
 * sendmsg that carried them, and a recvmsg never reads across an skb that
 * carries fds once it has taken some, so asking for exactly the header and
 * then exactly the payload never swallows the next frame's fds.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "util/fdpass.h"
#include "util/le.h"

/* Room for more fds than a frame may carry, so an excess is seen (and closed), not cut. */
#define CTRL_FDS (GM_FDPASS_MAX_FDS + 8)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on sock until deadline (-1: none): 0, -ETIMEDOUT or -errno. */
static int wait_for(int sock, short events, int64_t deadline)
{
	struct pollfd p = { .fd = sock, .events = events };

	for (;;) {
		int left = -1, r;

		if (deadline >= 0) {
			int64_t d = deadline - now_ms();

			left = d <= 0 ? 0 : d > 1000000 ? 1000000 : (int)d;
		}
		r = poll(&p, 1, left);
		if (r > 0)
			return 0; /* readable, writable, or an error/HUP the next call reports */
		if (r == 0 && deadline >= 0 && now_ms() >= deadline)
			return -ETIMEDOUT;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static void put_header(uint8_t *h, uint16_t kind, uint32_t len, uint16_t nfds)
{
	gm_put_le32(h, GM_FDPASS_MAGIC);
	gm_put_le16(h + 4, GM_FDPASS_VERSION);
	gm_put_le16(h + 6, kind);
	gm_put_le32(h + 8, len);
	gm_put_le16(h + 12, nfds);
	gm_put_le16(h + 14, 0);
}

int gm_fdpass_send(int sock, uint16_t kind, const void *data, size_t len, const int *fds, unsigned nfds,
		   int timeout_ms, struct gm_error *err)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * GM_FDPASS_MAX_FDS)];
	} ctrl;
	uint8_t hdr[GM_FDPASS_HDR_SIZE];
	struct iovec iov[2];
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	size_t total, sent = 0;
	bool fds_gone = nfds == 0;

	if (nfds > GM_FDPASS_MAX_FDS)
		return gm_fail(err, GM_STATUS_FAILURE, E2BIG,
			       "a handover frame carries at most %d fds and this one has %u; send them in several frames",
			       GM_FDPASS_MAX_FDS, nfds);
	if (len > GM_FDPASS_MAX_LEN)
		return gm_fail(err, GM_STATUS_FAILURE, EMSGSIZE,
			       "a handover frame carries at most 4 GiB and this one has %zu bytes; split the payload", len);
	if ((len && !data) || (nfds && !fds))
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "gm_fdpass_send without the data or fds it announces; this is a bug in the caller");
	put_header(hdr, kind, (uint32_t)len, (uint16_t)nfds);
	total = sizeof(hdr) + len;
	while (sent < total) {
		struct msghdr m = { .msg_iov = iov };
		ssize_t n;
		int r;

		/* what is left of header and payload */
		if (sent < sizeof(hdr)) {
			iov[0] = (struct iovec){ hdr + sent, sizeof(hdr) - sent };
			iov[1] = (struct iovec){ (void *)data, len };
			m.msg_iovlen = len ? 2 : 1;
		} else {
			iov[0] = (struct iovec){ (uint8_t *)data + (sent - sizeof(hdr)), total - sent };
			m.msg_iovlen = 1;
		}
		if (!fds_gone) {
			struct cmsghdr *c;

			memset(&ctrl, 0, sizeof(ctrl));
			m.msg_control = ctrl.buf;
			m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		n = sendmsg(sock, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			sent += (size_t)n;
			fds_gone = true; /* they went with the first byte */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			int e = errno;

			if (e == EPIPE || e == ECONNRESET)
				return gm_fail(err, GM_STATUS_FAILURE, EPIPE,
					       "the handover peer closed its socket after %zu of %zu bytes; see why it exited",
					       sent, total);
			return gm_fail(err, GM_STATUS_FAILURE, e, "sending a handover frame failed: %s%s", strerror(e),
				       e == EBADF ? "; one of the fds to pass is not open" : "");
		}
		r = wait_for(sock, POLLOUT, deadline);
		if (r == -ETIMEDOUT)
			return gm_fail(err, GM_STATUS_FAILURE, ETIMEDOUT,
				       "the handover peer took more than %d ms to read a frame (%zu of %zu bytes sent); check that it is alive",
				       timeout_ms, sent, total);
		if (r < 0)
			return gm_fail(err, GM_STATUS_FAILURE, -r, "waiting to send a handover frame failed: %s",
				       strerror(-r));
	}
	return 0;
}

/* What recvmsg calls have brought so far: fds beyond the frame's room are closed on arrival. */
struct rx {
	struct gm_fdpass_msg *msg;
	unsigned extra;   /* fds that arrived beyond GM_FDPASS_MAX_FDS (closed) */
	bool ctrunc;      /* the kernel cut control data: fds were lost */
	bool late_fds;    /* fds arrived after the first byte of the frame */
};

static void take_fds(struct rx *rx, struct msghdr *m, bool first)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		size_t n;
		int *p;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len < CMSG_LEN(0))
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		p = (int *)CMSG_DATA(c);
		if (n && !first)
			rx->late_fds = true;
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, p + i, sizeof(fd));
			if (rx->msg->nfds < GM_FDPASS_MAX_FDS) {
				rx->msg->fds[rx->msg->nfds++] = fd;
			} else {
				close(fd);
				rx->extra++;
			}
		}
	}
	if (m->msg_flags & MSG_CTRUNC)
		rx->ctrunc = true;
}

/* Read exactly len bytes into buf; *got says how many came.  0, -ECONNRESET (EOF), -ETIMEDOUT or -errno. */
static int read_exact(int sock, uint8_t *buf, size_t len, bool frame_start, int64_t deadline, struct rx *rx,
		      size_t *got)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * CTRL_FDS)];
	} ctrl;

	*got = 0;
	while (*got < len) {
		struct iovec iov = { buf + *got, len - *got };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.buf,
				    .msg_controllen = sizeof(ctrl.buf) };
		ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		int r;

		if (n >= 0)
			take_fds(rx, &m, frame_start && *got == 0);
		if (n > 0) {
			*got += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		r = wait_for(sock, POLLIN, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}

static void msg_clear(struct gm_fdpass_msg *msg)
{
	memset(msg, 0, sizeof(*msg));
	for (unsigned i = 0; i < GM_FDPASS_MAX_FDS; i++)
		msg->fds[i] = -1;
}

/* The first error on a half-received frame: drop everything, then report. */
static int refuse(struct gm_fdpass_msg *msg, struct gm_error *err, int e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int refuse(struct gm_fdpass_msg *msg, struct gm_error *err, int e, const char *fmt, ...)
{
	char line[sizeof(err->msg)];
	va_list ap;

	gm_fdpass_msg_free(msg);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	return gm_fail(err, GM_STATUS_FAILURE, e, "%s", line);
}

static int read_fail(struct gm_fdpass_msg *msg, struct gm_error *err, int r, const char *part, size_t got,
		     size_t want, int timeout_ms)
{
	if (r == -ETIMEDOUT)
		return refuse(msg, err, ETIMEDOUT,
			      "no complete handover %s within %d ms (%zu of %zu bytes came); check that the peer is alive",
			      part, timeout_ms, got, want);
	if (r == -ECONNRESET && got == 0 && !strcmp(part, "header"))
		return refuse(msg, err, ECONNRESET,
			      "the handover peer closed its socket before sending a frame; see why it exited");
	if (r == -ECONNRESET)
		return refuse(msg, err, EPROTO,
			      "truncated handover frame: the peer closed its socket after %zu of %zu %s bytes; see why it exited",
			      got, want, part);
	return refuse(msg, err, -r, "receiving a handover frame failed: %s", strerror(-r));
}

int gm_fdpass_recv(int sock, size_t max_len, unsigned max_fds, int timeout_ms, struct gm_fdpass_msg *msg,
		   struct gm_error *err)
{
	uint8_t hdr[GM_FDPASS_HDR_SIZE];
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	struct rx rx = { .msg = msg };
	uint32_t magic, len;
	uint16_t version, nfds, reserved;
	size_t got;
	int r;

	msg_clear(msg);
	if (max_fds > GM_FDPASS_MAX_FDS)
		max_fds = GM_FDPASS_MAX_FDS;
	r = read_exact(sock, hdr, sizeof(hdr), true, deadline, &rx, &got);
	if (r < 0)
		return read_fail(msg, err, r, "header", got, sizeof(hdr), timeout_ms);
	magic = gm_le32(hdr);
	version = gm_le16(hdr + 4);
	len = gm_le32(hdr + 8);
	nfds = gm_le16(hdr + 12);
	reserved = gm_le16(hdr + 14);
	if (magic != GM_FDPASS_MAGIC)
		return refuse(msg, err, EPROTO,
			      "not a gmvm handover frame (magic 0x%08x, expected 0x%08x); connect the handover socket to a gmvm of this kind",
			      (unsigned)magic, (unsigned)GM_FDPASS_MAGIC);
	if (version != GM_FDPASS_VERSION)
		return refuse(msg, err, EPROTONOSUPPORT,
			      "handover frame version %u, and this gmvm speaks version %d; use gmvm binaries of the same handover version",
			      version, GM_FDPASS_VERSION);
	if (reserved)
		return refuse(msg, err, EPROTO,
			      "handover frame with reserved field 0x%04x set; the peer speaks a newer variant, use matching gmvm binaries",
			      reserved);
	if (rx.ctrunc || rx.extra || nfds > max_fds || msg->nfds > max_fds)
		return refuse(msg, err, E2BIG,
			      "handover frame with %u fds (announced %u), more than the %u allowed here; the peer sent too many",
			      msg->nfds + rx.extra + (rx.ctrunc ? 1 : 0), nfds, max_fds);
	if (len > max_len)
		return refuse(msg, err, EMSGSIZE,
			      "handover frame of %u bytes, more than the %zu allowed here; the peer sent too much",
			      (unsigned)len, max_len);
	msg->kind = gm_le16(hdr + 6);
	msg->len = len;
	if (len) {
		msg->data = malloc((size_t)len + 1);
		if (!msg->data)
			return refuse(msg, err, ENOMEM, "out of memory for a handover frame of %u bytes", (unsigned)len);
		r = read_exact(sock, msg->data, len, false, deadline, &rx, &got);
		if (r < 0)
			return read_fail(msg, err, r, "payload", got, len, timeout_ms);
		msg->data[len] = 0;
	}
	if (rx.ctrunc || rx.extra || rx.late_fds || msg->nfds != nfds)
		return refuse(msg, err, EPROTO,
			      "handover frame announced %u fds and %u came%s; the peer is broken",
			      nfds, msg->nfds + rx.extra,
			      rx.late_fds ? " (some after the frame's first byte)" : rx.ctrunc ? " (control data cut)" : "");
	return 0;
}

int gm_fdpass_take(struct gm_fdpass_msg *msg, unsigned i)
{
	int fd;

	if (!msg || i >= msg->nfds)
		return -1;
	fd = msg->fds[i];
	msg->fds[i] = -1;
	return fd;
}

void gm_fdpass_msg_free(struct gm_fdpass_msg *msg)
{
	if (!msg)
		return;
	for (unsigned i = 0; i < msg->nfds && i < GM_FDPASS_MAX_FDS; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	free(msg->data);
	msg_clear(msg);
}
