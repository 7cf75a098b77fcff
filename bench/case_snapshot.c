/*
 * bench/case_snapshot: case 7 (`--case snapshot`), a running guest saved
 * to files and started again from them: gmvm's vm.snapshot and
 * `gmvm run --restore` in each restore mode, next to QEMU 7.2 migrating to
 * a file and starting with -incoming from it.  Like the API cases it talks
 * to the VMMs while they run, so it has its own run function.  One run of
 * a side boots the guest, saves it, ends that VMM, restores in a new
 * process, checks that the guest carries on, ends it and deletes the files.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "api_client.h"
#include "background.h"
#include "bench.h"
#include "qmp.h"

#define GUEST_MB 1000		/* what the guest keeps written, of its 1 GiB */
#define GUEST_CMDLINE "dirty.mb=1000 dirty.share=100 dirty.seconds=600"
#define ROUND_LINE "dirty: round "
#define BOOT_TIMEOUT_MS 180000	/* boot, 1000 MiB written, then a whole round */
#define SAVE_TIMEOUT_MS 180000
#define RESTORE_TIMEOUT_MS 60000	/* until the restored guest runs */
#define CARRY_ON_TIMEOUT_MS 180000	/* until its next round line; ondemand loads what it touches */
#define END_TIMEOUT_MS 10000
#define QMP_TIMEOUT_MS 10000	/* one QMP answer */
#define RESTORE_POLL_US 100	/* timed: QEMU's QMP socket and its status while it loads */
#define MIGRATE_POLL_US 1000	/* timed: query-migrate until completed */
#define QEMU_MAX_BANDWIDTH ((json_int_t)1 << 40)	/* bytes/s: no throttle */
#define FREE_NEEDED_GIB 2.0	/* one side's files (about 1 GiB) at a time, with room to spare */
#define MIG_FILE "qemu.mig"

enum { S7_COPY, S7_MAP, S7_ONDEMAND, S7_QEMU };
enum { M7_SAVE_MS, M7_SAVE_MBS, M7_RESTORE_MS, M7_DISK_MIB };
enum { R7_SAVE, R7_RESTORE_COPY, R7_RESTORE_MAP, R7_RESTORE_ONDEMAND, R7_DISK };

static const char *const modes[] = { [S7_COPY] = "copy", [S7_MAP] = "map", [S7_ONDEMAND] = "ondemand" };

/* The case's own state: bench_case.priv is case 3's. */
static char base_dir[PATH_MAX - 64];	/* each run's files go to a new directory in here */
static char about[8192];

/* One run of one side: its files, and the VMM running now with the bench's connection to it. */
struct snap_run {
	char dir[PATH_MAX];	/* $DIR, made for this run */
	char snap[PATH_MAX + 16], events[PATH_MAX + 16], mig[PATH_MAX + 16];
	struct bg_proc p;	/* p.out -1: nothing started */
	struct api_client a;	/* gmvm; a.curl NULL when closed */
	struct qmp q;		/* QEMU; q.fd -1 when closed */
};

/* ---- checks made when the case is built ---- */


/* restore-mode=ondemand needs a userfaultfd that sees KVM's faults, as gmvm opens it. */
static bool userfaultfd_denied(char *why, size_t len)
{
#ifdef SYS_userfaultfd
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd >= 0) {
		close(fd);
		return false;
	}
	if (errno == EPERM)
		snprintf(why, len, "userfaultfd for kernel faults is denied to this user "
			 "(vm.unprivileged_userfaultfd=0); run as root, or set vm.unprivileged_userfaultfd=1");
	else
		snprintf(why, len, "no userfaultfd on this kernel (%s)", strerror(errno));
#else
	snprintf(why, len, "this build has no userfaultfd system call number");
#endif
	return true;
}

static const char *fs_name(const char *path)
{
	static char other[48];
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return "file system unknown";
	switch ((unsigned long)sf.f_type) {
	case 0x01021994: return "tmpfs: RAM, not a disk";
	case 0xef53: return "ext2/3/4";
	case 0x58465342: return "xfs";
	case 0x9123683e: return "btrfs";
	case 0x794c7630: return "overlayfs";
	case 0x2fc12fc1: return "zfs";
	case 0xf2f52010: return "f2fs";
	}
	snprintf(other, sizeof(other), "file system magic 0x%lx", (unsigned long)sf.f_type);
	return other;
}

