/*
 * api/: the HTTP server, libmicrohttpd on our own UNIX socket.
 *
 * One thread per connection (MHD_USE_THREAD_PER_CONNECTION): a route may
 * wait for the vCPUs to park or for a binding switch, and a ping must not
 * queue behind that.  The threads are bounded (GM_API_MAX_CONNS; more are
 * closed at accept) and a silent connection is closed after
 * GM_API_IDLE_SECONDS, so a stuck client holds one slot for a while, never
 * the server.  Headers live in a small per-connection pool, bodies are
 * collected here up to GM_API_MAX_BODY.  MHD logs nowhere: the library
 * never prints.
 */
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "util/escape.h"

/* Per-connection memory for the request line and headers (bigger: MHD answers 431). */
#define GM_API_HEADER_MEMORY (32 * 1024)
/* How long gm_api_destroy waits for answers in flight (a vm.shutdown reply). */
#define GM_API_DRAIN_MS 1000
/*
 * A body past the limit is read and dropped this far, then answered 413:
 * a client still sending when the answer came and the connection closed
 * would see its pipe cut, not the answer.  A declared length past this is
 * answered at once; a chunked body past it has its connection cut.
 */
#define GM_API_MAX_DISCARD (16 * GM_API_MAX_BODY)

/* Daemons an aborted live update left quiesced, stopped at destroy. */
#define GM_API_MAX_RETIRED 16

struct gm_api_server {
	struct MHD_Daemon *daemon;   /* the one accepting; NULL while a live update holds it quiesced */
	struct MHD_Daemon *retired[GM_API_MAX_RETIRED];
	unsigned nretired;
	pthread_mutex_t state;       /* guards daemon, retired, handing_over, stopping */
	bool handing_over;           /* quiesced for a live update, the path maybe no longer ours */
	bool stopping;               /* gm_api_server_stop began: never quiesce nor restart */
	struct gm_api_socket sock;
	pthread_mutex_t lock;
	pthread_cond_t drained; /* CLOCK_MONOTONIC */
	unsigned in_flight;     /* requests begun and not yet answered in full */
};

/* One request on a connection, from its headers to its completion. */
struct request {
	char *body;
	size_t len;
	size_t dropped; /* bytes past GM_API_MAX_BODY, read and thrown away */
};

static void no_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls, (void)fmt, (void)ap;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct gm_api *api, const char *method,
				  const char *url, struct gm_api_reply *r)
{
	char *text = gm_api_finish(api, method, url, r);
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!text)
		return MHD_NO; /* out of memory: closing is all that is left */
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (r->allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
	if (r->close)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(c, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_too_large(struct MHD_Connection *c, struct gm_api *api, const char *method,
				      const char *url)
{
	struct gm_api_reply r = { 0 };

	gm_reply_error(&r, 413, "the request body is over %d bytes; the API takes small JSON objects, send one",
		       GM_API_MAX_BODY);
	return send_reply(c, api, method, url, &r);
}

static bool declared_too_large(struct MHD_Connection *c)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	char *end;

	if (!cl)
		return false;
	errno = 0;
	unsigned long long n = strtoull(cl, &end, 10);

	/* a malformed length is MHD's to refuse; one past what we would drop is answered unread */
	return end != cl && (n > GM_API_MAX_DISCARD || errno == ERANGE);
}

/* Collect upload data; false when the client sent far too much to keep reading. */
static bool take_body(struct request *rq, const char *data, size_t n)
{
	if (rq->dropped || rq->len + n > GM_API_MAX_BODY) {
		free(rq->body);
		rq->body = NULL;
		rq->dropped += n + rq->len;
		rq->len = 0;
		return rq->dropped <= GM_API_MAX_DISCARD;
	}
	char *nb = realloc(rq->body, rq->len + n);

	if (!nb)
		return false;
	memcpy(nb + rq->len, data, n);
	rq->body = nb;
	rq->len += n;
	return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct gm_api *api = cls;
	struct gm_api_server *srv = api->server;
	struct request *rq = *con_cls;
	struct gm_api_reply r;

	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		pthread_mutex_lock(&srv->lock);
		srv->in_flight++;
		pthread_mutex_unlock(&srv->lock);
		/* before a 100-continue invites the body in */
		if (declared_too_large(c))
			return send_too_large(c, api, method, url);
		return MHD_YES;
	}
	if (*upload_data_size) {
		bool keep = take_body(rq, upload_data, *upload_data_size);

		*upload_data_size = 0;
		return keep ? MHD_YES : MHD_NO;
	}
	if (rq->dropped)
		return send_too_large(c, api, method, url);
	gm_api_dispatch(api, method, url, rq->body, rq->len, &r);
	return send_reply(c, api, method, url, &r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct gm_api_server *srv = ((struct gm_api *)cls)->server;
	struct request *rq = *con_cls;

	(void)c, (void)toe;
	if (!rq)
		return;
	free(rq->body);
	free(rq);
	*con_cls = NULL;
	pthread_mutex_lock(&srv->lock);
	if (--srv->in_flight == 0)
		pthread_cond_broadcast(&srv->drained);
	pthread_mutex_unlock(&srv->lock);
}

static struct gm_api_server *server_new(void)
{
	struct gm_api_server *srv = calloc(1, sizeof(*srv));
	pthread_condattr_t ca;

	if (!srv)
		return NULL;
	srv->sock.fd = -1;
	pthread_mutex_init(&srv->lock, NULL);
	pthread_mutex_init(&srv->state, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&srv->drained, &ca);
	pthread_condattr_destroy(&ca);
	return srv;
}

static void server_free(struct gm_api_server *srv)
{
	pthread_cond_destroy(&srv->drained);
	pthread_mutex_destroy(&srv->lock);
	pthread_mutex_destroy(&srv->state);
	free(srv);
}

/* Serve api on its socket: a new daemon over srv->sock.fd. */
static int start_daemon_here(struct gm_api *api, struct gm_error *err)
{
	const unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			       MHD_USE_POLL | MHD_USE_ITC;
	struct gm_api_server *srv = api->server;
	char shown[GM_ESCAPE_PATH];

	/* the logger comes first so that nothing is printed while options are read */
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, api,
		MHD_OPTION_EXTERNAL_LOGGER, no_log, NULL,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)srv->sock.fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)GM_API_MAX_CONNS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)GM_API_IDLE_SECONDS,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)GM_API_HEADER_MEMORY,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
		MHD_OPTION_END);
	if (!srv->daemon)
		return gm_fail(err, GM_STATUS_FAILURE, errno ? errno : EINVAL,
			       "cannot start the API server on %s: %s; check the thread and fd limits",
			       gm_escape(srv->sock.path ? srv->sock.path : "its socket", shown, sizeof(shown)),
			       strerror(errno ? errno : EINVAL));
	return 0;
}

