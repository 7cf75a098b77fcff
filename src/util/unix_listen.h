/*
 * util/unix_listen: a listening UNIX stream socket at a path, for the API
 * socket and the incoming side of a migration.  Whoever can connect to it
 * controls the machine (or feeds it its memory), so the path never exists
 * with a looser mode than 0600: the socket is bound under a temporary name
 * in the same directory, narrowed, and renamed onto the path.  A socket left
 * by a process that died is replaced; a live one, or anything else at the
 * path, is refused.
 */
#ifndef GM_UTIL_UNIX_LISTEN_H
#define GM_UTIL_UNIX_LISTEN_H

#include <stddef.h>
#include <sys/types.h>

#include "gmvm/error.h"

/* sun_path's size, NUL included. */
#define GM_UNIX_PATH_SIZE 108
/* The longest path gm_unix_listen takes: the temporary name adds 7 bytes. */
#define GM_UNIX_LISTEN_PATH_MAX (GM_UNIX_PATH_SIZE - 1 - 7)

struct gm_unix_listener {
	int fd;                        /* -1 when closed */
	char path[GM_UNIX_PATH_SIZE];  /* "" when nothing is bound */
	dev_t dev;                     /* what we bound, to remove only our own */
	ino_t ino;
};

/*
 * Bind and listen at path (mode 0600 from the first moment it exists),
 * the fd CLOEXEC and blocking.  what names the socket in messages ("API
 * socket"), which say the cause and the remedy.  0, or -errno with err
 * filled (GM_STATUS_BAD_INPUT for a bad or busy path).
 */
int gm_unix_listen(const char *path, const char *what, int backlog, struct gm_unix_listener *l,
		   struct gm_error *err);

/* Remove the path if it is still the socket we bound (a newer process may own it now). Keeps the fd. */
void gm_unix_unlink(struct gm_unix_listener *l);

#endif
