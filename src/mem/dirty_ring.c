/*
 * mem/dirty_ring.c: the VM's set of dirty rings, harvested into the bitmaps
 * of the memories attached to it (see dirty_ring.h for the contract).
 *
 * The order of a harvest is what makes it safe beside a running guest: read
 * the entries, flag them RESET (release, so KVM sees our reads done), let
 * KVM_RESET_DIRTY_RINGS write-protect those pages, and only then mark them.
 * A page marked before its reset could be collected and copied, then written
 * while still writable, and that write would leave no trace.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm/kvm.h"
#include "mem/dirty_ring.h"
#include "mem/mem.h"

#define DIRTY_PAGE UINT64_C(4096)

struct ring {
	pthread_mutex_t lock;
	struct kvm_dirty_gfn *gfns;  /* KVM's ring, mapped from the vCPU fd; NULL: no vCPU yet */
	struct kvm_dirty_gfn *seen;  /* what one harvest read, marked after the reset */
	uint32_t next;               /* the next entry to harvest (free-running) */
};

struct owner {
	struct gm_memory *mem;
	uint64_t *bits;              /* where its pages go; NULL: dropped */
};

struct gm_dirty_rings {
	int vm_fd;
	uint32_t entries;            /* per ring, a power of two */
	size_t bytes;
	unsigned nrings;
	struct ring *rings;
	pthread_rwlock_t route_lock; /* guards owners: read to route, write to change */
	struct owner *owners;
	unsigned nowners;
};

int gm_dirty_log_use_ring(enum gm_dirty_log mode, const struct gm_caps *caps, bool *ring,
			  struct gm_error *err)
{
	switch (mode) {
	case GM_DIRTY_LOG_AUTO:
		/* Where KVM's instruction emulator runs guest CPL0, one stretch of
		 * emulated kernel code can dirty more pages than the ring holds
		 * before KVM checks for a full ring: the kernel then warns in
		 * kvm_dirty_ring_push and whole batches of pages go missing
		 * (dirty_ring::a_full_ring_is_harvested_and_nothing_is_lost saw it).
		 * The bitmap cannot overflow. */
		*ring = caps->dirty_ring_bytes > 0 && !caps->cpl0_emulated;
		return 0;
	case GM_DIRTY_LOG_BITMAP:
		*ring = false;
		return 0;
	case GM_DIRTY_LOG_RING:
		if (!caps->dirty_ring_bytes)
			return gm_fail(err, GM_STATUS_NO_KERNEL, ENOTSUP,
				       "--dirty-log ring: this kernel has no dirty ring (KVM_CAP_DIRTY_LOG_RING, Linux 5.11 on x86); use --dirty-log bitmap or auto");
		*ring = true;
		return 0;
	}
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "unknown dirty log mode %d; use auto, ring or bitmap",
		       (int)mode);
}

/* The default size: GM_DIRTY_RING_ENTRIES, halved until the kernel allows it. */
static uint64_t default_bytes(uint64_t max)
{
	uint64_t bytes = GM_DIRTY_RING_ENTRIES * sizeof(struct kvm_dirty_gfn);

	while (bytes > max)
		bytes /= 2;
	return bytes;
}

static int enable(int vm_fd, const struct gm_caps *caps, uint64_t bytes, struct gm_error *err)
{
	struct kvm_enable_cap cap = {
		/* ACQ_REL is the same ring with the ordering spelled out; x86 has both */
		.cap = caps->dirty_ring_acq_rel ? KVM_CAP_DIRTY_LOG_RING_ACQ_REL : KVM_CAP_DIRTY_LOG_RING,
		.args = { bytes },
	};
	int ret = gm_ioctl(vm_fd, KVM_ENABLE_CAP, &cap);

	if (ret == -EINVAL)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "KVM refused a dirty ring of %" PRIu64 " bytes per vCPU (EINVAL): it is enabled once per VM, before the first vCPU, with a size KVM allows; this is a bug in the caller",
			       bytes);
	if (ret < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -ret,
			       "enabling %s failed: %s; use --dirty-log bitmap",
			       caps->dirty_ring_acq_rel ? "KVM_CAP_DIRTY_LOG_RING_ACQ_REL" : "KVM_CAP_DIRTY_LOG_RING",
			       strerror(-ret));
	return 0;
}

