/*
 * config/region: `--region name=NAME,size=SIZE,...`, a memory region beside
 * the RAM.  The memory keys are --memory's and go through
 * gm_mem_config_parse, so the two options can never drift apart; only
 * name= is this option's own.  Pure: no globals, no side effects.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gmvm/config.h"
#include "util/escape.h"

#define Q(s, buf) gm_escape((s), (buf), sizeof(buf))
#define NAME_RULE "1 to 15 characters of a-z, 0-9 and '-', e.g. name=extra"

int gm_region_name_check(const char *name, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];
	size_t n = name ? strlen(name) : 0;

	if (n == 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "region name is empty; use " NAME_RULE);
	if (n > GM_REGION_NAME_MAX)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "region name '%s' is %zu characters; use " NAME_RULE,
			       Q(name, q), n);
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "region name '%s' has '%c'; use " NAME_RULE,
				       Q(name, q), *p >= 0x20 && *p < 0x7f ? *p : '?');
	return 0;
}

/* The defaults of --memory, without a size: a region's size must be said. */
static void region_defaults(struct gm_region_config *r)
{
	struct gm_config d;

	gm_config_defaults(&d);
	memset(r, 0, sizeof(*r));
	r->mem = d.mem;
	r->mem.size = 0;
}

int gm_region_config_parse(const char *opt, struct gm_region_config *out, struct gm_error *err)
{
	struct gm_region_config r;
	char rest[1024], name[64] = "", q[GM_ESCAPE_SHORT];
	size_t used = 0;
	bool named = false;

	region_defaults(&r);
	if (!opt || !*opt)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "empty region option; write name=NAME,size=SIZE[,backend=...], e.g. name=extra,size=64M");
	if (strlen(opt) >= sizeof(rest))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "region option of %zu bytes is too long; give each key once",
			       strlen(opt));
	/* name= out, every other item kept in order for gm_mem_config_parse */
	for (const char *p = opt;;) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n >= 5 && !memcmp(p, "name=", 5)) {
			if (named)
				return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
					       "region option 'name' given twice; give each option once");
			if (n - 5 >= sizeof(name))
				return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "region name of %zu characters; use " NAME_RULE,
					       n - 5);
			memcpy(name, p + 5, n - 5);
			name[n - 5] = '\0';
			named = true;
		} else if (n == 4 && !memcmp(p, "name", 4)) {
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "region option 'name' needs a value; write name=NAME");
		} else {
			/* empty items stay, so gm_mem_config_parse names them */
			used += (size_t)snprintf(rest + used, sizeof(rest) - used, "%s%.*s", used ? "," : "", (int)n, p);
		}
		if (!end)
			break;
		p = end + 1;
	}
	if (!named)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "'%s' names no region; add name=NAME, e.g. name=extra,size=64M",
			       Q(opt, q));
	if (gm_region_name_check(name, err))
		return -EINVAL;
	if (used && gm_mem_config_parse(rest, &r.mem, err))
		return -EINVAL;
	strcpy(r.name, name);
	r.mem.given = true;
	*out = r;
	return 0;
}

int gm_regions_check(const struct gm_config *cfg, bool need_size, struct gm_error *err)
{
	if (cfg->nregions > GM_MAX_REGIONS - 1)
		return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG,
			       "%u regions besides ram; a VM has at most %d regions in all (ram and %d more)", cfg->nregions,
			       GM_MAX_REGIONS, GM_MAX_REGIONS - 1);
	for (unsigned i = 0; i < cfg->nregions; i++) {
		const struct gm_region_config *r = &cfg->regions[i];
		struct gm_error e = { 0 };

		if (gm_region_name_check(r->name, &e))
			return gm_fail(err, e.status, e.errnum, "--region: %s", e.msg);
		if (!strcmp(r->name, GM_RAM_REGION))
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "--region %s: the region ram is the RAM that --memory gives; name this one otherwise, or use --memory",
				       r->name);
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(cfg->regions[j].name, r->name))
				return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
					       "--region %s: given twice; give each region a name of its own", r->name);
		if (need_size && !r->mem.size)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "--region %s: no size; add size=SIZE, e.g. --region name=%s,size=64M", r->name, r->name);
	}
	return 0;
}
