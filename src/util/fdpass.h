/*
 * util/fdpass: one framed message with up to GM_FDPASS_MAX_FDS file
 * descriptors over a UNIX stream socket (SCM_RIGHTS), for handing a
 * running machine to another gmvm process (live update: memory fds, the
 * API socket, console, identity lock).  A frame is a 16-byte header
 * (little-endian: magic "GMFP", version, kind, payload length, fd count,
 * zero) and the payload; the fds ride on the header's first byte.
 *
 * The receiver trusts nothing: a wrong magic, version or reserved field,
 * more fds or bytes than it allows, fds that are not announced (or missing),
 * truncated control data (MSG_CTRUNC) or a frame cut short by EOF are
 * refused with one line, and every fd that did arrive is closed on every
 * error path.  After any error the stream is out of step: close the socket.
 */
#ifndef GM_UTIL_FDPASS_H
#define GM_UTIL_FDPASS_H

#include <stddef.h>
#include <stdint.h>

#include "gmvm/error.h"

#define GM_FDPASS_MAGIC UINT32_C(0x50464d47) /* "GMFP" as bytes on the wire */
#define GM_FDPASS_VERSION 1
#define GM_FDPASS_HDR_SIZE 16
/* Fds one frame may carry: a machine has at most 8 regions plus a few sockets. */
#define GM_FDPASS_MAX_FDS 32
/* Largest payload the header can announce. */
#define GM_FDPASS_MAX_LEN UINT32_MAX

struct gm_fdpass_msg {
	uint16_t kind;                  /* the sender's message type; fdpass does not interpret it */
	uint8_t *data;                  /* len bytes and a NUL (handy for JSON), malloc'ed; NULL when len is 0 */
	size_t len;
	int fds[GM_FDPASS_MAX_FDS];     /* O_CLOEXEC, in the order sent; -1 once taken by the caller */
	unsigned nfds;
};

/*
 * Send one frame: kind, len bytes of data, and nfds fds (duplicated by the
 * kernel into the receiver; the caller keeps its own).  timeout_ms < 0 waits
 * for ever; the socket may be blocking or not.  Never raises SIGPIPE.
 * 0, or -errno with err filled (-ETIMEDOUT, -EPIPE when the peer is gone,
 * -E2BIG for too many fds, -EMSGSIZE for too long a payload).
 */
int gm_fdpass_send(int sock, uint16_t kind, const void *data, size_t len, const int *fds, unsigned nfds,
		   int timeout_ms, struct gm_error *err);

/*
 * Receive one frame into msg (whose old contents are not freed), allowing
 * at most max_len payload bytes and max_fds fds (<= GM_FDPASS_MAX_FDS).
 * 0 with msg filled, which the caller releases with gm_fdpass_msg_free; or
 * -errno with err filled, msg empty and no fd left open: -ETIMEDOUT,
 * -ECONNRESET (the peer closed before a frame began), -EPROTO (bad magic
 * or reserved field, fds not as announced, truncated frame or control
 * data), -EPROTONOSUPPORT (another version), -E2BIG (too many fds),
 * -EMSGSIZE (too long).
 */
int gm_fdpass_recv(int sock, size_t max_len, unsigned max_fds, int timeout_ms, struct gm_fdpass_msg *msg,
		   struct gm_error *err);

/* Take fd i out of msg (the caller owns it now); -1 when there is none. */
int gm_fdpass_take(struct gm_fdpass_msg *msg, unsigned i);

/* Close every fd not taken and free the payload; msg is empty afterwards. */
void gm_fdpass_msg_free(struct gm_fdpass_msg *msg);

#endif
