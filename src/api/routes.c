/*
 * api/: the route table and the one entry point, gm_api_handle.  A route
 * names its method, the fields its body must hold and whether it needs a
 * machine; everything the routes share (404, 405 with Allow, body checks,
 * 409 before a machine is attached, locking) happens here once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "util/escape.h"

static const char *const bindings[] = { "gmem", "mapped", NULL };

/* "region" names one of the VM's memory regions; which exist is the machine's to say (control.c) */
static const struct gm_field binding_fields[] = {
	{ "mode", JSON_STRING, bindings },
	{ "region", JSON_STRING, NULL, true, NULL },
	{ NULL, JSON_NULL, NULL },
};

static const struct gm_field discard_fields[] = {
	{ "gpa", JSON_INTEGER, NULL },
	{ "length", JSON_INTEGER, NULL },
	{ "region", JSON_STRING, NULL, true, NULL },
	{ NULL, JSON_NULL, NULL },
};

static const char *const snapshot_types[] = { "full", "diff", NULL };

static const struct gm_field snapshot_fields[] = {
	{ "destination_url", JSON_STRING, NULL, false, gm_check_file_url },
	{ "type", JSON_STRING, snapshot_types, true, NULL },
	{ NULL, JSON_NULL, NULL },
};

static const char *const memory_modes[] = { "precopy", "postcopy", NULL };
static const char *const compressions[] = { "none", "zstd", NULL };

static const struct gm_field migration_fields[] = {
	{ "destination_url", JSON_STRING, NULL, false, gm_check_migration_url },
	{ "downtime_ms", JSON_INTEGER, NULL, true, gm_check_migration_downtime },
	{ "timeout_s", JSON_INTEGER, NULL, true, gm_check_migration_timeout },
	{ "connections", JSON_INTEGER, NULL, true, gm_check_migration_connections },
	{ "memory_mode", JSON_STRING, memory_modes, true, NULL },
	{ "compress", JSON_STRING, compressions, true, NULL },
	{ NULL, JSON_NULL, NULL },
};

static const char *const backends[] = { "guest-memfd", "memfd", "anon", NULL };
static const char *const page_sizes[] = { "4K", "2M", "1G", "off", NULL };

/* every field optional: none at all re-homes "ram" onto a fresh copy of itself (compaction) */
static const struct gm_field rehome_fields[] = {
	{ "region", JSON_STRING, NULL, true, gm_check_rehome_region },
	{ "backend", JSON_STRING, backends, true, NULL },
	{ "hugepages", JSON_STRING, page_sizes, true, NULL },
	{ "numa_node", JSON_INTEGER, NULL, true, gm_check_rehome_numa_node },
	{ "prealloc", JSON_TRUE, NULL, true, NULL },
	{ "movable", JSON_TRUE, NULL, true, NULL },
	{ "downtime_ms", JSON_INTEGER, NULL, true, gm_check_migration_downtime },
	{ "timeout_s", JSON_INTEGER, NULL, true, gm_check_migration_timeout },
	{ NULL, JSON_NULL, NULL },
};

/* both optional: none at all updates to the running binary itself, with the same options */
static const struct gm_field update_fields[] = {
	{ "binary", JSON_STRING, NULL, true, gm_check_update_binary },
	{ "args", JSON_ARRAY, NULL, true, gm_check_update_args },
	{ NULL, JSON_NULL, NULL },
};

static const struct gm_field balloon_fields[] = {
	{ "target_mib", JSON_INTEGER, NULL, true, NULL },
	{ "deflate_on_oom", JSON_TRUE, NULL, true, NULL },
	{ NULL, JSON_NULL, NULL },
};