struct starter {
	struct gm_api *api;
	struct gm_error *err;
	int r;
};

static void *starter_main(void *p)
{
	struct starter *st = p;

	gm_thread_started(GM_THREAD_API);
	st->r = start_daemon_here(st->api, st->err);
	return NULL;
}

/*
 * libmicrohttpd makes the poller, which makes a thread per connection: all
 * inherit the filter of the thread that starts the daemon.  A short-lived
 * thread that first runs the API's thread-start hook starts it, so they
 * all have the API's list (within its maker's: main setting up, or the op
 * thread restarting the server after an aborted live update).
 */
static int start_daemon(struct gm_api *api, struct gm_error *err)
{
	struct starter st = { api, err, 0 };
	pthread_t t;
	int r = pthread_create(&t, NULL, starter_main, &st);

	if (r)
		return gm_fail(err, GM_STATUS_FAILURE, r, "cannot start the API server's thread (%s); check the thread limits",
			       strerror(r));
	pthread_join(t, NULL);
	return st.r;
}

/* The op and launcher threads (worker.c), made while this thread is still unconfined. */
static int start_workers(struct gm_api *api, struct gm_error *err)
{
	int r = gm_worker_start(GM_THREAD_MIGRATION, true, &api->ops, err);

	if (!r)
		r = gm_worker_start(GM_THREAD_LAUNCHER, false, &api->launcher, err);
	if (r) {
		gm_worker_stop(api->ops);
		api->ops = NULL;
	}
	return r;
}

/* A new api with a server on a new socket at path (fd < 0) or on fd, which is then ours whatever happens. */
static int create(const char *path, int fd, struct gm_events *events, struct gm_machine *m, struct gm_api **out,
		  struct gm_error *err)
{
	struct gm_api *api;
	int rc;

	*out = NULL;
	api = gm_api_alloc(err);
	if (!api) {
		rc = -ENOMEM;
		goto out_fd;
	}
	api->events = events;
	/* before the first connection: a handed-over socket's clients expect the VM at once */
	api->machine = m;
	api->server = server_new();
	if (!api->server) {
		gm_api_free(api);
		rc = gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the API server; free some memory and retry");
		goto out_fd;
	}
	rc = fd < 0 ? gm_api_socket_open(path, &api->server->sock, err)
		    : gm_api_socket_adopt(fd, path, &api->server->sock, err);
	if (rc < 0) {
		server_free(api->server);
		gm_api_free(api);
		goto out_fd;
	}
	rc = start_workers(api, err);
	if (!rc) {
		rc = start_daemon(api, err);
		if (rc < 0) {
			gm_worker_stop(api->launcher);
			gm_worker_stop(api->ops);
			api->ops = api->launcher = NULL;
		}
	}
	if (rc < 0) {
		/* a daemon that failed to start leaves the listening socket to us */
		if (fd < 0)
			gm_api_socket_unlink(&api->server->sock);
		free(api->server->sock.path);
		close(api->server->sock.fd);
		server_free(api->server);
		gm_api_free(api);
		return rc;
	}
	*out = api;
	return 0;
out_fd:
	if (fd >= 0)
		close(fd);
	return rc;
}

