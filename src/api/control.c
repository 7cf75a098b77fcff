/*
 * api/: the PUT routes.  Each is one machine call; the machine serialises
 * them against any other caller, the api's op_lock (taken by dispatch)
 * orders them against each other.  Failures become statuses in
 * gm_reply_machine_error, with the machine's own message.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "util/escape.h"

static void reply_state(struct gm_api_reply *r, const char *state)
{
	gm_reply_json(r, 200, json_pack("{s:s}", "state", state));
}

void gm_route_pause(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r)
{
	struct gm_error err = { 0 };
	int rc;

	(void)api, (void)body;
	rc = gm_machine_pause(m, &err);
	if (rc == -EALREADY && !err.msg[0])
		gm_fail(&err, GM_STATUS_BAD_INPUT, EALREADY,
			"the VM is already paused; PUT " GM_API_PREFIX "vm.resume lets it run");
	if (rc < 0)
		gm_reply_machine_error(r, rc, &err, "pause the VM");
	else
		reply_state(r, "paused");
}

void gm_route_resume(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r)
{
	struct gm_error err = { 0 };
	int rc;

	(void)api, (void)body;
	rc = gm_machine_resume(m, &err);
	if (rc == -EALREADY && !err.msg[0])
		gm_fail(&err, GM_STATUS_BAD_INPUT, EALREADY,
			"the VM is not paused; PUT " GM_API_PREFIX "vm.pause stops it first");
	if (rc < 0)
		gm_reply_machine_error(r, rc, &err, "resume the VM");
	else
		reply_state(r, "running");
}

void gm_route_shutdown(struct gm_api *api, struct gm_machine *m, json_t *body,
		       struct gm_api_reply *r)
{
	struct gm_error err = { 0 };
	int rc;

	(void)api, (void)body;
	rc = gm_machine_shutdown(m, "shutdown by API", &err);
	if (rc == -ESRCH && !err.msg[0])
		gm_fail(&err, GM_STATUS_BAD_INPUT, ESRCH,
			"the guest has already ended; GET " GM_API_PREFIX "vm.info says how");
	if (rc < 0)
		gm_reply_machine_error(r, rc, &err, "shut the VM down");
	else
		reply_state(r, "shutdown");
}

/* The body's "region", "ram" when it names none: NULL, with a 400 naming the VM's regions, for one it lacks. */
static const char *region_of(struct gm_machine *m, json_t *body, struct gm_api_reply *r)
{
	const char *name = json_string_value(json_object_get(body, "region"));
	char names[GM_MAX_REGIONS * (GM_REGION_NAME_MAX + 2) + 1] = "", shown[GM_ESCAPE_SHORT];
	size_t used = 0;

	if (!name)
		return GM_RAM_REGION;
	if (gm_machine_region_named(m, name))
		return name;
	for (unsigned i = 0; i < gm_machine_regions(m) && used < sizeof(names); i++) {
		struct gm_memory_info info;

		gm_memory_info(gm_machine_region(m, i), &info);
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "", info.name);
	}
	gm_reply_error(r, 400, "no region '%s' in this VM; its regions are: %s", gm_escape(name, shown, sizeof(shown)),
		       names);
	return NULL;
}

void gm_route_binding(struct gm_api *api, struct gm_machine *m, json_t *body,
		      struct gm_api_reply *r)
{
	/* the body checker allowed only "gmem" and "mapped" */
	const char *mode = json_string_value(json_object_get(body, "mode"));
	enum gm_bind to = strcmp(mode, "mapped") == 0 ? GM_BIND_MAPPED : GM_BIND_GMEM;
	const char *region = region_of(m, body, r);
	struct gm_error err = { 0 };
	int rc;

	(void)api;
	if (!region)
		return;
	rc = gm_machine_switch_region_binding(m, region, to, &err);
	if (rc < 0)
		gm_reply_machine_error(r, rc, &err, "switch the memory binding");
	else
		gm_reply_json(r, 200, json_pack("{s:s, s:s}", "binding", gm_bind_name(to), "region", region));
}

/* The body checker vouched for both: present, integers, not negative. */
void gm_route_discard(struct gm_api *api, struct gm_machine *m, json_t *body,
		      struct gm_api_reply *r)
{
	uint64_t gpa = (uint64_t)json_integer_value(json_object_get(body, "gpa"));
	uint64_t len = (uint64_t)json_integer_value(json_object_get(body, "length"));
	const char *region = region_of(m, body, r);
	struct gm_error err = { 0 };
	int rc;

	(void)api;
	if (!region)
		return;
	rc = gm_machine_discard_region(m, region, gpa, len, &err);
	if (rc < 0)
		gm_reply_machine_error(r, rc, &err, "discard guest memory");
	else
		gm_reply_json(r, 200, json_pack("{s:o, s:o, s:s}", "gpa", gm_json_u64(gpa), "length",
						gm_json_u64(len), "region", region));
}

/*
 * The flag goes up before the guest is ended, so the owner, woken by the
 * end of the guest, already sees why.  A guest that had ended is no error
 * here: the process ends either way.
 */
void gm_route_vmm_shutdown(struct gm_api *api, struct gm_machine *m, json_t *body,
			   struct gm_api_reply *r)
{
	struct gm_error err = { 0 };
	int rc = 0;

	(void)body;
	atomic_store(&api->vmm_shutdown, true);
	if (m)
		rc = gm_machine_shutdown(m, "VMM shutdown by API", &err);
	if (rc < 0 && rc != -ESRCH)
		gm_reply_machine_error(r, rc, &err, "end the guest");
	else
		reply_state(r, "shutdown");
}
