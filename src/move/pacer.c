/*
 * move/pacer: what runs beside a migration's sending.  When the guest
 * dirties memory faster than the link carries it, no number of rounds
 * converges, so the engine asks for a throttle: every 10 ms period the
 * pacer holds the vCPUs (a pause hold, pause.c) for that share of it, as
 * QEMU's auto-converge sleeps its vCPUs.  It also watches the deadline and
 * the operation's cancel flag (vm.migration-cancel, vm.memory-rehome-cancel)
 * and, once either comes, calls the engine's abort: a migration shuts its
 * sockets down so every blocked send returns at once, a re-home stops
 * copying at the next run of pages.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "move/move.h"
#include "gmvm/thread.h"

#define PERIOD_US 10000u

struct gm_pacer {
	struct gm_machine *m;
	pthread_t tid;
	uint64_t deadline_us;
	const int *cancel;  /* the operation's cancel flag (atomic) */
	void (*abort)(void *);
	void *opaque;
	int throttle_pct; /* atomic */
	int stop;         /* atomic */
	int timed_out;    /* atomic */
};

static void sleep_us(uint64_t us)
{
	struct timespec ts = { .tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
	}
}

static void *pacer_thread(void *arg)
{
	struct gm_pacer *p = arg;
	bool aborted = false;

	gm_thread_started(GM_THREAD_MIGRATION);
	while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
		unsigned pct = (unsigned)__atomic_load_n(&p->throttle_pct, __ATOMIC_RELAXED);
		bool late = p->deadline_us && gm_now_us() >= p->deadline_us;

		if (!aborted && (late || __atomic_load_n(p->cancel, __ATOMIC_ACQUIRE))) {
			aborted = true;
			__atomic_store_n(&p->timed_out, late, __ATOMIC_RELEASE);
			p->abort(p->opaque);
		}
		if (pct && !aborted && gm_hold(p->m, NULL) == 0) {
			sleep_us(PERIOD_US * pct / 100);
			gm_release(p->m);
			sleep_us(PERIOD_US * (100 - pct) / 100);
		} else {
			sleep_us(PERIOD_US);
		}
	}
	return NULL;
}

int gm_pacer_start(struct gm_machine *m, uint64_t deadline_us, const int *cancel, void (*abort)(void *),
		   void *opaque, struct gm_pacer **out, struct gm_error *err)
{
	struct gm_pacer *p = calloc(1, sizeof(*p));

	if (!p)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "migration: out of memory");
	*p = (struct gm_pacer){ .m = m, .deadline_us = deadline_us, .cancel = cancel, .abort = abort, .opaque = opaque };
	if (pthread_create(&p->tid, NULL, pacer_thread, p) != 0) {
		free(p);
		return gm_fail(err, GM_STATUS_FAILURE, EAGAIN, "migration: cannot start its pacing thread");
	}
	*out = p;
	return 0;
}

void gm_pacer_set_throttle(struct gm_pacer *p, unsigned pct)
{
	__atomic_store_n(&p->throttle_pct, (int)(pct > 99 ? 99 : pct), __ATOMIC_RELAXED);
}

bool gm_pacer_timed_out(const struct gm_pacer *p)
{
	return __atomic_load_n(&p->timed_out, __ATOMIC_ACQUIRE);
}

void gm_pacer_stop(struct gm_pacer *p)
{
	if (!p)
		return;
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELEASE);
	pthread_join(p->tid, NULL);
	free(p);
}
