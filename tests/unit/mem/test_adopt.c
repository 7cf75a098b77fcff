/*
 * What re-homing asks of the memory plane, without KVM: which pages may
 * hold data (holes never read), what a memory holds, populating a target
 * range, and swapping the backing under an unbound region.  memfd and anon
 * need no VM, so these run on any Linux.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem/mem.h"
#include "mem_test.h"

#define SIZE (16 * MT_MIB)
#define PAGE UINT64_C(4096)
#define NPAGES (SIZE / PAGE)
#define BLOCK (2 * MT_MIB / PAGE) /* pages of a 2 MiB block: THP may fill one whole */

static struct gm_memory *make(enum gm_backend b)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(b, SIZE);
	struct gm_memory *mem = NULL;
	struct gm_error err = { 0 };

	cr_assert_eq(gm_memory_create(&cfg, &caps, -1, &mem, &err), 0, "%s", err.msg);
	return mem;
}

static bool bit(const uint64_t *bm, uint64_t p)
{
	return bm[p / 64] >> (p % 64) & 1;
}

static void write_page(struct gm_memory *mem, uint64_t page, uint8_t v)
{
	memset((uint8_t *)mem->host + page * PAGE, v, PAGE);
}

/* The pages written are data; every 2 MiB block never touched is a hole. */
static void data_pages_find_written_pages_only(enum gm_backend b)
{
	struct gm_memory *mem = make(b);
	uint64_t bm[NPAGES / 64];
	struct gm_error err = { 0 };
	const uint64_t written[] = { 0, 5, 600, 601, 602, 3000 };

	for (size_t i = 0; i < sizeof(written) / sizeof(written[0]); i++)
		write_page(mem, written[i], 0x5a);
	memset(bm, 0xff, sizeof(bm));
	cr_assert_eq(gm_memory_data_pages(mem, bm, &err), 0, "%s", err.msg);
	for (size_t i = 0; i < sizeof(written) / sizeof(written[0]); i++)
		cr_expect(bit(bm, written[i]), "page %lu was written but is not data", (unsigned long)written[i]);
	for (uint64_t p = 0; p < NPAGES; p++) {
		bool touched_block = false;

		for (size_t i = 0; i < sizeof(written) / sizeof(written[0]); i++)
			touched_block |= written[i] / BLOCK == p / BLOCK;
		if (!touched_block && bit(bm, p)) {
			cr_expect_fail("page %lu was never written but counts as data", (unsigned long)p);
			break;
		}
	}
	gm_memory_destroy(mem);
}

Test(adopt, memfd_data_pages_by_seek_data)
{
	data_pages_find_written_pages_only(GM_BACKEND_MEMFD);
}

Test(adopt, anon_data_pages_by_pagemap)
{
	data_pages_find_written_pages_only(GM_BACKEND_ANON);
}

Test(adopt, reading_a_hole_does_not_make_it_data_for_anon)
{
	struct gm_memory *mem = make(GM_BACKEND_ANON);
	uint64_t bm[NPAGES / 64];
	struct gm_error err = { 0 };
	volatile uint8_t *p = gm_memory_hva(mem, 0, SIZE);
	uint8_t sum = 0;

	/* a read maps the shared zero page (present to pagemap: it then reads
	 * as zero and the copy skips it); the pages beyond stay holes */
	for (uint64_t i = 0; i < 4; i++)
		sum ^= p[i * PAGE];
	cr_expect_eq(sum, 0);
	cr_assert_eq(gm_memory_data_pages(mem, bm, &err), 0, "%s", err.msg);
	cr_expect(!bit(bm, NPAGES - 1), "the last page was never touched");
	gm_memory_destroy(mem);
}

