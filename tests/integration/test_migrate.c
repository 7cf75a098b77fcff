/*
 * Live migration between two real `gmvm run` processes over real sockets:
 * the source with --api-sock and a guest, the destination with --incoming,
 * the migration started through the API.  The guest's own check passes on
 * the destination and its console goes on there; the source exits 0.  The
 * faults: a destination that is not there, one that refuses, one killed
 * midway, a corrupt stream, a cancel, a stalled link: each time the source
 * runs on with its guest intact.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "procs.h"
#include "test_vm.h"

struct peer {
	char sock[128], console[128], out[128], err[128], events[128];
	pid_t pid;
};

static struct {
	char dir[64], url[160];
	struct peer src, dst;
} mt;

static void peer_paths(struct peer *p, const char *name)
{
	snprintf(p->sock, sizeof(p->sock), "%s/%s.sock", mt.dir, name);
	snprintf(p->console, sizeof(p->console), "%s/%s.console", mt.dir, name);
	snprintf(p->out, sizeof(p->out), "%s/%s.out", mt.dir, name);
	snprintf(p->err, sizeof(p->err), "%s/%s.err", mt.dir, name);
	snprintf(p->events, sizeof(p->events), "%s/%s.events", mt.dir, name);
}

static void setup(void)
{
	strcpy(mt.dir, "/tmp/gmvm-mig-XXXXXX");
	cr_assert(mkdtemp(mt.dir));
	peer_paths(&mt.src, "src");
	peer_paths(&mt.dst, "dst");
	snprintf(mt.url, sizeof(mt.url), "unix:%s/migrate.sock", mt.dir);
	/* the man in the middle below writes to peers that may have gone */
	signal(SIGPIPE, SIG_IGN);
	/* the identity locks of both ends in this test's own directory */
	char run[96];
	snprintf(run, sizeof(run), "%s/run", mt.dir);
	setenv("GMVM_RUN_DIR", run, 1);
}

static void teardown(void)
{
	kill_reap(&mt.src.pid);
	kill_reap(&mt.dst.pid);
	if (mt.dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", mt.dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", mt.dir);
	}
}

TestSuite(migrate, .init = setup, .fini = teardown, .timeout = 600);

static void dump(const char *what, const char *path)
{
	char *s = slurp(path);
	fprintf(stderr, "---- %s (%s)\n%s\n", what, path, s);
	free(s);
}

static void dump_all(void)
{
	dump("source stderr", mt.src.err);
	dump("source console", mt.src.console);
	dump("destination stderr", mt.dst.err);
	dump("destination console", mt.dst.console);
}

/* The source: guest with cmdline on memory, the API, events; wait for want on its console. */
static void start_source(const char *guest, const char *memory, const char *cpus, const char *cmdline,
			 const char *want)
{
	char con[160], mon[160];
	char *elf = guest_path(guest);

	require_kvm();
	snprintf(con, sizeof(con), "file:%s", mt.src.console);
	snprintf(mon, sizeof(mon), "path=%s", mt.src.events);
	const char *argv[] = { gmvm_bin(), "run", "--api-sock", mt.src.sock, "--event-monitor", mon, "--console", con,
			       "--memory", test_memory(memory), "--cpus", cpus, "--cmdline", cmdline, elf, NULL };
	mt.src.pid = spawn(argv, mt.src.out, mt.src.err);
	for (int i = 0; i < 3000 && !can_connect(mt.src.sock); i++) {
		cr_assert_eq(wait_exit(mt.src.pid, 0.02), -1, "the source ended early");
	}
	cr_assert(can_connect(mt.src.sock), "no API on the source");
	if (!wait_file_has(mt.src.console, want, 120)) {
		dump_all();
		cr_assert_fail("no '%s' on the source's console", want);
	}
	free(elf);
}

