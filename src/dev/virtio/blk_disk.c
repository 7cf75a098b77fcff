/*
 * dev/virtio/blk_disk: a --disk's file or block device opened as asked
 * (read-only, O_DIRECT) and sized, before any vCPU exists, so that a disk
 * that cannot serve ends gmvm with one line naming it and the fix.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev/virtio/blk_io.h"
#include "gmvm/config.h"
#include "util/escape.h"

#define SECTOR 512u

/* Open the disk and learn its size: every refusal names the disk and the fix. */
int gm_blk_disk_open(const struct gm_disk_config *d, int *fd_out, uint64_t *bytes, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];
	int flags = (d->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (d->direct ? O_DIRECT : 0);
	int fd = open(d->path, flags);
	struct stat st;

	gm_escape(d->path, q, sizeof(q));
	if (fd < 0 && errno == EINVAL && d->direct)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--disk %s: its file system does not support direct=on (O_DIRECT); leave direct off or move the file", q);
	if (fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM) && !d->readonly)
		return gm_fail(err, GM_STATUS_BAD_INPUT, errno,
			       "--disk %s: cannot open it for writing (%s); fix its permissions or add readonly=on", q, strerror(errno));
	if (fd < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, errno, "--disk %s: cannot open it (%s); give an existing file or block device",
			       q, strerror(errno));
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return gm_fail(err, GM_STATUS_BAD_INPUT, e, "--disk %s: cannot stat it (%s); give a regular file or block device",
			       q, strerror(e));
	}
	if (S_ISREG(st.st_mode)) {
		*bytes = (uint64_t)st.st_size;
	} else if (S_ISBLK(st.st_mode)) {
		if (ioctl(fd, BLKGETSIZE64, bytes) < 0) {
			int e = errno;
			close(fd);
			return gm_fail(err, GM_STATUS_BAD_INPUT, e, "--disk %s: cannot read the block device's size (%s); check the device",
				       q, strerror(e));
		}
	} else {
		close(fd);
		return gm_fail(err, GM_STATUS_BAD_INPUT, S_ISDIR(st.st_mode) ? EISDIR : EINVAL,
			       "--disk %s: is %s; give a regular file or a block device", q,
			       S_ISDIR(st.st_mode) ? "a directory" : "neither a file nor a block device");
	}
	if (*bytes % SECTOR) {
		close(fd);
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--disk %s: its size, %llu bytes, is not a multiple of 512; grow it with truncate -s to one", q,
			       (unsigned long long)*bytes);
	}
	*fd_out = fd;
	return 0;
}
