/*
 * move/update: a live update's old side.  The guest runs while a new gmvm
 * process starts and checks that it can take over (HELLO, CAN); then one
 * pause: the state goes into a sealed memfd, and it, every region's memory
 * fd, the console file, the identity lock and the owner's sockets go over
 * the handover socket at once (HANDOVER).  The new process builds a VM on
 * the same memory and loads the state (READY); this side then gives the
 * guest up for good (COMMIT) and ends.  No page of guest memory is read or
 * written here at any step.
 *
 * At every instant at most one process may run the guest's vCPUs: this one
 * until the pause; nobody while the new one loads; the new one only after
 * COMMIT (or after this one died).  So any failure before COMMIT went out
 * kills the new process and reaps it before the guest resumes here; once
 * COMMIT went out this process never resumes, whatever happens next.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem/mem.h"
#include "move/handover.h"
#include "move/move.h"
#include "vmm/state.h"

extern char **environ;

#define CHECK_MS 30000   /* the new process starts, probes and checks */
#define SEND_MS 10000
#define LOAD_MS 30000    /* it builds its VM and loads the state: the guest is paused meanwhile */
#define RUNNING_MS 10000
#define TAKEOVER_FD 3    /* where the new process finds its end of the socket */

struct upd {
	struct gm_machine *m;
	const struct gm_update_params *p;
	struct gm_update_progress pr;
	pid_t pid;
	int sock;
	bool held, quiesced, committed;
	uint64_t start_us, t0_us;
};

const char *gm_update_phase_name(enum gm_update_phase p)
{
	static const char *const names[] = { "none", "starting", "checking", "handover", "loading", "completed",
					     "refused", "aborted" };

	return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "unknown";
}

/* The record into the machine's slot; an event with a copy when event. */
static void publish(struct upd *u, bool event)
{
	struct gm_update_progress copy;

	u->pr.elapsed_ms = (double)(gm_now_us() - u->start_us) / 1000.0;
	pthread_mutex_lock(&u->m->update.lock);
	u->m->update.prog = u->pr;
	copy = u->pr;
	pthread_mutex_unlock(&u->m->update.lock);
	if (event)
		gm_emit(u->m, (struct gm_event){ .kind = GM_EVENT_UPDATE, .update = &copy });
}

static void set_phase(struct upd *u, enum gm_update_phase phase)
{
	u->pr.phase = phase;
	publish(u, true);
}

/* ---- before anything starts ---- */

/* Memory that has no fd, or whose pages are not in it, cannot be handed over. */
static int check_memory(struct upd *u, struct gm_error *err)
{
	struct gm_machine *m = u->m;

	/* the new process would be in this one's process group, which the shell takes the terminal from once this one exits */
	if (m->cfg.console == GM_CONSOLE_STDIO && isatty(STDIN_FILENO))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EOPNOTSUPP,
			       "the console is this gmvm's terminal, which cannot follow the guest into another process; run with --console file:PATH (or a pipe) to update live");
	if (m->ondemand)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EOPNOTSUPP,
			       "this VM was restored with restore-mode=ondemand and its memory still comes from the snapshot; restore it with restore-mode=copy to update it live");
	for (unsigned i = 0; i < m->nmems; i++) {
		const struct gm_memory *mem = m->mems[i];
		const char *name = gm_memory_name(mem);
		struct gm_error e = { 0 };

		if (mem->file_private)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EOPNOTSUPP,
				       "region %s is a private mapping of a snapshot file (restore-mode=map), whose pages no fd holds; re-home it first (gmvm rehome --api-sock S %s)",
				       name, name);
		if (gm_memory_import_check(gm_memory_config(mem), &m->caps, &e) < 0) {
			if (gm_memory_config(mem)->backend == GM_BACKEND_ANON)
				return gm_fail(err, GM_STATUS_BAD_INPUT, EOPNOTSUPP,
					       "region %s is backend=anon memory, which has no fd to hand to another process; re-home it to memfd first (gmvm rehome --api-sock S %s backend=memfd)",
					       name, name);
			return gm_fail(err, e.status, e.errnum, "region %s: %s", name, e.msg);
		}
	}
	return 0;
}

