/*
 * vmm/pause: bringing vCPUs out of KVM_RUN and keeping them out.  Pausing
 * is the one mechanism behind binding switches, state save/load, halt
 * detection and stop: set immediate_exit, send GM_KICK_SIGNAL, and wait
 * until every live vCPU thread reports itself parked.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmm/vmm.h"

static void kick_handler(int sig)
{
	(void)sig; /* its only job is to make KVM_RUN return EINTR */
}

int gm_kick_install(struct gm_error *err)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: the ioctl must come back to us */
	if (sigaction(GM_KICK_SIGNAL, &sa, NULL) < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot install the vCPU kick signal handler: %s",
			       strerror(errno));
	return 0;
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

int gm_machine_pause(struct gm_machine *m, struct gm_error *err)
{
	pthread_mutex_lock(&m->lock);
	if (m->stopping) {
		pthread_mutex_unlock(&m->lock);
		return gm_fail(err, GM_STATUS_FAILURE, ESRCH, "the machine has ended; it cannot be paused");
	}
	m->pause_depth++;
	gm_kick_all_locked(m);
	while (m->parked < m->live && !m->stopping)
		pthread_cond_wait(&m->cond, &m->lock);
	bool ended = m->stopping;
	if (ended)
		m->pause_depth--;
	pthread_mutex_unlock(&m->lock);
	if (ended)
		return gm_fail(err, GM_STATUS_FAILURE, ESRCH, "the machine ended while being paused");
	return 0;
}

int gm_machine_resume(struct gm_machine *m, struct gm_error *err)
{
	pthread_mutex_lock(&m->lock);
	if (!m->pause_depth) {
		pthread_mutex_unlock(&m->lock);
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL, "the machine is not paused");
	}
	m->pause_depth--;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

void gm_machine_end(struct gm_machine *m, enum gm_exit_kind kind, int status, uint32_t value,
		    unsigned cpu, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&m->lock);
	if (m->exit.kind == GM_EXIT_NONE) {
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
