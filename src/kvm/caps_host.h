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

/* KVM runs here (caller knows) without VMX or SVM on the host CPU: guest CPL0 is emulated. */
bool gm_caps_probe_cpl0_emulated(void);

#endif
