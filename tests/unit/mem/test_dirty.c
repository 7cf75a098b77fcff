/*
 * Dirty tracking on the real kernel, the basics: a guest writes pages,
 * collect returns exactly those pages once, host marks join them, start and
 * stop, manual protect and the path without it.  Bindings are in
 * test_dirty_binding.c; what the kernel counts as dirty is in dirty_test.h.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem/mem.h"
#include "dirty_test.h"

/* One Test per backend that can log for a behaviour written once. */
#define FOR_MAPPED_BACKENDS(behaviour)                                    \
	Test(dirty_memfd, behaviour) { behaviour(GM_BACKEND_MEMFD); }     \
	Test(dirty_anon, behaviour) { behaviour(GM_BACKEND_ANON); }

/* Reads (the code fetches) do not dirty; only the two written pages show. */
static void guest_writes_are_collected_exactly(enum gm_backend b)
{
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, b, SMALL);
	dt_start(mem);
	GUEST_WRITES(&vm, mem, 0x2000, 0x5000);
	bm = dt_collect(mem);
	ASSERT_PAGES(bm, mem, 2, 5);
	cr_expect_eq(*(uint8_t *)gm_memory_hva(mem, 0x5000, 1), 1);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}
FOR_MAPPED_BACKENDS(guest_writes_are_collected_exactly)

static void a_second_collect_is_empty(enum gm_backend b)
{
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, b, SMALL);
	dt_start(mem);
	GUEST_WRITES(&vm, mem, 0x2000, 0x5000);
	free(dt_collect(mem));
	uint64_t *bm = dt_collect(mem);
	ASSERT_NO_PAGES(bm, mem);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}
FOR_MAPPED_BACKENDS(a_second_collect_is_empty)

/* After a collect the pages are protected again: writing one of them again
 * dirties it again, and pages not written since do not come back. */
static void only_pages_written_since_the_last_collect_show_up(enum gm_backend b)
{
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, b, SMALL);
	dt_start(mem);
	GUEST_WRITES(&vm, mem, 0x2000, 0x5000);
	free(dt_collect(mem));
	GUEST_WRITES(&vm, mem, 0x2000, 0x7000);
	bm = dt_collect(mem);
	ASSERT_PAGES(bm, mem, 2, 7);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}
FOR_MAPPED_BACKENDS(only_pages_written_since_the_last_collect_show_up)

static const uint8_t read_6000[] = { 0xa0, 0x00, 0x60 }; /* mov al, [0x6000] */

