/*
 * move/takeover: a live update's new side, what `gmvm run --takeover FD`
 * does.  While the guest still runs in the old process (HELLO -> CAN) it
 * checks that it can take it (the stream version, the machine in the
 * header, each region against this kernel and how it will be bound) and
 * builds its VM over the very memory the old one hands it: nothing is
 * copied, and the page tables of the data pages are filled now rather
 * than fault by fault after.  With the guest paused over there, it loads
 * the state (HANDOVER -> READY): that is all the pause holds.  The guest
 * runs here only after the old process's COMMIT, or after the old process
 * died (EOF on the socket: it can no longer run the guest, since it kills
 * this process before it would resume).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/mem.h"
#include "move/handover.h"
#include "move/move.h"
#include "util/escape.h"
#include "vmm/restore.h"

#define HANDOVER_MS 60000 /* the old process's pause begins right after CAN */
#define PREFAULT_NS UINT64_C(10000000000) /* page tables of a live update's memory: well within the old process's 30 s for CAN */

struct gm_takeover {
	int sock;
	const char *die_at;         /* --test-update-die */
	char *header;               /* the state header of HELLO */
	json_t *regions;            /* HELLO's per-region settings the header lacks */
	unsigned updates;
	uint64_t t0_us;             /* when the old process paused (CLOCK_MONOTONIC, shared) */
	uint64_t start_us;          /* when it began the update */
	double check_ms;            /* what the old process measured and wrote */
	uint64_t state_bytes;
	bool running;
	struct gm_fdpass_fds {
		struct gm_fdpass_msg msg;
		json_t *names;          /* each fd's name, in order */
	} hello, handover;
	json_t *paths;              /* HANDOVER's: what the owner's sockets are bound to */
	struct gm_machine *m;       /* built at HELLO, loaded at HANDOVER */
	uint64_t load_start_us;
	char bind[128];             /* how each region is bound here, as CAN said */
	void *state;                /* the state memfd, mapped */
	size_t state_len;
};

/* The test hook: die here, as a crash would. */
static void maybe_die(const struct gm_takeover *t, const char *phase)
{
	if (t->die_at && !strcmp(t->die_at, phase))
		kill(getpid(), SIGKILL);
}

static int refuse(struct gm_takeover *t, int r, struct gm_error *err)
{
	gm_ho_refuse(t->sock, err);
	return r;
}

/* ---- the fds that came, by name ---- */

/* The index in f of the nth fd named name, -1 if none came. */
static int fd_index(const struct gm_fdpass_fds *f, const char *name, unsigned nth)
{
	for (unsigned i = 0; i < json_array_size(f->names) && i < f->msg.nfds; i++) {
		const char *n = json_string_value(json_array_get(f->names, i));

		if (n && !strcmp(n, name) && nth-- == 0)
			return (int)i;
	}
	return -1;
}

static int fd_named(const struct gm_fdpass_fds *f, const char *name, unsigned nth)
{
	int i = fd_index(f, name, nth);

	return i < 0 ? -1 : f->msg.fds[i];
}

/* A message's fds with their names, which must be as many. */
static int take_names(struct gm_fdpass_fds *f, json_t *o, const char *what, struct gm_error *err)
{
	f->names = json_incref(json_object_get(o, "fds"));
	if (!json_is_array(f->names) || json_array_size(f->names) != f->msg.nfds)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EPROTO,
			       "live update: the %s names %zu fds and carries %u; is the old gmvm of this version?", what,
			       json_array_size(f->names), f->msg.nfds);
	return 0;
}

/* ---- HELLO: can this binary take the guest?  Then its VM, built ---- */

/* Each region as it will be here: the header's, with what HELLO adds; every one importable. */
static int region_configs(const struct gm_takeover *t, const struct gm_config *user, const struct gm_caps *caps,
			  struct gm_header_machine *h, struct gm_config *cfg, struct gm_error *err)
{
	int r = gm_header_machine_merge(h, user, cfg, err);

