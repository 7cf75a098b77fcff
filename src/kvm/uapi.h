/*
 * The KVM uAPI that Debian 12's <linux/kvm.h> (6.1) predates: guest_memfd,
 * USER_MEMORY2, memory attributes, pre-fault, VM types; and the manual dirty
 * log clear and the dirty ring, for headers older still.  Each definition is
 * guarded so a newer distro header wins, and the struct layouts are checked
 * with static asserts against the kernel's ABI.
 */
#ifndef GM_KVM_UAPI_H
#define GM_KVM_UAPI_H

#include <stddef.h>
#include <linux/kvm.h>

#ifndef KVM_CAP_VM_TYPES
#define KVM_CAP_VM_TYPES 235
#endif
#ifndef KVM_CAP_USER_MEMORY2
#define KVM_CAP_USER_MEMORY2 231
#endif
#ifndef KVM_CAP_MEMORY_FAULT_INFO
#define KVM_CAP_MEMORY_FAULT_INFO 232
#endif
#ifndef KVM_CAP_MEMORY_ATTRIBUTES
#define KVM_CAP_MEMORY_ATTRIBUTES 233
#endif
#ifndef KVM_CAP_GUEST_MEMFD
#define KVM_CAP_GUEST_MEMFD 234
#endif
#ifndef KVM_CAP_PRE_FAULT_MEMORY
#define KVM_CAP_PRE_FAULT_MEMORY 236
#endif
#ifndef KVM_CAP_GUEST_MEMFD_FLAGS
#define KVM_CAP_GUEST_MEMFD_FLAGS 244
#endif
#ifndef KVM_CAP_DIRTY_LOG_RING_ACQ_REL
#define KVM_CAP_DIRTY_LOG_RING_ACQ_REL 223
#endif

/* Dirty logging with a separate clear (Linux 5.3); Debian 12 has these, older headers may not. */
#ifndef KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2
#define KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 168
#endif
#ifndef KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE
#define KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE (1 << 0)
#endif
#ifndef KVM_CLEAR_DIRTY_LOG
struct kvm_clear_dirty_log {
	__u32 slot;
	__u32 num_pages;
	__u64 first_page;
	union {
		void *dirty_bitmap; /* one bit per page */
		__u64 padding2;
	};
};
#define KVM_CLEAR_DIRTY_LOG _IOWR(KVMIO, 0xc0, struct kvm_clear_dirty_log)
#endif

/* The dirty ring (Linux 5.11; Debian 12 has it, older headers may not). */
#ifndef KVM_CAP_DIRTY_LOG_RING
#define KVM_CAP_DIRTY_LOG_RING 192
#endif
#ifndef KVM_EXIT_DIRTY_RING_FULL
#define KVM_EXIT_DIRTY_RING_FULL 31
#endif
#ifndef KVM_RESET_DIRTY_RINGS
#define KVM_RESET_DIRTY_RINGS _IO(KVMIO, 0xc7)
#endif
#ifndef KVM_DIRTY_GFN_F_DIRTY
#define KVM_DIRTY_GFN_F_DIRTY (1u << 0)
#define KVM_DIRTY_GFN_F_RESET (1u << 1)
struct kvm_dirty_gfn {
	__u32 flags;
	__u32 slot; /* address space << 16 | slot id */
	__u64 offset; /* in pages, from the slot's start */
};
#endif
/* x86's value; <linux/kvm.h> falls back to 0 when <asm/kvm.h> predates the ring. */
#if !defined(KVM_DIRTY_LOG_PAGE_OFFSET) || KVM_DIRTY_LOG_PAGE_OFFSET == 0
#undef KVM_DIRTY_LOG_PAGE_OFFSET
#define KVM_DIRTY_LOG_PAGE_OFFSET 64
#endif

#ifndef KVM_MEM_GUEST_MEMFD
#define KVM_MEM_GUEST_MEMFD (1u << 2)
#endif

#ifndef KVM_X86_DEFAULT_VM
#define KVM_X86_DEFAULT_VM 0
#endif
/* A VM type with private memory and no hardware protection (Linux 6.8, x86, KVM_SW_PROTECTED_VM=y). */
#ifndef KVM_X86_SW_PROTECTED_VM
#define KVM_X86_SW_PROTECTED_VM 1
#endif