/* The binary to start: the one asked, else the running one (its path, even if replaced on disk since). */
static int choose_binary(struct upd *u, struct gm_error *err)
{
	char *b = u->pr.binary;
	size_t n = sizeof(u->pr.binary);

	if (u->p->binary) {
		if (strlen(u->p->binary) >= n)
			return gm_fail(err, GM_STATUS_BAD_INPUT, ENAMETOOLONG, "live update: the binary's path is over %zu bytes; use a shorter one",
				       n - 1);
		snprintf(b, n, "%s", u->p->binary);
	} else {
		ssize_t len = readlink("/proc/self/exe", b, n - 1);
		const char *deleted = " (deleted)";

		if (len < 0)
			return gm_fail(err, GM_STATUS_FAILURE, errno, "live update: cannot tell the running binary (/proc/self/exe: %s); give \"binary\"",
				       strerror(errno));
		b[len] = '\0';
		/* a package upgrade replaced the file: its path names the new binary, which is the point */
		if ((size_t)len > strlen(deleted) && !strcmp(b + len - strlen(deleted), deleted))
			b[len - strlen(deleted)] = '\0';
	}
	if (b[0] != '/' || access(b, X_OK) < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, b[0] != '/' ? EINVAL : errno,
			       "live update: %s is not an executable file given by its absolute path; name the new gmvm binary",
			       b);
	return 0;
}

/* ---- the new process ---- */

/* posix_spawn's arguments, for the owner's launcher thread (gm_update_params.launch) */
struct spawn_job {
	pid_t *pid;
	const char *path;
	const posix_spawn_file_actions_t *fa;
	const posix_spawnattr_t *attr;
	const char *const *argv;
	int r; /* posix_spawn's: 0 or an errno */
};

static int do_spawn(void *arg)
{
	struct spawn_job *j = arg;

	j->r = posix_spawn(j->pid, j->path, j->fa, j->attr, (char *const *)j->argv, environ);
	return 0;
}

/* fork+exec `BINARY run --takeover 3 ARGS...` with the socket's other end as fd 3. */
static int spawn(struct upd *u, struct gm_error *err)
{
	const char *argv[GM_UPDATE_MAX_ARGS + 6];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dflt;
	int sv[2], child, r;
	unsigned n = 0;

	if (u->p->nargs > GM_UPDATE_MAX_ARGS)
		return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG, "live update: %u extra arguments; give at most %d",
			       u->p->nargs, GM_UPDATE_MAX_ARGS);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "live update: socketpair: %s; raise ulimit -n", strerror(errno));
	u->sock = sv[0];
	child = sv[1];
	/* dup2 onto itself would leave close-on-exec set */
	if (child == TAKEOVER_FD) {
		child = fcntl(sv[1], F_DUPFD_CLOEXEC, TAKEOVER_FD + 1);
		close(sv[1]);
		if (child < 0)
			return gm_fail(err, GM_STATUS_FAILURE, errno, "live update: dup: %s; raise ulimit -n", strerror(errno));
	}
	argv[n++] = u->pr.binary;
	argv[n++] = "run";
	argv[n++] = "--takeover";
	argv[n++] = "3";
	for (unsigned i = 0; i < u->p->nargs; i++)
		argv[n++] = u->p->args[i];
	argv[n] = NULL;
	/* the caller may be an API thread with signals blocked: the child starts clean */
	sigemptyset(&none);
	sigemptyset(&dflt);
	sigaddset(&dflt, SIGPIPE);
	sigaddset(&dflt, GM_KICK_SIGNAL);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, child, TAKEOVER_FD);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dflt);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	struct spawn_job job = { &u->pid, u->pr.binary, &fa, &attr, argv, 0 };

	r = u->p->launch ? u->p->launch(u->p->opaque, do_spawn, &job) : do_spawn(&job);
	if (r < 0)
		r = -r;
	else
		r = job.r;
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(child);
	if (r) {
		u->pid = 0;
		return gm_fail(err, GM_STATUS_BAD_INPUT, r, "live update: cannot start %s: %s; name a gmvm binary that runs here",
			       u->pr.binary, strerror(r));
	}
	u->pr.pid = u->pid;
	return 0;
}

/*
 * Kill the new process and reap it.  One that closed its socket (patient)
 * is on its way out by itself: its own end says more than our SIGKILL, so
 * it gets a second; how it ended goes into how ("" when we killed it).
 */
static void stop_child(struct upd *u, bool patient, char *how, size_t n)
{
	pid_t w = 0;
	int st = 0;

	how[0] = '\0';
	if (u->pid <= 0)
		return;
	for (int i = 0; patient && i < 100 && (w = waitpid(u->pid, &st, WNOHANG)) == 0; i++)
		usleep(10000);
	if (w != u->pid) {
		kill(u->pid, SIGKILL);
		/* reaped before anything resumes: a signal must not cut this short */
		while (waitpid(u->pid, &st, 0) < 0 && errno == EINTR)
			;
	} else if (WIFEXITED(st)) {
		snprintf(how, n, " (it exited with status %d)", WEXITSTATUS(st));
	} else if (WIFSIGNALED(st)) {
		snprintf(how, n, " (it was killed by signal %d)", WTERMSIG(st));
	}
	u->pid = 0;
}