int gm_dirty_rings_create(int vm_fd, const struct gm_caps *caps, uint32_t bytes, unsigned max_vcpus,
			  struct gm_dirty_rings **out, struct gm_error *err)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE), size = bytes ? bytes : default_bytes(caps->dirty_ring_bytes);
	struct gm_dirty_rings *rs;
	int ret;

	*out = NULL;
	if (!caps->dirty_ring_bytes)
		return gm_fail(err, GM_STATUS_NO_KERNEL, ENOTSUP,
			       "this kernel has no dirty ring (KVM_CAP_DIRTY_LOG_RING); use --dirty-log bitmap");
	if (size < page || (size & (size - 1)) || size > caps->dirty_ring_bytes || max_vcpus == 0)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "a dirty ring of %" PRIu64 " bytes for %u vCPUs: the size must be a power of two from %" PRIu64 " to %" PRIu64 " bytes and there must be a vCPU; this is a bug in the caller",
			       size, max_vcpus, page, caps->dirty_ring_bytes);
	ret = enable(vm_fd, caps, size, err);
	if (ret)
		return ret;
	rs = calloc(1, sizeof(*rs));
	if (rs)
		rs->rings = calloc(max_vcpus, sizeof(*rs->rings));
	if (!rs || !rs->rings) {
		free(rs);
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of host memory for the dirty rings");
	}
	rs->vm_fd = vm_fd;
	rs->bytes = size;
	rs->entries = (uint32_t)(size / sizeof(struct kvm_dirty_gfn));
	rs->nrings = max_vcpus;
	for (unsigned i = 0; i < max_vcpus; i++)
		pthread_mutex_init(&rs->rings[i].lock, NULL);
	pthread_rwlock_init(&rs->route_lock, NULL);
	*out = rs;
	return 0;
}

int gm_dirty_rings_setup(enum gm_dirty_log mode, int vm_fd, const struct gm_caps *caps, unsigned max_vcpus,
			 struct gm_dirty_rings **out, struct gm_error *err)
{
	bool ring = false;
	int ret = gm_dirty_log_use_ring(mode, caps, &ring, err);

	*out = NULL;
	if (ret || !ring)
		return ret;
	return gm_dirty_rings_create(vm_fd, caps, 0, max_vcpus, out, err);
}

int gm_dirty_rings_add_vcpu(struct gm_dirty_rings *rs, unsigned id, int vcpu_fd, struct gm_error *err)
{
	long page = sysconf(_SC_PAGESIZE);
	struct ring *ring;
	void *p;

	if (id >= rs->nrings || rs->rings[id].gfns)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "vCPU %u has no dirty ring to map (the set has %u, or it is mapped already); this is a bug in the caller",
			       id, rs->nrings);
	ring = &rs->rings[id];
	ring->seen = malloc(rs->bytes);
	if (!ring->seen)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of host memory for vCPU %u's dirty ring", id);
	/* KVM refuses a private or executable mapping of the ring */
	p = mmap(NULL, rs->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd,
		 (off_t)KVM_DIRTY_LOG_PAGE_OFFSET * page);
	if (p == MAP_FAILED) {
		int e = errno;

		free(ring->seen);
		ring->seen = NULL;
		return gm_fail(err, GM_STATUS_FAILURE, e,
			       "cannot map vCPU %u's dirty ring (%zu bytes at page %d of its fd): %s; use --dirty-log bitmap",
			       id, rs->bytes, KVM_DIRTY_LOG_PAGE_OFFSET, strerror(e));
	}
	ring->gfns = p;
	return 0;
}

static struct owner *find_owner(struct gm_dirty_rings *rs, const struct gm_memory *mem)
{
	for (unsigned i = 0; i < rs->nowners; i++)
		if (rs->owners[i].mem == mem)
			return &rs->owners[i];
	return NULL;
}

int gm_dirty_rings_attach(struct gm_dirty_rings *rs, struct gm_memory *mem, struct gm_error *err)
{
	struct owner *grown;
	int ret = 0;

	if (mem->dirty.active || (mem->dirty.rings && mem->dirty.rings != rs))
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY,
			       "memory %s tracks dirty pages already or belongs to another VM's rings; attach it before tracking starts",
			       mem->name);
	pthread_rwlock_wrlock(&rs->route_lock);
	if (!find_owner(rs, mem)) {
		grown = realloc(rs->owners, (rs->nowners + 1) * sizeof(*grown));
		if (grown) {
			rs->owners = grown;
			rs->owners[rs->nowners++] = (struct owner){ .mem = mem };
			mem->dirty.rings = rs;
		} else {
			ret = gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of host memory attaching a memory to the dirty rings");
		}
	}
	pthread_rwlock_unlock(&rs->route_lock);
	return ret;
}

void gm_dirty_rings_detach(struct gm_dirty_rings *rs, struct gm_memory *mem)
{
	struct owner *o;

	if (!rs)
		return;
	pthread_rwlock_wrlock(&rs->route_lock);
	o = find_owner(rs, mem);
	if (o) {
		*o = rs->owners[--rs->nowners];
		mem->dirty.rings = NULL;
	}
	pthread_rwlock_unlock(&rs->route_lock);
}

