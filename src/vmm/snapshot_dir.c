/* vmm/snapshot_dir: see snapshot_dir.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/escape.h"
#include "vmm/snapshot_dir.h"

int gm_snapshot_dir_begin(const char *dir, char *tmp, size_t len, struct gm_error *err)
{
	char q[GM_ESCAPE_PATH];
	struct stat st;

	if (!dir || !*dir)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "no snapshot directory given; name one that does not exist yet");
	if (lstat(dir, &st) == 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EEXIST,
			       "snapshot directory %s already exists; name a new one (snapshots are never overwritten)",
			       gm_escape(dir, q, sizeof(q)));
	if ((size_t)snprintf(tmp, len, "%s.tmp-XXXXXX", dir) >= len)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENAMETOOLONG, "snapshot directory path is too long; use a shorter one");
	if (!mkdtemp(tmp))
		return gm_fail(err, GM_STATUS_BAD_INPUT, errno, "cannot create the snapshot directory beside %s: %s; check the parent directory",
			       gm_escape(dir, q, sizeof(q)), strerror(errno));
	return 0;
}

static void remove_tmp(const char *tmp)
{
	DIR *d = opendir(tmp);
	struct dirent *e;
	char path[PATH_MAX];

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name);
			unlink(path);
		}
	if (d)
		closedir(d);
	rmdir(tmp);
}

int gm_snapshot_dir_commit(const char *tmp, const char *dir, int r, struct gm_error *err)
{
	if (!r && rename(tmp, dir) < 0) {
		char q[GM_ESCAPE_PATH];
		r = gm_fail(err, GM_STATUS_FAILURE, errno, "cannot move the finished snapshot to %s: %s",
			    gm_escape(dir, q, sizeof(q)), strerror(errno));
	}
	if (r) {
		remove_tmp(tmp);
		return r;
	}
	/* the rename is only durable once the parent directory is */
	char parent[PATH_MAX];
	snprintf(parent, sizeof(parent), "%s", dir);
	int fd = open(dirname(parent), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	return 0;
}

void gm_snapshot_region_file(const char *region, char *out, size_t len)
{
	/* region names are [a-z0-9-] (checked wherever one comes in): no path tricks */
	snprintf(out, len, "%s.mem", region);
}
