/*
 * vmm/restore_header: from a state stream's header to a machine (see
 * restore.h).  The header is untrusted: every value is checked before a
 * config is made of it, and the config is checked again, as any other, by
 * gm_machine_build before a VM exists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/restore.h"

static int bad(struct gm_error *err, const char *what)
{
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "the state header %s; it was not written by gmvm", what);
}

static uint64_t page_size_of(const char *name)
{
	if (!name)
		return 0;
	return !strcmp(name, "4K") ? GM_PAGE_4K : !strcmp(name, "2M") ? GM_PAGE_2M : !strcmp(name, "1G") ? GM_PAGE_1G : 0;
}

static int backend_of(const char *name, enum gm_backend *out)
{
	for (int b = GM_BACKEND_GUEST_MEMFD; b <= GM_BACKEND_ANON; b++)
		if (name && !strcmp(name, gm_backend_name((enum gm_backend)b))) {
			*out = (enum gm_backend)b;
			return 0;
		}
	return -1;
}

static json_int_t int_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* A size of whole pages that a region could have. */
static bool size_ok(json_int_t size, uint64_t page_size)
{
	return size > 0 && page_size && (uint64_t)size % page_size == 0;
}

/* One region of "regions" other than the RAM. */
static int read_region(json_t *o, struct gm_header_region *r, struct gm_error *err)
{
	const char *name = json_string_value(json_object_get(o, "name"));
	json_int_t size = int_of(o, "size"), gpa = int_of(o, "gpa"), ps = int_of(o, "page_size");
	struct gm_error e = { 0 };

	if (!name || gm_region_name_check(name, &e))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "the state header names a region badly: %s",
			       name ? e.msg : "no name");
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->page_size = ps == (json_int_t)GM_PAGE_4K || ps == (json_int_t)GM_PAGE_2M || ps == (json_int_t)GM_PAGE_1G
			       ? (uint64_t)ps : 0;
	if (!size_ok(size, r->page_size) || gpa <= 0 ||
	    backend_of(json_string_value(json_object_get(o, "backend")), &r->backend))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "the state header's region %s lacks a size of whole pages, a page size, a backend or a place; it was not written by gmvm",
			       r->name);
	r->size = (uint64_t)size;
	r->gpa = (uint64_t)gpa;
	return 0;
}

int gm_header_machine_parse(const char *json, struct gm_header_machine *h, struct gm_error *err)
{
	json_t *root = json_loads(json, 0, NULL);
	json_t *cfg = json_object_get(root, "config"), *mem = json_object_get(cfg, "memory");
	json_t *regions = json_object_get(root, "regions");
	struct gm_header_region *ram = &h->regions[0];
	const char *uuid = json_string_value(json_object_get(root, "uuid"));
	json_int_t cpus = int_of(cfg, "cpus"), size = int_of(mem, "size");
	int r = 0;

	memset(h, 0, sizeof(*h));
	strcpy(ram->name, GM_RAM_REGION);
	ram->page_size = page_size_of(json_string_value(json_object_get(mem, "hugepages")));
	if (!root || !uuid || strlen(uuid) >= sizeof(h->uuid) || cpus < 1 || cpus > GM_MAX_CPUS ||
	    !size_ok(size, ram->page_size) || (uint64_t)size % GM_PAGE_4K ||
	    backend_of(json_string_value(json_object_get(mem, "backend")), &ram->backend)) {
		r = bad(err, "lacks the VM's uuid or its config (vCPUs, memory size, page size, backend)");
		goto out;
	}
	strcpy(h->uuid, uuid);
	h->cpus = (unsigned)cpus;
	ram->size = (uint64_t)size;
	h->nregions = 1;
	h->cmdline = strdup(json_string_value(json_object_get(cfg, "cmdline")) ?: "");
	if (!h->cmdline) {
		r = gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory reading the state header");
		goto out;
	}
	if (regions && !json_is_array(regions)) {
		r = bad(err, "has a \"regions\" member that is not a list");
		goto out;
	}
	/* the RAM first, as the writer lists it; config.memory describes it */
	for (size_t i = 0; i < json_array_size(regions) && !r; i++) {
		json_t *o = json_array_get(regions, i);
		const char *name = json_string_value(json_object_get(o, "name"));

		if (i == 0) {
			if (!name || strcmp(name, GM_RAM_REGION) || int_of(o, "size") != size)
				r = bad(err, "lists a first region that is not the RAM of config.memory");
			continue;
		}
		if (h->nregions == GM_MAX_REGIONS) {
			r = bad(err, "lists more regions than a VM can have");
			break;
		}
		r = read_region(o, &h->regions[h->nregions], err);
		for (unsigned j = 0; !r && j < h->nregions; j++)
			if (!strcmp(h->regions[j].name, h->regions[h->nregions].name))
				r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
					    "the state header lists region %s twice; it was not written by gmvm",
					    h->regions[j].name);
		if (!r)
			h->nregions++;
	}
out:
	json_decref(root);
	if (r)
		gm_header_machine_free(h);
	return r;
}

void gm_header_machine_free(struct gm_header_machine *h)
{
	free(h->cmdline);
	h->cmdline = NULL;
}

bool gm_header_machine_same(const struct gm_header_machine *a, const struct gm_header_machine *b)
{
	if (strcmp(a->uuid, b->uuid) || a->cpus != b->cpus || a->nregions != b->nregions)
		return false;
	for (unsigned i = 0; i < a->nregions; i++)
		if (strcmp(a->regions[i].name, b->regions[i].name) || a->regions[i].size != b->regions[i].size ||
		    a->regions[i].gpa != b->regions[i].gpa)
			return false;
	return true;
}

