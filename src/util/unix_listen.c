/* util/unix_listen: see unix_listen.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/escape.h"
#include "util/unix_listen.h"

_Static_assert(sizeof(((struct sockaddr_un *)0)->sun_path) == GM_UNIX_PATH_SIZE, "sun_path's size");

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

static int check_existing(const char *path, const char *what, struct gm_error *err)
{
	char shown[GM_ESCAPE_PATH];
	struct stat st;
	int live;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return gm_fail(err, GM_STATUS_BAD_INPUT, errno,
			       "cannot check the %s path %s: %s; choose a path in a directory you can use", what,
			       gm_escape(path, shown, sizeof(shown)), strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EEXIST,
			       "%s exists and is not a socket; remove it or choose another %s path",
			       gm_escape(path, shown, sizeof(shown)), what);
	live = is_live(path);
	if (live == 1)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EADDRINUSE,
			       "another process is serving the %s %s; stop it or choose another %s path", what,
			       gm_escape(path, shown, sizeof(shown)), what);
	if (live < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, -live,
			       "cannot tell whether the %s %s is in use: %s; remove it or choose another path", what,
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

int gm_unix_listen(const char *path, const char *what, int backlog, struct gm_unix_listener *l,
		   struct gm_error *err)
{
	char tmp[GM_UNIX_PATH_SIZE], shown[GM_ESCAPE_PATH];
	struct stat st;
	int rc;

	*l = (struct gm_unix_listener){ .fd = -1 };
	if (!path || !*path)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "the %s path is empty; give a file path", what);
	if (strlen(path) > GM_UNIX_LISTEN_PATH_MAX)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENAMETOOLONG,
			       "the %s path %s is %zu bytes, more than the %d a UNIX socket can take here; choose a shorter path",
			       what, gm_escape(path, shown, sizeof(shown)), strlen(path), GM_UNIX_LISTEN_PATH_MAX);
	rc = check_existing(path, what, err);
	if (rc < 0)
		return rc;
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot create the %s: %s; check the process's fd limit",
			       what, strerror(errno));
	/* Linux gives a bound socket file the socket inode's mode: narrow before bind too */
	(void)fchmod(l->fd, 0600);
	rc = bind_temporary(l->fd, path, tmp, sizeof(tmp));
	if (rc < 0) {
		gm_fail(err, GM_STATUS_BAD_INPUT, -rc, "cannot create the %s next to %s: %s; check that the directory exists and is writable",
			what, gm_escape(path, shown, sizeof(shown)), strerror(-rc));
		goto fail;
	}
	if (chmod(tmp, 0600) < 0 || lstat(tmp, &st) < 0 || listen(l->fd, backlog) < 0 || rename(tmp, path) < 0) {
		rc = -errno;
		gm_fail(err, GM_STATUS_FAILURE, -rc, "cannot set up the %s %s: %s; check the directory's permissions",
			what, gm_escape(path, shown, sizeof(shown)), strerror(-rc));
		unlink(tmp);
		goto fail;
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	memcpy(l->path, path, strlen(path) + 1);
	return 0;
fail:
	close(l->fd);
	l->fd = -1;
	return rc;
}

/* Only our own socket: someone may have replaced the path since (a new gmvm). */
void gm_unix_unlink(struct gm_unix_listener *l)
{
	struct stat st;

	if (!l->path[0])
		return;
	if (lstat(l->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == l->dev && st.st_ino == l->ino)
		unlink(l->path);
	l->path[0] = '\0';
}
