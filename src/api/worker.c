/*
 * api/worker: "run fn(arg) on thread W and wait".  A worker is a thread of
 * one kind (gmvm/thread.h) that the API makes when its server starts, while
 * its maker is still unconfined, so the thread-start hook gives it its own
 * seccomp list rather than its caller's.  The op worker (MIGRATION) runs
 * the heavy routes (snapshot, migration, re-home, live update) for the
 * connection threads, whose API list is narrower; the launcher worker
 * (LAUNCHER, the process baseline) starts a live update's new gmvm, which
 * inherits its spawner's filter across exec.
 *
 * A spawning worker runs each job on a thread of its own that it makes (so
 * the job inherits the worker's filter) and goes back for the next: jobs
 * then run side by side as they did on their connection threads, and a
 * second re-home still hears 409 at once instead of queueing.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"

struct job {
	void (*fn)(void *arg);
	void *arg;
	struct gm_worker *w;
	struct job *next;
	bool done;
	int err;
};

struct gm_worker {
	enum gm_thread_kind kind;
	bool spawn;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t more;     /* a job came, or stop */
	pthread_cond_t finished; /* a job is done, or a runner ended */
	struct job *head, **tail;
	unsigned runners;        /* spawned job threads still running */
	bool stopping;
};

static void finish(struct gm_worker *w, struct job *j, int err)
{
	pthread_mutex_lock(&w->lock);
	j->err = err;
	j->done = true;
	pthread_cond_broadcast(&w->finished);
	pthread_mutex_unlock(&w->lock);
}

static void *runner(void *p)
{
	struct job *j = p;
	struct gm_worker *w = j->w;

	j->fn(j->arg);
	pthread_mutex_lock(&w->lock);
	j->done = true;
	w->runners--;
	pthread_cond_broadcast(&w->finished);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void *worker_main(void *p)
{
	struct gm_worker *w = p;

	gm_thread_started(w->kind);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->head && !w->stopping)
			pthread_cond_wait(&w->more, &w->lock);
		if (!w->head)
			break;
		struct job *j = w->head;

		w->head = j->next;
		if (!w->head)
			w->tail = &w->head;
		pthread_mutex_unlock(&w->lock);
		if (!w->spawn) {
			j->fn(j->arg);
			finish(w, j, 0);
		} else {
			pthread_t t;
			pthread_attr_t at;
			int r;

			pthread_attr_init(&at);
			pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
			pthread_mutex_lock(&w->lock);
			w->runners++;
			pthread_mutex_unlock(&w->lock);
			r = pthread_create(&t, &at, runner, j);
			pthread_attr_destroy(&at);
			if (r) {
				pthread_mutex_lock(&w->lock);
				w->runners--;
				pthread_mutex_unlock(&w->lock);
				finish(w, j, r);
			}
		}
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int gm_worker_start(enum gm_thread_kind kind, bool spawn, struct gm_worker **out, struct gm_error *err)
{
	struct gm_worker *w = calloc(1, sizeof(*w));
	sigset_t all, old;
	int r;

	*out = NULL;
	if (!w)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the API's %s thread; free some memory and retry",
			       gm_thread_kind_name(kind));
	w->kind = kind;
	w->spawn = spawn;
	w->tail = &w->head;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->more, NULL);
	pthread_cond_init(&w->finished, NULL);
	/* the process's signals (SIGINT, vCPU kicks) are the owner's business; a spawned
	 * process gets its own mask (update.c) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		pthread_cond_destroy(&w->finished);
		pthread_cond_destroy(&w->more);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return gm_fail(err, GM_STATUS_FAILURE, r, "cannot start the API's %s thread (%s); check the thread limits",
			       gm_thread_kind_name(kind), strerror(r));
	}
	*out = w;
	return 0;
}

int gm_worker_run(struct gm_worker *w, void (*fn)(void *arg), void *arg)
{
	struct job j = { .fn = fn, .arg = arg, .w = w };

	pthread_mutex_lock(&w->lock);
	if (w->stopping) {
		pthread_mutex_unlock(&w->lock);
		return -ESHUTDOWN;
	}
	*w->tail = &j;
	w->tail = &j.next;
	pthread_cond_signal(&w->more);
	while (!j.done)
		pthread_cond_wait(&w->finished, &w->lock);
	pthread_mutex_unlock(&w->lock);
	return -j.err;
}

void gm_worker_stop(struct gm_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->more);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	/* a job's caller waits for it, so none is left once the callers are gone; be sure */
	pthread_mutex_lock(&w->lock);
	while (w->runners)
		pthread_cond_wait(&w->finished, &w->lock);
	pthread_mutex_unlock(&w->lock);
	pthread_cond_destroy(&w->finished);
	pthread_cond_destroy(&w->more);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
