/*
 * mem/binding.c: putting guest RAM into KVM memslots, one per layout region
 * (slot 0 low, slot 1 high), in one of two modes:
 *   gmem   - KVM_MEM_GUEST_MEMFD: KVM faults pages straight from the
 *            guest_memfd; no dirty logging on today's kernels.
 *   mapped - the fd's host mapping as an ordinary memslot: dirty logging
 *            works, and any VM (also in another process) can use it.
 * Both pass the host mapping as userspace_addr, because KVM's instruction
 * emulator reads guest memory through it.  A guest_memfd slot cannot be
 * modified, so switching modes deletes every slot and creates it again; the
 * memory itself is never touched.  While dirty tracking is on (dirty.c) every
 * mapped slot is made with KVM_MEM_LOG_DIRTY_PAGES, gmem is refused, and a
 * slot's log is saved before the slot is deleted, so a rebind loses no page.
 */
#include <errno.h>
#include <string.h>

#include "kvm/kvm.h"
#include "mem/mem.h"

static void slot_for(const struct gm_memory *mem, const struct gm_mem_region *r,
		     enum gm_bind mode, struct kvm_userspace_memory_region2 *s)
{
	memset(s, 0, sizeof(*s));
	s->slot = r->slot;
	s->guest_phys_addr = r->gpa;
	s->memory_size = r->size;
	s->userspace_addr = (uint64_t)(uintptr_t)((uint8_t *)mem->host + r->offset);
	if (mode == GM_BIND_MAPPED && mem->dirty.active)
		s->flags = KVM_MEM_LOG_DIRTY_PAGES;
	if (mode == GM_BIND_GMEM) {
		s->flags = KVM_MEM_GUEST_MEMFD;
		s->guest_memfd = (uint32_t)mem->fd;
		s->guest_memfd_offset = r->offset;
	}
}

static int delete_slot(const struct gm_memory *mem, const struct gm_mem_region *r,
		       struct gm_error *err)
{
	struct kvm_userspace_memory_region2 s = { .slot = r->slot, .memory_size = 0 };

	return gm_kvm_set_memslot(mem->vm_fd, &s, err);
}

/* Create every slot in mode; on failure delete the ones made, leave unbound. */
static int bind_all(struct gm_memory *mem, enum gm_bind mode, struct gm_error *err)
{
	struct kvm_userspace_memory_region2 s;
	int ret;

	for (unsigned i = 0; i < mem->nr_regions; i++) {
		slot_for(mem, &mem->regions[i], mode, &s);
		ret = gm_kvm_set_memslot(mem->vm_fd, &s, err);
		if (ret) {
			while (i-- > 0)
				delete_slot(mem, &mem->regions[i], NULL);
			return ret;
		}
	}
	mem->bound = true;
	mem->binding = mode;
	return 0;
}

/* The bound slots carry KVM_MEM_LOG_DIRTY_PAGES: their logs hold pages not yet collected. */
static bool logging(const struct gm_memory *mem)
{
	return mem->bound && mem->binding == GM_BIND_MAPPED && mem->dirty.active;
}

int gm_mem_unbind(struct gm_memory *mem, struct gm_error *err)
{
	int first = logging(mem) ? gm_mem_dirty_save(mem, err) : 0;

	/* Keep going after an error: a slot left behind would pin the mapping. */
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		int ret = delete_slot(mem, &mem->regions[i], err);

		if (ret && !first)
			first = ret;
	}
	mem->bound = false;
	return first;
}

