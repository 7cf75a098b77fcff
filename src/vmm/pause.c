/*
 * vmm/pause: bringing vCPUs out of KVM_RUN and keeping them out.  A hold is
 * the one mechanism behind user pauses, binding switches, state get/set,
 * halt confirmation and stop: set immediate_exit, send GM_KICK_SIGNAL, and
 * wait until every live vCPU thread reports itself parked.
 *
 * The kick needs no signal handler: each vCPU thread blocks the signal and
 * gives KVM a mask without it (KVM_SET_SIGNAL_MASK), so the signal can only
 * land inside KVM_RUN, where it makes the ioctl return EINTR; the thread
 * then takes it with sigtimedwait.  Nothing process-wide changes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmm/vmm.h"

int gm_kick_setup_vcpu(struct gm_vcpu *v, struct gm_error *err)
{
	sigset_t kick, inside;

	sigemptyset(&kick);
	sigaddset(&kick, GM_KICK_SIGNAL);
	/* the thread was created with the signal blocked (gm_vcpus_start); make sure */
	pthread_sigmask(SIG_BLOCK, &kick, &inside);
	sigdelset(&inside, GM_KICK_SIGNAL);

	/* struct kvm_signal_mask is a length and the kernel's sigset, which is
	 * 8 bytes on x86-64 whatever glibc's sigset_t holds. */
	union {
		struct kvm_signal_mask hdr;
		uint8_t bytes[sizeof(struct kvm_signal_mask) + 8];
	} mask;
	memset(&mask, 0, sizeof(mask));
	mask.hdr.len = 8;
	memcpy(mask.bytes + sizeof(struct kvm_signal_mask), &inside, 8);
	int r = gm_ioctl(v->fd, KVM_SET_SIGNAL_MASK, &mask);
	if (r < 0)
		return gm_fail(err, GM_STATUS_NO_KERNEL, -r,
			       "vCPU %u: KVM_SET_SIGNAL_MASK failed: %s; gmvm needs it to pause vCPUs", v->id,
			       strerror(-r));
	return 0;
}

void gm_kick_consume(void)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t kick;

	sigemptyset(&kick);
	sigaddset(&kick, GM_KICK_SIGNAL);
	/* several kicks may have merged into one pending signal; take what is there */
	while (sigtimedwait(&kick, NULL, &zero) == GM_KICK_SIGNAL)
		;
}

void gm_kick_all_locked(struct gm_machine *m)
{
	for (unsigned i = 0; i < m->ncpus; i++) {
		struct gm_vcpu *v = &m->vcpus[i];

		if (!v->thread_started || v->thread_done)
			continue;
		/* immediate_exit covers a vCPU that is between two KVM_RUNs when the signal lands */
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
		pthread_kill(v->thread, GM_KICK_SIGNAL);
	}
}

bool gm_on_vcpu_thread(struct gm_machine *m)
{
	pthread_t self = pthread_self();

	for (unsigned i = 0; i < m->ncpus; i++)
		if (m->vcpus[i].thread_started && pthread_equal(m->vcpus[i].thread, self))
			return true;
	return false;
}

bool gm_vcpu_park(struct gm_vcpu *v)
{
	struct gm_machine *m = v->m;
	bool stop;

	pthread_mutex_lock(&m->lock);
	if (m->pause_depth && !m->stopping) {
		m->parked++;
		pthread_cond_broadcast(&m->cond);
		while (m->pause_depth && !m->stopping)
			pthread_cond_wait(&m->cond, &m->lock);
		m->parked--;
	}
	stop = m->stopping;
	if (!stop)
		__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&m->lock);
	return stop;
}

/* With m->lock held.  Only a guest that has started can be stopped, so
 * only then does a hold count as a pause. */
static void take_hold_locked(struct gm_machine *m)
{
	if (m->pause_depth++ == 0) {
		clock_gettime(CLOCK_MONOTONIC, &m->held_since);
		if (m->started)
			m->pauses++;
	}
}

/*
 * The devices' quiesce and resume run without m->lock (devices take their
 * own locks and wait out their I/O, whose completion may end the machine),
 * one at a time: with m->lock held, wait for the one running, then claim.
 */
static void devs_claim_locked(struct gm_machine *m)
{
	while (m->devs_busy)
		pthread_cond_wait(&m->cond, &m->lock);
	m->devs_busy = true;
}