Test(dirty_memfd, reads_do_not_dirty_a_mapped_page)
{
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	dt_guest_runs(&vm, mem, read_6000, sizeof(read_6000));
	dt_start(mem);
	dt_guest_runs(&vm, mem, read_6000, sizeof(read_6000));
	bm = dt_collect(mem);
	ASSERT_NO_PAGES(bm, mem);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

/* A page the guest first touches after start, by a read, may count as
 * dirty (KVM maps it writable and counts that); nothing else may. */
Test(dirty_memfd, a_first_read_after_start_dirties_at_most_that_page)
{
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	dt_start(mem);
	dt_guest_runs(&vm, mem, read_6000, sizeof(read_6000));
	bm = dt_collect(mem);
	cr_log_info("first read of page 6 after start: %s", bm[0] & (1u << 6) ? "dirty" : "clean");
	bm[0] &= ~(UINT64_C(1) << 6);
	ASSERT_NO_PAGES(bm, mem);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

/*
 * The path for kernels without manual protect, where KVM_GET_DIRTY_LOG
 * clears by itself: every kernel here has it, so the test turns it off on
 * the VM again (KVM allows that) and tells the memory so.
 */
Test(dirty_memfd, without_manual_protect_the_fetch_clears)
{
	struct kvm_enable_cap off = { .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 };
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	dt_start(mem);
	if (mem->dirty.manual) {
		cr_assert_eq(gm_ioctl(vm.vm_fd, KVM_ENABLE_CAP, &off), 0);
		mem->dirty.manual = false;
	}
	GUEST_WRITES(&vm, mem, 0x2000, 0x5000);
	bm = dt_collect(mem);
	ASSERT_PAGES(bm, mem, 2, 5);
	free(bm);
	bm = dt_collect(mem);
	ASSERT_NO_PAGES(bm, mem);
	free(bm);
	GUEST_WRITES(&vm, mem, 0x2000, 0x7000);
	bm = dt_collect(mem);
	ASSERT_PAGES(bm, mem, 2, 7);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

/* Writes before start are not tracked: tracking starts clean. */
Test(dirty_memfd, writes_before_start_do_not_show)
{
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	GUEST_WRITES(&vm, mem, 0x2000);
	dt_start(mem);
	GUEST_WRITES(&vm, mem, 0x5000);
	bm = dt_collect(mem);
	ASSERT_PAGES(bm, mem, 5);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

/* collect ORs: bits already in the caller's bitmap stay. */
Test(dirty_memfd, collect_ors_into_the_bitmap)
{
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	dt_start(mem);
	GUEST_WRITES(&vm, mem, 0x5000);
	bm = dt_new_bitmap(mem);
	bm[1] = 1; /* page 64 */
	cr_assert_eq(gm_memory_dirty_collect(mem, bm, &err), 0, "%s", err.msg);
	ASSERT_PAGES(bm, mem, 5, 64);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

Test(dirty_memfd, host_marks_show_up_once)
{
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	dt_start(mem);
	gm_memory_dirty_mark(mem, 0x9000 + 17, 1);
	/* across a bitmap word: pages 63 and 64 */
	gm_memory_dirty_mark(mem, 63 * PAGE + 100, PAGE);
	/* 200 pages from page 1000: every bit of some words, part of others */
	gm_memory_dirty_mark(mem, 1000 * PAGE, 200 * PAGE);
	GUEST_WRITES(&vm, mem, 0x2000);
	bm = dt_collect(mem);
	{
		uint64_t want[3 + 1 + 200];
		size_t n = 0;

		want[n++] = 2;
		want[n++] = 9;
		want[n++] = 63;
		want[n++] = 64;
		for (uint64_t p = 1000; p < 1200; p++)
			want[n++] = p;
		dt_assert_pages(bm, dt_bitmap_words(mem), want, n);
	}
	free(bm);
	bm = dt_collect(mem);
	ASSERT_NO_PAGES(bm, mem);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

Test(dirty_memfd, marks_are_clipped_to_the_memory)
{
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	dt_start(mem);
	gm_memory_dirty_mark(mem, SMALL, PAGE);
	gm_memory_dirty_mark(mem, UINT64_MAX - 10, 100);
	gm_memory_dirty_mark(mem, SMALL - PAGE, UINT64_MAX);
	gm_memory_dirty_mark(mem, 0, 0);
	bm = dt_collect(mem);
	ASSERT_PAGES(bm, mem, SMALL / PAGE - 1);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

Test(dirty_memfd, marks_while_off_are_ignored)
{
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	gm_memory_dirty_mark(mem, 0x3000, PAGE);
	dt_start(mem);
	bm = dt_collect(mem);
	ASSERT_NO_PAGES(bm, mem);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

/* After stop the slots no longer log: KVM answers ENOENT for their log. */
Test(dirty_memfd, stop_turns_logging_off)
{
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t bits[64] = { 0 };
	struct kvm_dirty_log log = { .slot = 0, .dirty_bitmap = bits };
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	dt_start(mem);
	cr_assert_eq(gm_ioctl(vm.vm_fd, KVM_GET_DIRTY_LOG, &log), 0);
	dt_stop(mem);
	cr_expect_eq(gm_ioctl(vm.vm_fd, KVM_GET_DIRTY_LOG, &log), -ENOENT);
	cr_expect_eq(gm_memory_binding(mem), GM_BIND_MAPPED);
	GUEST_WRITES(&vm, mem, 0x2000);
	cr_expect_eq(*(uint8_t *)gm_memory_hva(mem, 0x2000, 1), 1, "the guest still runs");
	bm = dt_new_bitmap(mem);
	cr_expect_eq(gm_memory_dirty_collect(mem, bm, &err), -EINVAL);
	cr_expect(strstr(err.msg, "start it first"), "%s", err.msg);
	free(bm);
	cr_expect_eq(gm_memory_dirty_stop(mem, NULL), 0, "stopping twice is harmless");
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

/*
 * Tracking can start again after a stop, clean: neither the guest's write
 * nor the host's mark of the first round shows.  Stop may unmap the code
 * page (see dirty_test.h: with shmem THP, KVM drops the 4K mappings of a
 * huge page when logging ends, to map it huge again), and a page mapped anew
 * after start counts as dirty even when only read; so the guest runs once
 * between stop and start, as dt_make_running has it do before the first.
 */
Test(dirty_memfd, start_after_stop_starts_clean)
{
	struct mt_vm vm;
	struct gm_memory *mem;
	uint64_t *bm;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	dt_start(mem);
	GUEST_WRITES(&vm, mem, 0x2000);
	gm_memory_dirty_mark(mem, 0x3000, 1);
	dt_stop(mem);
	dt_guest_runs(&vm, mem, NULL, 0);
	dt_start(mem);
	bm = dt_collect(mem);
	ASSERT_NO_PAGES(bm, mem);
	free(bm);
	GUEST_WRITES(&vm, mem, 0x5000);
	bm = dt_collect(mem);
	ASSERT_PAGES(bm, mem, 5);
	free(bm);
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

Test(dirty_memfd, start_twice_is_refused_with_ebusy)
{
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	dt_start(mem);
	cr_expect_eq(gm_memory_dirty_start(mem, &err), -EBUSY);
	cr_expect(strstr(err.msg, "already on"), "%s", err.msg);
	cr_expect(gm_memory_dirty_active(mem));
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

Test(dirty_memfd, start_needs_a_bound_memory)
{
	struct gm_caps caps = mt_caps_real();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, SMALL);
	struct gm_error err = { 0 };
	struct gm_memory *mem = NULL;
	struct mt_vm vm;

	mt_vm_open(&vm);
	cr_assert_eq(gm_memory_create(&cfg, &caps, vm.vm_fd, &mem, &err), 0, "%s", err.msg);
	cr_expect_eq(gm_memory_dirty_start(mem, &err), -EINVAL);
	cr_expect(strstr(err.msg, "bind it first"), "%s", err.msg);
	cr_expect_not(gm_memory_dirty_active(mem));
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

Test(dirty_memfd, manual_protect_is_enabled_when_the_kernel_has_it)
{
	struct mt_vm vm;
	struct gm_memory *mem;
	long can;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	can = gm_kvm_check(vm.vm_fd, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	dt_start(mem);
	cr_expect_eq(mem->dirty.manual, (can & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) != 0,
		     "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 = %ld", can);
	cr_log_info("manual dirty log protect: %s", mem->dirty.manual ? "on" : "not offered");
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

Test(dirty_memfd, a_mapped_memory_needs_no_pause)
{
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = dt_make_running(&vm, GM_BACKEND_MEMFD, SMALL);
	cr_expect_not(gm_memory_dirty_needs_pause(mem));
	dt_start(mem);
	cr_expect_not(gm_memory_dirty_needs_pause(mem));
	dt_stop(mem);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}
