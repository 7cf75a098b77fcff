/*
 * Dirty tracking across bindings: slots made anew while tracking keep
 * logging and lose no page, gmem is refused while tracking, a guest_memfd
 * memory is switched to mapped and back, and RAM above the 32-bit hole lands
 * in the bits from fd offset 3G.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "dirty_test.h"

/* Slots deleted and made again while tracking: they log again, and what
 * the old slots had logged is not lost. */
Test(dirty_memfd, rebinding_while_tracking_keeps_logging)
{
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	dt_start(mem);
	GUEST_WRITES(&vm, mem, 0x2000);
	cr_assert_eq(gm_mem_unbind(mem, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_memory_bind(mem, GM_BIND_MAPPED, &err), 0, "%s", err.msg);
	GUEST_WRITES(&vm, mem, 0x5000);
	bm = dt_collect(mem);
	ASSERT_PAGES_OR_CODE(bm, mem, 2, 5);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

Test(dirty_memfd, unbinding_while_tracking_saves_the_log)
{
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	dt_start(mem);
	GUEST_WRITES(&vm, mem, 0x2000);
	cr_assert_eq(gm_mem_unbind(mem, &err), 0, "%s", err.msg);
	bm = dt_collect(mem);
	ASSERT_PAGES(bm, mem, 2);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

/*
 * The refusal itself, on any kernel: a memfd memory relabelled guest-memfd
 * gets past the backend check, so the tracking check is what answers.  (The
 * rig's kernel has no mappable guest_memfd to do it for real; the test
 * below does, where it can.)
 */
Test(dirty_memfd, binding_gmem_while_tracking_is_refused)
{
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	dt_start(mem);
	mem->cfg.backend = GM_BACKEND_GUEST_MEMFD;
	cr_expect_eq(gm_memory_rebind(mem, GM_BIND_GMEM, &err), -EBUSY);
	cr_expect_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_expect(strstr(err.msg, "dirty tracking is on"), "%s", err.msg);
	mem->cfg.backend = GM_BACKEND_MEMFD;
	cr_expect_eq(gm_memory_binding(mem), GM_BIND_MAPPED);
	GUEST_WRITES(&vm, mem, 0x2000);
	uint64_t *bm = dt_collect(mem);
	ASSERT_PAGES(bm, mem, 2);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

/* --- guest_memfd: the binding is switched mapped and back --------------- */

Test(dirty_gmem, start_switches_to_mapped_and_stop_back_to_gmem)
{
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_GUEST_MEMFD, SMALL);
	cr_assert_eq(gm_memory_binding(mem), GM_BIND_GMEM);
	cr_expect(gm_memory_dirty_needs_pause(mem));
	dt_start(mem);
	cr_expect_eq(gm_memory_binding(mem), GM_BIND_MAPPED);
	cr_expect(gm_memory_dirty_needs_pause(mem), "stop will switch back");
	GUEST_WRITES(&vm, mem, 0x2000, 0x5000);
	bm = dt_collect(mem);
	ASSERT_PAGES_OR_CODE(bm, mem, 2, 5);
	free(bm);
	dt_stop(mem);
	cr_expect_eq(gm_memory_binding(mem), GM_BIND_GMEM);
	GUEST_WRITES(&vm, mem, 0x7000);
	cr_expect_eq(*(uint8_t *)gm_memory_hva(mem, 0x7000, 1), 1, "the guest runs on gmem again");
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

Test(dirty_gmem, rebind_to_gmem_while_tracking_is_refused)
{
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_GUEST_MEMFD, SMALL);
	dt_start(mem);
	cr_expect_eq(gm_memory_rebind(mem, GM_BIND_GMEM, &err), -EBUSY);
	cr_expect(strstr(err.msg, "dirty tracking is on"), "%s", err.msg);
	cr_expect_eq(gm_memory_binding(mem), GM_BIND_MAPPED);
	dt_stop(mem);
	cr_expect_eq(gm_memory_binding(mem), GM_BIND_GMEM);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

/* Asking for mapped while tracking means mapped afterwards too. */
Test(dirty_gmem, rebind_to_mapped_while_tracking_stays_mapped)
{
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_GUEST_MEMFD, SMALL);
	dt_start(mem);
	cr_assert_eq(gm_memory_rebind(mem, GM_BIND_MAPPED, &err), 0, "%s", err.msg);
	cr_expect_not(gm_memory_dirty_needs_pause(mem));
	dt_stop(mem);
	cr_expect_eq(gm_memory_binding(mem), GM_BIND_MAPPED);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

/* --- RAM above the 32-bit hole: slot 1's bits start at fd offset 3G ------ */

#define PT_BASE 0x10000 /* PML4, PDPT, PD for 0-1G, PD for 4-5G */

/* The CPUID KVM supports, so that the vCPU has long mode (EFER.LME). */
static void set_cpuid(struct mt_vm *vm)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 128 * sizeof(c->entries[0]));

	cr_assert_not_null(c);
	c->nent = 128;
	cr_assert_eq(gm_ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c), 0);
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_SET_CPUID2, c), 0);
	free(c);
}

