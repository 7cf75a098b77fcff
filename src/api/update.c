/*
 * api/: vmm.live-update, a running gmvm handing its guest to a new gmvm
 * process (docs/live-update.md).  The route runs the whole update on the
 * connection's thread and answers when it ended: on success the answer
 * comes from this (old) process after the new one runs the guest, and
 * this process ends right after it, as the machine has.  The body is
 * judged before any machine is looked at: the binary must be an absolute
 * path to an executable file, and the extra arguments must not name what
 * the running VM hands over itself (its guest, memory, sockets, identity).
 * The progress record's JSON is shared with vm.info and the events.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "gmvm/migration.h"
#include "gmvm/rehome.h"
#include "gmvm/update.h"
#include "util/escape.h"

/* The longest extra argument: as long as the longest --cmdline and then some. */
#define ARG_MAX_BYTES 4096

json_t *gm_json_update(const struct gm_update_progress *p)
{
	json_t *o = json_pack("{s:s, s:I}", "phase", gm_update_phase_name(p->phase), "updates",
			      (json_int_t)p->updates);

	if (!o || p->phase == GM_UPDATE_NONE)
		return o;
	/* every number from the start, 0 until measured: a reader need not know which phase sets which */
	json_object_set_new(o, "binary", gm_json_text(p->binary));
	json_object_set_new(o, "pid", json_integer(p->pid));
	json_object_set_new(o, "check_ms", json_real(p->check_ms));
	json_object_set_new(o, "pause_ms", json_real(p->pause_ms));
	json_object_set_new(o, "load_ms", json_real(p->load_ms));
	json_object_set_new(o, "elapsed_ms", json_real(p->elapsed_ms));
	json_object_set_new(o, "state_bytes", gm_json_u64(p->state_bytes));
	json_object_set_new(o, "fds", json_integer(p->fds));
	json_object_set_new(o, "bind", gm_json_text(p->bind));
	if (p->phase == GM_UPDATE_REFUSED || p->phase == GM_UPDATE_ABORTED)
		json_object_set_new(o, "error", gm_json_text(p->error));
	return o;
}

json_t *gm_json_update_of(struct gm_machine *m)
{
	struct gm_update_progress p;

	gm_machine_update_progress(m, &p);
	return gm_json_update(&p);
}

/* A string field must not hide a NUL: the new process would see it cut there. */
static bool has_nul(json_t *val)
{
	return strlen(json_string_value(val)) != json_string_length(val);
}

int gm_check_update_binary(const struct gm_route *rt, const struct gm_field *f, json_t *val,
			   struct gm_api_reply *r)
{
	const char *path = json_string_value(val);
	char shown[GM_ESCAPE_PATH];
	struct stat st;

	gm_escape_n(path, json_string_length(val), shown, sizeof(shown));
	if (has_nul(val) || json_string_length(val) >= PATH_MAX) {
		gm_reply_error(r, 400, "field '%s' in %s is not a path; send the absolute path of a gmvm binary",
			       f->name, rt->name);
		return -1;
	}
	/* the server runs in a directory of its own: a relative path would name another file */
	if (path[0] != '/') {
		gm_reply_error(r, 400, "field '%s' in %s: '%s' is not an absolute path; send the full path of the gmvm binary (gmvm update makes it absolute)",
			       f->name, rt->name, shown);
		return -1;
	}
	if (stat(path, &st) < 0) {
		gm_reply_error(r, 400, "field '%s' in %s: cannot use %s: %s; send the path of an installed gmvm binary",
			       f->name, rt->name, shown, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0) {
		gm_reply_error(r, 400, "field '%s' in %s: %s is not an executable file; send the path of a gmvm binary (chmod +x it if it is one)",
			       f->name, rt->name, shown);
		return -1;
	}
	return 0;
}

/*
 * What the running VM hands over itself; given again, the new process
 * would build another guest, or fight over a socket or the identity.
 * The help and "--" (which would make what follows the guest ELF) too.
 */
static const char *const forbidden[] = {
	"--takeover", "--restore", "--incoming", "--kernel", "--memory", "--region", "--api-sock",
	"--console", "--event-monitor", "--uuid", "--new-identity", "--help", NULL,
};

/* The option a (as "--name", "--name=VALUE", "-m", "-mVALUE", "-h") names when it is forbidden; else NULL. */
static const char *forbidden_option(const char *a)
{
	if (!strcmp(a, "--"))
		return "--";
	if (a[0] == '-' && a[1] == 'm')
		return "--memory";
	if (!strcmp(a, "-h"))
		return "--help";
	for (const char *const *o = forbidden; *o; o++) {
		size_t n = strlen(*o);

		if (!strncmp(a, *o, n) && (a[n] == '\0' || a[n] == '='))
			return *o;
	}
	return NULL;
}

int gm_check_update_args(const struct gm_route *rt, const struct gm_field *f, json_t *val,
			 struct gm_api_reply *r)
{
	char shown[GM_ESCAPE_SHORT];
	const char *opt;
	size_t i;
	json_t *a;

