/*
 * boot/file: opening a file the user named as boot input (the guest
 * image, the initrd) with the same checks for each: it opens, it is a
 * regular file (a FIFO cannot hang us), it is not empty and not larger
 * than gmvm loads.  Messages are one line naming the file's role and the
 * remedy; the caller prefixes the path.
 */
#ifndef GM_BOOT_FILE_H
#define GM_BOOT_FILE_H

#include <stdint.h>

#include "gmvm/error.h"

struct gm_boot_file_kind {
	const char *name;      /* "the guest image", "the initrd" */
	uint64_t max;          /* the largest size gmvm loads */
	const char *path_fix;  /* the remedy when it cannot be opened or looked at */
	const char *is_dir;    /* the whole message for a directory */
	const char *not_reg;   /* the whole message for another kind of non-regular file */
	const char *empty_fix; /* the remedy for an empty file */
	const char *big_fix;   /* the remedy for one larger than max */
};

/* Open path read-only (close-on-exec) into *fd with its *size, or refuse it as kind says. */
int gm_boot_file_open(const char *path, const struct gm_boot_file_kind *kind, int *fd, uint64_t *size,
		      struct gm_error *err);

#endif
