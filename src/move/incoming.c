/*
 * move/incoming: live migration's destination.  It listens, takes exactly
 * one sender and checks its header (the VM, its identity, the migration's
 * session) before anything is built; then builds the machine paused, says
 * READY, takes the sender's other connections (each must name the same
 * session), and lets receive.c fill memory while it collects the state.
 * With every connection at its END it loads the state, takes the VM
 * identity the source let go, and hands back a machine that the caller
 * resumes (gm_incoming_finish), which answers RUNNING.  Whatever fails
 * answers REFUSED with the reason, so the source can say it, and leaves
 * nothing behind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mem/mem.h"
#include "move/move.h"
#include "util/escape.h"
#include "vmm/restore.h"

#define CHANNEL_ACCEPT_MS 10000
#define IDENTITY_WAIT_MS 10000

struct gm_incoming {
	struct gm_move_listener l;
	struct gm_move_url url;
	int fd[GM_MIGRATION_MAX_CONNECTIONS];
	struct gm_stream_reader *rd[GM_MIGRATION_MAX_CONNECTIONS];
	unsigned n;               /* connections the sender said it opens */
	char session[33];
	char uuid[37];            /* the sender's VM */
	bool running;             /* the guest ran on the source when it paused */
	bool postcopy;            /* its memory follows after it runs here */
	struct gm_postcopy_dest *pd;
};

static int refuse_header(struct gm_error *err, const char *what)
{
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "incoming migration: the sender's header %s; is it a gmvm of the same version?",
		       what);
}

/*
 * The first header: a migration's (its session, channel 0, how many
 * connections), and a machine this gmvm can build (checked whole by the
 * header parser restores use too).  No socket: tests/fuzz feeds it as is.
 */
int gm_incoming_check_header(const char *json, char uuid[37], char session[33], unsigned *connections,
			     struct gm_error *err)
{
	struct gm_header_machine hm;
	json_t *h = json_loads(json, 0, NULL);
	json_t *mig = json_object_get(h, "migration");
	const char *s = json_string_value(json_object_get(mig, "session"));
	json_int_t conns = json_integer_value(json_object_get(mig, "connections"));
	int r = 0;

	if (!json_is_object(mig))
		r = refuse_header(err, "is not a migration's (a snapshot's state file?)");
	else if (!s || strlen(s) != 32 || json_integer_value(json_object_get(mig, "channel")) != 0)
		r = refuse_header(err, "lacks the migration session");
	else if (conns < 1 || conns > GM_MIGRATION_MAX_CONNECTIONS)
		r = refuse_header(err, "asks for a number of connections that is not 1 to 16");
	if (!r)
		r = gm_header_machine_parse(json, &hm, err);
	if (!r) {
		strcpy(uuid, hm.uuid);
		strcpy(session, s);
		*connections = (unsigned)conns;
		gm_header_machine_free(&hm);
	}
	json_decref(h);
	return r;
}

static int read_header(struct gm_incoming *in, const char *json, struct gm_error *err)
{
	return gm_incoming_check_header(json, in->uuid, in->session, &in->n, err);
}

/* Answer REFUSED with err's line (best effort: the sender may be gone). */
static void answer_refused(struct gm_incoming *in, const struct gm_error *err)
{
	struct gm_error ignored = { 0 };

	if (in->fd[0] >= 0)
		gm_frame_send(in->fd[0], GM_FRAME_REFUSED, (uint32_t)err->status, err->msg, 2000, &ignored);
}

int gm_incoming_open(const struct gm_config *cfg, struct gm_incoming **out, struct gm_error *err)
{
	struct gm_incoming *in = calloc(1, sizeof(*in));
	int timeout_ms = cfg->incoming_timeout > 0 ? (int)(cfg->incoming_timeout * 1000) : -1;
	int r;

	*out = NULL;
	if (!in)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "incoming migration: out of memory");
	in->l.fd = -1;
	for (unsigned i = 0; i < GM_MIGRATION_MAX_CONNECTIONS; i++)
		in->fd[i] = -1;
	r = gm_move_url_parse(cfg->incoming, &in->url, err);
	if (!r)
		r = gm_move_listen(&in->url, &in->l, err);
	if (!r)
		r = gm_move_accept(in->l.fd, timeout_ms, NULL, &in->fd[0], err);
	if (!r)
		r = gm_stream_reader_open(in->fd[0], UINT64_MAX, &in->rd[0], err);
	if (!r)
		r = read_header(in, gm_stream_reader_header(in->rd[0]), err);
	if (!r && cfg->incoming_identity && strcasecmp(cfg->incoming_identity, in->uuid) != 0) {
		char theirs[GM_ESCAPE_SHORT];

		r = gm_fail(err, GM_STATUS_BAD_INPUT, EPERM,
			    "incoming migration: the sender migrates VM %s, not %s (--incoming-identity); refused",
			    gm_escape(in->uuid, theirs, sizeof(theirs)), cfg->incoming_identity);
	}
	if (r) {
		answer_refused(in, err);
		gm_incoming_close(in);
		return r;
	}
	*out = in;
	return 0;
}

