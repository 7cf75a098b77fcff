/* kvm/caps_host.h: the host-side parts of the capability probe (caps_host.c). */
#ifndef GM_KVM_CAPS_HOST_H
#define GM_KVM_CAPS_HOST_H

#include "gmvm/caps.h"

/* KSM, THP, NUMA balancing, swap and compaction settings; unreadable ones as -1 or "". */
void gm_caps_probe_host_mm(struct gm_host_mm *h);

/* RLIMIT_MEMLOCK and CAP_IPC_LOCK of this process. */
void gm_caps_probe_memlock(struct gm_caps *caps);

/* Whether guest_memfd folios can migrate on this kernel (see the function). */
void gm_caps_probe_gmem_movable(struct gm_caps *caps);

/*
 * 0, or the errno with which userfaultfd refuses missing-page faults on a
 * guest_memfd of vm_fd made with gmem_flags: the full probe's question,
 * asked of a VM that exists, with no new VM and nothing else probed, so
 * a running machine's migration thread may ask it (postcopy's check).
 */
int gm_caps_uffd_on_gmem(int vm_fd, uint64_t gmem_flags);

/* KVM runs here (caller knows) without VMX or SVM on the host CPU: guest CPL0 is emulated. */
bool gm_caps_probe_cpl0_emulated(void);

#endif
