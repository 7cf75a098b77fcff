/*
 * The three backends on the real kernel: create and map, write and read
 * through the hva, prealloc, discard, NUMA policy, and binding into a real
 * VM whose guest reads and writes the memory.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mem/mem.h"
#include "mem_test.h"

#define SMALL (16 * MT_MIB)
#define PAGE 4096

#ifndef MPOL_BIND
#define MPOL_BIND 2
#endif
#ifndef MPOL_F_ADDR
#define MPOL_F_ADDR (1 << 1)
#endif

/* One Test per backend for a behaviour written once as a function. */
#define FOR_EACH_BACKEND(behaviour)                                       \
	Test(guest_memfd, behaviour) { behaviour(GM_BACKEND_GUEST_MEMFD); } \
	Test(memfd, behaviour) { behaviour(GM_BACKEND_MEMFD); }             \
	Test(anon, behaviour) { behaviour(GM_BACKEND_ANON); }

/* Create a memory; guest_memfd needs the VM, the others get one anyway. */
static struct gm_memory *make(struct mt_vm *vm, const struct gm_mem_config *cfg)
{
	struct gm_caps caps = mt_caps_real();
	struct gm_memory *mem = NULL;
	struct gm_error err = { 0 };

	if (cfg->backend == GM_BACKEND_GUEST_MEMFD && !(caps.gmem_flags & GM_GMEM_FLAG_INIT_SHARED))
		cr_skip_test("this kernel's guest_memfd cannot be mapped shared");
	cr_assert_eq(gm_memory_create(cfg, &caps, vm->vm_fd, &mem, &err), 0, "%s", err.msg);
	cr_assert_not_null(mem);
	return mem;
}

static void create_maps_and_hva_reads_back_writes(enum gm_backend b)
{
	struct gm_mem_config cfg = mt_cfg(b, SMALL);
	struct mt_vm vm;
	struct gm_memory *mem;
	uint8_t *p;

	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	cr_expect_eq(gm_memory_size(mem), SMALL);
	cr_expect_eq(gm_memory_end(mem), SMALL);
	cr_expect_eq(gm_memory_fd(mem) >= 0, b != GM_BACKEND_ANON);
	cr_expect_eq(gm_memory_config(mem)->backend, b);
	p = gm_memory_hva(mem, 0, SMALL);
	cr_assert_not_null(p);
	cr_expect(mt_all_bytes(p, SMALL, 0), "fresh memory reads zeros");
	for (uint64_t gpa = 0; gpa < SMALL; gpa += MT_MIB)
		*(uint64_t *)gm_memory_hva(mem, gpa, 8) = gpa ^ 0x5555aaaa5555aaaaull;
	*(uint8_t *)gm_memory_hva(mem, SMALL - 1, 1) = 0x77;
	for (uint64_t gpa = 0; gpa < SMALL; gpa += MT_MIB)
		cr_expect_eq(*(uint64_t *)(p + gpa), gpa ^ 0x5555aaaa5555aaaaull);
	cr_expect_eq(p[SMALL - 1], 0x77);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}
FOR_EACH_BACKEND(create_maps_and_hva_reads_back_writes)

/* For guest_memfd mincore sees only pages in use, see the prealloc test. */
static void without_prealloc_no_page_is_resident(enum gm_backend b)
{
	struct gm_mem_config cfg = mt_cfg(b, SMALL);
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	cr_expect_eq(mt_resident_pages(gm_memory_hva(mem, 0, SMALL), SMALL), 0);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}
FOR_EACH_BACKEND(without_prealloc_no_page_is_resident)

static void prealloc_makes_every_page_resident_and_zero(enum gm_backend b)
{
	struct gm_mem_config cfg = mt_cfg(b, SMALL);
	struct mt_vm vm;
	struct gm_memory *mem;
	uint8_t *p;

	cfg.prealloc = true;
	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	p = gm_memory_hva(mem, 0, SMALL);
	/*
	 * mincore counts only up-to-date pages, and guest_memfd zeroes a
	 * preallocated page on first use, so for it create succeeding (the
	 * fallocate did) and zeros are what can be observed.
	 */
	if (b != GM_BACKEND_GUEST_MEMFD)
		cr_expect_eq(mt_resident_pages(p, SMALL), SMALL / PAGE);
	cr_expect(mt_all_bytes(p, SMALL, 0), "preallocated memory reads zeros");
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}
FOR_EACH_BACKEND(prealloc_makes_every_page_resident_and_zero)

