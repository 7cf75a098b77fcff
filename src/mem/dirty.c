/*
 * mem/dirty.c: dirty tracking, which 4 KiB pages of guest RAM changed since
 * the last look; snapshots, migration and re-homing share it.  KVM logs what
 * the guest writes, one bitmap per memslot; what the host writes on the
 * guest's behalf (devices, loaders) is marked here by hand.  Both end up in
 * the caller's bitmap, indexed by page of the memory object, not by
 * guest-physical address, so the layout's hole never shows.
 *
 * Only a mapped binding can log, so tracking a gmem-bound memory switches it
 * to mapped for the duration (binding.c keeps the flag on across rebinds).
 *
 * Guest writes come from one of two sources, chosen per VM: the slots'
 * bitmaps (KVM_GET_DIRTY_LOG, here), or, when the memory is attached to the
 * VM's dirty rings (dirty_ring.c), the rings, which put this memory's pages
 * into host_bits as they are harvested.  Either way collect hands out the
 * same bitmap.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/kvm.h"
#include "mem/dirty_ring.h"
#include "mem/mem.h"

#define DIRTY_PAGE UINT64_C(4096)  /* KVM's unit, whatever backs the memory */
#define WORD_BYTES (DIRTY_PAGE * 64) /* bytes of memory one bitmap word covers */

static uint64_t words_for(uint64_t bytes)
{
	return (bytes / DIRTY_PAGE + 63) / 64;
}

/*
 * With manual protect, KVM_GET_DIRTY_LOG only reads the log and the pages
 * are write-protected again by KVM_CLEAR_DIRTY_LOG for exactly the bits
 * fetched, in small pieces, instead of the whole slot under one lock at every
 * fetch.  Without KVM_DIRTY_LOG_INITIALLY_SET, so tracking starts clean.
 */
static int enable_manual(struct gm_memory *mem, struct gm_error *err)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
		.args = { KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE },
	};
	long can;
	int ret;

	/* The VM keeps the mode once set; the memory keeps its VM for life.
	 * With the ring there is no bitmap to clear. */
	if (mem->dirty.manual || mem->dirty.rings)
		return 0;
	can = gm_kvm_check(mem->vm_fd, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	if (!(can & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE))
		return 0;
	ret = gm_ioctl(mem->vm_fd, KVM_ENABLE_CAP, &cap);
	if (ret < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -ret,
			       "enabling KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 failed although KVM lists it: %s; check the VM fd given to gm_memory_create",
			       strerror(-ret));
	mem->dirty.manual = true;
	return 0;
}

/*
 * One slot's log into mem->dirty.scratch (words_for(r->size) words), cleared
 * in KVM: by the fetch itself, or with manual protect by a clear of the words
 * between the first and last non-zero one.
 */
static int fetch_slot(struct gm_memory *mem, const struct gm_mem_region *r, struct gm_error *err)
{
	uint64_t *bits = mem->dirty.scratch;
	uint64_t npages = r->size / DIRTY_PAGE, words = words_for(r->size), first, last;
	struct kvm_dirty_log log = { .slot = r->slot, .dirty_bitmap = bits };
	struct kvm_clear_dirty_log clear = { .slot = r->slot };
	int ret = gm_ioctl(mem->vm_fd, KVM_GET_DIRTY_LOG, &log);

	if (ret == -ENOENT)
		return gm_fail(err, GM_STATUS_FAILURE, ENOENT,
			       "memslot %u does not log dirty pages (it was bound behind dirty tracking's back); stop tracking and start again",
			       r->slot);
	if (ret == -ENXIO)
		return gm_fail(err, GM_STATUS_FAILURE, ENXIO,
			       "memslot %u keeps no dirty bitmap because the VM logs into dirty rings; attach the memory to the VM's rings (gm_dirty_rings_attach) before tracking",
			       r->slot);
	if (ret < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -ret,
			       "KVM_GET_DIRTY_LOG of memslot %u failed: %s; stop tracking and start again",
			       r->slot, strerror(-ret));
	if (!mem->dirty.manual)
		return 0;
	for (first = 0; first < words && !bits[first]; first++)
		;
	if (first == words)
		return 0;
	for (last = words - 1; !bits[last]; last--)
		;
	/* KVM wants 64-page multiples, or a range that ends at the slot's end. */
	clear.first_page = first * 64;
	clear.num_pages = (uint32_t)((last + 1) * 64 > npages ? npages - clear.first_page
							     : (last + 1 - first) * 64);
	clear.dirty_bitmap = bits + first;
	ret = gm_ioctl(mem->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear);
	if (ret < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -ret,
			       "KVM_CLEAR_DIRTY_LOG of memslot %u failed: %s; stop tracking and start again",
			       r->slot, strerror(-ret));
	return 0;
}

