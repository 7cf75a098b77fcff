/*
 * api/: the control API, HTTP+JSON on a UNIX socket, and the event monitor.
 * gm_api_handle is the one way into the routes: the server feeds it from
 * libmicrohttpd, the unit tests and the fuzzer call it directly.
 *
 *   api.c      the gm_api object: attached machine, locks, the shutdown flag
 *   socket.c   making the UNIX socket (mode 0600, stale ones replaced)
 *   server.c   libmicrohttpd: connections, bodies, replies, orderly stop
 *   routes.c   the route table, dispatch, 404/405, the request event
 *   body.c     reading a request body: JSON, strict field checking
 *   reply.c    JSON replies, one-line errors, machine errors as statuses
 *   info.c     vmm.ping, vm.info, vm.counters
 *   control.c  the PUT routes that act on the machine or the process
 *   snapshot.c vm.snapshot and its file:// destination
 *   migration.c vm.send-migration, vm.migration-cancel
 *   rehome.c   vm.memory-rehome, vm.memory-rehome-cancel
 *   update.c   vmm.live-update
 *   forward.c  after a live update, a request that reached the old process sent on to the new one
 *   events.c   the event monitor (gm_events_*)
 */
#ifndef GM_API_INTERNAL_H
#define GM_API_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "gmvm/api.h"
#include "gmvm/thread.h"

struct gm_api_server;

struct gm_api {
	/* Orders the PUT routes: a vmm.shutdown never overtakes a vm.pause. */
	pthread_mutex_t op_lock;
	/* Read-held while a route uses the machine, so attach can swap it safely. */
	pthread_rwlock_t machine_lock;
	struct gm_machine *machine;
	struct gm_events *events; /* may be NULL; not ours to close */
	atomic_bool vmm_shutdown;
	/* a live update gave the VM to this gmvm (a pid; 0: none): requests are not ours to answer */
	atomic_int handed_to;
	char *handed_path;        /* the socket path it serves: stragglers are forwarded there (forward.c) */
	struct gm_api_server *server; /* NULL for a detached api */
	/* with a server: the op thread that runs the heavy routes, and the live update's launcher (worker.c) */
	struct gm_worker *ops;
	struct gm_worker *launcher;
};

/* api.c: a zeroed api with its locks ready; gm_api_free undoes it. */
struct gm_api *gm_api_alloc(struct gm_error *err);
void gm_api_free(struct gm_api *api);
/* Give a detached api an event monitor (tests and the fuzzer). */
void gm_api_set_events(struct gm_api *api, struct gm_events *events);

/* worker.c --------------------------------------------------------------- */

struct gm_worker;
/*
 * A thread of kind (its thread-start hook runs on it) that runs callers'
 * jobs; spawn: each on a new thread it makes, so jobs run side by side and
 * inherit its confinement.  Start it from an unconfined thread.
 */
int gm_worker_start(enum gm_thread_kind kind, bool spawn, struct gm_worker **out, struct gm_error *err);
/* Run fn(arg) there and wait for it; -errno (fn did not run) if the worker stops or cannot make a thread. */
int gm_worker_run(struct gm_worker *w, void (*fn)(void *arg), void *arg);
/* Stop and free (NULL: nothing); no job may be in flight. */
void gm_worker_stop(struct gm_worker *w);

/* reply.c ---------------------------------------------------------------- */

/* What a route answers: a status, a JSON body, for 405 the Allow value, and whether the connection ends. */
struct gm_api_reply {
	int status;
	json_t *json;
	const char *allow;
	bool close;
};

