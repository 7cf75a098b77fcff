/*
 * Bad input and missing kernel features are refused before any VM exists,
 * with exit status 2 (bad input) or 3 (the kernel lacks it) and one line on
 * stderr that names the cause and the remedy.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static void refused(int status, const char *memory, const char *guest_name, const char *expect)
{
	struct run_result r;

	run_guest(&r, 30, guest_name, "--memory", memory, NULL);
	cr_assert_eq(r.status, status, "--memory %s: status %d, stderr:\n%s", memory, r.status, r.err);
	cr_assert(strstr(r.err, expect), "--memory %s: expected '%s' in stderr:\n%s", memory, expect, r.err);
	cr_assert_eq(count_substr(r.err, "\n"), 1, "one line expected, stderr:\n%s", r.err);
	cr_assert_str_empty(r.out, "the guest must not have run:\n%s", r.out);
	run_result_free(&r);
}

Test(refusals, guest_memfd_hugepages_without_kernel_support)
{
	/* named backend, so GMVM_TEST_BACKEND does not apply; the hugepage
	 * refusal comes after the one for a guest_memfd gmvm cannot use */
	require_guest_memfd();
	refused(3, "size=1G,backend=guest-memfd,hugepages=2M", "hello", "use backend=memfd,hugepages=2M");
}

Test(refusals, size_zero)
{
	refused(2, "size=0", "hello", "size");
}

Test(refusals, size_not_multiple_of_page)
{
	refused(2, "size=1025M,backend=memfd,hugepages=2M", "hello", "2M");
}

Test(refusals, size_larger_than_the_machine)
{
	refused(2, "size=64T", "hello", "");
}

Test(refusals, unknown_key)
{
	refused(2, "size=1G,colour=red", "hello", "colour");
}

Test(refusals, unknown_backend)
{
	refused(2, "size=1G,backend=shm", "hello", "guest-memfd, memfd or anon");
}

Test(refusals, unknown_hugepage_size)
{
	refused(2, "size=1G,backend=memfd,hugepages=3M", "hello", "3M");
}

Test(refusals, numa_node_that_does_not_exist)
{
	refused(2, "size=1G,numa-node=63", "hello", "63");
}

Test(refusals, gmem_binding_needs_guest_memfd)
{
	refused(2, "size=1G,backend=memfd,bind=gmem", "hello", "bind=mapped");
}

Test(refusals, hugetlb_pool_too_small)
{
	/* 1 GiB pages: the pool is empty unless someone filled it */
	FILE *f = fopen("/sys/kernel/mm/hugepages/hugepages-1048576kB/free_hugepages", "r");
	long free_pages = -1;

	if (!f)
		cr_skip_test("this kernel has no 1 GiB hugetlb pages");
	cr_assert_eq(fscanf(f, "%ld", &free_pages), 1);
	fclose(f);
	if (free_pages >= 2)
		cr_skip_test("the 1 GiB hugetlb pool has %ld free pages; cannot provoke a shortage", free_pages);
	refused(2, "size=2G,backend=memfd,hugepages=1G", "hello", "nr_hugepages");
}

static void refused_image(const char *path, const char *expect)
{
	struct run_result r;

	require_kvm();
	run_gmvm(&r, 30, "run", path, NULL);
	cr_assert_eq(r.status, 2, "status %d, stderr:\n%s", r.status, r.err);
	cr_assert(strstr(r.err, expect), "expected '%s' in stderr:\n%s", expect, r.err);
	cr_assert(strstr(r.err, path), "the message should name the file:\n%s", r.err);
	run_result_free(&r);
}

Test(refusals, image_that_is_not_elf)
{
	char path[] = "/tmp/gmvm-notelf-XXXXXX";
	int fd = mkstemp(path);

	cr_assert(fd >= 0);
	cr_assert(write(fd, "#!/bin/sh\necho hello\n", 21) == 21);
	close(fd);
	refused_image(path, "not an ELF");
	unlink(path);
}

Test(refusals, image_missing)
{
	refused_image("/nonexistent/guest.elf", "No such file");
}

Test(refusals, bad_cpus_and_options)
{
	struct run_result r;

	run_gmvm(&r, 30, "run", "--cpus", "0", "x.elf", NULL);
	cr_assert_eq(r.status, 2, "stderr:\n%s", r.err);
	cr_assert(strstr(r.err, "--cpus"), "stderr:\n%s", r.err);
	run_result_free(&r);
	run_gmvm(&r, 30, "frobnicate", NULL);
	cr_assert_eq(r.status, 2, "stderr:\n%s", r.err);
	cr_assert(strstr(r.err, "unknown command"), "stderr:\n%s", r.err);
	run_result_free(&r);
}