static void devs_done(struct gm_machine *m, bool quiet)
{
	pthread_mutex_lock(&m->lock);
	m->devs_busy = false;
	m->devs_quiet = quiet;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

int gm_hold(struct gm_machine *m, struct gm_error *err)
{
	if (gm_on_vcpu_thread(m))
		return gm_fail(err, GM_STATUS_FAILURE, EDEADLK,
			       "a vCPU thread cannot pause its own machine; ask from another thread");
	pthread_mutex_lock(&m->lock);
	if (m->stopping) {
		pthread_mutex_unlock(&m->lock);
		return gm_fail(err, GM_STATUS_FAILURE, ESRCH, "the guest has ended; there is nothing to pause");
	}
	take_hold_locked(m);
	gm_kick_all_locked(m);
	while (m->parked < m->live && !m->stopping)
		pthread_cond_wait(&m->cond, &m->lock);
	bool ended = m->stopping;
	if (!ended)
		devs_claim_locked(m);
	pthread_mutex_unlock(&m->lock);
	if (ended) {
		gm_release(m);
		return gm_fail(err, GM_STATUS_FAILURE, ESRCH, "the guest ended while being paused");
	}
	/* a held machine is a still one: no device I/O lands in guest memory either */
	gm_devices_quiesce(m);
	devs_done(m, true);
	return 0;
}

int gm_hold_if_parked(struct gm_machine *m, struct gm_error *err)
{
	if (gm_on_vcpu_thread(m))
		return gm_fail(err, GM_STATUS_FAILURE, EDEADLK,
			       "a vCPU thread cannot read or write vCPU state; ask from another thread");
	pthread_mutex_lock(&m->lock);
	bool parked = m->live == 0 || (m->pause_depth && m->parked == m->live);
	if (parked)
		take_hold_locked(m);
	pthread_mutex_unlock(&m->lock);
	if (!parked)
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY, "the vCPUs are running; pause the machine first");
	return 0;
}

void gm_release(struct gm_machine *m)
{
	bool resume = false;

	pthread_mutex_lock(&m->lock);
	/* a live update gave the guest to another process: it never runs here again */
	if (m->handed_over) {
		pthread_mutex_unlock(&m->lock);
		return;
	}
	if (m->pause_depth && --m->pause_depth == 0) {
		if (m->started)
			m->paused_ns += gm_ns_since(&m->held_since);
		pthread_cond_broadcast(&m->cond);
		/*
		 * The devices go on too, after a quiesce still in progress, unless
		 * a hold was taken meanwhile (its quiesce stands until its own
		 * release) or the guest ends (nothing runs it again: stay still).
		 */
		while (m->devs_busy)
			pthread_cond_wait(&m->cond, &m->lock);
		if (!m->pause_depth && m->devs_quiet && !m->stopping && !m->handed_over) {
			m->devs_busy = true;
			resume = true;
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (resume) {
		gm_devices_resume(m);
		devs_done(m, false);
	}
}

int gm_machine_pause(struct gm_machine *m, struct gm_error *err)
{
	int r;

	pthread_mutex_lock(&m->op_lock);
	if (m->user_paused) {
		r = gm_fail(err, GM_STATUS_FAILURE, EALREADY, "the machine is already paused; resume it first");
	} else {
		r = gm_hold(m, err);
		if (!r)
			m->user_paused = true;
	}
	pthread_mutex_unlock(&m->op_lock);
	if (!r)
		gm_emit(m, (struct gm_event){ .kind = GM_EVENT_PAUSED });
	return r;
}

int gm_machine_resume(struct gm_machine *m, struct gm_error *err)
{
	int r = 0;

	pthread_mutex_lock(&m->op_lock);
	if (!m->user_paused) {
		r = gm_fail(err, GM_STATUS_FAILURE, EALREADY, "the machine is not paused; nothing to resume");
	} else {
		m->user_paused = false;
		gm_release(m);
	}
	pthread_mutex_unlock(&m->op_lock);
	if (!r)
		gm_emit(m, (struct gm_event){ .kind = GM_EVENT_RESUMED });
	return r;
}

void gm_machine_end(struct gm_machine *m, enum gm_exit_kind kind, int status, uint32_t value,
		    unsigned cpu, const char *fmt, ...)
{
	va_list ap;
	bool first = false;

	pthread_mutex_lock(&m->lock);
	if (m->exit.kind == GM_EXIT_NONE) {
		first = true;
		m->exit.kind = kind;
		m->exit.status = status;
		m->exit.port_value = value;
		m->exit.cpu = cpu;
		va_start(ap, fmt);
		vsnprintf(m->exit.reason, sizeof(m->exit.reason), fmt, ap);
		va_end(ap);
	}
	m->stopping = true;
	gm_kick_all_locked(m);
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	/* m->exit no longer changes once set */
	if (first)
		gm_emit(m, (struct gm_event){ .kind = GM_EVENT_SHUTDOWN, .exit = &m->exit });
}

bool gm_all_vcpus_halted(struct gm_machine *m)
{
	for (unsigned i = 0; i < m->ncpus; i++) {
		struct kvm_mp_state mp;
		struct kvm_regs regs;
		int fd = m->vcpus[i].fd;

		if (gm_ioctl(fd, KVM_GET_MP_STATE, &mp) < 0)
			return false;
		/* An AP never started cannot be woken by a halted BSP either. */
		if (mp.mp_state == KVM_MP_STATE_UNINITIALIZED || mp.mp_state == KVM_MP_STATE_INIT_RECEIVED)
			continue;
		if (mp.mp_state != KVM_MP_STATE_HALTED)
			return false;
		if (gm_ioctl(fd, KVM_GET_REGS, &regs) < 0 || (regs.rflags & (1u << 9)))
			return false; /* IF set: an interrupt may still wake it */
	}
	return true;
}
