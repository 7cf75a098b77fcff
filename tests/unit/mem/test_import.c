/*
 * gm_memory_import: a memory over an fd another process (here: another
 * gm_memory, or a hand-made memfd) already filled.  The import shows the
 * same bytes, allocates nothing, and refuses an fd that is not what the
 * config says with one line.  The KVM cases (a guest reads imported memory,
 * a guest_memfd imported into a second VM binds mapped) skip without KVM.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/mem.h"
#include "mem_test.h"

#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif

#define SIZE (64 * MT_MIB)

static struct gm_memory *make_memfd(uint64_t size)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, size);
	struct gm_caps caps = mt_caps_generous();
	struct gm_error err = { 0 };
	struct gm_memory *mem = NULL;

	cr_assert_eq(gm_memory_create(&cfg, &caps, -1, &mem, &err), 0, "%s", err.msg);
	return mem;
}

static uint64_t blocks(int fd)
{
	struct stat st;

	cr_assert_eq(fstat(fd, &st), 0);
	return (uint64_t)st.st_blocks;
}

Test(import, memfd_shows_the_bytes_and_allocates_nothing)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, SIZE);
	struct gm_caps caps = mt_caps_generous();
	struct gm_error err = { 0 };
	struct gm_memory *orig, *mem = NULL;
	int before = test_open_fds();
	uint8_t *o, *n;
	uint64_t held;

	orig = make_memfd(SIZE);
	o = gm_memory_hva(orig, 0, SIZE);
	memset(o + 0x2000, 0x42, 4096);
	memcpy(o + SIZE - 6, "tail!", 6);
	held = blocks(gm_memory_fd(orig));

	cr_assert_eq(gm_memory_import(&cfg, &caps, -1, gm_memory_fd(orig), &mem, &err), 0, "%s", err.msg);
	cr_assert_not_null(mem);
	n = gm_memory_hva(mem, 0, SIZE);
	cr_assert_neq(n, o, "the import must map the fd itself, not reuse the old mapping");
	cr_expect(mt_all_bytes(n + 0x2000, 4096, 0x42), "the import does not show the bytes written before");
	cr_expect_str_eq((char *)n + SIZE - 6, "tail!");
	cr_expect_eq(blocks(gm_memory_fd(orig)), held, "importing allocated pages");
	/* mincore on a shared mapping reports the file's page cache: the pages written, no more */
	cr_expect_eq(mt_resident_pages(n, SIZE) * 4096, held * 512, "the import holds other pages than the original");
	cr_expect_eq(gm_memory_size(mem), SIZE);
	cr_expect_eq(gm_memory_page_size(mem), GM_PAGE_4K);
	cr_expect_eq(gm_memory_binding(mem), GM_BIND_MAPPED);
	cr_expect_neq(gm_memory_fd(mem), gm_memory_fd(orig), "the import keeps its own duplicate");

	/* shared both ways: the old process's view sees the new one's writes */
	n[0x3000] = 0x77;
	cr_expect_eq(o[0x3000], 0x77);

	/* the original fd may go first: the import holds its own */
	gm_memory_destroy(orig);
	cr_expect_eq(n[0x2000], 0x42);
	gm_memory_destroy(mem);
	cr_expect_eq(test_open_fds(), before, "fds leaked");
}

Test(import, a_size_mismatch_is_refused)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 2 * SIZE);
	struct gm_caps caps = mt_caps_generous();
	struct gm_error err = { 0 };
	struct gm_memory *orig = make_memfd(SIZE), *mem = (void *)1;
	int before = test_open_fds();

	cr_assert_eq(gm_memory_import(&cfg, &caps, -1, gm_memory_fd(orig), &mem, &err), -EINVAL);
	cr_expect_null(mem);
	cr_expect_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_expect(strstr(err.msg, "holds 64M and the region is 128M"), "%s", err.msg);
	cr_expect_eq(test_open_fds(), before, "a refused import left an fd open");
	gm_memory_destroy(orig);
}

Test(import, a_pipe_is_refused)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, SIZE);
	struct gm_caps caps = mt_caps_generous();
	struct gm_error err = { 0 };
	struct gm_memory *mem = NULL;
	int p[2], before;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	before = test_open_fds();
	cr_assert_eq(gm_memory_import(&cfg, &caps, -1, p[0], &mem, &err), -EINVAL);
	cr_expect(strstr(err.msg, "is not guest memory (pipe:["), "%s", err.msg);
	cr_expect_eq(test_open_fds(), before);
	close(p[0]);
	close(p[1]);
}

