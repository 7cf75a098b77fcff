/*
 * vmm/vcpu_state: one vCPU's complete KVM state as a gm_vcpu_state.  Set
 * restores in the order KVM needs: special registers (mode, CPUID-checked
 * EFER) before general ones, the LAPIC before pending events, MSRs before
 * the multiprocessing state.
 */
#include <errno.h>
#include <string.h>

#include "vmm/vmm.h"

/* struct kvm_msrs ends in a flexible array; the union gives it room. */
union msr_buf {
	struct kvm_msrs hdr;
	uint8_t bytes[sizeof(struct kvm_msrs) + GM_MAX_SAVED_MSRS * sizeof(struct kvm_msr_entry)];
};

static int check_cpu(struct gm_machine *m, unsigned cpu, struct gm_error *err)
{
	if (cpu >= m->ncpus)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "no vCPU %u: the machine has %u", cpu, m->ncpus);
	return 0;
}

#define XFER(fd, req, arg, what)                                                                  \
	do {                                                                                      \
		int r_ = gm_ioctl(fd, req, arg);                                                  \
		if (r_ < 0)                                                                       \
			return gm_fail(err, GM_STATUS_FAILURE, -r_, "vCPU %u: %s failed: %s", cpu, what, \
				       strerror(-r_));                                            \
	} while (0)

int gm_vcpu_get_locked(struct gm_machine *m, unsigned cpu, struct gm_vcpu_state *st, struct gm_error *err)
{
	int fd = m->vcpus[cpu].fd;
	union msr_buf msrs;

	memset(st, 0, sizeof(*st));
	XFER(fd, KVM_GET_MP_STATE, &st->mp_state, "KVM_GET_MP_STATE");
	XFER(fd, KVM_GET_REGS, &st->regs, "KVM_GET_REGS");
	XFER(fd, KVM_GET_SREGS, &st->sregs, "KVM_GET_SREGS");
	XFER(fd, KVM_GET_XSAVE, &st->xsave, "KVM_GET_XSAVE");
	XFER(fd, KVM_GET_XCRS, &st->xcrs, "KVM_GET_XCRS");
	XFER(fd, KVM_GET_LAPIC, &st->lapic, "KVM_GET_LAPIC");
	XFER(fd, KVM_GET_VCPU_EVENTS, &st->events, "KVM_GET_VCPU_EVENTS");
	XFER(fd, KVM_GET_DEBUGREGS, &st->debugregs, "KVM_GET_DEBUGREGS");

	/* KVM lists MSRs this vCPU cannot read (features its CPUID lacks);
	 * KVM_GET_MSRS stops at the first, so drop it from the list for good. */
	for (;;) {
		memset(&msrs, 0, sizeof(msrs));
		msrs.hdr.nmsrs = m->nsaved_msrs;
		for (unsigned i = 0; i < m->nsaved_msrs; i++)
			msrs.hdr.entries[i].index = m->saved_msrs[i];
		int n = gm_ioctl(fd, KVM_GET_MSRS, &msrs);
		if (n < 0)
			return gm_fail(err, GM_STATUS_FAILURE, -n, "vCPU %u: KVM_GET_MSRS failed: %s", cpu, strerror(-n));
		if ((unsigned)n == m->nsaved_msrs)
			break;
		memmove(&m->saved_msrs[n], &m->saved_msrs[n + 1], (m->nsaved_msrs - (unsigned)n - 1) * sizeof(uint32_t));
		m->nsaved_msrs--;
	}
	st->version = GM_VCPU_STATE_VERSION;
	st->nmsrs = m->nsaved_msrs;
	for (unsigned i = 0; i < st->nmsrs; i++) {
		st->msrs[i].index = msrs.hdr.entries[i].index;
		st->msrs[i].data = msrs.hdr.entries[i].data;
	}
	return 0;
}

