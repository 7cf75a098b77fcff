/*
 * api/: the event monitor.  One JSON object per line, each line one write()
 * under a mutex, so lines from vCPU threads, the halt poller and API
 * threads never interleave and a reader never sees half a line.  The
 * monitor is a witness, not a part of the machine: when a write fails
 * (disk full, reader gone) it stops writing and the guest runs on.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "util/escape.h"

struct gm_events {
	pthread_mutex_t lock;
	int fd;
	bool own_fd;
	bool failed; /* a write failed: stay quiet from then on */
};

static int parse_fd(const char *s, int *out)
{
	long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > INT_MAX)
			return -1;
	}
	*out = (int)v;
	return 0;
}

static int open_fd(const char *spec, const char *num, int *fd, struct gm_error *err)
{
	char shown[GM_ESCAPE_SHORT];
	int flags;

	if (parse_fd(num, fd) < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "bad event monitor '%s': the descriptor must be a number; use fd=N or path=FILE",
			       gm_escape(spec, shown, sizeof(shown)));
	if (fcntl(*fd, F_GETFD) < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, errno,
			       "event monitor fd=%d is not an open descriptor; open it for gmvm (e.g. 3>events.log) or use path=FILE",
			       *fd);
	flags = fcntl(*fd, F_GETFL);
	if (flags >= 0 && (flags & O_ACCMODE) == O_RDONLY)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EBADF,
			       "event monitor fd=%d is open for reading only; open it for writing (e.g. 3>events.log)",
			       *fd);
	return 0;
}

int gm_events_open(const char *spec, struct gm_events **out, struct gm_error *err)
{
	char shown[GM_ESCAPE_PATH];
	struct gm_events *ev;
	bool own = false;
	int fd = -1, rc;

	*out = NULL;
	if (spec && strncmp(spec, "path=", 5) == 0 && spec[5]) {
		fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			return gm_fail(err, GM_STATUS_BAD_INPUT, errno,
				       "cannot open the event file %s: %s; check that its directory exists and is writable",
				       gm_escape(spec + 5, shown, sizeof(shown)), strerror(errno));
		own = true;
	} else if (spec && strncmp(spec, "fd=", 3) == 0) {
		rc = open_fd(spec, spec + 3, &fd, err);
		if (rc < 0)
			return rc;
	} else {
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "bad event monitor '%s'; use path=FILE or fd=N",
			       gm_escape(spec ? spec : "", shown, sizeof(shown)));
	}
	ev = calloc(1, sizeof(*ev));
	if (!ev) {
		if (own)
			close(fd);
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the event monitor; free some memory and retry");
	}
	pthread_mutex_init(&ev->lock, NULL);
	ev->fd = fd;
	ev->own_fd = own;
	*out = ev;
	return 0;
}

void gm_events_close(struct gm_events *ev)
{
	if (!ev)
		return;
	if (ev->own_fd)
		close(ev->fd);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

int gm_events_fd(struct gm_events *ev)
{
	return ev ? ev->fd : -1;
}

/*
 * write() without dying of SIGPIPE when the reader of a pipe has gone: the
 * library installs no handler, so it blocks the signal on this thread for
 * the call and takes back the one its own write raised.
 */
static ssize_t write_quiet(int fd, const void *buf, size_t n)
{
	const struct timespec zero = { 0 };
	sigset_t pipe_set, old, pending;
	bool was_pending;
	ssize_t w;
	int saved;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	do
		w = write(fd, buf, n);
	while (w < 0 && errno == EINTR);
	saved = errno;
	if (w < 0 && saved == EPIPE && !was_pending)
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return w;
}

/* Write obj (stolen) as one line, or nothing if building it failed. */
static void emit(struct gm_events *ev, json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	size_t n;

	json_decref(obj);
	if (!text)
		return;
	n = strlen(text);
	char *line = realloc(text, n + 2);

	if (!line) {
		free(text);
		return;
	}
	line[n] = '\n';
	line[n + 1] = '\0';
	pthread_mutex_lock(&ev->lock);
	/* a short write is a failure too: the next line must not glue onto half of this one */
	if (!ev->failed && write_quiet(ev->fd, line, n + 1) != (ssize_t)(n + 1))
		ev->failed = true;
	pthread_mutex_unlock(&ev->lock);
	free(line);
}

static json_t *event_start(uint64_t time_us, const char *name)
{
	return json_pack("{s:I, s:s}", "timestamp_us", (json_int_t)time_us, "event", name);
}

static const char *event_name(enum gm_event_kind k)
{
	switch (k) {
	case GM_EVENT_CREATED: return "created";
	case GM_EVENT_RUNNING: return "running";
	case GM_EVENT_PAUSED: return "paused";
	case GM_EVENT_RESUMED: return "resumed";
	case GM_EVENT_BINDING: return "binding";
	case GM_EVENT_DISCARD: return "discard";
	case GM_EVENT_SHUTDOWN: return "shutdown";
	case GM_EVENT_MIGRATION: return "migration";
	case GM_EVENT_MIGRATED: return "migrated";
	case GM_EVENT_REHOME: return "rehome";
	case GM_EVENT_UPDATE: return "update";
	}
	return "unknown";
}

void gm_events_machine_hook(void *events, const struct gm_event *e)
{
	struct gm_events *ev = events;
	json_t *o;

	if (!ev || !e)
		return;
	o = event_start(e->time_us, event_name(e->kind));
	if (!o)
		return;
	switch (e->kind) {
	case GM_EVENT_BINDING:
		json_object_set_new(o, "mode", json_string(gm_bind_name(e->binding)));
		break;
	case GM_EVENT_DISCARD:
		json_object_set_new(o, "gpa", gm_json_u64(e->gpa));
		json_object_set_new(o, "length", gm_json_u64(e->length));
		break;
	case GM_EVENT_SHUTDOWN:
		if (e->exit) {
			json_object_set_new(o, "kind", json_string(gm_exit_kind_name(e->exit->kind)));
			json_object_set_new(o, "status", json_integer(e->exit->status));
			json_object_set_new(o, "reason", gm_json_text(e->exit->reason));
		}
		break;
	case GM_EVENT_MIGRATION:
	case GM_EVENT_MIGRATED:
		if (e->migration)
			json_object_update_missing_new(o, gm_json_migration(e->migration));
		break;
	case GM_EVENT_REHOME:
		if (e->rehome)
			json_object_update_missing_new(o, gm_json_rehome(e->rehome));
		break;
	case GM_EVENT_UPDATE:
		if (e->update)
			json_object_update_missing_new(o, gm_json_update(e->update));
		break;
	default:
		break;
	}
	emit(ev, o);
}

void gm_events_request(struct gm_events *ev, const char *method, const char *path, int status)
{
	struct timespec now;
	json_t *o;

	if (!ev)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	o = event_start((uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000, "request");
	if (!o)
		return;
	json_object_set_new(o, "method", gm_json_text(method ? method : ""));
	json_object_set_new(o, "path", gm_json_text(path ? path : ""));
	json_object_set_new(o, "status", json_integer(status));
	emit(ev, o);
}
