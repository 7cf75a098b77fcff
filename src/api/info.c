/*
 * api/: the routes that only read: vmm.ping, vm.info, vm.counters, built
 * from the machine's public getters.  Register values go out as "0x%016llx"
 * strings, since kernel addresses do not fit JSON's signed integers.
 */
#include <stdio.h>
#include <stdlib.h>

#include "api/api_internal.h"
#include "dev/dev.h"
#include "gmvm/migration.h"
#include "build_id.h"

void gm_route_ping(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r)
{
	(void)api, (void)m, (void)body;
	gm_reply_json(r, 200, json_pack("{s:s, s:s, s:[s,s,s,s,s,s,s]}", "version", GMVM_VERSION, "build_id",
					GM_BUILD_ID, "features", "guest-memfd", "api", "events", "snapshot", "migration", "rehome",
					"live-update"));
}

static const char *entry_name(enum gm_entry e)
{
	switch (e) {
	case GM_ENTRY_AUTO: return "auto";
	case GM_ENTRY_LINUX64: return "linux64";
	case GM_ENTRY_PVH: return "pvh";
	}
	return "unknown";
}

static const char *page_name(uint64_t page_size)
{
	if (page_size == GM_PAGE_1G)
		return "1G";
	if (page_size == GM_PAGE_2M)
		return "2M";
	return "4K";
}

static json_t *console_json(const struct gm_config *cfg)
{
	char *s;
	json_t *j;

	switch (cfg->console) {
	case GM_CONSOLE_STDIO: return json_string("stdio");
	case GM_CONSOLE_NONE: return json_string("none");
	case GM_CONSOLE_FILE: break;
	}
	if (asprintf(&s, "file:%s", cfg->console_path ? cfg->console_path : "") < 0)
		return NULL;
	j = gm_json_text(s);
	free(s);
	return j;
}

/* A whole number of seconds reads as one ("timeout_s":0), a fraction as a fraction. */
static json_t *seconds_json(double s)
{
	if (s == (double)(json_int_t)s)
		return json_integer((json_int_t)s);
	return json_real(s);
}

static json_t *config_json(const struct gm_config *cfg)
{
	const struct gm_mem_config *mc = &cfg->mem;

	return json_pack("{s:I, s:o, s:o, s:s, s:o, s:o, s:{s:o, s:s, s:s, s:b, s:o, s:s}}",
			 "cpus", (json_int_t)cfg->cpus,
			 "kernel", gm_json_text(cfg->kernel ? cfg->kernel : ""),
			 "cmdline", gm_json_text(cfg->cmdline ? cfg->cmdline : ""),
			 "entry", entry_name(cfg->entry),
			 "console", console_json(cfg),
			 "timeout_s", seconds_json(cfg->timeout),
			 "memory",
			 "size", gm_json_u64(mc->size),
			 "backend", gm_backend_name(mc->backend),
			 "hugepages", page_name(mc->page_size),
			 "prealloc", mc->prealloc,
			 "numa_node", mc->numa_node < 0 ? json_null() : json_integer(mc->numa_node),
			 "bind", gm_bind_name(mc->bind));
}

/* One region: what it is, where the guest sees it, and its identity (VM UUID / region name). */
static json_t *region_json(struct gm_memory *mem, const char *uuid)
{
	struct gm_memory_info info;
	json_t *ranges = json_array();
	char identity[64 + 37];
	const char *name;

	gm_memory_info(mem, &info);
	name = info.name ? info.name : "ram";
	for (unsigned i = 0; ranges && i < info.nranges && i < GM_MEMORY_MAX_RANGES; i++)
		json_array_append_new(ranges, json_pack("{s:o, s:o}", "gpa", gm_json_u64(info.ranges[i].gpa),
							"size", gm_json_u64(info.ranges[i].size)));
	snprintf(identity, sizeof(identity), "%s/%s", uuid, name);
	/* movable=: what was applied to keep the host's policies off it (pinning) */
	json_t *pinning = json_array();
	for (unsigned i = 0; pinning && i < info.npinning; i++)
		json_array_append_new(pinning, json_string(info.pinning[i]));
	return json_pack("{s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:s, s:b}",
			 "name", gm_json_text(name),
			 "backend", gm_backend_name(info.backend),
			 "binding", gm_bind_name(info.binding),
			 "size", gm_json_u64(info.size),
			 "page_size", gm_json_u64(info.page_size),
			 "gpa", gm_json_u64(info.nranges ? info.ranges[0].gpa : 0),
			 "ranges", ranges,
			 "identity", gm_json_text(identity),
			 "movable", info.movable,
			 "pinning", pinning,
			 "movable_note", info.movable_note ? info.movable_note : "",
			 "direct_map", info.direct_map);
}

static json_t *regions_json(struct gm_machine *m, const char *uuid)
{
	json_t *regions = json_array();

	for (unsigned i = 0; regions && i < gm_machine_regions(m); i++)
		json_array_append_new(regions, region_json(gm_machine_region(m, i), uuid));
	return regions;
}