static const struct gm_route routes[] = {
	{ "vmm.ping", "GET", NULL, false, gm_route_ping },
	{ "vm.info", "GET", NULL, true, gm_route_info },
	{ "vm.counters", "GET", NULL, true, gm_route_counters },
	{ "vm.pause", "PUT", NULL, true, gm_route_pause },
	{ "vm.resume", "PUT", NULL, true, gm_route_resume },
	{ "vm.shutdown", "PUT", NULL, true, gm_route_shutdown },
	{ "vm.memory-binding", "PUT", binding_fields, true, gm_route_binding },
	{ "vm.memory-discard", "PUT", discard_fields, true, gm_route_discard },
	{ "vm.balloon", "PUT", balloon_fields, true, gm_route_balloon },
	{ "vm.snapshot", "PUT", snapshot_fields, true, gm_route_snapshot, false, true },
	{ "vm.send-migration", "PUT", migration_fields, true, gm_route_send_migration, false, true },
	{ "vm.migration-cancel", "PUT", NULL, true, gm_route_migration_cancel, true },
	/* unordered: a second re-home is 409 at once; the route takes the PUTs' order itself (rehome.c) */
	{ "vm.memory-rehome", "PUT", rehome_fields, true, gm_route_rehome, true, true },
	{ "vm.memory-rehome-cancel", "PUT", NULL, true, gm_route_rehome_cancel, true },
	{ "vmm.shutdown", "PUT", NULL, false, gm_route_vmm_shutdown },
	/* unordered: a second update is 409 at once; the route takes the PUTs' order itself (update.c) */
	{ "vmm.live-update", "PUT", update_fields, true, gm_route_live_update, true, true },
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static const struct gm_route *find_route(const char *path)
{
	size_t plen = strlen(GM_API_PREFIX);

	if (strncmp(path, GM_API_PREFIX, plen) != 0)
		return NULL;
	for (size_t i = 0; i < NROUTES; i++)
		if (strcmp(path + plen, routes[i].name) == 0)
			return &routes[i];
	return NULL;
}

static void reply_not_found(struct gm_api_reply *r, const char *path)
{
	char shown[GM_ESCAPE_PATH], names[1024] = "";
	size_t used = 0;

	for (size_t i = 0; i < NROUTES; i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s %s", i ? ", " : "",
					 routes[i].method, routes[i].name);
	gm_reply_error(r, 404, "no endpoint %s; the endpoints under " GM_API_PREFIX " are: %s",
		       gm_escape(path, shown, sizeof(shown)), names);
}

static void reply_bad_method(struct gm_api_reply *r, const struct gm_route *rt, const char *method)
{
	char shown[GM_ESCAPE_SHORT];

	gm_reply_error(r, 405, "%s takes %s, not %s", rt->name, rt->method,
		       gm_escape(method, shown, sizeof(shown)));
	r->allow = rt->method;
}

/* A heavy route, run on the op thread for a connection's thread. */
struct offload {
	const struct gm_route *rt;
	struct gm_api *api;
	json_t *obj;
	struct gm_api_reply *r;
};

static void run_offloaded(void *arg)
{
	struct offload *o = arg;

	o->rt->fn(o->api, o->api->machine, o->obj, o->r);
}

static void run_route(const struct gm_route *rt, struct gm_api *api, json_t *obj, struct gm_api_reply *r)
{
	struct offload o = { rt, api, obj, r };
	int rc;

	if (!rt->offload || !api->ops) {
		rt->fn(api, api->machine, obj, r);
		return;
	}
	/* the locks taken here stay this thread's; the route runs meanwhile, under them */
	rc = gm_worker_run(api->ops, run_offloaded, &o);
	if (rc < 0)
		gm_reply_error(r, 503, "%s cannot run now: the API's operation thread %s (%s); retry, or restart gmvm if it persists",
			       rt->name, rc == -ESHUTDOWN ? "is stopping" : "cannot start a thread", strerror(-rc));
}

void gm_api_dispatch(struct gm_api *api, const char *method, const char *path, const char *body,
		     size_t body_len, struct gm_api_reply *r)
{
	const struct gm_route *rt = find_route(path);
	json_t *obj = NULL;

	*r = (struct gm_api_reply){ 0 };
	if (!rt) {
		reply_not_found(r, path);
		return;
	}
	if (strcmp(method, rt->method) != 0) {
		reply_bad_method(r, rt, method);
		return;
	}
	if (gm_body_parse(rt, body, body_len, &obj, r) < 0)
		return;

	/* GETs only read, so only the routes that change something queue up */
	bool changes = strcmp(rt->method, "PUT") == 0 && !rt->unordered;

	if (changes)
		pthread_mutex_lock(&api->op_lock);
	pthread_rwlock_rdlock(&api->machine_lock);
	int to = atomic_load(&api->handed_to);
	if (to) {
		/* a request this process took before a live update handed the VM on: the
		 * gmvm that has it answers, through the same socket path; failing that,
		 * the client is told where to go */
		if (gm_api_forward(api->handed_path, method, path, body, body_len, r) < 0)
			gm_reply_error(r, 503, "this gmvm handed its VM to gmvm pid %d in a live update; send the request again on a new connection to the same socket",
				       to);
		r->close = true;
	} else if (rt->needs_machine && !api->machine)
		gm_reply_error(r, 409, "no VM is attached yet; retry %s once gmvm run has created the machine",
			       rt->name);
	else
		run_route(rt, api, obj, r);
	pthread_rwlock_unlock(&api->machine_lock);
	if (changes)
		pthread_mutex_unlock(&api->op_lock);
	json_decref(obj);
	if (!r->json)
		gm_reply_json(r, 500, NULL);
}

char *gm_api_finish(struct gm_api *api, const char *method, const char *path,
		    struct gm_api_reply *r)
{
	char *text = r->json ? json_dumps(r->json, JSON_COMPACT) : NULL;

	json_decref(r->json);
	r->json = NULL;
	if (!text)
		r->status = 500;
	if (api->events)
		gm_events_request(api->events, method, path, r->status);
	return text;
}

int gm_api_handle(struct gm_api *api, const char *method, const char *path, const char *body,
		  size_t body_len, char **out_body)
{
	struct gm_api_reply r;

	method = method ? method : "";
	path = path ? path : "";
	gm_api_dispatch(api, method, path, body, body ? body_len : 0, &r);
	*out_body = gm_api_finish(api, method, path, &r);
	if (!*out_body) {
		*out_body = strdup("{\"error\":\"the server ran out of memory; retry later\"}");
		if (!*out_body)
			return -ENOMEM;
	}
	return r.status;
}
