/*
 * Memory files: written sparse (zero pages are holes), read back with one
 * thread and several, whole or through a bitmap, and refused when they do
 * not fit the memory.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/memfile.h"

#define PG 4096u
#define NPAGES 3000u /* ~12 MiB, its data in many extents */

static char path[64];

static void setup(void)
{
	strcpy(path, "/tmp/gmvm-memfile-XXXXXX");
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	close(fd);
}

static void teardown(void)
{
	unlink(path);
}

TestSuite(memfile, .init = setup, .fini = teardown);

/* Non-zero pages in a pattern with long zero stretches (so holes are real
 * filesystem holes, bigger than any block), and a few lone ones. */
static uint8_t *memory(void)
{
	uint8_t *m = calloc(NPAGES, PG);

	for (unsigned i = 0; i < NPAGES; i++) {
		if (i % 256 < 64 || i % 97 == 0)
			memset(m + (size_t)i * PG, (int)(i % 251 + 1), PG);
	}
	m[2999 * (size_t)PG + PG - 1] = 9; /* a page non-zero only in its last byte */
	return m;
}

static uint64_t nonzero_pages(const uint8_t *m)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < NPAGES; i++)
		for (unsigned j = 0; j < PG; j++)
			if (m[(size_t)i * PG + j]) {
				n++;
				break;
			}
	return n;
}

static void write_ok(const uint8_t *m, const uint64_t *bitmap, uint64_t *written)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_memfile_write(path, m, (uint64_t)NPAGES * PG, bitmap, written, &err), 0,
		     "%s", err.msg);
}

static void read_ok(uint8_t *m, const uint64_t *bitmap, unsigned threads)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_memfile_read(path, m, (uint64_t)NPAGES * PG, bitmap, threads, &err), 0,
		     "%s", err.msg);
}

Test(memfile, is_sparse_and_exactly_the_size)
{
	uint8_t *m = memory();
	uint64_t written;
	struct stat st;

	write_ok(m, NULL, &written);
	cr_expect_eq(written, nonzero_pages(m) * PG);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq((uint64_t)st.st_size, (uint64_t)NPAGES * PG);
	cr_expect_eq(st.st_mode & 0777, 0600);
	cr_expect_lt((uint64_t)st.st_blocks * 512, (uint64_t)st.st_size / 2,
		     "%llu bytes allocated of %llu", (unsigned long long)st.st_blocks * 512,
		     (unsigned long long)st.st_size);
	free(m);
}

static void whole(unsigned threads)
{
	uint8_t *m = memory(), *back = calloc(NPAGES, PG);

	write_ok(m, NULL, NULL);
	read_ok(back, NULL, threads);
	cr_expect_arr_eq(back, m, (size_t)NPAGES * PG);
	free(m);
	free(back);
}

Test(memfile, reads_back_with_one_thread)
{
	whole(1);
}

Test(memfile, reads_back_with_four_threads)
{
	whole(4);
}

Test(memfile, reads_back_with_sixteen_threads)
{
	whole(16);
}

Test(memfile, dense_memory_is_shared_out_in_pieces)
{
	const size_t size = 40u << 20; /* past the 8 MiB writes and the 16 MiB read pieces */
	uint8_t *m = malloc(size), *back = calloc(1, size);
	struct gm_error err = { 0 };
	uint64_t written;

	for (size_t i = 0; i < size; i += 8)
		memcpy(m + i, &(uint64_t){ i * 0x9e3779b97f4a7c15ull | 1 }, 8);
	cr_assert_eq(gm_memfile_write(path, m, size, NULL, &written, &err), 0, "%s", err.msg);
	cr_expect_eq(written, size);
	cr_assert_eq(gm_memfile_read(path, back, size, NULL, 4, &err), 0, "%s", err.msg);
	cr_expect_arr_eq(back, m, size);
	free(m);
	free(back);
}

Test(memfile, holes_are_left_alone_without_a_bitmap)
{
	uint8_t *m = memory(), *back = malloc((size_t)NPAGES * PG);

	write_ok(m, NULL, NULL);
	memset(back, 0xee, (size_t)NPAGES * PG); /* not fresh: shows what was written */
	read_ok(back, NULL, 4);
	for (unsigned i = 0; i < NPAGES; i++) {
		bool data = i % 256 < 64 || i % 97 == 0 || i == 2999;

		if (data)
			cr_assert_eq(memcmp(back + (size_t)i * PG, m + (size_t)i * PG, PG), 0, "page %u", i);
		else if (i % 256 >= 72 && i % 256 < 248)
			cr_assert_eq(back[(size_t)i * PG], 0xee, "hole page %u was written", i);
	}
	free(m);
	free(back);
}

