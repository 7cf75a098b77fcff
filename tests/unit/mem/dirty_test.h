/*
 * Helpers for the dirty-tracking tests: bitmaps and exact page sets, a bound
 * memory, and a vCPU that runs a few bytes of real-mode code from it.
 *
 * What the rig's kernel (6.12, kvm_amd with NPT) showed: reads do not dirty
 * a page already mapped into the VM, but the first touch of a page after
 * logging starts, a read included, maps it writable when the host mapping
 * is, and KVM counts every page it maps writable as dirty.  So the memories
 * here run the guest once before tracking starts (dt_make_running) to map
 * the code page, and where slots are made anew while tracking (gmem switch,
 * rebind) the code page may show up too.  With paging on, the pages of the
 * guest's page tables showed up as well: the page walk counts as a write
 * under NPT.
 *
 * Stopping tracking can unmap pages too: when logging ends, KVM zaps the 4K
 * mappings of every range a huge host page backs, so that its next faults
 * map it huge again.  With shmem THP at `always` a memfd's pages are huge, so
 * after a stop the code page is gone from the VM and counts as dirty at its
 * first fetch after the next start (traced on the rig: zap at stop, a 4K
 * writable map of gfn 1 at the fetch, no stale bit in between).
 */
#ifndef GM_DIRTY_TEST_H
#define GM_DIRTY_TEST_H

#include <stdint.h>

#include "mem_test.h"

#define SMALL (16 * MT_MIB)
#define PAGE UINT64_C(4096)
#define CODE_GPA 0x1000

/* Words of a bitmap for mem: one bit per 4 KiB page, rounded up to 64. */
size_t dt_bitmap_words(const struct gm_memory *mem);
uint64_t *dt_new_bitmap(const struct gm_memory *mem);

/* Assert bm holds exactly the pages listed (page numbers, i.e. offset/4096). */
void dt_assert_pages(const uint64_t *bm, size_t words, const uint64_t *pages, size_t n);

/* Clear pages [first, first+n) of bm that a test allows but does not require. */
void dt_drop_pages(uint64_t *bm, uint64_t first, uint64_t n, const char *what);

#define ASSERT_PAGES(bm, mem, ...)                                                       \
	do {                                                                             \
		const uint64_t want_[] = { __VA_ARGS__ };                                \
		dt_assert_pages(bm, dt_bitmap_words(mem), want_,                          \
				sizeof(want_) / sizeof(want_[0]));                       \
	} while (0)

/* As ASSERT_PAGES, but the code page may be there too (see above). */
#define ASSERT_PAGES_OR_CODE(bm, mem, ...)                                  \
	do {                                                                \
		dt_drop_pages(bm, CODE_GPA / PAGE, 1, "the code page");     \
		ASSERT_PAGES(bm, mem, __VA_ARGS__);                         \
	} while (0)

#define ASSERT_NO_PAGES(bm, mem) dt_assert_pages(bm, dt_bitmap_words(mem), NULL, 0)

/* Collect into a fresh bitmap; the caller frees it. */
uint64_t *dt_collect(struct gm_memory *mem);

/* A memory of backend b bound as its config says; skips where the kernel cannot. */
struct gm_memory *dt_make_bound(struct mt_vm *vm, enum gm_backend b, uint64_t size);

/* The same, with the code page already mapped into the VM (a guest that halted). */
struct gm_memory *dt_make_running(struct mt_vm *vm, enum gm_backend b, uint64_t size);

/* gm_memory_dirty_start / _stop, asserting success. */
void dt_start(struct gm_memory *mem);
void dt_stop(struct gm_memory *mem);

/* Create vCPU 0 and map its kvm_run, once. */
void dt_need_vcpu(struct mt_vm *vm);

/* KVM_RUN until HLT (no in-kernel irqchip, so HLT exits to us). */
void dt_run_to_hlt(struct mt_vm *vm);

/*
 * Real mode, CS = DS = 0: run len bytes of code placed at CODE_GPA, then
 * hlt.  The host writes the code through the hva, which KVM does not log.
 */
void dt_guest_runs(struct mt_vm *vm, struct gm_memory *mem, const uint8_t *insns, size_t len);

/* `mov byte [a], 1` for each 16-bit address (at most 8). */
void dt_guest_writes(struct mt_vm *vm, struct gm_memory *mem, const uint16_t *addrs, size_t n);

#define GUEST_WRITES(vm, mem, ...)                                              \
	do {                                                                    \
		const uint16_t a_[] = { __VA_ARGS__ };                          \
		dt_guest_writes(vm, mem, a_, sizeof(a_) / sizeof(a_[0]));       \
	} while (0)

#endif
