/*
 * vmm/halt: noticing a guest that halted every vCPU with interrupts off.
 * With the in-kernel LAPIC a halted vCPU never leaves KVM_RUN, and its
 * state can only be read with the vCPU out of KVM_RUN.  Stopping the guest
 * on a timer to look would wreck latency and downtime, so the poller first
 * looks without stopping anything: a vCPU thread that used no CPU time
 * since the last look is a candidate.  Only when every vCPU is one does it
 * pause, to confirm.  A guest that keeps being a candidate without having
 * halted for good (idle with interrupts on) is looked at less and less often.
 */
#include <time.h>

#include "vmm/vmm.h"

#define HALT_POLL_MIN 0.1   /* seconds between looks */
#define HALT_POLL_MAX 1.6
/* CPU time a halted vCPU may still use between looks: KVM's halt polling
 * (halt_poll_ns, 200 us by default) and the odd spurious wake-up. */
#define HALT_IDLE_NS 2000000u

void gm_halt_poll_init(struct gm_halt_poll *hp)
{
	hp->interval = HALT_POLL_MIN;
	hp->pauses_seen = 0;
}

static uint64_t thread_cpu_ns(pthread_t t)
{
	clockid_t cid;
	struct timespec ts;

	if (pthread_getcpuclockid(t, &cid) || clock_gettime(cid, &ts))
		return UINT64_MAX; /* cannot tell: never a candidate */
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* True when no live vCPU thread used CPU time since the last look. */
static bool all_idle(struct gm_machine *m)
{
	bool idle = true;

	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < m->ncpus; i++) {
		struct gm_vcpu *v = &m->vcpus[i];

		if (!v->thread_started || v->thread_done)
			continue;
		uint64_t now = thread_cpu_ns(v->thread);
		if (now == UINT64_MAX || now - v->cpu_ns_seen > HALT_IDLE_NS)
			idle = false;
		v->cpu_ns_seen = now;
	}
	pthread_mutex_unlock(&m->lock);
	return idle;
}

void gm_halt_poll(struct gm_machine *m, struct gm_halt_poll *hp)
{
	pthread_mutex_lock(&m->lock);
	bool look = m->started && m->exit.kind == GM_EXIT_NONE && m->pause_depth == 0;
	/* vCPUs parked by somebody's pause used no CPU either: judge only a
	 * stretch of time with no pause in it */
	bool paused_since = m->pauses != hp->pauses_seen;
	hp->pauses_seen = m->pauses;
	pthread_mutex_unlock(&m->lock);
	if (!look || !all_idle(m) || paused_since) {
		hp->interval = HALT_POLL_MIN;
		return;
	}
	if (gm_hold(m, NULL))
		return;
	pthread_mutex_lock(&m->lock);
	m->halt_checks++;
	hp->pauses_seen = m->pauses;
	pthread_mutex_unlock(&m->lock);
	bool halted = gm_all_vcpus_halted(m);
	gm_release(m);
	if (halted)
		gm_machine_end(m, GM_EXIT_HALTED, GM_STATUS_OK, 0, 0, "every vCPU halted with interrupts off");
	else if (hp->interval < HALT_POLL_MAX)
		hp->interval *= 2;
}
