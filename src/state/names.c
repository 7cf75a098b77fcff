/*
 * state/names.c: section type names, the one shape of a refusal (so every
 * message about a stream says which section, of what type, at which byte)
 * and the section checksum both ends compute.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY /* XXH64_state_t on the stack */
#include <xxhash.h>

#include "state/state_internal.h"

const char *gm_section_type_name(uint32_t type)
{
	switch (type) {
	case GM_SECTION_VCPU: return "VCPU";
	case GM_SECTION_CLOCK: return "CLOCK";
	case GM_SECTION_GSI_ROUTES: return "GSI_ROUTES";
	case GM_SECTION_DEVICE: return "DEVICE";
	case GM_SECTION_PAGES: return "PAGES";
	case GM_SECTION_DIRTY_BITMAP: return "DIRTY_BITMAP";
	case GM_SECTION_REGION: return "REGION";
	case GM_SECTION_MIGRATION: return "MIGRATION";
	case GM_SECTION_END: return "END";
	default: return "unknown";
	}
}

bool gm_section_type_known(uint32_t type)
{
	return strcmp(gm_section_type_name(type), "unknown") != 0;
}

int gm_state_refuse(struct gm_error *err, unsigned index, uint32_t type, uint64_t offset,
		    const char *fmt, ...)
{
	char what[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
		       "state stream: section %u (%s) at byte %" PRIu64 ": %s", index,
		       gm_section_type_name(type), offset, what);
}

uint64_t gm_section_xxh64(const uint8_t head[24], const void *payload, size_t len)
{
	XXH64_state_t st;

	XXH64_reset(&st, 0);
	XXH64_update(&st, head, 24);
	XXH64_update(&st, payload, len);
	return XXH64_digest(&st);
}
