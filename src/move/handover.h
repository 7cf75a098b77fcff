/*
 * move/handover: the messages of a live update between the old gmvm
 * process (update.c) and the new one (takeover.c), fdpass frames
 * (util/fdpass.h) on one socketpair whose end the new process got as
 * --takeover FD.  Payloads are JSON objects.
 *
 *   HELLO    old -> new  stream version, gmvm version, the state header, regions, updates
 *                        so far, {"fds": [names]} with every region's memory, the console
 *                        file and the identity lock
 *   CAN      new -> old  {"bind": "ram=mapped,..."}: its VM is built on that memory; the
 *                        guest still runs over there
 *   HANDOVER old -> new  paused: {"t0_us", "running", "fds", "paths"} with the owner's
 *                        sockets (API, event monitor) and the state memfd last
 *   READY    new -> old  {"load_us"}: machine built and state loaded, paused
 *   COMMIT   old -> new  the guest is the new process's; the old one never touches it again
 *   RUNNING  new -> old  {"pause_us"}: the guest runs (or stands paused as it did)
 *   REFUSED  either way  {"error", "status"}: one line, then the sender closes
 */
#ifndef GM_MOVE_HANDOVER_H
#define GM_MOVE_HANDOVER_H

#include <jansson.h>

#include "gmvm/error.h"
#include "util/fdpass.h"

enum gm_handover_kind {
	GM_HO_HELLO = 1,
	GM_HO_CAN = 2,
	GM_HO_HANDOVER = 3,
	GM_HO_READY = 4,
	GM_HO_COMMIT = 5,
	GM_HO_RUNNING = 6,
	GM_HO_REFUSED = 7,
};

/* A HELLO is the state header and a little more; nothing else is near 1 MiB. */
#define GM_HO_MAX_LEN (UINT32_C(2) << 20)

/* Send obj (stolen; NULL, a failed json_pack, is refused) as kind with nfds fds. */
int gm_ho_send(int sock, enum gm_handover_kind kind, json_t *obj, const int *fds, unsigned nfds, int timeout_ms,
	       struct gm_error *err);
/*
 * Receive one message that must be of kind want, its JSON object into
 * *obj (the caller decrefs) and its fds left in msg (the caller frees
 * msg).  A REFUSED becomes err with the peer's line and status (who is
 * "the new gmvm" or "the old gmvm", for messages); -ECONNRESET when the
 * peer closed first.
 */
int gm_ho_recv(int sock, enum gm_handover_kind want, const char *who, int timeout_ms, struct gm_fdpass_msg *msg,
	       json_t **obj, struct gm_error *err);
/* Tell the peer why (best effort: it may be gone). */
void gm_ho_refuse(int sock, const struct gm_error *why);

/*
 * takeover.c's checks of a HELLO and a HANDOVER object as gm_ho_recv gave
 * it (with nfds fds), without a socket or a machine, for tests/fuzz: the
 * names, versions, the state header and each region merged onto the
 * defaults and importable under caps.  0, or -errno with one line in err.
 */
struct gm_caps;
int gm_takeover_check_hello(json_t *o, unsigned nfds, const struct gm_caps *caps, struct gm_error *err);
int gm_takeover_check_handover(json_t *o, unsigned nfds, struct gm_error *err);

#endif
