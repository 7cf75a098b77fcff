/*
 * cli/client_update: `gmvm update --api-sock PATH [--binary PATH] [--
 * ARGS...]`, the running gmvm replaced by a new process (of the binary
 * given, or its own) that takes over the guest and the same socket
 * (docs/live-update.md).  The PUT of vmm.live-update blocks until the
 * update ends, the phase on a terminal meanwhile (client_watch.c).  The
 * answer is one line on stdout (exit 0), or the server's line on stderr:
 * exit 2 for a request refused as impossible (HTTP 400: anon memory, a
 * binary that is not one, a stream it does not know), 3 when the kernel
 * lacks what is needed (501), else 1.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "gmvm/update.h"
#include "util/escape.h"

/* ---- the body ------------------------------------------------------------------ */

/*
 * The binary as the server must read it: absolute, since the server runs
 * in a directory of its own.  Not resolved further: a symlink stays the
 * name the user gave.
 */
static int binary_path(const char *cmd, const char *b, char *out, size_t len, struct gm_error *err)
{
	char cwd[PATH_MAX], q[GM_ESCAPE_PATH];

	if (!*b)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: the --binary path is empty; write --binary PATH", cmd);
	if (b[0] == '/') {
		if ((size_t)snprintf(out, len, "%s", b) >= len)
			goto too_long;
		return 0;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return gm_fail(err, GM_STATUS_BAD_INPUT, errno,
			       "%s: cannot tell the current directory for the relative --binary %s (%s); give an absolute path",
			       cmd, gm_escape(b, q, sizeof(q)), strerror(errno));
	if ((size_t)snprintf(out, len, "%s/%s", cwd, b) < len)
		return 0;
too_long:
	return gm_fail(err, GM_STATUS_BAD_INPUT, ENAMETOOLONG, "%s: --binary %s: the path is too long; give a shorter one",
		       cmd, gm_escape(b, q, sizeof(q)));
}

/* A string member value, or an error when it is not UTF-8 (a JSON body cannot carry it). */
static int add_string(const char *cmd, json_t *to, const char *key, const char *s, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];
	json_t *j = json_string(s);

	if (!j)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EILSEQ, "%s: '%s' is not UTF-8; the API takes UTF-8 text only", cmd,
			       gm_escape(s, q, sizeof(q)));
	if (json_is_array(to))
		return json_array_append_new(to, j) ? -ENOMEM : 0;
	return json_object_set_new(to, key, j) ? -ENOMEM : 0;
}

static int build(const char *cmd, const char *usage, int argc, char **argv, char **body, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT], path[PATH_MAX + 1];
	const char *binary = NULL;
	json_t *o = json_object(), *args = json_array();
	int i, r = 0;

	if (!o || !args) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < argc && !r; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "--binary") || !strncmp(a, "--binary=", 9)) {
			const char *v = a[8] == '=' ? a + 9 : i + 1 < argc ? argv[++i] : NULL;

			if (!v)
				r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: --binary needs a value; usage: %s", cmd, usage);
			else if (binary)
				r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: --binary given twice; give one binary", cmd);
			else
				binary = v;
		} else {
			r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				    "%s: unexpected '%s'; options for the new gmvm run go after --; usage: %s", cmd,
				    gm_escape(a, q, sizeof(q)), usage);
		}
	}
	if (!r && argc - i > GM_UPDATE_MAX_ARGS)
		r = gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG, "%s: %d arguments after --; the new gmvm run takes at most %d",
			    cmd, argc - i, GM_UPDATE_MAX_ARGS);
	for (; i < argc && !r; i++)
		r = add_string(cmd, args, NULL, argv[i], err);
	if (!r && binary && !(r = binary_path(cmd, binary, path, sizeof(path), err)))
		r = add_string(cmd, o, "binary", path, err);
	if (!r && json_array_size(args))
		r = json_object_set(o, "args", args) ? -ENOMEM : 0;
	if (!r && !(*body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)))
		r = -ENOMEM;
out:
	if (r == -ENOMEM)
		gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "%s: out of memory for the request", cmd);
	json_decref(args);
	json_decref(o);
	return r;
}

/* ---- the phase while it waits, and the answer ------------------------------------ */

/* "live update: checking (new gmvm pid 4242), 12 ms": the update moves in phases, not pages. */
static void decorate(const json_t *up, const char *common, char *line, size_t len)
{
	char phase[GM_ESCAPE_SHORT];
	const char *ph = json_string_value(json_object_get(up, "phase"));

	(void)common;
	snprintf(line, len, "live update: %s (new gmvm pid %" PRIu64 "), %.0f ms", gm_escape(ph ? ph : "?", phase, sizeof(phase)),
		 gm_cli_u64(up, "pid"), json_number_value(json_object_get(up, "elapsed_ms")));
}

/* "updated: gmvm pid 4242 (/usr/bin/gmvm) runs the guest; paused 1.23 ms" */
static int print_updated(const struct gm_http_reply *rep, const json_t *req)
{
	char b[GM_ESCAPE_PATH];
	json_t *j = json_loadb(rep->body, rep->len, 0, NULL);
	const char *binary = json_string_value(json_object_get(j, "binary"));

	(void)req;
	if (!json_is_object(j)) {
		fputs("gmvm: the API answered vmm.live-update with a body that is not a JSON object; is it a gmvm API socket?\n",
		      stderr);
		json_decref(j);
		return GM_STATUS_FAILURE;
	}
	printf("updated: gmvm pid %" PRIu64 " (%s) runs the guest; paused %.2f ms\n", gm_cli_u64(j, "pid"),
	       gm_escape(binary ? binary : "?", b, sizeof(b)), json_number_value(json_object_get(j, "pause_ms")));
	json_decref(j);
	return GM_STATUS_OK;
}

static const struct gm_cli_watch watch = {
	.endpoint = "vmm.live-update",
	.member = "live_update",
	.rate = "elapsed_ms",
	.decorate = decorate,
	.print = print_updated,
	.impossible_is_bad_input = true,
};

static int perform(const char *sock, const char *body, bool json)
{
	return gm_cli_watch(&watch, sock, body, json);
}

const struct gm_cli_args gm_cli_update_args = {
	.usage = "[--binary PATH] [-- ARGS...]",
	.help = "  --binary PATH    the gmvm binary the new process runs (default: the one\n"
		"                   running now); made absolute here\n"
		"  -- ARGS...       extra gmvm run options for the new process, at most 32,\n"
		"                   e.g. -- --timeout 30; the guest, memory, sockets, console,\n"
		"                   event monitor and identity come from the running VM\n",
	.exit_help = "It waits until the update ends; on a terminal it shows the phase on\n"
		     "stderr.  The new process serves the same socket path; the old one exits 0.\n"
		     "See docs/live-update.md.\n"
		     "\n"
		     "Exit status: 0 when the new process runs the guest, 1 when the update\n"
		     "failed (the guest runs on in the old process), 2 on bad options or an\n"
		     "update refused as impossible (anon memory, a binary that is not one, a\n"
		     "state stream it does not know), 3 when this kernel lacks what is needed.\n",
	.build = build,
	.perform = perform,
};
