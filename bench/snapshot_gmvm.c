/*
 * bench/snapshot_gmvm: case 7's gmvm sides.  Save: `PUT /api/v1/vm.snapshot`
 * on a connection opened before, timed from sending it to having read the
 * answer.  Restore: `gmvm run --restore DIR --restore-mode MODE`, timed from
 * just before the fork to the `timestamp_us` of the first `resumed` event,
 * which gmvm writes to a pipe the bench waits on (--event-monitor fd=3), so
 * that the bench takes no CPU from the restore it times.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapshot.h"
#include "trace.h"

static int gmvm_connect(struct snap_run *x, const char *sock, char *why, size_t whylen)
{
	int fd = bg_connect_unix(&x->p, sock, BG_POLL_US, x->boot_ms, why, whylen);

	if (fd < 0)
		return -1;
	close(fd); /* it listens; curl makes its own connection */
	if (api_client_open(&x->a, sock, why, whylen) < 0)
		return -1;
	api_client_set_timeout(&x->a, x->end_ms);
	/* untimed: curl's connect is not part of what is measured after it */
	return api_request_ok(&x->a, "GET", "vmm.ping", why, whylen);
}

static int gmvm_end(struct snap_run *x, char *why, size_t whylen)
{
	char answer[300];

	/* the answer may be lost to the exit itself; the process ending is what counts */
	api_request_ok(&x->a, "PUT", "vm.shutdown", answer, sizeof(answer));
	return snap_wait_gone(x, "PUT vm.shutdown", why, whylen);
}

/*
 * gmvm_end for a restore run with --trace-startup, which prints its trace
 * as it exits: *in_main_ms is its "first guest instruction" line's time
 * since main() began, NaN when it has none.
 */
static int gmvm_end_traced(struct snap_run *x, double *in_main_ms, char *why, size_t whylen)
{
	char answer[300], name[TRACE_NAME_MAX];
	double step, at;

	*in_main_ms = NAN;
	api_request_ok(&x->a, "PUT", "vm.shutdown", answer, sizeof(answer));
	snap_close_conns(x);
	if (bg_wait_end(&x->p, x->end_ms) < 0) {
		snprintf(why, whylen, "still running %d s after PUT vm.shutdown (killed)", x->end_ms / 1000);
		return -1;
	}
	char *text = bg_output(&x->p);

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : "")
		if (!trace_parse_line(l, name, sizeof(name), &step, &at) && !strcmp(name, "first guest instruction"))
			*in_main_ms = at;
	free(text);
	bg_stop(&x->p);
	return 0;
}

/* The running guest's full snapshot to x->snap; save ms and MB/s into out. */
static int gmvm_save(struct snap_run *x, const struct bench_side *s, double *out, char *why, size_t whylen)
{
	char url[PATH_MAX + 32];
	json_t *req, *ans = NULL;
	char *body = NULL;
	int r = -1;

	unlink(s->sock); /* a leftover would refuse gmvm's bind */
	if (bg_start(&x->p, s->argv, why, whylen) < 0 ||
	    bg_wait_line(&x->p, SNAP_ROUND_LINE, x->boot_ms, why, whylen) < 0 ||
	    gmvm_connect(x, s->sock, why, whylen) < 0)
		return -1;
	snprintf(url, sizeof(url), "file://%s", x->snap);
	req = json_pack("{s:s, s:s}", "destination_url", url, "type", "full");
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!body) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	double t0 = bg_now_us();
	long status = api_put_json(&x->a, "vm.snapshot", body, x->save_ms, why, whylen);
	double us = bg_now_us() - t0;

	free(body);
	if (status < 0)
		return -1;
	const char *answer = x->a.body ? x->a.body : "";

	if (status != 200) {
		snprintf(why, whylen, "PUT vm.snapshot answered %ld, expected 200: %.300s", status, answer);
		return -1;
	}
	ans = json_loads(answer, 0, NULL);
	json_t *mem = json_object_get(ans, "memory_bytes"), *paused = json_object_get(ans, "paused_us");

	if (!json_is_integer(mem))
		snprintf(why, whylen, "PUT vm.snapshot: no whole number \"memory_bytes\" in %.300s", answer);
	else if (json_integer_value(mem) < (json_int_t)x->guest->written_mib << 20)
		snprintf(why, whylen, "PUT vm.snapshot wrote %lld bytes of RAM, less than the %d MiB the guest wrote: "
			 "%.300s", (long long)json_integer_value(mem), x->guest->written_mib, answer);
	else
		r = 0;
	out[M7_PAUSED_MS] = json_is_integer(paused) ? (double)json_integer_value(paused) / 1e3 : NAN;
	json_decref(ans);
	if (r < 0)
		return -1;
	out[M7_SAVE_MS] = us / 1e3;
	out[M7_SAVE_MBS] = x->guest->bytes / us; /* bytes per us = MB/s */
	return gmvm_end(x, why, whylen);
}

