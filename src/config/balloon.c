/*
 * config/balloon: the --balloon option, "" (a bare --balloon) or
 * "free-page-reporting=on|off,deflate-on-oom=on|off", into a
 * gm_balloon_config.  Free page reporting is on by default (it is how an
 * idle guest gives memory back without anyone asking); deflate-on-oom is
 * off (a guest that takes pages back on its own makes the target a wish).
 */
#include <errno.h>
#include <string.h>

#include "gmvm/config.h"
#include "util/escape.h"

#define BALLOON_HINT "use --balloon[,free-page-reporting=on|off][,deflate-on-oom=on|off]"

static int on_off(const char *key, const char *val, size_t n, bool *out, struct gm_error *err)
{
	if (n == 2 && !strncmp(val, "on", 2))
		*out = true;
	else if (n == 3 && !strncmp(val, "off", 3))
		*out = false;
	else
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--balloon: %s= takes on or off", key);
	return 0;
}

int gm_balloon_config_parse(const char *opt, struct gm_balloon_config *out, struct gm_error *err)
{
	struct gm_balloon_config b = { .on = true, .free_page_reporting = true };
	char q[GM_ESCAPE_SHORT];
	const char *p = opt ? opt : "";

	while (*p) {
		const char *end = strchr(p, ','), *eq;
		size_t n = end ? (size_t)(end - p) : strlen(p);
		int r;

		eq = memchr(p, '=', n);
		if (!eq)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--balloon %s: an item without '='; " BALLOON_HINT,
				       gm_escape(opt, q, sizeof(q)));
		size_t kn = (size_t)(eq - p), vn = n - kn - 1;

		if (kn == 19 && !strncmp(p, "free-page-reporting", 19))
			r = on_off("free-page-reporting", eq + 1, vn, &b.free_page_reporting, err);
		else if (kn == 14 && !strncmp(p, "deflate-on-oom", 14))
			r = on_off("deflate-on-oom", eq + 1, vn, &b.deflate_on_oom, err);
		else
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--balloon %s: unknown item; " BALLOON_HINT,
				       gm_escape(opt, q, sizeof(q)));
		if (r)
			return r;
		/* a trailing comma would end in an empty item: refuse it as one without '=' */
		p = end ? end + 1 : p + n;
		if (end && !*p)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--balloon %s: an empty item; " BALLOON_HINT,
				       gm_escape(opt, q, sizeof(q)));
	}
	*out = b;
	return 0;
}
