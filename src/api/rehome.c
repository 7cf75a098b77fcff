/*
 * api/: re-homing's endpoints.  vm.memory-rehome moves one memory region
 * of the running guest onto a new memory object and answers when that
 * ended (the client watches vm.info meanwhile, on another connection);
 * the guest runs on either way.  vm.memory-rehome-cancel is unordered,
 * as vm.migration-cancel: the re-home it stops is the PUT in flight.
 * The body's fields become --memory keys ("backend=memfd,hugepages=2M"),
 * so the one parser of --memory judges them and gives every message.
 * The progress record's JSON is shared with vm.info and the events.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "gmvm/migration.h"
#include "gmvm/rehome.h"

json_t *gm_json_rehome(const struct gm_rehome_progress *p)
{
	json_t *o = json_pack("{s:s}", "phase", gm_rehome_phase_name(p->phase));

	if (!o || p->phase == GM_REHOME_NONE)
		return o;
	json_object_set_new(o, "region", gm_json_text(p->region));
	json_object_set_new(o, "from", gm_json_text(p->from));
	json_object_set_new(o, "to", gm_json_text(p->to));
	json_object_set_new(o, "round", json_integer(p->round));
	json_object_set_new(o, "pages_total", gm_json_u64(p->pages_total));
	json_object_set_new(o, "pages_left", gm_json_u64(p->pages_left));
	json_object_set_new(o, "pages_copied", gm_json_u64(p->pages_copied));
	json_object_set_new(o, "pages_skipped", gm_json_u64(p->pages_skipped));
	json_object_set_new(o, "copy_mbps", json_real(p->copy_mbps));
	json_object_set_new(o, "throttle_pct", json_integer(p->throttle_pct));
	json_object_set_new(o, "resident_before", gm_json_u64(p->resident_before));
	json_object_set_new(o, "resident_after", gm_json_u64(p->resident_after));
	json_object_set_new(o, "elapsed_ms", json_real(p->elapsed_ms));
	if (p->phase == GM_REHOME_COMPLETED)
		json_object_set_new(o, "pause_ms", json_real(p->pause_ms));
	if (p->phase == GM_REHOME_FAILED || p->phase == GM_REHOME_CANCELLED)
		json_object_set_new(o, "error", gm_json_text(p->error));
	return o;
}

json_t *gm_json_rehome_of(struct gm_machine *m)
{
	struct gm_rehome_progress p;

	gm_machine_rehome_progress(m, &p);
	return gm_json_rehome(&p);
}

int gm_check_rehome_numa_node(const struct gm_route *rt, const struct gm_field *f, json_t *val,
			      struct gm_api_reply *r)
{
	json_int_t v = json_integer_value(val);

	if (v >= -1 && v <= INT_MAX)
		return 0;
	gm_reply_error(r, 400, "field '%s' in %s is %lld; send a node number from /sys/devices/system/node, or -1 for no policy",
		       f->name, rt->name, (long long)v);
	return -1;
}

/* A region name is a --region name: short, and no comma or '=' to slip keys in. */
int gm_check_rehome_region(const struct gm_route *rt, const struct gm_field *f, json_t *val,
			   struct gm_api_reply *r)
{
	size_t n = json_string_length(val);

	if (n > 0 && n < sizeof(((struct gm_rehome_progress *)0)->region) &&
	    strlen(json_string_value(val)) == n && !strpbrk(json_string_value(val), ",= "))
		return 0;
	gm_reply_error(r, 400, "field '%s' in %s is not a region name; send \"ram\" or the name of a --region",
		       f->name, rt->name);
	return -1;
}

/* Append ",key=value" (without the comma first); false when it did not fit. */
static bool add_key(char *buf, size_t len, size_t *used, const char *key, const char *val)
{
	int n = snprintf(buf + *used, len - *used, "%s%s=%s", *used ? "," : "", key, val);

	if (n < 0 || (size_t)n >= len - *used)
		return false;
	*used += (size_t)n;
	return true;
}

/*
 * The body's memory fields as --memory keys; the body checker vouched for
 * their types and words.  hugepages "off" is 4K pages, as without hugetlb.
 */
