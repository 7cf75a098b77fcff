/*
 * config/: parsing sizes and the `--memory` option into plain data.  Syntax
 * only: whether a size fits its page size and what the kernel can serve is
 * decided later by gm_memory_check().  Pure: no
 * globals, no side effects, and the output is written only on success.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gmvm/config.h"
#include "util/escape.h"

/* User input quoted in a message: escaped and cut, so the message stays one
 * line and its remedy fits (util/escape.h). */
#define Q(s, buf) gm_escape((s), (buf), sizeof(buf))

#define SIZE_HINT "give a number with an optional K, M, G or T suffix (binary units), e.g. 512M"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Shift for a binary unit letter, or -1. */
static int unit_shift(char c)
{
	switch (c) {
	case 'k': case 'K': return 10;
	case 'm': case 'M': return 20;
	case 'g': case 'G': return 30;
	case 't': case 'T': return 40;
	}
	return -1;
}

int gm_parse_size(const char *s, uint64_t *out, struct gm_error *err)
{
	const char *p = s;
	uint64_t v = 0;
	int shift = 0;
	char q[GM_ESCAPE_SHORT];

	if (!s || !*s)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "empty size; " SIZE_HINT);
	if (*p == '-')
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "size '%s' is negative; " SIZE_HINT, Q(s, q));
	if (!is_digit(*p))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "size '%s' is not a number; " SIZE_HINT, Q(s, q));
	for (; is_digit(*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			return gm_fail(err, GM_STATUS_BAD_INPUT, ERANGE,
				       "size '%s' is too large; sizes must be below 16 EiB", Q(s, q));
		v = v * 10 + d;
	}
	if (*p && unit_shift(*p) >= 0) {
		shift = unit_shift(*p++);
		if ((p[0] == 'i' || p[0] == 'I') && (p[1] == 'b' || p[1] == 'B'))
			p += 2;
		else if (p[0] == 'b' || p[0] == 'B')
			p++;
	} else if (p[0] == 'b' || p[0] == 'B') {
		p++;
	}
	if (*p)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "size '%s' has an unknown unit; use K, M, G or T, optionally followed by B or iB, e.g. 512M",
			       Q(s, q));
	if (shift && v > (UINT64_MAX >> shift))
		return gm_fail(err, GM_STATUS_BAD_INPUT, ERANGE,
			       "size '%s' is too large; sizes must be below 16 EiB", Q(s, q));
	*out = v << shift;
	return 0;
}

enum mem_key {
	K_SIZE, K_BACKEND, K_HUGEPAGES, K_PREALLOC, K_NUMA, K_BIND, K_TRACK,
	K_MOVABLE, K_DIRECT_MAP, K_PRIVATE, K_COUNT
};

struct key_info {
	const char *name;
	const char *syntax; /* what a correct item looks like, for messages */
};

static const struct key_info keys[K_COUNT] = {
	[K_SIZE] = { "size", "size=SIZE, e.g. size=512M" },
	[K_BACKEND] = { "backend", "backend=guest-memfd|memfd|anon" },
	[K_HUGEPAGES] = { "hugepages", "hugepages=4K|2M|1G" },
	[K_PREALLOC] = { "prealloc", "prealloc=on|off" },
	[K_NUMA] = { "numa-node", "numa-node=N|any, e.g. numa-node=0" },
	[K_BIND] = { "bind", "bind=gmem|mapped" },
	[K_TRACK] = { "track-dirty", "track-dirty=on|off" },
	[K_MOVABLE] = { "movable", "movable=on|off" },
	[K_DIRECT_MAP] = { "direct-map", "direct-map=on|off" },
	[K_PRIVATE] = { "private", "private=on|off" },
};

#define KEY_LIST "size, backend, hugepages, prealloc, numa-node, bind, track-dirty, movable, direct-map or private"

static int find_key(const char *p, size_t n)
{
	for (int k = 0; k < K_COUNT; k++)
		if (strlen(keys[k].name) == n && memcmp(keys[k].name, p, n) == 0)
			return k;
	return -1;
}

/* Index of val in names[] (case-insensitive), or -1. */
static int choose(const char *val, const char *const *names, int count)
{
	for (int i = 0; i < count; i++)
		if (strcasecmp(val, names[i]) == 0)
			return i;
	return -1;
}

static int parse_numa(const char *val, int *out, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];
	long v = 0;

	/* "any": no policy, the host's (what the API's numa_node -1 becomes) */
	if (!strcmp(val, "any")) {
		*out = -1;
		return 0;
	}
	for (const char *p = val; *p; p++) {
		if (!is_digit(*p))
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "numa-node '%s' is not a node number; use 0 or more, e.g. numa-node=0, or any",
				       Q(val, q));
		v = v * 10 + (*p - '0');
		if (v > INT_MAX)
			return gm_fail(err, GM_STATUS_BAD_INPUT, ERANGE,
				       "numa-node '%s' is too large; use a node number listed in /sys/devices/system/node",
				       Q(val, q));
	}
	*out = (int)v;
	return 0;
}

