/*
 * cli/client_rehome: `gmvm rehome --api-sock PATH REGION [key=value,...]`,
 * one memory region of the running guest moved onto new memory (another
 * backend, page size or NUMA node; no keys: a fresh compact copy).  The PUT
 * of vm.memory-rehome blocks until it ends, a progress line on a terminal
 * meanwhile (client_watch.c).  The answer is one line on stdout (exit 0),
 * or the server's line on stderr: exit 2 for a target refused as
 * impossible (HTTP 400), 3 when the kernel lacks it (501), else 1.  Also
 * the printer of `gmvm rehome-cancel`.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "util/escape.h"

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
			json_t *name = json_string(a);

			region = a;
			if (!name)
				r = gm_fail(err, GM_STATUS_BAD_INPUT, EILSEQ, "%s: the region name is not UTF-8", cmd);
			else
				json_object_set_new(o, "region", name);
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

/* ---- progress while it waits, and the answer ------------------------------------ */

static double real(const json_t *o, const char *key)
{
	return json_number_value(json_object_get(o, key));
}

static const char *text(const json_t *o, const char *key, char *buf, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));

	return gm_escape(s ? s : "?", buf, len);
}

/*
 * "rehome ram copying round 2 [########--]  75%, 812.3 MB/s, 250 pages
 * left": the share of the region over on the new memory and how fast the
 * rest goes.
 */
static void decorate(const json_t *rh, const char *common, char *line, size_t len)
{
	char region[GM_ESCAPE_SHORT];

	snprintf(line, len, "rehome %s %s", text(rh, "region", region, sizeof(region)), common);
}

/*
 * "rehome: region ram now memfd 2M: 262144 pages copied (1024 MiB) in 3
 * rounds, 12345 skipped, paused 4.2 ms, 812 ms in all"
 */
static int print_rehomed(const struct gm_http_reply *rep, const json_t *req)
{
	char region[GM_ESCAPE_SHORT], to[GM_ESCAPE_SHORT];
	json_t *j = json_loadb(rep->body, rep->len, 0, NULL);
	const json_t *rh = json_object_get(j, "rehome");

	(void)req;
	if (!json_is_object(rh)) {
		fputs("gmvm: the API answered vm.memory-rehome without a rehome object; is it a gmvm API socket?\n",
		      stderr);
		json_decref(j);
		return GM_STATUS_FAILURE;
	}
	printf("rehome: region %s now %s: %" PRIu64 " pages copied (%.0f MiB) in %" PRIu64 " rounds, %" PRIu64
	       " skipped, paused %.1f ms, %.0f ms in all\n",
	       text(rh, "region", region, sizeof(region)), text(rh, "to", to, sizeof(to)), gm_cli_u64(rh, "pages_copied"),
	       (double)gm_cli_u64(rh, "pages_copied") * 4096 / MIB, gm_cli_u64(rh, "round"), gm_cli_u64(rh, "pages_skipped"),
	       real(rh, "pause_ms"), real(rh, "elapsed_ms"));
	json_decref(j);
	return GM_STATUS_OK;
}

static const struct gm_cli_watch watch = {
	.endpoint = "vm.memory-rehome",
	.member = "rehome",
	.rate = "copy_mbps",
	.decorate = decorate,
	.print = print_rehomed,
	.impossible_is_bad_input = true,
};

static int perform(const char *sock, const char *body, bool json)
{
	return gm_cli_watch(&watch, sock, body, json);
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
