/*
 * move/transport: the byte pipe a live migration runs on.  Migration URLs
 * (tcp:HOST:PORT, unix:PATH) parsed and checked up front, the sender's
 * connect, the receiver's listen and one accept, and whole-buffer reads and
 * writes with a deadline.  It knows nothing of the stream that goes through
 * it.  Every failure is one line naming the cause and the remedy.
 *
 * The sockets it returns are CLOEXEC and blocking; gm_move_read_all and
 * gm_move_write_all never block past their deadline all the same (they use
 * MSG_DONTWAIT and poll).  To stop a transfer from another thread (a cancel),
 * shutdown(fd, SHUT_RDWR): the blocked call returns at once.
 */
#ifndef GM_MOVE_TRANSPORT_H
#define GM_MOVE_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "gmvm/error.h"
#include "util/unix_listen.h"

/* The longest URL text gm_move_url_format writes, NUL included. */
#define GM_MOVE_URL_TEXT 300

struct gm_move_url {
	enum { GM_URL_TCP, GM_URL_UNIX } kind;
	char host[256]; /* TCP: a name or an address literal, IPv6 without its brackets */
	uint16_t port;  /* TCP: 1..65535 from a URL; 0 asks gm_move_listen for any free port */
	char path[108]; /* UNIX: the socket path, at most 107 bytes */
};

/*
 * Parse "tcp:HOST:PORT" (HOST a name, an IPv4 literal or a bracketed IPv6
 * one, e.g. tcp:[::1]:4444; PORT 1..65535) or "unix:PATH" (absolute or
 * relative, at most 107 bytes).  Syntax only: nothing is resolved.  0, or
 * -EINVAL / -ENAMETOOLONG with a GM_STATUS_BAD_INPUT line quoting s.
 */
int gm_move_url_parse(const char *s, struct gm_move_url *u, struct gm_error *err);

/* u as a URL again ("tcp:[::1]:4444"), for messages; returns buf. */
const char *gm_move_url_format(const struct gm_move_url *u, char *buf, size_t len);

/*
 * Connect to u, trying every address the name resolves to until one
 * answers, all within timeout_ms (< 0: as long as the kernel tries).  TCP
 * gets TCP_NODELAY and a large send buffer.  0 with the socket in *fd, or
 * -errno: -ECONNREFUSED / -ENOENT when nobody listens there, -ETIMEDOUT,
 * -EHOSTUNREACH ...; err says which address failed and how.
 */
int gm_move_connect(const struct gm_move_url *u, int timeout_ms, int *fd, struct gm_error *err);

/*
 * The receiving side's listening socket.  For TCP it binds the first
 * address of u->host that takes it, with SO_REUSEADDR; port 0 takes any
 * free port (gm_move_bound_port says which).  For UNIX it is made as
 * util/unix_listen.h says: mode 0600, a stale socket replaced, a live one
 * refused (GM_STATUS_BAD_INPUT); its path is at most
 * GM_UNIX_LISTEN_PATH_MAX bytes.
 */
struct gm_move_listener {
	int fd;                    /* the listening socket, -1 when closed */
	struct gm_unix_listener u; /* UNIX: the path to remove at the end */
};
int gm_move_listen(const struct gm_move_url *u, struct gm_move_listener *l, struct gm_error *err);

/* The local TCP port lfd is bound to, or -errno (-EAFNOSUPPORT for a UNIX socket). */
int gm_move_bound_port(int lfd);

/*
 * Wait up to timeout_ms (< 0: for ever) for one connection on the
 * listening lfd, checking *cancel (when not NULL) every 100 ms.  The
 * connection is CLOEXEC, blocking, with TCP_NODELAY and a large receive
 * buffer.  0 with it in *fd, -ETIMEDOUT, -ECANCELED, or another -errno;
 * err says which.  Once the sender's connections are in, gm_move_unlisten
 * refuses any other.  The listener queues up to 16 connections.
 */
int gm_move_accept(int lfd, int timeout_ms, const volatile int *cancel, int *fd, struct gm_error *err);

/* Close the listening socket and remove its UNIX path if it is still ours. Idempotent. */
void gm_move_unlisten(struct gm_move_listener *l);

/*
 * Send or receive exactly n bytes, the whole within timeout_ms (< 0: no
 * limit), retrying after EINTR and short transfers, never raising
 * SIGPIPE; fd is a socket.  0, or: -ETIMEDOUT; -EPIPE (sending) or
 * -ECONNRESET (receiving, or a reset) when the peer closed the connection
 * ("the peer closed the connection after N of M bytes ..."); another -errno.
 */
int gm_move_write_all(int fd, const void *p, size_t n, int timeout_ms, struct gm_error *err);
int gm_move_read_all(int fd, void *p, size_t n, int timeout_ms, struct gm_error *err);

#endif