	for (unsigned i = 0; i < h->nregions && !r; i++) {
		struct gm_mem_config *mc = i ? &cfg->regions[i - 1].mem : &cfg->mem;
		json_t *ro = json_array_get(t->regions, i);
		const char *name = json_string_value(json_object_get(ro, "name"));

		if (!name || strcmp(name, h->regions[i].name))
			return gm_fail(err, GM_STATUS_BAD_INPUT, EPROTO,
				       "live update: the HELLO's regions are not the header's; is the old gmvm of this version?");
		mc->movable = json_is_true(json_object_get(ro, "movable"));
		mc->movable_given = true;
		mc->numa_node = (int)json_integer_value(json_object_get(ro, "numa_node"));
		mc->track_dirty = json_is_true(json_object_get(ro, "track_dirty"));
		/* another VM binds a guest_memfd gmem only through KVM_LINK_GUEST_MEMFD (shared/KERNEL.md) */
		if (mc->backend == GM_BACKEND_GUEST_MEMFD && !caps->gmem_link) {
			mc->bind = GM_BIND_MAPPED;
			mc->bind_given = true;
		}
		r = gm_memory_import_check(mc, caps, err);
		if (r) {
			char cause[sizeof(err->msg)];

			snprintf(cause, sizeof(cause), "%s", err->msg);
			gm_error_clear(err);
			return gm_fail(err, GM_STATUS_BAD_INPUT, EOPNOTSUPP, "region %s cannot be taken over: %s", name, cause);
		}
	}
	return r;
}

/* How each region of the machine built is bound, as CAN and vm.info say: "ram=mapped,data=mapped". */
static void describe_binding(struct gm_takeover *t)
{
	size_t used = 0;

	t->bind[0] = '\0';
	for (unsigned i = 0; i < t->m->nmems && used < sizeof(t->bind); i++)
		used += (size_t)snprintf(t->bind + used, sizeof(t->bind) - used, "%s%s=%s", i ? "," : "",
					 gm_memory_name(t->m->mems[i]),
					 gm_bind_name(gm_mem_effective_bind(gm_memory_config(t->m->mems[i]))));
}

static int read_hello(struct gm_takeover *t, json_t *o, struct gm_error *err)
{
	json_t *ver = json_object_get(o, "stream_version");
	const char *header = json_string_value(json_object_get(o, "header"));
	const char *theirs = json_string_value(json_object_get(o, "gmvm_version"));
	char q[GM_ESCAPE_SHORT];

	if (!json_is_integer(ver) || !header || !json_is_array(json_object_get(o, "regions")))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EPROTO,
			       "live update: the HELLO lacks its stream version, header or regions; is the old gmvm of a version that does live updates?");
	if (json_integer_value(ver) > GM_STREAM_VERSION || json_integer_value(ver) < 1)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EPROTONOSUPPORT,
			       "the running gmvm %s writes state stream version %" JSON_INTEGER_FORMAT
			       ", which this gmvm (%s, stream version %u) cannot read; update to a gmvm at least as new as the running one",
			       theirs ? gm_escape(theirs, q, sizeof(q)) : "?", json_integer_value(ver), GMVM_VERSION,
			       GM_STREAM_VERSION);
	t->header = strdup(header);
	t->regions = json_incref(json_object_get(o, "regions"));
	json_int_t updates = json_integer_value(json_object_get(o, "updates"));
	t->updates = updates > 0 && updates < INT_MAX ? (unsigned)updates : 0;
	if (!t->header)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "live update: out of memory");
	return take_names(&t->hello, o, "HELLO", err);
}