/* A region's memory config as it was saved, bound as its backend binds by default. */
static void saved_memory(const struct gm_header_region *r, struct gm_mem_config *mc)
{
	struct gm_config d;

	gm_config_defaults(&d);
	*mc = d.mem;
	mc->size = r->size;
	mc->page_size = r->page_size;
	mc->backend = r->backend;
	mc->bind = r->backend == GM_BACKEND_GUEST_MEMFD ? GM_BIND_GMEM : GM_BIND_MAPPED;
}

void gm_header_machine_config(const struct gm_header_machine *h, struct gm_config *cfg)
{
	cfg->cpus = h->cpus;
	cfg->uuid = h->uuid;
	cfg->cmdline = h->cmdline;
	cfg->kernel = NULL;
	/* the RAM keeps whatever else cfg says of it (prealloc, NUMA): as gm_snapshot_config always did */
	cfg->mem.size = h->regions[0].size;
	cfg->mem.page_size = h->regions[0].page_size;
	cfg->mem.backend = h->regions[0].backend;
	cfg->mem.bind = h->regions[0].backend == GM_BACKEND_GUEST_MEMFD ? GM_BIND_GMEM : GM_BIND_MAPPED;
	cfg->mem.bind_given = false;
	cfg->nregions = h->nregions - 1;
	for (unsigned i = 1; i < h->nregions; i++) {
		struct gm_region_config *rc = &cfg->regions[i - 1];

		memset(rc, 0, sizeof(*rc));
		strcpy(rc->name, h->regions[i].name);
		saved_memory(&h->regions[i], &rc->mem);
		rc->gpa = h->regions[i].gpa;
	}
}

static void region_names(const struct gm_header_machine *h, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (unsigned i = 0; i < h->nregions && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", h->regions[i].name);
}

int gm_header_machine_merge(const struct gm_header_machine *h, const struct gm_config *user, struct gm_config *out,
			    struct gm_error *err)
{
	char names[GM_MAX_REGIONS * (GM_REGION_NAME_MAX + 2) + 1];

	*out = *user;
	gm_header_machine_config(h, out);
	if (user->mem.given) {
		out->mem = user->mem;
		out->mem.size = h->regions[0].size;
	} else {
		saved_memory(&h->regions[0], &out->mem);
	}
	for (unsigned u = 0; u < user->nregions; u++) {
		const struct gm_region_config *ur = &user->regions[u];
		unsigned i = 1;

		while (i < h->nregions && strcmp(h->regions[i].name, ur->name))
			i++;
		if (i == h->nregions) {
			region_names(h, names, sizeof(names));
			return gm_fail(err, GM_STATUS_BAD_INPUT, ENOENT,
				       "--region %s: the saved VM has no region %s (its regions: %s); drop it or name one of those",
				       ur->name, ur->name, names);
		}
		/* another backend, binding or placement; the size and place are the state's */
		out->regions[i - 1].mem = ur->mem;
		out->regions[i - 1].mem.size = h->regions[i].size;
	}
	if (user->new_identity)
		out->uuid = NULL;
	else if (user->uuid)
		out->uuid = user->uuid;
	return 0;
}

int gm_header_machine_check(const struct gm_header_machine *h, const struct gm_config *cfg, struct gm_error *err)
{
	char names[GM_MAX_REGIONS * (GM_REGION_NAME_MAX + 2) + 1];

	if (cfg->cpus != h->cpus || cfg->mem.size != h->regions[0].size)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "the saved VM has %u vCPUs and %llu bytes of RAM; a restore keeps both", h->cpus,
			       (unsigned long long)h->regions[0].size);
	bool same = cfg->nregions + 1 == h->nregions;
	for (unsigned i = 1; same && i < h->nregions; i++) {
		const struct gm_region_config *rc = &cfg->regions[i - 1];

		same = !strcmp(rc->name, h->regions[i].name) && rc->mem.size == h->regions[i].size &&
		       rc->gpa == h->regions[i].gpa;
	}
	if (!same) {
		region_names(h, names, sizeof(names));
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "the saved VM's regions are %s, with their sizes and places; a restore keeps them (gm_snapshot_config gives them)",
			       names);
	}
	return 0;
}

int gm_machine_build_from_header(const char *header_json, const struct gm_config *user, const struct gm_caps *caps,
				 struct gm_machine **out, struct gm_error *err)
{
	struct gm_header_machine h;
	struct gm_config cfg;
	int r = gm_header_machine_parse(header_json, &h, err);

	if (r)
		return r;
	r = gm_header_machine_merge(&h, user, &cfg, err);
	if (!r)
		r = gm_machine_build(&cfg, caps, false, NULL, out, err);
	gm_header_machine_free(&h);
	return r;
}

int gm_machine_start_parked(struct gm_machine *m, struct gm_error *err)
{
	int r = gm_machine_pause(m, err);

	if (!r)
		r = gm_vcpus_start(m, err);
	return r;
}

int gm_machine_apply_image(struct gm_machine *m, const struct gm_machine_image *img, struct gm_error *err)
{
	/* a state for other regions must not meet this memory */
	int r = gm_image_check_regions(img, m, err);

	if (!r)
		r = gm_devices_start(m, err);
	if (!r) {
		pthread_mutex_lock(&m->op_lock);
		r = gm_image_apply(m, img, err);
		pthread_mutex_unlock(&m->op_lock);
	}
	if (!r)
		gm_emit(m, (struct gm_event){ .kind = GM_EVENT_RUNNING });
	return r;
}

int gm_machine_load_image(struct gm_machine *m, const struct gm_machine_image *img, struct gm_error *err)
{
	int r = gm_machine_start_parked(m, err);

	return r ? r : gm_machine_apply_image(m, img, err);
}
