/*
 * bench/background: a VMM left running while the bench talks to it over a
 * socket (the API cases), as opposed to spawn.h, which runs a command to
 * its end.  Output goes to an unlinked temporary file that can be read at
 * any time; the process dies with the bench (PR_SET_PDEATHSIG).
 */
#ifndef BENCH_BACKGROUND_H
#define BENCH_BACKGROUND_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct bg_proc {
	pid_t pid;	/* 0: not running or already reaped */
	int out;	/* the output file, -1 when closed */
	int status;	/* once reaped: exit status 0..255, or 128 + signal number */
};

/* Starts argv (argv[0] looked up in PATH), stdin /dev/null; -1 with a reason in err. */
int bg_start(struct bg_proc *p, char *const argv[], char *err, size_t errlen);
/* The same, with pass_fd open in the child as descriptor as_fd (> 2), e.g. a pipe's end for gmvm's --event-monitor. */
int bg_start_fd(struct bg_proc *p, char *const argv[], int pass_fd, int as_fd, char *err, size_t errlen);

/* Everything printed so far, NUL-terminated and malloc'd (NULL when out of memory). */
char *bg_output(const struct bg_proc *p);

/* Reaps the process if it has ended; true while it still runs. */
bool bg_alive(struct bg_proc *p);

/* Waits up to timeout_ms for a line starting with prefix; -1 with a reason (it ended, or timed out). */
int bg_wait_line(struct bg_proc *p, const char *prefix, int timeout_ms, char *err, size_t errlen);

/*
 * Waits up to timeout_ms until a UNIX stream socket at path accepts a
 * connection; returns that connection's fd (the caller closes it), or -1
 * with a reason when the process ended or the time ran out.
 */
/* How often the background helpers look again, by default. */
#define BG_POLL_US 1000
int bg_connect_unix(struct bg_proc *p, const char *path, int poll_us, int timeout_ms, char *err, size_t errlen);
/*
 * The same, but between tries it sleeps until something changes in the
 * socket's directory (inotify), so that waiting takes no CPU from the
 * process it waits for, whose start-up may be timed.
 */
int bg_connect_unix_notified(struct bg_proc *p, const char *path, int timeout_ms, char *err, size_t errlen);
/* One line saying why no guest can run here, or false when /dev/kvm opens. */
bool bg_kvm_unusable(char *why, size_t len);

/*
 * Waits up to timeout_ms for the process to end by itself; -1 if it did not
 * (it is then killed; its output stays readable until bg_stop).
 */
int bg_wait_end(struct bg_proc *p, int timeout_ms);

/* SIGKILL if still running, reap, close the output file.  Safe to call twice. */
void bg_stop(struct bg_proc *p);

/* Microseconds on CLOCK_MONOTONIC. */
double bg_now_us(void);

#endif