void gm_dirty_rings_route(struct gm_dirty_rings *rs, struct gm_memory *mem, uint64_t *bits)
{
	struct owner *o;

	pthread_rwlock_wrlock(&rs->route_lock);
	o = find_owner(rs, mem);
	if (o)
		o->bits = bits;
	pthread_rwlock_unlock(&rs->route_lock);
}

/* The owner and range of slot id (address space 0), or false. */
static bool find_slot(const struct gm_dirty_rings *rs, uint32_t id, const struct owner **o,
		      const struct gm_mem_region **r)
{
	for (unsigned i = 0; i < rs->nowners; i++) {
		const struct gm_memory *mem = rs->owners[i].mem;

		for (unsigned j = 0; j < mem->nr_regions; j++)
			if (mem->regions[j].slot == id) {
				*o = &rs->owners[i];
				*r = &mem->regions[j];
				return true;
			}
	}
	return false;
}

/* Mark the pages of n harvested entries in their owners' bitmaps. */
static void route(struct gm_dirty_rings *rs, const struct kvm_dirty_gfn *g, uint32_t n)
{
	const struct owner *o = NULL;
	const struct gm_mem_region *r = NULL;

	pthread_rwlock_rdlock(&rs->route_lock);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t page;

		/* SMM's address space (1) is not ours: gmvm maps no SMRAM */
		if (g[i].slot >> 16)
			continue;
		if ((!r || r->slot != g[i].slot) && !find_slot(rs, g[i].slot, &o, &r)) {
			r = NULL;
			continue;
		}
		/* a slot deleted and made again smaller would leave stale offsets */
		if (!o->bits || g[i].offset >= r->size / DIRTY_PAGE)
			continue;
		page = r->offset / DIRTY_PAGE + g[i].offset;
		__atomic_fetch_or(&o->bits[page / 64], UINT64_C(1) << (page % 64), __ATOMIC_RELAXED);
	}
	pthread_rwlock_unlock(&rs->route_lock);
}

static int harvest_ring(struct gm_dirty_rings *rs, unsigned id, struct gm_error *err)
{
	struct ring *ring = &rs->rings[id];
	uint32_t n = 0;
	int ret = 0;

	pthread_mutex_lock(&ring->lock);
	while (ring->gfns && n < rs->entries) {
		struct kvm_dirty_gfn *e = &ring->gfns[ring->next & (rs->entries - 1)];

		if (!(__atomic_load_n(&e->flags, __ATOMIC_ACQUIRE) & KVM_DIRTY_GFN_F_DIRTY))
			break;
		ring->seen[n++] = *e;
		__atomic_store_n(&e->flags, KVM_DIRTY_GFN_F_RESET, __ATOMIC_RELEASE);
		ring->next++;
	}
	if (n) {
		ret = gm_ioctl(rs->vm_fd, KVM_RESET_DIRTY_RINGS, NULL);
		/* marked even when the reset failed: those pages were written */
		route(rs, ring->seen, n);
	}
	pthread_mutex_unlock(&ring->lock);
	if (ret < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -ret,
			       "KVM_RESET_DIRTY_RINGS after harvesting vCPU %u's ring failed: %s; stop tracking and start again",
			       id, strerror(-ret));
	return 0;
}

int gm_dirty_rings_harvest(struct gm_dirty_rings *rs, struct gm_error *err)
{
	int first = 0;

	/* every ring, even after an error: the others' pages stay marked */
	for (unsigned i = 0; i < rs->nrings; i++) {
		int ret = harvest_ring(rs, i, first ? NULL : err);

		if (ret && !first)
			first = ret;
	}
	return first;
}

int gm_dirty_rings_harvest_vcpu(struct gm_dirty_rings *rs, unsigned id, struct gm_error *err)
{
	if (!rs || id >= rs->nrings)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "vCPU %u reported a full dirty ring, and it has none; this is a bug in gmvm", id);
	return harvest_ring(rs, id, err);
}

uint32_t gm_dirty_rings_entries(const struct gm_dirty_rings *rs)
{
	return rs ? rs->entries : 0;
}

void gm_dirty_rings_destroy(struct gm_dirty_rings *rs)
{
	if (!rs)
		return;
	for (unsigned i = 0; i < rs->nowners; i++)
		rs->owners[i].mem->dirty.rings = NULL;
	for (unsigned i = 0; i < rs->nrings; i++) {
		if (rs->rings[i].gfns)
			munmap(rs->rings[i].gfns, rs->bytes);
		free(rs->rings[i].seen);
		pthread_mutex_destroy(&rs->rings[i].lock);
	}
	pthread_rwlock_destroy(&rs->route_lock);
	free(rs->owners);
	free(rs->rings);
	free(rs);
}
