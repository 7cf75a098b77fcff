/*
 * Dirty tracking through KVM's dirty ring on the real kernel: collect sees
 * the guest's writes, a full ring stops the vCPU and a harvest lets it go on
 * with nothing lost, ring and bitmap report the same pages, entries reach the
 * memory that owns their slot, and the choice between ring and bitmap.
 *
 * The guests here run in 32-bit protected mode, flat, without paging, so one
 * loop can write more pages than a ring holds (real mode reaches 1 MiB).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "mem/dirty_ring.h"
#include "mem/mem.h"
#include "dirty_test.h"

#define MIB (UINT64_C(1) << 20)

/* A VM whose dirty log is the ring (bytes each, 0: the default), with vCPU 0's ring mapped. */
static struct gm_dirty_rings *ring_vm(struct mt_vm *vm, uint32_t bytes)
{
	struct gm_caps caps = mt_caps_real();
	struct gm_dirty_rings *rs = NULL;
	struct gm_error err = { 0 };

	if (!caps.dirty_ring_bytes)
		cr_skip_test("this kernel has no dirty ring (KVM_CAP_DIRTY_LOG_RING)");
	mt_vm_open(vm);
	cr_assert_eq(gm_dirty_rings_create(vm->vm_fd, &caps, bytes, 1, &rs, &err), 0, "%s", err.msg);
	dt_need_vcpu(vm);
	cr_assert_eq(gm_dirty_rings_add_vcpu(rs, 0, vm->vcpu_fd, &err), 0, "%s", err.msg);
	return rs;
}

/*
 * The smallest ring KVM takes here: its reserve (64 entries, more with Intel's
 * PML) sets the floor.  The tests that take it fill it from CPL0 code; where
 * KVM's emulator runs that, it can dirty more pages than the ring holds before
 * KVM checks for a full ring (see gm_dirty_log_use_ring's auto): they skip.
 */
static struct gm_dirty_rings *small_ring_vm(struct mt_vm *vm)
{
	struct gm_caps caps = mt_caps_real();
	struct gm_dirty_rings *rs = NULL;

	if (!caps.dirty_ring_bytes)
		cr_skip_test("this kernel has no dirty ring (KVM_CAP_DIRTY_LOG_RING)");
	if (caps.cpl0_emulated)
		cr_skip_test("guest CPL0 runs in KVM's instruction emulator here, which can dirty more pages than the ring "
			     "holds before KVM checks it (the kernel warns in kvm_dirty_ring_push); --dirty-log auto takes "
			     "the bitmap on such hosts");
	mt_vm_open(vm);
	for (uint32_t bytes = 4096; !rs && bytes <= 64 * 1024; bytes *= 2) {
		struct gm_error err = { 0 };

		if (gm_dirty_rings_create(vm->vm_fd, &caps, bytes, 1, &rs, &err))
			cr_log_info("a ring of %u bytes: %s", bytes, err.msg);
	}
	cr_assert_not_null(rs, "KVM took no ring of 4K to 64K");
	dt_need_vcpu(vm);
	struct gm_error err = { 0 };
	cr_assert_eq(gm_dirty_rings_add_vcpu(rs, 0, vm->vcpu_fd, &err), 0, "%s", err.msg);
	return rs;
}

/* A memfd memory of size bytes on rs's VM, the code page mapped, attached to the rings. */
static struct gm_memory *ring_memory(struct mt_vm *vm, struct gm_dirty_rings *rs, uint64_t size)
{
	struct gm_error err = { 0 };
	struct gm_memory *mem = dt_make_running(vm, GM_BACKEND_MEMFD, size);

	cr_assert_eq(gm_dirty_rings_attach(rs, mem, &err), 0, "%s", err.msg);
	return mem;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

/*
 * Protected mode, flat 4 GiB segments, no paging: the guest will write a
 * byte of 1 to each of n pages from gpa base on (n >= 1), then hlt.
 */
static void pm_setup(struct mt_vm *vm, struct gm_memory *mem, uint32_t base, uint32_t n)
{
	static const uint8_t loop[] = {
		0xbf, 0, 0, 0, 0,                   /* mov edi, base */
		0xb9, 0, 0, 0, 0,                   /* mov ecx, n */
		0xc6, 0x07, 0x01,                   /* 1: mov byte [edi], 1 */
		0x81, 0xc7, 0x00, 0x10, 0x00, 0x00, /* add edi, 4096 */
		0x49,                               /* dec ecx */
		0x75, 0xf4,                         /* jnz 1b */
		0xf4,                               /* hlt */
	};
	struct kvm_segment code = { .limit = 0xffffffff, .selector = 8, .type = 11, .present = 1, .db = 1, .s = 1, .g = 1 };
	struct kvm_segment data = code;
	struct kvm_regs regs = { .rip = CODE_GPA, .rflags = 0x2 };
	struct kvm_sregs sregs;
	uint8_t *p = gm_memory_hva(mem, CODE_GPA, sizeof(loop));

	cr_assert_not_null(p);
	cr_assert_geq(n, 1);
	memcpy(p, loop, sizeof(loop));
	put32(p + 1, base);
	put32(p + 6, n);
	data.selector = 16;
	data.type = 3;
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs), 0);
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.cr0 |= 1; /* PE */
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs), 0);
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs), 0);
}

