/*
 * tests/integration/update_vm: one `gmvm run` process with the dirty guest,
 * its API on a socket path and its console and events in files, followed
 * across live updates: the process that runs the guest changes, the paths
 * stay.  The test process is a child subreaper, so a new process whose old
 * one has exited is its child: its exit status can be waited for.
 */
#ifndef GM_TEST_UPDATE_VM_H
#define GM_TEST_UPDATE_VM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "procs.h"

/*
 * The dirty guest: S seconds with a clock, R rounds without one (the
 * nested rig's guests have none: about 50 rounds a second there), ending
 * with a check of every page; the long one outlives any test here and is
 * ended by vm.shutdown.  A "b" line every 50000 page writes, each write
 * checking the page first, shows it goes on between its round lines.
 */
#define DIRTY_FOR(s, r) "dirty.mb=32 dirty.seconds=" #s " dirty.rounds=" #r " dirty.beat=50000"
#define DIRTY_LONG DIRTY_FOR(900, 100000)

/* The test's files and processes. */
struct update_vm {
	struct vm_files f;
	pid_t pid;       /* the gmvm process that runs the guest now */
	pid_t seen[16];  /* every gmvm process of the test, oldest first: killed at the end */
	unsigned nseen;
	unsigned updates; /* completed on the guest of start_vm */
	double t0;        /* when the test began, for its log */
};

extern struct update_vm ut;

/* A suite's .init and .fini: a directory for the files, GMVM_RUN_DIR in it, the subreaper. */
void update_vm_setup(void);
/* Kill every gmvm process the test saw, put the 2M pool back, remove the directory. */
void update_vm_teardown(void);

/* A line in the test's log with the seconds since it began: where the time goes in the rig. */
void step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* pid runs the guest now; killed at the end if still there. */
void track(pid_t pid);
/* pid's exit status within limit seconds (-1: still running); once known, pid is forgotten. */
int wait_gone(pid_t pid, double limit);
/* gmvm's stderr, the console and the events on stderr. */
void dump_all(void);

/*
 * `gmvm run` the dirty guest with --memory memory (test_memory), the
 * API, events, a console file and the NULL-terminated extra options; back
 * once the guest is in its rounds.
 */
void start_vm_argv(const char *memory, const char *cmdline, const char *const *extra);
void start_vm(const char *memory, const char *cmdline);

/*
 * method /api/v1/endpoint with body (NULL: none) on a new connection to
 * the socket path; the status (0: no answer, -errno: the socket failed)
 * and the JSON body (NULL: none or not JSON).  Never asserts: for threads.
 */
json_t *http(const char *method, const char *endpoint, const char *body, int *status);
/* PUT endpoint; no answer or no JSON fails the test. */
struct answer put(const char *endpoint, const char *body);
/* PUT vmm.live-update with body, in-process or through curl(1). */
struct answer update(const char *body);
struct answer update_with_curl(const char *body);
/* vm.info, which must answer 200. */
json_t *info(void);
/* o's string member key ("" when none), number member (fails when none). */
const char *str(const json_t *o, const char *key);
double num(const json_t *o, const char *key);
/* vm.info's entry for the region name. */
json_t *region_of(json_t *inf, const char *name);
/* Lines of the event file with "event":event and, when key is not NULL, key's string value val. */
size_t count_events(const char *event, const char *key, const char *val);

/* Lines on the console (rounds and beats); fails on a MISMATCH line. */
size_t console_lines(void);
/* want more lines come within 300 s (the guest runs and checks its pages), no MISMATCH. */
void expect_lines(size_t want);
void expect_more_rounds(void);
/* The guest ends on its own: its check passed, the gmvm running it exited 0, it never started over. */
void expect_guest_passes(void);
/* Three more lines (the guest checked its pages), then vm.shutdown ends it with 0. */
void expect_guest_checks_then_shutdown(void);

/*
 * A completed update's answer: its record; the old process exited 0 with
 * a shutdown event of kind "updated"; the new one runs and answers
 * vm.info on the same path with the guest in state.  ut.pid becomes the
 * new process.  Returns the answer's body (the caller's).
 */
json_t *expect_updated(struct answer a, const char *state);
/*
 * A failed update: status http (0: any 4xx/5xx), one line holding want;
 * the old process still runs the guest, vm.info's live_update phase is
 * phase (NULL: not looked at).  Frees a's body.
 */
void expect_not_updated(struct answer a, int http, const char *want, const char *phase);

#endif
