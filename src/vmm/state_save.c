/*
 * vmm/state_save: a paused machine's every piece of state into sections:
 * vCPUs, the KVM clock, the interrupt routes, every registered device and
 * every memory region's description (REGION, instance = region index).
 * The header names the machine (UUID, config, regions) so a reader can
 * refuse a stream that is not for it before building anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "vmm/header_net.h"
#include "vmm/snapshot_dir.h"
#include "vmm/state.h"

static const char *page_name(uint64_t page_size)
{
	return page_size == GM_PAGE_1G ? "1G" : page_size == GM_PAGE_2M ? "2M" : "4K";
}

/* One region as the header lists it: what a reader needs to build it again. */
static json_t *region_json(const struct gm_memory *mem)
{
	struct gm_memory_info info;
	char file[GM_REGION_NAME_MAX + 8];

	gm_memory_info(mem, &info);
	gm_snapshot_region_file(info.name, file, sizeof(file));
	json_t *ranges = json_array();
	for (unsigned i = 0; i < info.nranges; i++)
		json_array_append_new(ranges, json_pack("{s:I, s:I}", "gpa", (json_int_t)info.ranges[i].gpa, "size",
							(json_int_t)info.ranges[i].size));
	return json_pack("{s:s, s:I, s:I, s:s, s:I, s:s, s:o}", "name", info.name, "size", (json_int_t)info.size,
			 "page_size", (json_int_t)info.page_size, "backend", gm_backend_name(info.backend), "gpa",
			 (json_int_t)gm_memory_gpa(mem), "file", file, "ranges", ranges);
}

/* The config-driven devices: a restore, a migration's destination and a live
 * update's new process build the same ones from it (vmm/restore_header.c). */
static json_t *devices_json(const struct gm_config *c)
{
	json_t *disks = json_array();

	for (unsigned i = 0; i < c->ndisks; i++)
		json_array_append_new(disks, json_pack("{s:s, s:b, s:b}", "path", c->disks[i].path, "readonly",
						       c->disks[i].readonly, "direct", c->disks[i].direct));
	json_t *dev = json_pack("{s:o, s:b, s:b}", "disks", disks, "virtio_console", c->virtio_console, "virtio_rng",
				c->virtio_rng);

	if (dev)
		gm_header_net_json(c, dev);
	return dev;
}

char *gm_state_header(struct gm_machine *m, json_t *extra)
{
	const struct gm_config *c = &m->cfg;
	/* the RAM as it is now: a re-home may have moved it off what the config said */
	const struct gm_mem_config *ram = m->nmems ? gm_memory_config(m->mems[0]) : &c->mem;
	char uuid[37];

	gm_uuid_format(m->uuid, uuid);
	json_t *regions = json_array();
	for (unsigned i = 0; i < m->nmems; i++)
		json_array_append_new(regions, region_json(m->mems[i]));
	json_t *h = json_pack("{s:s, s:s, s:{s:i, s:s, s:s, s:i, s:{s:I, s:s, s:s, s:b}}, s:o, s:[]}",
			      "gmvm_version", GMVM_VERSION, "uuid", uuid,
			      "config", "cpus", (int)c->cpus, "kernel", c->kernel ? c->kernel : "",
			      "cmdline", c->cmdline ? c->cmdline : "", "entry", (int)c->entry,
			      "memory", "size", (json_int_t)ram->size, "backend", gm_backend_name(ram->backend),
			      "hugepages", page_name(ram->page_size), "prealloc", ram->prealloc,
			      "regions", regions, "requires");
	if (!h)
		return NULL;
	json_object_set_new(json_object_get(h, "config"), "devices", devices_json(c));
	/* the --cpu template the vCPUs were built with: the other end builds the same CPUID */
	json_object_set_new(json_object_get(h, "config"), "cpu", json_string(c->cpu ? c->cpu : "host"));
	if (extra)
		json_object_update(h, extra);
	char *text = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(h);
	return text;
}

static int put(struct gm_stream_out *w, uint32_t type, uint32_t instance, uint32_t version, struct gm_buf *b,
	       struct gm_error *err)
{
	if (b->failed)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory encoding the machine's state");
	int r = gm_stream_out_section(w, type, instance, version, b->data, b->len, false, err);
	b->len = 0;
	return r;
}

