/* boot/file: the checks every boot input file goes through (file.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/file.h"

#define MIB (UINT64_C(1) << 20)

int gm_boot_file_open(const char *path, const struct gm_boot_file_kind *kind, int *fd, uint64_t *size,
		      struct gm_error *err)
{
	struct stat st;
	int f, rc = 0;

	*fd = -1;
	*size = 0;
	/* O_NONBLOCK: a FIFO must not hang us before fstat() can refuse it */
	f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (f < 0) {
		int e = errno;
		return gm_fail(err, GM_STATUS_BAD_INPUT, e, "cannot open %s: %s; %s", kind->name, strerror(e),
			       e == EACCES || e == EPERM ? "make it readable by the user running gmvm" : kind->path_fix);
	}
	if (fstat(f, &st) < 0)
		rc = gm_fail(err, GM_STATUS_BAD_INPUT, errno, "cannot stat %s: %s; %s", kind->name, strerror(errno),
			     kind->path_fix);
	else if (S_ISDIR(st.st_mode))
		rc = gm_fail(err, GM_STATUS_BAD_INPUT, EISDIR, "%s", kind->is_dir);
	else if (!S_ISREG(st.st_mode))
		rc = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s", kind->not_reg);
	else if (st.st_size == 0)
		rc = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s is empty (0 bytes); %s", kind->name, kind->empty_fix);
	else if ((uint64_t)st.st_size > kind->max)
		rc = gm_fail(err, GM_STATUS_BAD_INPUT, EFBIG, "%s is %" PRIu64 " MiB, more than the %" PRIu64 " MiB gmvm loads; %s",
			     kind->name, (uint64_t)st.st_size / MIB, kind->max / MIB, kind->big_fix);
	if (rc) {
		close(f);
		return rc;
	}
	/* reads block from here on: a regular file's O_NONBLOCK means nothing, but say what we mean */
	fcntl(f, F_SETFL, 0);
	*fd = f;
	*size = (uint64_t)st.st_size;
	return 0;
}
