/*
 * gm_memory: one memory region of a guest, the RAM or another one.  One
 * backend instance (guest_memfd, memfd or anon) placed in guest-physical
 * space (the RAM by the layout: low RAM up to the 32-bit hole at 3 GiB, the
 * rest from 4 GiB; any other region in one piece where gm_memory_place
 * puts it) and bound into KVM memslots in one of two modes.  The fd and the host mapping live as long as the object:
 * KVM's emulator reads guest memory through the mapping.
 */
#ifndef GMVM_MEMORY_H
#define GMVM_MEMORY_H

#include <stdbool.h>
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
 * What gm_memory_check cannot see region by region: the bytes all of a
 * machine's pinned regions (movable=off on memfd/anon) lock together,
 * against RLIMIT_MEMLOCK (unless CAP_IPC_LOCK).  Status 2 with the limit
 * and how to raise it.
 */
int gm_memory_check_machine(const struct gm_config *cfg, const struct gm_caps *caps, struct gm_error *err);

/*
 * private=on: 0 when this kernel offers private memory to gmvm (a VM type
 * with it, KVM_X86_SW_PROTECTED_VM, and KVM_MEMORY_ATTRIBUTE_PRIVATE), else
 * status 3 naming what is missing.  The one place the question is decided.
 */
int gm_private_mem_check(const struct gm_caps *caps, struct gm_error *err);

/*
 * Create the backing memory for a VM (vm_fd is needed by guest_memfd),
 * apply the NUMA policy before any page is allocated, map it, preallocate
 * if asked.  Does not bind: see gm_memory_bind().
 */
int gm_memory_create(const struct gm_mem_config *cfg, const struct gm_caps *caps,
		     int vm_fd, struct gm_memory **out, struct gm_error *err);

/*
 * Make a memory over fd, which already holds a region's pages (a live
 * update: the old process handed it over): checks that fd is what cfg says
 * (memfd or guest_memfd, cfg->size, the page size), maps it as the backend
 * does, and neither preallocates nor sets a NUMA policy (the pages and the
 * inode's policy exist already).  The memory keeps a duplicate of fd; the
 * caller still owns its own.  A guest_memfd imported here records
 * bind=mapped: this kernel refuses KVM_MEM_GUEST_MEMFD in any VM but the
 * one that created it.  backend=anon has no fd and is refused (re-home it to
 * memfd first).  Place, name and bind it as one from gm_memory_create.
 */
/* What gm_memory_import would refuse of cfg before it sees the fd (a live update asks before it pauses). */
int gm_memory_import_check(const struct gm_mem_config *cfg, const struct gm_caps *caps, struct gm_error *err);
int gm_memory_import(const struct gm_mem_config *cfg, const struct gm_caps *caps, int vm_fd, int fd,
		     struct gm_memory **out, struct gm_error *err);

/*
 * Name the memory: its identity is the owning VM's UUID plus this region
 * name (at most 15 bytes).  The owner gives it; until then it is "ram" of
 * an all-zero UUID.
 */
int gm_memory_set_identity(struct gm_memory *mem, const uint8_t uuid[16], const char *name,
			   struct gm_error *err);

/*
 * Make the RAM a private, copy-on-write mapping of the file at path (a
 * snapshot's memory file, exactly the RAM's size): pages come from the
 * page cache on the guest's first touch, writes stay private.  Only for
 * memfd and anon memory on 4 KiB pages, before any vCPU runs; guest_memfd
 * memory is only ever its own pages.
 */
int gm_memory_map_file_private(struct gm_memory *mem, const char *path, struct gm_error *err);

/*
 * Place the memory before it is bound: gpa 0 is the RAM's layout (what
 * gm_memory_create gives), any other gpa one piece from there (aligned to
 * the page size).  Its memslots are numbered from slot_base (the RAM takes
 * two, another region one), so the regions of one VM must not share slot
 * numbers.  -EBUSY once bound.
 */
int gm_memory_place(struct gm_memory *mem, uint64_t gpa, uint32_t slot_base, struct gm_error *err);

/* Where the memory starts in guest-physical space (0 for the RAM). */
uint64_t gm_memory_gpa(const struct gm_memory *mem);

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

/*
 * Dirty tracking: which 4 KiB pages changed since the last look, for
 * snapshots, migration and re-homing.  Bit i of a bitmap is the page at byte
 * offset i*4096 of the memory object (fd/mapping offset, not guest-physical:
 * the low and high layout regions map into it in order), so a bitmap holds
 * gm_memory_size(mem)/4096 bits rounded up to a multiple of 64.
 */

