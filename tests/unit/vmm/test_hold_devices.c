/*
 * A hold's devices: gm_hold quiesces them once the vCPUs are parked and the
 * last gm_release resumes them, never a device that was not quiesced, never
 * on a machine that ends or was handed over, and never over the quiesce of
 * a hold taken while the resume ran.  A machine without vCPUs and one
 * recording device stand in for the real thing: no KVM needed.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm.h"

static struct gm_machine *m;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char events[64];   /* q: quiesce, r: resume begins, R: resume ends */
static volatile int slow_resume;
static volatile int resuming;

static void note(char c)
{
	pthread_mutex_lock(&log_lock);
	size_t n = strlen(events);
	if (n + 1 < sizeof(events))
		events[n] = c;
	pthread_mutex_unlock(&log_lock);
}

static void dev_quiesce(void *dev)
{
	(void)dev;
	note('q');
}

static void dev_resume(void *dev)
{
	(void)dev;
	note('r');
	__atomic_store_n(&resuming, 1, __ATOMIC_SEQ_CST);
	if (slow_resume)
		poll(NULL, 0, 200); /* a hold taken now must wait before quiescing */
	note('R');
}

static const struct gm_device_type recorder = {
	.name = "recorder",
	.quiesce = dev_quiesce,
	.resume = dev_resume,
};

static void setup(void)
{
	m = calloc(1, sizeof(*m));
	cr_assert_not_null(m);
	pthread_mutex_init(&m->op_lock, NULL);
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->devs[0].type = &recorder;
	m->ndevs = 1;
	memset(events, 0, sizeof(events));
	slow_resume = 0;
	resuming = 0;
}

static void teardown(void)
{
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->op_lock);
	free(m);
}

TestSuite(hold_devices, .init = setup, .fini = teardown);

static void hold(void)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_hold(m, &err), 0, "%s", err.msg);
}

Test(hold_devices, the_last_release_resumes_what_holds_quiesced)
{
	hold();
	cr_assert_str_eq(events, "q");
	hold(); /* nested: an operation inside a user pause */
	cr_assert_str_eq(events, "qq");
	gm_release(m);
	cr_assert_str_eq(events, "qq", "resumed while still held");
	gm_release(m);
	cr_assert_str_eq(events, "qqrR");
	gm_release(m); /* one release too many changes nothing */
	cr_assert_str_eq(events, "qqrR");
	hold();
	gm_release(m);
	cr_assert_str_eq(events, "qqrRqrR");
}

Test(hold_devices, no_resume_without_a_quiesce)
{
	struct gm_error err = { 0 };

	/* no vCPU live: a hold without kicking anyone, and without quiescing */
	cr_assert_eq(gm_hold_if_parked(m, &err), 0, "%s", err.msg);
	gm_release(m);
	cr_assert_str_eq(events, "");
}

Test(hold_devices, an_ending_machine_stays_still)
{
	struct gm_error err = { 0 };

	hold();
	pthread_mutex_lock(&m->lock);
	m->stopping = true; /* the guest ended during the hold */
	pthread_mutex_unlock(&m->lock);
	gm_release(m);
	cr_assert_str_eq(events, "q");
	cr_assert_eq(gm_hold(m, &err), -ESRCH);
	cr_assert_str_eq(events, "q");
}

Test(hold_devices, a_handed_over_machine_stays_still)
{
	hold();
	pthread_mutex_lock(&m->lock);
	m->handed_over = true; /* a live update's new process runs the guest */
	pthread_mutex_unlock(&m->lock);
	gm_release(m);
	cr_assert_str_eq(events, "q");
}

static void *release_thread(void *arg)
{
	(void)arg;
	gm_release(m);
	return NULL;
}

Test(hold_devices, a_hold_taken_during_a_resume_quiesces_after_it)
{
	pthread_t t;

	hold();
	slow_resume = 1;
	cr_assert_eq(pthread_create(&t, NULL, release_thread, NULL), 0);
	while (!__atomic_load_n(&resuming, __ATOMIC_SEQ_CST))
		poll(NULL, 0, 1);
	hold(); /* returns once its quiesce is done: after the resume, not before */
	cr_assert_str_eq(events, "qrRq");
	pthread_join(t, NULL);
	gm_release(m);
	cr_assert_str_eq(events, "qrRqrR");
}
