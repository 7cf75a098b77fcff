/*
 * bench/snapshot_qemu: case 7's QEMU side, QEMU 7.2 saving to a file and
 * starting from it as the issue says: `stop`, then `migrate` to
 * "exec:cat > FILE"; a new QEMU with -incoming from "exec:cat FILE".  The
 * bench turns on the "events" migration capability (untimed, before the
 * clock starts) and waits for the MIGRATION event that says completed,
 * blocked on the QMP socket: polling query-migrate or query-status would
 * take CPU from the QEMU it times (all of it on a host with few CPUs, and
 * under TCG), and gmvm's sides do not poll either.
 */
#include <jansson.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "snapshot.h"

#define QEMU_MAX_BANDWIDTH ((json_int_t)1 << 40)	/* bytes/s: no throttle */

/* notified: wait for the socket through inotify, taking no CPU from a start-up being timed */
static int connect_qmp(struct snap_run *x, const char *sock, bool notified, int timeout_ms, char *why,
		       size_t whylen)
{
	int fd = notified ? bg_connect_unix_notified(&x->p, sock, timeout_ms, why, whylen)
			  : bg_connect_unix(&x->p, sock, BG_POLL_US, timeout_ms, why, whylen);

	return fd < 0 ? -1 : qmp_open(&x->q, fd, why, whylen);
}

static int simple(struct snap_run *x, const char *execute, char *why, size_t whylen)
{
	return qmp_call(&x->q, json_pack("{s:s}", "execute", execute), NULL, why, whylen);
}

/* MIGRATION events from now on, on this QMP connection. */
static int migration_events(struct snap_run *x, char *why, size_t whylen)
{
	return qmp_call(&x->q, json_pack("{s:s, s:{s:[{s:s, s:b}]}}", "execute", "migrate-set-capabilities",
					 "arguments", "capabilities", "capability", "events", "state", 1),
			NULL, why, whylen);
}

/* Waits for the migration's end; -1 with QEMU's reason unless it completed. */
static int migration_completed(struct snap_run *x, int timeout_ms, const char *what, char *why, size_t whylen)
{
	char detail[256] = "";

	if (qmp_wait_migration(&x->q, timeout_ms, why, whylen) < 0)
		return -1;
	if (!strcmp(x->q.migration, "completed"))
		return 0;
	/* the source's query-migrate says why; a destination's may not */
	if (qmp_query(&x->q, "query-migrate", "error-desc", detail, sizeof(detail), why, whylen) < 0)
		detail[0] = '\0';
	snprintf(why, whylen, "%s %s%s%s", what, x->q.migration, detail[0] ? ": " : "", detail);
	return -1;
}

static int qemu_end(struct snap_run *x, char *why, size_t whylen)
{
	char answer[300];

	qmp_execute(&x->q, "quit", answer, sizeof(answer));
	return snap_wait_gone(x, "QMP quit", why, whylen);
}

static int qemu_save(struct snap_run *x, const struct bench_side *s, double *out, char *why, size_t whylen)
{
	char uri[PATH_MAX + 32], what[PATH_MAX + 48];

	unlink(s->sock);
	if (bg_start(&x->p, s->argv, why, whylen) < 0 ||
	    bg_wait_line(&x->p, SNAP_ROUND_LINE, x->boot_ms, why, whylen) < 0 ||
	    connect_qmp(x, s->sock, false, x->boot_ms, why, whylen) < 0 ||
	    qmp_call(&x->q, json_pack("{s:s, s:{s:I}}", "execute", "migrate-set-parameters", "arguments",
				      "max-bandwidth", QEMU_MAX_BANDWIDTH), NULL, why, whylen) < 0 ||
	    migration_events(x, why, whylen) < 0)
		return -1;
	snprintf(uri, sizeof(uri), "exec:cat > '%s'", x->mig);
	snprintf(what, sizeof(what), "the migration to %s", x->mig);
	double t0 = bg_now_us();

	if (simple(x, "stop", why, whylen) < 0 ||
	    qmp_call(&x->q, json_pack("{s:s, s:{s:s}}", "execute", "migrate", "arguments", "uri", uri), NULL, why,
		     whylen) < 0 ||
	    migration_completed(x, x->save_ms, what, why, whylen) < 0)
		return -1;
	double us = bg_now_us() - t0;

	out[M7_SAVE_MS] = us / 1e3;
	out[M7_SAVE_MBS] = x->guest->bytes / us; /* bytes per us = MB/s */
	/* QEMU reaps its `cat` once the migration is cleaned up, well before it has quit */
	return qemu_end(x, why, whylen);
}

/*
 * -incoming defer, then migrate-incoming with "exec:cat FILE": the same load
 * as -incoming "exec:cat FILE", with the events capability turned on before
 * it starts.  -S keeps the guest stopped after the load (it was stopped when
 * saved anyway); the time ends when `cont` has answered.
 */
static int qemu_restore(struct snap_run *x, const struct bench_side *s, double *out, char *why, size_t whylen)
{
	char *argv[BENCH_MAX_ARGS + 4], uri[PATH_MAX + 32], what[PATH_MAX + 48], status[32] = "";
	int n = 0;

	snprintf(uri, sizeof(uri), "exec:cat '%s'", x->mig);
	snprintf(what, sizeof(what), "loading %s", x->mig);
	while (s->argv[n] && n < BENCH_MAX_ARGS) {
		argv[n] = s->argv[n];
		n++;
	}
	argv[n++] = "-S";
	argv[n++] = "-incoming";
	argv[n++] = "defer";
	argv[n] = NULL;
	unlink(s->sock);
	double t0 = bg_now_us();

	if (bg_start(&x->p, argv, why, whylen) < 0 ||
	    connect_qmp(x, s->sock, true, x->restore_ms, why, whylen) < 0 ||
	    migration_events(x, why, whylen) < 0 ||
	    qmp_call(&x->q, json_pack("{s:s, s:{s:s}}", "execute", "migrate-incoming", "arguments", "uri", uri), NULL,
		     why, whylen) < 0 ||
	    migration_completed(x, x->restore_ms, what, why, whylen) < 0 || simple(x, "cont", why, whylen) < 0)
		return -1;
	out[M7_RESTORE_MS] = (bg_now_us() - t0) / 1e3;
	/* untimed: the guest checks what it rewrites, so a bad restore ends here */
	if (qmp_query(&x->q, "query-status", "status", status, sizeof(status), why, whylen) < 0)
		return -1;
	if (strcmp(status, "running")) {
		snprintf(why, whylen, "QEMU's status is '%s' after loading %s and cont, expected 'running'", status,
			 x->mig);
		return -1;
	}
	if (bg_wait_line(&x->p, SNAP_ROUND_LINE, x->carry_on_ms, why, whylen) < 0)
		return -1;
	return qemu_end(x, why, whylen);
}

int snap_run_qemu(struct snap_run *x, const struct bench_side *s, double *out, char *why, size_t whylen)
{
	double disk = 0;

	if (qemu_save(x, s, out, why, whylen) < 0 || snap_add_disk_use(x->mig, &disk, why, whylen) < 0)
		return -1;
	out[M7_DISK_MIB] = disk / (1 << 20);
	return qemu_restore(x, s, out, why, whylen);
}