static int check_mode(const struct gm_memory *mem, enum gm_bind mode, struct gm_error *err)
{
	if (mode != GM_BIND_GMEM && mode != GM_BIND_MAPPED)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "unknown memory binding %d; use bind=gmem or bind=mapped", (int)mode);
	if (mode == GM_BIND_GMEM && mem->cfg.backend != GM_BACKEND_GUEST_MEMFD)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "bind=gmem needs backend=guest-memfd, and this memory is backend=%s; use bind=mapped",
			       mem->cfg.backend == GM_BACKEND_MEMFD ? "memfd" : "anon");
	if (mode == GM_BIND_GMEM && mem->foreign_gmem)
		return gm_fail(err, GM_STATUS_NO_KERNEL, EOPNOTSUPP,
			       "this guest_memfd was made by another VM, and this kernel binds a guest_memfd only to the VM that created it (KVM_LINK_GUEST_MEMFD is not upstream); keep bind=mapped");
	if (mode == GM_BIND_GMEM && mem->dirty.active)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EBUSY,
			       "bind=gmem is refused while dirty tracking is on, because a guest_memfd memslot cannot log dirty pages; stop tracking first (it returns to gmem by itself) or keep bind=mapped");
	if (mem->vm_fd < 0)
		return gm_fail(err, GM_STATUS_FAILURE, EBADF,
			       "this memory was created without a VM fd; pass the VM to gm_memory_create before binding");
	return 0;
}

int gm_memory_bind(struct gm_memory *mem, enum gm_bind mode, struct gm_error *err)
{
	int ret = check_mode(mem, mode, err);

	if (ret)
		return ret;
	if (mem->bound && mem->binding == mode)
		return 0;
	if (mem->bound)
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY,
			       "memory is already bound as %s; use gm_memory_rebind to switch to %s",
			       mem->binding == GM_BIND_GMEM ? "gmem" : "mapped",
			       mode == GM_BIND_GMEM ? "gmem" : "mapped");
	return bind_all(mem, mode, err);
}

int gm_mem_rebind(struct gm_memory *mem, enum gm_bind mode, struct gm_error *err)
{
	enum gm_bind old;
	int ret = check_mode(mem, mode, err);

	if (ret)
		return ret;
	if (!mem->bound)
		return bind_all(mem, mode, err);
	if (mem->binding == mode)
		return 0;
	/* Save the logs while nothing has changed yet, so a failure here costs
	 * nothing; gm_mem_unbind saves again, which finds nothing new. */
	if (logging(mem)) {
		ret = gm_mem_dirty_save(mem, err);
		if (ret)
			return ret;
	}
	old = mem->binding;
	ret = gm_mem_unbind(mem, err);
	if (!ret)
		ret = bind_all(mem, mode, err);
	if (ret) {
		/* Best effort back to the old mode, so the VM keeps its RAM.  The
		 * first error (already in err) is the one worth reporting. */
		gm_mem_unbind(mem, NULL);
		bind_all(mem, old, NULL);
	}
	return ret;
}

int gm_memory_rebind(struct gm_memory *mem, enum gm_bind mode, struct gm_error *err)
{
	int ret = gm_mem_rebind(mem, mode, err);

	/* Asked for while tracking (only mapped gets here): the caller wants this
	 * binding afterwards, so stop must not switch back to gmem. */
	if (!ret && mem->dirty.active)
		mem->dirty.restore = mode;
	return ret;
}

int gm_mem_set_dirty_log(struct gm_memory *mem, bool on, struct gm_error *err)
{
	struct kvm_userspace_memory_region2 s;
	int ret;

	if (!mem->bound || mem->binding != GM_BIND_MAPPED)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "dirty logging can only be switched on a memory bound mapped; this is a bug in the memory plane");
	/* Same slot, address and size with other flags: KVM changes the flags in
	 * place (write-protecting or unprotecting pages), the guest keeps running. */
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		slot_for(mem, &mem->regions[i], GM_BIND_MAPPED, &s);
		s.flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0;
		ret = gm_kvm_set_memslot(mem->vm_fd, &s, err);
		if (ret) {
			while (i-- > 0) {
				slot_for(mem, &mem->regions[i], GM_BIND_MAPPED, &s);
				s.flags = on ? 0 : KVM_MEM_LOG_DIRTY_PAGES;
				gm_kvm_set_memslot(mem->vm_fd, &s, NULL);
			}
			return ret;
		}
	}
	return 0;
}