/* The destination, listening on mt.url; extra options (NULL-terminated) after the fixed ones. */
static void start_dest(const char *extra, ...)
{
	char con[160], mon[160];
	const char *argv[32];
	unsigned n = 0;
	va_list ap;

	snprintf(con, sizeof(con), "file:%s", mt.dst.console);
	argv[n++] = gmvm_bin();
	argv[n++] = "run";
	argv[n++] = "--incoming";
	argv[n++] = mt.url;
	argv[n++] = "--console";
	argv[n++] = con;
	argv[n++] = "--api-sock";
	argv[n++] = mt.dst.sock;
	snprintf(mon, sizeof(mon), "path=%s", mt.dst.events);
	argv[n++] = "--event-monitor";
	argv[n++] = mon;
	va_start(ap, extra);
	for (const char *a = extra; a && n < 30; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	mt.dst.pid = spawn(argv, mt.dst.out, mt.dst.err);
	/* listening: the socket file is there */
	for (int i = 0; i < 500 && access(mt.url + 5, F_OK) != 0; i++)
		cr_assert_eq(wait_exit(mt.dst.pid, 0.02), -1, "the destination ended early:\n%s", slurp(mt.dst.err));
}

/* PUT /api/v1/endpoint with body through curl; the HTTP status and the JSON. */
static struct answer put(const char *sock, const char *endpoint, const char *body)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/answer.json", mt.dir);
	return api_put(sock, endpoint, body, path, dump_all);
}

static struct answer migrate(const char *fields)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"destination_url\":\"%s\"%s%s}", mt.url, fields ? "," : "", fields ? fields : "");
	return put(mt.src.sock, "vm.send-migration", body);
}

static double num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	cr_assert(json_is_number(v), "no number %s", key);
	return json_number_value(v);
}

/* The migration completed, the source exited 0, the guest finishes on the destination. */
static void expect_migrated(struct answer a, const char *guest_ok)
{
	if (a.http != 200)
		dump_all();
	cr_assert_eq(a.http, 200, "%s", json_dumps(a.body, 0));
	cr_expect_str_eq(json_string_value(json_object_get(a.body, "status")), "completed");
	cr_expect_gt(num(a.body, "bytes_sent"), 0);
	cr_expect_geq(num(a.body, "downtime_ms"), 0);
	cr_expect_geq(num(a.body, "rounds"), 1);
	int st = wait_exit(mt.src.pid, 60);
	mt.src.pid = st == -1 ? mt.src.pid : 0;
	cr_expect_eq(st, 0, "the source's exit status");
	st = wait_exit(mt.dst.pid, 300);
	mt.dst.pid = st == -1 ? mt.dst.pid : 0;
	if (st != 0)
		dump_all();
	cr_expect_eq(st, 0, "the destination's exit status (the guest's)");
	char *con = slurp(mt.dst.console);
	cr_expect(strstr(con, guest_ok), "no '%s' on the destination's console:\n%s", guest_ok, con);
	free(con);
	char *ev = slurp(mt.src.events);
	cr_expect(strstr(ev, "\"event\":\"migrated\""), "no migrated event:\n%s", ev);
	free(ev);
	json_decref(a.body);
}

/* A guest that outlives any migration here: 20 s with a clock, 2000 rounds without (TCG: minutes). */
/* A guest rewriting 32 MiB for seconds of wall-clock time (the test waits for it to end). */
static void start_dirty_source_for(unsigned seconds)
{
	char cmdline[96];

	snprintf(cmdline, sizeof(cmdline), "dirty.mb=32 dirty.seconds=%u dirty.rounds=2000", seconds);
	start_source("dirty", "size=256M", "1", cmdline, "dirty: start");
}

static void start_dirty_source(void)
{
	start_dirty_source_for(20);
}

Test(migrate, dirty_guest_moves_over_a_unix_socket)
{
	start_dirty_source();
	start_dest(NULL);
	sleep_ms(1000); /* into its rounds of rewriting pages */
	expect_migrated(migrate(NULL), "dirty: ok pages=");
	char *con = slurp(mt.dst.console);
	cr_expect(!strstr(con, "dirty: start"), "the guest started again on the destination:\n%s", con);
	free(con);
}

/*
 * A man in the middle that flips one byte of what the source sends, past
 * the header: the destination refuses the stream naming the section, and
 * the source hears why and runs on.
 */
struct proxy {
	int lfd;
	char to[128];
	uint64_t flip_at;       /* 0: flip nothing */
	bool cut_when_running;  /* drop both ends once the destination says RUNNING */
	pid_t kill_on_running;  /* kill it when the destination says RUNNING, before the source hears it */
	unsigned delay_us;      /* a slow link: this long per read from the source */
	uint64_t kill_at;       /* kill kill_at_pid once this many bytes came from the source: */
	pid_t kill_at_pid;      /* midway, however fast the host migrates (0: nobody) */
};

static const char running_frame[8] = { 'G', 'M', 'A', 'N', 3, 0, 0, 0 };

