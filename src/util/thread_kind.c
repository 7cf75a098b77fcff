/*
 * util/thread_kind: the thread-start hook (gmvm/thread.h).  The one piece
 * of process-wide state in libgmvm: confinement is a property of threads,
 * and threads are started deep inside rooms that know no machine.
 */
#include <stddef.h>

#include "gmvm/thread.h"

static gm_thread_start_fn start_hook;
static void *start_opaque;

const char *gm_thread_kind_name(enum gm_thread_kind kind)
{
	static const char *const names[GM_THREAD_KINDS] = {
		[GM_THREAD_MAIN] = "main",       [GM_THREAD_VCPU] = "vcpu",
		[GM_THREAD_API] = "api",         [GM_THREAD_MIGRATION] = "migration",
		[GM_THREAD_BLK_IO] = "blk-io",   [GM_THREAD_CONSOLE] = "console",
		[GM_THREAD_NET] = "net",         [GM_THREAD_LAUNCHER] = "launcher",
	};

	return (unsigned)kind < GM_THREAD_KINDS ? names[kind] : "unknown";
}

void gm_thread_set_start_hook(gm_thread_start_fn fn, void *opaque)
{
	start_opaque = opaque;
	start_hook = fn;
}

void gm_thread_started(enum gm_thread_kind kind)
{
	if (start_hook)
		start_hook(kind, start_opaque);
}
