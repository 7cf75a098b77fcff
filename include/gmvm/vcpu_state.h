/*
 * gm_vcpu_state: everything KVM keeps about one vCPU, in one plain struct
 * that can be got, set and (later) written to a state stream.  Only valid
 * while the machine is paused.
 */
#ifndef GMVM_VCPU_STATE_H
#define GMVM_VCPU_STATE_H

#include <stdint.h>
#include <linux/kvm.h>

/* Every MSR KVM_GET_MSR_INDEX_LIST names that the vCPU can read. */
#define GM_MAX_SAVED_MSRS 512
/* Bumped whenever the layout of gm_vcpu_state changes. */
#define GM_VCPU_STATE_VERSION 2

struct gm_msr {
	uint32_t index;
	uint32_t pad;
	uint64_t data;
};

struct gm_vcpu_state {
	uint32_t version; /* GM_VCPU_STATE_VERSION, set by get; set refuses others */
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp_state;
	struct kvm_debugregs debugregs;
	uint32_t nmsrs;
	struct gm_msr msrs[GM_MAX_SAVED_MSRS];
	/* last: newer <linux/kvm.h> end it with a flexible array */
	struct kvm_xsave xsave;
};

#endif
