/*
 * Fuzz target for the migration URL parser (gm_move_url_parse), which reads
 * `gmvm run --incoming`, `gmvm migrate` and the API's destination_url.  The
 * input up to its first NUL is the URL.  Invariants: 0 or -EINVAL /
 * -ENAMETOOLONG; a refusal is one non-empty GM_STATUS_BAD_INPUT line and
 * leaves the URL zeroed; an accepted URL has a non-empty host and a port
 * 1..65535, or a non-empty path of at most 107 bytes that is the input's.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "move/transport.h"

#define CHECK(cond, ...)                                                           \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "fuzz_url: %s: ", #cond);                  \
			fprintf(stderr, __VA_ARGS__);                              \
			fputc('\n', stderr);                                       \
			abort();                                                   \
		}                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gm_error err = { 0 };
	struct gm_move_url u, zero;
	char *s = strndup((const char *)data, size), text[GM_MOVE_URL_TEXT];
	int r;

	if (!s)
		return 0;
	memset(&zero, 0, sizeof(zero));
	r = gm_move_url_parse(s, &u, &err);
	if (r < 0) {
		CHECK(r == -EINVAL || r == -ENAMETOOLONG, "r=%d", r);
		CHECK(err.status == GM_STATUS_BAD_INPUT && err.errnum == -r, "status %d errnum %d", err.status,
		      err.errnum);
		CHECK(err.msg[0] && !strchr(err.msg, '\n'), "msg '%s'", err.msg);
		CHECK(memcmp(&u, &zero, sizeof(u)) == 0, "a refusal left parts behind");
	} else {
		CHECK(r == 0, "r=%d", r);
		if (u.kind == GM_URL_TCP) {
			CHECK(u.host[0] && strlen(u.host) < sizeof(u.host) && u.port >= 1, "host '%s' port %u", u.host,
			      u.port);
			CHECK(strncmp(s, "tcp:", 4) == 0, "'%s'", s);
		} else {
			CHECK(u.kind == GM_URL_UNIX, "kind %d", (int)u.kind);
			CHECK(strncmp(s, "unix:", 5) == 0 && strcmp(u.path, s + 5) == 0, "path '%s' of '%s'", u.path, s);
			CHECK(u.path[0] && strlen(u.path) <= 107, "path of %zu bytes", strlen(u.path));
		}
		gm_move_url_format(&u, text, sizeof(text));
		CHECK(text[0], "formatted empty");
	}
	free(s);
	return 0;
}