/* The machine, built on the fds HELLO brought, the old one's console going on as it was. */
static int build(struct gm_takeover *t, const struct gm_config *user, const struct gm_caps *caps, const char *console,
		 const char *console_path, struct gm_error *err)
{
	struct gm_handed handed = { .console_fd = -1, .lock_fd = fd_named(&t->hello, "lock", 0) };
	struct gm_header_machine h;
	struct gm_config cfg, u = *user;
	int r = gm_header_machine_parse(t->header, &h, err);

	if (r)
		return r;
	u.console = console && !strcmp(console, "file") ? GM_CONSOLE_FILE
		    : console && !strcmp(console, "none") ? GM_CONSOLE_NONE : GM_CONSOLE_STDIO;
	/* its file is written on, never reopened: that would truncate it */
	u.console_path = console_path;
	handed.console_path = console_path;
	if (u.console == GM_CONSOLE_FILE && (handed.console_fd = fd_named(&t->hello, "console", 0)) < 0)
		r = gm_fail(err, GM_STATUS_BAD_INPUT, EPROTO, "live update: the console file was not handed over; run a new gmvm of the same version as the running one");
	if (!r && handed.lock_fd < 0)
		r = gm_fail(err, GM_STATUS_BAD_INPUT, EPROTO, "live update: the identity lock was not handed over; run a new gmvm of the same version as the running one");
	for (unsigned i = 0; i < h.nregions && !r; i++)
		if ((handed.region_fds[i] = fd_named(&t->hello, "region", i)) < 0)
			r = gm_fail(err, GM_STATUS_BAD_INPUT, EPROTO, "live update: region %s's memory was not handed over; run a new gmvm of the same version as the running one",
				    h.regions[i].name);
	if (!r && !caps->kvm)
		r = gm_fail(err, GM_STATUS_NO_KERNEL, ENODEV, "KVM is not available to the new gmvm; run it where /dev/kvm is");
	if (!r)
		r = region_configs(t, &u, caps, &h, &cfg, err);
	if (!r) {
		/* the hugepages of handed-over memory are its file's already: no pool is drawn on */
		struct gm_caps held = *caps;

		for (int i = 0; i < held.n_hugetlb; i++)
			held.hugetlb[i].free = LONG_MAX;
		r = gm_machine_build(&cfg, &held, false, &handed, &t->m, err);
	}
	/* the guest resumes here on page tables that exist already */
	for (unsigned i = 0; !r && i < t->m->nmems; i++)
		gm_memory_prefault(t->m->mems[i], PREFAULT_NS / t->m->nmems);
	if (!r)
		describe_binding(t);
	/* the vCPU threads too, parked before their first instruction: the pause need not make them */
	if (!r)
		r = gm_machine_start_parked(t->m, err);
	gm_header_machine_free(&h);
	return r;
}

int gm_takeover_open(int fd, const struct gm_config *user, const struct gm_caps *caps, struct gm_takeover **out,
		     struct gm_error *err)
{
	struct gm_takeover *t = calloc(1, sizeof(*t));
	json_t *o = NULL;
	int r;

	*out = NULL;
	if (!t) {
		close(fd);
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "live update: out of memory");
	}
	t->sock = fd;
	t->die_at = user->test_update_die;
	maybe_die(t, "hello");
	r = gm_ho_recv(fd, GM_HO_HELLO, "the old gmvm", HANDOVER_MS, &t->hello.msg, &o, err);
	if (!r) {
		r = read_hello(t, o, err);
		if (!r)
			r = build(t, user, caps, json_string_value(json_object_get(o, "console")),
				  json_string_value(json_object_get(o, "console_path")), err);
		json_decref(o);
		maybe_die(t, "check");
		if (r)
			refuse(t, r, err);
	}
	if (!r)
		r = gm_ho_send(fd, GM_HO_CAN, json_pack("{s:s}", "bind", t->bind), NULL, 0, HANDOVER_MS, err);
	if (r) {
		gm_takeover_close(t);
		return r;
	}
	*out = t;
	return 0;
}

/* ---- HANDOVER: the state, loaded ---- */

/* What HANDOVER says: the pause's times, the sockets' paths, its fds by name, the state among them. */
static int handover_fields(struct gm_takeover *t, json_t *o, struct gm_error *err)
{
	int r;

	t->t0_us = (uint64_t)json_integer_value(json_object_get(o, "t0_us"));
	t->start_us = (uint64_t)json_integer_value(json_object_get(o, "start_us"));
	t->check_ms = json_real_value(json_object_get(o, "check_ms"));
	t->state_bytes = (uint64_t)json_integer_value(json_object_get(o, "state_bytes"));
	t->running = json_is_true(json_object_get(o, "running"));
	t->paths = json_incref(json_object_get(o, "paths"));
	r = take_names(&t->handover, o, "HANDOVER", err);
	if (!r && fd_named(&t->handover, "state", 0) < 0)
		r = gm_fail(err, GM_STATUS_BAD_INPUT, EPROTO, "live update: the HANDOVER lacks the state; is the old gmvm of this version?");
	return r;
}

static int read_handover(struct gm_takeover *t, struct gm_error *err)
{
	json_t *o;
	int r = gm_ho_recv(t->sock, GM_HO_HANDOVER, "the old gmvm", HANDOVER_MS, &t->handover.msg, &o, err);

	if (r)
		return r;
	t->load_start_us = gm_now_us();
	r = handover_fields(t, o, err);
	json_decref(o);
	return r;
}

/*
 * The state memfd, mapped and parsed whole (it is sealed: it cannot change
 * under us).  The sections point into the mapping: it stays until close.
 */