static int unix_listen_at(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_lt(strlen(path), sizeof(a.sun_path));
	memcpy(a.sun_path, path, strlen(path) + 1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	return fd;
}

static void *proxy_main(void *arg)
{
	struct proxy *p = arg;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int in = accept(p->lfd, NULL, NULL), out = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint64_t passed = 0;
	bool src_open = true;
	char buf[65536];

	memcpy(a.sun_path, p->to, strlen(p->to) + 1);
	if (in < 0 || connect(out, (struct sockaddr *)&a, sizeof(a)) < 0) {
		if (in >= 0)
			close(in);
		close(out);
		return NULL;
	}
	for (;;) {
		struct pollfd pf[2] = { { .fd = src_open ? in : -1, .events = POLLIN }, { .fd = out, .events = POLLIN } };

		if (poll(pf, 2, -1) < 0)
			break;
		if (pf[0].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(in, buf, sizeof(buf));
			if (n > 0 && p->flip_at && p->flip_at >= passed && p->flip_at < passed + (uint64_t)n)
				buf[p->flip_at - passed] ^= 0x40;
			passed += n > 0 ? (uint64_t)n : 0;
			if (p->kill_at_pid && passed >= p->kill_at) {
				kill(p->kill_at_pid, SIGKILL);
				p->kill_at_pid = 0;
			}
			if (p->delay_us && n > 0)
				usleep(p->delay_us);
			/* the source is done, or the destination stopped reading: pass the
			 * end on, and let what the destination says back still go through */
			if (n <= 0 || send(out, buf, (size_t)n, MSG_NOSIGNAL) != n) {
				src_open = false;
				shutdown(out, SHUT_WR);
			}
		}
		if (pf[1].revents & (POLLIN | POLLHUP)) {
			ssize_t n = read(out, buf, sizeof(buf));
			if (n > 0 && p->kill_on_running && memmem(buf, (size_t)n, running_frame, sizeof(running_frame))) {
				kill(p->kill_on_running, SIGKILL);
				break;
			}
			if (n <= 0 || send(in, buf, (size_t)n, MSG_NOSIGNAL) != n)
				break;
			if (p->cut_when_running && memmem(buf, (size_t)n, running_frame, sizeof(running_frame)))
				break;
		}
	}
	close(in);
	close(out);
	return NULL;
}

/* A proxy from a new socket in the test's directory to the destination; its URL in url. */
static void proxy_start(struct proxy *p, pthread_t *t, char *url, size_t len)
{
	char via[160];

	cr_assert_lt(strlen(mt.url + 5), sizeof(p->to));
	memcpy(p->to, mt.url + 5, strlen(mt.url + 5) + 1);
	snprintf(via, sizeof(via), "%s/proxy.sock", mt.dir);
	p->lfd = unix_listen_at(via);
	snprintf(url, len, "unix:%s", via);
	pthread_create(t, NULL, proxy_main, p);
}

static void proxy_stop(struct proxy *p, pthread_t t)
{
	/* a source that never connected leaves the proxy in accept: this ends it */
	shutdown(p->lfd, SHUT_RDWR);
	pthread_join(t, NULL);
	close(p->lfd);
}

/* ---- the faults: the source runs on, its guest intact ---- */

/* The migration failed with http and a line holding want; the source's guest finishes as it would have. */
static void expect_source_runs_on(struct answer a, int http, const char *want)
{
	const char *msg = json_string_value(json_object_get(a.body, "error"));

	cr_expect_eq(a.http, http, "%s", json_dumps(a.body, 0));
	cr_expect(msg && strstr(msg, want), "error '%s' does not say '%s'", msg ? msg : "(none)", want);
	cr_expect(msg && !strchr(msg, '\n'), "more than one line: %s", msg);
	struct answer info = { 0 };
	char path[160];
	snprintf(path, sizeof(path), "%s/info.json", mt.dir);
	info.body = api_get_info(mt.src.sock, path);
	json_t *mig = json_object_get(info.body, "migration");
	const char *phase = json_string_value(json_object_get(mig, "phase"));
	/* "none": refused before anything began */
	cr_expect(phase && (!strcmp(phase, "failed") || !strcmp(phase, "cancelled") || !strcmp(phase, "none")),
		  "vm.info migration phase %s", phase ? phase : "(none)");
	cr_expect_str_eq(json_string_value(json_object_get(info.body, "state")), "running");
	json_decref(info.body);
	json_decref(a.body);
	int st = wait_exit(mt.src.pid, 300);
	mt.src.pid = st == -1 ? mt.src.pid : 0;
	if (st != 0)
		dump_all();
	cr_expect_eq(st, 0, "the source's guest did not finish well");
	char *con = slurp(mt.src.console);
	cr_expect(strstr(con, "dirty: ok pages="), "the source's guest did not pass its check:\n%s", con);
	free(con);
}


Test(migrate, nobody_listening_leaves_the_source_running)
{
	start_dirty_source();
	expect_source_runs_on(migrate(NULL), 500, "");
}

Test(migrate, a_destination_for_another_vm_refuses_before_anything_is_built)
{
	start_dirty_source();
	start_dest("--incoming-identity", "00000000-0000-4000-8000-000000000001", NULL);
	expect_source_runs_on(migrate(NULL), 400, "not 00000000-0000-4000-8000-000000000001");
	int st = wait_exit(mt.dst.pid, 30);
	mt.dst.pid = st == -1 ? mt.dst.pid : 0;
	cr_expect_eq(st, 2, "the destination's exit status");
	char *e = slurp(mt.dst.err);
	cr_expect(strstr(e, "--incoming-identity"), "%s", e);
	free(e);
	cr_expect_neq(access(mt.url + 5, F_OK), 0, "the destination left its socket behind");
}

/* A destination that takes the connection and then reads nothing: timeout_s ends it. */
static void *stalled_peer(void *arg)
{
	int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);

	sleep(30);
	if (fd >= 0)
		close(fd);
	return NULL;
}

