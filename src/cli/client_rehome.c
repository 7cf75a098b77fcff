/*
 * cli/client_rehome: `gmvm rehome --api-sock PATH REGION [key=value,...]`,
 * one memory region of the running guest moved onto new memory (another
 * backend, page size or NUMA node; no keys: a fresh compact copy).  The PUT
 * of vm.memory-rehome blocks until it ends; meanwhile, when stderr is a
 * terminal, a second thread asks vm.info every 200 ms on a connection of
 * its own and redraws one progress line there, cleared before the answer
 * is shown.  The answer is one line on stdout (exit 0), or the server's
 * line on stderr: exit 2 for a target refused as impossible (HTTP 400),
 * 3 when the kernel lacks it (501), else 1.  Also the printer of
 * `gmvm rehome-cancel`.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/escape.h"

#define POLL_MS 200
#define POLL_TIMEOUT_S 2L
/* With timeout-s the server ends the re-home by then; the answer may take a little longer. */
#define ANSWER_MARGIN_S 60L
#define BAR_WIDTH 10
#define MIB (1024.0 * 1024.0)

/* ---- the body ------------------------------------------------------------------ */

enum kind { WORD, NUMBER, ONOFF };

/* The keys, the body's member for each, and what each takes. */
static const struct key {
	const char *name, *member;
	enum kind kind;
	const char *const *words; /* WORD */
	long min, max;            /* NUMBER */
	const char *syntax;
} keys[] = {
	{ "backend", "backend", WORD, (const char *const[]){ "guest-memfd", "memfd", "anon", NULL }, 0, 0,
	  "backend=guest-memfd|memfd|anon" },
	{ "hugepages", "hugepages", WORD, (const char *const[]){ "4K", "2M", "1G", "off", NULL }, 0, 0,
	  "hugepages=4K|2M|1G|off" },
	{ "numa-node", "numa_node", NUMBER, NULL, -1, 1L << 30, "numa-node=N (-1: no policy)" },
	{ "prealloc", "prealloc", ONOFF, NULL, 0, 0, "prealloc=on|off" },
	{ "movable", "movable", ONOFF, NULL, 0, 0, "movable=on|off" },
	{ "downtime-ms", "downtime_ms", NUMBER, NULL, 1, 60000, "downtime-ms=1..60000" },
	{ "timeout-s", "timeout_s", NUMBER, NULL, 0, 7L * 86400, "timeout-s=N (0: no limit)" },
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))
#define KEY_NAMES "backend, hugepages, numa-node, prealloc, movable, downtime-ms or timeout-s"

static int number(const char *cmd, const struct key *k, const char *v, long *out, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];
	const char *p = v + (*v == '-');
	long n = 0;

	for (; *p >= '0' && *p <= '9' && n <= k->max; p++)
		n = n * 10 + (*p - '0');
	if (*v == '-')
		n = -n;
	if (p == v + (*v == '-') || *p || n < k->min || n > k->max)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: %s=%s: must be a whole number from %ld to %ld",
			       cmd, k->name, gm_escape(v, q, sizeof(q)), k->min, k->max);
	*out = n;
	return 0;
}

/* One key=value item (n bytes at item) into the body o. */
static int item(const char *cmd, const char *it, size_t n, json_t *o, struct gm_error *err)
{
	char buf[128], q[GM_ESCAPE_SHORT];
	const struct key *k = NULL;
	const char *v;
	long num = 0;

	if (n == 0 || n >= sizeof(buf))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: an empty or overlong item in the keys; write key=value,... with %s",
			       cmd, KEY_NAMES);
	memcpy(buf, it, n);
	buf[n] = '\0';
	v = strchr(buf, '=');
	for (size_t i = 0; i < N_KEYS; i++)
		if (v && strlen(keys[i].name) == (size_t)(v - buf) && !strncmp(buf, keys[i].name, (size_t)(v - buf)))
			k = &keys[i];
	if (!k)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: unknown item '%s'; write key=value with %s "
			       "(size and bind stay the region's)", cmd, gm_escape(buf, q, sizeof(q)), KEY_NAMES);
	v++;
	if (json_object_get(o, k->member))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: %s given twice; give each key once", cmd, k->name);
	switch (k->kind) {
	case WORD:
		for (const char *const *w = k->words; *w; w++)
			if (!strcasecmp(v, *w))
				return json_object_set_new(o, k->member, json_string(*w)) ? -ENOMEM : 0;
		break;
	case ONOFF:
		if (!strcmp(v, "on") || !strcmp(v, "off"))
			return json_object_set_new(o, k->member, json_boolean(!strcmp(v, "on"))) ? -ENOMEM : 0;
		break;
	case NUMBER:
		if (number(cmd, k, v, &num, err) < 0)
			return -EINVAL;
		return json_object_set_new(o, k->member, json_integer(num)) ? -ENOMEM : 0;
	}
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: %s=%s: write %s", cmd, k->name, gm_escape(v, q, sizeof(q)),
		       k->syntax);
}