/* The region's words in a whole-memory bitmap: start checks the alignment. */
static uint64_t word_index(const struct gm_mem_region *r)
{
	return r->offset / WORD_BYTES;
}

int gm_mem_dirty_save(struct gm_memory *mem, struct gm_error *err)
{
	/* the rings put this memory's pages into host_bits themselves */
	if (mem->dirty.rings)
		return gm_dirty_rings_harvest(mem->dirty.rings, err);
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct gm_mem_region *r = &mem->regions[i];
		uint64_t *dst = mem->dirty.host_bits + word_index(r);
		int ret = fetch_slot(mem, r, err);

		if (ret)
			return ret;
		/* Atomic: gm_memory_dirty_mark may be setting bits in the same words. */
		for (uint64_t w = 0; w < words_for(r->size); w++)
			if (mem->dirty.scratch[w])
				__atomic_fetch_or(&dst[w], mem->dirty.scratch[w], __ATOMIC_RELAXED);
	}
	return 0;
}

/* Stop the rings writing into host_bits first: a harvest may be routing now. */
static void release(struct gm_memory *mem)
{
	if (mem->dirty.rings)
		gm_dirty_rings_route(mem->dirty.rings, mem, NULL);
	free(mem->dirty.host_bits);
	free(mem->dirty.scratch);
	mem->dirty.host_bits = NULL;
	mem->dirty.scratch = NULL;
	mem->dirty.active = false;
}

void gm_mem_dirty_free(struct gm_memory *mem)
{
	release(mem);
	gm_dirty_rings_detach(mem->dirty.rings, mem);
}

static int alloc_bitmaps(struct gm_memory *mem, struct gm_error *err)
{
	uint64_t most = 0;

	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct gm_mem_region *r = &mem->regions[i];

		/* Whole words per region keep collect a plain OR of words. */
		if (r->offset % WORD_BYTES)
			return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
				       "RAM region at fd offset 0x%" PRIx64 " is not 256K-aligned, so its dirty bits do not start a bitmap word; this is a bug in the memory layout",
				       r->offset);
		if (words_for(r->size) > most)
			most = words_for(r->size);
	}
	/* the rings need no slot-sized scratch */
	if (mem->dirty.rings)
		most = 0;
	mem->dirty.host_bits = calloc(words_for(mem->size), sizeof(uint64_t));
	mem->dirty.scratch = calloc(most ? most : 1, sizeof(uint64_t));
	if (mem->dirty.host_bits && mem->dirty.scratch)
		return 0;
	release(mem);
	return gm_fail(err, GM_STATUS_FAILURE, ENOMEM,
		       "out of host memory for the dirty bitmaps (%" PRIu64 " KiB); free host memory and start again",
		       (words_for(mem->size) + most) * 8 / 1024);
}

int gm_memory_dirty_start(struct gm_memory *mem, struct gm_error *err)
{
	int ret;

	if (!mem)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "dirty tracking on no memory; this is a bug in the caller");
	if (mem->dirty.active)
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY,
			       "dirty tracking is already on for this memory; collect from it, or stop it before starting again");
	if (!mem->bound)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "dirty tracking needs the memory bound to a VM; bind it first");
	/* Logging needs a mapped binding, and KVM cannot reach pages that are out
	 * of the direct map through one: such memory is bound gmem for good. */
	if (mem->cfg.no_direct_map)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EOPNOTSUPP,
			       "region %s is out of the kernel's direct map (direct-map=off), and dirty logging needs a mapped memslot KVM cannot use for it; give direct-map=on to a region that must be migrated, re-homed or diff-snapshotted",
			       mem->name);
	ret = alloc_bitmaps(mem, err);
	if (ret)
		return ret;
	ret = enable_manual(mem, err);
	if (ret) {
		release(mem);
		return ret;
	}
	if (mem->dirty.rings) {
		/* Tracking starts clean: entries left in the rings from an earlier
		 * round are dropped (not routed yet), the others' go to them. */
		ret = gm_dirty_rings_harvest(mem->dirty.rings, err);
		if (ret) {
			release(mem);
			return ret;
		}
		gm_dirty_rings_route(mem->dirty.rings, mem, mem->dirty.host_bits);
	}
	mem->dirty.restore = mem->binding;
	/* Active first: binding.c adds the log flag to every mapped slot it makes. */
	mem->dirty.active = true;
	if (mem->binding == GM_BIND_GMEM)
		ret = gm_mem_rebind(mem, GM_BIND_MAPPED, err);
	else
		ret = gm_mem_set_dirty_log(mem, true, err);
	if (ret)
		release(mem);
	return ret;
}