Test(migrate, a_stalled_link_ends_by_timeout_s)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pthread_t t;

	start_dirty_source();
	cr_assert_lt(strlen(mt.url + 5), sizeof(a.sun_path));
	memcpy(a.sun_path, mt.url + 5, strlen(mt.url + 5) + 1);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 1), 0);
	pthread_create(&t, NULL, stalled_peer, &lfd);
	expect_source_runs_on(migrate("\"timeout_s\":3"), 500, "did not finish within timeout_s=3");
	pthread_cancel(t);
	pthread_join(t, NULL);
	close(lfd);
}

/*
 * A migration through a proxy that kills victim once 16 MiB of the stream
 * went by: midway through round one of the dirty guest's 256 MiB, on a host
 * that migrates it in 0.1 s as on one that takes a minute.
 */
static struct answer migrate_killing_at_16m(pid_t victim, const char *extra)
{
	struct proxy p = { .kill_at = 16u << 20, .kill_at_pid = victim };
	char url[170], body[320];
	pthread_t t;

	proxy_start(&p, &t, url, sizeof(url));
	snprintf(body, sizeof(body), "{\"destination_url\":\"%s\"%s%s}", url, extra ? "," : "", extra ? extra : "");
	struct answer a = put(mt.src.sock, "vm.send-migration", body);
	proxy_stop(&p, t);
	return a;
}

Test(migrate, a_destination_killed_midway_leaves_the_source_running)
{
	start_dirty_source();
	start_dest(NULL);
	expect_source_runs_on(migrate_killing_at_16m(mt.dst.pid, NULL), 500, "");
}

/* A cancel from another connection while the rounds go on. */
static void *cancel_soon(void *arg)
{
	(void)arg;
	for (int i = 0; i < 600; i++) {
		char *ev = slurp(mt.src.events);
		bool going = strstr(ev, "\"phase\":\"precopy\"") != NULL;
		free(ev);
		if (going)
			break;
		usleep(50000);
	}
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "curl -sS --unix-socket '%s' -X PUT -o /dev/null http://localhost/api/v1/vm.migration-cancel",
		 mt.src.sock);
	if (system(cmd) != 0)
		fprintf(stderr, "cancel failed\n");
	return NULL;
}

Test(migrate, a_cancel_stops_it_and_the_source_runs_on)
{
	pthread_t t;

	struct proxy p = { .delay_us = 20000 };
	pthread_t pt;
	char url[170], body[256];

	/* 45 s: the cancel and the vm.info after it must come while the guest lives (20 s ran out once in CI) */
	start_dirty_source_for(45);
	start_dest(NULL);
	/* a link of a few MB/s: the cancel comes while round one still runs */
	proxy_start(&p, &pt, url, sizeof(url));
	pthread_create(&t, NULL, cancel_soon, NULL);
	snprintf(body, sizeof(body), "{\"destination_url\":\"%s\"}", url);
	struct answer a = put(mt.src.sock, "vm.send-migration", body);
	pthread_join(t, NULL);
	proxy_stop(&p, pt);
	expect_source_runs_on(a, 500, "cancelled by vm.migration-cancel");
	int st = wait_exit(mt.dst.pid, 30);
	mt.dst.pid = st == -1 ? mt.dst.pid : 0;
	cr_expect_eq(st, 1, "the destination's exit status when its source went away");
	char *e = slurp(mt.dst.err);
	cr_expect(strstr(e, "closed the connection"), "%s", e);
	free(e);
}