/*
 * Run pm_setup's guest to its hlt.  A full ring exits to us: rs's harvest
 * empties it and the guest goes on; *full counts those exits.
 */
static void pm_guest_writes(struct mt_vm *vm, struct gm_memory *mem, struct gm_dirty_rings *rs, uint32_t base,
			    uint32_t n, unsigned *full)
{
	pm_setup(vm, mem, base, n);
	for (;;) {
		struct gm_error err = { 0 };

		cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_RUN, NULL), 0);
		if (vm->run->exit_reason != KVM_EXIT_DIRTY_RING_FULL)
			break;
		cr_assert_not_null(rs, "a full dirty ring without a ring");
		cr_assert_eq(gm_dirty_rings_harvest_vcpu(rs, 0, &err), 0, "%s", err.msg);
		if (full)
			(*full)++;
	}
	cr_assert_eq(vm->run->exit_reason, KVM_EXIT_HLT, "guest exit %u, expected HLT", vm->run->exit_reason);
}

/* Assert bm holds exactly pages [first, first+n) plus the n2 pages from first2. */
static void assert_runs(uint64_t *bm, struct gm_memory *mem, uint64_t first, uint64_t n, uint64_t first2, uint64_t n2)
{
	uint64_t *want = calloc(n + n2, sizeof(uint64_t));
	size_t k = 0;

	cr_assert_not_null(want);
	for (uint64_t p = first; p < first + n; p++)
		want[k++] = p;
	for (uint64_t p = first2; p < first2 + n2; p++)
		if (p < first || p >= first + n)
			want[k++] = p;
	dt_assert_pages(bm, dt_bitmap_words(mem), want, k);
	free(want);
}

Test(dirty_ring, collect_sees_the_guests_writes_once)
{
	struct mt_vm vm;
	struct gm_dirty_rings *rs = ring_vm(&vm, 0);
	struct gm_memory *mem = ring_memory(&vm, rs, SMALL);
	uint64_t *bm;

	dt_start(mem);
	cr_expect_not(mem->dirty.manual, "the ring needs no manual protect");
	pm_guest_writes(&vm, mem, rs, 0x100000, 3, NULL);
	pm_guest_writes(&vm, mem, rs, 0x200000, 1, NULL);
	gm_memory_dirty_mark(mem, 0x9000, 1);
	bm = dt_collect(mem);
	ASSERT_PAGES(bm, mem, 9, 256, 257, 258, 512);
	free(bm);
	bm = dt_collect(mem);
	ASSERT_NO_PAGES(bm, mem);
	free(bm);
	/* harvested pages were protected again: a second write shows again */
	pm_guest_writes(&vm, mem, rs, 0x101000, 1, NULL);
	bm = dt_collect(mem);
	ASSERT_PAGES(bm, mem, 257);
	free(bm);
	cr_expect_eq(*(uint8_t *)gm_memory_hva(mem, 0x101000, 1), 1);
	dt_stop(mem);
	gm_memory_destroy(mem);
	gm_dirty_rings_destroy(rs);
	mt_vm_close(&vm);
}

/* More pages than the ring holds: the vCPU exits with its ring full, the
 * harvest makes room, and collect still has every page. */
