/*
 * api/: the UNIX socket the API listens on.  Whoever can connect can stop
 * the guest, so the path is made as util/unix_listen.h makes every
 * listening socket of ours: never looser than 0600, a stale socket
 * replaced, a live one or anything else at the path refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "util/unix_listen.h"

int gm_api_socket_open(const char *path, struct gm_api_socket *s, struct gm_error *err)
{
	struct gm_unix_listener l;
	int rc;

	*s = (struct gm_api_socket){ .fd = -1 };
	rc = gm_unix_listen(path, "API socket", GM_API_MAX_CONNS, &l, err);
	if (rc < 0)
		return rc;
	s->path = strdup(path);
	if (!s->path) {
		gm_unix_unlink(&l);
		close(l.fd);
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the API socket path; free some memory and retry");
	}
	s->fd = l.fd;
	s->dev = l.dev;
	s->ino = l.ino;
	return 0;
}

/* Only our own socket: someone may have replaced the path since (a new gmvm). */
void gm_api_socket_unlink(struct gm_api_socket *s)
{
	struct gm_unix_listener l = { .fd = s->fd, .dev = s->dev, .ino = s->ino };

	if (!s->path)
		return;
	snprintf(l.path, sizeof(l.path), "%s", s->path);
	gm_unix_unlink(&l);
	free(s->path);
	s->path = NULL;
}

int gm_api_socket_adopt(int fd, const char *path, struct gm_api_socket *s, struct gm_error *err)
{
	struct stat st;

	*s = (struct gm_api_socket){ .fd = -1 };
	s->path = strdup(path);
	if (!s->path)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the API socket path; free some memory and retry");
	/* the path is still the socket handed over unless someone replaced it:
	 * then it is not ours to unlink, and ino 0 matches nothing */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		s->dev = st.st_dev;
		s->ino = st.st_ino;
	}
	s->fd = fd;
	return 0;
}