/* $TMPDIR, else /var/tmp (a disk on most systems, where /tmp may be RAM), else /tmp. */
static void choose_base(struct bench_case *c)
{
	const char *tmp = getenv("TMPDIR");
	const char *base = tmp && *tmp ? tmp : "/var/tmp";
	struct statvfs sv;
	struct stat st;
	double free_gib;

	if (!(tmp && *tmp) && (stat(base, &st) < 0 || !S_ISDIR(st.st_mode)))
		base = "/tmp";
	char real[PATH_MAX];
	const char *chosen = realpath(base, real) ? real : base;

	snprintf(base_dir, sizeof(base_dir), "%.*s", (int)sizeof(base_dir) - 1, chosen);
	if (c->skip[0])
		return;
	if (strlen(chosen) >= sizeof(base_dir))
		snprintf(c->skip, sizeof(c->skip), "the path of %.100s... is too long for the snapshot files; set "
			 "TMPDIR to a shorter one", chosen);
	else if (statvfs(base_dir, &sv) < 0)
		snprintf(c->skip, sizeof(c->skip), "cannot look at %.100s (%s); set TMPDIR to a writable directory "
			 "with 2 GiB free", base_dir, strerror(errno));
	else if ((free_gib = (double)sv.f_bavail * (double)sv.f_frsize / (double)BENCH_GIB) < FREE_NEEDED_GIB)
		snprintf(c->skip, sizeof(c->skip), "%.1f GiB free in %.100s, 2 GiB needed for the snapshot files; set "
			 "TMPDIR to a directory with room", free_gib, base_dir);
	else if (strchr(base_dir, '\''))
		snprintf(c->skip, sizeof(c->skip), "%.80s has a ' in its path, which QEMU's exec: migration command "
			 "cannot quote; set TMPDIR to another directory", base_dir);
}

/* ---- files ---- */

static int make_workdir(struct snap_run *x, char *why, size_t whylen)
{
	snprintf(x->dir, sizeof(x->dir), "%s/gmvm-bench-snap-XXXXXX", base_dir);
	if (!mkdtemp(x->dir)) {
		snprintf(why, whylen, "cannot make a directory in %s: %s; set TMPDIR to a writable directory", base_dir,
			 strerror(errno));
		x->dir[0] = '\0';
		return -1;
	}
	snprintf(x->snap, sizeof(x->snap), "%s/snap", x->dir);
	snprintf(x->events, sizeof(x->events), "%s/events", x->dir);
	snprintf(x->mig, sizeof(x->mig), "%s/" MIG_FILE, x->dir);
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

/* The run's own directory and whatever the VMMs left in it. */
static void remove_workdir(struct snap_run *x)
{
	if (x->dir[0])
		nftw(x->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	x->dir[0] = '\0';
}

/* Adds the space path takes on disk (st_blocks, so holes are free) to *bytes. */
static int add_disk_use(const char *path, double *bytes, char *why, size_t whylen)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(why, whylen, "cannot stat %s: %s", path, strerror(errno));
		return -1;
	}
	*bytes += (double)st.st_blocks * 512;
	return 0;
}

/* ---- processes and connections ---- */

static void close_conns(struct snap_run *x)
{
	if (x->a.curl)
		api_client_close(&x->a);
	qmp_close(&x->q);
}

/* Waits for the VMM asked to end (by `asked`) to go; -1 with a reason if it stays (it is then killed). */
static int wait_gone(struct snap_run *x, const char *asked, char *why, size_t whylen)
{
	close_conns(x);
	if (bg_wait_end(&x->p, END_TIMEOUT_MS) < 0) {
		snprintf(why, whylen, "still running %d s after %s (killed)", END_TIMEOUT_MS / 1000, asked);
		return -1;
	}
	bg_stop(&x->p);
	return 0;
}

/* ---- gmvm: the API, and the event monitor's file ---- */

static int gmvm_connect(struct snap_run *x, const char *sock, char *why, size_t whylen)
{
	int fd = bg_connect_unix(&x->p, sock, BG_POLL_US, BOOT_TIMEOUT_MS, why, whylen);

	if (fd < 0)
		return -1;
	close(fd); /* it listens; curl makes its own connection */
	if (api_client_open(&x->a, sock, why, whylen) < 0)
		return -1;
	/* untimed: curl's connect is not part of what is measured after it */
	return api_request_ok(&x->a, "GET", "vmm.ping", why, whylen);
}

