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

#include "vmm/header_net.h"
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

/* config.devices: absent in streams older than virtio (no devices), else every member typed. */
static int read_devices(json_t *cfg, struct gm_header_machine *h, struct gm_error *err)
{
	json_t *dev = json_object_get(cfg, "devices");
	json_t *disks = json_object_get(dev, "disks"), *con = json_object_get(dev, "virtio_console"),
	       *rng = json_object_get(dev, "virtio_rng");

	if (!dev)
		return 0;
	if (!json_is_object(dev) || (disks && !json_is_array(disks)) || (con && !json_is_boolean(con)) ||
	    (rng && !json_is_boolean(rng)))
		return bad(err, "has a \"devices\" member of the wrong shape");
	if (json_array_size(disks) > GM_MAX_DISKS)
		return bad(err, "lists more disks than a VM can have");
	for (size_t i = 0; i < json_array_size(disks); i++) {
		json_t *o = json_array_get(disks, i), *ro = json_object_get(o, "readonly"),
		       *direct = json_object_get(o, "direct");
		const char *path = json_string_value(json_object_get(o, "path"));

		if (!path || !*path || strlen(path) >= GM_DISK_PATH_MAX || !json_is_boolean(ro) || !json_is_boolean(direct))
			return bad(err, "lists a disk without a path, or without its readonly and direct flags");
		strcpy(h->disks[i].path, path);
		h->disks[i].readonly = json_is_true(ro);
		h->disks[i].direct = json_is_true(direct);
	}
	h->ndisks = (unsigned)json_array_size(disks);
	h->virtio_console = json_is_true(con);
	h->virtio_rng = json_is_true(rng);
	return gm_header_net_read(dev, h, err);
}

int gm_header_machine_parse(const char *json, struct gm_header_machine *h, struct gm_error *err)
{
	json_t *root = json_loads(json, 0, NULL);
	json_t *cfg = json_object_get(root, "config"), *mem = json_object_get(cfg, "memory");
	json_t *regions = json_object_get(root, "regions");
	struct gm_header_region *ram = &h->regions[0];
	const char *uuid = json_string_value(json_object_get(root, "uuid"));
	json_int_t cpus = int_of(cfg, "cpus"), size = int_of(mem, "size");
	struct gm_error uuid_err = { 0 };
	uint8_t uuid_bytes[16];
	int r = 0;

	memset(h, 0, sizeof(*h));
	strcpy(ram->name, GM_RAM_REGION);
	ram->page_size = page_size_of(json_string_value(json_object_get(mem, "hugepages")));
	/* a UUID, not any short string: a migration's destination names the VM by it before building it */
	if (!root || !uuid || strlen(uuid) >= sizeof(h->uuid) || gm_uuid_parse(uuid, uuid_bytes, &uuid_err) ||
	    cpus < 1 || cpus > GM_MAX_CPUS ||
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
	const char *cpu = json_string_value(json_object_get(cfg, "cpu"));
	h->cpu = cpu ? strdup(cpu) : NULL;
	if (!h->cmdline || (cpu && !h->cpu)) {
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
	if (!r)
		r = read_devices(cfg, h, err);
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
	free(h->cpu);
	h->cpu = NULL;
}

bool gm_header_machine_same(const struct gm_header_machine *a, const struct gm_header_machine *b)
{
	if (strcmp(a->uuid, b->uuid) || a->cpus != b->cpus || a->nregions != b->nregions ||
	    a->ndisks != b->ndisks || a->virtio_console != b->virtio_console || a->virtio_rng != b->virtio_rng ||
	    a->nnets != b->nnets || a->balloon.on != b->balloon.on)
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
	cfg->cpu = h->cpu; /* checked, as any --cpu, by gm_machine_build */
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
	memcpy(cfg->disks, h->disks, sizeof(cfg->disks));
	cfg->ndisks = h->ndisks;
	cfg->virtio_console = h->virtio_console;
	cfg->virtio_rng = h->virtio_rng;
	gm_header_net_config(h, cfg);
}

/* The devices' state sections follow h's devices: the user may name other files for its disks, no more. */
static int merge_devices(const struct gm_header_machine *h, const struct gm_config *user, struct gm_config *out,
			 struct gm_error *err)
{
	if (user->ndisks && user->ndisks != h->ndisks)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--disk: the saved VM has %u disks and %u were given; give as many, in its order, or none to use its files",
			       h->ndisks, user->ndisks);
	for (unsigned i = 0; i < user->ndisks; i++)
		if (user->disks[i].readonly != h->disks[i].readonly)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "--disk number %u: the saved VM's disk there was %s; give it readonly=%s", i + 1,
				       h->disks[i].readonly ? "read-only" : "writable", h->disks[i].readonly ? "on" : "off");
	if (user->ndisks)
		memcpy(out->disks, user->disks, sizeof(out->disks));
	if ((user->virtio_console && !h->virtio_console) || (user->virtio_rng && !h->virtio_rng))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--device %s: the saved VM has none; a restore keeps the devices it had, drop the option",
			       user->virtio_console && !h->virtio_console ? "virtio-console" : "virtio-rng");
	return gm_header_net_merge(h, user, out, err);
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
	/* the guest has seen its CPUID; another one under it could break it */
	if (user->cpu && strcmp(user->cpu, h->cpu ? h->cpu : "host"))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--cpu %s: the saved VM's vCPUs were built with --cpu %s and a restore keeps it; drop --cpu",
			       user->cpu, h->cpu ? h->cpu : "host");
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
	int r = merge_devices(h, user, out, err);

	if (r)
		return r;
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
	same = cfg->ndisks == h->ndisks && cfg->virtio_console == h->virtio_console && cfg->virtio_rng == h->virtio_rng &&
	       gm_header_net_same(h, cfg);
	for (unsigned i = 0; same && i < h->ndisks; i++)
		same = cfg->disks[i].readonly == h->disks[i].readonly;
	if (!same)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "the saved VM has %u disks%s%s, %u network interfaces%s; a restore keeps its devices (gm_snapshot_config gives them)",
			       h->ndisks, h->virtio_console ? ", a virtio console" : "", h->virtio_rng ? ", a virtio rng" : "",
			       h->nnets, h->balloon.on ? ", a balloon" : "");
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