/* ---- the messages ---- */

/*
 * What the new process builds its VM from while the guest still runs here:
 * the machine (the state header), each region's memory fd, the console
 * file and the identity lock.  Handing them over early changes nothing:
 * the new process runs no vCPU before COMMIT, and the lock is one open file
 * that both hold.
 */
static int send_hello(struct upd *u, struct gm_error *err)
{
	struct gm_machine *m = u->m;
	const char *forced = getenv("GMVM_TEST_STREAM_VERSION");
	char *header = gm_state_header(m, NULL);
	json_t *regions = json_array(), *names = json_array();
	int fds[GM_FDPASS_MAX_FDS], console_fd = gm_console_file_fd(m->console);
	unsigned n = 0;

	if (!header || !regions || !names) {
		free(header);
		json_decref(regions);
		json_decref(names);
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "live update: out of memory for the HELLO");
	}
	/* what the header does not carry and a new mapping must do again */
	for (unsigned i = 0; i < m->nmems; i++) {
		const struct gm_mem_config *mc = gm_memory_config(m->mems[i]);

		json_array_append_new(regions, json_pack("{s:s, s:b, s:i, s:b}", "name", gm_memory_name(m->mems[i]),
							 "movable", mc->movable, "numa_node", mc->numa_node,
							 "track_dirty", mc->track_dirty));
		fds[n++] = gm_memory_fd(m->mems[i]);
		json_array_append_new(names, json_string("region"));
	}
	if (console_fd >= 0) {
		fds[n++] = console_fd;
		json_array_append_new(names, json_string("console"));
	}
	fds[n++] = m->lock_fd;
	json_array_append_new(names, json_string("lock"));
	u->pr.fds = n;
	/* tests set a future version to see it refused */
	json_int_t version = forced && *forced ? strtoll(forced, NULL, 10) : GM_STREAM_VERSION;
	json_t *o = json_pack("{s:I, s:s, s:s, s:i, s:o, s:o, s:s, s:s?}", "stream_version", version, "gmvm_version",
			      GMVM_VERSION, "header", header, "updates", (int)m->update.count, "regions", regions, "fds",
			      names, "console",
			      m->cfg.console == GM_CONSOLE_FILE ? "file" : m->cfg.console == GM_CONSOLE_STDIO ? "stdio" : "none",
			      "console_path", m->cfg.console == GM_CONSOLE_FILE ? m->cfg.console_path : NULL);

	free(header);
	return gm_ho_send(u->sock, GM_HO_HELLO, o, fds, n, SEND_MS, err);
}

static int await_can(struct upd *u, struct gm_error *err)
{
	struct gm_fdpass_msg msg;
	json_t *o;
	int r = gm_ho_recv(u->sock, GM_HO_CAN, "the new gmvm", CHECK_MS, &msg, &o, err);

	if (r)
		return r;
	snprintf(u->pr.bind, sizeof(u->pr.bind), "%s", json_string_value(json_object_get(o, "bind")) ?: "");
	json_decref(o);
	gm_fdpass_msg_free(&msg);
	return 0;
}

/* The state, written while paused into a memfd sealed against change. */
static int write_state(struct upd *u, int *out, struct gm_error *err)
{
	struct gm_stream_out *w = NULL;
	char *header = NULL;
	int fd = memfd_create("gmvm-update-state", MFD_CLOEXEC | MFD_ALLOW_SEALING), r;

	*out = -1;
	if (fd < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "live update: memfd_create for the state: %s; raise ulimit -n or free memory",
			       strerror(errno));
	header = gm_state_header(u->m, NULL);
	r = header ? gm_stream_out_open(fd, &w, err) : gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "live update: out of memory");
	if (!r)
		r = gm_stream_out_header(w, header, strlen(header), err);
	if (!r)
		r = gm_state_write_sections(u->m, w, err);
	if (!r)
		r = gm_stream_out_end(w, err);
	if (!r)
		u->pr.state_bytes = gm_stream_out_bytes(w);
	gm_stream_out_free(w);
	free(header);
	if (!r && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		r = gm_fail(err, GM_STATUS_FAILURE, errno,
			    "live update: sealing the state: %s; this kernel's memfd lacks sealing, which a live update needs", strerror(errno));
	if (r) {
		close(fd);
		return r;
	}
	*out = fd;
	return 0;
}