static int build(const char *cmd, const char *usage, int argc, char **argv, char **body, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];
	const char *region = NULL;
	json_t *o = json_object();
	int r = 0;

	if (!o)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "%s: out of memory for the request", cmd);
	for (int i = 0; i < argc && !r; i++) {
		const char *a = argv[i];

		if (a[0] == '-') {
			r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: unexpected '%s'; usage: %s", cmd,
				    gm_escape(a, q, sizeof(q)), usage);
		} else if (!region && !strchr(a, '=')) {
			region = a;
			if (!json_string(region))
				r = gm_fail(err, GM_STATUS_BAD_INPUT, EILSEQ, "%s: the region name is not UTF-8", cmd);
			else
				json_object_set_new(o, "region", json_string(region));
		} else if (!region) {
			r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				    "%s: '%s' comes before REGION; name the region first (ram for the RAM); usage: %s", cmd,
				    gm_escape(a, q, sizeof(q)), usage);
		} else {
			/* key=value,... ; more than one argument of them is fine too */
			for (const char *p = a; !r;) {
				const char *end = strchr(p, ',');
				size_t n = end ? (size_t)(end - p) : strlen(p);

				r = item(cmd, p, n, o, err);
				if (!end)
					break;
				p = end + 1;
			}
		}
	}
	if (!r && !region)
		r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			    "%s: needs REGION, ram for the RAM or a --region's name; usage: %s", cmd, usage);
	if (r == -ENOMEM)
		gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "%s: out of memory for the request", cmd);
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

static double real(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

static const char *text(const json_t *o, const char *key, char *buf, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));

	return gm_escape(s ? s : "?", buf, len);
}

static size_t terminal_width(void)
{
	struct winsize ws;

	return ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col : 80;
}

/*
 * "rehome ram copying round 2 [########--]  75%, 812.3 MB/s, 250 pages
 * left": the share of the region over on the new memory and how fast the
 * rest goes, cut to the terminal's width (a wrapped line cannot be redrawn).
 */