Test(import, an_ordinary_file_is_refused)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 4096);
	struct gm_caps caps = mt_caps_generous();
	struct gm_error err = { 0 };
	struct gm_memory *mem = NULL;
	char path[] = "/tmp/gmvm-import-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(ftruncate(fd, 4096), 0);
	cr_assert_eq(gm_memory_import(&cfg, &caps, -1, fd, &mem, &err), -EINVAL);
	cr_expect(strstr(err.msg, "is not guest memory"), "%s", err.msg);
	close(fd);
}

Test(import, a_memfd_for_guest_memfd_and_a_wrong_page_size_are_refused)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, SIZE);
	struct gm_caps caps = mt_caps_generous();
	struct gm_error err = { 0 };
	struct gm_memory *orig = make_memfd(SIZE), *mem = NULL;

	cr_assert_eq(gm_memory_import(&cfg, &caps, -1, gm_memory_fd(orig), &mem, &err), -EINVAL);
	cr_expect(strstr(err.msg, "backend=guest-memfd memory is a memfd"), "%s", err.msg);

	gm_error_clear(&err);
	cfg = mt_cfg(GM_BACKEND_MEMFD, SIZE);
	cfg.page_size = GM_PAGE_2M;
	cr_assert_eq(gm_memory_import(&cfg, &caps, -1, gm_memory_fd(orig), &mem, &err), -EINVAL);
	cr_expect(strstr(err.msg, "has 4K pages and the region hugepages=2M"), "%s", err.msg);
	gm_memory_destroy(orig);
}

Test(import, a_read_only_fd_is_refused)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, SIZE);
	struct gm_caps caps = mt_caps_generous();
	struct gm_error err = { 0 };
	struct gm_memory *orig = make_memfd(SIZE), *mem = NULL;
	char path[64];
	int ro;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", gm_memory_fd(orig));
	ro = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(ro, 0, "%s", strerror(errno));
	cr_assert_eq(gm_memory_import(&cfg, &caps, -1, ro, &mem, &err), -EACCES);
	cr_expect(strstr(err.msg, "not open read-write"), "%s", err.msg);
	close(ro);
	gm_memory_destroy(orig);
}

Test(import, anon_is_refused_with_the_rehome_remedy)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_ANON, SIZE);
	struct gm_caps caps = mt_caps_generous();
	struct gm_error err = { 0 };
	struct gm_memory *mem = NULL;

	cr_assert_eq(gm_memory_import(&cfg, &caps, -1, -1, &mem, &err), -EOPNOTSUPP);
	cr_expect_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_expect(strstr(err.msg, "gmvm rehome --api-sock S ram backend=memfd"), "%s", err.msg);
	cr_expect_null(strchr(err.msg, '\n'), "one line");
}

Test(import, guest_memfd_without_direct_map_cannot_move)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, SIZE);
	struct gm_caps caps = mt_caps_generous();
	struct gm_error err = { 0 };
	struct gm_memory *mem = NULL;

	cfg.no_direct_map = true;
	cr_assert_eq(gm_memory_import(&cfg, &caps, -1, 0, &mem, &err), -EOPNOTSUPP);
	cr_expect(strstr(err.msg, "direct-map=off guest_memfd can only be bound gmem"), "%s", err.msg);
}

/* A hugetlb memfd made by hand, as the handover would bring it; skips without a pool. */
static int hugetlb_memfd(uint64_t size)
{
	int fd = memfd_create("gmvm-import-2m", MFD_CLOEXEC | MFD_HUGETLB | (21 << MFD_HUGE_SHIFT));
	void *p;

	if (fd < 0)
		cr_skip_test("this kernel cannot make a 2M hugetlb memfd: %s", strerror(errno));
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		cr_skip_test("the 2M hugetlb pool has fewer than %llu free pages (raise /proc/sys/vm/nr_hugepages)",
			     (unsigned long long)(size / GM_PAGE_2M));
	}
	memset(p, 0x5c, GM_PAGE_2M);
	memcpy((uint8_t *)p + GM_PAGE_2M, "second", 7);
	munmap(p, size);
	return fd;
}

