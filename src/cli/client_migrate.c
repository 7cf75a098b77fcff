/*
 * cli/client_migrate: `gmvm migrate --api-sock PATH URL [options]`, a live
 * migration of the guest of that socket to a `gmvm run --incoming URL`.
 * The PUT of vm.send-migration blocks until the migration ends; meanwhile,
 * when stderr is a terminal, a second thread asks vm.info every 200 ms on a
 * connection of its own and redraws one progress line there, cleared
 * before the answer is shown.  Without a terminal nothing is printed while
 * it waits.  The answer is one line on stdout (exit 0), or the server's
 * line on stderr: exit 3 when the kernel lacks what was asked (HTTP 501),
 * else 1.  Also the printer of `gmvm migrate-cancel`.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "move/transport.h"
#include "util/escape.h"

#define POLL_MS 200
/* A poll of vm.info that takes longer is skipped: the line just waits. */
#define POLL_TIMEOUT_S 2L
/* With --timeout-s the server ends the migration by then; the answer may take a little longer. */
#define ANSWER_MARGIN_S 60L
#define BAR_WIDTH 10

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

/* ---- progress while it waits -------------------------------------------------- */

struct progress {
	const char *sock;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	bool drawn; /* a line stands on stderr */
};

static uint64_t u64(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

static size_t terminal_width(void)
{
	struct winsize ws;

	return ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col : 80;
}

/*
 * "precopy round 2 [########--]  75%, 812.3 MB/s, 250 pages left, throttle
 * 20%": the share of guest pages already over there and how fast the rest
 * goes, in 80 columns.  Cut to the terminal's width all the same: a wrapped
 * line cannot be redrawn with \r.
 */
static void draw(struct progress *p, const json_t *mig)
{
	char line[512], phase[GM_ESCAPE_SHORT], bar[BAR_WIDTH + 1];
	const char *ph = json_string_value(json_object_get(mig, "phase"));
	uint64_t total = u64(mig, "pages_total"), left = u64(mig, "pages_left");
	unsigned pct = total ? (unsigned)((total - (left < total ? left : total)) * 100 / total) : 0;
	size_t width = terminal_width() - 1;

	if (!ph || !strcmp(ph, "none"))
		return;
	for (unsigned i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < pct * BAR_WIDTH / 100 ? '#' : '-';
	bar[BAR_WIDTH] = '\0';
	snprintf(line, sizeof(line), "%s round %" PRIu64 " [%s] %3u%%, %.1f MB/s, %" PRIu64 " pages left, throttle %" PRIu64 "%%",
		 gm_escape(ph, phase, sizeof(phase)), u64(mig, "round"), bar, pct,
		 json_number_value(json_object_get(mig, "bandwidth_mbps")), left, u64(mig, "throttle_pct"));
	if (strlen(line) > width)
		line[width] = '\0';
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	p->drawn = true;
}

static void poll_once(struct progress *p)
{
	struct gm_error err = { 0 };
	struct gm_http_reply rep;

	/* a poll that fails draws nothing: the migration's own answer says what happened */
	if (gm_cli_http(p->sock, "GET", "vm.info", NULL, POLL_TIMEOUT_S, &rep, &err) < 0)
		return;
	if (rep.status == 200) {
		json_t *j = json_loadb(rep.body, rep.len, 0, NULL);
		const json_t *mig = json_object_get(j, "migration");

		if (json_is_object(mig))
			draw(p, mig);
		json_decref(j);
	}
	gm_cli_http_free(&rep);
}

static void *poller(void *opaque)
{
	struct progress *p = opaque;
	struct timespec until;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		pthread_mutex_unlock(&p->lock);
		poll_once(p);
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += POLL_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_mutex_lock(&p->lock);
		while (!p->stop && pthread_cond_timedwait(&p->wake, &p->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static bool progress_start(struct progress *p, pthread_t *t)
{
	pthread_condattr_t ca;

	if (!isatty(STDERR_FILENO))
		return false;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(t, NULL, poller, p) != 0) {
		/* no progress line is no reason not to migrate */
		pthread_cond_destroy(&p->wake);
		pthread_mutex_destroy(&p->lock);
		return false;
	}
	return true;
}

static void progress_stop(struct progress *p, pthread_t t)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(t, NULL);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	if (p->drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
	}
}

/* ---- the request and its answer --------------------------------------------- */

/* "migrated to URL in T ms: B bytes sent, downtime D ms, R rounds" */
static int print_migrated(const struct gm_http_reply *rep, const char *sent_url)
{
	char u[GM_ESCAPE_PATH];
	json_t *j = json_loadb(rep->body, rep->len, 0, NULL);
	const char *url = json_string_value(json_object_get(j, "destination_url"));

	if (!json_is_object(j)) {
		fputs("gmvm: the API answered vm.send-migration with a body that is not a JSON object; is it a gmvm API socket?\n",
		      stderr);
		json_decref(j);
		return GM_STATUS_FAILURE;
	}
	printf("migrated to %s in %.0f ms: %" PRIu64 " bytes sent, downtime %.1f ms, %" PRIu64 " rounds\n",
	       gm_escape(url ? url : sent_url, u, sizeof(u)), json_number_value(json_object_get(j, "total_ms")),
	       u64(j, "bytes_sent"), json_number_value(json_object_get(j, "downtime_ms")), u64(j, "rounds"));
	json_decref(j);
	return GM_STATUS_OK;
}

static int perform(const char *sock, const char *body, bool json)
{
	struct progress p = { .sock = sock };
	struct gm_error err = { 0 };
	struct gm_http_reply rep;
	pthread_t t;
	json_t *req = json_loads(body, 0, NULL);
	long timeout_s = (long)u64(req, "timeout_s");
	const char *sent = json_string_value(json_object_get(req, "destination_url"));
	char *url = strdup(sent ? sent : "?");
	bool polling;
	int r;

	json_decref(req);
	if (!url) {
		fputs("gmvm: out of memory for the request\n", stderr);
		return GM_STATUS_FAILURE;
	}
	polling = progress_start(&p, &t);
	r = gm_cli_http(sock, "PUT", "vm.send-migration", body,
			timeout_s ? timeout_s + ANSWER_MARGIN_S : GM_CLI_HTTP_NO_TIMEOUT, &rep, &err);
	if (polling)
		progress_stop(&p, t);
	if (r < 0) {
		r = gm_cli_report(&err);
	} else {
		if (rep.status >= 200 && rep.status < 300 && json) {
			fwrite(rep.body, 1, rep.len, stdout);
			if (rep.len && rep.body[rep.len - 1] != '\n')
				fputc('\n', stdout);
			r = GM_STATUS_OK;
		} else if (rep.status >= 200 && rep.status < 300) {
			r = print_migrated(&rep, url);
		} else {
			r = gm_cli_report_refusal(&rep);
			if (rep.status == 501)
				r = GM_STATUS_NO_KERNEL;
		}
		gm_cli_http_free(&rep);
	}
	free(url);
	return r;
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