/* The sender's other connections: the same session, channels 1..n-1 once each. */
static int accept_channels(struct gm_incoming *in, struct gm_error *err)
{
	for (unsigned got = 1; got < in->n;) {
		struct gm_stream_reader *rd = NULL;
		int fd = -1, r = gm_move_accept(in->l.fd, CHANNEL_ACCEPT_MS, NULL, &fd, err);

		if (r)
			return r;
		r = gm_stream_reader_open(fd, UINT64_MAX, &rd, err);
		json_t *h = r ? NULL : json_loads(gm_stream_reader_header(rd), 0, NULL);
		json_t *mig = json_object_get(h, "migration");
		const char *session = json_string_value(json_object_get(mig, "session"));
		json_int_t ch = json_integer_value(json_object_get(mig, "channel"));
		bool ok = session && strcmp(session, in->session) == 0 && ch >= 1 && ch < (json_int_t)in->n &&
			  in->fd[ch] < 0;

		json_decref(h);
		if (!ok) {
			/* one sender, its own connections only: anything else ends it */
			gm_stream_reader_free(rd);
			close(fd);
			if (r)
				return r;
			return gm_fail(err, GM_STATUS_BAD_INPUT, EPROTO,
				       "incoming migration: a connection that is not one of this migration's came in; refused");
		}
		in->fd[ch] = fd;
		in->rd[ch] = rd;
		got++;
	}
	gm_move_unlisten(&in->l);
	return 0;
}

/* The MIGRATION section: whether the guest ran on the source, and the mode. */
static int read_tail(struct gm_incoming *in, const struct gm_stream_in *s, struct gm_error *err)
{
	const struct gm_section *sec = gm_stream_in_find(s, GM_SECTION_MIGRATION, 0);
	json_t *t = sec ? json_loadb((const char *)sec->data, sec->len, 0, NULL) : NULL;
	json_t *run = json_object_get(t, "running"), *post = json_object_get(t, "postcopy");
	int r = 0;

	if (!sec)
		r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			    "incoming migration: the stream ended without its MIGRATION section; the sender is not a gmvm of this version");
	else if (!json_is_boolean(run) || !json_is_boolean(post))
		r = gm_section_fail(err, sec, "not a JSON object with booleans \"running\" and \"postcopy\"");
	else {
		in->running = json_is_true(run);
		in->postcopy = json_is_true(post);
	}
	json_decref(t);
	return r;
}

static int expect_end(struct gm_incoming *in, struct gm_error *err)
{
	const struct gm_section *sec;
	int r = gm_stream_reader_next(in->rd[0], &sec, err);

	if (r == 1)
		return gm_section_fail(err, sec, "follows the MIGRATION section, where only END may");
	return r;
}

int gm_incoming_receive(struct gm_incoming *in, const struct gm_config *user, const struct gm_caps *caps,
			struct gm_machine **out, struct gm_error *err)
{
	struct gm_machine *m = NULL;
	struct gm_stream_in *state = NULL;
	struct gm_machine_image img = { 0 };
	struct gm_move_region rg[GM_MAX_REGIONS];
	int r;

	*out = NULL;
	/* the sender's machine, on the memory the user's options ask for here */
	r = gm_machine_build_from_header(gm_stream_reader_header(in->rd[0]), user, caps, &m, err);
	if (!r)
		r = gm_frame_send(in->fd[0], GM_FRAME_READY, 0, NULL, 10000, err);
	if (!r)
		r = accept_channels(in, err);
	if (!r)
		r = gm_stream_in_new(gm_stream_reader_header(in->rd[0]), &state, err);
	if (!r) {
		unsigned nrg = gm_move_regions(m, rg, GM_MAX_REGIONS);

		r = gm_receive_all(in->fd, in->rd, in->n, rg, nrg, state, err);
	}
	if (!r)
		r = read_tail(in, state, err);
	if (!r)
		r = gm_image_decode(state, m->ncpus, &img, err);
	/* precopy: nothing after the machine's sections; postcopy: its memory */
	if (!r && !in->postcopy)
		r = expect_end(in, err);
	if (!r && in->postcopy)
		r = gm_postcopy_dest_prepare(m, state, &in->pd, err);
	if (!r)
		/* the source lets it go just before its last bytes: free now, or nearly */
		r = gm_identity_lock_wait(m->uuid, &m->lock_fd, IDENTITY_WAIT_MS, err);
	/* the vCPUs park before their first instruction and take the state */
	if (!r)
		r = gm_machine_load_image(m, &img, err);
	if (!r && in->postcopy)
		r = gm_postcopy_dest_start(in->pd, in->fd[0], in->rd[0], err);
	gm_image_free(&img);
	gm_stream_in_free(state);
	if (r) {
		answer_refused(in, err);
		gm_postcopy_dest_stop(in->pd);
		in->pd = NULL;
		gm_machine_destroy(m);
		return r;
	}
	*out = m;
	return 0;
}

int gm_incoming_finish(struct gm_incoming *in, struct gm_machine *m, struct gm_error *err)
{
	struct gm_error lost = { 0 };
	int r;

	/* postcopy: the source must hear RUNNING before the guest's first page request */
	if (in->postcopy && gm_frame_send(in->fd[0], GM_FRAME_RUNNING, 0, NULL, 10000, err) < 0)
		return gm_fail(err, GM_STATUS_FAILURE, err->errnum, "postcopy: the source went away before the guest started: %s",
			       err->msg);
	r = in->running ? gm_machine_resume(m, err) : 0;
	if (r) {
		answer_refused(in, err);
		return r;
	}
	/* precopy: the source ends on this; if it went away meanwhile, the guest runs here all the same */
	if (!in->postcopy && gm_frame_send(in->fd[0], GM_FRAME_RUNNING, 0, NULL, 10000, &lost) < 0)
		gm_log(m, GM_LOG_WARN, "migration: the guest runs here, but the source did not hear it: %s", lost.msg);
	return 0;
}

void gm_incoming_close(struct gm_incoming *in)
{
	if (!in)
		return;
	gm_move_unlisten(&in->l);
	gm_postcopy_dest_stop(in->pd);
	for (unsigned i = 0; i < GM_MIGRATION_MAX_CONNECTIONS; i++) {
		gm_stream_reader_free(in->rd[i]);
		if (in->fd[i] >= 0)
			close(in->fd[i]);
	}
	free(in);
}