Test(migrate, a_corrupted_stream_is_refused_naming_the_section)
{
	struct proxy p = { .flip_at = 300000 };
	char url[170];
	pthread_t t;

	start_dirty_source();
	start_dest(NULL);
	proxy_start(&p, &t, url, sizeof(url));
	char body[256];
	snprintf(body, sizeof(body), "{\"destination_url\":\"%s\"}", url);
	struct answer a = put(mt.src.sock, "vm.send-migration", body);
	const char *msg = json_string_value(json_object_get(a.body, "error"));
	cr_expect(msg && strstr(msg, "the destination refused the migration: state stream: section"),
		  "%s", msg ? msg : "(no error)");
	cr_expect(msg && strstr(msg, "checksum mismatch"), "%s", msg ? msg : "(no error)");
	expect_source_runs_on(a, 400, "at byte");
	int st = wait_exit(mt.dst.pid, 30);
	mt.dst.pid = st == -1 ? mt.dst.pid : 0;
	cr_expect_eq(st, 2, "the destination's exit status for a corrupt stream");
	char *e = slurp(mt.dst.err);
	cr_expect(strstr(e, "state stream: section") && strstr(e, "checksum mismatch"), "%s", e);
	free(e);
	proxy_stop(&p, t);
}

/* The destination dies with the guest loaded, before its RUNNING reaches the source. */
Test(migrate, a_destination_killed_before_its_answer_leaves_the_source_running)
{
	struct proxy p = { 0 };
	char url[170], body[256];
	pthread_t t;

	/* the whole migration runs before the kill: under TCG it can outlast
	 * start_dirty_source's 20 s guest, whose end would take the API with it */
	start_source("dirty", "size=256M", "1", "dirty.mb=32 dirty.seconds=40 dirty.rounds=4000", "dirty: start");
	start_dest(NULL);
	p.kill_on_running = mt.dst.pid;
	proxy_start(&p, &t, url, sizeof(url));
	snprintf(body, sizeof(body), "{\"destination_url\":\"%s\"}", url);
	expect_source_runs_on(put(mt.src.sock, "vm.send-migration", body), 500, "");
	proxy_stop(&p, t);
}

/* The destination dies while the source is paused sending the last pages and the state. */
Test(migrate, a_destination_killed_in_the_final_pause_leaves_the_source_running)
{
	/* round one, the pause, the kill and the resume took 22 s with two rig VMs side by side */
	start_dirty_source_for(35);
	start_dest(NULL);
	pid_t victim = mt.dst.pid, killer = fork();

	cr_assert_geq(killer, 0);
	if (killer == 0) {
		for (int i = 0; i < 600000; i++) {
			char *ev = slurp(mt.src.events);
			bool pausing = strstr(ev, "\"phase\":\"stop-and-copy\"") != NULL;
			free(ev);
			if (pausing)
				break;
			usleep(200);
		}
		kill(victim, SIGKILL);
		_exit(0);
	}
	/* a downtime met at once: the pause comes after round one, with much to send */
	struct answer a = migrate("\"downtime_ms\":60000");
	waitpid(killer, NULL, 0);
	expect_source_runs_on(a, 500, "");
}

Test(migrate, a_source_killed_midway_ends_the_destination_with_one_line)
{
	start_dirty_source();
	start_dest(NULL);
	pid_t victim = mt.src.pid;
	struct proxy p = { .kill_at = 16u << 20, .kill_at_pid = victim };
	char url[170], cmd[512];
	pthread_t t;

	proxy_start(&p, &t, url, sizeof(url));
	snprintf(cmd, sizeof(cmd),
		 "curl -sS --unix-socket '%s' -X PUT -o /dev/null --data '{\"destination_url\":\"%s\"}' http://localhost/api/v1/vm.send-migration 2>/dev/null",
		 mt.src.sock, url);
	if (system(cmd) != 0) {
		/* the source is gone: curl cannot get its answer */
	}
	mt.src.pid = 0;
	waitpid(victim, NULL, 0);
	int st = wait_exit(mt.dst.pid, 60);
	mt.dst.pid = st == -1 ? mt.dst.pid : 0;
	if (st == -1)
		kill(mt.dst.pid, SIGKILL); /* so the proxy's end reaches EOF and proxy_stop returns */
	proxy_stop(&p, t);
	cr_expect_eq(st, 1, "the destination's exit status");
	char *e = slurp(mt.dst.err);
	cr_expect(strstr(e, "the sender closed the connection") || strstr(e, "the peer closed"), "%s", e);
	cr_expect_eq(count_substr(e, "\n"), 1, "not one line:\n%s", e);
	free(e);
	cr_expect_neq(access(mt.url + 5, F_OK), 0, "the destination left its socket behind");
}