static void discard_frees_the_range_and_reads_give_zeros(enum gm_backend b)
{
	struct gm_mem_config cfg = mt_cfg(b, SMALL);
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;
	uint8_t *p;

	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	p = gm_memory_hva(mem, 0, SMALL);
	memset(p, 0xab, SMALL);
	cr_assert_eq(gm_memory_discard(mem, MT_MIB, MT_MIB, &err), 0, "%s", err.msg);
	cr_expect_eq(mt_resident_pages(p + MT_MIB, MT_MIB), 0, "discarded pages are freed");
	cr_expect(mt_all_bytes(p + MT_MIB, MT_MIB, 0), "discarded range reads zeros");
	cr_expect(mt_all_bytes(p, MT_MIB, 0xab), "memory before the range is kept");
	cr_expect(mt_all_bytes(p + 2 * MT_MIB, SMALL - 2 * MT_MIB, 0xab),
		  "memory after the range is kept");
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}
FOR_EACH_BACKEND(discard_frees_the_range_and_reads_give_zeros)

static void discard_refuses_unaligned_or_outside_ram(enum gm_backend b)
{
	struct gm_mem_config cfg = mt_cfg(b, SMALL);
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	cr_expect_eq(gm_memory_discard(mem, 100, PAGE, &err), -EINVAL);
	cr_expect(strstr(err.msg, "not a whole number of 4K pages"), "%s", err.msg);
	cr_expect_eq(err.status, GM_STATUS_BAD_INPUT);
	gm_error_clear(&err);
	cr_expect_eq(gm_memory_discard(mem, 0, 0, &err), -EINVAL);
	gm_error_clear(&err);
	cr_expect_eq(gm_memory_discard(mem, SMALL - PAGE, 2 * PAGE, &err), -EINVAL);
	cr_expect(strstr(err.msg, "not inside one RAM region"), "%s", err.msg);
	gm_error_clear(&err);
	cr_expect_eq(gm_memory_discard(mem, UINT64_MAX - PAGE + 1, PAGE, &err), -EINVAL);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}
FOR_EACH_BACKEND(discard_refuses_unaligned_or_outside_ram)

static void numa_node_0_puts_mpol_bind_on_the_mapping(enum gm_backend b)
{
	struct gm_mem_config cfg = mt_cfg(b, SMALL);
	unsigned long mask = 0;
	struct mt_vm vm;
	struct gm_memory *mem;
	int mode = -1;

	cfg.numa_node = 0;
	cfg.prealloc = true;
	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	cr_assert_eq(syscall(SYS_get_mempolicy, &mode, &mask, sizeof(mask) * 8 + 1,
			     gm_memory_hva(mem, MT_MIB, 1), MPOL_F_ADDR), 0, "get_mempolicy: %s",
		     strerror(errno));
	cr_expect_eq(mode, MPOL_BIND);
	cr_expect_eq(mask, 1ul);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}
FOR_EACH_BACKEND(numa_node_0_puts_mpol_bind_on_the_mapping)

static void bind_mapped_lets_the_guest_read_and_write(enum gm_backend b)
{
	struct gm_mem_config cfg = mt_cfg(b, SMALL);
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	cr_assert_eq(gm_memory_bind(mem, GM_BIND_MAPPED, &err), 0, "%s", err.msg);
	cr_expect_eq(gm_memory_binding(mem), GM_BIND_MAPPED);
	*(uint8_t *)gm_memory_hva(mem, 0x2000, 1) = 0x42;
	cr_expect_eq(mt_vm_peek_poke(&vm, mem), 0x42);
	cr_expect_eq(*(uint8_t *)gm_memory_hva(mem, 0x2001, 1), 0x5a);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}
FOR_EACH_BACKEND(bind_mapped_lets_the_guest_read_and_write)