/*
 * Reads gmvm's event monitor (the pipe x->ev_fd) up to the first `resumed`
 * event, blocked in poll() so that the bench takes no CPU from the restore;
 * its timestamp_us into *ts_us.
 */
static int wait_resumed(struct snap_run *x, double deadline_us, double *ts_us, char *why, size_t whylen)
{
	char buf[8192];
	size_t len = 0;

	for (;;) {
		char *nl;

		while ((nl = memchr(buf, '\n', len))) {
			json_t *e = json_loadb(buf, (size_t)(nl - buf), 0, NULL);
			const char *kind = json_string_value(json_object_get(e, "event"));
			json_t *ts = json_object_get(e, "timestamp_us");
			bool found = kind && !strcmp(kind, "resumed") && json_is_integer(ts);

			if (found)
				*ts_us = (double)json_integer_value(ts);
			json_decref(e);
			if (found)
				return 0;
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len);
		}
		if (len == sizeof(buf)) {
			snprintf(why, whylen, "an event monitor line longer than %zu bytes", sizeof(buf));
			return -1;
		}
		double left_ms = (deadline_us - bg_now_us()) / 1e3;
		struct pollfd pfd = { .fd = x->ev_fd, .events = POLLIN };
		int r = left_ms > 0 ? poll(&pfd, 1, (int)left_ms + 1) : 0;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whylen, "poll on the event monitor: %s", strerror(errno));
			return -1;
		}
		if (r == 0 && bg_now_us() >= deadline_us) {
			snprintf(why, whylen, "no 'resumed' event after %d ms", x->restore_ms);
			return -1;
		}
		if (r == 0)
			continue;
		ssize_t got = read(x->ev_fd, buf + len, sizeof(buf) - len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			/* every writer is gone: gmvm has ended, or is ending */
			bg_wait_end(&x->p, x->end_ms);
			snprintf(why, whylen, "it ended (exit status %d) before its 'resumed' event", x->p.status);
			return -1;
		}
		len += (size_t)got;
	}
}

static int gmvm_restore(struct snap_run *x, const struct bench_side *s, const char *mode, double *out, char *why,
			size_t whylen)
{
	char monitor[32];
	int ev[2];
	double ts = 0;

	if (pipe2(ev, O_CLOEXEC) < 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return -1;
	}
	x->ev_fd = ev[0];
	snprintf(monitor, sizeof(monitor), "fd=%d", SNAP_EVENT_FD);
	char *argv[] = { s->argv[0], "run", "--restore", x->snap, "--restore-mode", (char *)mode, "--api-sock",
			 (char *)s->sock, "--event-monitor", monitor, "--trace-startup", NULL };

	unlink(s->sock);
	double t0 = bg_now_us();
	int started = bg_start_fd(&x->p, argv, ev[1], SNAP_EVENT_FD, why, whylen);

	close(ev[1]); /* gmvm's copy is the only writer: its end is the pipe's end */
	if (started < 0 || wait_resumed(x, t0 + x->restore_ms * 1e3, &ts, why, whylen) < 0)
		return -1;
	if (ts < t0) {
		snprintf(why, whylen, "its 'resumed' event has timestamp_us %.0f, before the bench started it (%.0f): "
			 "not CLOCK_MONOTONIC microseconds?", ts, t0);
		return -1;
	}
	out[M7_RESTORE_MS] = (ts - t0) / 1e3;
	/* untimed: the guest checks what it rewrites, so a bad restore ends here */
	if (bg_wait_line(&x->p, SNAP_ROUND_LINE, x->carry_on_ms, why, whylen) < 0 ||
	    gmvm_connect(x, s->sock, why, whylen) < 0)
		return -1;
	return gmvm_end_traced(x, &out[M7_IN_MAIN_MS], why, whylen);
}

int snap_run_gmvm(struct snap_run *x, const struct bench_side *s, const char *mode, double *out, char *why,
		  size_t whylen)
{
	double disk = 0;

	if (gmvm_save(x, s, out, why, whylen) < 0 ||
	    snap_add_disk_use(bench_path_in(x->snap, "ram.mem"), &disk, why, whylen) < 0 ||
	    snap_add_disk_use(bench_path_in(x->snap, "state"), &disk, why, whylen) < 0)
		return -1;
	out[M7_DISK_MIB] = disk / (1 << 20);
	return gmvm_restore(x, s, mode, out, why, whylen);
}