bool gm_memory_dirty_needs_pause(const struct gm_memory *mem)
{
	if (!mem || !mem->bound)
		return false;
	if (mem->dirty.active)
		return mem->binding == GM_BIND_MAPPED && mem->dirty.restore == GM_BIND_GMEM;
	return mem->binding == GM_BIND_GMEM;
}

int gm_memory_dirty_collect(struct gm_memory *mem, uint64_t *bitmap, struct gm_error *err)
{
	uint64_t *host;

	if (!mem || !bitmap)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "dirty collect needs a memory and a bitmap; this is a bug in the caller");
	if (!mem->dirty.active)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "dirty tracking is off for this memory; start it first (gm_memory_dirty_start)");
	/* The rings route this memory's pages into host_bits, read below. */
	if (mem->dirty.rings) {
		int ret = gm_dirty_rings_harvest(mem->dirty.rings, err);

		if (ret)
			return ret;
	}
	/* Unbound, the guest cannot write, and unbind saved the slots' logs. */
	for (unsigned i = 0; mem->bound && !mem->dirty.rings && i < mem->nr_regions; i++) {
		const struct gm_mem_region *r = &mem->regions[i];
		uint64_t *dst = bitmap + word_index(r);
		int ret = fetch_slot(mem, r, err);

		if (ret)
			return ret;
		for (uint64_t w = 0; w < words_for(r->size); w++)
			dst[w] |= mem->dirty.scratch[w];
	}
	/* Look before the exchange: most words are zero and a locked exchange
	 * of each would cost more than the scan. */
	host = mem->dirty.host_bits;
	for (uint64_t w = 0; w < words_for(mem->size); w++)
		if (__atomic_load_n(&host[w], __ATOMIC_RELAXED))
			bitmap[w] |= __atomic_exchange_n(&host[w], 0, __ATOMIC_RELAXED);
	return 0;
}

int gm_memory_dirty_stop(struct gm_memory *mem, struct gm_error *err)
{
	int ret = 0;

	if (!mem || !mem->dirty.active)
		return 0;
	/* Inactive first: binding.c then makes slots without the log flag, and
	 * gmem is allowed again.  The rings drop this memory's entries from now. */
	if (mem->dirty.rings)
		gm_dirty_rings_route(mem->dirty.rings, mem, NULL);
	mem->dirty.active = false;
	if (mem->bound && mem->binding == GM_BIND_MAPPED) {
		if (mem->dirty.restore == GM_BIND_GMEM)
			ret = gm_mem_rebind(mem, GM_BIND_GMEM, err);
		else
			ret = gm_mem_set_dirty_log(mem, false, err);
	} else if (!mem->bound) {
		/* binding is then the mode the next bind uses */
		mem->binding = mem->dirty.restore;
	}
	/* The slots log no more: empty the rings of what they logged before,
	 * so nothing of this round is left for the next. */
	if (mem->dirty.rings) {
		int drained = gm_dirty_rings_harvest(mem->dirty.rings, ret ? NULL : err);

		ret = ret ? ret : drained;
	}
	release(mem);
	return ret;
}

bool gm_memory_dirty_active(const struct gm_memory *mem)
{
	return mem && mem->dirty.active;
}

void gm_memory_dirty_mark(struct gm_memory *mem, uint64_t offset, uint64_t len)
{
	uint64_t first, last;

	if (!mem || !mem->dirty.active || !mem->dirty.host_bits || len == 0 || offset >= mem->size)
		return;
	if (len > mem->size - offset)
		len = mem->size - offset;
	first = offset / DIRTY_PAGE;
	last = (offset + len - 1) / DIRTY_PAGE;
	while (first <= last) {
		uint64_t bit = first % 64, n = last - first + 1 < 64 - bit ? last - first + 1 : 64 - bit;
		uint64_t mask = (n == 64 ? ~UINT64_C(0) : ((UINT64_C(1) << n) - 1)) << bit;

		__atomic_fetch_or(&mem->dirty.host_bits[first / 64], mask, __ATOMIC_RELAXED);
		first += n;
	}
}

void gm_memory_dirty_mark_gpa(struct gm_memory *mem, uint64_t gpa, uint64_t len)
{
	if (!mem || !mem->dirty.active || len == 0 || gpa + len < gpa)
		return;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct gm_mem_region *r = &mem->regions[i];
		uint64_t lo = gpa > r->gpa ? gpa : r->gpa;
		uint64_t hi = gpa + len < r->gpa + r->size ? gpa + len : r->gpa + r->size;

		if (lo < hi)
			gm_memory_dirty_mark(mem, r->offset + (lo - r->gpa), hi - lo);
	}
}
