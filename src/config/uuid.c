/*
 * config/uuid: a VM's identity as text.  The machine owns it: given with
 * --uuid, kept across restore and migration, or made fresh (RFC 4122
 * version 4) when a VM is born.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "gmvm/config.h"
#include "util/escape.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int gm_uuid_parse(const char *s, uint8_t out[16], struct gm_error *err)
{
	uint8_t u[16];
	size_t i = 0, n = 0;

	for (; s[i] && n < 16; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				goto bad;
			continue;
		}
		int hi = hexval(s[i]), lo = s[i + 1] ? hexval(s[i + 1]) : -1;
		if (hi < 0 || lo < 0)
			goto bad;
		u[n++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	if (n != 16 || s[i] || i != 36)
		goto bad;
	memcpy(out, u, 16);
	return 0;
bad:;
	char q[GM_ESCAPE_SHORT];
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
		       "UUID '%s' is not 8-4-4-4-12 hex digits; write it like 6f1c2a3e-0d4b-4c8e-9a7f-2b5d1e3c4a6f",
		       gm_escape(s, q, sizeof(q)));
}

void gm_uuid_format(const uint8_t u[16], char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
		 u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

int gm_uuid_generate(uint8_t out[16], struct gm_error *err)
{
	ssize_t n = getrandom(out, 16, 0);

	if (n != 16)
		return gm_fail(err, GM_STATUS_FAILURE, n < 0 ? errno : EIO,
			       "getrandom for the VM's UUID failed: %s; the kernel's entropy source is unavailable",
			       strerror(n < 0 ? errno : EIO));
	out[6] = (uint8_t)((out[6] & 0x0f) | 0x40); /* version 4 */
	out[8] = (uint8_t)((out[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	return 0;
}