/*
 * Identity-map [0, 2M) and [4G, 4G+2M) with 2M pages, Accessed and Dirty
 * already set so the CPU's page walk writes nothing (it would dirty the
 * page-table pages), and enter 64-bit mode directly.
 */
static void enter_long_mode(struct mt_vm *vm, struct gm_memory *mem)
{
	uint64_t *pt = gm_memory_hva(mem, PT_BASE, 4 * PAGE);
	const uint64_t table = 0x1 | 0x2 | 0x20, big = table | 0x40 | 0x80;
	struct kvm_segment code = { .base = 0, .limit = 0xffffffff, .selector = 8, .type = 11,
				    .present = 1, .s = 1, .l = 1, .g = 1 };
	struct kvm_segment data = { .base = 0, .limit = 0xffffffff, .selector = 16, .type = 3,
				    .present = 1, .s = 1, .db = 1, .g = 1 };
	struct kvm_sregs sregs;

	cr_assert_not_null(pt);
	memset(pt, 0, 4 * PAGE);
	pt[0] = (PT_BASE + PAGE) | table;                        /* PML4[0] */
	pt[512 + 0] = (PT_BASE + 2 * PAGE) | table;              /* PDPT[0]: 0-1G */
	pt[512 + 4] = (PT_BASE + 3 * PAGE) | table;              /* PDPT[4]: 4-5G */
	pt[1024] = 0 | big;                                      /* [0, 2M) */
	pt[1536] = GM_HIGH_RAM_BASE | big;                       /* [4G, 4G+2M) */
	dt_need_vcpu(vm);
	set_cpuid(vm);
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs), 0);
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.cr3 = PT_BASE;
	sregs.cr4 = 0x20;              /* PAE */
	sregs.cr0 = 0x80000011;        /* PG, ET, PE */
	sregs.efer = 0x500;            /* LME, LMA */
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs), 0);
}

/* 64-bit code: `mov rax, a; mov byte [rax], 1` per address, then hlt. */
static void guest_writes64(struct mt_vm *vm, struct gm_memory *mem, const uint64_t *addrs, size_t n)
{
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 0x2 };
	uint8_t *code = gm_memory_hva(mem, CODE_GPA, 13 * n + 1);

	cr_assert_not_null(code);
	for (size_t i = 0; i < n; i++) {
		code[13 * i] = 0x48;
		code[13 * i + 1] = 0xb8;
		memcpy(code + 13 * i + 2, &addrs[i], 8);
		code[13 * i + 10] = 0xc6;
		code[13 * i + 11] = 0x00;
		code[13 * i + 12] = 0x01;
	}
	code[13 * n] = 0xf4;
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs), 0);
	dt_run_to_hlt(vm);
}

Test(dirty_memfd, ram_above_the_hole_maps_to_bits_from_3G)
{
	const uint64_t size = GM_LOW_RAM_END + 2 * MT_MIB;
	const uint64_t addrs[] = { 0x5000, GM_HIGH_RAM_BASE + 0x3000 };
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_bound(&vm, GM_BACKEND_MEMFD, size);
	enter_long_mode(&vm, mem);
	guest_writes64(&vm, mem, NULL, 0); /* map the code and page-table pages first */
	dt_start(mem);
	guest_writes64(&vm, mem, addrs, 2);
	cr_expect_eq(*(uint8_t *)gm_memory_hva(mem, GM_HIGH_RAM_BASE + 0x3000, 1), 1);
	bm = dt_collect(mem);
	/* The CPU's page walk counts as a write to the page-table pages under
	 * NPT (and under EPT with A/D bits), even with A and D already set. */
	dt_drop_pages(bm, PT_BASE / PAGE, 4, "the page-table pages");
	ASSERT_PAGES(bm, mem, 5, GM_LOW_RAM_END / PAGE + 3);
	free(bm);
	/* and a host mark in the high region lands at its fd offset */
	gm_memory_dirty_mark(mem, GM_LOW_RAM_END + 0x1000, 1);
	bm = dt_collect(mem);
	ASSERT_PAGES(bm, mem, GM_LOW_RAM_END / PAGE + 1);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}
