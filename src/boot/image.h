/*
 * boot/image: the guest image a machine boots, whatever its kind: an ELF
 * (gmvm's test guests, a vmlinux) or a Linux bzImage (decompressed here to
 * its vmlinux, or entered through its own decompressor when the payload's
 * format is unknown), with an optional initrd.  Read and checked before a
 * VM exists; written into guest RAM after the boot tables.
 */
#ifndef GM_BOOT_IMAGE_H
#define GM_BOOT_IMAGE_H

#include "boot/bzimage.h"
#include "gmvm/trace.h"

struct gm_boot_image {
	void *file;               /* the image file as read; NULL once unpacked */
	size_t file_len;
	void *data;               /* what the segments are copied from: file or the vmlinux */
	size_t len;
	struct gm_elf_image elf;  /* segments and entries (a bzImage's own for the fallback) */
	bool bzimage;
	struct gm_bzimage bz;     /* its header, when bzimage */
	enum gm_entry entry;
	uint64_t entry_addr;
	uint64_t kernel_end;      /* the initrd goes above */
	int initrd_fd;            /* open when initrd_size > 0 */
	uint64_t initrd_size, initrd_addr;
};

/*
 * Read kernel (and initrd, NULL for none), check them against a guest with
 * ram_size bytes of RAM, decompress a bzImage's payload and choose the entry
 * (want).  A zeroed bi is valid input; trace (may be NULL) gets the
 * IMAGE_READ and UNPACKED points for a bzImage.  One-line refusals start
 * with the path of the file at fault.
 */
int gm_boot_image_read(const char *kernel, const char *initrd, enum gm_entry want, uint64_t ram_size,
		       struct gm_trace *trace, struct gm_boot_image *bi, struct gm_error *err);

/*
 * After gm_x86_write_boot_tables: the kernel's header and the initrd into the
 * boot tables, then the segments and the initrd into mem.  A command line
 * there longer than a bzImage's cmdline_size is refused.  Frees the image
 * buffers (the initrd's fd stays for gm_boot_image_release).
 */
int gm_boot_image_load(struct gm_boot_image *bi, struct gm_memory *mem, struct gm_error *err);

/* Free what bi holds; bi may be zeroed, read, loaded or failed. */
void gm_boot_image_release(struct gm_boot_image *bi);

#endif
