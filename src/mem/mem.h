/*
 * mem/: the memory plane's internal view of a gm_memory.  Other rooms use
 * include/gmvm/memory.h; this header is for src/mem/ and for code (dirty
 * tracking, state save/load) that must see regions, slots and identity.
 */
#ifndef GM_MEM_H
#define GM_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmvm/memory.h"

#define GM_MEM_MAX_REGIONS 2

/*
 * The identity page tables built at boot map guest-physical [0, 64 GiB), so
 * RAM must end there: with the hole at 3-4 GiB that is 63 GiB of RAM.
 */
#define GM_MEM_MAX_END (UINT64_C(64) << 30)
#define GM_MEM_MAX_SIZE (GM_MEM_MAX_END - (GM_HIGH_RAM_BASE - GM_LOW_RAM_END))

#define GM_MEM_REGION_NAME "ram"

/* One piece of guest RAM: where the guest sees it, where it is in the fd. */
struct gm_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t offset; /* into the fd and into the host mapping */
	uint32_t slot;   /* KVM memslot number */
};

struct gm_backend_ops;

struct gm_memory {
	struct gm_mem_config cfg;  /* copy; cfg.bind is the effective binding */
	const struct gm_backend_ops *ops;
	int fd;                    /* -1 for anon */
	void *host;                /* the whole fd, mapped once */
	uint64_t size;
	uint64_t page_size;
	int vm_fd;                 /* not owned; must outlive the memory */
	struct gm_mem_region regions[GM_MEM_MAX_REGIONS];
	unsigned nr_regions;
	enum gm_bind binding;      /* current mode, or the one bind will use */
	bool bound;
	uint8_t uuid[16];          /* VM identity, random (RFC 4122 v4) */
	char name[8];              /* region name within that VM: "ram" */
};

/*
 * Split ram_size into the low region (gpa 0, up to 3 GiB, fd offset 0) and
 * the high one (gpa 4 GiB, fd offset 3 GiB).  Returns the number of regions.
 */
unsigned gm_layout_regions(uint64_t ram_size, struct gm_mem_region out[GM_MEM_MAX_REGIONS]);

/* Highest guest-physical RAM address plus one for ram_size bytes of RAM. */
uint64_t gm_layout_end(uint64_t ram_size);

/* The region holding all of [gpa, gpa+len), or NULL (overflow-safe). */
const struct gm_mem_region *gm_layout_find(const struct gm_memory *mem, uint64_t gpa,
					   uint64_t len);

/* The binding a config asks for: bind= when given, else what the backend can do. */
enum gm_bind gm_mem_effective_bind(const struct gm_mem_config *cfg);

/* "3G", "2050M", "12K" or "12345" (bytes): the largest unit that divides exactly. */
const char *gm_mem_size_str(uint64_t bytes, char *buf, size_t len);

/* Delete every memslot of a bound memory; 0 or the first error. */
int gm_mem_unbind(struct gm_memory *mem, struct gm_error *err);

/* The 16-byte VM UUID and region name that identify this memory. */
const uint8_t *gm_memory_uuid(const struct gm_memory *mem);
const char *gm_memory_name(const struct gm_memory *mem);

/* The layout regions (for dirty logging, state save). */
const struct gm_mem_region *gm_memory_regions(const struct gm_memory *mem, unsigned *n);

#endif
