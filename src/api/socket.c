/*
 * api/: the UNIX socket the API listens on.  Whoever can connect can stop
 * the guest, so the path must never exist with a looser mode than 0600: the
 * socket is bound under a temporary name in the same directory, narrowed,
 * and renamed onto the path.  A socket left by a process that died is
 * replaced; a live one or anything else at the path is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "util/escape.h"

/* ".XXXXXX" appended for the temporary name must fit in sun_path too. */
#define TMP_SUFFIX_LEN 7
#define MAX_PATH_LEN (sizeof(((struct sockaddr_un *)0)->sun_path) - 1 - TMP_SUFFIX_LEN)

static int fill_addr(struct sockaddr_un *sa, const char *path)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, path, strlen(path));
	return 0;
}

/* 1 when something accepts connections at path, 0 when nobody does, -errno if unknown. */
static int is_live(const char *path)
{
	struct sockaddr_un sa;
	int fd, rc = 0;

	if (fill_addr(&sa, path) < 0)
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN)
		rc = 1; /* EAGAIN: a listener with a full backlog is still a listener */
	else if (errno != ECONNREFUSED)
		rc = -errno;
	close(fd);
	return rc;
}

static int check_existing(const char *path, struct gm_error *err)
{
	char shown[GM_ESCAPE_PATH];
	struct stat st;
	int live;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return gm_fail(err, GM_STATUS_BAD_INPUT, errno,
			       "cannot check the API socket path %s: %s; choose a path in a directory you can use",
			       gm_escape(path, shown, sizeof(shown)), strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EEXIST,
			       "%s exists and is not a socket; remove it or choose another API socket path",
			       gm_escape(path, shown, sizeof(shown)));
	live = is_live(path);
	if (live == 1)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EADDRINUSE,
			       "another process is serving the API socket %s; stop it or choose another API socket path",
			       gm_escape(path, shown, sizeof(shown)));
	if (live < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, -live,
			       "cannot tell whether the API socket %s is in use: %s; remove it or choose another path",
			       gm_escape(path, shown, sizeof(shown)), strerror(-live));
	return 0; /* stale: the rename below replaces it */
}

/* Bind fd under a fresh name next to path; the name goes to tmp. */
static int bind_temporary(int fd, const char *path, char *tmp, size_t len)
{
	struct timespec ts;
	struct sockaddr_un sa;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	for (unsigned tries = 0; tries < 16; tries++) {
		unsigned long r = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 12) ^ (tries * 7919u);

		snprintf(tmp, len, "%s.%06lx", path, r & 0xffffff);
		if (fill_addr(&sa, tmp) < 0)
			return -ENAMETOOLONG;
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		if (errno != EADDRINUSE)
			return -errno;
	}
	return -EADDRINUSE;
}

int gm_api_socket_open(const char *path, struct gm_api_socket *s, struct gm_error *err)
{
	char tmp[sizeof(((struct sockaddr_un *)0)->sun_path)], shown[GM_ESCAPE_PATH];
	struct stat st;
	int rc;

	*s = (struct gm_api_socket){ .fd = -1 };
	if (!path || !*path)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "the API socket path is empty; give a file path");
	if (strlen(path) > MAX_PATH_LEN)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENAMETOOLONG,
			       "the API socket path %s is %zu bytes, more than the %zu a UNIX socket can take here; choose a shorter path",
			       gm_escape(path, shown, sizeof(shown)), strlen(path), MAX_PATH_LEN);
	rc = check_existing(path, err);
	if (rc < 0)
		return rc;
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot create the API socket: %s; check the process's fd limit",
			       strerror(errno));
	/* Linux gives a bound socket file the socket inode's mode: narrow before bind too */
	(void)fchmod(s->fd, 0600);
	rc = bind_temporary(s->fd, path, tmp, sizeof(tmp));
	if (rc < 0) {
		gm_fail(err, GM_STATUS_BAD_INPUT, -rc, "cannot create the API socket next to %s: %s; check that the directory exists and is writable",
			gm_escape(path, shown, sizeof(shown)), strerror(-rc));
		goto fail;
	}
	if (chmod(tmp, 0600) < 0 || lstat(tmp, &st) < 0 || listen(s->fd, GM_API_MAX_CONNS) < 0 ||
	    rename(tmp, path) < 0) {
		rc = -errno;
		gm_fail(err, GM_STATUS_FAILURE, -rc, "cannot set up the API socket %s: %s; check the directory's permissions",
			gm_escape(path, shown, sizeof(shown)), strerror(-rc));
		unlink(tmp);
		goto fail;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->path = strdup(path);
	if (!s->path) {
		rc = gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the API socket path; free some memory and retry");
		unlink(path);
		goto fail;
	}
	return 0;
fail:
	close(s->fd);
	s->fd = -1;
	return rc;
}

/* Only our own socket: someone may have replaced the path since (a new gmvm). */
void gm_api_socket_unlink(struct gm_api_socket *s)
{
	struct stat st;

	if (!s->path)
		return;
	if (lstat(s->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	free(s->path);
	s->path = NULL;
}