/* Answer status with obj (stolen); a NULL obj (allocation failed) becomes a 500. */
void gm_reply_json(struct gm_api_reply *r, int status, json_t *obj);
/* Answer {"error": message}; the message is forced onto one line. */
void gm_reply_error(struct gm_api_reply *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * A machine call failed with rc: -EALREADY, -ESRCH, -EBUSY are 409, a bad
 * input or a kernel that lacks something is 400, the rest 500.  The message
 * is err's, or one built from what ("pause the VM") when the machine left none.
 */
void gm_reply_machine_error(struct gm_api_reply *r, int rc, const struct gm_error *err,
			    const char *what);
/* A JSON string for s, escaped first if it is not printable UTF-8 (never NULL for s != NULL). */
json_t *gm_json_text(const char *s);
/* An unsigned JSON integer (values above INT64_MAX do not occur: sizes, addresses). */
json_t *gm_json_u64(uint64_t v);

/* routes.c --------------------------------------------------------------- */

struct gm_route;

/*
 * One field of a request body.  Every field listed is required unless it is
 * optional; an integer must not be negative (they are addresses and sizes)
 * unless the field has a check, which then judges its range; JSON_TRUE
 * stands for a boolean (true or false);
 * a string must be one of choices when choices is given (NULL-terminated),
 * and pass check when check is given.  Checks that need no machine belong
 * here, so a bad body is a 400 whether or not a VM is attached.
 */
struct gm_field {
	const char *name;
	json_type type; /* JSON_STRING, JSON_INTEGER, or JSON_TRUE: a boolean */
	const char *const *choices;
	bool optional;
	/* 0, or -1 with a 400 in r that names the field and says what to send */
	int (*check)(const struct gm_route *rt, const struct gm_field *f, json_t *val,
		     struct gm_api_reply *r);
};

struct gm_route {
	const char *name;   /* the path after GM_API_PREFIX */
	const char *method; /* "GET" or "PUT" */
	const struct gm_field *fields; /* NULL-name terminated; NULL: no fields */
	bool needs_machine;
	/* m is NULL only for routes that do not need one; body is an object or NULL */
	void (*fn)(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r);
	/* a PUT that does not queue behind the PUT in flight (a cancel must reach it) */
	bool unordered;
	/* runs on the api's op thread (a MIGRATION list), the connection's thread waiting */
	bool offload;
};

/*
 * Route one request into r (never fails: every outcome is a reply).  Holds
 * the api's locks around the route.  Does not emit the request event.
 */
void gm_api_dispatch(struct gm_api *api, const char *method, const char *path, const char *body,
		     size_t body_len, struct gm_api_reply *r);
/*
 * Emit the request event (when events are set) and turn r into the body
 * text; r->json is released.  NULL only when memory ran out.
 */
char *gm_api_finish(struct gm_api *api, const char *method, const char *path,
		    struct gm_api_reply *r);

/* body.c ----------------------------------------------------------------- */

/*
 * Check and parse a request body for rt: a GET takes none; a PUT takes an
 * object holding exactly rt's fields with their types (no body or {} when it
 * has none).  Returns 0 with *out (an object, or NULL for no body), or -1
 * with a 400 in r.
 */
int gm_body_parse(const struct gm_route *rt, const char *body, size_t len, json_t **out,
		  struct gm_api_reply *r);

/* info.c, control.c: the routes ------------------------------------------ */

void gm_route_ping(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r);
void gm_route_info(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r);
void gm_route_counters(struct gm_api *api, struct gm_machine *m, json_t *body,
		       struct gm_api_reply *r);
void gm_route_pause(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r);
void gm_route_resume(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r);
void gm_route_shutdown(struct gm_api *api, struct gm_machine *m, json_t *body,
		       struct gm_api_reply *r);
void gm_route_binding(struct gm_api *api, struct gm_machine *m, json_t *body,
		      struct gm_api_reply *r);
void gm_route_discard(struct gm_api *api, struct gm_machine *m, json_t *body,
		      struct gm_api_reply *r);
void gm_route_vmm_shutdown(struct gm_api *api, struct gm_machine *m, json_t *body,
			   struct gm_api_reply *r);
/* balloon.c: vm.balloon, the balloon's target and deflate_on_oom. */
void gm_route_balloon(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r);

/* snapshot.c: vm.snapshot's route and the check of its destination_url. */
void gm_route_snapshot(struct gm_api *api, struct gm_machine *m, json_t *body,
		       struct gm_api_reply *r);
int gm_check_file_url(const struct gm_route *rt, const struct gm_field *f, json_t *val,
		      struct gm_api_reply *r);

/* migration.c: vm.send-migration, vm.migration-cancel, and the progress as JSON */
void gm_route_send_migration(struct gm_api *api, struct gm_machine *m, json_t *body,
			     struct gm_api_reply *r);
void gm_route_migration_cancel(struct gm_api *api, struct gm_machine *m, json_t *body,
			       struct gm_api_reply *r);
/* The field checks of vm.send-migration: destination_url (tcp:HOST:PORT or
 * unix:PATH), connections, downtime_ms and timeout_s (their ranges). */
int gm_check_migration_url(const struct gm_route *rt, const struct gm_field *f, json_t *val,
			   struct gm_api_reply *r);
int gm_check_migration_connections(const struct gm_route *rt, const struct gm_field *f, json_t *val,
				   struct gm_api_reply *r);
int gm_check_migration_downtime(const struct gm_route *rt, const struct gm_field *f, json_t *val,
				struct gm_api_reply *r);
int gm_check_migration_timeout(const struct gm_route *rt, const struct gm_field *f, json_t *val,
			       struct gm_api_reply *r);
struct gm_migration_progress;
/* {"phase": ..., and when one ran the rest of the record}; vm.info and the events. */
json_t *gm_json_migration(const struct gm_migration_progress *p);

/* rehome.c: vm.memory-rehome, vm.memory-rehome-cancel, and the progress as JSON */
void gm_route_rehome(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r);
void gm_route_rehome_cancel(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r);
/* region: a plausible region name; numa_node: -1 (no policy) or a node number */
int gm_check_rehome_region(const struct gm_route *rt, const struct gm_field *f, json_t *val,
			   struct gm_api_reply *r);
int gm_check_rehome_numa_node(const struct gm_route *rt, const struct gm_field *f, json_t *val,
			      struct gm_api_reply *r);
struct gm_rehome_progress;
/* {"phase": ..., and when one ran the rest of the record}; the events. */
json_t *gm_json_rehome(const struct gm_rehome_progress *p);
/* The same for m's current or last re-home: vm.info's "rehome". */
json_t *gm_json_rehome_of(struct gm_machine *m);

/* update.c: vmm.live-update, and the progress as JSON */
void gm_route_live_update(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r);
/* binary: an absolute path to an executable file; args: at most GM_UPDATE_MAX_ARGS
 * strings, none an option the running VM hands over itself (--api-sock, --memory, ...) */
int gm_check_update_binary(const struct gm_route *rt, const struct gm_field *f, json_t *val,
			   struct gm_api_reply *r);
int gm_check_update_args(const struct gm_route *rt, const struct gm_field *f, json_t *val,
			 struct gm_api_reply *r);
struct gm_update_progress;
/* {"phase": ..., "updates": N, and when one ran the rest of the record}; the events and the answer. */
json_t *gm_json_update(const struct gm_update_progress *p);
/* The same for m's current or last live update: vm.info's "live_update". */
json_t *gm_json_update_of(struct gm_machine *m);

/* forward.c: the request, sent to sock_path as it came; its answer into r.  -1 when that failed. */
int gm_api_forward(const char *sock_path, const char *method, const char *url, const char *body, size_t body_len,
		   struct gm_api_reply *r);

/* events.c: the monitor's fd, which a live update hands to the new process (-1 for NULL). */
int gm_events_fd(struct gm_events *ev);

/* socket.c --------------------------------------------------------------- */

/* The listening socket and how to recognise its file later. */
struct gm_api_socket {
	int fd;
	char *path;
	dev_t dev;
	ino_t ino;
};

/*
 * Create, bind (mode 0600 from the first moment the path exists) and listen.
 * An existing path is replaced only when it is a socket nobody listens on.
 */
int gm_api_socket_open(const char *path, struct gm_api_socket *s, struct gm_error *err);
/* Unlink the path if it is still the socket we made; free the path (the fd is not closed). */
void gm_api_socket_unlink(struct gm_api_socket *s);
/* A listening socket another process made at path (a live update's): ours now, recognised by the path's inode. */
int gm_api_socket_adopt(int fd, const char *path, struct gm_api_socket *s, struct gm_error *err);

/* server.c --------------------------------------------------------------- */

/* Stop the server of api (in-flight answers finish first, bounded), remove its socket. */
void gm_api_server_stop(struct gm_api *api);

/*
 * A live update hands the listening socket to a new process.  listen_fd:
 * the socket (-1 for a detached api) and its path.  quiesce: stop
 * accepting (answers in flight go on; new clients wait in the backlog);
 * unquiesce: accept again on the same socket (the update aborted).  While
 * quiesced the path may be the new process's: stopping never unlinks it.
 * quiesce and unquiesce take the api as void * to serve as the update's hooks.
 */
int gm_api_server_listen_fd(struct gm_api *api, const char **path);
int gm_api_server_quiesce(void *api, struct gm_error *err);
int gm_api_server_unquiesce(void *api, struct gm_error *err);

#endif
