/*
 * gm_vcpu_state: everything KVM keeps about one vCPU, in one plain struct
 * that can be got, set and (later) written to a state stream.  Only valid
 * while the machine is paused.
 */
#ifndef GMVM_VCPU_STATE_H
#define GMVM_VCPU_STATE_H

#include <stdint.h>
#include <linux/kvm.h>

#define GM_MAX_SAVED_MSRS 64

struct gm_msr {
	uint32_t index;
	uint32_t pad;
	uint64_t data;
};

struct gm_vcpu_state {
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
