/*
 * kvm/kvm.c: the /dev/kvm fd, VM and vCPU fds, memslots and guest_memfd
 * creation.  Each wrapper issues one ioctl (or a fixed pair) and, on failure,
 * says in err which call failed, why, and what to do about it.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm/kvm.h"

#define GM_KVM_DEV "/dev/kvm"

int gm_ioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret < 0 && (errno == EINTR || errno == EAGAIN));
	return ret < 0 ? -errno : ret;
}

int gm_kvm_open(struct gm_error *err)
{
	int fd = open(GM_KVM_DEV, O_RDWR | O_CLOEXEC);
	int version;

	if (fd < 0) {
		int e = errno;

		if (e == EACCES || e == EPERM)
			return gm_fail(err, GM_STATUS_NO_KERNEL, e,
				       "cannot open %s: %s; run as root or add the user to the kvm group",
				       GM_KVM_DEV, strerror(e));
		return gm_fail(err, GM_STATUS_NO_KERNEL, e,
			       "cannot open %s: %s; load kvm-intel/kvm-amd or run where KVM is available",
			       GM_KVM_DEV, strerror(e));
	}
	version = gm_ioctl(fd, KVM_GET_API_VERSION, NULL);
	if (version != KVM_API_VERSION) {
		int e = version < 0 ? -version : EPROTO;

		close(fd);
		if (version < 0)
			return gm_fail(err, GM_STATUS_NO_KERNEL, e,
				       "KVM_GET_API_VERSION on %s failed: %s; this is not a usable KVM device",
				       GM_KVM_DEV, strerror(e));
		return gm_fail(err, GM_STATUS_NO_KERNEL, e,
			       "%s speaks KVM API version %d, gmvm needs %d; use a mainline Linux KVM",
			       GM_KVM_DEV, version, KVM_API_VERSION);
	}
	return fd;
}

long gm_kvm_check(int fd, long cap)
{
	int ret = gm_ioctl(fd, KVM_CHECK_EXTENSION, (void *)cap);

	return ret < 0 ? 0 : ret;
}

int gm_kvm_create_vm(int kvm_fd, struct gm_error *err)
{
	int fd = gm_ioctl(kvm_fd, KVM_CREATE_VM, (void *)(long)KVM_X86_DEFAULT_VM);

	if (fd < 0)
		return gm_fail(err, fd == -EINVAL ? GM_STATUS_NO_KERNEL : GM_STATUS_FAILURE, -fd,
			       "KVM_CREATE_VM failed: %s; check that KVM is loaded and memory is available",
			       strerror(-fd));
	/* Today's KVM sets O_CLOEXEC itself; guest_memfd does not, so every
	 * fd this file hands out is made close-on-exec explicitly. */
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

int gm_kvm_create_split_irqchip(int vm_fd, unsigned ioapic_pins, struct gm_error *err)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_SPLIT_IRQCHIP, .args = { ioapic_pins } };
	int ret = gm_ioctl(vm_fd, KVM_ENABLE_CAP, &cap);

	if (ret < 0)
		return gm_fail(err, GM_STATUS_NO_KERNEL, -ret,
			       "enabling KVM_CAP_SPLIT_IRQCHIP failed: %s; gmvm needs KVM's in-kernel LAPIC (Linux 4.5 or later)",
			       strerror(-ret));
	return 0;
}

int gm_kvm_signal_msi(int vm_fd, uint32_t address, uint32_t data)
{
	struct kvm_msi msi = { .address_lo = address, .data = data };
	int ret = gm_ioctl(vm_fd, KVM_SIGNAL_MSI, &msi);

	return ret < 0 ? ret : 0;
}

int gm_kvm_set_msi_routes(int vm_fd, unsigned n, const unsigned *gsi, const uint32_t *address,
			  const uint32_t *data)
{
	struct kvm_irq_routing *table = calloc(1, sizeof(*table) + n * sizeof(table->entries[0]));
	int ret;

	if (!table)
		return -ENOMEM;
	table->nr = n;
	for (unsigned i = 0; i < n; i++) {
		table->entries[i].gsi = gsi[i];
		table->entries[i].type = KVM_IRQ_ROUTING_MSI;
		table->entries[i].u.msi.address_lo = address[i];
		table->entries[i].u.msi.data = data[i];
	}
	ret = gm_ioctl(vm_fd, KVM_SET_GSI_ROUTING, table);
	free(table);
	return ret < 0 ? ret : 0;
}

