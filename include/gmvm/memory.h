/*
 * gm_memory: the guest's RAM.  One backend instance (guest_memfd, memfd or
 * anon) placed in guest-physical space by the layout (low RAM up to the
 * 32-bit hole at 3 GiB, the rest from 4 GiB) and bound into KVM memslots in
 * one of two modes.  The fd and the host mapping live as long as the object:
 * KVM's emulator reads guest memory through the mapping.
 */
#ifndef GMVM_MEMORY_H
#define GMVM_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "gmvm/caps.h"
#include "gmvm/config.h"
#include "gmvm/error.h"

#define GM_LOW_RAM_END   (UINT64_C(3) << 30) /* start of the 32-bit hole */
#define GM_HIGH_RAM_BASE (UINT64_C(4) << 30)

struct gm_memory;

enum gm_e820_type {
	GM_E820_RAM = 1,
	GM_E820_RESERVED = 2,
};

struct gm_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/*
 * Refuse, without side effects, every combination this kernel or machine
 * cannot serve: the message names the cause and the remedy, err->status is
 * GM_STATUS_BAD_INPUT or GM_STATUS_NO_KERNEL.
 */
int gm_memory_check(const struct gm_mem_config *cfg, const struct gm_caps *caps,
		    struct gm_error *err);

/*
 * Create the backing memory for a VM (vm_fd is needed by guest_memfd),
 * apply the NUMA policy before any page is allocated, map it, preallocate
 * if asked.  Does not bind: see gm_memory_bind().
 */
int gm_memory_create(const struct gm_mem_config *cfg, const struct gm_caps *caps,
		     int vm_fd, struct gm_memory **out, struct gm_error *err);

/* Release the memslots (if bound), the mapping and the fd. */
void gm_memory_destroy(struct gm_memory *mem);

/* Put every layout region into KVM memslots in the given mode. */
int gm_memory_bind(struct gm_memory *mem, enum gm_bind mode, struct gm_error *err);

/*
 * Move a bound memory from one binding mode to the other, guest memory
 * untouched.  The caller guarantees no vCPU is inside KVM_RUN.
 */
int gm_memory_rebind(struct gm_memory *mem, enum gm_bind mode, struct gm_error *err);

enum gm_bind gm_memory_binding(const struct gm_memory *mem);

/* Free the backing of [gpa, gpa+len) (punch hole; MADV_DONTNEED for anon); reads give zeros. */
int gm_memory_discard(struct gm_memory *mem, uint64_t gpa, uint64_t len, struct gm_error *err);

/*
 * The one checked way to reach guest memory from the host: a host pointer
 * for [gpa, gpa+len) when the whole range is RAM inside one region, NULL
 * otherwise (outside RAM, in the hole, or overflowing).
 */
void *gm_memory_hva(const struct gm_memory *mem, uint64_t gpa, uint64_t len);

uint64_t gm_memory_size(const struct gm_memory *mem);
/* The backing's page size (4 KiB, or the hugetlb size): the unit of discard. */
uint64_t gm_memory_page_size(const struct gm_memory *mem);
/* Highest guest-physical address of RAM plus one. */
uint64_t gm_memory_end(const struct gm_memory *mem);
const struct gm_mem_config *gm_memory_config(const struct gm_memory *mem);
int gm_memory_fd(const struct gm_memory *mem);

/*
 * The e820 map for this memory: RAM below 640K minus the EBDA, a reserved
 * hole up to 1 MiB, RAM to the 32-bit hole, RAM above 4 GiB.  Returns the
 * number of entries written (at most max).
 */
size_t gm_memory_e820(const struct gm_memory *mem, struct gm_e820_entry *out, size_t max);

/* What a region is, for reports (vm.info). */
#define GM_MEMORY_MAX_RANGES 2
struct gm_memory_info {
	const char *name;          /* the region's name within the VM: "ram" */
	enum gm_backend backend;
	uint64_t page_size;
	enum gm_bind binding;      /* the current binding */
	uint64_t size;
	unsigned nranges;          /* guest-physical pieces (below and above the 32-bit hole) */
	struct { uint64_t gpa, size; } ranges[GM_MEMORY_MAX_RANGES];
};
void gm_memory_info(const struct gm_memory *mem, struct gm_memory_info *out);

/* The e820 map for a given RAM size, without any memory (pure layout). */
size_t gm_layout_e820(uint64_t ram_size, struct gm_e820_entry *out, size_t max);

#endif
