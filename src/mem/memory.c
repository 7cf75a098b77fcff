/*
 * mem/memory.c: the life of a gm_memory: check, create the backing, set the
 * NUMA policy, map, preallocate; discard; destroy.  The memory carries an
 * identity (VM UUID + region name) so that after a live update or migration
 * the same guest RAM is recognised by name, not by pointer.  The identity is
 * its owner's to give: the machine owns the UUID, mem/ never invents one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mem/backend.h"
#include "mem/mem.h"

const struct gm_backend_ops *gm_backend_ops(enum gm_backend b)
{
	switch (b) {
	case GM_BACKEND_GUEST_MEMFD:
		return &gm_backend_guest_memfd;
	case GM_BACKEND_MEMFD:
		return &gm_backend_memfd;
	case GM_BACKEND_ANON:
		return &gm_backend_anon;
	}
	return NULL;
}

/* Undo create in reverse; safe on a half-built memory. */
static void teardown(struct gm_memory *mem)
{
	if (mem->host)
		munmap(mem->host, mem->size);
	mem->host = NULL;
	if (mem->ops)
		mem->ops->close(mem);
	gm_mem_dirty_free(mem);
	free(mem);
}

struct gm_memory *gm_mem_alloc(const struct gm_mem_config *cfg, int vm_fd, struct gm_error *err)
{
	struct gm_memory *mem = calloc(1, sizeof(*mem));

	if (!mem) {
		gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of host memory for the guest memory object");
		return NULL;
	}
	mem->cfg = *cfg;
	mem->cfg.bind = gm_mem_effective_bind(cfg);
	mem->ops = gm_backend_ops(cfg->backend);
	mem->fd = -1;
	mem->size = cfg->size;
	mem->page_size = cfg->page_size;
	mem->vm_fd = vm_fd;
	mem->nr_regions = gm_layout_regions(cfg->size, mem->regions);
	mem->binding = mem->cfg.bind;
	/* the owner names the memory (gm_memory_set_identity); until then it is
	 * "ram" of no VM (an all-zero UUID) */
	strcpy(mem->name, GM_MEM_REGION_NAME);
	return mem;
}

int gm_memory_create(const struct gm_mem_config *cfg, const struct gm_caps *caps,
		     int vm_fd, struct gm_memory **out, struct gm_error *err)
{
	struct gm_memory *mem;
	int ret;

	if (!out)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "gm_memory_create needs somewhere to put the memory; this is a bug in the caller");
	*out = NULL;
	ret = gm_memory_check(cfg, caps, err);
	if (ret)
		return ret;

	mem = gm_mem_alloc(cfg, vm_fd, err);
	if (!mem)
		return -ENOMEM;
	ret = mem->ops->create(mem, caps, err);
	if (!ret)
		ret = mem->ops->map(mem, err);
	/* The policy goes on the mapping before the first page exists, so every
	 * page, preallocated or faulted later by the guest, lands on the node. */
	if (!ret && cfg->numa_node >= 0)
		ret = mem->ops->set_node(mem, cfg->numa_node, err);
	/* movable=off: advice before the first page, the lock after prealloc */
	if (!ret)
		ret = gm_mem_pin_advise(mem, err);
	if (!ret && cfg->prealloc)
		ret = mem->ops->prealloc(mem, err);
	if (!ret)
		ret = gm_mem_pin_lock(mem, err);
	if (ret) {
		teardown(mem);
		return ret;
	}
	*out = mem;
	return 0;
}

void gm_memory_destroy(struct gm_memory *mem)
{
	if (!mem)
		return;
	/* Slots first: KVM must stop using the mapping before it goes away. */
	if (mem->bound)
		gm_mem_unbind(mem, NULL);
	teardown(mem);
}

int gm_memory_discard(struct gm_memory *mem, uint64_t gpa, uint64_t len, struct gm_error *err)
{
	const struct gm_mem_region *r;
	char p[32];

	if (!mem)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL, "discard on no memory; this is a bug in the caller");
	if (len == 0 || gpa % mem->page_size || len % mem->page_size)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "discard of 0x%" PRIx64 "+0x%" PRIx64 " is not a whole number of %s pages; align address and length to %s",
			       gpa, len, gm_mem_size_str(mem->page_size, p, sizeof(p)), p);
	r = gm_layout_find(mem, gpa, len);
	if (!r && mem->gpa)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "discard of 0x%" PRIx64 "+0x%" PRIx64 " is not inside region %s (0x%" PRIx64 " to 0x%" PRIx64 "); split or shrink the range",
			       gpa, len, mem->name, mem->gpa, gm_memory_end(mem));
	if (!r)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "discard of 0x%" PRIx64 "+0x%" PRIx64 " is not inside one RAM region (RAM ends at 0x%" PRIx64 ", hole at 3G-4G); split or shrink the range",
			       gpa, len, gm_memory_end(mem));
	if (mem->file_private)
		return gm_mem_file_private_discard(mem, r->offset + (gpa - r->gpa), len, err);
	return mem->ops->discard(mem, r->offset + (gpa - r->gpa), len, err);
}

