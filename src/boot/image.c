/*
 * boot/image.c: from the paths the user gave to a guest image ready to load.
 * The kind is told by the bytes (a bzImage's "HdrS" header, else an ELF),
 * never by the name.  A bzImage's payload is decompressed here so that what
 * is loaded is the vmlinux ELF at its physical addresses; the only big
 * buffers alive at once are the file and its decompressed payload, and the
 * file goes as soon as the payload is out.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/image.h"
#include "util/escape.h"
#include "util/guest_map.h"
#include "x86/x86.h"

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* A bzImage in bi->file: its vmlinux in bi->data, or its own code (fallback). */
static int read_bzimage(struct gm_boot_image *bi, struct gm_trace *trace, struct gm_error *err)
{
	void *vmlinux;
	size_t vlen;
	int r = gm_bzimage_parse(bi->file, bi->file_len, &bi->bz, err);

	if (r)
		return r;
	bi->bzimage = true;
	if (trace)
		gm_trace_mark(trace, GM_TRACE_IMAGE_READ);
	r = gm_bzimage_unpack(bi->file, bi->file_len, &bi->bz, GM_DECOMPRESS_MAX, &vmlinux, &vlen, err);
	if (r)
		return r;
	if (!vmlinux) {
		/* a format we do not know: the guest decompresses */
		gm_bzimage_fallback(&bi->bz, &bi->elf);
		bi->data = bi->file;
		bi->len = bi->file_len;
		bi->kernel_end = bi->elf.highest;
		return 0;
	}
	free(bi->file);
	bi->file = NULL;
	bi->data = vmlinux;
	bi->len = vlen;
	struct gm_error inner = { 0 };
	r = gm_elf_parse(vmlinux, vlen, &bi->elf, &inner);
	if (r)
		return gm_fail(err, inner.status, inner.errnum, "the bzImage's %s payload is not a usable vmlinux: %s",
			       gm_payload_name(bi->bz.format), inner.msg);
	/* the kernel's init_size counts from where it runs: room it may use past _end */
	bi->kernel_end = max64(bi->elf.highest, bi->elf.lowest + bi->bz.init_size);
	if (trace)
		gm_trace_mark(trace, GM_TRACE_UNPACKED);
	return 0;
}

static int choose_entry(struct gm_boot_image *bi, enum gm_entry want, struct gm_error *err)
{
	if (bi->bzimage && bi->data == bi->file && want == GM_ENTRY_PVH)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "the PVH entry needs the vmlinux, but gmvm cannot decompress this bzImage's payload "
			       "(gzip, bzip2, lzma, xz, lzo, lz4, zstd); use the default entry");
	return gm_elf_choose_entry(&bi->elf, want, &bi->entry, &bi->entry_addr, err);
}

int gm_boot_image_read(const char *kernel, const char *initrd, enum gm_entry want, uint64_t ram_size,
		       struct gm_trace *trace, struct gm_boot_image *bi, struct gm_error *err)
{
	struct gm_error inner = { 0 };
	const char *at = kernel;
	uint64_t addr_max = GM_INITRD_ADDR_MAX_DFLT;
	int r;

	if (!kernel)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "no guest image given; name an ELF file or a Linux bzImage");
	r = gm_elf_read_file(kernel, &bi->file, &bi->file_len, &inner);
	if (!r && gm_bzimage_is(bi->file, bi->file_len)) {
		r = read_bzimage(bi, trace, &inner);
		if (bi->bz.initrd_addr_max)
			addr_max = bi->bz.initrd_addr_max;
	} else if (!r) {
		bi->data = bi->file;
		bi->len = bi->file_len;
		r = gm_elf_parse(bi->data, bi->len, &bi->elf, &inner);
		bi->kernel_end = bi->elf.highest;
	}
	if (!r)
		r = gm_elf_check_placement(&bi->elf, ram_size, &inner);
	if (!r)
		r = choose_entry(bi, want, &inner);
	if (!r && initrd) {
		at = initrd;
		r = gm_initrd_open(initrd, &bi->initrd_fd, &bi->initrd_size, &inner);
		if (!r)
			r = gm_initrd_place(ram_size, bi->kernel_end, addr_max, bi->initrd_size, &bi->initrd_addr,
					    &inner);
	}
	if (r) {
		char q[GM_ESCAPE_PATH];
		return gm_fail(err, inner.status, inner.errnum, "%s: %s", gm_escape(at, q, sizeof(q)), inner.msg);
	}
	return 0;
}

/*
 * The command line as the boot tables hold it (the user's and the devices'
 * entries) against the bzImage's cmdline_size: a kernel cuts a longer one
 * without a word, and what goes is its end, the devices' entries.  A vmlinux
 * states no limit, so only a bzImage is checked.
 */
static int check_cmdline(const struct gm_boot_image *bi, struct gm_memory *mem, struct gm_error *err)
{
	const char *cl = gm_memory_hva(mem, GM_BOOT_CMDLINE, GM_BOOT_CMDLINE_MAX);
	size_t len;

	if (!bi->bzimage || !bi->bz.cmdline_size || !cl)
		return 0;
	len = strnlen(cl, GM_BOOT_CMDLINE_MAX);
	if (len <= bi->bz.cmdline_size)
		return 0;
	return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG,
		       "the guest command line is %zu bytes (--cmdline and the devices' entries), more than the %" PRIu32
		       " this kernel takes (its cmdline_size); shorten --cmdline", len, bi->bz.cmdline_size);
}

int gm_boot_image_load(struct gm_boot_image *bi, struct gm_memory *mem, struct gm_error *err)
{
	struct gm_x86_linux_boot lb = {
		.setup_hdr = bi->bzimage ? bi->bz.hdr : NULL,
		.setup_hdr_len = bi->bz.hdr_len,
		.initrd_addr = bi->initrd_addr,
		.initrd_size = bi->initrd_size,
	};
	int r = check_cmdline(bi, mem, err);

	if (!r)
		r = gm_x86_write_linux_boot(mem, bi->entry, &lb, err);

	if (!r)
		r = gm_elf_load(bi->data, bi->len, &bi->elf, mem, err);
	if (!r && bi->initrd_size)
		r = gm_initrd_load(bi->initrd_fd, bi->initrd_size, mem, bi->initrd_addr, err);
	if (bi->data != bi->file)
		gm_decompress_free(bi->data, bi->len);
	free(bi->file);
	bi->data = bi->file = NULL;
	return r;
}

void gm_boot_image_release(struct gm_boot_image *bi)
{
	if (bi->data != bi->file)
		gm_decompress_free(bi->data, bi->len);
	free(bi->file);
	bi->data = bi->file = NULL;
	if (bi->initrd_size && bi->initrd_fd >= 0)
		close(bi->initrd_fd);
	bi->initrd_size = 0;
	bi->initrd_fd = -1;
}
