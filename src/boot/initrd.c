/*
 * boot/initrd.c: the initial ramdisk.  Checked when the image is read (a
 * regular, non-empty file of bounded size), placed once the kernel's end is
 * known, and read straight into guest RAM: no host copy of what may be
 * hundreds of MiB.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/bzimage.h"
#include "mem/mem.h"

#define MIB (UINT64_C(1) << 20)
#define PAGE UINT64_C(4096)
/* Kernels read ramdisk_image as 32 bits unless told more; 2 GiB keeps clear
 * of every variant's sign and below the hole (GM_LOW_RAM_END, 3 GiB). */
#define INITRD_CEILING (UINT64_C(2) << 30)

int gm_initrd_place(uint64_t ram_size, uint64_t kernel_end, uint64_t addr_max, uint64_t size,
		    uint64_t *addr, struct gm_error *err)
{
	uint64_t low_end = ram_size < GM_LOW_RAM_END ? ram_size : GM_LOW_RAM_END;
	uint64_t ceiling = addr_max >= INITRD_CEILING ? INITRD_CEILING : addr_max + 1;
	uint64_t limit = low_end < ceiling ? low_end : ceiling;
	uint64_t start = (kernel_end + PAGE - 1) / PAGE * PAGE;
	uint64_t pages = (size + PAGE - 1) / PAGE * PAGE;

	if (size && pages <= limit && (limit - pages) / PAGE * PAGE >= start) {
		*addr = (limit - pages) / PAGE * PAGE;
		return 0;
	}
	if (start > ceiling || pages > ceiling - start)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EFBIG,
			       "the %" PRIu64 "-MiB initrd does not fit between the kernel's end at 0x%" PRIx64
			       " and 0x%" PRIx64 ", the highest address the kernel takes an initrd at; "
			       "use a smaller initrd", (size + MIB - 1) / MIB, start, ceiling);
	return gm_fail(err, GM_STATUS_BAD_INPUT, ENOMEM,
		       "the %" PRIu64 "-MiB initrd does not fit in the guest's %" PRIu64 " MiB of RAM above the "
		       "kernel's end at 0x%" PRIx64 "; give the guest more memory, e.g. --memory size=%" PRIu64 "M",
		       (size + MIB - 1) / MIB, ram_size / MIB, start, (start + pages + MIB - 1) / MIB);
}

int gm_initrd_open(const char *path, int *fd, uint64_t *size, struct gm_error *err)
{
	struct stat st;
	int f, rc = 0;

	*fd = -1;
	*size = 0;
	/* O_NONBLOCK: a FIFO must not hang us before fstat() can refuse it */
	f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (f < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, errno, "cannot open the initrd: %s; %s", strerror(errno),
			       errno == EACCES || errno == EPERM ? "make it readable by the user running gmvm"
								 : "check the --initrd path");
	if (fstat(f, &st) < 0)
		rc = gm_fail(err, GM_STATUS_BAD_INPUT, errno, "cannot stat the initrd: %s; check the --initrd path",
			     strerror(errno));
	else if (!S_ISREG(st.st_mode))
		rc = gm_fail(err, GM_STATUS_BAD_INPUT, S_ISDIR(st.st_mode) ? EISDIR : EINVAL,
			     "the initrd is not a regular file; give the path of a cpio archive with --initrd");
	else if (st.st_size == 0)
		rc = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			     "the initrd is empty (0 bytes); rebuild it or drop --initrd");
	else if ((uint64_t)st.st_size > GM_INITRD_MAX_FILE)
		rc = gm_fail(err, GM_STATUS_BAD_INPUT, EFBIG,
			     "the initrd is %" PRIu64 " MiB, more than the %" PRIu64 " MiB gmvm loads; "
			     "give a smaller initrd", (uint64_t)st.st_size / MIB, GM_INITRD_MAX_FILE / MIB);
	if (rc) {
		close(f);
		return rc;
	}
	*fd = f;
	*size = (uint64_t)st.st_size;
	return 0;
}

int gm_initrd_load(int fd, uint64_t size, struct gm_memory *mem, uint64_t gpa, struct gm_error *err)
{
	uint8_t *hva = gm_memory_hva(mem, gpa, size);
	uint64_t got = 0;

	if (!hva)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOMEM,
			       "the initrd [0x%" PRIx64 ", 0x%" PRIx64 ") is not in the guest's RAM; "
			       "give the guest more memory with --memory size=...", gpa, gpa + size);
	while (got < size) {
		ssize_t n = pread(fd, hva + got, size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return gm_fail(err, GM_STATUS_BAD_INPUT, errno, "cannot read the initrd: %s; "
				       "check the file and the disk", strerror(errno));
		if (n == 0)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EIO, "the initrd shrank while being read; "
				       "do not rewrite it while gmvm starts");
		got += (uint64_t)n;
	}
	return 0;
}