/*
 * Start logging the pages the guest writes.  The memory must be bound.
 * Where the machine attached it to the VM's dirty rings (gm_config's
 * dirty_log), KVM reports guest writes there; otherwise in a bitmap per
 * memslot, with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled on the VM first
 * when the kernel has it (once per VM; without KVM_DIRTY_LOG_INITIALLY_SET,
 * so tracking starts clean).  A memory bound gmem cannot log: it is rebound
 * mapped first and gm_memory_dirty_stop binds it back, so the caller
 * guarantees no vCPU is in KVM_RUN while this switches a binding
 * (gm_memory_dirty_needs_pause tells whether it will).  -EBUSY when already on.
 */
int gm_memory_dirty_start(struct gm_memory *mem, struct gm_error *err);

/* True when gm_memory_dirty_start or _stop would switch the binding (delete and re-create slots). */
bool gm_memory_dirty_needs_pause(const struct gm_memory *mem);

/*
 * OR into bitmap the pages written since the last collect (or since start),
 * and clear them.  With the dirty rings: every vCPU's ring harvested and
 * reset (KVM_RESET_DIRTY_RINGS).  Else with manual protect:
 * KVM_GET_DIRTY_LOG then KVM_CLEAR_DIRTY_LOG of exactly the bits fetched,
 * per slot; without it KVM_GET_DIRTY_LOG alone (which clears).  KVM may
 * count a page it mapped writable after start as written even when the
 * guest only read it: a superset, never fewer.  A page written during the collect
 * is either in bitmap or in the next one, so copy pages after collecting.
 * On error bitmap may hold part of the pages and the rest are lost: stop and
 * start over.  May run while vCPUs run and beside gm_memory_dirty_mark; one
 * collect at a time, and not beside a bind, rebind or stop.
 */
int gm_memory_dirty_collect(struct gm_memory *mem, uint64_t *bitmap, struct gm_error *err);

/*
 * Stop logging, free the bitmaps, and bind gmem again if start switched it
 * (same pause rule as start).  Pages not collected are dropped.  0 when not on.
 */
int gm_memory_dirty_stop(struct gm_memory *mem, struct gm_error *err);

bool gm_memory_dirty_active(const struct gm_memory *mem);

/*
 * Mark pages the host itself wrote (device emulation, loaders): KVM logs
 * only guest writes.  offset is into the memory object, as the bitmap's;
 * the range is clipped to the memory.  No-op while tracking is off.  Safe
 * beside collect; not beside start or stop, which allocate and free.
 */
void gm_memory_dirty_mark(struct gm_memory *mem, uint64_t offset, uint64_t len);
/* The same by guest-physical address: the part of [gpa, gpa+len) that is this memory's. */
void gm_memory_dirty_mark_gpa(struct gm_memory *mem, uint64_t gpa, uint64_t len);

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
/* Highest guest-physical address of this memory plus one. */
uint64_t gm_memory_end(const struct gm_memory *mem);
const struct gm_mem_config *gm_memory_config(const struct gm_memory *mem);
int gm_memory_fd(const struct gm_memory *mem);

/*
 * The e820 map for this memory: for the RAM, RAM below 640K minus the EBDA,
 * a reserved hole up to 1 MiB, RAM to the 32-bit hole, RAM above 4 GiB; for
 * another region, one RAM entry.  Returns the number of entries written (at
 * most max).
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
	unsigned nranges;          /* guest-physical pieces (the RAM's below and above the 32-bit hole) */
	struct { uint64_t gpa, size; } ranges[GM_MEMORY_MAX_RANGES];
	bool movable;              /* movable= as in effect (the backend's default when not given) */
	unsigned npinning;         /* what movable=off applied to the mapping (memfd, anon) */
	const char *pinning[8];    /* "mlock2(MLOCK_ONFAULT)", "MADV_NOHUGEPAGE", "MADV_UNMERGEABLE", ... */
	const char *movable_note;  /* one line: what can move these pages, e.g. "unmovable: guest_memfd folios ..." */
	bool direct_map;           /* false: guest_memfd created with GUEST_MEMFD_FLAG_NO_DIRECT_MAP */
};
void gm_memory_info(const struct gm_memory *mem, struct gm_memory_info *out);

/* The e820 map for a given RAM size, without any memory (pure layout). */
size_t gm_layout_e820(uint64_t ram_size, struct gm_e820_entry *out, size_t max);

#endif