Test(import, hugetlb_2M_memfd_shows_the_bytes)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, 4 * MT_MIB);
	struct gm_caps caps = mt_caps_generous();
	struct gm_error err = { 0 };
	struct gm_memory *mem = NULL;
	int fd = hugetlb_memfd(4 * MT_MIB), before = test_open_fds();
	uint8_t *n;

	cfg.page_size = GM_PAGE_2M;
	cr_assert_eq(gm_memory_import(&cfg, &caps, -1, fd, &mem, &err), 0, "%s", err.msg);
	n = gm_memory_hva(mem, 0, 4 * MT_MIB);
	cr_expect_eq((uintptr_t)n % GM_PAGE_2M, 0, "a 2M mapping must be 2M-aligned");
	cr_expect(mt_all_bytes(n, GM_PAGE_2M, 0x5c));
	cr_expect_str_eq((char *)n + GM_PAGE_2M, "second");
	cr_expect_eq(gm_memory_page_size(mem), GM_PAGE_2M);
	gm_memory_destroy(mem);
	cr_expect_eq(test_open_fds(), before);

	/* the same fd is not 4K memory */
	gm_error_clear(&err);
	cfg.page_size = GM_PAGE_4K;
	cr_assert_eq(gm_memory_import(&cfg, &caps, -1, fd, &mem, &err), -EINVAL);
	cr_expect(strstr(err.msg, "has 2M pages and the region hugepages=4K"), "%s", err.msg);
	close(fd);
}

/* --- with KVM: a guest runs on imported memory ------------------------- */

Test(import_kvm, a_guest_reads_and_writes_imported_memfd)
{
	struct gm_mem_config cfg = mt_cfg(GM_BACKEND_MEMFD, SIZE);
	struct gm_caps caps;
	struct gm_error err = { 0 };
	struct gm_memory *orig, *mem = NULL;
	struct mt_vm vm;

	mt_vm_open(&vm);
	caps = mt_caps_real();
	orig = make_memfd(SIZE);
	*(uint8_t *)gm_memory_hva(orig, 0x2000, 1) = 0x42;
	cr_assert_eq(gm_memory_import(&cfg, &caps, vm.vm_fd, gm_memory_fd(orig), &mem, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_memory_bind(mem, gm_memory_config(mem)->bind, &err), 0, "%s", err.msg);
	cr_expect_eq(mt_vm_peek_poke(&vm, mem), 0x42);
	cr_expect_eq(*(uint8_t *)gm_memory_hva(orig, 0x2001, 1), 0x5a, "the guest's write is not in the original memory");
	gm_memory_destroy(mem);
	gm_memory_destroy(orig);
	mt_vm_close(&vm);
}

Test(import_kvm, guest_memfd_into_a_second_vm_binds_mapped)
{
	struct gm_mem_config cfg;
	struct gm_caps caps;
	struct gm_error err = { 0 };
	struct gm_memory *orig = NULL, *mem = NULL;
	struct mt_vm a, b;

	mt_vm_open(&a);
	caps = mt_caps_real();
	cfg = mt_cfg(GM_BACKEND_GUEST_MEMFD, SIZE);
	if (gm_memory_check(&cfg, &caps, &err))
		cr_skip_test("no usable guest_memfd here: %s", err.msg);
	cr_assert_eq(gm_memory_create(&cfg, &caps, a.vm_fd, &orig, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_memory_bind(orig, GM_BIND_GMEM, &err), 0, "%s", err.msg);
	*(uint8_t *)gm_memory_hva(orig, 0x2000, 1) = 0x37;
	cr_assert_eq(mt_vm_peek_poke(&a, orig), 0x37);

	/* the first VM lets go (a live update's old process), the second takes over */
	mt_vm_open(&b);
	cr_assert_eq(gm_memory_import(&cfg, &caps, b.vm_fd, gm_memory_fd(orig), &mem, &err), 0, "%s", err.msg);
	cr_expect_eq(gm_memory_binding(mem), GM_BIND_MAPPED);
	cr_expect_eq(gm_mem_effective_bind(gm_memory_config(mem)), GM_BIND_MAPPED,
		     "an imported guest_memfd must not ask for the gmem binding");
	gm_memory_destroy(orig);
	mt_vm_close(&a);
	cr_expect_eq(gm_memory_bind(mem, GM_BIND_GMEM, &err), -EOPNOTSUPP, "an imported guest_memfd was bound gmem");
	cr_expect(strstr(err.msg, "binds a guest_memfd only to the VM that created it"), "%s", err.msg);
	gm_error_clear(&err);
	cr_assert_eq(gm_memory_bind(mem, gm_memory_config(mem)->bind, &err), 0, "%s", err.msg);
	*(uint8_t *)gm_memory_hva(mem, 0x2001, 1) = 0;
	cr_expect_eq(mt_vm_peek_poke(&b, mem), 0x37, "the second VM does not see the first one's memory");
	cr_expect_eq(*(uint8_t *)gm_memory_hva(mem, 0x2001, 1), 0x5a);
	gm_memory_destroy(mem);
	mt_vm_close(&b);
}
