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
#include "boot/file.h"
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
	static const struct gm_boot_file_kind initrd = {
		.name = "the initrd",
		.max = GM_INITRD_MAX_FILE,
		.path_fix = "check the --initrd path",
		.is_dir = "the initrd is not a regular file but a directory; give the path of a cpio archive with --initrd",
		.not_reg = "the initrd is not a regular file; give the path of a cpio archive with --initrd",
		.empty_fix = "rebuild it or drop --initrd",
		.big_fix = "give a smaller initrd",
	};

	return gm_boot_file_open(path, &initrd, fd, size, err);
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