static int read_state(struct gm_takeover *t, struct gm_stream_in **out, struct gm_error *err)
{
	int fd = fd_named(&t->handover, "state", 0);
	struct stat st;

	int seals = fcntl(fd, F_GET_SEALS);

	/* sealed, or it could shrink under the mapping (SIGBUS) or change while read */
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_WRITE)) != (F_SEAL_SHRINK | F_SEAL_WRITE) || fstat(fd, &st) < 0 ||
	    st.st_size <= 0 || (uint64_t)st.st_size > GM_STREAM_MAX_TOTAL)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EPROTO, "live update: the state handed over is empty, too large or not sealed; run a new gmvm of the same version as the running one");
	t->state = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (t->state == MAP_FAILED) {
		t->state = NULL;
		return gm_fail(err, GM_STATUS_FAILURE, errno, "live update: cannot map the state handed over: %s", strerror(errno));
	}
	t->state_len = (size_t)st.st_size;
	return gm_stream_in_parse(t->state, t->state_len, out, err);
}

/* The machine paused is the machine built: nothing of it changed since HELLO. */
static int same_machine(const struct gm_takeover *t, const struct gm_stream_in *state, struct gm_error *err)
{
	struct gm_header_machine now, then;
	int r = gm_header_machine_parse(gm_stream_in_header(state), &now, err);

	if (r)
		return r;
	r = gm_header_machine_parse(t->header, &then, err);
	if (!r) {
		if (!gm_header_machine_same(&now, &then))
			r = gm_fail(err, GM_STATUS_BAD_INPUT, EPROTO,
				    "live update: the VM changed between HELLO and HANDOVER (its regions or vCPUs); try the update again");
		gm_header_machine_free(&then);
	}
	gm_header_machine_free(&now);
	return r;
}

int gm_takeover_receive(struct gm_takeover *t, struct gm_machine **out, struct gm_error *err)
{
	struct gm_stream_in *state = NULL;
	struct gm_machine_image img = { 0 };
	int r;

	*out = NULL;
	maybe_die(t, "handover");
	r = read_handover(t, err);
	if (!r)
		r = read_state(t, &state, err);
	maybe_die(t, "state");
	if (!r)
		r = same_machine(t, state, err);
	if (!r)
		r = gm_image_decode(state, t->m->ncpus, &img, err);
	if (!r)
		r = gm_machine_apply_image(t->m, &img, err);
	gm_image_free(&img);
	gm_stream_in_free(state);
	maybe_die(t, "load");
	if (r) {
		refuse(t, r, err);
		return r;
	}
	t->m->update.count = t->updates;
	*out = t->m;
	t->m = NULL;
	return 0;
}

int gm_takeover_take_fd(struct gm_takeover *t, const char *name, const char **path)
{
	int i = fd_index(&t->handover, name, 0);

	if (i < 0)
		return -1;
	if (path)
		*path = json_string_value(json_object_get(t->paths, name));
	return gm_fdpass_take(&t->handover.msg, (unsigned)i);
}

/* ---- READY, COMMIT, and the guest is ours ---- */

/*
 * COMMIT, or the old process's end: either way nobody else runs the guest
 * (the old one kills this process before it would resume).  Waits for ever:
 * a timeout here could only mean two processes might run it.
 */
static int await_commit(struct gm_takeover *t, struct gm_machine *m)
{
	struct gm_fdpass_msg msg;
	struct gm_error e = { 0 };
	json_t *o;
	int r = gm_ho_recv(t->sock, GM_HO_COMMIT, "the old gmvm", -1, &msg, &o, &e);

	if (!r) {
		json_decref(o);
		gm_fdpass_msg_free(&msg);
		return 0;
	}
	if (r == -ECONNRESET || r == -EPIPE) {
		gm_log(m, GM_LOG_WARN, "live update: the old gmvm ended before its COMMIT; the guest is this process's");
		return 0;
	}
	return r;
}

