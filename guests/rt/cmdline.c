/*
 * rt/cmdline.c: the kernel command line, copied into the image at start (the
 * VMM's copy may sit in RAM a guest later overwrites) and split once into
 * key=value tokens.
 */
#include "rt_priv.h"

#define CMDLINE_MAX 4096
#define MAX_PARAMS  64

static char original[CMDLINE_MAX];
static char tokens[CMDLINE_MAX];
static const char *keys[MAX_PARAMS];
static const char *values[MAX_PARAMS];
static unsigned nparams;

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void rt_cmdline_init(const char *src)
{
	size_t n = 0;

	if (src)
		for (; n < CMDLINE_MAX - 1 && src[n]; n++)
			original[n] = src[n];
	original[n] = '\0';
	memcpy(tokens, original, n + 1);

	char *p = tokens;
	while (*p && nparams < MAX_PARAMS) {
		while (is_space(*p))
			*p++ = '\0';
		if (!*p)
			break;
		keys[nparams] = p;
		values[nparams] = "";
		bool split = false;
		for (; *p && !is_space(*p); p++) {
			if (*p == '=' && !split) {
				*p = '\0';
				values[nparams] = p + 1;
				split = true;
			}
		}
		nparams++;
	}
}

const char *rt_cmdline(void)
{
	return original;
}

const char *rt_param(const char *key)
{
	for (unsigned i = nparams; i-- > 0;)
		if (rt_strcmp(keys[i], key) == 0)
			return values[i];
	return NULL;
}

uint64_t rt_param_u64(const char *key, uint64_t def)
{
	const char *s = rt_param(key);
	uint64_t v = 0;
	unsigned base = 10;

	if (!s || !*s)
		return def;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	const char *digits = s;
	for (;; s++) {
		unsigned d;
		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		v = v * base + d;
	}
	if (s == digits)
		return def;
	switch (*s) {
	case 'k': case 'K': v <<= 10; s++; break;
	case 'm': case 'M': v <<= 20; s++; break;
	case 'g': case 'G': v <<= 30; s++; break;
	}
	return *s ? def : v;
}