/* Paused: the state, and the owner's sockets (the API stopped accepting on its own). */
static int hand_over(struct upd *u, bool running, struct gm_error *err)
{
	json_t *names = json_array(), *paths = json_object();
	int fds[GM_UPDATE_MAX_OWNER_FDS + 1], state_fd = -1;
	unsigned n = 0;
	int r;

	for (unsigned i = 0; i < u->p->nowner_fds && i < GM_UPDATE_MAX_OWNER_FDS; i++) {
		if (u->p->owner_fds[i].fd < 0)
			continue;
		fds[n++] = u->p->owner_fds[i].fd;
		json_array_append_new(names, json_string(u->p->owner_fds[i].name));
		if (u->p->owner_fds[i].path)
			json_object_set_new(paths, u->p->owner_fds[i].name, json_string(u->p->owner_fds[i].path));
	}
	r = write_state(u, &state_fd, err);
	if (!r) {
		fds[n++] = state_fd;
		json_array_append_new(names, json_string("state"));
		u->pr.fds += n;
		/* the new process reports the whole update as this one saw it, on the same clock */
		json_t *o = json_pack("{s:I, s:I, s:f, s:I, s:b, s:o, s:o}", "t0_us", (json_int_t)u->t0_us, "start_us",
				      (json_int_t)u->start_us, "check_ms", u->pr.check_ms, "state_bytes",
				      (json_int_t)u->pr.state_bytes, "running", running, "fds", names, "paths", paths);
		names = paths = NULL;
		r = gm_ho_send(u->sock, GM_HO_HANDOVER, o, fds, n, SEND_MS, err);
	}
	json_decref(names);
	json_decref(paths);
	if (state_fd >= 0)
		close(state_fd);
	return r;
}

static int await_ready(struct upd *u, struct gm_error *err)
{
	struct gm_fdpass_msg msg;
	json_t *o;
	int r = gm_ho_recv(u->sock, GM_HO_READY, "the new gmvm", LOAD_MS, &msg, &o, err);

	if (r)
		return r;
	u->pr.load_ms = (double)json_integer_value(json_object_get(o, "load_us")) / 1000.0;
	json_decref(o);
	gm_fdpass_msg_free(&msg);
	return 0;
}

/* After COMMIT: the new process's measure of the pause, to its resume (one clock: CLOCK_MONOTONIC). */
static void await_running(struct upd *u)
{
	struct gm_fdpass_msg msg;
	struct gm_error e = { 0 };
	json_t *o;

	u->pr.pause_ms = (double)(gm_now_us() - u->t0_us) / 1000.0;
	if (gm_ho_recv(u->sock, GM_HO_RUNNING, "the new gmvm", RUNNING_MS, &msg, &o, &e) < 0) {
		gm_log(u->m, GM_LOG_WARN, "live update: the guest is the new process's, which did not say it runs: %s", e.msg);
		return;
	}
	u->pr.pause_ms = (double)json_integer_value(json_object_get(o, "pause_us")) / 1000.0;
	json_decref(o);
	gm_fdpass_msg_free(&msg);
}

/* ---- the whole ---- */

static int run(struct upd *u, struct gm_error *err)
{
	struct gm_machine *m = u->m;
	bool running;
	int r;

	r = check_memory(u, err);
	if (!r)
		r = choose_binary(u, err);
	if (!r) {
		set_phase(u, GM_UPDATE_STARTING);
		r = spawn(u, err);
	}
	if (!r) {
		set_phase(u, GM_UPDATE_CHECKING);
		r = send_hello(u, err);
	}
	if (!r)
		r = await_can(u, err);
	u->pr.check_ms = (double)(gm_now_us() - u->start_us) / 1000.0;
	if (r)
		return r;

	/* the pause: from here the guest runs nowhere until one side runs it */
	u->t0_us = gm_now_us();
	if ((r = gm_hold(m, err)) < 0)
		return r;
	u->held = true;
	pthread_mutex_lock(&m->lock);
	running = !m->user_paused;
	pthread_mutex_unlock(&m->lock);
	set_phase(u, GM_UPDATE_HANDOVER);
	if (u->p->quiesce) {
		r = u->p->quiesce(u->p->opaque, err);
		u->quiesced = !r;
	}
	if (!r)
		r = hand_over(u, running, err);
	if (!r) {
		set_phase(u, GM_UPDATE_LOADING);
		r = await_ready(u, err);
	}
	/* a stop that came meanwhile (--timeout, the guest halted for good) wins: the VM must not live on elsewhere */
	pthread_mutex_lock(&m->lock);
	if (!r && m->stopping)
		r = gm_fail(err, GM_STATUS_FAILURE, ESRCH, "the VM was stopped during the live update (%s); it was not handed over",
			    m->exit.reason);
	pthread_mutex_unlock(&m->lock);
	if (!r)
		r = gm_ho_send(u->sock, GM_HO_COMMIT, json_object(), NULL, 0, SEND_MS, err);
	if (r)
		return r;
	/* COMMIT is in the new process's socket: the guest is its own, never again ours */
	u->committed = true;
	pthread_mutex_lock(&m->lock);
	m->handed_over = true;
	pthread_mutex_unlock(&m->lock);
	/* the new process binds the guest's ports and attaches its taps now */
	gm_devices_release(m);
	if (u->p->committed)
		u->p->committed(u->p->opaque, u->pid);
	await_running(u);
	return 0;
}