/* Through the gmvm migrate client, with opts. */
static void migrate_with_client(const char *a1, const char *a2)
{
	struct run_result r;

	/* the client's migration under TCG can outlast start_dirty_source's 20 s guest */
	start_source("dirty", "size=256M", "1", "dirty.mb=32 dirty.seconds=40 dirty.rounds=4000", "dirty: start");
	start_dest(NULL);
	sleep_ms(500);
	run_gmvm(&r, 300, "migrate", "--api-sock", mt.src.sock, mt.url, a1, a2, NULL);
	if (r.status != 0)
		dump_all();
	cr_expect_eq(r.status, 0, "gmvm migrate: %s%s", r.out, r.err);
	cr_expect(strstr(r.out, "migrated to ") && strstr(r.out, "bytes sent, downtime"), "%s", r.out);
	run_result_free(&r);
	int st = wait_exit(mt.src.pid, 60);
	mt.src.pid = st == -1 ? mt.src.pid : 0;
	cr_expect_eq(st, 0);
	st = wait_exit(mt.dst.pid, 300);
	mt.dst.pid = st == -1 ? mt.dst.pid : 0;
	cr_expect_eq(st, 0);
	char *con = slurp(mt.dst.console);
	cr_expect(strstr(con, "dirty: ok pages="), "%s", con);
	free(con);
}

Test(migrate, four_connections_through_the_client)
{
	migrate_with_client("--connections", "4");
}

Test(migrate, zstd_through_the_client)
{
	migrate_with_client("--compress", "zstd");
}

/* There and back again: the destination migrates the guest to a third process. */
Test(migrate, migrate_then_migrate_back)
{
	/* two migrations in a row must fit in the guest's life under TCG: 40 s did not, once, on a loaded CI host */
	start_source("dirty", "size=256M", "1", "dirty.mb=32 dirty.seconds=90 dirty.rounds=9000", "dirty: start");
	start_dest(NULL);
	sleep_ms(500);
	struct answer a = migrate(NULL);
	cr_assert_eq(a.http, 200, "%s", json_dumps(a.body, 0));
	json_decref(a.body);
	cr_assert_eq(wait_exit(mt.src.pid, 60), 0);
	/* the destination becomes the source; a new destination on a new socket */
	mt.src = mt.dst;
	peer_paths(&mt.dst, "back");
	snprintf(mt.url, sizeof(mt.url), "unix:%s/migrate-back.sock", mt.dir);
	cr_assert(wait_file_has(mt.src.console, "dirty: round", 120), "the guest does not run on the destination");
	start_dest(NULL);
	expect_migrated(migrate(NULL), "dirty: ok pages=");
}

Test(migrate, anon_memory_with_two_vcpus)
{
	/* 16 s: two TCG vCPUs in the nested rig sometimes finished 8 s of rounds before the migration did */
	start_source("dirty", "size=256M,backend=anon", "2", "dirty.mb=32 dirty.seconds=16 dirty.rounds=2000",
		     "dirty: start");
	start_dest(NULL);
	sleep_ms(500);
	expect_migrated(migrate("\"connections\":2"), "dirty: ok pages=");
}

/* ---- postcopy ---- */

Test(migrate, postcopy_starts_the_guest_before_its_memory_is_there)
{
	start_source("dirty", "size=256M,backend=memfd", "1", "dirty.mb=64 dirty.seconds=30 dirty.rounds=4000",
		     "dirty: start");
	start_dest(NULL);
	sleep_ms(500);
	expect_migrated(migrate("\"memory_mode\":\"postcopy\""), "dirty: ok pages=");
	char *ev = slurp(mt.src.events);
	cr_expect(strstr(ev, "\"phase\":\"postcopy\""), "no postcopy phase in the events:\n%s", ev);
	free(ev);
	char *e = slurp(mt.dst.err);
	cr_expect(strstr(e, "postcopy: all of the guest's memory arrived"), "%s", e);
	free(e);
}

