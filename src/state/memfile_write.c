/*
 * state/memfile_write.c: a region's memory into a sparse file.  The file is
 * sized first and only runs of non-zero pages are written, each at its own
 * offset, so every zero page stays a hole that costs no disk and no write.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "state/memfile.h"
#include "state/state_internal.h"

/* Big enough to amortise the syscall, small enough to stay in the cache. */
#define GM_MEMFILE_MAX_IO (UINT64_C(8) << 20)

static int pwrite_all(int fd, const uint8_t *p, uint64_t n, uint64_t off)
{
	while (n > 0) {
		ssize_t r = pwrite(fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EIO;
		p += r;
		off += (uint64_t)r;
		n -= (uint64_t)r;
	}
	return 0;
}

struct file_out {
	int fd;
	const uint8_t *base;
	uint64_t done;
};

static int write_run(void *opaque, uint64_t start, uint64_t run)
{
	struct file_out *f = opaque;
	uint64_t off = start * GM_MEMFILE_PAGE, n = run * GM_MEMFILE_PAGE;
	int r = pwrite_all(f->fd, f->base + off, n, off);

	f->done += n;
	return r;
}

int gm_memfile_write(const char *path, const uint8_t *base, uint64_t size,
		     const uint64_t *bitmap, uint64_t *written, struct gm_error *err)
{
	const uint64_t pages = size / GM_MEMFILE_PAGE, max_run = GM_MEMFILE_MAX_IO / GM_MEMFILE_PAGE;
	struct file_out f = { .base = base };
	int fd, r = 0;

	if (written)
		*written = 0;
	if (size % GM_MEMFILE_PAGE || size > INT64_MAX)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "memory file %s: size %" PRIu64 " is not a multiple of 4 KiB", path, size);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno,
			       "memory file %s: cannot create: %s; check that the directory exists "
			       "and is writable", path, strerror(errno));
	if (ftruncate(fd, (off_t)size) < 0)
		r = -errno;
	f.fd = fd;
	if (r == 0)
		r = gm_page_runs(base, GM_MEMFILE_PAGE, pages, bitmap, max_run, write_run, NULL, &f);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -r,
			       "memory file %s: writing failed: %s; check the free space on its disk",
			       path, strerror(-r));
	if (written)
		*written = f.done;
	return 0;
}