Test(adopt, a_private_file_mapping_is_all_data)
{
	char path[] = "/tmp/gmvm-adopt-XXXXXX";
	int fd = mkstemp(path);
	struct gm_memory *mem = make(GM_BACKEND_MEMFD);
	uint64_t bm[NPAGES / 64];
	struct gm_error err = { 0 };

	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, SIZE), 0);
	close(fd);
	cr_assert_eq(gm_memory_map_file_private(mem, path, &err), 0, "%s", err.msg);
	unlink(path);
	cr_assert_eq(gm_memory_data_pages(mem, bm, &err), 0, "%s", err.msg);
	for (uint64_t w = 0; w < NPAGES / 64; w++)
		cr_assert_eq(bm[w], ~UINT64_C(0), "word %lu: a file's page may hold data even if never touched",
			     (unsigned long)w);
	gm_memory_destroy(mem);
}

static void resident_counts_what_was_written(enum gm_backend b)
{
	struct gm_memory *mem = make(b);
	uint64_t before = gm_memory_resident(mem), after;

	for (uint64_t p = 0; p < 64; p++)
		write_page(mem, p * 8, 1);
	after = gm_memory_resident(mem);
	cr_expect_geq(after - before, 64 * PAGE, "64 pages written, resident grew by %lu bytes",
		      (unsigned long)(after - before));
	cr_expect_leq(after, SIZE);
	gm_memory_destroy(mem);
}

Test(adopt, memfd_resident)
{
	resident_counts_what_was_written(GM_BACKEND_MEMFD);
}

Test(adopt, anon_resident)
{
	resident_counts_what_was_written(GM_BACKEND_ANON);
}

Test(adopt, populate_allocates_the_range_only)
{
	struct gm_memory *mem = make(GM_BACKEND_MEMFD);
	int r = gm_memory_populate(mem, 10 * PAGE, 6 * PAGE);

	if (r == -EINVAL)
		cr_skip_test("this kernel has no MADV_POPULATE_WRITE (Linux 5.14)");
	cr_assert_eq(r, 0, "populate: %s", strerror(-r));
	cr_expect_eq(mt_resident_pages(gm_memory_hva(mem, 0, SIZE), SIZE), 6);
	cr_expect_geq(gm_memory_resident(mem), 6 * PAGE);
	gm_memory_destroy(mem);
}

Test(adopt, running_out_says_what_and_the_remedy)
{
	struct gm_memory *mem = make(GM_BACKEND_MEMFD);
	struct gm_memory fake = *mem;
	struct gm_error err = { 0 };

	cr_expect_eq(gm_memory_populate_fail(mem, ENOMEM, &err), -ENOMEM);
	cr_expect_not_null(strstr(err.msg, "free host memory"), "%s", err.msg);
	gm_error_clear(&err);
	fake.page_size = GM_PAGE_2M;
	gm_memory_populate_fail(&fake, ENOMEM, &err);
	cr_expect_not_null(strstr(err.msg, "2M hugetlb pool ran out"), "%s", err.msg);
	cr_expect_not_null(strstr(err.msg, "/proc/sys/vm/nr_hugepages"), "%s", err.msg);
	cr_expect_null(strchr(err.msg, '\n'));
	gm_memory_destroy(mem);
}

Test(adopt, describe)
{
	struct gm_mem_config c = mt_cfg(GM_BACKEND_MEMFD, SIZE);
	char buf[64];

	cr_expect_str_eq(gm_mem_config_describe(&c, buf, sizeof(buf)), "memfd 4K");
	c.page_size = GM_PAGE_2M;
	c.numa_node = 0;
	cr_expect_str_eq(gm_mem_config_describe(&c, buf, sizeof(buf)), "memfd 2M node 0");
	c = mt_cfg(GM_BACKEND_GUEST_MEMFD, SIZE);
	cr_expect_str_eq(gm_mem_config_describe(&c, buf, sizeof(buf)), "guest-memfd 4K");
}