static void bind_twice_same_mode_is_fine_other_mode_is_ebusy(enum gm_backend b)
{
	struct gm_mem_config cfg = mt_cfg(b, SMALL);
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	cr_assert_eq(gm_memory_bind(mem, GM_BIND_MAPPED, &err), 0, "%s", err.msg);
	cr_expect_eq(gm_memory_bind(mem, GM_BIND_MAPPED, &err), 0, "%s", err.msg);
	if (b == GM_BACKEND_GUEST_MEMFD) {
		cr_expect_eq(gm_memory_bind(mem, GM_BIND_GMEM, &err), -EBUSY);
		cr_expect(strstr(err.msg, "use gm_memory_rebind"), "%s", err.msg);
	}
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}
FOR_EACH_BACKEND(bind_twice_same_mode_is_fine_other_mode_is_ebusy)

static void destroy_frees_the_memslots_for_the_next_memory(enum gm_backend b)
{
	struct gm_mem_config cfg = mt_cfg(b, 4 * MT_GIB);
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	cr_assert_eq(gm_memory_bind(mem, gm_memory_config(mem)->bind, &err), 0, "%s", err.msg);
	gm_memory_destroy(mem);
	mem = make(&vm, &cfg);
	cr_expect_eq(gm_memory_bind(mem, gm_memory_config(mem)->bind, &err), 0, "%s", err.msg);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}
FOR_EACH_BACKEND(destroy_frees_the_memslots_for_the_next_memory)

Test(memfd, bind_gmem_is_refused_with_remedy)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, SMALL);
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	cr_expect_eq(gm_memory_config(mem)->bind, GM_BIND_MAPPED, "default bind is mapped");
	cr_expect_eq(gm_memory_bind(mem, GM_BIND_GMEM, &err), -EINVAL);
	cr_expect_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_expect(strstr(err.msg, "use bind=mapped"), "%s", err.msg);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

Test(anon, bind_gmem_is_refused_with_remedy)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_ANON, SMALL);
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	cr_expect_eq(gm_memory_rebind(mem, GM_BIND_GMEM, &err), -EINVAL);
	cr_expect(strstr(err.msg, "backend=anon; use bind=mapped"), "%s", err.msg);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

Test(guest_memfd, bind_gmem_lets_the_guest_read_and_write)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, SMALL);
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	cr_assert_eq(gm_memory_bind(mem, GM_BIND_GMEM, &err), 0, "%s", err.msg);
	cr_expect_eq(gm_memory_binding(mem), GM_BIND_GMEM);
	*(uint8_t *)gm_memory_hva(mem, 0x2000, 1) = 0x42;
	cr_expect_eq(mt_vm_peek_poke(&vm, mem), 0x42);
	cr_expect_eq(*(uint8_t *)gm_memory_hva(mem, 0x2001, 1), 0x5a);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

/* Bind in `from`, let the guest see and write, switch, and check both sides again. */
static void rebind_keeps_content(enum gm_bind from, enum gm_bind to)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, SMALL);
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;
	uint8_t *p;

	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	p = gm_memory_hva(mem, 0, SMALL);
	memset(p + 4 * MT_MIB, 0xc3, 4 * MT_MIB);
	cr_assert_eq(gm_memory_bind(mem, from, &err), 0, "%s", err.msg);
	p[0x2000] = 0x11;
	cr_assert_eq(mt_vm_peek_poke(&vm, mem), 0x11);

	cr_assert_eq(gm_memory_rebind(mem, to, &err), 0, "%s", err.msg);
	cr_expect_eq(gm_memory_binding(mem), to);
	cr_expect_eq(p[0x2001], 0x5a, "the guest's write survives the rebind");
	cr_expect(mt_all_bytes(p + 4 * MT_MIB, 4 * MT_MIB, 0xc3), "host data survives the rebind");
	p[0x2001] = 0;
	cr_expect_eq(mt_vm_peek_poke(&vm, mem), 0x11, "the guest still sees the same memory");
	cr_expect_eq(p[0x2001], 0x5a);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

Test(guest_memfd, rebind_gmem_to_mapped_keeps_content)
{
	rebind_keeps_content(GM_BIND_GMEM, GM_BIND_MAPPED);
}

Test(guest_memfd, rebind_mapped_to_gmem_keeps_content)
{
	rebind_keeps_content(GM_BIND_MAPPED, GM_BIND_GMEM);
}