int gm_takeover_finish(struct gm_takeover *t, struct gm_machine *m, struct gm_error *err)
{
	struct gm_update_progress pr = { .phase = GM_UPDATE_COMPLETED, .pid = getpid() };
	struct gm_error lost = { 0 };
	int r;

	maybe_die(t, "ready");
	pr.load_ms = (double)(gm_now_us() - t->load_start_us) / 1000.0;
	r = gm_ho_send(t->sock, GM_HO_READY, json_pack("{s:I}", "load_us", (json_int_t)(pr.load_ms * 1000)), NULL, 0,
		       HANDOVER_MS, err);
	/* the old process closes its end only after killing this one: a closed end means it died */
	if (r == -EPIPE || r == -ECONNRESET) {
		gm_log(m, GM_LOG_WARN, "live update: the old gmvm ended before READY; the guest is this process's");
		gm_error_clear(err);
		r = 0;
	} else if (!r) {
		r = await_commit(t, m);
	}
	if (r)
		return r;
	r = t->running ? gm_machine_resume(m, err) : 0;
	if (r)
		return r;
	pr.pause_ms = (double)(gm_now_us() - t->t0_us) / 1000.0;
	pr.elapsed_ms = (double)(gm_now_us() - t->start_us) / 1000.0;
	pr.check_ms = t->check_ms;
	pr.state_bytes = t->state_bytes;
	pr.updates = ++m->update.count;
	pr.fds = t->hello.msg.nfds + t->handover.msg.nfds;
	snprintf(pr.bind, sizeof(pr.bind), "%s", t->bind);
	if (readlink("/proc/self/exe", pr.binary, sizeof(pr.binary) - 1) < 0)
		pr.binary[0] = '\0';
	pthread_mutex_lock(&m->update.lock);
	m->update.prog = pr;
	pthread_mutex_unlock(&m->update.lock);
	gm_emit(m, (struct gm_event){ .kind = GM_EVENT_UPDATE, .update = &pr });
	/* the old process reports this pause to whoever asked for the update */
	if (gm_ho_send(t->sock, GM_HO_RUNNING, json_pack("{s:I}", "pause_us", (json_int_t)(pr.pause_ms * 1000)), NULL, 0,
		       2000, &lost) < 0)
		gm_log(m, GM_LOG_WARN, "live update: the guest runs here, but the old gmvm did not hear it: %s", lost.msg);
	return 0;
}

/*
 * Not in gm_takeover_finish: the wait for the old process's backend must
 * hold up neither the guest (its pause is measured above) nor the API
 * (the old process forwards its clients for only a few seconds).  Under
 * op_lock, so an operation the API started meanwhile (a second update
 * that releases the devices) comes before or after, never in between; a
 * guest already handed on takes nothing here.
 */
void gm_takeover_adopt_devices(struct gm_machine *m)
{
	pthread_mutex_lock(&m->op_lock);
	pthread_mutex_lock(&m->lock);
	bool gone = m->handed_over;
	pthread_mutex_unlock(&m->lock);
	if (!gone)
		gm_devices_adopt(m);
	pthread_mutex_unlock(&m->op_lock);
}

void gm_takeover_close(struct gm_takeover *t)
{
	if (!t)
		return;
	/* a machine never loaded (a refusal): its memory is the old process's guest, left as it is */
	gm_machine_destroy(t->m);
	if (t->sock >= 0)
		close(t->sock);
	if (t->state)
		munmap(t->state, t->state_len);
	gm_fdpass_msg_free(&t->hello.msg);
	gm_fdpass_msg_free(&t->handover.msg);
	json_decref(t->hello.names);
	json_decref(t->handover.names);
	json_decref(t->paths);
	json_decref(t->regions);
	free(t->header);
	free(t);
}

/* ---- the checks alone, without a socket or a machine (tests/fuzz/fuzz_move_header.c) ---- */

int gm_takeover_check_hello(json_t *o, unsigned nfds, const struct gm_caps *caps, struct gm_error *err)
{
	struct gm_takeover t = { .sock = -1 };
	struct gm_header_machine h;
	struct gm_config user, cfg;
	int r;

	t.hello.msg.nfds = nfds;
	r = read_hello(&t, o, err);
	if (!r)
		r = gm_header_machine_parse(t.header, &h, err);
	if (!r) {
		gm_config_defaults(&user);
		r = region_configs(&t, &user, caps, &h, &cfg, err);
		gm_header_machine_free(&h);
	}
	free(t.header);
	json_decref(t.regions);
	json_decref(t.hello.names);
	return r;
}

int gm_takeover_check_handover(json_t *o, unsigned nfds, struct gm_error *err)
{
	struct gm_takeover t = { .sock = -1 };
	int r;

	t.handover.msg.nfds = nfds;
	r = handover_fields(&t, o, err);
	json_decref(t.paths);
	json_decref(t.handover.names);
	return r;
}
