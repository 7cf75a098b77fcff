/*
 * gm_api: the control API of a running gmvm, HTTP/1.1 with JSON on a UNIX
 * socket (libmicrohttpd, jansson), and the event monitor that writes one
 * JSON line per change of state.  Routes live under /api/v1/ and act on the
 * attached machine through the public gm_machine_* calls only.
 *
 * Threads: the server answers each connection on its own thread (bounded
 * in number, reads timed out); requests that change the machine are
 * serialised by the machine.  gm_api_create, gm_api_attach and
 * gm_api_destroy belong to the owner's thread.
 */
#ifndef GMVM_API_H
#define GMVM_API_H

#include <stddef.h>

#include "gmvm/error.h"
#include "gmvm/machine.h"

#define GM_API_PREFIX        "/api/v1/"
#define GM_API_MAX_BODY      (64 * 1024)  /* bigger bodies get 413 */
#define GM_API_MAX_CONNS     16           /* more are refused at accept */
#define GM_API_IDLE_SECONDS  10           /* a silent connection is closed */

struct gm_api;
struct gm_events;

/*
 * The event monitor: spec is "path=FILE" (created or truncated, mode 0600)
 * or "fd=N" (an open descriptor the caller passed in; not closed by us).
 * Each event is one JSON object on one line with "event" and
 * "timestamp_us" (CLOCK_MONOTONIC).  Returns -EINVAL with a message for a
 * bad spec (GM_STATUS_BAD_INPUT).
 */
int gm_events_open(const char *spec, struct gm_events **out, struct gm_error *err);
/* The machine's event hook: give it to gm_machine_set_hooks as .event with ev as opaque. */
void gm_events_machine_hook(void *events, const struct gm_event *ev);
/* An API request was answered. */
void gm_events_request(struct gm_events *ev, const char *method, const char *path, int status);
void gm_events_close(struct gm_events *ev);

/*
 * Create the socket at path (mode 0600) and start serving.  An existing
 * path is refused (GM_STATUS_BAD_INPUT) unless it is a socket nobody
 * listens on, which is replaced.  events may be NULL.  The machine may be
 * attached later (routes that need one answer 409 until then).
 */
int gm_api_create(const char *path, struct gm_events *events, struct gm_api **out, struct gm_error *err);
/*
 * The same on a listening socket another gmvm made at path and handed
 * over (a live update's new process); fd is the api's from now on, and
 * closed by it on a failure too.  m is attached before the first
 * connection is accepted: the old gmvm's clients, queued in the socket's
 * backlog, must find the VM there (a 409 would be a gap in the update).
 */
int gm_api_adopt(int fd, const char *path, struct gm_events *events, struct gm_machine *m, struct gm_api **out,
		 struct gm_error *err);
void gm_api_attach(struct gm_api *api, struct gm_machine *m);
/*
 * True once a client asked the process to end (PUT vmm.shutdown); the
 * owner's wait loop checks it after gm_machine_wait returns.
 */
int gm_api_vmm_shutdown_requested(struct gm_api *api);
/* Stop serving (answers in flight are finished first), remove the socket if still ours. */
void gm_api_destroy(struct gm_api *api);

/*
 * The request handler, without any socket: method, path and body in, status
 * and a malloc'd JSON body out (the caller frees *body; never NULL).
 * api may be a server from gm_api_create or one from gm_api_new_detached.
 * This is what the server calls and what the fuzzer drives.
 */
int gm_api_handle(struct gm_api *api, const char *method, const char *path, const char *body,
		  size_t body_len, char **out_body);
/* An API object with no socket, for gm_api_handle alone (tests, fuzzing). */
int gm_api_new_detached(struct gm_api **out, struct gm_error *err);

#endif
