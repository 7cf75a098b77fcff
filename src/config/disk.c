/*
 * config/disk: the --disk option, "path=FILE[,readonly=on|off][,direct=on|off]"
 * or a bare FILE, into a gm_disk_config.  Syntax only: whether the file
 * exists and opens is the device's business when the machine is built.
 */
#include <errno.h>
#include <string.h>

#include "gmvm/config.h"
#include "util/escape.h"

#define Q(s, buf) gm_escape((s), (buf), sizeof(buf))
#define DISK_HINT "use path=FILE[,readonly=on|off][,direct=on|off]"

static int on_off(const char *key, const char *val, size_t n, bool *out, struct gm_error *err)
{
	if (n == 2 && !strncmp(val, "on", 2))
		*out = true;
	else if (n == 3 && !strncmp(val, "off", 3))
		*out = false;
	else
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--disk: %s= takes on or off", key);
	return 0;
}

int gm_disk_config_parse(const char *opt, struct gm_disk_config *out, struct gm_error *err)
{
	struct gm_disk_config d = { 0 };
	char q[GM_ESCAPE_SHORT];
	const char *p = opt;

	if (!opt || !*opt)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--disk: empty; " DISK_HINT);
	/* a bare path: no key=value items at all */
	if (!strchr(opt, ',') && strncmp(opt, "path=", 5)) {
		if (strlen(opt) >= sizeof(d.path))
			return gm_fail(err, GM_STATUS_BAD_INPUT, ENAMETOOLONG, "--disk: the path is longer than %d bytes; use a shorter one",
				       GM_DISK_PATH_MAX - 1);
		strcpy(d.path, opt);
		*out = d;
		return 0;
	}
	while (*p) {
		const char *end = strchr(p, ','), *eq;
		size_t n = end ? (size_t)(end - p) : strlen(p);

		eq = memchr(p, '=', n);
		if (!eq)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--disk %s: an item without '='; " DISK_HINT, Q(opt, q));
		size_t kn = (size_t)(eq - p), vn = n - kn - 1;
		const char *val = eq + 1;
		int r = 0;

		if (kn == 4 && !strncmp(p, "path", 4)) {
			if (!vn || vn >= sizeof(d.path))
				return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--disk: path= must name a file of at most %d bytes",
					       GM_DISK_PATH_MAX - 1);
			memcpy(d.path, val, vn);
			d.path[vn] = '\0';
		} else if (kn == 8 && !strncmp(p, "readonly", 8)) {
			r = on_off("readonly", val, vn, &d.readonly, err);
		} else if (kn == 6 && !strncmp(p, "direct", 6)) {
			r = on_off("direct", val, vn, &d.direct, err);
		} else {
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--disk %s: unknown item; " DISK_HINT, Q(opt, q));
		}
		if (r)
			return r;
		p = end ? end + 1 : p + n;
	}
	if (!d.path[0])
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--disk %s: no path=; " DISK_HINT, Q(opt, q));
	*out = d;
	return 0;
}
