/*
 * api/: live migration's endpoints.  vm.send-migration runs the whole
 * migration on the connection's thread and answers when it ended (the
 * client watches vm.info meanwhile, on another connection); on success the
 * process ends right after the answer, as the machine has.
 * vm.migration-cancel is the one PUT that does not queue behind the PUT in
 * flight, since the migration it stops is that PUT.  Both share the
 * progress record's JSON with vm.info and the events.
 */
#include <errno.h>
#include <string.h>

#include "api/api_internal.h"
#include "gmvm/migration.h"
#include "move/transport.h"

int gm_check_migration_url(const struct gm_route *rt, const struct gm_field *f, json_t *val,
			   struct gm_api_reply *r)
{
	struct gm_move_url u;
	struct gm_error err = { 0 };

	if (gm_move_url_parse(json_string_value(val), &u, &err) == 0)
		return 0;
	gm_reply_error(r, 400, "field '%s' in %s: %s", f->name, rt->name, err.msg);
	return -1;
}

json_t *gm_json_migration(const struct gm_migration_progress *p)
{
	json_t *o = json_pack("{s:s}", "phase", gm_migration_phase_name(p->phase));

	if (!o || p->phase == GM_MIGRATION_NONE)
		return o;
	json_object_set_new(o, "destination_url", gm_json_text(p->url));
	json_object_set_new(o, "round", json_integer(p->round));
	json_object_set_new(o, "pages_total", gm_json_u64(p->pages_total));
	json_object_set_new(o, "pages_left", gm_json_u64(p->pages_left));
	json_object_set_new(o, "pages_sent", gm_json_u64(p->pages_sent));
	json_object_set_new(o, "bytes_sent", gm_json_u64(p->bytes_sent));
	json_object_set_new(o, "bandwidth_mbps", json_real(p->bandwidth_mbps));
	json_object_set_new(o, "expected_downtime_ms", json_real(p->expected_downtime_ms));
	json_object_set_new(o, "throttle_pct", json_integer(p->throttle_pct));
	json_object_set_new(o, "elapsed_ms", json_real(p->elapsed_ms));
	if (p->phase == GM_MIGRATION_COMPLETED)
		json_object_set_new(o, "downtime_ms", json_real(p->downtime_ms));
	if (p->phase == GM_MIGRATION_FAILED || p->phase == GM_MIGRATION_CANCELLED)
		json_object_set_new(o, "error", gm_json_text(p->error));
	return o;
}

/* A number field within [lo, hi]; the body checker vouched it is a non-negative integer. */
static int in_range(const struct gm_route *rt, const struct gm_field *f, json_t *val, json_int_t lo, json_int_t hi,
		    const char *what, struct gm_api_reply *r)
{
	json_int_t v = json_integer_value(val);

	if (v >= lo && v <= hi)
		return 0;
	gm_reply_error(r, 400, "field '%s' in %s is %lld; send %s", f->name, rt->name, (long long)v, what);
	return -1;
}

int gm_check_migration_connections(const struct gm_route *rt, const struct gm_field *f, json_t *val,
				   struct gm_api_reply *r)
{
	return in_range(rt, f, val, 1, GM_MIGRATION_MAX_CONNECTIONS, "1 to 16", r);
}

int gm_check_migration_downtime(const struct gm_route *rt, const struct gm_field *f, json_t *val,
				struct gm_api_reply *r)
{
	return in_range(rt, f, val, 1, 60000, "1 to 60000 (ms)", r);
}

int gm_check_migration_timeout(const struct gm_route *rt, const struct gm_field *f, json_t *val,
			       struct gm_api_reply *r)
{
	return in_range(rt, f, val, 0, 604800, "0 (no limit) to 604800 (a week, in s)", r);
}

static unsigned opt_uint(json_t *body, const char *name, unsigned dflt)
{
	json_t *v = json_object_get(body, name);

	return v ? (unsigned)json_integer_value(v) : dflt;
}

/* The body checker vouched for every field: types, choices and ranges. */
void gm_route_send_migration(struct gm_api *api, struct gm_machine *m, json_t *body,
			     struct gm_api_reply *r)
{
	const char *mode = json_string_value(json_object_get(body, "memory_mode"));
	const char *compress = json_string_value(json_object_get(body, "compress"));
	struct gm_migration_params p = {
		.url = json_string_value(json_object_get(body, "destination_url")),
		.downtime_ms = opt_uint(body, "downtime_ms", 50),
		.timeout_s = opt_uint(body, "timeout_s", 0),
		.connections = opt_uint(body, "connections", 1),
		.postcopy = mode && strcmp(mode, "postcopy") == 0,
		.compress = compress && strcmp(compress, "zstd") == 0,
	};
	struct gm_migration_progress res;
	struct gm_error err = { 0 };
	int rc;

	(void)api;
	rc = gm_machine_migrate(m, &p, &res, &err);
	if (rc == 0) {
		gm_reply_json(r, 200, json_pack("{s:s, s:f, s:o, s:f, s:i, s:i, s:o, s:o}", "status", "completed",
						"total_ms", res.elapsed_ms, "bytes_sent", gm_json_u64(res.bytes_sent),
						"downtime_ms", res.downtime_ms, "rounds", (int)res.round,
						"throttle_pct", (int)res.throttle_pct, "pages_sent",
						gm_json_u64(res.pages_sent), "destination_url", gm_json_text(res.url)));
		return;
	}
	/* what this kernel cannot do is not the request's fault: 501, client exit 3 */
	if (err.status == GM_STATUS_NO_KERNEL)
		gm_reply_error(r, 501, "%s", err.msg);
	else if (err.status == GM_STATUS_BAD_INPUT || rc == -EBUSY || rc == -ESRCH)
		gm_reply_machine_error(r, rc, &err, "migrate the VM");
	else
		gm_reply_error(r, 500, "%s", err.msg);
}

void gm_route_migration_cancel(struct gm_api *api, struct gm_machine *m, json_t *body,
			       struct gm_api_reply *r)
{
	struct gm_error err = { 0 };

	(void)api, (void)body;
	if (gm_machine_migration_cancel(m, &err) < 0)
		gm_reply_error(r, 409, "%s; vm.info shows the last one", err.msg);
	else
		gm_reply_json(r, 200, json_pack("{s:b}", "cancelled", 1));
}