static json_t *regs_json(const struct gm_vcpu_state *st)
{
	char rip[19], rsp[19], rflags[19], cr3[19];

	snprintf(rip, sizeof(rip), "0x%016llx", (unsigned long long)st->regs.rip);
	snprintf(rsp, sizeof(rsp), "0x%016llx", (unsigned long long)st->regs.rsp);
	snprintf(rflags, sizeof(rflags), "0x%016llx", (unsigned long long)st->regs.rflags);
	snprintf(cr3, sizeof(cr3), "0x%016llx", (unsigned long long)st->sregs.cr3);
	return json_pack("{s:s, s:s, s:s, s:s}", "rip", rip, "rsp", rsp, "rflags", rflags, "cr3", cr3);
}

/*
 * Registers only while every vCPU is parked: reading them from a running
 * guest would pause it, and the API never stops a guest unless asked.
 */
static json_t *vcpus_json(struct gm_machine *m)
{
	enum gm_machine_state s = gm_machine_state(m);
	bool parked = s == GM_STATE_PAUSED || s == GM_STATE_CREATED;
	struct gm_vcpu_state *st = parked ? malloc(sizeof(*st)) : NULL;
	json_t *vcpus = json_array();

	for (unsigned i = 0; vcpus && i < gm_machine_cpus(m); i++) {
		json_t *v = json_pack("{s:I}", "id", (json_int_t)i);
		struct gm_error err = { 0 };

		/* a resume may slip in between: then the answer just has no registers */
		if (v && st && gm_machine_get_vcpu_state(m, i, st, &err) == 0)
			json_object_set_new(v, "regs", regs_json(st));
		json_array_append_new(vcpus, v);
	}
	free(st);
	return vcpus;
}

/* One device's numbers: {"type", "index", and every stat as a member}. */
static void device_json(void *opaque, const char *type, unsigned index, const struct gm_dev_stat *stats,
			unsigned n)
{
	json_t *d = json_pack("{s:s, s:I}", "type", type, "index", (json_int_t)index);

	for (unsigned i = 0; d && i < n; i++)
		json_object_set_new(d, stats[i].key, gm_json_u64(stats[i].value));
	json_array_append_new(opaque, d);
}

void gm_route_info(struct gm_api *api, struct gm_machine *m, json_t *body, struct gm_api_reply *r)
{
	char uuid[37];
	struct gm_exit ex;
	json_t *info;

	(void)api, (void)body;
	struct gm_migration_progress mig;

	gm_machine_uuid(m, uuid);
	gm_machine_migration_progress(m, &mig);
	info = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}",
			 "state", gm_machine_state_name(gm_machine_state(m)),
			 "uuid", uuid,
			 "config", config_json(gm_machine_config(m)),
			 "regions", regions_json(m, uuid),
			 "vcpus", vcpus_json(m),
			 "migration", gm_json_migration(&mig));
	json_object_set_new(info, "rehome", gm_json_rehome_of(m));
	json_object_set_new(info, "live_update", gm_json_update_of(m));
	json_t *devices = json_array();
	if (devices)
		gm_machine_device_stats(m, device_json, devices);
	json_object_set_new(info, "devices", devices);
	if (info && gm_machine_exit(m, &ex) == 0)
		json_object_set_new(info, "exit", json_pack("{s:s, s:i, s:o, s:I}",
							    "kind", gm_exit_kind_name(ex.kind),
							    "status", ex.status,
							    "reason", gm_json_text(ex.reason),
							    "cpu", (json_int_t)ex.cpu));
	gm_reply_json(r, 200, info);
}

static json_t *exits_json(const uint64_t *counts)
{
	json_t *o = json_object();
	uint64_t total = 0;

	for (int c = 0; o && c < GM_COUNT_KINDS; c++) {
		json_object_set_new(o, gm_exit_counter_name(c), gm_json_u64(counts[c]));
		total += counts[c];
	}
	if (o)
		json_object_set_new(o, "total", gm_json_u64(total));
	return o;
}

void gm_route_counters(struct gm_api *api, struct gm_machine *m, json_t *body,
		       struct gm_api_reply *r)
{
	/* GM_MAX_CPUS rows of counters: too big for a connection thread's stack */
	struct gm_counters *c = calloc(1, sizeof(*c));
	uint64_t sum[GM_COUNT_KINDS] = { 0 };
	json_t *vcpus = json_array();

	(void)api, (void)body;
	if (!c || !vcpus) {
		free(c);
		json_decref(vcpus);
		gm_reply_json(r, 500, NULL);
		return;
	}
	gm_machine_counters(m, c);
	for (unsigned i = 0; i < c->ncpus && i < GM_MAX_CPUS; i++) {
		for (int k = 0; k < GM_COUNT_KINDS; k++)
			sum[k] += c->exits[i][k];
		json_array_append_new(vcpus, json_pack("{s:I, s:o}", "id", (json_int_t)i, "exits",
						       exits_json(c->exits[i])));
	}
	gm_reply_json(r, 200, json_pack("{s:o, s:o, s:o, s:o, s:o}",
					"exits", exits_json(sum),
					"vcpus", vcpus,
					"pauses", gm_json_u64(c->pauses),
					"paused_us", gm_json_u64(c->paused_ns / 1000),
					"halt_checks", gm_json_u64(c->halt_checks)));
	free(c);
}