int gm_kvm_create_vcpu(int vm_fd, unsigned id, struct gm_error *err)
{
	int fd = gm_ioctl(vm_fd, KVM_CREATE_VCPU, (void *)(unsigned long)id);

	if (fd < 0) {
		if (fd == -EINVAL)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "KVM_CREATE_VCPU %u refused (id taken or above this KVM's limit of %ld); use fewer vCPUs",
				       id, gm_kvm_check(vm_fd, KVM_CAP_MAX_VCPUS));
		return gm_fail(err, GM_STATUS_FAILURE, -fd,
			       "KVM_CREATE_VCPU %u failed: %s; check host memory and limits",
			       id, strerror(-fd));
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

struct kvm_run *gm_kvm_map_run(int kvm_fd, int vcpu_fd, struct gm_error *err)
{
	int size = gm_ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	void *run;

	if (size < 0) {
		gm_fail(err, GM_STATUS_FAILURE, -size,
			"KVM_GET_VCPU_MMAP_SIZE failed: %s; pass the /dev/kvm fd, not a VM fd",
			strerror(-size));
		return NULL;
	}
	if ((size_t)size < sizeof(struct kvm_run)) {
		gm_fail(err, GM_STATUS_NO_KERNEL, EPROTO,
			"KVM reports a vCPU mmap size of %d, smaller than struct kvm_run (%zu); kernel and headers disagree",
			size, sizeof(struct kvm_run));
		return NULL;
	}
	run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	if (run == MAP_FAILED) {
		int e = errno;

		gm_fail(err, GM_STATUS_FAILURE, e, "mmap of the vCPU's kvm_run (%d bytes) failed: %s",
			size, strerror(e));
		return NULL;
	}
	return run;
}

void gm_kvm_unmap_run(int kvm_fd, struct kvm_run *run)
{
	int size;

	if (!run)
		return;
	size = gm_ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
	if (size > 0)
		munmap(run, (size_t)size);
}

/* Kernels before USER_MEMORY2 only know the old call; it suffices for any slot
 * that does not name a guest_memfd. */
static int set_memslot_v1(int vm_fd, const struct kvm_userspace_memory_region2 *r)
{
	struct kvm_userspace_memory_region v1 = {
		.slot = r->slot,
		.flags = r->flags,
		.guest_phys_addr = r->guest_phys_addr,
		.memory_size = r->memory_size,
		.userspace_addr = r->userspace_addr,
	};

	return gm_ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &v1);
}

int gm_kvm_set_memslot(int vm_fd, const struct kvm_userspace_memory_region2 *r,
		       struct gm_error *err)
{
	struct kvm_userspace_memory_region2 copy = *r;
	bool gmem = r->flags & KVM_MEM_GUEST_MEMFD;
	int ret;

	ret = gm_ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION2, &copy);
	if (ret == -ENOTTY && !gmem)
		ret = set_memslot_v1(vm_fd, r);
	if (ret == 0)
		return 0;

	if (ret == -ENOTTY)
		return gm_fail(err, GM_STATUS_NO_KERNEL, ENOTTY,
			       "this kernel has no KVM_SET_USER_MEMORY_REGION2, so guest_memfd memslots are impossible; use backend=memfd");
	if (ret == -EINVAL && gmem && (r->flags & KVM_MEM_LOG_DIRTY_PAGES))
		return gm_fail(err, GM_STATUS_NO_KERNEL, EINVAL,
			       "memslot %u: this kernel cannot log dirty pages of a guest_memfd memslot; bind the memory in mapped mode",
			       r->slot);
	if (ret == -EEXIST)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EEXIST,
			       "memslot %u at 0x%" PRIx64 " (+0x%" PRIx64 ") overlaps another memslot; fix the memory layout",
			       r->slot, (uint64_t)r->guest_phys_addr, (uint64_t)r->memory_size);
	return gm_fail(err, ret == -EINVAL ? GM_STATUS_BAD_INPUT : GM_STATUS_FAILURE, -ret,
		       "KVM_SET_USER_MEMORY_REGION2 slot %u gpa 0x%" PRIx64 " size 0x%" PRIx64
		       " flags 0x%x%s failed: %s; check alignment, slot limits and the memory's fd",
		       r->slot, (uint64_t)r->guest_phys_addr, (uint64_t)r->memory_size, r->flags,
		       gmem ? " (guest_memfd)" : "", strerror(-ret));
}

int gm_kvm_create_guest_memfd(int vm_fd, uint64_t size, uint64_t flags, struct gm_error *err)
{
	struct kvm_create_guest_memfd req = { .size = size, .flags = flags };
	long page = sysconf(_SC_PAGESIZE);
	int fd;

	fd = gm_ioctl(vm_fd, KVM_CREATE_GUEST_MEMFD, &req);
	if (fd >= 0) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		return fd;
	}

	/* The kernel answers EINVAL for several causes; name the one that applies. */
	if (fd == -ENOTTY)
		return gm_fail(err, GM_STATUS_NO_KERNEL, ENOTTY,
			       "this kernel has no guest_memfd (KVM_CREATE_GUEST_MEMFD); use backend=memfd");
	if (fd == -EINVAL && (size == 0 || size % (uint64_t)page))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "guest_memfd size %" PRIu64 " is not a positive multiple of the page size (%ld); round the memory size up",
			       size, page);
	if (fd == -EINVAL) {
		uint64_t supported = (uint64_t)gm_kvm_check(vm_fd, KVM_CAP_GUEST_MEMFD_FLAGS);

		if (flags & ~supported)
			return gm_fail(err, GM_STATUS_NO_KERNEL, EINVAL,
				       "guest_memfd flags 0x%" PRIx64 " not supported by this kernel (supported: 0x%" PRIx64 "); drop the unsupported options",
				       flags & ~supported, supported);
	}
	return gm_fail(err, GM_STATUS_FAILURE, -fd,
		       "KVM_CREATE_GUEST_MEMFD (size %" PRIu64 ", flags 0x%" PRIx64 ") failed: %s; check host memory and limits",
		       size, flags, strerror(-fd));
}