Test(guest_memfd, rebind_to_the_current_mode_changes_nothing)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, SMALL);
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;

	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	cr_assert_eq(gm_memory_bind(mem, GM_BIND_GMEM, &err), 0, "%s", err.msg);
	cr_expect_eq(gm_memory_rebind(mem, GM_BIND_GMEM, &err), 0, "%s", err.msg);
	cr_expect_eq(gm_memory_binding(mem), GM_BIND_GMEM);
	*(uint8_t *)gm_memory_hva(mem, 0x2000, 1) = 0x24;
	cr_expect_eq(mt_vm_peek_poke(&vm, mem), 0x24);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

Test(guest_memfd, sparse_16G_creates_and_binds_without_prealloc)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, 16 * MT_GIB);
	struct gm_caps caps = mt_caps_real();
	struct gm_error err = { 0 };
	struct mt_vm vm;
	struct gm_memory *mem;
	uint8_t *hi;

	if (caps.host_ram < 16 * MT_GIB)
		cr_skip_test("host has less than 16G of RAM");
	mt_vm_open(&vm);
	mem = make(&vm, &cfg);
	cr_assert_eq(gm_memory_bind(mem, GM_BIND_GMEM, &err), 0, "%s", err.msg);
	cr_expect_eq(gm_memory_end(mem), 17 * MT_GIB);
	hi = gm_memory_hva(mem, 17 * MT_GIB - PAGE, PAGE);
	cr_assert_not_null(hi);
	hi[PAGE - 1] = 0x99;
	cr_expect_eq(hi[PAGE - 1], 0x99);
	cr_expect_eq(gm_memory_rebind(mem, GM_BIND_MAPPED, &err), 0, "%s", err.msg);
	cr_expect_eq(hi[PAGE - 1], 0x99);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
}

Test(guest_memfd, create_without_a_vm_fails_cleanly)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, SMALL);
	struct gm_caps caps = mt_caps_real();
	struct gm_memory *mem = NULL;
	struct gm_error err = { 0 };
	int fds = test_open_fds();

	cr_expect_eq(gm_memory_create(&cfg, &caps, -1, &mem, &err), -EBADF);
	cr_expect(strstr(err.msg, "create the VM before its memory"), "%s", err.msg);
	cr_expect_null(mem);
	cr_expect_eq(test_open_fds(), fds);
}

Test(memfd, failed_hugetlb_reservation_undoes_everything)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 4 * MT_GIB);
	struct gm_caps caps = mt_caps_real();
	struct gm_memory *mem = NULL;
	struct gm_error err = { 0 };
	const struct gm_hugetlb_pool *pool = gm_caps_hugetlb(&caps, GM_PAGE_1G);
	int fds = test_open_fds();

	if (!pool)
		cr_skip_test("this kernel has no 1G hugetlb pages");
	if (pool->free >= 4)
		cr_skip_test("the 1G pool has 4 free pages, so the reservation would succeed");
	/* Pretend the pool is full so create gets past the check to the kernel. */
	for (int i = 0; i < caps.n_hugetlb; i++)
		caps.hugetlb[i].free = 1000;
	cfg.page_size = GM_PAGE_1G;
	cr_expect_eq(gm_memory_create(&cfg, &caps, -1, &mem, &err), -ENOMEM);
	cr_expect(strstr(err.msg, "hugetlb pool has too few free pages; raise /sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages"),
		  "%s", err.msg);
	cr_expect_null(mem);
	cr_expect_eq(test_open_fds(), fds, "no fd left open");
}

Test(identity, the_owner_names_the_memory)
{
	static const uint8_t zero[16], id[16] = { 0x12, 0x34, [6] = 0x40, [8] = 0x80, [15] = 0x99 };
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_ANON, SMALL);
	struct gm_caps caps = mt_caps_generous();
	struct gm_memory *a = NULL;
	struct gm_error err = { 0 };

	cr_assert_eq(gm_memory_create(&cfg, &caps, -1, &a, &err), 0, "%s", err.msg);
	/* mem/ invents no identity: the machine owns the UUID */
	cr_expect_str_eq(gm_memory_name(a), "ram");
	cr_expect_arr_eq(gm_memory_uuid(a), zero, 16);
	cr_assert_eq(gm_memory_set_identity(a, id, "ram", &err), 0, "%s", err.msg);
	cr_expect_arr_eq(gm_memory_uuid(a), id, 16);
	cr_expect_eq(gm_memory_set_identity(a, id, "a-name-too-long-x", &err), -EINVAL);
	cr_expect_str_eq(gm_memory_name(a), "ram");
	gm_memory_destroy(a);
}
