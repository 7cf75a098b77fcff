/*
 * bench/beats: see beats.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beats.h"


static void beat_line(struct beats *b, int i, const char *line, double now)
{
	pthread_mutex_lock(&b->mu);
	if (!strcmp(line, "b")) {
		b->lines[i]++;
		if (b->armed && b->last_us > 0 && now - b->last_us > b->max_gap_us)
			b->max_gap_us = now - b->last_us;
		b->last_us = now;
	} else if (!strncmp(line, "dirty: MISMATCH", 15) || !strncmp(line, "dirty: not enough", 17)) {
		b->bad = true;
		snprintf(b->bad_line, sizeof(b->bad_line), "%s", line);
	}
	pthread_mutex_unlock(&b->mu);
}

static void *beat_thread(void *arg)
{
	struct beats *b = arg;
	struct pollfd p[3] = { { b->fd[0], POLLIN, 0 }, { b->fd[1], POLLIN, 0 }, { b->stop[0], POLLIN, 0 } };

	for (;;) {
		if (poll(p, 3, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[2].revents)
			return NULL;
		for (int i = 0; i < 2; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			ssize_t n = read(b->fd[i], b->buf[i] + b->len[i], sizeof(b->buf[i]) - 1 - b->len[i]);
			double now = bg_now_us();

			if (n <= 0)
				continue;
			b->len[i] += (size_t)n;
			char *s = b->buf[i], *nl;

			while ((nl = memchr(s, '\n', b->len[i] - (size_t)(s - b->buf[i])))) {
				*nl = '\0';
				if (nl > s && nl[-1] == '\r')
					nl[-1] = '\0';
				beat_line(b, i, s, now);
				s = nl + 1;
			}
			b->len[i] -= (size_t)(s - b->buf[i]);
			memmove(b->buf[i], s, b->len[i]);
			if (b->len[i] == sizeof(b->buf[i]) - 1)
				b->len[i] = 0; /* a line too long to be a beat */
		}
	}
}

/* FIFOs at paths[0..1]; we hold a write end of each so that no EOF comes between the two VMMs. */
int beats_start(struct beats *b, char (*paths)[128], char *why, size_t whylen)
{
	memset(b, 0, sizeof(*b));
	b->fd[0] = b->fd[1] = b->keep[0] = b->keep[1] = b->stop[0] = b->stop[1] = -1;
	pthread_mutex_init(&b->mu, NULL);
	for (int i = 0; i < 2; i++) {
		unlink(paths[i]);
		if (mkfifo(paths[i], 0600) < 0 || (b->fd[i] = open(paths[i], O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0 ||
		    (b->keep[i] = open(paths[i], O_WRONLY | O_CLOEXEC)) < 0) {
			snprintf(why, whylen, "cannot make the console FIFO %s: %s", paths[i], strerror(errno));
			return -1;
		}
	}
	if (pipe2(b->stop, O_CLOEXEC) < 0 || pthread_create(&b->th, NULL, beat_thread, b)) {
		snprintf(why, whylen, "cannot start the console reader: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void beats_stop(struct beats *b, char (*paths)[128])
{
	if (b->stop[1] >= 0) {
		if (write(b->stop[1], "x", 1) == 1)
			pthread_join(b->th, NULL);
	}
	for (int i = 0; i < 2; i++) {
		if (b->fd[i] >= 0)
			close(b->fd[i]);
		if (b->keep[i] >= 0)
			close(b->keep[i]);
		if (b->stop[i] >= 0)
			close(b->stop[i]);
		unlink(paths[i]);
	}
	pthread_mutex_destroy(&b->mu);
}

uint64_t beats_count(struct beats *b, int i)
{
	pthread_mutex_lock(&b->mu);
	uint64_t n = b->lines[i];
	pthread_mutex_unlock(&b->mu);
	return n;
}

/* Waits until console i has printed at least want beat lines; -1 with a reason. */
int beats_wait(struct beats *b, int i, uint64_t want, struct bg_proc *p, int timeout_ms, const char *what,
		      char *why, size_t whylen)
{
	double end = bg_now_us() + timeout_ms * 1e3;

	while (beats_count(b, i) < want) {
		if (b->bad) {
			snprintf(why, whylen, "the guest printed '%s'", b->bad_line);
			return -1;
		}
		if (p && !bg_alive(p)) {
			snprintf(why, whylen, "%s ended (status %d) before its guest printed beats", what, p->status);
			return -1;
		}
		if (bg_now_us() > end) {
			snprintf(why, whylen, "%s: %llu of %llu beat lines within %d s", what,
				 (unsigned long long)beats_count(b, i), (unsigned long long)want, timeout_ms / 1000);
			return -1;
		}
		usleep(2000);
	}
	return 0;
}

void beats_arm(struct beats *b)
{
	pthread_mutex_lock(&b->mu);
	b->armed = true;
	b->max_gap_us = 0;
	pthread_mutex_unlock(&b->mu);
}

double beats_max_gap_ms(struct beats *b)
{
	pthread_mutex_lock(&b->mu);
	double ms = b->max_gap_us / 1e3;
	pthread_mutex_unlock(&b->mu);
	return ms;
}

double beats_rate_mbs(struct beats *b, int i, int pages_per_beat, int window_ms)
{
	uint64_t n0 = beats_count(b, i);
	double t0 = bg_now_us();

	usleep((useconds_t)window_ms * 1000);
	uint64_t n1 = beats_count(b, i);
	double t1 = bg_now_us();

	return (double)(n1 - n0) * pages_per_beat * 4096 / (t1 - t0);
}
