/*
 * vmm/state_load: a stream's machine sections decoded into a plain image,
 * every one of them checked (count, sizes, values, one device section per
 * registered device and in the same order) before the image is applied to
 * a machine whose vCPUs are parked.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "vmm/state.h"

int gm_section_fail(struct gm_error *err, const struct gm_section *sec, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "state stream: section %u (%s) at byte %llu: %s",
		       sec->index, gm_section_type_name(sec->type), (unsigned long long)sec->offset, msg);
}

static int missing(struct gm_error *err, const char *what, unsigned instance)
{
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
		       "state stream: no %s section %u; the snapshot is incomplete, take it again", what, instance);
}

int gm_image_decode(const struct gm_stream_in *s, unsigned ncpus, struct gm_machine_image *img,
		    struct gm_error *err)
{
	const struct gm_section *sec;
	int r = 0;

	memset(img, 0, sizeof(*img));
	img->ncpus = ncpus;
	img->vcpus = calloc(ncpus ? ncpus : 1, sizeof(*img->vcpus));
	if (!img->vcpus)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory reading vCPU state");
	for (unsigned i = 0; i < ncpus && !r; i++) {
		sec = gm_stream_in_find(s, GM_SECTION_VCPU, i);
		r = sec ? gm_decode_vcpu(sec, &img->vcpus[i], err) : missing(err, "VCPU", i);
	}
	if (!r && (sec = gm_stream_in_find(s, GM_SECTION_VCPU, ncpus)))
		r = gm_section_fail(err, sec, "a vCPU beyond the %u the header names", ncpus);
	if (!r) {
		sec = gm_stream_in_find(s, GM_SECTION_CLOCK, 0);
		r = sec ? gm_decode_clock(sec, &img->clock, err) : missing(err, "CLOCK", 0);
	}
	if (!r) {
		sec = gm_stream_in_find(s, GM_SECTION_GSI_ROUTES, 0);
		r = sec ? gm_decode_routes(sec, img->routes, &img->nroutes, err) : missing(err, "GSI_ROUTES", 0);
	}
	/* DEVICE 0..n-1 in a row, as the writer's machine made them; gm_image_apply
	 * matches them against this machine's before it changes anything */
	unsigned n = 0;
	for (; !r && (sec = gm_stream_in_find(s, GM_SECTION_DEVICE, n)); n++) {
		if (n == GM_MAX_DEVICES) {
			r = gm_section_fail(err, sec, "more than %d devices; no gmvm makes that many", GM_MAX_DEVICES);
			break;
		}
		r = gm_decode_device(sec, img->devs[n].name, &img->devs[n].data, &img->devs[n].len, err);
		img->devs[n].version = sec->version;
	}
	img->ndevs = n;
	/* REGION 0..n-1 in a row; a stream from before regions has none */
	for (n = 0; !r && (sec = gm_stream_in_find(s, GM_SECTION_REGION, n)); n++) {
		if (n == GM_MAX_REGIONS) {
			r = gm_section_fail(err, sec, "more than %d regions; no gmvm makes that many", GM_MAX_REGIONS);
			break;
		}
		r = gm_decode_region(sec, &img->regions[n], err);
		for (unsigned j = 0; !r && j < n; j++)
			if (!strcmp(img->regions[j].name, img->regions[n].name))
				r = gm_section_fail(err, sec, "a second region named %s; the stream is corrupt",
						    img->regions[n].name);
	}
	img->nregions = n;
	for (unsigned i = 0; !r && i < gm_stream_in_count(s); i++) {
		sec = gm_stream_in_section(s, i);
		if (sec->type == GM_SECTION_REGION &&
		    (sec->instance >= n || sec != gm_stream_in_find(s, GM_SECTION_REGION, sec->instance)))
			r = gm_section_fail(err, sec, "region %u twice or after a gap in the region numbers; the stream is corrupt",
					    sec->instance);
	}
	if (r)
		gm_image_free(img);
	return r;
}

void gm_image_free(struct gm_machine_image *img)
{
	free(img->vcpus);
	img->vcpus = NULL;
}

int gm_image_check_regions(const struct gm_machine_image *img, struct gm_machine *m, struct gm_error *err)
{
	if (!img->nregions)
		return 0;
	if (img->nregions != m->nmems)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "the state is for %u memory regions, the machine has %u",
			       img->nregions, m->nmems);
	for (unsigned i = 0; i < m->nmems; i++) {
		const struct gm_image_region *ir = &img->regions[i];
		const struct gm_memory *mem = m->mems[i];

		if (strcmp(ir->name, gm_memory_name(mem)) || ir->size != gm_memory_size(mem) ||
		    ir->gpa != gm_memory_gpa(mem))
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "the state's region %u is %s of 0x%llx bytes at 0x%llx, the machine's is %s of 0x%llx at 0x%llx",
				       i, ir->name, (unsigned long long)ir->size, (unsigned long long)ir->gpa,
				       gm_memory_name(mem), (unsigned long long)gm_memory_size(mem),
				       (unsigned long long)gm_memory_gpa(mem));
	}
	return 0;
}

int gm_image_apply(struct gm_machine *m, const struct gm_machine_image *img, struct gm_error *err)
{
	int r = 0;

	if (img->ncpus != m->ncpus || img->ndevs != m->ndevs)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "the state is for %u vCPUs and %u devices, the machine has %u and %u",
			       img->ncpus, img->ndevs, m->ncpus, m->ndevs);
	for (unsigned i = 0; i < m->ndevs; i++)
		if (strcmp(img->devs[i].name, m->devs[i].type->name))
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "the state's device %u is '%s' but this machine's is '%s'; give the machine the same devices (--disk, --device) as the one saved",
				       i, img->devs[i].name, m->devs[i].type->name);
	r = gm_image_check_regions(img, m, err);
	for (unsigned i = 0; i < m->ncpus && !r; i++)
		r = gm_vcpu_set_locked(m, i, &img->vcpus[i], err);
	if (!r) {
		struct kvm_clock_data clock = img->clock;
		int e = gm_ioctl(m->vm_fd, KVM_SET_CLOCK, &clock);
		if (e < 0)
			r = gm_fail(err, GM_STATUS_FAILURE, -e, "KVM_SET_CLOCK failed: %s", strerror(-e));
	}
	for (unsigned i = 0; i < m->ndevs && !r; i++) {
		const struct gm_device *d = &m->devs[i];
		r = d->type->load(d->dev, img->devs[i].data, img->devs[i].len, img->devs[i].version, err);
	}
	/* after the devices, since the IOAPIC republishes routes on load: the
	 * saved table is what KVM had when the snapshot was taken */
	if (!r) {
		unsigned gsi[GM_IOAPIC_PINS];
		uint32_t address[GM_IOAPIC_PINS], data[GM_IOAPIC_PINS];
		for (unsigned i = 0; i < img->nroutes; i++) {
			gsi[i] = img->routes[i].gsi;
			address[i] = img->routes[i].msi.address;
			data[i] = img->routes[i].msi.data;
			m->routes[i] = img->routes[i];
		}
		m->nroutes = img->nroutes;
		int e = gm_kvm_set_msi_routes(m->vm_fd, img->nroutes, gsi, address, data);
		if (e < 0)
			r = gm_fail(err, GM_STATUS_FAILURE, -e, "KVM_SET_GSI_ROUTING failed: %s", strerror(-e));
	}
	return r;
}