int gm_state_write_sections(struct gm_machine *m, struct gm_stream_out *w, struct gm_error *err)
{
	struct gm_vcpu_state *st = malloc(sizeof(*st));
	struct gm_buf b = { 0 };
	struct kvm_clock_data clock;
	uint8_t dev[GM_DEV_STATE_MAX];
	int r = st ? 0 : gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory saving vCPU state");

	for (unsigned i = 0; i < m->ncpus && !r; i++) {
		r = gm_vcpu_get_locked(m, i, st, err);
		if (!r) {
			gm_encode_vcpu(&b, st);
			r = put(w, GM_SECTION_VCPU, i, 1, &b, err);
		}
	}
	memset(&clock, 0, sizeof(clock));
	if (!r && (r = gm_ioctl(m->vm_fd, KVM_GET_CLOCK, &clock)) < 0)
		r = gm_fail(err, GM_STATUS_FAILURE, -r, "KVM_GET_CLOCK failed: %s", strerror(-r));
	if (!r) {
		gm_encode_clock(&b, &clock);
		r = put(w, GM_SECTION_CLOCK, 0, 1, &b, err);
	}
	if (!r) {
		gm_encode_routes(&b, m->routes, m->nroutes);
		r = put(w, GM_SECTION_GSI_ROUTES, 0, 1, &b, err);
	}
	for (unsigned i = 0; i < m->ndevs && !r; i++) {
		const struct gm_device *d = &m->devs[i];
		size_t len = d->type->save(d->dev, dev, sizeof(dev));

		gm_encode_device(&b, d->type->name, dev, len);
		r = put(w, GM_SECTION_DEVICE, i, d->type->state_version, &b, err);
	}
	for (unsigned i = 0; i < m->nmems && !r; i++) {
		struct gm_image_region ir = { .gpa = gm_memory_gpa(m->mems[i]), .size = gm_memory_size(m->mems[i]),
					      .page_size = gm_memory_page_size(m->mems[i]),
					      .backend = gm_memory_config(m->mems[i])->backend };

		snprintf(ir.name, sizeof(ir.name), "%s", gm_memory_name(m->mems[i]));
		gm_encode_region(&b, &ir);
		r = put(w, GM_SECTION_REGION, i, 1, &b, err);
	}
	gm_buf_free(&b);
	free(st);
	return r;
}

/*
 * The last link of a chain as a full snapshot: its header says "full" and
 * names no parent (its id stays, so diffs taken after it still chain), and
 * every section but the dirty bitmap is carried over as it is.
 */
int gm_state_rewrite_full(const struct gm_stream_in *in, const char *path, struct gm_error *err)
{
	json_t *h = json_loads(gm_stream_in_header(in), 0, NULL);
	json_t *snap = json_object_get(h, "snapshot");
	struct gm_stream_out *w = NULL;
	int r = 0;

	if (!h || !json_is_object(snap)) {
		json_decref(h);
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "the last snapshot's header has no snapshot record; it is corrupt");
	}
	json_object_set_new(snap, "type", json_string("full"));
	json_object_del(snap, "parent");
	char *text = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(h);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !text)
		r = gm_fail(err, GM_STATUS_FAILURE, fd < 0 ? errno : ENOMEM, "cannot create %s: %s", path,
			    strerror(fd < 0 ? errno : ENOMEM));
	if (!r)
		r = gm_stream_out_open(fd, &w, err);
	if (!r)
		r = gm_stream_out_header(w, text, strlen(text), err);
	for (unsigned i = 0; i < gm_stream_in_count(in) && !r; i++) {
		const struct gm_section *sec = gm_stream_in_section(in, i);
		if (sec->type != GM_SECTION_DIRTY_BITMAP)
			r = gm_stream_out_section(w, sec->type, sec->instance, sec->version, sec->data, sec->len, false, err);
	}
	if (!r)
		r = gm_stream_out_end(w, err);
	if (!r && fsync(fd) < 0)
		r = gm_fail(err, GM_STATUS_FAILURE, errno, "cannot flush %s: %s", path, strerror(errno));
	gm_stream_out_free(w);
	if (fd >= 0)
		close(fd);
	free(text);
	return r;
}
