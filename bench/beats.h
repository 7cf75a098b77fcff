/*
 * bench/beats: a guest's heartbeat read with host timestamps.  The `dirty`
 * guest prints a "b" line every dirty.beat page writes; the VMMs' consoles
 * go to FIFOs that a thread here reads, timestamping each line on
 * CLOCK_MONOTONIC as it arrives.  The largest gap between consecutive beat
 * lines (of either console) while armed is the pause the guest saw; the
 * beat count over a window is the rate it writes at.  Shared by the live
 * migration and re-homing cases.
 */
#ifndef BENCH_BEATS_H
#define BENCH_BEATS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "background.h"

struct beats {
	int fd[2], keep[2];	/* [0] source, [1] destination: read ends, and our own write ends */
	int stop[2];
	pthread_t th;
	pthread_mutex_t mu;
	char buf[2][512];
	size_t len[2];
	uint64_t lines[2];
	double last_us;		/* the last beat line of either console */
	double max_gap_us;	/* while armed */
	bool armed, bad;
	char bad_line[160];
};

/* FIFOs at paths[0] and paths[1] read by a thread; we hold a write end of each so that no EOF comes between two VMMs. */
int beats_start(struct beats *b, char (*paths)[128], char *why, size_t whylen);
void beats_stop(struct beats *b, char (*paths)[128]);
uint64_t beats_count(struct beats *b, int i);
/* Waits until console i has printed at least want beat lines; -1 with a reason (p ended, the guest failed, time). */
int beats_wait(struct beats *b, int i, uint64_t want, struct bg_proc *p, int timeout_ms, const char *what,
	       char *why, size_t whylen);
/* The rate console i's guest writes at, in MB/s, over window_ms from now: beat lines x pages_per_beat x 4 KiB. */
double beats_rate_mbs(struct beats *b, int i, int pages_per_beat, int window_ms);
/* Start looking for the largest gap from now on. */
void beats_arm(struct beats *b);
/* The largest gap since beats_arm, in ms. */
double beats_max_gap_ms(struct beats *b);

#endif
