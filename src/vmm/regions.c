/*
 * vmm/regions: the machine's memory regions.  "ram" is what --memory gives;
 * --region adds more, each its own memory object placed above the RAM.
 * Here: checking and placing them before the VM exists, finding one by
 * name, the guest-address accessor over all of them, and the operations
 * (binding switch, discard) that name a region.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "mem/mem.h"
#include "vmm/vmm.h"
#include "x86/x86.h"

int gm_regions_prepare(struct gm_machine *m, const struct gm_caps *caps, struct gm_error *err)
{
	struct gm_config *c = &m->cfg;
	int r = gm_regions_check(c, true, err);

	for (unsigned i = 0; i < c->nregions && !r; i++) {
		struct gm_error e = { 0 };

		if (gm_memory_check(&c->regions[i].mem, caps, &e))
			r = gm_fail(err, e.status, e.errnum, "region %s: %s", c->regions[i].name, e.msg);
	}
	/* two memslots per region at most (the RAM's low and high ranges) */
	if (!r && caps->nr_memslots && caps->nr_memslots < (1 + c->nregions) * GM_MEM_MAX_REGIONS)
		r = gm_fail(err, GM_STATUS_NO_KERNEL, ENOSPC,
			    "this KVM offers %u memslots and %u regions need up to %u; use fewer --region", caps->nr_memslots,
			    1 + c->nregions, (1 + c->nregions) * GM_MEM_MAX_REGIONS);
	/* what every region pins together must fit the lock limit, not just each alone */
	if (!r)
		r = gm_memory_check_machine(c, caps, err);
	if (!r)
		r = gm_layout_place_regions(c->mem.size, c->regions, c->nregions, gm_x86_phys_bits(), err);
	return r;
}

int gm_machine_region_index(const struct gm_machine *m, const char *name, struct gm_error *err)
{
	char names[GM_MAX_REGIONS * (GM_REGION_NAME_MAX + 2) + 1] = "";
	size_t used = 0;

	for (unsigned i = 0; i < m->nmems; i++)
		if (!strcmp(gm_memory_name(m->mems[i]), name))
			return (int)i;
	for (unsigned i = 0; i < m->nmems; i++)
		used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
					 gm_memory_name(m->mems[i]));
	/* a name is at most 15 characters of [a-z0-9-]; anything else is not echoed */
	bool plain = strlen(name) <= GM_REGION_NAME_MAX && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(name);
	return gm_fail(err, GM_STATUS_BAD_INPUT, ENOENT, "this VM has no region %s%s%s; its regions are: %s",
		       plain ? "'" : "", plain ? name : "of that name", plain ? "'" : "", names);
}

unsigned gm_machine_regions(const struct gm_machine *m)
{
	return m->nmems;
}

struct gm_memory *gm_machine_region(struct gm_machine *m, unsigned i)
{
	return i < m->nmems ? m->mems[i] : NULL;
}

struct gm_memory *gm_machine_region_named(struct gm_machine *m, const char *name)
{
	int i = name ? gm_machine_region_index(m, name, NULL) : -1;

	return i >= 0 ? m->mems[i] : NULL;
}

void *gm_machine_hva(struct gm_machine *m, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < m->nmems; i++) {
		void *p = gm_memory_hva(m->mems[i], gpa, len);

		if (p)
			return p;
	}
	return NULL;
}

int gm_machine_switch_region_binding(struct gm_machine *m, const char *region, enum gm_bind mode,
				     struct gm_error *err)
{
	int i = gm_machine_region_index(m, region ? region : GM_RAM_REGION, err);

	if (i < 0)
		return i;
	pthread_mutex_lock(&m->op_lock);
	int r = gm_hold(m, err);
	if (!r) {
		r = gm_memory_rebind(m->mems[i], mode, err);
		gm_release(m);
	}
	pthread_mutex_unlock(&m->op_lock);
	if (!r)
		gm_emit(m, (struct gm_event){ .kind = GM_EVENT_BINDING, .binding = mode,
					      .region = gm_memory_name(m->mems[i]) });
	return r;
}

/* The region whose span holds gpa; else the RAM, whose refusal then says where RAM is. */
static int region_of(const struct gm_machine *m, uint64_t gpa)
{
	for (unsigned i = 0; i < m->nmems; i++)
		if (gpa >= gm_memory_gpa(m->mems[i]) && gpa < gm_memory_end(m->mems[i]))
			return (int)i;
	return 0;
}

int gm_machine_discard_region(struct gm_machine *m, const char *region, uint64_t gpa, uint64_t len,
			      struct gm_error *err)
{
	int i = region ? gm_machine_region_index(m, region, err) : region_of(m, gpa);

	if (i < 0)
		return i;
	struct gm_exit ended;
	int r;

	pthread_mutex_lock(&m->op_lock);
	/* after a live update the memory is the new process's guest: hands off */
	if (gm_machine_exit(m, &ended) == 0 || __atomic_load_n(&m->handed_over, __ATOMIC_ACQUIRE))
		r = gm_fail(err, GM_STATUS_FAILURE, ESRCH, "the guest has ended here (%s); nothing to discard",
			    ended.kind == GM_EXIT_NONE ? "handed over" : ended.reason);
	else
		r = gm_memory_discard(m->mems[i], gpa, len, err);
	pthread_mutex_unlock(&m->op_lock);
	if (!r)
		gm_emit(m, (struct gm_event){ .kind = GM_EVENT_DISCARD, .gpa = gpa, .length = len,
					      .region = gm_memory_name(m->mems[i]) });
	return r;
}
