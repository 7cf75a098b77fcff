/*
 * cli/client_watch: a request that blocks until a long job ends (gmvm
 * migrate's vm.send-migration, gmvm rehome's vm.memory-rehome) and what
 * it shows meanwhile.  When stderr is a terminal, a second thread asks
 * vm.info every 200 ms on a connection of its own and redraws one progress
 * line there from the job's record, cleared before the answer is shown.
 * Without a terminal nothing is printed while it waits.  The answer is the
 * job's printer on stdout (raw JSON with --json), or the server's line on
 * stderr.
 */
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/escape.h"

#define POLL_MS 200
/* A poll of vm.info that takes longer is skipped: the line just waits. */
#define POLL_TIMEOUT_S 2L
/* With a timeout_s the server ends the job by then; the answer may take a little longer. */
#define ANSWER_MARGIN_S 60L
#define BAR_WIDTH 10

uint64_t gm_cli_u64(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

/* ---- progress while it waits -------------------------------------------------- */

struct progress {
	const struct gm_cli_watch *w;
	const char *sock;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	bool drawn; /* a line stands on stderr */
};

static size_t terminal_width(void)
{
	struct winsize ws;

	return ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 ? ws.ws_col : 80;
}

/*
 * "copying round 2 [########--]  75%, 812.3 MB/s, 250 pages left", the
 * share of pages already over and how fast the rest goes, which the job's
 * decorate() may frame; cut to the terminal's width all the same: a
 * wrapped line cannot be redrawn with \r.
 */
static void draw(struct progress *p, const json_t *rec)
{
	char common[512], line[512], phase[GM_ESCAPE_SHORT], bar[BAR_WIDTH + 1];
	const char *ph = json_string_value(json_object_get(rec, "phase"));
	uint64_t total = gm_cli_u64(rec, "pages_total"), left = gm_cli_u64(rec, "pages_left");
	unsigned pct = total ? (unsigned)((total - (left < total ? left : total)) * 100 / total) : 0;
	size_t width = terminal_width() - 1;

	if (!ph || !strcmp(ph, "none"))
		return;
	for (unsigned i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < pct * BAR_WIDTH / 100 ? '#' : '-';
	bar[BAR_WIDTH] = '\0';
	snprintf(common, sizeof(common), "%s round %" PRIu64 " [%s] %3u%%, %.1f MB/s, %" PRIu64 " pages left",
		 gm_escape(ph, phase, sizeof(phase)), gm_cli_u64(rec, "round"), bar, pct,
		 json_number_value(json_object_get(rec, p->w->rate)), left);
	if (p->w->decorate)
		p->w->decorate(rec, common, line, sizeof(line));
	else
		snprintf(line, sizeof(line), "%s", common);
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

	/* a poll that fails draws nothing: the job's own answer says what happened */
	if (gm_cli_http(p->sock, "GET", "vm.info", NULL, POLL_TIMEOUT_S, &rep, &err) < 0)
		return;
	if (rep.status == 200) {
		json_t *j = json_loadb(rep.body, rep.len, 0, NULL);
		const json_t *rec = json_object_get(j, p->w->member);

		if (json_is_object(rec))
			draw(p, rec);
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
		/* no progress line is no reason not to do the job */
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

static int answer(const struct gm_cli_watch *w, const struct gm_http_reply *rep, const json_t *req, bool json)
{
	int r;

	if (rep->status >= 200 && rep->status < 300 && json) {
		fwrite(rep->body, 1, rep->len, stdout);
		if (rep->len && rep->body[rep->len - 1] != '\n')
			fputc('\n', stdout);
		return GM_STATUS_OK;
	}
	if (rep->status >= 200 && rep->status < 300)
		return w->print(rep, req);
	r = gm_cli_report_refusal(rep);
	if (rep->status == 400 && w->impossible_is_bad_input)
		r = GM_STATUS_BAD_INPUT;
	else if (rep->status == 501)
		r = GM_STATUS_NO_KERNEL;
	return r;
}

int gm_cli_watch(const struct gm_cli_watch *w, const char *sock, const char *body, bool json)
{
	struct progress p = { .w = w, .sock = sock };
	struct gm_error err = { 0 };
	struct gm_http_reply rep;
	pthread_t t;
	json_t *req = json_loads(body, 0, NULL);
	long timeout_s = (long)gm_cli_u64(req, "timeout_s");
	bool polling = progress_start(&p, &t);
	int r;

	r = gm_cli_http(sock, "PUT", w->endpoint, body, timeout_s ? timeout_s + ANSWER_MARGIN_S : GM_CLI_HTTP_NO_TIMEOUT,
			&rep, &err);
	if (polling)
		progress_stop(&p, t);
	if (r < 0) {
		r = gm_cli_report(&err);
	} else {
		r = answer(w, &rep, req, json);
		gm_cli_http_free(&rep);
	}
	json_decref(req);
	return r;
}