	if (json_array_size(val) > GM_UPDATE_MAX_ARGS) {
		gm_reply_error(r, 400, "field '%s' in %s has %zu arguments; send at most %d", f->name, rt->name,
			       json_array_size(val), GM_UPDATE_MAX_ARGS);
		return -1;
	}
	json_array_foreach(val, i, a) {
		if (!json_is_string(a)) {
			gm_reply_error(r, 400, "field '%s' in %s: argument %zu is not a string; send an array of strings, e.g. [\"--timeout\", \"30\"]",
				       f->name, rt->name, i);
			return -1;
		}
		if (has_nul(a) || json_string_length(a) > ARG_MAX_BYTES) {
			gm_reply_error(r, 400, "field '%s' in %s: argument %zu is longer than %d bytes (or holds a NUL); send shorter arguments",
				       f->name, rt->name, i, ARG_MAX_BYTES);
			return -1;
		}
		opt = forbidden_option(json_string_value(a));
		if (opt) {
			gm_reply_error(r, 400, "field '%s' in %s: argument %zu is '%s', which the running VM hands over itself (%s); drop it",
				       f->name, rt->name, i,
				       gm_escape_n(json_string_value(a), json_string_length(a), shown, sizeof(shown)),
				       !strcmp(opt, "--") || !strcmp(opt, "--help") ? "its guest and options"
				       : !strcmp(opt, "--api-sock") || !strcmp(opt, "--console") ||
						       !strcmp(opt, "--event-monitor")
					       ? "its API socket, console and event monitor"
				       : !strcmp(opt, "--uuid") || !strcmp(opt, "--new-identity") ? "its identity"
				       : !strcmp(opt, "--takeover") ? "the handover socket"
								    : "its guest and memory");
			return -1;
		}
	}
	return 0;
}

/* A re-home, migration or update under way: 409 in r, rather than one more queued behind it. */
static bool busy(struct gm_machine *m, struct gm_api_reply *r)
{
	struct gm_migration_progress mig;
	struct gm_rehome_progress rh;
	struct gm_update_progress up;

	gm_machine_migration_progress(m, &mig);
	if (mig.phase >= GM_MIGRATION_CONNECTING && mig.phase <= GM_MIGRATION_POSTCOPY) {
		gm_reply_error(r, 409, "a migration is running (%s); update after it ended or was cancelled",
			       gm_migration_phase_name(mig.phase));
		return true;
	}
	gm_machine_rehome_progress(m, &rh);
	if (rh.phase == GM_REHOME_PREPARING || rh.phase == GM_REHOME_COPYING || rh.phase == GM_REHOME_SWITCHING) {
		gm_reply_error(r, 409, "a re-home of region %s is running; update after it ended (GET " GM_API_PREFIX
			       "vm.info shows how far it is)", rh.region);
		return true;
	}
	gm_machine_update_progress(m, &up);
	if (up.phase >= GM_UPDATE_STARTING && up.phase <= GM_UPDATE_LOADING) {
		gm_reply_error(r, 409, "a live update is running (%s); wait for its answer (GET " GM_API_PREFIX
			       "vm.info shows how far it is)", gm_update_phase_name(up.phase));
		return true;
	}
	return false;
}

/* The owner's fds that go along: the API's listening socket and the event monitor. */
static void owner_fds(struct gm_api *api, struct gm_update_params *p)
{
	const char *path = NULL;
	int fd = gm_api_server_listen_fd(api, &path);

	if (fd >= 0)
		p->owner_fds[p->nowner_fds++] = (struct gm_handover_fd){ "api", fd, path };
	fd = gm_events_fd(api->events);
	if (fd >= 0)
		p->owner_fds[p->nowner_fds++] = (struct gm_handover_fd){ "events", fd, NULL };
}

/* The update's hook at COMMIT: from now on this process answers for no VM. */
static void committed(void *opaque, pid_t pid)
{
	struct gm_api *api = opaque;
	const char *path = NULL;

	/* before the flag: whoever sees the flag finds the path */
	if (gm_api_server_listen_fd(api, &path) >= 0 && path)
		api->handed_path = strdup(path);
	atomic_store(&api->handed_to, (int)pid);
}

struct launch_job {
	int (*start)(void *arg);
	void *arg;
	int r;
};

static void run_launch(void *p)
{
	struct launch_job *j = p;

	j->r = j->start(j->arg);
}

/* The new gmvm starts from the launcher thread: exec keeps the spawner's seccomp filter, and the launcher's is the baseline. */
static int launch(void *opaque, int (*start)(void *arg), void *arg)
{
	struct gm_api *api = opaque;
	struct launch_job j = { start, arg, 0 };
	int rc;

	if (!api->launcher)
		return start(arg);
	rc = gm_worker_run(api->launcher, run_launch, &j);
	return rc < 0 ? rc : j.r;
}

/*
 * Runs on the op thread (the connection's, for a detached api) until the update ended; the guest runs
 * on meanwhile but for the handover's pause.  Unordered as vm.memory-rehome
 * is, so that a second update hears 409 at once; it then takes the PUTs'
 * order itself, so no pause or shutdown slips into the handover.
 */
void gm_route_live_update(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r)
{
	json_t *args = json_object_get(body, "args");
	const char *argv[GM_UPDATE_MAX_ARGS];
	struct gm_update_params p = {
		.binary = json_string_value(json_object_get(body, "binary")),
		.args = argv,
		.quiesce = gm_api_server_quiesce,
		.unquiesce = gm_api_server_unquiesce,
		.committed = committed,
		.launch = launch,
		.opaque = api,
	};
	struct gm_update_progress res = { 0 };
	struct gm_error err = { 0 };
	size_t i;
	json_t *a;
	int rc;

	/* the body checker vouched for at most GM_UPDATE_MAX_ARGS strings */
	json_array_foreach(args, i, a)
		argv[p.nargs++] = json_string_value(a);
	owner_fds(api, &p);
	if (busy(m, r))
		return;
	pthread_mutex_lock(&api->op_lock);
	/* on success the new process serves the socket's path: the quiesce
	 * already made sure this server never unlinks it */
	rc = gm_machine_live_update(m, &p, &res, &err);
	pthread_mutex_unlock(&api->op_lock);
	if (rc == 0) {
		json_t *o = gm_json_update(&res);

		if (o)
			json_object_set_new(o, "status", json_string("completed"));
		gm_reply_json(r, 200, o);
		return;
	}
	/* what this kernel cannot do is not the request's fault: 501, client exit 3 */
	if (err.status == GM_STATUS_NO_KERNEL)
		gm_reply_error(r, 501, "%s", err.msg);
	else if (err.status == GM_STATUS_BAD_INPUT || rc == -EBUSY || rc == -ESRCH || rc == -EALREADY)
		gm_reply_machine_error(r, rc, &err, "update the VMM");
	else if (err.msg[0])
		gm_reply_error(r, 500, "%s", err.msg);
	else
		gm_reply_error(r, 500, "the live update failed: %s; the guest runs on here, GET " GM_API_PREFIX
			       "vm.info shows the last update", strerror(rc < 0 ? -rc : EIO));
}