/* A 2M hugetlb pool of pages free, made when running as root; else a skip. */
static void require_hugepages(unsigned pages)
{
	const char *dir = "/sys/kernel/mm/hugepages/hugepages-2048kB";
	char path[128], *v;
	unsigned long have, total;

	snprintf(path, sizeof(path), "%s/free_hugepages", dir);
	v = slurp(path);
	have = strtoul(v, NULL, 10);
	free(v);
	if (have < pages && geteuid() == 0) {
		snprintf(path, sizeof(path), "%s/nr_hugepages", dir);
		v = slurp(path);
		total = strtoul(v, NULL, 10);
		free(v);
		FILE *f = fopen(path, "w");
		if (f) {
			fprintf(f, "%lu\n", total + pages - have);
			fclose(f);
		}
		snprintf(path, sizeof(path), "%s/free_hugepages", dir);
		v = slurp(path);
		have = strtoul(v, NULL, 10);
		free(v);
	}
	if (have < pages)
		cr_skip_test("needs %u free 2M hugepages (echo %u > /proc/sys/vm/nr_hugepages as root)", pages, pages);
}

Test(migrate, postcopy_of_hugepages_is_refused_up_front)
{
	require_hugepages(128);
	/* on hugepages a round costs no faults: many more of them to outlive the request */
	start_source("dirty", "size=256M,backend=memfd,hugepages=2M", "1", "dirty.mb=32 dirty.seconds=20 dirty.rounds=5000",
		     "dirty: start");
	start_dest(NULL);
	expect_source_runs_on(migrate("\"memory_mode\":\"postcopy\""), 400, "hugepage");
}

Test(migrate, postcopy_of_guest_memfd_is_refused_with_the_kernels_reason)
{
	struct run_result r;

	require_guest_memfd();
	start_source("dirty", "size=256M,backend=guest-memfd", "1", "dirty.mb=32 dirty.seconds=8 dirty.rounds=1000",
		     "dirty: start");
	run_gmvm(&r, 60, "migrate", "--api-sock", mt.src.sock, mt.url, "--postcopy", NULL);
	cr_expect_eq(r.status, 3, "%s", r.err);
	cr_expect(strstr(r.err, "userfaultfd") && strstr(r.err, "guest_memfd"), "%s", r.err);
	run_result_free(&r);
	int st = wait_exit(mt.src.pid, 300);
	mt.src.pid = st == -1 ? mt.src.pid : 0;
	cr_expect_eq(st, 0, "the source's guest");
}

Test(migrate, losing_the_link_in_postcopy_ends_both_and_says_why)
{
	struct proxy p = { .cut_when_running = true };
	char url[170], body[256];
	pthread_t t;

	start_source("dirty", "size=256M,backend=memfd", "1", "dirty.mb=64 dirty.seconds=30 dirty.rounds=4000",
		     "dirty: start");
	start_dest(NULL);
	proxy_start(&p, &t, url, sizeof(url));
	snprintf(body, sizeof(body), "{\"destination_url\":\"%s\",\"memory_mode\":\"postcopy\"}", url);
	struct answer a = put(mt.src.sock, "vm.send-migration", body);
	const char *msg = json_string_value(json_object_get(a.body, "error"));
	cr_expect_eq(a.http, 500, "%s", json_dumps(a.body, 0));
	cr_expect(msg && strstr(msg, "postcopy failed after the guest started at the destination"), "%s",
		  msg ? msg : "(none)");
	json_decref(a.body);
	/* neither copy may run on: the source stops, the destination says why */
	int st = wait_exit(mt.src.pid, 60);
	mt.src.pid = st == -1 ? mt.src.pid : 0;
	cr_expect_eq(st, 1, "the source's exit status");
	st = wait_exit(mt.dst.pid, 60);
	mt.dst.pid = st == -1 ? mt.dst.pid : 0;
	cr_expect_eq(st, 1, "the destination's exit status");
	char *e = slurp(mt.dst.err);
	cr_expect(strstr(e, "the source went away before all of the guest's memory arrived"), "%s", e);
	free(e);
	proxy_stop(&p, t);
}

/* ---- between two network namespaces, over TCP on a veth pair ---- */

static char netns[16];

static void netns_cleanup(void)
{
	char cmd[128];

	if (!netns[0])
		return;
	snprintf(cmd, sizeof(cmd), "ip netns del %s 2>/dev/null; ip link del %.8s-h 2>/dev/null", netns, netns);
	if (system(cmd) != 0) {
		/* already gone */
	}
	netns[0] = '\0';
}