static void draw(struct progress *p, const json_t *rh)
{
	char line[512], phase[GM_ESCAPE_SHORT], region[GM_ESCAPE_SHORT], bar[BAR_WIDTH + 1];
	const char *ph = json_string_value(json_object_get(rh, "phase"));
	uint64_t total = u64(rh, "pages_total"), left = u64(rh, "pages_left");
	unsigned pct = total ? (unsigned)((total - (left < total ? left : total)) * 100 / total) : 0;
	size_t width = terminal_width() - 1;

	if (!ph || !strcmp(ph, "none"))
		return;
	for (unsigned i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < pct * BAR_WIDTH / 100 ? '#' : '-';
	bar[BAR_WIDTH] = '\0';
	snprintf(line, sizeof(line), "rehome %s %s round %" PRIu64 " [%s] %3u%%, %.1f MB/s, %" PRIu64 " pages left",
		 text(rh, "region", region, sizeof(region)), gm_escape(ph, phase, sizeof(phase)), u64(rh, "round"), bar,
		 pct, real(rh, "copy_mbps"), left);
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

	/* a poll that fails draws nothing: the re-home's own answer says what happened */
	if (gm_cli_http(p->sock, "GET", "vm.info", NULL, POLL_TIMEOUT_S, &rep, &err) < 0)
		return;
	if (rep.status == 200) {
		json_t *j = json_loadb(rep.body, rep.len, 0, NULL);
		const json_t *rh = json_object_get(j, "rehome");

		if (json_is_object(rh))
			draw(p, rh);
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
		/* no progress line is no reason not to re-home */
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

/*
 * "rehome: region ram now memfd 2M: 262144 pages copied (1024 MiB) in 3
 * rounds, 12345 skipped, paused 4.2 ms, 812 ms in all"
 */
static int print_rehomed(const struct gm_http_reply *rep)
{
	char region[GM_ESCAPE_SHORT], to[GM_ESCAPE_SHORT];
	json_t *j = json_loadb(rep->body, rep->len, 0, NULL);
	const json_t *rh = json_object_get(j, "rehome");

	if (!json_is_object(rh)) {
		fputs("gmvm: the API answered vm.memory-rehome without a rehome object; is it a gmvm API socket?\n",
		      stderr);
		json_decref(j);
		return GM_STATUS_FAILURE;
	}
	printf("rehome: region %s now %s: %" PRIu64 " pages copied (%.0f MiB) in %" PRIu64 " rounds, %" PRIu64
	       " skipped, paused %.1f ms, %.0f ms in all\n",
	       text(rh, "region", region, sizeof(region)), text(rh, "to", to, sizeof(to)), u64(rh, "pages_copied"),
	       (double)u64(rh, "pages_copied") * 4096 / MIB, u64(rh, "round"), u64(rh, "pages_skipped"),
	       real(rh, "pause_ms"), real(rh, "elapsed_ms"));
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
	bool polling;
	int r;

	json_decref(req);
	polling = progress_start(&p, &t);
	r = gm_cli_http(sock, "PUT", "vm.memory-rehome", body,
			timeout_s ? timeout_s + ANSWER_MARGIN_S : GM_CLI_HTTP_NO_TIMEOUT, &rep, &err);
	if (polling)
		progress_stop(&p, t);
	if (r < 0)
		return gm_cli_report(&err);
	if (rep.status >= 200 && rep.status < 300 && json) {
		fwrite(rep.body, 1, rep.len, stdout);
		if (rep.len && rep.body[rep.len - 1] != '\n')
			fputc('\n', stdout);
		r = GM_STATUS_OK;
	} else if (rep.status >= 200 && rep.status < 300) {
		r = print_rehomed(&rep);
	} else {
		r = gm_cli_report_refusal(&rep);
		if (rep.status == 400)
			r = GM_STATUS_BAD_INPUT;
		else if (rep.status == 501)
			r = GM_STATUS_NO_KERNEL;
	}
	gm_cli_http_free(&rep);
	return r;
}

const struct gm_cli_args gm_cli_rehome_args = {
	.usage = "REGION [key=value,...]",
	.help = "  REGION           ram (the --memory RAM) or the name of a --region\n"
		"  key=value,...    the new memory; every key not given keeps the region's\n"
		"                   setting (none: a fresh compact copy of the same kind):\n"
		"    backend=guest-memfd|memfd|anon\n"
		"    hugepages=4K|2M|1G|off   the page size (off: 4K)\n"
		"    numa-node=N      the NUMA node to allocate on (-1: no policy)\n"
		"    prealloc=on|off  allocate the whole region before copying\n"
		"    movable=on|off   let the kernel migrate its pages, or pin them\n"
		"    downtime-ms=N    the longest pause to aim for, 1 to 60000 (default 10)\n"
		"    timeout-s=N      give up after N seconds, the guest on its old memory\n"
		"                     (default: 0, no limit)\n",
	.exit_help = "It waits until the re-home ends; on a terminal it shows its progress on\n"
		     "stderr.  gmvm rehome-cancel stops it.  See docs/memory.md.\n"
		     "\n"
		     "Exit status: 0 when the region runs on its new memory, 1 when the\n"
		     "re-home failed or was cancelled (the guest runs on its old memory), 2 on\n"
		     "bad options or a target refused as impossible (a hugetlb pool too small,\n"
		     "a missing NUMA node, an unknown region), 3 when this kernel lacks what\n"
		     "was asked.\n",
	.build = build,
	.perform = perform,
};

int gm_cli_print_rehome_cancelled(const json_t *body, FILE *out)
{
	(void)body;
	fputs("re-home cancelled; the guest runs on its old memory\n", out);
	return GM_STATUS_OK;
}
