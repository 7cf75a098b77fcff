/* vmm/names: the words the API, the event file and the CLI use for machine states and exits. */
#include "vmm/vmm.h"

const char *gm_machine_state_name(enum gm_machine_state s)
{
	switch (s) {
	case GM_STATE_CREATED: return "created";
	case GM_STATE_RUNNING: return "running";
	case GM_STATE_PAUSED: return "paused";
	case GM_STATE_SHUTDOWN: return "shutdown";
	}
	return "unknown";
}

const char *gm_exit_counter_name(enum gm_exit_counter c)
{
	switch (c) {
	case GM_COUNT_IO: return "io";
	case GM_COUNT_MMIO: return "mmio";
	case GM_COUNT_EOI: return "eoi";
	case GM_COUNT_INTERRUPTED: return "interrupted";
	case GM_COUNT_OTHER: return "other";
	case GM_COUNT_KINDS: break;
	}
	return "unknown";
}

const char *gm_exit_kind_name(enum gm_exit_kind k)
{
	switch (k) {
	case GM_EXIT_NONE: return "none";
	case GM_EXIT_PORT: return "port";
	case GM_EXIT_POWEROFF: return "poweroff";
	case GM_EXIT_HALTED: return "halted";
	case GM_EXIT_CRASH: return "crash";
	case GM_EXIT_TIMEOUT: return "timeout";
	case GM_EXIT_STOPPED: return "stopped";
	case GM_EXIT_ERROR: return "error";
	case GM_EXIT_SHUTDOWN: return "shutdown";
	case GM_EXIT_MIGRATED: return "migrated";
	case GM_EXIT_UPDATED: return "updated";
	}
	return "unknown";
}
