/* Unit tests for kvm/kvm.c: the /dev/kvm, VM, vCPU, memslot and guest_memfd
 * wrappers, against the real /dev/kvm. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "gmvm/caps.h"
#include "kvm/kvm.h"

#define MiB (UINT64_C(1) << 20)

static int kvm_fd = -1, vm_fd = -1;

static void open_vm(void)
{
	struct gm_error err = { 0 };

	if (access("/dev/kvm", F_OK) != 0)
		cr_skip_test("/dev/kvm is missing on this machine");
	kvm_fd = gm_kvm_open(&err);
	cr_assert_geq(kvm_fd, 0, "gm_kvm_open: %s", err.msg);
	vm_fd = gm_kvm_create_vm(kvm_fd, &err);
	cr_assert_geq(vm_fd, 0, "gm_kvm_create_vm: %s", err.msg);
}

static void close_vm(void)
{
	if (vm_fd >= 0)
		close(vm_fd);
	if (kvm_fd >= 0)
		close(kvm_fd);
}

TestSuite(kvm, .init = open_vm, .fini = close_vm);

Test(kvm, open_answers_api_version_12_and_is_cloexec)
{
	cr_assert_eq(gm_ioctl(kvm_fd, KVM_GET_API_VERSION, NULL), 12);
	cr_assert(fcntl(kvm_fd, F_GETFD) & FD_CLOEXEC);
	cr_assert(fcntl(vm_fd, F_GETFD) & FD_CLOEXEC);
}

Test(kvm, check_reports_zero_for_unknown_capability)
{
	cr_assert_eq(gm_kvm_check(kvm_fd, 0x7fff0000), 0);
	cr_assert_eq(gm_kvm_check(kvm_fd, KVM_CAP_USER_MEMORY), 1);
}

Test(kvm, split_irqchip_created_once_then_eexist)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_kvm_create_split_irqchip(vm_fd, 24, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_kvm_create_split_irqchip(vm_fd, 24, &err), -EEXIST);
	cr_assert(strstr(err.msg, "KVM_CAP_SPLIT_IRQCHIP"), "message: %s", err.msg);
}

Test(kvm, msi_routes_need_the_irqchip)
{
	struct gm_error err = { 0 };
	unsigned gsi[2] = { 4, 9 };
	uint32_t address[2] = { 0xfee00000, 0xfee01000 }, data[2] = { 0xc040, 0xc041 };

	cr_assert_eq(gm_kvm_set_msi_routes(vm_fd, 2, gsi, address, data), -EINVAL,
		     "routes before an irqchip exists must be refused");
	cr_assert_eq(gm_kvm_create_split_irqchip(vm_fd, 24, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_kvm_set_msi_routes(vm_fd, 2, gsi, address, data), 0);
	cr_assert_eq(gm_kvm_set_msi_routes(vm_fd, 0, NULL, NULL, NULL), 0, "an empty table clears the routes");
}

Test(kvm, vcpu_run_area_maps)
{
	struct gm_error err = { 0 };
	int vcpu = gm_kvm_create_vcpu(vm_fd, 0, &err);
	struct kvm_run *run;

	cr_assert_geq(vcpu, 0, "%s", err.msg);
	run = gm_kvm_map_run(kvm_fd, vcpu, &err);
	cr_assert_not_null(run, "%s", err.msg);
	cr_assert_eq(run->exit_reason, KVM_EXIT_UNKNOWN);
	gm_kvm_unmap_run(kvm_fd, run);
	cr_assert_lt(gm_kvm_create_vcpu(vm_fd, 0, &err), 0, "a second vCPU 0 must be refused");
	close(vcpu);
}

Test(kvm, gmem_size_zero_is_einval)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_kvm_create_guest_memfd(vm_fd, 0, 0, &err), -EINVAL);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert(strstr(err.msg, "not a positive multiple of the page size"), "message: %s", err.msg);
}

Test(kvm, gmem_unaligned_size_is_einval)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_kvm_create_guest_memfd(vm_fd, MiB + 1, 0, &err), -EINVAL);
	cr_assert(strstr(err.msg, "guest_memfd size 1048577"), "message: %s", err.msg);
}

Test(kvm, gmem_unknown_flag_is_einval)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_kvm_create_guest_memfd(vm_fd, 2 * MiB, UINT64_C(1) << 40, &err), -EINVAL);
	cr_assert_eq(err.status, GM_STATUS_NO_KERNEL);
	cr_assert(strstr(err.msg, "flags 0x10000000000 not supported"), "message: %s", err.msg);
}

Test(kvm, gmem_mmap_shared_reads_zero_and_keeps_writes)
{
	uint64_t want = GM_GMEM_FLAG_MMAP | GM_GMEM_FLAG_INIT_SHARED;
	struct gm_error err = { 0 };
	unsigned char *a, *b;
	int fd;

	if ((gm_kvm_check(vm_fd, KVM_CAP_GUEST_MEMFD_FLAGS) & want) != want)
		cr_skip_test("guest_memfd on this kernel lacks MMAP|INIT_SHARED");
	fd = gm_kvm_create_guest_memfd(vm_fd, 2 * MiB, want, &err);
	cr_assert_geq(fd, 0, "%s", err.msg);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);

	a = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert_neq(a, MAP_FAILED, "mmap: %s", strerror(errno));
	cr_assert_eq(a[0], 0);
	cr_assert_eq(a[2 * MiB - 1], 0);
	memset(a, 0xa5, 2 * MiB);

	/* A second mapping sees the same pages: the memory is the fd's. */
	b = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0);
	cr_assert_neq(b, MAP_FAILED);
	cr_assert_eq(b[12345], 0xa5);
	cr_assert_eq(b[2 * MiB - 1], 0xa5);

	cr_assert_eq(mmap(NULL, 2 * MiB, PROT_READ, MAP_PRIVATE, fd, 0), MAP_FAILED);
	cr_assert_eq(errno, EINVAL);
	munmap(a, 2 * MiB);
	munmap(b, 2 * MiB);
	close(fd);
}

Test(kvm, gmem_without_mmap_flag_cannot_be_mapped)
{
	struct gm_error err = { 0 };
	int fd = gm_kvm_create_guest_memfd(vm_fd, 2 * MiB, 0, &err);

	cr_assert_geq(fd, 0, "%s", err.msg);
	cr_assert_eq(mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, 0), MAP_FAILED);
	cr_assert_eq(errno, ENODEV);
	close(fd);
}

Test(kvm, memslot_anon_binds_and_gmem_dirty_log_is_refused)
{
	struct gm_error err = { 0 };
	void *mem = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = 2 * MiB,
		.userspace_addr = (uintptr_t)mem,
	};
	int gmem;

	cr_assert_neq(mem, MAP_FAILED);
	cr_assert_eq(gm_kvm_set_memslot(vm_fd, &r, &err), 0, "%s", err.msg);

	gmem = gm_kvm_create_guest_memfd(vm_fd, 2 * MiB, 0, &err);
	cr_assert_geq(gmem, 0, "%s", err.msg);
	r.slot = 1;
	r.guest_phys_addr = 4 * MiB;
	r.flags = KVM_MEM_GUEST_MEMFD | KVM_MEM_LOG_DIRTY_PAGES;
	r.guest_memfd = (uint32_t)gmem;
	cr_assert_eq(gm_kvm_set_memslot(vm_fd, &r, &err), -EINVAL);
	cr_assert_eq(err.status, GM_STATUS_NO_KERNEL);
	cr_assert(strstr(err.msg, "cannot log dirty pages"), "message: %s", err.msg);
	close(gmem);
	munmap(mem, 2 * MiB);
}