/* Apply one key=value item; val is NUL-terminated. */
static int apply(struct gm_mem_config *m, int key, const char *val, struct gm_error *err)
{
	static const char *const backends[] = { "guest-memfd", "memfd", "anon" };
	static const char *const pages[] = { "4K", "2M", "1G" };
	static const uint64_t page_sizes[] = { GM_PAGE_4K, GM_PAGE_2M, GM_PAGE_1G };
	static const char *const onoff[] = { "off", "on" };
	static const char *const binds[] = { "gmem", "mapped" };
	char q[GM_ESCAPE_SHORT];
	int i;

	switch (key) {
	case K_SIZE:
		return gm_parse_size(val, &m->size, err);
	case K_BACKEND:
		if ((i = choose(val, backends, 3)) < 0)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "unknown memory backend '%s'; use guest-memfd, memfd or anon", Q(val, q));
		m->backend = (enum gm_backend)i;
		return 0;
	case K_HUGEPAGES:
		if ((i = choose(val, pages, 3)) < 0)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "unknown page size hugepages=%s; use 4K, 2M or 1G", Q(val, q));
		m->page_size = page_sizes[i];
		return 0;
	case K_PREALLOC:
		if ((i = choose(val, onoff, 2)) < 0)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "unknown value prealloc=%s; use on or off", Q(val, q));
		m->prealloc = i == 1;
		return 0;
	case K_NUMA:
		return parse_numa(val, &m->numa_node, err);
	case K_TRACK:
		if ((i = choose(val, onoff, 2)) < 0)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "unknown value track-dirty=%s; use on or off", Q(val, q));
		m->track_dirty = i == 1;
		return 0;
	case K_MOVABLE:
	case K_DIRECT_MAP:
	case K_PRIVATE:
		if ((i = choose(val, onoff, 2)) < 0)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "unknown value %s=%s; use on or off", keys[key].name, Q(val, q));
		if (key == K_MOVABLE) {
			m->movable = i == 1;
			m->movable_given = true;
		} else if (key == K_DIRECT_MAP) {
			m->no_direct_map = i == 0;
		} else {
			m->private_mem = i == 1;
		}
		return 0;
	case K_BIND:
		if ((i = choose(val, binds, 2)) < 0)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "unknown memory binding '%s'; use gmem or mapped", Q(val, q));
		m->bind = (enum gm_bind)i;
		m->bind_given = true;
		return 0;
	}
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "unknown memory option; use " KEY_LIST);
}

/*
 * One comma-separated item [p, p+n).  first: the item may be a bare SIZE.
 * seen[] catches a key given twice.
 */
static int parse_item(struct gm_mem_config *m, const char *p, size_t n, bool first,
		      bool seen[K_COUNT], struct gm_error *err)
{
	const char *eq = memchr(p, '=', n);
	size_t klen = eq ? (size_t)(eq - p) : n;
	int key = find_key(p, klen);
	const char *v = eq ? eq + 1 : NULL;
	char val[256], q[GM_ESCAPE_SHORT];
	size_t vlen;

	if (!eq && key < 0 && first && (is_digit(*p) || *p == '-')) {
		key = K_SIZE; /* bare SIZE: the whole item is the value */
		v = p;
	}
	if (key < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "unknown memory option '%s'; use %s" KEY_LIST,
			       gm_escape_n(p, klen, q, sizeof(q)), first ? "SIZE or " : "");
	if (seen[key])
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "memory option '%s' given twice; give each option once",
			       keys[key].name);
	seen[key] = true;
	if (!v)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "memory option '%s' needs a value; write %s",
			       keys[key].name, keys[key].syntax);
	vlen = n - (size_t)(v - p);
	if (vlen == 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "memory option '%s=' has an empty value; write %s",
			       keys[key].name, keys[key].syntax);
	if (vlen >= sizeof(val))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "memory option '%s' has a value of %zu bytes; write %s",
			       keys[key].name, vlen, keys[key].syntax);
	memcpy(val, v, vlen);
	val[vlen] = '\0';
	return apply(m, key, val, err);
}

int gm_mem_config_parse(const char *opt, struct gm_mem_config *mem, struct gm_error *err)
{
	struct gm_mem_config m = *mem;
	bool seen[K_COUNT] = { false };
	const char *p = opt;
	char q[GM_ESCAPE_SHORT];
	int ret;

	if (!opt || !*opt)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "empty memory option; write SIZE or size=SIZE[,backend=...], e.g. 1G");
	for (bool first = true;; first = false) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n == 0)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "empty item in memory option '%s'; separate items with one comma",
				       Q(opt, q));
		ret = parse_item(&m, p, n, first, seen, err);
		if (ret)
			return ret;
		if (!end)
			break;
		p = end + 1;
	}

	/* Whether the size fits the page size and the machine is gm_memory_check's
	 * call, so library users and the command line get the same answer. */
	/* Without bind=, use the binding every backend can do: only guest_memfd can be
	 * bound as gmem, the others only as mapped. */
	if (!seen[K_BIND]) {
		m.bind = m.backend == GM_BACKEND_GUEST_MEMFD ? GM_BIND_GMEM : GM_BIND_MAPPED;
		m.bind_given = false;
	}
	/* Without movable=, the backend's nature: guest_memfd folios do not
	 * migrate, memfd and anon pages do unless pinned.  Whether movable=on
	 * can be had on guest-memfd is gm_memory_check's call (the kernel). */
	if (!seen[K_MOVABLE]) {
		m.movable = m.backend != GM_BACKEND_GUEST_MEMFD;
		m.movable_given = false;
	}
	*mem = m;
	return 0;
}
