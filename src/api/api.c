/* api/: the gm_api object, with or without a server in front of it. */
#include <errno.h>
#include <stdlib.h>

#include "api/api_internal.h"

struct gm_api *gm_api_alloc(struct gm_error *err)
{
	struct gm_api *api = calloc(1, sizeof(*api));

	if (!api) {
		gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the API object; free some memory and retry");
		return NULL;
	}
	pthread_mutex_init(&api->op_lock, NULL);
	pthread_rwlock_init(&api->machine_lock, NULL);
	atomic_init(&api->vmm_shutdown, false);
	return api;
}

void gm_api_free(struct gm_api *api)
{
	if (!api)
		return;
	pthread_rwlock_destroy(&api->machine_lock);
	pthread_mutex_destroy(&api->op_lock);
	free(api->handed_path);
	free(api);
}

int gm_api_new_detached(struct gm_api **out, struct gm_error *err)
{
	*out = gm_api_alloc(err);
	return *out ? 0 : -ENOMEM;
}

void gm_api_set_events(struct gm_api *api, struct gm_events *events)
{
	api->events = events;
}

/*
 * The write lock waits for routes still using the old machine, so the owner
 * may attach NULL and then destroy the machine while the server runs.
 */
void gm_api_attach(struct gm_api *api, struct gm_machine *m)
{
	pthread_rwlock_wrlock(&api->machine_lock);
	api->machine = m;
	pthread_rwlock_unlock(&api->machine_lock);
}

int gm_api_vmm_shutdown_requested(struct gm_api *api)
{
	return atomic_load(&api->vmm_shutdown);
}

void gm_api_destroy(struct gm_api *api)
{
	if (!api)
		return;
	if (api->server)
		gm_api_server_stop(api);
	/* after the server: its connection threads, the only callers, are gone */
	gm_worker_stop(api->ops);
	gm_worker_stop(api->launcher);
	gm_api_free(api);
}