#ifndef KVM_SET_USER_MEMORY_REGION2
struct kvm_userspace_memory_region2 {
	__u32 slot;
	__u32 flags;
	__u64 guest_phys_addr;
	__u64 memory_size;
	__u64 userspace_addr;
	__u64 guest_memfd_offset;
	__u32 guest_memfd;
	__u32 pad1;
	__u64 pad2[14];
};
#define KVM_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct kvm_userspace_memory_region2)
#endif

#ifndef KVM_CREATE_GUEST_MEMFD
struct kvm_create_guest_memfd {
	__u64 size;
	__u64 flags;
	__u64 reserved[6];
};
#define KVM_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd)
#endif

/* KVM_CREATE_GUEST_MEMFD flags, listed by KVM_CAP_GUEST_MEMFD_FLAGS (Linux 6.18). */
#ifndef GUEST_MEMFD_FLAG_MMAP
#define GUEST_MEMFD_FLAG_MMAP (1ULL << 0)
#endif
#ifndef GUEST_MEMFD_FLAG_INIT_SHARED
#define GUEST_MEMFD_FLAG_INIT_SHARED (1ULL << 1)
#endif
/*
 * Not merged: the series "Direct Map Removal Support for guest_memfd"
 * (v12, April 2026; patch 10/16 "KVM: guest_memfd: Add flag to remove from
 * direct map") takes the folios out of the kernel's direct map
 * (AS_NO_DIRECT_MAP) and lists the flag in KVM_CAP_GUEST_MEMFD_FLAGS.
 * (Versions before INIT_SHARED was merged used 1ULL << 1 and a
 * KVM_CAP_GUEST_MEMFD_NO_DIRECT_MAP; gmvm follows the current one.)
 */
#ifndef GUEST_MEMFD_FLAG_NO_DIRECT_MAP
#define GUEST_MEMFD_FLAG_NO_DIRECT_MAP (1ULL << 2)
#endif

#ifndef KVM_SET_MEMORY_ATTRIBUTES
struct kvm_memory_attributes {
	__u64 address;
	__u64 size;
	__u64 attributes;
	__u64 flags;
};
#define KVM_SET_MEMORY_ATTRIBUTES _IOW(KVMIO, 0xd2, struct kvm_memory_attributes)
#define KVM_MEMORY_ATTRIBUTE_PRIVATE (1ULL << 3)
#endif

#ifndef KVM_PRE_FAULT_MEMORY
struct kvm_pre_fault_memory {
	__u64 gpa;
	__u64 size;
	__u64 flags;
	__u64 padding[5];
};
#define KVM_PRE_FAULT_MEMORY _IOWR(KVMIO, 0xd5, struct kvm_pre_fault_memory)
#endif

/*
 * Not upstream: the RFC "KVM: guest_mem: Add ioctl KVM_LINK_GUEST_MEMFD" (v2,
 * May 2025) lets a guest_memfd another VM made be bound in this one: on
 * the new VM's fd it returns a new guest_memfd over the same inode.  No
 * capability names it; the ioctl itself is the probe (caps.c).
 */
struct gm_kvm_link_guest_memfd {
	__u64 fd;
	__u64 flags;
	__u64 reserved[6];
};
#define GM_KVM_LINK_GUEST_MEMFD _IOWR(KVMIO, 0xd6, struct gm_kvm_link_guest_memfd)

_Static_assert(sizeof(struct kvm_userspace_memory_region2) == 160,
	       "kvm_userspace_memory_region2 must match the kernel ABI");
_Static_assert(offsetof(struct kvm_userspace_memory_region2, guest_memfd) == 40,
	       "kvm_userspace_memory_region2.guest_memfd offset");
_Static_assert(sizeof(struct kvm_create_guest_memfd) == 64,
	       "kvm_create_guest_memfd must match the kernel ABI");
_Static_assert(sizeof(struct kvm_clear_dirty_log) == 24,
	       "kvm_clear_dirty_log must match the kernel ABI");
_Static_assert(offsetof(struct kvm_clear_dirty_log, dirty_bitmap) == 16,
	       "kvm_clear_dirty_log.dirty_bitmap offset");
_Static_assert(sizeof(struct kvm_dirty_gfn) == 16, "kvm_dirty_gfn must match the kernel ABI");
_Static_assert(sizeof(struct kvm_pre_fault_memory) == 64,
	       "kvm_pre_fault_memory must match the kernel ABI");

#endif
