/*
 * What the state-header device tests share (test_header_devices.c,
 * test_header_net.c): a header up to its config's devices member, parsed
 * into h, with checks that a devices member is refused or accepted.
 */
#ifndef GM_TEST_HEADER_FIXTURE_H
#define GM_TEST_HEADER_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "vmm/restore.h"

#define UUID "6f1c2a3e-0d4b-4c8e-9a7f-2b5d1e3c4a6f"
#define HEAD "{\"gmvm_version\":\"0.1.0\",\"uuid\":\"" UUID "\",\"config\":{\"cpus\":1,\"cmdline\":\"\"," \
	     "\"memory\":{\"size\":268435456,\"backend\":\"memfd\",\"hugepages\":\"4K\",\"prealloc\":false}"

static struct gm_header_machine h;

static inline int parse(const char *json, struct gm_error *err)
{
	memset(err, 0, sizeof(*err));
	return gm_header_machine_parse(json, &h, err);
}

/* A header whose config.devices is devices: refused with want in the message. */
static inline void refused(const char *devices, const char *want)
{
	char json[2048];
	struct gm_error err;

	snprintf(json, sizeof(json), HEAD ",\"devices\":%s}}", devices);
	cr_assert_lt(parse(json, &err), 0, "accepted: %s", devices);
	cr_assert(strstr(err.msg, want), "'%s' lacks '%s'", err.msg, want);
}

static inline void accepted(const char *devices)
{
	char json[2048];
	struct gm_error err;

	snprintf(json, sizeof(json), HEAD ",\"devices\":%s}}", devices);
	cr_assert_eq(parse(json, &err), 0, "%s: %s", devices, err.msg);
}

#endif