Test(dirty_ring, a_full_ring_is_harvested_and_nothing_is_lost)
{
	struct mt_vm vm;
	struct gm_dirty_rings *rs = small_ring_vm(&vm);
	struct gm_memory *mem = ring_memory(&vm, rs, 64 * MIB);
	uint32_t n = 3 * gm_dirty_rings_entries(rs) + 7;
	unsigned full = 0;
	uint64_t *bm;


	cr_assert_lt((uint64_t)n * PAGE, 63 * MIB, "ring of %u entries", gm_dirty_rings_entries(rs));
	dt_start(mem);
	pm_guest_writes(&vm, mem, rs, 0x100000, n, &full);
	cr_log_info("%u pages through a ring of %u entries: %u full exits", n, gm_dirty_rings_entries(rs), full);
	cr_expect_geq(full, 2, "%u pages through a ring of %u entries gave %u full exits", n,
		      gm_dirty_rings_entries(rs), full);
	bm = dt_collect(mem);
	assert_runs(bm, mem, 256, n, 0, 0);
	free(bm);
	cr_expect_eq(*(uint8_t *)gm_memory_hva(mem, 0x100000 + (uint64_t)(n - 1) * PAGE, 1), 1);
	dt_stop(mem);
	gm_memory_destroy(mem);
	gm_dirty_rings_destroy(rs);
	mt_vm_close(&vm);
}

/* The vCPU of concurrent_collects, on a thread of its own as in gmvm. */
struct runner {
	struct mt_vm *vm;
	struct gm_dirty_rings *rs;
	unsigned full;
	uint32_t exit_reason;
	int error;             /* -errno of KVM_RUN or of a harvest */
	bool done;
};

