/*
 * api/balloon: PUT vm.balloon {"target_mib": N, "deflate_on_oom": bool},
 * both optional, at least one: the balloon device's run-time settings
 * (gm_machine_device_set).  A VM started without --balloon answers 400
 * naming the option; the device judges the values (target within the
 * guest's RAM, deflate_on_oom fixed once the driver negotiated: 409).
 */
#include <errno.h>

#include "api/api_internal.h"

#define BALLOON "virtio-balloon"

void gm_route_balloon(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r)
{
	json_t *target = json_object_get(body, "target_mib"), *oom = json_object_get(body, "deflate_on_oom");
	struct gm_error err = { 0 };
	int rc = 0;

	(void)api;
	if (!target && !oom) {
		gm_reply_error(r, 400, "give target_mib (MiB the balloon should hold) or deflate_on_oom (true or false)");
		return;
	}
	/* deflate_on_oom first: a refusal then leaves the target as it was */
	if (oom)
		rc = gm_machine_device_set(m, BALLOON, "deflate_on_oom", json_is_true(oom), &err);
	if (!rc && target)
		rc = gm_machine_device_set(m, BALLOON, "target_mib", json_integer_value(target), &err);
	if (rc == -ENODEV) {
		gm_reply_error(r, 400, "the VM has no balloon; start it with --balloon");
		return;
	}
	if (rc < 0) {
		gm_reply_machine_error(r, rc, &err, "set the balloon");
		return;
	}
	json_t *o = json_object();
	if (o && target)
		json_object_set_new(o, "target_mib", json_integer(json_integer_value(target)));
	if (o && oom)
		json_object_set_new(o, "deflate_on_oom", json_boolean(json_is_true(oom)));
	gm_reply_json(r, 200, o);
}
