/*
 * memfd and anon with 2M hugetlb pages.  The pool is empty by default, so
 * as root the fixture raises /proc/sys/vm/nr_hugepages for the test and puts
 * the old value back in teardown, also when the test fails.  Only one test
 * resizes the pool, so Criterion's parallel jobs cannot race on it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mem/mem.h"
#include "mem_test.h"

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"
#define FREE_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
#define SIZE (32 * MT_MIB)
#define PAGES (SIZE / GM_PAGE_2M)

static long old_nr = -1;

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ok;

	if (!f)
		return -errno;
	ok = fprintf(f, "%ld\n", v) > 0;
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

static void raise_pool(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to raise %s for 2M hugepages", NR_HUGEPAGES);
	old_nr = read_long(NR_HUGEPAGES);
	if (old_nr < 0)
		cr_skip_test("this kernel has no %s", NR_HUGEPAGES);
	if (write_long(NR_HUGEPAGES, old_nr + PAGES) < 0)
		cr_skip_test("cannot write %s", NR_HUGEPAGES);
	if (read_long(FREE_2M) < (long)PAGES)
		cr_skip_test("the kernel found only %ld free 2M pages of the %ld asked",
			     read_long(FREE_2M), (long)PAGES);
}

static void restore_pool(void)
{
	if (old_nr >= 0)
		write_long(NR_HUGEPAGES, old_nr);
	old_nr = -1;
}

TestSuite(hugetlb_2M, .init = raise_pool, .fini = restore_pool);

static void hugetlb_backend_works_end_to_end(enum gm_backend b)
{
	struct gm_mem_config cfg = mt_cfg(b, SIZE);
	struct gm_caps caps = mt_caps_real();
	struct gm_error err = { 0 };
	struct gm_memory *mem = NULL;
	struct mt_vm vm;
	long free_before;
	uint8_t *p;

	cfg.page_size = GM_PAGE_2M;
	cfg.prealloc = true;
	mt_vm_open(&vm);
	free_before = read_long(FREE_2M);
	cr_assert_eq(gm_memory_create(&cfg, &caps, vm.vm_fd, &mem, &err), 0, "%s", err.msg);
	p = gm_memory_hva(mem, 0, SIZE);
	cr_expect_eq((uintptr_t)p % GM_PAGE_2M, 0, "mapping aligned to 2M");
	cr_expect_eq(read_long(FREE_2M), free_before - (long)PAGES, "prealloc took every page");
	cr_expect(mt_all_bytes(p, SIZE, 0));

	memset(p, 0xee, SIZE);
	cr_assert_eq(gm_memory_discard(mem, GM_PAGE_2M, GM_PAGE_2M, &err), 0, "%s", err.msg);
	cr_expect_eq(read_long(FREE_2M), free_before - (long)PAGES + 1, "discard gave one page back");
	cr_expect(mt_all_bytes(p + GM_PAGE_2M, GM_PAGE_2M, 0), "discarded page reads zeros");
	cr_expect(mt_all_bytes(p + 2 * GM_PAGE_2M, GM_PAGE_2M, 0xee));

	gm_error_clear(&err);
	cr_expect_eq(gm_memory_discard(mem, 0, 4096, &err), -EINVAL);
	cr_expect(strstr(err.msg, "not a whole number of 2M pages; align address and length to 2M"),
		  "%s", err.msg);

	cr_assert_eq(gm_memory_bind(mem, GM_BIND_MAPPED, &err), 0, "%s", err.msg);
	p[0x2000] = 0x3c;
	cr_expect_eq(mt_vm_peek_poke(&vm, mem), 0x3c);
	cr_expect_eq(p[0x2001], 0x5a);
	gm_memory_destroy(mem);
	mt_vm_close(&vm);
	cr_expect_eq(read_long(FREE_2M), free_before, "destroy gave every page back");
}

/* One test for both backends: the pool is global, so no two tests may resize it. */
Test(hugetlb_2M, memfd_and_anon_prealloc_discard_and_bind)
{
	hugetlb_backend_works_end_to_end(GM_BACKEND_MEMFD);
	hugetlb_backend_works_end_to_end(GM_BACKEND_ANON);
}

Test(hugetlb_pool, smaller_than_the_memory_is_refused_by_check)
{
	struct gm_caps caps = mt_caps_real();
	const struct gm_hugetlb_pool *pool = gm_caps_hugetlb(&caps, GM_PAGE_2M);
	struct gm_mem_config cfg;
	struct gm_error err = { 0 };

	if (!pool)
		cr_skip_test("this kernel has no 2M hugetlb pages");
	cfg = mt_cfg(GM_BACKEND_MEMFD, (uint64_t)(pool->free + 1) * GM_PAGE_2M);
	cfg.page_size = GM_PAGE_2M;
	cr_assert_lt(gm_memory_check(&cfg, &caps, &err), 0);
	cr_expect_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_expect(strstr(err.msg, "needs ") && strstr(err.msg, NR_HUGEPAGES), "%s", err.msg);
}