/*
 * PUT with a JSON body on the api_client's handle (api_request sends empty
 * bodies only), so the request goes over the connection already open.
 * Leaves the handle as api_request expects to find it.  The HTTP status,
 * or -1 with a reason.
 */
static long put_json(struct api_client *a, const char *endpoint, const char *body, long timeout_ms, char *why,
		     size_t whylen)
{
	struct curl_slist *type = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *h = a->curl;
	long status = 0;
	char url[256];

	if (!type) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	snprintf(url, sizeof(url), "http://localhost/api/v1/%s", endpoint);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, type);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	a->len = 0;
	if (a->body)
		a->body[0] = '\0';
	a->curl_err[0] = '\0';
	CURLcode rc = curl_easy_perform(h);

	curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)END_TIMEOUT_MS);
	curl_slist_free_all(type);
	if (rc != CURLE_OK) {
		snprintf(why, whylen, "PUT %s: no answer on %s: %s", endpoint, a->sock,
			 a->curl_err[0] ? a->curl_err : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

static int gmvm_end(struct snap_run *x, char *why, size_t whylen)
{
	char answer[300];

	/* the answer may be lost to the exit itself; the process ending is what counts */
	api_request_ok(&x->a, "PUT", "vm.shutdown", answer, sizeof(answer));
	return wait_gone(x, "PUT vm.shutdown", why, whylen);
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
	    bg_wait_line(&x->p, ROUND_LINE, BOOT_TIMEOUT_MS, why, whylen) < 0 ||
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
	long status = put_json(&x->a, "vm.snapshot", body, SAVE_TIMEOUT_MS, why, whylen);
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
	json_t *mem = json_object_get(ans, "memory_bytes");

	if (!json_is_integer(mem))
		snprintf(why, whylen, "PUT vm.snapshot: no whole number \"memory_bytes\" in %.300s", answer);
	else if (json_integer_value(mem) < (json_int_t)GUEST_MB << 20)
		snprintf(why, whylen, "PUT vm.snapshot wrote %lld bytes of RAM, less than the %d MiB the guest wrote: "
			 "%.300s", (long long)json_integer_value(mem), GUEST_MB, answer);
	else
		r = 0;
	json_decref(ans);
	if (r < 0)
		return -1;
	out[M7_SAVE_MS] = us / 1e3;
	out[M7_SAVE_MBS] = (double)BENCH_GIB / us; /* bytes per us = MB/s */
	return gmvm_end(x, why, whylen);
}

/* Finds the first `resumed` event's timestamp_us in the event monitor's file; false while there is none. */
static bool resumed_at(const char *events, double *ts_us)
{
	FILE *f = fopen(events, "r");
	char line[1024];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		json_t *e = json_loads(line, 0, NULL); /* a line is written whole, but may not be there yet */
		const char *kind = json_string_value(json_object_get(e, "event"));
		json_t *ts = json_object_get(e, "timestamp_us");

		if (kind && !strcmp(kind, "resumed") && json_is_integer(ts)) {
			*ts_us = (double)json_integer_value(ts);
			found = true;
		}
		json_decref(e);
	}
	fclose(f);
	return found;
}

static int gmvm_restore(struct snap_run *x, const struct bench_side *s, const char *mode, double *out, char *why,
			size_t whylen)
{
	char monitor[PATH_MAX + 32];
	double ts = 0;

	snprintf(monitor, sizeof(monitor), "path=%s", x->events);
	char *argv[] = { s->argv[0], "run", "--restore", x->snap, "--restore-mode", (char *)mode, "--api-sock",
			 (char *)s->sock, "--event-monitor", monitor, NULL };

	unlink(s->sock);
	double t0 = bg_now_us();

	if (bg_start(&x->p, argv, why, whylen) < 0)
		return -1;
	/* the time comes from the event, so this polling is not in it */
	for (double deadline = t0 + RESTORE_TIMEOUT_MS * 1e3;;) {
		bool alive = bg_alive(&x->p); /* before reading: an event written just before exit still counts */

		if (resumed_at(x->events, &ts))
			break;
		if (!alive) {
			snprintf(why, whylen, "it ended (exit status %d) before its 'resumed' event in %s", x->p.status,
				 x->events);
			return -1;
		}
		if (bg_now_us() > deadline) {
			snprintf(why, whylen, "no 'resumed' event in %s after %d ms", x->events, RESTORE_TIMEOUT_MS);
			return -1;
		}
		usleep(1000);
	}
	if (ts < t0) {
		snprintf(why, whylen, "its 'resumed' event has timestamp_us %.0f, before the bench started it (%.0f): "
			 "not CLOCK_MONOTONIC microseconds?", ts, t0);
		return -1;
	}
	out[M7_RESTORE_MS] = (ts - t0) / 1e3;
	/* untimed: the guest checks what it rewrites, so a bad restore ends here */
	if (bg_wait_line(&x->p, ROUND_LINE, CARRY_ON_TIMEOUT_MS, why, whylen) < 0 ||
	    gmvm_connect(x, s->sock, why, whylen) < 0)
		return -1;
	return gmvm_end(x, why, whylen);
}

static int run_gmvm(struct snap_run *x, const struct bench_side *s, const char *mode, double *out, char *why,
		    size_t whylen)
{
	double disk = 0;

	if (gmvm_save(x, s, out, why, whylen) < 0 ||
	    add_disk_use(bench_path_in(x->snap, "ram.mem"), &disk, why, whylen) < 0 ||
	    add_disk_use(bench_path_in(x->snap, "state"), &disk, why, whylen) < 0)
		return -1;
	out[M7_DISK_MIB] = disk / (1 << 20);
	return gmvm_restore(x, s, mode, out, why, whylen);
}

/* ---- QEMU: QMP commands with arguments and answers ---- */

/*
 * Runs cmd (a QMP command object, taken over) and reads up to its answer,
 * passing events by.  *ret (when ret is not NULL): the answer's "return",
 * for the caller to json_decref.  -1 with QEMU's error or the failure.
 */
static int qmp_call(struct qmp *q, json_t *cmd, json_t **ret, char *why, size_t whylen)
{
	char name[64];
	char *text = cmd ? json_dumps(cmd, JSON_COMPACT) : NULL;
	int r = -1;

	snprintf(name, sizeof(name), "%s", cmd ? json_string_value(json_object_get(cmd, "execute")) : "?");
	json_decref(cmd);
	if (!text) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	size_t n = strlen(text);

	text[n] = '\n'; /* in place of the NUL: what is sent is the line */
	if (qmp_send(q, text, n + 1, why, whylen) < 0)
		goto out;
	for (;;) {
		if (qmp_read_line(q, why, whylen) < 0)
			goto out;
		json_t *root = json_loads(q->line, 0, NULL);
		json_t *val = json_object_get(root, "return"), *e = json_object_get(root, "error");

		if (val) {
			if (ret)
				*ret = json_incref(val);
			json_decref(root);
			r = 0;
			goto out;
		}
		if (json_is_object(e)) {
			const char *desc = json_string_value(json_object_get(e, "desc"));

			snprintf(why, whylen, "QMP %s: %s", name, desc ? desc : q->line);
			json_decref(root);
			goto out;
		}
		bool event = json_is_string(json_object_get(root, "event"));

		json_decref(root);
		if (!event) {
			snprintf(why, whylen, "QMP %s: unexpected line: %.200s", name, q->line);
			goto out;
		}
	}
out:
	free(text);
	return r;
}

static int qmp_simple(struct qmp *q, const char *execute, char *why, size_t whylen)
{
	return qmp_call(q, json_pack("{s:s}", "execute", execute), NULL, why, whylen);
}

/* A string field of a QMP query's answer, copied into buf; -1 with a reason when absent. */
static int qmp_query(struct qmp *q, const char *execute, const char *field, char *buf, size_t len, char *detail,
		     size_t detaillen, char *why, size_t whylen)
{
	json_t *ret = NULL;

	if (qmp_call(q, json_pack("{s:s}", "execute", execute), &ret, why, whylen) < 0)
		return -1;
	const char *v = json_string_value(json_object_get(ret, field));
	const char *d = json_string_value(json_object_get(ret, "error-desc"));

	if (v)
		snprintf(buf, len, "%s", v);
	else
		snprintf(why, whylen, "QMP %s: no \"%s\" in its answer", execute, field);
	if (detaillen)
		snprintf(detail, detaillen, "%s", d ? d : "");
	json_decref(ret);
	return v ? 0 : -1;
}

static int qemu_connect(struct snap_run *x, const char *sock, int poll_us, int timeout_ms, char *why, size_t whylen)
{
	int fd = bg_connect_unix(&x->p, sock, poll_us, timeout_ms, why, whylen);

	return fd < 0 ? -1 : qmp_open(&x->q, fd, why, whylen);
}

static int qemu_end(struct snap_run *x, char *why, size_t whylen)
{
	char answer[300];

	qmp_execute(&x->q, "quit", answer, sizeof(answer));
	return wait_gone(x, "QMP quit", why, whylen);
}

static int qemu_save(struct snap_run *x, const struct bench_side *s, double *out, char *why, size_t whylen)
{
	char uri[PATH_MAX + 32], status[32] = "", detail[256];

	unlink(s->sock);
	if (bg_start(&x->p, s->argv, why, whylen) < 0 ||
	    bg_wait_line(&x->p, ROUND_LINE, BOOT_TIMEOUT_MS, why, whylen) < 0 ||
	    qemu_connect(x, s->sock, BG_POLL_US, BOOT_TIMEOUT_MS, why, whylen) < 0 ||
	    qmp_call(&x->q, json_pack("{s:s, s:{s:I}}", "execute", "migrate-set-parameters", "arguments",
				      "max-bandwidth", QEMU_MAX_BANDWIDTH), NULL, why, whylen) < 0)
		return -1;
	snprintf(uri, sizeof(uri), "exec:cat > '%s'", x->mig);
	double t0 = bg_now_us();

	if (qmp_simple(&x->q, "stop", why, whylen) < 0 ||
	    qmp_call(&x->q, json_pack("{s:s, s:{s:s}}", "execute", "migrate", "arguments", "uri", uri), NULL, why,
		     whylen) < 0)
		return -1;
	for (;;) {
		if (qmp_query(&x->q, "query-migrate", "status", status, sizeof(status), detail, sizeof(detail), why,
			      whylen) < 0)
			return -1;
		if (!strcmp(status, "completed"))
			break;
		if (!strcmp(status, "failed") || !strcmp(status, "cancelled")) {
			snprintf(why, whylen, "the migration to %s %s%s%s", x->mig, status, detail[0] ? ": " : "",
				 detail);
			return -1;
		}
		if (bg_now_us() - t0 > SAVE_TIMEOUT_MS * 1e3) {
			snprintf(why, whylen, "the migration to %s is still '%s' after %d s", x->mig, status,
				 SAVE_TIMEOUT_MS / 1000);
			return -1;
		}
		usleep(MIGRATE_POLL_US);
	}
	double us = bg_now_us() - t0;

	out[M7_SAVE_MS] = us / 1e3;
	out[M7_SAVE_MBS] = (double)BENCH_GIB / us;
	/* QEMU reaps its `cat` once the migration is cleaned up, well before it has quit */
	return qemu_end(x, why, whylen);
}

static int qemu_restore(struct snap_run *x, const struct bench_side *s, double *out, char *why, size_t whylen)
{
	char *argv[BENCH_MAX_ARGS + 4], uri[PATH_MAX + 32], status[32] = "";
	int n = 0;

	snprintf(uri, sizeof(uri), "exec:cat '%s'", x->mig);
	while (s->argv[n] && n < BENCH_MAX_ARGS) {
		argv[n] = s->argv[n];
		n++;
	}
	argv[n++] = "-S";
	argv[n++] = "-incoming";
	argv[n++] = uri;
	argv[n] = NULL;
	unlink(s->sock);
	double t0 = bg_now_us();

	if (bg_start(&x->p, argv, why, whylen) < 0 ||
	    qemu_connect(x, s->sock, RESTORE_POLL_US, RESTORE_TIMEOUT_MS, why, whylen) < 0)
		return -1;
	for (;;) {
		if (qmp_query(&x->q, "query-status", "status", status, sizeof(status), NULL, 0, why, whylen) < 0)
			return -1;
		if (!strcmp(status, "paused"))
			break;
		if (strcmp(status, "inmigrate")) {
			snprintf(why, whylen, "QEMU's status went from 'inmigrate' to '%s' while loading %s, expected "
				 "'paused'", status, x->mig);
			return -1;
		}
		if (bg_now_us() - t0 > RESTORE_TIMEOUT_MS * 1e3) {
			snprintf(why, whylen, "QEMU is still loading %s after %d ms", x->mig, RESTORE_TIMEOUT_MS);
			return -1;
		}
		usleep(RESTORE_POLL_US);
	}
	if (qmp_simple(&x->q, "cont", why, whylen) < 0)
		return -1;
	out[M7_RESTORE_MS] = (bg_now_us() - t0) / 1e3;
	if (bg_wait_line(&x->p, ROUND_LINE, CARRY_ON_TIMEOUT_MS, why, whylen) < 0)
		return -1;
	return qemu_end(x, why, whylen);
}

static int run_qemu(struct snap_run *x, const struct bench_side *s, double *out, char *why, size_t whylen)
{
	double disk = 0;

	if (qemu_save(x, s, out, why, whylen) < 0 || add_disk_use(x->mig, &disk, why, whylen) < 0)
		return -1;
	out[M7_DISK_MIB] = disk / (1 << 20);
	return qemu_restore(x, s, out, why, whylen);
}

/* ---- the case ---- */

static int run_snapshot(struct bench_case *c, int side, double *out, char *why, size_t whylen, char **output)
{
	struct snap_run *x = calloc(1, sizeof(*x));
	int r = -1;

	if (!x) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	x->p.out = -1;
	x->q.fd = -1;
	if (make_workdir(x, why, whylen) == 0)
		r = side == S7_QEMU ? run_qemu(x, &c->sides[side], out, why, whylen)
				    : run_gmvm(x, &c->sides[side], modes[side], out, why, whylen);
	close_conns(x);
	if (r < 0 && x->p.out >= 0) {
		bg_alive(&x->p); /* reap first if it ended by itself */
		*output = bg_output(&x->p);
	}
	bg_stop(&x->p);
	remove_workdir(x);
	free(x);
	return r;
}

static void build_about(void)
{
	snprintf(about, sizeof(about),
		 "A running guest saved to files and started again from them. The `dirty` guest (1 vCPU, 1 GiB of "
		 "RAM, command line `" GUEST_CMDLINE "`) writes %d MiB of its RAM, then keeps rewriting random "
		 "pages of it, checking that each still holds what it last wrote there; the bench waits for its first `"
		 ROUND_LINE "N ok` line, so all of it has been written and the guest is busy when it is saved. gmvm "
		 "runs it on `--memory 1G,backend=memfd` (restore modes map and ondemand need memfd or anon), QEMU "
		 "microvm on memory-backend-memfd as in case 1. Each run of a side saves once and restores once; "
		 "the three gmvm sides save alike and differ in `--restore-mode`.\n\n"
		 "- *save ms*: gmvm: `PUT /api/v1/vm.snapshot` with "
		 "`{\"destination_url\":\"file://$DIR/snap\",\"type\":\"full\"}` (what `gmvm snapshot --api-sock "
		 "SOCK $DIR/snap` sends), from sending it to having read the answer, on a connection opened "
		 "before; gmvm pauses the guest for the write and resumes it. QEMU: QMP `stop`, then `migrate` "
		 "with `{\"uri\":\"exec:cat > '$DIR/" MIG_FILE "'\"}`, then `query-migrate` every %d ms until it "
		 "says `completed`, timed from sending `stop`. QEMU's migration bandwidth limit is lifted first, "
		 "untimed (`migrate-set-parameters` `max-bandwidth` 1 TiB/s), so that no throttle can decide the "
		 "result.\n"
		 "- *save MB/s*: the guest's RAM size (1 GiB = 1073.7 MB) / the save time.\n"
		 "- *restore ms*: the saving VMM is ended (untimed) and a new process restores: `gmvm run --restore "
		 "$DIR/snap --restore-mode MODE --api-sock SOCK --event-monitor path=$DIR/events`, or QEMU's "
		 "command below with `-S -incoming \"exec:cat '$DIR/" MIG_FILE "'\"` added. Timed from just before "
		 "the bench forks that process until the guest runs: for gmvm the `timestamp_us` of its `resumed` "
		 "event (CLOCK_MONOTONIC, the bench's clock too), written when the loaded vCPUs are released, so an "
		 "upper bound of the first guest instruction by a thread wake-up; for QEMU until QMP `cont` has "
		 "answered, sent once `query-status` (asked every %.1f ms, on a QMP socket tried as often) has gone "
		 "from `inmigrate` to `paused`. `copy` fills all of RAM from the file before the guest runs; `map` "
		 "maps `ram.mem` privately and `ondemand` serves pages through userfaultfd, both as the guest first "
		 "touches them, so their restore ms leaves out the loading the guest pays later.\n"
		 "- *disk MiB*: the space the files take (st_blocks x 512): gmvm's `ram.mem` + `state` (pages of "
		 "zeros are holes), QEMU's migration file.\n\n"
		 "Each run then waits, untimed, for the restored guest's next `" ROUND_LINE "N ok` line (the guest "
		 "checks every page it rewrites, so a restore that lost or mixed up RAM fails the run), ends it and "
		 "deletes `$DIR`, a new directory in `%s` (%s; `TMPDIR` chooses another) for each run. Neither VMM "
		 "flushes the RAM it writes: both save into the page cache and restore from it.",
		 GUEST_MB, MIGRATE_POLL_US / 1000, RESTORE_POLL_US / 1000.0, base_dir, fs_name(base_dir));
}

void bench_case_snapshot(struct bench_case *c, const struct bench_opts *o)
{
	const char *dirty = bench_path_in(o->guests, "dirty.elf");
	char label[48], qmp[160];

	bench_init_case(c, o, 7, "Snapshot and restore");
	c->run = run_snapshot;
	c->n_metrics = 4;
	c->metrics[M7_SAVE_MS] = (struct bench_metric){ "save ms", 1 };
	c->metrics[M7_SAVE_MBS] = (struct bench_metric){ "save MB/s", 0 };
	c->metrics[M7_RESTORE_MS] = (struct bench_metric){ "restore ms", 2 };
	c->metrics[M7_DISK_MIB] = (struct bench_metric){ "disk MiB", 1 };
	for (int s = S7_COPY; s <= S7_ONDEMAND; s++) {
		snprintf(label, sizeof(label), "gmvm restore-mode=%s", modes[s]);
		struct bench_side *g = bench_add_side(c, label, o->gmvm, "run", "--cpus", "1", "--memory",
						      "1G,backend=memfd", "--cmdline", GUEST_CMDLINE, (char *)NULL);

		snprintf(g->sock, sizeof(g->sock), "%s/gmvm.sock", o->sockdir);
		bench_side_append(g, "--api-sock", g->sock, dirty, (char *)NULL);
	}
	struct bench_side *q = bench_add_qemu(c, o, "QEMU", dirty, "1");

	snprintf(q->sock, sizeof(q->sock), "%s/qmp.sock", o->sockdir);
	snprintf(qmp, sizeof(qmp), "unix:%s,server=on,wait=off", q->sock);
	bench_side_append(q, "-append", GUEST_CMDLINE, "-qmp", qmp, (char *)NULL);

	bench_add_ratio(c, S7_COPY, S7_QEMU, M7_SAVE_MBS, "gmvm save MB/s / QEMU's");
	bench_add_ratio(c, S7_QEMU, S7_COPY, M7_RESTORE_MS, "QEMU restore ms / gmvm copy's");
	bench_add_ratio(c, S7_QEMU, S7_MAP, M7_RESTORE_MS, "QEMU restore ms / gmvm map's");
	bench_add_ratio(c, S7_QEMU, S7_ONDEMAND, M7_RESTORE_MS, "QEMU restore ms / gmvm ondemand's");
	bench_add_ratio(c, S7_COPY, S7_QEMU, M7_DISK_MIB, "gmvm disk MiB / QEMU's");
	c->n_targets = 4;
	c->targets[0] = (struct bench_target){ "gmvm saves at >= 3x QEMU's MB/s (copy side's save)", R7_SAVE, 0, 0,
					       false, 3, "x" };
	c->targets[1] = (struct bench_target){ "gmvm map: restore to the guest running <= 10 ms", -1, S7_MAP,
					       M7_RESTORE_MS, true, 10, " ms" };
	c->targets[2] = (struct bench_target){ "gmvm ondemand: restore to the guest running <= 10 ms", -1,
					       S7_ONDEMAND, M7_RESTORE_MS, true, 10, " ms" };
	c->targets[3] = (struct bench_target){ "gmvm copy restores >= 3x faster than QEMU", R7_RESTORE_COPY, 0, 0,
					       false, 3, "x" };
	if (!bg_kvm_unusable(c->skip, sizeof(c->skip)))
		userfaultfd_denied(c->sides[S7_ONDEMAND].skip, sizeof(c->sides[S7_ONDEMAND].skip));
	choose_base(c);
	build_about();
	c->about = about;
}
