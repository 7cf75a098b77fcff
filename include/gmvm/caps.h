/*
 * gm_caps: what this kernel and machine can do for guest memory, probed once
 * from the live /dev/kvm, sysfs and procfs.  Nothing in libgmvm assumes a
 * feature: it asks gm_caps.
 */
#ifndef GMVM_CAPS_H
#define GMVM_CAPS_H

#include <stdbool.h>
#include <stdint.h>

#include "gmvm/error.h"

/* guest_memfd creation flags (KVM_CAP_GUEST_MEMFD_FLAGS bits). */
#define GM_GMEM_FLAG_MMAP          (UINT64_C(1) << 0)
#define GM_GMEM_FLAG_INIT_SHARED   (UINT64_C(1) << 1)
/*
 * Proposed: "Direct Map Removal Support for guest_memfd" (v12, patch 10/16
 * "KVM: guest_memfd: Add flag to remove from direct map") defines
 * GUEST_MEMFD_FLAG_NO_DIRECT_MAP as 1ULL << 2 and lists it in
 * KVM_CAP_GUEST_MEMFD_FLAGS.
 */
#define GM_GMEM_FLAG_NO_DIRECT_MAP (UINT64_C(1) << 2)

/* KVM_CAP_VM_TYPES bits and KVM_CAP_MEMORY_ATTRIBUTES bits gmvm asks about. */
#define GM_VM_TYPE_SW_PROTECTED    (UINT64_C(1) << 1) /* KVM_X86_SW_PROTECTED_VM */
#define GM_MEM_ATTR_PRIVATE        (UINT64_C(1) << 3) /* KVM_MEMORY_ATTRIBUTE_PRIVATE */

/*
 * The host's memory-management settings that decide which host features can
 * act on guest memory (mem/guarantees.c turns them into the guarantees).
 * -1 or "": could not be read (no such file: the feature is not built in).
 */
struct gm_host_mm {
	int ksm_run;                 /* /sys/kernel/mm/ksm/run: 0 stopped, 1 merging, 2 unmerging */
	char thp_enabled[16];        /* transparent_hugepage/enabled: always, madvise, never */
	char thp_defrag[24];         /* transparent_hugepage/defrag */
	char thp_shmem[16];          /* transparent_hugepage/shmem_enabled: always, within_size, advise, never, deny, force */
	int numa_balancing;          /* /proc/sys/kernel/numa_balancing (0 off; 1, 2 or 3 on) */
	int64_t swap_total;          /* SwapTotal in bytes */
	int compact_unevictable;     /* /proc/sys/vm/compact_unevictable_allowed: 1 mlocked pages may move */
};

#define GM_MAX_HUGETLB_SIZES 4

struct gm_hugetlb_pool {
	uint64_t page_size; /* bytes */
	long total;         /* nr_hugepages */
	long free;          /* free_hugepages */
};

struct gm_caps {
	bool kvm;                    /* /dev/kvm opened and API version 12 */
	int api_version;
	uint64_t vm_types;           /* KVM_CAP_VM_TYPES bitmap */
	unsigned max_vcpus;          /* KVM_CAP_MAX_VCPUS */
	bool irqchip;                /* KVM_CAP_SPLIT_IRQCHIP: in-kernel LAPICs */

	bool guest_memfd;            /* KVM_CAP_GUEST_MEMFD */
	uint64_t gmem_flags;         /* KVM_CAP_GUEST_MEMFD_FLAGS */
	bool user_memory2;           /* KVM_CAP_USER_MEMORY2 */
	uint64_t memory_attributes;  /* KVM_CAP_MEMORY_ATTRIBUTES bitmap */
	bool pre_fault_memory;       /* KVM_CAP_PRE_FAULT_MEMORY */
	bool memory_fault_info;      /* KVM_CAP_MEMORY_FAULT_INFO */
	bool readonly_mem;           /* KVM_CAP_READONLY_MEM */
	bool dirty_log;              /* KVM_GET_DIRTY_LOG (always on x86) */
	bool dirty_log_manual;       /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: collect, then clear */
	uint64_t dirty_ring_bytes;   /* KVM_CAP_DIRTY_LOG_RING, 0 = none */
	bool dirty_ring_acq_rel;     /* KVM_CAP_DIRTY_LOG_RING_ACQ_REL */
	unsigned nr_memslots;        /* KVM_CAP_NR_MEMSLOTS */

	int n_hugetlb;
	struct gm_hugetlb_pool hugetlb[GM_MAX_HUGETLB_SIZES];

	bool memfd_secret;           /* memfd_secret(2) works (GM_PROBE_FULL only) */
	bool userfaultfd;            /* userfaultfd(2) works (GM_PROBE_FULL only) */
	bool uffd_probed;            /* uffd_on_gmem was tried (GM_PROBE_FULL) */
	int uffd_on_gmem;            /* 0: registers on guest_memfd; else errno */

	int numa_nodes;              /* online NUMA nodes (>= 1) */
	uint64_t numa_node_mask;     /* bit n: node n online (nodes 0..63) */
	uint64_t host_ram;           /* MemTotal in bytes */

	/*
	 * guest_memfd folios can migrate (compaction, offlining, NUMA), so
	 * movable=on works on guest-memfd.  No released kernel can: guest_memfd
	 * marks its mapping unmovable.  The RFC "KVM: guest_memfd: folio
	 * migration for non-confidential VMs" lifts that for VMs without private
	 * memory but adds no uAPI to ask; probe_gmem_movable (kvm/caps_host.c)
	 * says how such a kernel is recognised.
	 */
	bool gmem_movable;
	/*
	 * KVM_LINK_GUEST_MEMFD (RFC, not upstream): a guest_memfd another VM
	 * created can be bound gmem in a new VM, so a live update keeps the gmem
	 * binding.  Without it the new process binds such memory mapped.
	 */
	bool gmem_link;
	struct gm_host_mm host_mm;
	/* Pinning (movable=off) locks memory: RLIMIT_MEMLOCK or CAP_IPC_LOCK decide how much. */
	bool memlock_probed;         /* the next two were read (gm_caps_probe does, always) */
	uint64_t memlock_limit;      /* soft RLIMIT_MEMLOCK in bytes, UINT64_MAX: unlimited */
	bool cap_ipc_lock;           /* CAP_IPC_LOCK effective: no limit applies */
	char kernel_release[65];     /* uname -r */
	/*
	 * KVM works but the host CPU shows neither VMX nor SVM (PVM-style
	 * software virtualization): guest CPL0 code then runs in KVM's
	 * instruction emulator, which lacks cmpxchg16b and xsave/xrstor, so
	 * the default --cpu template hides cx16 and xsave.
	 */
	bool cpl0_emulated;
};

enum gm_probe_flags {
	GM_PROBE_FAST = 0,      /* what `gmvm run` needs */
	GM_PROBE_FULL = 1 << 0, /* also memfd_secret, userfaultfd and uffd on guest_memfd */
};

/*
 * Probe the kernel.  Fails only when /dev/kvm cannot be opened or speaks the
 * wrong API version (err->status GM_STATUS_NO_KERNEL); everything else is
 * recorded as present or absent.
 */
int gm_caps_probe(struct gm_caps *caps, unsigned flags, struct gm_error *err);

/* Free hugetlb pool for page_size, or NULL when the kernel has no such size. */
const struct gm_hugetlb_pool *gm_caps_hugetlb(const struct gm_caps *caps, uint64_t page_size);

#endif