/* anon -> memfd on unbound memories: the region keeps its identity and place, gets the new pages. */
Test(adopt, swaps_the_backing_and_keeps_the_region)
{
	struct gm_memory *mem = make(GM_BACKEND_ANON), *fresh = make(GM_BACKEND_MEMFD);
	const uint8_t uuid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	struct gm_error err = { 0 };
	void *old_host = gm_memory_hva(mem, 0, SIZE), *new_host = gm_memory_hva(fresh, 0, SIZE);

	cr_assert_eq(gm_memory_set_identity(mem, uuid, "extra", &err), 0, "%s", err.msg);
	cr_assert_eq(gm_memory_place(mem, 8 * MT_GIB, 4, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_memory_place(fresh, 8 * MT_GIB, 4, &err), 0, "%s", err.msg);
	mem->cfg.track_dirty = true;
	write_page(mem, 7, 0x11);
	memcpy(gm_memory_hva(fresh, 8 * MT_GIB, SIZE), gm_memory_hva(mem, 8 * MT_GIB, SIZE), SIZE);
	write_page(mem, 7, 0x22); /* the old copy changes after: the region must read the new object */

	cr_assert_eq(gm_memory_adopt(mem, fresh, &err), 0, "%s", err.msg);
	cr_expect_eq(gm_memory_config(mem)->backend, GM_BACKEND_MEMFD);
	cr_expect_geq(gm_memory_fd(mem), 0);
	cr_expect_eq(gm_memory_hva(mem, 8 * MT_GIB, PAGE), new_host);
	cr_expect_eq(*(uint8_t *)gm_memory_hva(mem, 8 * MT_GIB + 7 * PAGE, 1), 0x11);
	cr_expect_str_eq(gm_memory_name(mem), "extra");
	cr_expect_eq(memcmp(gm_memory_uuid(mem), uuid, 16), 0);
	cr_expect_eq(gm_memory_gpa(mem), 8 * MT_GIB);
	cr_expect(gm_memory_config(mem)->track_dirty, "track-dirty is the region's, kept");
	cr_expect_eq(gm_memory_binding(mem), GM_BIND_MAPPED);
	/* fresh now holds the old backing, ready to be freed */
	cr_expect_eq(gm_memory_config(fresh)->backend, GM_BACKEND_ANON);
	cr_expect_eq(gm_memory_fd(fresh), -1);
	cr_expect_eq(fresh->host, old_host);
	cr_expect(!fresh->bound);
	gm_memory_destroy(fresh);
	write_page(mem, 8, 0x33); /* still mapped and writable */
	gm_memory_destroy(mem);
}

Test(adopt, refuses_a_memory_of_another_size)
{
	struct gm_caps caps = mt_caps_generous();
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 2 * SIZE);
	struct gm_memory *mem = make(GM_BACKEND_ANON), *fresh = NULL;
	struct gm_error err = { 0 };

	cr_assert_eq(gm_memory_create(&cfg, &caps, -1, &fresh, &err), 0, "%s", err.msg);
	cr_expect_eq(gm_memory_adopt(mem, fresh, &err), -EINVAL);
	cr_expect_not_null(strstr(err.msg, "same size"), "%s", err.msg);
	cr_expect_eq(gm_memory_config(mem)->backend, GM_BACKEND_ANON, "nothing changed");
	cr_expect_eq(gm_memory_adopt(mem, mem, &err), -EINVAL);
	gm_memory_destroy(fresh);
	gm_memory_destroy(mem);
}

/* The pools as they are now: a re-home's refusal must not trust the numbers probed at start. */
Test(adopt, pools_are_read_again)
{
	struct gm_caps caps = mt_caps_generous();
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "re");
	long nr = -1;

	if (!f)
		cr_skip_test("no 2M hugetlb pool on this kernel");
	cr_assert_eq(fscanf(f, "%ld", &nr), 1);
	fclose(f);
	gm_mem_pools_refresh(&caps);
	cr_expect_eq(caps.hugetlb[0].total, nr, "2M pool: %ld pages, caps say %ld", nr, (long)caps.hugetlb[0].total);
	cr_expect_leq(caps.hugetlb[0].free, nr);
	cr_expect_geq(caps.hugetlb[0].free, 0);
}