/* A diff: bits for pages 0..127 and 500..899; page 10 (in the bitmap) dirtied to zero. */
static uint64_t *diff_bitmap(void)
{
	uint64_t *bm = calloc((NPAGES + 63) / 64, 8);

	for (unsigned i = 0; i < NPAGES; i++)
		if (i < 128 || (i >= 500 && i < 900))
			bm[i / 64] |= UINT64_C(1) << (i % 64);
	return bm;
}

Test(memfile, a_bitmap_writes_only_its_pages)
{
	uint8_t *m = memory(), *back = calloc(NPAGES, PG);
	uint64_t *bm = diff_bitmap(), written;

	memset(m + 10 * PG, 0, PG);
	write_ok(m, bm, &written);
	read_ok(back, NULL, 2);
	for (unsigned i = 0; i < NPAGES; i++) {
		bool in = bm[i / 64] >> (i % 64) & 1;

		if (!in)
			cr_assert_eq(back[(size_t)i * PG + 7], 0, "page %u is outside the bitmap", i);
		else
			cr_assert_eq(memcmp(back + (size_t)i * PG, m + (size_t)i * PG, PG), 0, "page %u", i);
	}
	free(m);
	free(back);
	free(bm);
}

static void diff(unsigned threads)
{
	uint8_t *m = memory(), *back = malloc((size_t)NPAGES * PG);
	uint64_t *bm = diff_bitmap();

	memset(m + 10 * PG, 0, PG);
	write_ok(m, bm, NULL);
	/* The memory a diff applies to holds the base snapshot: not zero. */
	memset(back, 0xee, (size_t)NPAGES * PG);
	read_ok(back, bm, threads);
	for (unsigned i = 0; i < NPAGES; i++) {
		bool in = bm[i / 64] >> (i % 64) & 1;

		if (in)
			cr_assert_eq(memcmp(back + (size_t)i * PG, m + (size_t)i * PG, PG), 0,
				     "page %u (dirtied%s)", i, i == 10 ? " to zero" : "");
		else
			cr_assert_eq(back[(size_t)i * PG + 100], 0xee, "page %u is not in the diff", i);
	}
	free(m);
	free(back);
	free(bm);
}

Test(memfile, a_diff_reads_back_with_one_thread_zeroing_pages_dirtied_to_zero)
{
	diff(1);
}

Test(memfile, a_diff_reads_back_with_four_threads)
{
	diff(4);
}

Test(memfile, an_all_zero_memory_is_one_big_hole)
{
	uint8_t *m = calloc(NPAGES, PG), *back = calloc(NPAGES, PG);
	uint64_t written = 1;
	struct stat st;

	write_ok(m, NULL, &written);
	cr_expect_eq(written, 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_blocks, 0);
	read_ok(back, NULL, 4);
	cr_expect_arr_eq(back, m, (size_t)NPAGES * PG);
	free(m);
	free(back);
}

Test(memfile, a_file_of_another_size_is_refused)
{
	uint8_t *m = memory();
	struct gm_error err = { 0 };

	write_ok(m, NULL, NULL);
	cr_expect_eq(gm_memfile_read(path, m, (uint64_t)(NPAGES - 1) * PG, NULL, 1, &err), -EINVAL);
	cr_expect_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_expect_not_null(strstr(err.msg, "does not belong to this memory size"), "%s", err.msg);
	free(m);
}

Test(memfile, bad_arguments_are_refused)
{
	uint8_t m[PG] = { 0 };
	struct gm_error err = { 0 };

	cr_expect_eq(gm_memfile_read(path, m, PG, NULL, 0, &err), -EINVAL);
	gm_error_clear(&err);
	cr_expect_eq(gm_memfile_read(path, m, PG, NULL, 17, &err), -EINVAL);
	gm_error_clear(&err);
	cr_expect_eq(gm_memfile_write(path, m, 100, NULL, NULL, &err), -EINVAL);
	gm_error_clear(&err);
	cr_expect_eq(gm_memfile_read("/nonexistent/mem", m, PG, NULL, 1, &err), -ENOENT);
	cr_expect_eq(err.status, GM_STATUS_BAD_INPUT);
	gm_error_clear(&err);
	cr_expect_eq(gm_memfile_write("/nonexistent/mem", m, PG, NULL, NULL, &err), -ENOENT);
	cr_expect_not_null(strstr(err.msg, "cannot create"), "%s", err.msg);
}