void gm_memory_zero(struct gm_memory *mem, uint64_t offset, uint64_t len)
{
	uint64_t ps = mem->page_size, end = offset + len, a = (offset + ps - 1) / ps * ps, b = end / ps * ps;
	struct gm_error err = { 0 };
	uint8_t *host = mem->host;

	if (a < b && (mem->file_private ? gm_mem_file_private_discard(mem, a, b - a, &err)
					: mem->ops->discard(mem, a, b - a, &err)) == 0) {
		memset(host + offset, 0, a - offset);
		memset(host + b, 0, end - b);
		return;
	}
	memset(host + offset, 0, len);
}

uint64_t gm_memory_size(const struct gm_memory *mem)
{
	return mem ? mem->size : 0;
}

uint64_t gm_memory_page_size(const struct gm_memory *mem)
{
	return mem ? mem->page_size : 0;
}

const struct gm_mem_config *gm_memory_config(const struct gm_memory *mem)
{
	return mem ? &mem->cfg : NULL;
}

int gm_memory_fd(const struct gm_memory *mem)
{
	return mem ? mem->fd : -1;
}

enum gm_bind gm_memory_binding(const struct gm_memory *mem)
{
	return mem->binding;
}

int gm_memory_set_identity(struct gm_memory *mem, const uint8_t uuid[16], const char *name, struct gm_error *err)
{
	if (!name || !*name || strlen(name) >= sizeof(mem->name))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "a region name must be 1 to %zu bytes",
			       sizeof(mem->name) - 1);
	memcpy(mem->uuid, uuid, sizeof(mem->uuid));
	strcpy(mem->name, name);
	return 0;
}

int gm_memory_place(struct gm_memory *mem, uint64_t gpa, uint32_t slot_base, struct gm_error *err)
{
	if (mem->bound)
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY,
			       "region %s is bound already; place it before gm_memory_bind", mem->name);
	if (gpa % GM_PAGE_4K || gpa % mem->page_size || (gpa && gpa > UINT64_MAX - mem->size))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "region %s cannot start at 0x%" PRIx64 ": not aligned to its pages, or it would pass 2^64",
			       mem->name, gpa);
	if (gpa) {
		mem->regions[0] = (struct gm_mem_region){ .gpa = gpa, .size = mem->size, .offset = 0 };
		mem->nr_regions = 1;
	} else {
		mem->nr_regions = gm_layout_regions(mem->size, mem->regions);
	}
	for (unsigned i = 0; i < mem->nr_regions; i++)
		mem->regions[i].slot = slot_base + i;
	mem->gpa = gpa;
	return 0;
}

uint64_t gm_memory_gpa(const struct gm_memory *mem)
{
	return mem ? mem->gpa : 0;
}

const uint8_t *gm_memory_uuid(const struct gm_memory *mem)
{
	return mem->uuid;
}

const char *gm_memory_name(const struct gm_memory *mem)
{
	return mem->name;
}

const struct gm_mem_region *gm_memory_regions(const struct gm_memory *mem, unsigned *n)
{
	*n = mem->nr_regions;
	return mem->regions;
}

void gm_memory_info(const struct gm_memory *mem, struct gm_memory_info *out)
{
	memset(out, 0, sizeof(*out));
	out->name = mem->name;
	out->backend = mem->cfg.backend;
	out->page_size = mem->page_size;
	out->binding = mem->binding;
	out->size = mem->size;
	for (unsigned i = 0; i < mem->nr_regions && i < GM_MEMORY_MAX_RANGES; i++) {
		out->ranges[i].gpa = mem->regions[i].gpa;
		out->ranges[i].size = mem->regions[i].size;
		out->nranges = i + 1;
	}
	out->direct_map = !mem->cfg.no_direct_map;
	gm_mem_pin_info(mem, out);
}
