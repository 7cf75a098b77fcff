/* Helpers for the dirty-tracking tests (see dirty_test.h). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dirty_test.h"

/* Words of a bitmap for mem: one bit per 4 KiB page, rounded up to 64. */
size_t dt_bitmap_words(const struct gm_memory *mem)
{
	return (size_t)((gm_memory_size(mem) / PAGE + 63) / 64);
}

uint64_t *dt_new_bitmap(const struct gm_memory *mem)
{
	uint64_t *bm = calloc(dt_bitmap_words(mem), sizeof(uint64_t));

	cr_assert_not_null(bm);
	return bm;
}

/* Append " N" for each page set in a and not in b, while there is room. */
static size_t list_only_in(char *out, size_t size, const uint64_t *a, const uint64_t *b, size_t words)
{
	size_t used = 0, count = 0;

	for (size_t w = 0; w < words; w++)
		for (unsigned bit = 0; bit < 64; bit++) {
			if (!((a[w] & ~b[w]) >> bit & 1))
				continue;
			count++;
			if (used + 24 < size)
				used += (size_t)snprintf(out + used, size - used, " %lu", (unsigned long)(w * 64 + bit));
		}
	if (!count)
		snprintf(out, size, " none");
	return count;
}

/* Assert bm holds exactly the pages listed (page numbers, i.e. offset/4096);
 * a failure names the pages that differ, not the whole sets. */
void dt_assert_pages(const uint64_t *bm, size_t words, const uint64_t *pages, size_t n)
{
	char extra[400] = "", missing[400] = "";
	size_t n_extra, n_missing;
	uint64_t *exp = calloc(words, sizeof(uint64_t));

	cr_assert_not_null(exp);
	for (size_t i = 0; i < n; i++)
		exp[pages[i] / 64] |= UINT64_C(1) << (pages[i] % 64);
	n_extra = list_only_in(extra, sizeof(extra), bm, exp, words);
	n_missing = list_only_in(missing, sizeof(missing), exp, bm, words);
	free(exp);
	cr_assert(n_extra == 0 && n_missing == 0, "of %zu pages expected dirty: %zu dirty but not expected:%s; %zu expected but clean:%s",
		  n, n_extra, extra, n_missing, missing);
}

/* Clear pages [first, first+n) of bm that a test allows but does not require. */
void dt_drop_pages(uint64_t *bm, uint64_t first, uint64_t n, const char *what)
{
	bool seen = false;

	for (uint64_t p = first; p < first + n; p++) {
		seen |= (bm[p / 64] >> (p % 64)) & 1;
		bm[p / 64] &= ~(UINT64_C(1) << (p % 64));
	}
	if (seen)
		cr_log_info("%s counted as dirty", what);
}

/* Collect into a fresh bitmap; the caller frees it. */
uint64_t *dt_collect(struct gm_memory *mem)
{
	struct gm_error err = { 0 };
	uint64_t *bm = dt_new_bitmap(mem);

	cr_assert_eq(gm_memory_dirty_collect(mem, bm, &err), 0, "%s", err.msg);
	return bm;
}

struct gm_memory *dt_make_bound(struct mt_vm *vm, enum gm_backend b, uint64_t size)
{
	struct gm_caps caps = mt_caps_real();
	struct gm_mem_config cfg = mt_cfg(b, size);
	struct gm_memory *mem = NULL;
	struct gm_error err = { 0 };

	if (b == GM_BACKEND_GUEST_MEMFD &&
	    (!caps.guest_memfd || !(caps.gmem_flags & GM_GMEM_FLAG_MMAP) ||
	     !(caps.gmem_flags & GM_GMEM_FLAG_INIT_SHARED)))
		cr_skip_test("this kernel's guest_memfd cannot be mapped shared (flags 0x%lx)",
			     (unsigned long)caps.gmem_flags);
	if (caps.host_ram && caps.host_ram < size)
		cr_skip_test("host has less RAM than the %lu MiB this test binds",
			     (unsigned long)(size >> 20));
	cr_assert_eq(gm_memory_create(&cfg, &caps, vm->vm_fd, &mem, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_memory_bind(mem, cfg.bind, &err), 0, "%s", err.msg);
	return mem;
}

/* A guest that only halts: maps the code page into the VM before tracking. */
static void warm_up(struct mt_vm *vm, struct gm_memory *mem)
{
	dt_guest_runs(vm, mem, NULL, 0);
}

/* A memory bound as its config says, with the code page already mapped into the VM. */
struct gm_memory *dt_make_running(struct mt_vm *vm, enum gm_backend b, uint64_t size)
{
	struct gm_memory *mem = dt_make_bound(vm, b, size);

	warm_up(vm, mem);
	return mem;
}

void dt_start(struct gm_memory *mem)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_memory_dirty_start(mem, &err), 0, "%s", err.msg);
	cr_assert(gm_memory_dirty_active(mem));
}

void dt_stop(struct gm_memory *mem)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_memory_dirty_stop(mem, &err), 0, "%s", err.msg);
	cr_assert_not(gm_memory_dirty_active(mem));
}

void dt_need_vcpu(struct mt_vm *vm)
{
	struct gm_error err = { 0 };

	if (vm->vcpu_fd >= 0)
		return;
	vm->vcpu_fd = gm_kvm_create_vcpu(vm->vm_fd, 0, &err);
	cr_assert_geq(vm->vcpu_fd, 0, "%s", err.msg);
	vm->run = gm_kvm_map_run(vm->kvm_fd, vm->vcpu_fd, &err);
	cr_assert_not_null(vm->run, "%s", err.msg);
}

/* KVM_RUN until HLT (no in-kernel irqchip, so HLT exits to us). */
void dt_run_to_hlt(struct mt_vm *vm)
{
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_RUN, NULL), 0);
	cr_assert_eq(vm->run->exit_reason, KVM_EXIT_HLT, "guest exit %u, expected HLT",
		     vm->run->exit_reason);
}

/*
 * Real mode, CS = DS = 0: run len bytes of code placed at CODE_GPA, then
 * hlt.  The host writes the code through the hva, which KVM does not log.
 */
void dt_guest_runs(struct mt_vm *vm, struct gm_memory *mem, const uint8_t *insns, size_t len)
{
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 0x2 };
	struct kvm_sregs sregs;
	uint8_t *code = gm_memory_hva(mem, CODE_GPA, len + 1);

	cr_assert_not_null(code);
	if (len)
		memcpy(code, insns, len);
	code[len] = 0xf4; /* hlt */
	dt_need_vcpu(vm);
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs), 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs), 0);
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs), 0);
	dt_run_to_hlt(vm);
}

/* `mov byte [a], 1` for each 16-bit address. */
void dt_guest_writes(struct mt_vm *vm, struct gm_memory *mem, const uint16_t *addrs, size_t n)
{
	uint8_t code[5 * 8];

	cr_assert_leq(n, 8);
	for (size_t i = 0; i < n; i++) {
		uint8_t insn[] = { 0xc6, 0x06, (uint8_t)addrs[i], (uint8_t)(addrs[i] >> 8), 0x01 };

		memcpy(code + 5 * i, insn, sizeof(insn));
	}
	dt_guest_runs(vm, mem, code, 5 * n);
}
