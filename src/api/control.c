/*
 * api/: the PUT routes.  Each is one machine call; the machine serialises
 * them against any other caller, the api's op_lock (taken by dispatch)
 * orders them against each other.  Failures become statuses in
 * gm_reply_machine_error, with the machine's own message.
 */
#include <errno.h>
#include <string.h>

#include "api/api_internal.h"

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

void gm_route_binding(struct gm_api *api, struct gm_machine *m, json_t *body,
		      struct gm_api_reply *r)
{
	/* the body checker allowed only "gmem" and "mapped" */
	const char *mode = json_string_value(json_object_get(body, "mode"));
	enum gm_bind to = strcmp(mode, "mapped") == 0 ? GM_BIND_MAPPED : GM_BIND_GMEM;
	struct gm_error err = { 0 };
	int rc;

	(void)api;
	rc = gm_machine_switch_binding(m, to, &err);
	if (rc < 0)
		gm_reply_machine_error(r, rc, &err, "switch the memory binding");
	else
		gm_reply_json(r, 200, json_pack("{s:s}", "binding", gm_bind_name(to)));
}

/* The body checker vouched for both: present, integers, not negative. */
void gm_route_discard(struct gm_api *api, struct gm_machine *m, json_t *body,
		      struct gm_api_reply *r)
{
	uint64_t gpa = (uint64_t)json_integer_value(json_object_get(body, "gpa"));
	uint64_t len = (uint64_t)json_integer_value(json_object_get(body, "length"));
	struct gm_error err = { 0 };
	int rc;

	(void)api;
	rc = gm_machine_discard(m, gpa, len, &err);
	if (rc < 0)
		gm_reply_machine_error(r, rc, &err, "discard guest memory");
	else
		gm_reply_json(r, 200, json_pack("{s:o, s:o}", "gpa", gm_json_u64(gpa), "length",
						gm_json_u64(len)));
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
