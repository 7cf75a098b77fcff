/*
 * move/progress: a migration's record on its machine.  The engine changes
 * it under the record's lock and announces it as an event; vm.info, the
 * events and the client read consistent copies; a cancel is a flag the
 * pacer acts on.
 */
#include <errno.h>
#include <string.h>

#include "move/move.h"

static void mark_phase(struct gm_migration_progress *pr, void *opaque)
{
	pr->phase = *(enum gm_migration_phase *)opaque;
}

void gm_move_set_phase(struct gm_machine *m, enum gm_migration_phase phase, bool event)
{
	gm_move_update(m, mark_phase, &phase, event);
}

void gm_move_update(struct gm_machine *m, void (*fn)(struct gm_migration_progress *, void *), void *opaque,
		    bool event)
{
	struct gm_migration_progress copy;

	pthread_mutex_lock(&m->migration.lock);
	fn(&m->migration.prog, opaque);
	copy = m->migration.prog;
	pthread_mutex_unlock(&m->migration.lock);
	if (event)
		gm_emit(m, (struct gm_event){ .kind = GM_EVENT_MIGRATION, .migration = &copy });
}

int gm_machine_migration_cancel(struct gm_machine *m, struct gm_error *err)
{
	if (!__atomic_load_n(&m->migration.running, __ATOMIC_ACQUIRE))
		return gm_fail(err, GM_STATUS_FAILURE, ESRCH, "no migration is running");
	__atomic_store_n(&m->migration.cancel, 1, __ATOMIC_RELEASE);
	return 0;
}

void gm_machine_migration_progress(struct gm_machine *m, struct gm_migration_progress *out)
{
	pthread_mutex_lock(&m->migration.lock);
	*out = m->migration.prog;
	pthread_mutex_unlock(&m->migration.lock);
}

const char *gm_migration_phase_name(enum gm_migration_phase p)
{
	static const char *const names[] = { "none", "connecting", "precopy", "stop-and-copy", "postcopy",
					     "completed", "failed", "cancelled" };

	return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "unknown";
}
