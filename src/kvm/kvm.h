/*
 * kvm/: the /dev/kvm fd, VM and vCPU fds.  Thin, honest wrappers: each
 * returns 0 / a new fd or a negative errno and says in err which ioctl
 * failed and why.  Knows nothing about memory policy or devices.
 */
#ifndef GM_KVM_H
#define GM_KVM_H

#include <stdint.h>

#include "gmvm/error.h"
#include "kvm/uapi.h"

/* Open /dev/kvm and check the API version (12).  Returns the fd. */
int gm_kvm_open(struct gm_error *err);

/* KVM_CHECK_EXTENSION on fd (system or VM fd); 0 when absent or on error. */
long gm_kvm_check(int fd, long cap);

/* KVM_CREATE_VM of KVM_X86_DEFAULT_VM; returns the VM fd. */
int gm_kvm_create_vm(int kvm_fd, struct gm_error *err);

/*
 * The split irqchip: LAPICs in the kernel, ioapic_pins GSIs reserved for a
 * userspace IOAPIC; no PIC, no PIT.  Before any vCPU exists.
 */
int gm_kvm_create_split_irqchip(int vm_fd, unsigned ioapic_pins, struct gm_error *err);

/* KVM_SIGNAL_MSI: deliver the MSI (address, data); 0 or -errno. */
int gm_kvm_signal_msi(int vm_fd, uint32_t address, uint32_t data);

/* KVM_SET_GSI_ROUTING to exactly these MSI routes (gsi[i] -> address[i], data[i]). */
int gm_kvm_set_msi_routes(int vm_fd, unsigned n, const unsigned *gsi, const uint32_t *address,
			  const uint32_t *data);

/* KVM_CREATE_VCPU; returns the vCPU fd. */
int gm_kvm_create_vcpu(int vm_fd, unsigned id, struct gm_error *err);

/* mmap the vCPU's struct kvm_run; NULL on failure (err filled). */
struct kvm_run *gm_kvm_map_run(int kvm_fd, int vcpu_fd, struct gm_error *err);
void gm_kvm_unmap_run(int kvm_fd, struct kvm_run *run);

/* KVM_SET_USER_MEMORY_REGION2 (size 0 deletes the slot). */
int gm_kvm_set_memslot(int vm_fd, const struct kvm_userspace_memory_region2 *r,
		       struct gm_error *err);

/* KVM_CREATE_GUEST_MEMFD; returns the guest_memfd fd. */
int gm_kvm_create_guest_memfd(int vm_fd, uint64_t size, uint64_t flags, struct gm_error *err);

/* Retry an ioctl on EINTR/EAGAIN; returns its result or -errno.  Not for
 * KVM_RUN, where EINTR is how a pause request arrives. */
int gm_ioctl(int fd, unsigned long req, void *arg);

#endif