static void teardown_netns(void)
{
	teardown();
	netns_cleanup();
}

Test(migrate, over_tcp_between_two_network_namespaces, .fini = teardown_netns)
{
	char cmd[1024], con[160], url[64], mon[160];
	int sub = (int)(getpid() % 200) + 20;

	if (geteuid() != 0)
		cr_skip_test("making network namespaces and a veth pair needs root");
	if (system("ip -V >/dev/null 2>&1") != 0)
		cr_skip_test("no ip command (Debian iproute2) to make the namespaces");
	require_kvm();
	snprintf(netns, sizeof(netns), "gmn%d", sub);
	snprintf(cmd, sizeof(cmd),
		 "set -e; ip netns add %1$s; ip link add %1$s-h type veth peer name %1$s-g; ip link set %1$s-g netns %1$s;"
		 "ip addr add 10.201.%2$d.1/24 dev %1$s-h; ip link set %1$s-h up;"
		 "ip netns exec %1$s ip addr add 10.201.%2$d.2/24 dev %1$s-g; ip netns exec %1$s ip link set %1$s-g up;"
		 "ip netns exec %1$s ip link set lo up",
		 netns, sub);
	if (system(cmd) != 0)
		cr_skip_test("cannot make a network namespace with a veth pair here (no veth support?)");
	snprintf(url, sizeof(url), "tcp:10.201.%d.2:7219", sub);
	snprintf(con, sizeof(con), "file:%s", mt.dst.console);
	snprintf(mon, sizeof(mon), "path=%s", mt.dst.events);
	const char *argv[] = { "/usr/bin/env", "ip", "netns", "exec", netns, gmvm_bin(), "run", "--incoming", url,
			       "--console", con, "--event-monitor", mon, NULL };
	mt.dst.pid = spawn(argv, mt.dst.out, mt.dst.err);
	/* listening inside the namespace (a probe connection would be taken as the sender) */
	snprintf(cmd, sizeof(cmd), "ip netns exec %s grep -q ':1C33 00000000:0000 0A' /proc/net/tcp", netns);
	for (int i = 0; i < 500 && system(cmd) != 0; i++)
		cr_assert_eq(wait_exit(mt.dst.pid, 0.02), -1, "the destination ended early:\n%s", slurp(mt.dst.err));
	start_dirty_source();
	char body[256];
	snprintf(body, sizeof(body), "{\"destination_url\":\"%s\",\"connections\":2}", url);
	expect_migrated(put(mt.src.sock, "vm.send-migration", body), "dirty: ok pages=");
}

/* ---- guest_memfd (a Linux 6.18 host): tracking switches the binding, the destination binds gmem ---- */

static const char *region_binding(const char *sock)
{
	static char binding[16];
	char cmd[512], path[160];

	snprintf(path, sizeof(path), "%s/info-%d.json", mt.dir, getpid());
	snprintf(cmd, sizeof(cmd), "curl -sS --unix-socket '%s' -o '%s' http://localhost/api/v1/vm.info", sock, path);
	cr_assert_eq(system(cmd), 0);
	char *text = slurp(path);
	json_t *info = json_loads(text, 0, NULL);
	free(text);
	const char *b = json_string_value(json_object_get(json_array_get(json_object_get(info, "regions"), 0), "binding"));
	snprintf(binding, sizeof(binding), "%s", b ? b : "(none)");
	json_decref(info);
	return binding;
}

static void guest_memfd_moves(const char *bind, const char *cpus)
{
	char mem[96];

	require_guest_memfd();
	snprintf(mem, sizeof(mem), "size=256M,backend=guest-memfd,bind=%s", bind);
	start_source("dirty", mem, cpus, "dirty.mb=32 dirty.seconds=8 dirty.rounds=1000", "dirty: start");
	start_dest(NULL);
	sleep_ms(500);
	cr_assert_str_eq(region_binding(mt.src.sock), bind);
	struct answer a = migrate("\"connections\":2");
	cr_assert_eq(a.http, 200, "%s", json_dumps(a.body, 0));
	/* the destination binds guest_memfd memory as the source had it by default: gmem */
	cr_expect_str_eq(region_binding(mt.dst.sock), "gmem");
	expect_migrated(a, "dirty: ok pages=");
}

Test(migrate, guest_memfd_bound_gmem_with_four_vcpus)
{
	guest_memfd_moves("gmem", "4");
}

Test(migrate, guest_memfd_bound_mapped)
{
	guest_memfd_moves("mapped", "1");
}
