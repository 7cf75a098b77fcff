/*
 * vmm/vcpu_state: one vCPU's complete KVM state as a gm_vcpu_state.  Set
 * restores in the order KVM needs: special registers (mode, CPUID-checked
 * EFER) before general ones, the LAPIC before pending events, MSRs before
 * the multiprocessing state.
 */
#include <errno.h>
#include <string.h>

#include "vmm/vmm.h"

struct msr_buf {
	struct kvm_msrs hdr;
	struct kvm_msr_entry e[GM_MAX_SAVED_MSRS];
};

static int vcpu_fd_for(struct gm_machine *m, unsigned cpu, struct gm_error *err)
{
	if (cpu >= m->ncpus)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "no vCPU %u: the machine has %u", cpu, m->ncpus);
	pthread_mutex_lock(&m->lock);
	/* paused means every vCPU parked (gm_machine_pause waited for it) */
	bool running = m->started && m->live && !m->pause_depth;
	pthread_mutex_unlock(&m->lock);
	if (running)
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY, "vCPU %u is running; pause the machine first", cpu);
	return m->vcpus[cpu].fd;
}

#define XFER(fd, req, arg, what)                                                                  \
	do {                                                                                      \
		int r_ = gm_ioctl(fd, req, arg);                                                  \
		if (r_ < 0)                                                                       \
			return gm_fail(err, GM_STATUS_FAILURE, -r_, "vCPU %u: %s failed: %s", cpu, what, \
				       strerror(-r_));                                            \
	} while (0)

int gm_machine_get_vcpu_state(struct gm_machine *m, unsigned cpu, struct gm_vcpu_state *st,
			      struct gm_error *err)
{
	int fd = vcpu_fd_for(m, cpu, err);
	struct msr_buf msrs;

	if (fd < 0)
		return fd;
	memset(st, 0, sizeof(*st));
	XFER(fd, KVM_GET_MP_STATE, &st->mp_state, "KVM_GET_MP_STATE");
	XFER(fd, KVM_GET_REGS, &st->regs, "KVM_GET_REGS");
	XFER(fd, KVM_GET_SREGS, &st->sregs, "KVM_GET_SREGS");
	XFER(fd, KVM_GET_XSAVE, &st->xsave, "KVM_GET_XSAVE");
	XFER(fd, KVM_GET_XCRS, &st->xcrs, "KVM_GET_XCRS");
	XFER(fd, KVM_GET_LAPIC, &st->lapic, "KVM_GET_LAPIC");
	XFER(fd, KVM_GET_VCPU_EVENTS, &st->events, "KVM_GET_VCPU_EVENTS");
	XFER(fd, KVM_GET_DEBUGREGS, &st->debugregs, "KVM_GET_DEBUGREGS");

	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = m->nsaved_msrs;
	for (unsigned i = 0; i < m->nsaved_msrs; i++)
		msrs.e[i].index = m->saved_msrs[i];
	int n = gm_ioctl(fd, KVM_GET_MSRS, &msrs);
	if (n < 0 || (unsigned)n != m->nsaved_msrs)
		return gm_fail(err, GM_STATUS_FAILURE, n < 0 ? -n : EIO, "vCPU %u: KVM_GET_MSRS read %d of %u MSRs",
			       cpu, n, m->nsaved_msrs);
	st->nmsrs = m->nsaved_msrs;
	for (unsigned i = 0; i < st->nmsrs; i++) {
		st->msrs[i].index = msrs.e[i].index;
		st->msrs[i].data = msrs.e[i].data;
	}
	return 0;
}

int gm_machine_set_vcpu_state(struct gm_machine *m, unsigned cpu, const struct gm_vcpu_state *st,
			      struct gm_error *err)
{
	int fd = vcpu_fd_for(m, cpu, err);
	struct gm_vcpu_state s = *st; /* the ioctls take non-const pointers */
	struct msr_buf msrs;

	if (fd < 0)
		return fd;
	if (s.nmsrs > GM_MAX_SAVED_MSRS)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "vCPU %u: state holds %u MSRs, at most %d fit",
			       cpu, s.nmsrs, GM_MAX_SAVED_MSRS);
	XFER(fd, KVM_SET_SREGS, &s.sregs, "KVM_SET_SREGS");
	XFER(fd, KVM_SET_REGS, &s.regs, "KVM_SET_REGS");
	XFER(fd, KVM_SET_XSAVE, &s.xsave, "KVM_SET_XSAVE");
	XFER(fd, KVM_SET_XCRS, &s.xcrs, "KVM_SET_XCRS");
	XFER(fd, KVM_SET_LAPIC, &s.lapic, "KVM_SET_LAPIC");

	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = s.nmsrs;
	for (unsigned i = 0; i < s.nmsrs; i++) {
		msrs.e[i].index = s.msrs[i].index;
		msrs.e[i].data = s.msrs[i].data;
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
