/*
 * cli/client_migrate: `gmvm migrate --api-sock PATH URL [options]`, a live
 * migration of the guest of that socket to a `gmvm run --incoming URL`.
 * The PUT of vm.send-migration blocks until the migration ends, a progress
 * line on a terminal meanwhile (client_watch.c).  The answer is one line
 * on stdout (exit 0), or the server's line on stderr: exit 3 when the
 * kernel lacks what was asked (HTTP 501), else 1.  Also the printer of
 * `gmvm migrate-cancel`.
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
#include "move/transport.h"
#include "util/escape.h"

/* The contract's limits (docs/migration.md). */
#define DOWNTIME_MS_MAX 60000L
#define CONNECTIONS_MAX 16L
#define TIMEOUT_S_MAX (7L * 86400) /* a week */

/* ---- the body ------------------------------------------------------------------ */

/* The options that take a whole number, and the body's member for each. */
static const struct {
	const char *name, *key;
	long min, max;
} numbers[] = {
	{ "--downtime-ms", "downtime_ms", 1, DOWNTIME_MS_MAX },
	{ "--connections", "connections", 1, CONNECTIONS_MAX },
	{ "--timeout-s", "timeout_s", 0, TIMEOUT_S_MAX },
};
#define N_NUMBERS (sizeof(numbers) / sizeof(numbers[0]))

/*
 * Whether argv[*i] is the option name, as "--name VALUE" or "--name=VALUE";
 * its value (NULL when it lacks one) goes to *val.
 */
static bool is_option(const char *name, int argc, char **argv, int *i, const char **val)
{
	size_t n = strlen(name);
	const char *a = argv[*i];

	if (strncmp(a, name, n) != 0 || (a[n] && a[n] != '='))
		return false;
	*val = a[n] == '=' ? a + n + 1 : *i + 1 < argc ? argv[++*i] : NULL;
	return true;
}

static int number(const char *cmd, const char *name, const char *v, long min, long max, long *out,
		  struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];
	long n = 0;
	const char *p = v;

	for (; *p >= '0' && *p <= '9' && n <= max; p++)
		n = n * 10 + (*p - '0');
	if (p == v || *p || n < min || n > max)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: %s %s: must be a whole number from %ld to %ld", cmd,
			       name, gm_escape(v, q, sizeof(q)), min, max);
	*out = n;
	return 0;
}

/*
 * The URL as the server must read it: checked here (a bad one is a bad
 * option, exit 2), and a relative UNIX path made absolute, since the server
 * runs in a directory of its own.
 */
static int destination(const char *cmd, const char *url, char *out, size_t len, struct gm_error *err)
{
	struct gm_error e = { 0 };
	struct gm_move_url u;
	char cwd[PATH_MAX], q[GM_ESCAPE_PATH];

	if (gm_move_url_parse(url, &u, &e))
		return gm_fail(err, e.status, e.errnum, "%s: %s", cmd, e.msg);
	if (u.kind != GM_URL_UNIX || u.path[0] == '/') {
		snprintf(out, len, "%s", url);
		return 0;
	}
	if (!getcwd(cwd, sizeof(cwd)))
		return gm_fail(err, GM_STATUS_BAD_INPUT, errno,
			       "%s: cannot tell the current directory for the relative %s (%s); give an absolute path",
			       cmd, gm_escape(url, q, sizeof(q)), strerror(errno));
	if ((size_t)snprintf(out, len, "unix:%s/%s", cwd, u.path) >= len ||
	    strlen(out) - 5 >= sizeof(u.path))
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENAMETOOLONG,
			       "%s: %s made absolute is longer than the %zu bytes a UNIX socket path can take; give a shorter absolute path",
			       cmd, gm_escape(url, q, sizeof(q)), sizeof(u.path) - 1);
	return 0;
}

