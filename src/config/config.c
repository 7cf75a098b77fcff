/*
 * config/: the plain-data gm_config and its defaults.  Nothing here touches
 * the kernel; checking a config against what the kernel offers is the memory
 * plane's and the machine's job.
 */
#include <string.h>

#include "gmvm/config.h"

void gm_config_defaults(struct gm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem.size = UINT64_C(256) << 20;
	cfg->mem.backend = GM_BACKEND_GUEST_MEMFD;
	cfg->mem.page_size = GM_PAGE_4K;
	cfg->mem.prealloc = false;
	cfg->mem.numa_node = -1;
	cfg->mem.bind = GM_BIND_GMEM;
	cfg->mem.bind_given = false;
	cfg->mem.movable = false;       /* guest-memfd's folios do not migrate */
	cfg->mem.movable_given = false;
	cfg->mem.no_direct_map = false;
	cfg->mem.private_mem = false;
	cfg->cpus = 1;
	cfg->takeover_fd = -1;
	cfg->kernel = NULL;
	cfg->cmdline = NULL;
	cfg->entry = GM_ENTRY_AUTO;
	cfg->console = GM_CONSOLE_STDIO;
	cfg->console_path = NULL;
	cfg->timeout = 0;
	cfg->trace_startup = false;
}

/* The names are the spellings the command line accepts, so messages and
 * `--memory` agree. */
const char *gm_backend_name(enum gm_backend b)
{
	switch (b) {
	case GM_BACKEND_GUEST_MEMFD:
		return "guest-memfd";
	case GM_BACKEND_MEMFD:
		return "memfd";
	case GM_BACKEND_ANON:
		return "anon";
	}
	return "unknown";
}

const char *gm_bind_name(enum gm_bind b)
{
	switch (b) {
	case GM_BIND_GMEM:
		return "gmem";
	case GM_BIND_MAPPED:
		return "mapped";
	}
	return "unknown";
}