int gm_vcpu_set_locked(struct gm_machine *m, unsigned cpu, const struct gm_vcpu_state *st, struct gm_error *err)
{
	int fd = m->vcpus[cpu].fd;
	struct gm_vcpu_state s = *st; /* the ioctls take non-const pointers */
	union msr_buf msrs;

	if (s.version != GM_VCPU_STATE_VERSION)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "vCPU %u: state of layout version %u; this gmvm takes version %u (fill it with gm_machine_get_vcpu_state)",
			       cpu, s.version, GM_VCPU_STATE_VERSION);
	if (s.nmsrs > GM_MAX_SAVED_MSRS)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "vCPU %u: state holds %u MSRs, at most %d fit",
			       cpu, s.nmsrs, GM_MAX_SAVED_MSRS);
	XFER(fd, KVM_SET_SREGS, &s.sregs, "KVM_SET_SREGS");
	XFER(fd, KVM_SET_REGS, &s.regs, "KVM_SET_REGS");
	/* KVM would refuse it too, with a bare EINVAL: say which template it takes */
	for (unsigned i = 0; i < s.xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++)
		if (s.xcrs.xcrs[i].xcr == 0 && m->xcr0_allowed && (s.xcrs.xcrs[i].value & ~m->xcr0_allowed))
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "vCPU %u: the state's XCR0 0x%llx enables state that --cpu %s hides (it allows 0x%llx); restore it with the template it was saved with",
				       cpu, (unsigned long long)s.xcrs.xcrs[i].value, m->cpu_spec,
				       (unsigned long long)m->xcr0_allowed);
	XFER(fd, KVM_SET_XSAVE, &s.xsave, "KVM_SET_XSAVE");
	XFER(fd, KVM_SET_XCRS, &s.xcrs, "KVM_SET_XCRS");
	XFER(fd, KVM_SET_LAPIC, &s.lapic, "KVM_SET_LAPIC");

	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = s.nmsrs;
	for (unsigned i = 0; i < s.nmsrs; i++) {
		msrs.hdr.entries[i].index = s.msrs[i].index;
		msrs.hdr.entries[i].data = s.msrs[i].data;
	}
	int n = gm_ioctl(fd, KVM_SET_MSRS, &msrs);
	if (n < 0 || (unsigned)n != s.nmsrs)
		return gm_fail(err, GM_STATUS_FAILURE, n < 0 ? -n : EIO, "vCPU %u: KVM_SET_MSRS wrote %d of %u MSRs",
			       cpu, n, s.nmsrs);
	XFER(fd, KVM_SET_VCPU_EVENTS, &s.events, "KVM_SET_VCPU_EVENTS");
	XFER(fd, KVM_SET_MP_STATE, &s.mp_state, "KVM_SET_MP_STATE");
	XFER(fd, KVM_SET_DEBUGREGS, &s.debugregs, "KVM_SET_DEBUGREGS");
	return 0;
}

/* The hold keeps every vCPU parked for the whole transfer, even if the
 * pause that parked them is released meanwhile. */
int gm_machine_get_vcpu_state(struct gm_machine *m, unsigned cpu, struct gm_vcpu_state *st,
			      struct gm_error *err)
{
	int r = check_cpu(m, cpu, err);

	if (r)
		return r;
	/* the op lock also guards the MSR list get_state may shorten; a long
	 * operation (a migration) holds it, and a look must not wait for that */
	if (pthread_mutex_trylock(&m->op_lock) != 0)
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY,
			       "an operation (a snapshot or a migration) is under way; ask again when it ended");
	r = gm_hold_if_parked(m, err);
	if (!r) {
		r = gm_vcpu_get_locked(m, cpu, st, err);
		gm_release(m);
	}
	pthread_mutex_unlock(&m->op_lock);
	return r;
}

int gm_machine_set_vcpu_state(struct gm_machine *m, unsigned cpu, const struct gm_vcpu_state *st,
			      struct gm_error *err)
{
	int r = check_cpu(m, cpu, err);

	if (r)
		return r;
	pthread_mutex_lock(&m->op_lock);
	r = gm_hold_if_parked(m, err);
	if (!r) {
		r = gm_vcpu_set_locked(m, cpu, st, err);
		gm_release(m);
	}
	pthread_mutex_unlock(&m->op_lock);
	return r;
}