static bool memory_keys(json_t *body, char *buf, size_t len)
{
	const char *backend = json_string_value(json_object_get(body, "backend"));
	const char *huge = json_string_value(json_object_get(body, "hugepages"));
	json_t *numa = json_object_get(body, "numa_node");
	json_t *prealloc = json_object_get(body, "prealloc");
	json_t *movable = json_object_get(body, "movable");
	char num[24];
	size_t used = 0;
	bool ok = true;

	buf[0] = '\0';
	if (backend)
		ok = ok && add_key(buf, len, &used, "backend", backend);
	if (huge)
		ok = ok && add_key(buf, len, &used, "hugepages", strcmp(huge, "off") ? huge : "4K");
	if (numa) {
		if (json_integer_value(numa) < 0)
			snprintf(num, sizeof(num), "any"); /* -1: no policy */
		else
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(numa));
		ok = ok && add_key(buf, len, &used, "numa-node", num);
	}
	if (prealloc)
		ok = ok && add_key(buf, len, &used, "prealloc", json_is_true(prealloc) ? "on" : "off");
	if (movable)
		ok = ok && add_key(buf, len, &used, "movable", json_is_true(movable) ? "on" : "off");
	return ok;
}

static unsigned opt_uint(json_t *body, const char *name, unsigned dflt)
{
	json_t *v = json_object_get(body, name);

	return v ? (unsigned)json_integer_value(v) : dflt;
}

/* A re-home or migration under way: 409 in r, rather than one more queued behind it. */
static bool busy(struct gm_machine *m, struct gm_api_reply *r)
{
	struct gm_migration_progress mig;
	struct gm_rehome_progress p;

	gm_machine_migration_progress(m, &mig);
	if (mig.phase >= GM_MIGRATION_CONNECTING && mig.phase <= GM_MIGRATION_POSTCOPY) {
		gm_reply_error(r, 409, "a migration is running (%s); re-home after it ended or was cancelled",
			       gm_migration_phase_name(mig.phase));
		return true;
	}
	gm_machine_rehome_progress(m, &p);
	if (p.phase != GM_REHOME_PREPARING && p.phase != GM_REHOME_COPYING && p.phase != GM_REHOME_SWITCHING)
		return false;
	gm_reply_error(r, 409, "a re-home of region %s is running; wait for its end (GET " GM_API_PREFIX
		       "vm.info shows how far it is) or stop it with PUT " GM_API_PREFIX "vm.memory-rehome-cancel",
		       p.region);
	return true;
}

/*
 * Runs on the connection's thread until the re-home ended; the guest runs
 * on meanwhile.  The route is unordered so that a second re-home hears 409
 * at once instead of queueing behind the first for minutes; it then takes
 * the PUTs' order itself, so a pause or shutdown still waits for its end.
 */
void gm_route_rehome(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r)
{
	const char *region = json_string_value(json_object_get(body, "region"));
	char memory[256];
	struct gm_rehome_params p = {
		.region = region ? region : "ram",
		.memory = memory,
		.downtime_ms = opt_uint(body, "downtime_ms", 0),
		.timeout_s = opt_uint(body, "timeout_s", 0),
	};
	struct gm_rehome_progress res;
	struct gm_error err = { 0 };
	int rc, status;

	if (!memory_keys(body, memory, sizeof(memory))) {
		gm_reply_error(r, 400, "the fields of vm.memory-rehome make too long a memory option; send fewer or shorter values");
		return;
	}
	if (busy(m, r))
		return;
	pthread_mutex_lock(&api->op_lock);
	rc = gm_machine_rehome(m, &p, &res, &err);
	pthread_mutex_unlock(&api->op_lock);
	if (rc == 0) {
		gm_reply_json(r, 200, json_pack("{s:o}", "rehome", gm_json_rehome(&res)));
		return;
	}
	/* what this kernel cannot do is not the request's fault: 501, client exit 3 */
	if (rc == -EBUSY || rc == -EALREADY || rc == -ESRCH)
		status = 409;
	else if (err.status == GM_STATUS_NO_KERNEL)
		status = 501;
	else if (err.status == GM_STATUS_BAD_INPUT)
		status = 400;
	else
		status = 500;
	if (err.msg[0])
		gm_reply_error(r, status, "%s", err.msg);
	else
		gm_reply_error(r, status, "cannot re-home region %s: %s; GET " GM_API_PREFIX "vm.info shows the last re-home",
			       p.region, strerror(rc < 0 ? -rc : rc));
}

void gm_route_rehome_cancel(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r)
{
	struct gm_error err = { 0 };

	(void)api, (void)body;
	if (gm_machine_rehome_cancel(m, &err) < 0)
		gm_reply_error(r, 409, "%s; vm.info shows the last one", err.msg[0] ? err.msg : "no re-home is running");
	else
		gm_reply_json(r, 200, json_pack("{s:b}", "cancelled", 1));
}