static void *run_vcpu(void *arg)
{
	struct runner *r = arg;

	for (;;) {
		struct gm_error err = { 0 };

		r->error = gm_ioctl(r->vm->vcpu_fd, KVM_RUN, NULL);
		r->exit_reason = r->vm->run->exit_reason;
		if (r->error || r->exit_reason != KVM_EXIT_DIRTY_RING_FULL)
			break;
		r->error = gm_dirty_rings_harvest_vcpu(r->rs, 0, &err);
		if (r->error)
			break;
		r->full++;
	}
	__atomic_store_n(&r->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/* Collects while the vCPU writes and fills its ring: together they hold every page. */
Test(dirty_ring, collects_beside_a_running_vcpu_lose_no_page)
{
	struct mt_vm vm;
	struct gm_dirty_rings *rs = small_ring_vm(&vm);
	struct gm_memory *mem = ring_memory(&vm, rs, 64 * MIB);
	uint32_t n = 4 * gm_dirty_rings_entries(rs);
	struct runner r = { .vm = &vm, .rs = rs };
	uint64_t *all = dt_new_bitmap(mem);
	unsigned collects = 0;
	pthread_t t;

	dt_start(mem);
	pm_setup(&vm, mem, 0x100000, n);
	cr_assert_eq(pthread_create(&t, NULL, run_vcpu, &r), 0);
	while (!__atomic_load_n(&r.done, __ATOMIC_ACQUIRE)) {
		uint64_t *bm = dt_collect(mem);

		for (size_t w = 0; w < dt_bitmap_words(mem); w++)
			all[w] |= bm[w];
		free(bm);
		collects++;
	}
	pthread_join(t, NULL);
	cr_assert_eq(r.error, 0, "KVM_RUN or a harvest failed: %s", strerror(-r.error));
	cr_assert_eq(r.exit_reason, KVM_EXIT_HLT, "guest exit %u, expected HLT", r.exit_reason);
	uint64_t *last = dt_collect(mem);
	for (size_t w = 0; w < dt_bitmap_words(mem); w++)
		all[w] |= last[w];
	free(last);
	cr_log_info("%u pages, %u collects beside the vCPU, %u full exits", n, collects, r.full);
	assert_runs(all, mem, 256, n, 0, 0);
	free(all);
	dt_stop(mem);
	gm_memory_destroy(mem);
	gm_dirty_rings_destroy(rs);
	mt_vm_close(&vm);
}

/* Two rounds of one workload: what each round's collect reports. */
static void workload(struct mt_vm *vm, struct gm_memory *mem, struct gm_dirty_rings *rs, uint64_t *round[2])
{
	dt_start(mem);
	pm_guest_writes(vm, mem, rs, 0x100000, 300, NULL);
	round[0] = dt_collect(mem);
	/* overlaps the first round's last pages */
	pm_guest_writes(vm, mem, rs, 0x1f0000, 100, NULL);
	round[1] = dt_collect(mem);
	dt_stop(mem);
}

Test(dirty_ring, ring_and_bitmap_report_the_same_pages)
{
	struct mt_vm rvm, bvm;
	struct gm_dirty_rings *rs = ring_vm(&rvm, 0);
	struct gm_memory *rmem = ring_memory(&rvm, rs, SMALL), *bmem;
	uint64_t *ring[2], *bitmap[2];
	size_t words;

	workload(&rvm, rmem, rs, ring);
	mt_vm_open(&bvm);
	bmem = dt_make_running(&bvm, GM_BACKEND_MEMFD, SMALL);
	workload(&bvm, bmem, NULL, bitmap);
	words = dt_bitmap_words(rmem);
	for (int i = 0; i < 2; i++)
		cr_expect_arr_eq(ring[i], bitmap[i], words * sizeof(uint64_t), "round %d: ring and bitmap differ", i + 1);
	assert_runs(ring[0], rmem, 256, 300, 0, 0);
	assert_runs(ring[1], rmem, 0x1f0, 100, 0, 0);
	for (int i = 0; i < 2; i++) {
		free(ring[i]);
		free(bitmap[i]);
	}
	gm_memory_destroy(rmem);
	gm_memory_destroy(bmem);
	gm_dirty_rings_destroy(rs);
	mt_vm_close(&rvm);
	mt_vm_close(&bvm);
}

/* A second memory of the same VM at 64M, in memslot 2, as a machine places one. */
static struct gm_memory *second_memory(struct mt_vm *vm, struct gm_dirty_rings *rs)
{
	struct gm_caps caps = mt_caps_real();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, SMALL);
	struct gm_memory *mem = NULL;
	struct gm_error err = { 0 };

	cr_assert_eq(gm_memory_create(&cfg, &caps, vm->vm_fd, &mem, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_memory_place(mem, 64 * MIB, 2, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_memory_bind(mem, cfg.bind, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_dirty_rings_attach(rs, mem, &err), 0, "%s", err.msg);
	return mem;
}

/* Entries go to the memory that owns their slot; one that is not tracking
 * gets none, then or later. */
Test(dirty_ring, pages_reach_the_memory_that_owns_the_slot)
{
	struct mt_vm vm;
	struct gm_dirty_rings *rs = ring_vm(&vm, 0);
	struct gm_memory *a = ring_memory(&vm, rs, SMALL), *b = second_memory(&vm, rs);
	uint64_t *bm;

	dt_start(a);
	pm_guest_writes(&vm, a, rs, 64 * MIB + 0x3000, 1, NULL);
	pm_guest_writes(&vm, a, rs, 0x100000, 1, NULL);
	bm = dt_collect(a);
	ASSERT_PAGES(bm, a, 256);
	free(bm);
	dt_start(b);
	bm = dt_collect(b);
	ASSERT_NO_PAGES(bm, b);
	free(bm);
	pm_guest_writes(&vm, a, rs, 64 * MIB + 0x5000, 2, NULL);
	pm_guest_writes(&vm, a, rs, 0x101000, 1, NULL);
	/* b's collect harvests a's page too, which a's collect then hands out */
	bm = dt_collect(b);
	ASSERT_PAGES(bm, b, 5, 6);
	free(bm);
	bm = dt_collect(a);
	ASSERT_PAGES(bm, a, 257);
	free(bm);
	cr_expect_eq(*(uint8_t *)gm_memory_hva(b, 64 * MIB + 0x6000, 1), 1);
	dt_stop(b);
	dt_stop(a);
	gm_memory_destroy(b);
	gm_memory_destroy(a);
	gm_dirty_rings_destroy(rs);
	mt_vm_close(&vm);
}

/* Tracking started again after a stop begins clean: the rings hold nothing
 * of the first round.  The guest runs once between, so the code page is
 * mapped before the start (see start_after_stop_starts_clean in test_dirty.c). */
Test(dirty_ring, start_after_stop_starts_clean)
{
	struct mt_vm vm;
	struct gm_dirty_rings *rs = ring_vm(&vm, 0);
	struct gm_memory *mem = ring_memory(&vm, rs, SMALL);
	uint64_t *bm;

	dt_start(mem);
	pm_guest_writes(&vm, mem, rs, 0x2000, 1, NULL);
	gm_memory_dirty_mark(mem, 0x3000, 1);
	dt_stop(mem);
	pm_guest_writes(&vm, mem, rs, 0x4000, 1, NULL);
	dt_start(mem);
	bm = dt_collect(mem);
	ASSERT_NO_PAGES(bm, mem);
	free(bm);
	pm_guest_writes(&vm, mem, rs, 0x5000, 1, NULL);
	bm = dt_collect(mem);
	ASSERT_PAGES(bm, mem, 5);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	gm_dirty_rings_destroy(rs);
	mt_vm_close(&vm);
}

/* Slots deleted while tracking: their entries are harvested first and kept. */
Test(dirty_ring, unbinding_while_tracking_keeps_the_pages)
{
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_dirty_rings *rs = ring_vm(&vm, 0);
	struct gm_memory *mem = ring_memory(&vm, rs, SMALL);
	uint64_t *bm;

	dt_start(mem);
	pm_guest_writes(&vm, mem, rs, 0x100000, 2, NULL);
	cr_assert_eq(gm_mem_unbind(mem, &err), 0, "%s", err.msg);
	bm = dt_collect(mem);
	ASSERT_PAGES(bm, mem, 256, 257);
	free(bm);
	cr_assert_eq(gm_memory_bind(mem, GM_BIND_MAPPED, &err), 0, "%s", err.msg);
	pm_guest_writes(&vm, mem, rs, 0x200000, 1, NULL);
	bm = dt_collect(mem);
	ASSERT_PAGES_OR_CODE(bm, mem, 512);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	gm_dirty_rings_destroy(rs);
	mt_vm_close(&vm);
}

/* A memory left out of the rings cannot read a bitmap KVM does not keep: the message says so. */
Test(dirty_ring, a_memory_not_attached_is_told_to_attach)
{
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_dirty_rings *rs = ring_vm(&vm, 0);
	struct gm_memory *mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	uint64_t *bm = dt_new_bitmap(mem);

	dt_start(mem);
	cr_expect_eq(gm_memory_dirty_collect(mem, bm, &err), -ENXIO);
	cr_expect(strstr(err.msg, "gm_dirty_rings_attach"), "%s", err.msg);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	gm_dirty_rings_destroy(rs);
	mt_vm_close(&vm);
}

Test(dirty_ring, the_ring_is_refused_once_a_vcpu_exists)
{
	struct gm_caps caps = mt_caps_real();
	struct gm_dirty_rings *rs = NULL;
	struct gm_error err = { 0 };
	struct mt_vm vm;

	if (!caps.dirty_ring_bytes)
		cr_skip_test("this kernel has no dirty ring (KVM_CAP_DIRTY_LOG_RING)");
	mt_vm_open(&vm);
	dt_need_vcpu(&vm);
	cr_expect_eq(gm_dirty_rings_create(vm.vm_fd, &caps, 0, 1, &rs, &err), -EINVAL);
	cr_expect_null(rs);
	cr_expect(strstr(err.msg, "before the first vCPU"), "%s", err.msg);
	mt_vm_close(&vm);
}

/* The choice, without KVM. */
Test(dirty_log_choice, auto_takes_the_ring_when_the_kernel_has_it)
{
	struct gm_caps caps = { .dirty_ring_bytes = 1 << 20 };
	struct gm_error err = { 0 };
	bool ring = false;

	cr_expect_eq(gm_dirty_log_use_ring(GM_DIRTY_LOG_AUTO, &caps, &ring, &err), 0);
	cr_expect(ring);
	cr_expect_eq(gm_dirty_log_use_ring(GM_DIRTY_LOG_BITMAP, &caps, &ring, &err), 0);
	cr_expect_not(ring);
	cr_expect_eq(gm_dirty_log_use_ring(GM_DIRTY_LOG_RING, &caps, &ring, &err), 0);
	cr_expect(ring);
	caps.dirty_ring_bytes = 0;
	cr_expect_eq(gm_dirty_log_use_ring(GM_DIRTY_LOG_AUTO, &caps, &ring, &err), 0);
	cr_expect_not(ring);
}

Test(dirty_log_choice, auto_takes_the_bitmap_where_guest_cpl0_is_emulated)
{
	struct gm_caps caps = { .dirty_ring_bytes = 1 << 20, .cpl0_emulated = true };
	struct gm_error err = { 0 };
	bool ring = true;

	cr_expect_eq(gm_dirty_log_use_ring(GM_DIRTY_LOG_AUTO, &caps, &ring, &err), 0);
	cr_expect_not(ring, "KVM's emulator can overrun the ring: auto must take the bitmap");
	cr_expect_eq(gm_dirty_log_use_ring(GM_DIRTY_LOG_RING, &caps, &ring, &err), 0);
	cr_expect(ring, "an explicit --dirty-log ring is taken as asked");
}

Test(dirty_log_choice, ring_without_the_cap_is_refused_naming_it)
{
	struct gm_caps caps = { .dirty_ring_bytes = 0 };
	struct gm_error err = { 0 };
	bool ring = false;

	cr_expect_eq(gm_dirty_log_use_ring(GM_DIRTY_LOG_RING, &caps, &ring, &err), -ENOTSUP);
	cr_expect_eq(err.status, GM_STATUS_NO_KERNEL);
	cr_expect(strstr(err.msg, "KVM_CAP_DIRTY_LOG_RING"), "%s", err.msg);
	cr_expect(strstr(err.msg, "--dirty-log bitmap"), "%s", err.msg);
}