static int build(const char *cmd, const char *usage, int argc, char **argv, char **body, struct gm_error *err)
{
	char q[GM_ESCAPE_PATH], q2[GM_ESCAPE_PATH], url[PATH_MAX + 8];
	const char *dest = NULL, *v = NULL;
	json_t *o = json_object();
	long n = 0;
	int r = 0;

	if (!o)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "%s: out of memory for the request", cmd);
	for (int i = 0; i < argc && !r; i++) {
		const char *a = argv[i];
		size_t k = 0;

		while (k < N_NUMBERS && !is_option(numbers[k].name, argc, argv, &i, &v))
			k++;
		if (k < N_NUMBERS) {
			if (!v)
				r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: %s needs a value; usage: %s", cmd,
					    numbers[k].name, usage);
			else if (!(r = number(cmd, numbers[k].name, v, numbers[k].min, numbers[k].max, &n, err)))
				json_object_set_new(o, numbers[k].key, json_integer(n));
		} else if (is_option("--compress", argc, argv, &i, &v)) {
			if (!v)
				r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: --compress needs a value; usage: %s", cmd,
					    usage);
			else if (strcmp(v, "zstd") && strcmp(v, "none"))
				r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: --compress %s: use zstd or none", cmd,
					    gm_escape(v, q, sizeof(q)));
			else
				json_object_set_new(o, "compress", json_string(v));
		} else if (strcmp(a, "--postcopy") == 0) {
			json_object_set_new(o, "memory_mode", json_string("postcopy"));
		} else if (a[0] == '-' && a[1]) {
			r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: unexpected '%s'; usage: %s", cmd,
				    gm_escape(a, q, sizeof(q)), usage);
		} else if (dest) {
			r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				    "%s: two destinations, '%s' and '%s'; give one URL; usage: %s", cmd,
				    gm_escape(dest, q, sizeof(q)), gm_escape(a, q2, sizeof(q2)), usage);
		} else {
			dest = a;
		}
	}
	if (!r && !dest)
		r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			    "%s: needs URL, where gmvm run --incoming URL waits (tcp:HOST:PORT or unix:PATH); usage: %s",
			    cmd, usage);
	if (!r)
		r = destination(cmd, dest, url, sizeof(url), err);
	if (!r) {
		/* json_string refuses text that is not UTF-8: a JSON body cannot carry it */
		json_t *s = json_string(url);
		if (!s)
			r = gm_fail(err, GM_STATUS_BAD_INPUT, EILSEQ, "%s: the URL '%s' is not UTF-8; use a UTF-8 path",
				    cmd, gm_escape(url, q, sizeof(q)));
		else
			json_object_set_new(o, "destination_url", s);
	}
	if (!r && !(*body = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS)))
		r = gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "%s: out of memory for the request", cmd);
	json_decref(o);
	return r;
}

/* ---- progress while it waits, and the answer ------------------------------------ */

/*
 * "precopy round 2 [########--]  75%, 812.3 MB/s, 250 pages left, throttle
 * 20%": the share of guest pages already over there and how fast the rest
 * goes, in 80 columns.
 */
static void decorate(const json_t *mig, const char *common, char *line, size_t len)
{
	snprintf(line, len, "%s, throttle %" PRIu64 "%%", common, gm_cli_u64(mig, "throttle_pct"));
}

/* "migrated to URL in T ms: B bytes sent, downtime D ms, R rounds" */
static int print_migrated(const struct gm_http_reply *rep, const json_t *req)
{
	char u[GM_ESCAPE_PATH];
	json_t *j = json_loadb(rep->body, rep->len, 0, NULL);
	const char *url = json_string_value(json_object_get(j, "destination_url"));
	const char *sent = json_string_value(json_object_get(req, "destination_url"));

	if (!json_is_object(j)) {
		fputs("gmvm: the API answered vm.send-migration with a body that is not a JSON object; is it a gmvm API socket?\n",
		      stderr);
		json_decref(j);
		return GM_STATUS_FAILURE;
	}
	printf("migrated to %s in %.0f ms: %" PRIu64 " bytes sent, downtime %.1f ms, %" PRIu64 " rounds\n",
	       gm_escape(url ? url : sent ? sent : "?", u, sizeof(u)), json_number_value(json_object_get(j, "total_ms")),
	       gm_cli_u64(j, "bytes_sent"), json_number_value(json_object_get(j, "downtime_ms")), gm_cli_u64(j, "rounds"));
	json_decref(j);
	return GM_STATUS_OK;
}

static const struct gm_cli_watch watch = {
	.endpoint = "vm.send-migration",
	.member = "migration",
	.rate = "bandwidth_mbps",
	.decorate = decorate,
	.print = print_migrated,
};

static int perform(const char *sock, const char *body, bool json)
{
	return gm_cli_watch(&watch, sock, body, json);
}

const struct gm_cli_args gm_cli_migrate_args = {
	.usage = "URL [--downtime-ms N] [--connections N] [--postcopy] [--compress zstd] [--timeout-s N]",
	.help = "  URL              where gmvm run --incoming URL waits: tcp:HOST:PORT (IPv6 in\n"
		"                   brackets, tcp:[::1]:4444) or unix:PATH\n"
		"  --downtime-ms N  the longest pause to aim for, 1 to 60000 (default: 50)\n"
		"  --connections N  parallel connections for memory, 1 to 16 (default: 1)\n"
		"  --postcopy       start the guest over there before all memory is sent;\n"
		"                   memfd and anon memory only; losing the source then is\n"
		"                   fatal for the guest (default: precopy only)\n"
		"  --compress zstd  compress pages on the way, or none (default: none)\n"
		"  --timeout-s N    give up after N seconds, the guest running on here\n"
		"                   (default: 0, no limit)\n",
	.exit_help = "It waits until the migration ends; on a terminal it shows its progress\n"
		     "on stderr.  gmvm migrate-cancel stops it.  See docs/migration.md.\n"
		     "\n"
		     "Exit status: 0 when the guest runs over there (this side's gmvm run has\n"
		     "ended), 1 when the migration was refused or failed (the guest runs on\n"
		     "here), 2 on bad options, 3 when this kernel lacks what was asked.\n",
	.build = build,
	.perform = perform,
};

int gm_cli_print_cancelled(const json_t *body, FILE *out)
{
	(void)body;
	fputs("migration cancelled; the guest runs on here\n", out);
	return GM_STATUS_OK;
}