/* A failure before COMMIT: the new process goes, the guest runs on here as it was. */
static void undo(struct upd *u, struct gm_error *err)
{
	char how[64];

	stop_child(u, err->errnum == ECONNRESET || err->errnum == EPIPE, how, sizeof(how));
	if (how[0] && strlen(err->msg) + strlen(how) < sizeof(err->msg))
		strcat(err->msg, how);
	if (u->quiesced && u->p->unquiesce) {
		struct gm_error e = { 0 };

		if (u->p->unquiesce(u->p->opaque, &e) < 0 && strlen(err->msg) + strlen(e.msg) + 32 < sizeof(err->msg)) {
			strcat(err->msg, "; and the API did not come back: ");
			strcat(err->msg, e.msg);
		}
	}
	if (u->held)
		gm_release(u->m);
}

static int busy(struct gm_machine *m, struct gm_error *err)
{
	int expect = 0;

	if (__atomic_load_n(&m->migration.running, __ATOMIC_ACQUIRE))
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY, "a migration is running; wait for it or PUT vm.migration-cancel");
	if (__atomic_load_n(&m->rehome.running, __ATOMIC_ACQUIRE))
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY,
			       "a re-home of guest memory is running; wait for it or PUT vm.memory-rehome-cancel");
	if (!__atomic_compare_exchange_n(&m->update.running, &expect, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY, "a live update is already running; wait for it (vm.info shows it)");
	return 0;
}

int gm_machine_live_update(struct gm_machine *m, const struct gm_update_params *p,
			   struct gm_update_progress *result, struct gm_error *err)
{
	struct upd u = { .m = m, .p = p, .sock = -1, .start_us = gm_now_us() };
	struct gm_exit ended;
	int r = busy(m, err);

	if (r)
		return r;
	pthread_mutex_lock(&m->op_lock);
	if (gm_machine_exit(m, &ended) == 0) {
		r = gm_fail(err, GM_STATUS_FAILURE, ESRCH, "the guest has ended (%s); there is nothing to update", ended.reason);
	} else {
		u.pr.updates = m->update.count;
		r = run(&u, err);
		if (r)
			undo(&u, err);
		if (u.sock >= 0)
			close(u.sock);
		u.pr.phase = !r ? GM_UPDATE_COMPLETED : u.held ? GM_UPDATE_ABORTED : GM_UPDATE_REFUSED;
		if (r)
			snprintf(u.pr.error, sizeof(u.pr.error), "%s", err->msg);
		/* an abort paused the guest too: how long */
		if (r && u.held)
			u.pr.pause_ms = (double)(gm_now_us() - u.t0_us) / 1000.0;
		else if (!r)
			u.pr.updates = m->update.count + 1;
		publish(&u, true);
		if (!r)
			gm_machine_end(m, GM_EXIT_UPDATED, GM_STATUS_OK, 0, 0, "updated: gmvm pid %d (%s) runs the guest",
				       (int)u.pr.pid, u.pr.binary);
	}
	pthread_mutex_unlock(&m->op_lock);
	if (result)
		gm_machine_update_progress(m, result);
	__atomic_store_n(&m->update.running, 0, __ATOMIC_RELEASE);
	return r;
}

void gm_machine_update_progress(struct gm_machine *m, struct gm_update_progress *out)
{
	pthread_mutex_lock(&m->update.lock);
	*out = m->update.prog;
	pthread_mutex_unlock(&m->update.lock);
}