int gm_api_create(const char *path, struct gm_events *events, struct gm_api **out, struct gm_error *err)
{
	return create(path, -1, events, NULL, out, err);
}

int gm_api_adopt(int fd, const char *path, struct gm_events *events, struct gm_machine *m, struct gm_api **out,
		 struct gm_error *err)
{
	*out = NULL;
	if (fd < 0)
		return gm_fail(err, GM_STATUS_FAILURE, EBADF, "no API socket was handed over; this is a bug in the caller");
	return create(path ? path : "", fd, events, m, out, err);
}

int gm_api_server_listen_fd(struct gm_api *api, const char **path)
{
	if (path)
		*path = api->server ? api->server->sock.path : NULL;
	return api->server ? api->server->sock.fd : -1;
}

/*
 * quiesce, unquiesce (a live update's thread) and stop (the owner's) may
 * meet: the update can end in a failure while the owner stops serving
 * because the guest ended meanwhile.  srv->state guards the daemons and
 * the flags; a stopped server is never quiesced nor restarted.
 */
int gm_api_server_quiesce(void *opaque, struct gm_error *err)
{
	struct gm_api_server *srv = ((struct gm_api *)opaque)->server;
	int r = 0;

	if (!srv)
		return 0;
	pthread_mutex_lock(&srv->state);
	if (srv->stopping || !srv->daemon)
		r = gm_fail(err, GM_STATUS_FAILURE, EALREADY,
			    "the API server is not accepting connections (gmvm is stopping, or another update holds it); nothing to hand over");
	else if (srv->nretired == GM_API_MAX_RETIRED)
		r = gm_fail(err, GM_STATUS_FAILURE, EMFILE,
			    "the API server was restarted after %d aborted live updates and keeps each old one until gmvm exits; migrate the VM, or snapshot and restore it, to update it",
			    GM_API_MAX_RETIRED);
	/* the daemon answers what it has (this very request too), accepts no more;
	 * the socket stays ours, so clients queue in its backlog meanwhile */
	else if (MHD_quiesce_daemon(srv->daemon) == MHD_INVALID_SOCKET)
		r = gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			    "the API server could not stop accepting connections (libmicrohttpd refused); the live update cannot hand its socket over");
	if (!r) {
		srv->retired[srv->nretired++] = srv->daemon;
		srv->daemon = NULL;
		/* from here the path may be another process's: stop must not unlink it */
		srv->handing_over = true;
	}
	pthread_mutex_unlock(&srv->state);
	return r;
}

int gm_api_server_unquiesce(void *opaque, struct gm_error *err)
{
	struct gm_api *api = opaque;
	struct gm_api_server *srv = api->server;
	int r = 0;

	if (!srv)
		return 0;
	pthread_mutex_lock(&srv->state);
	/* the quiesced daemon may still be answering on this very thread: it
	 * cannot stop here, so a new one takes the socket and the old one goes at destroy */
	if (!srv->stopping && !srv->daemon) {
		srv->handing_over = false;
		r = start_daemon(api, err);
	}
	pthread_mutex_unlock(&srv->state);
	return r;
}

/* Wait until no request is in flight, at most GM_API_DRAIN_MS. */
static void drain(struct gm_api_server *srv)
{
	struct timespec until;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += (long)GM_API_DRAIN_MS * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_mutex_lock(&srv->lock);
	while (srv->in_flight > 0)
		if (pthread_cond_timedwait(&srv->drained, &srv->lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&srv->lock);
}

void gm_api_server_stop(struct gm_api *api)
{
	struct gm_api_server *srv = api->server;

	pthread_mutex_lock(&srv->state);
	srv->stopping = true;
	/* a quiesced daemon hands the listening socket back; one that cannot be
	 * quiesced closes it itself at its stop, so it is not ours to close */
	bool ours = !srv->daemon || MHD_quiesce_daemon(srv->daemon) != MHD_INVALID_SOCKET;
	/* new clients now find no socket instead of waiting in a backlog nobody
	 * reads; unless a live update hands the socket on: then it is the new
	 * process's path (the update ends the machine, which wakes the owner to
	 * stop this server, before its own request is answered) */
	if (srv->handing_over) {
		free(srv->sock.path);
		srv->sock.path = NULL;
	}
	pthread_mutex_unlock(&srv->state);
	gm_api_socket_unlink(&srv->sock);
	drain(srv);
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	for (unsigned i = 0; i < srv->nretired; i++)
		MHD_stop_daemon(srv->retired[i]);
	if (ours)
		close(srv->sock.fd);
	server_free(srv);
	api->server = NULL;
}
