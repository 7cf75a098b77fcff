/*
 * boot/load.c: putting a parsed ELF image into a guest: reading the file,
 * checking its segments against the guest's RAM, choosing the entry, and
 * copying the segments into guest memory through gm_memory_hva() only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/elf.h"
#include "boot/file.h"
#include "mem/mem.h"

#define GIB (UINT64_C(1) << 30)
#define MIB (UINT64_C(1) << 20)

static int bad(struct gm_error *err, const char *msg)
{
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s", msg);
}

static void fmt_size(char *buf, size_t n, uint64_t bytes)
{
	if (bytes && bytes % GIB == 0)
		snprintf(buf, n, "%" PRIu64 " GiB", bytes / GIB);
	else if (bytes && bytes % MIB == 0)
		snprintf(buf, n, "%" PRIu64 " MiB", bytes / MIB);
	else
		snprintf(buf, n, "%" PRIu64 " bytes", bytes);
}

/* Room for the e820 map of gmvm/memory.h (4 entries today) to grow. */
#define MAX_E820 8

/*
 * The guest's RAM at or above GM_ELF_MIN_PADDR, from the same layout the
 * guest is told about, so the loader and the e820 map cannot disagree.
 */
static unsigned ram_ranges(uint64_t ram_size, uint64_t start[MAX_E820], uint64_t end[MAX_E820])
{
	struct gm_e820_entry e820[MAX_E820];
	size_t n = gm_layout_e820(ram_size, e820, MAX_E820);
	unsigned r = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t lo = e820[i].addr, hi = e820[i].addr + e820[i].size;

		if (e820[i].type != GM_E820_RAM || hi <= GM_ELF_MIN_PADDR)
			continue;
		start[r] = lo < GM_ELF_MIN_PADDR ? GM_ELF_MIN_PADDR : lo;
		end[r++] = hi;
	}
	return r;
}

/* RAM a guest needs so that [GM_ELF_MIN_PADDR, end) is RAM: low RAM counts
 * from 0, and above the hole the 1 GiB it takes is not RAM. */
static uint64_t ram_for_end(uint64_t end)
{
	return end <= GM_LOW_RAM_END ? end : end - (GM_HIGH_RAM_BASE - GM_LOW_RAM_END);
}

/*
 * Refuse segment s, which is not in ram_size bytes of RAM.  The size
 * suggested covers every segment of img, not only s: suggesting what s alone
 * needs would be refused again for the next segment.
 */
static int misplaced(const struct gm_elf_image *img, const struct gm_elf_segment *s,
		     uint64_t ram_size, struct gm_error *err)
{
	uint64_t end = s->paddr + s->memsz, need = 0;
	char ram[32], most[32];

	fmt_size(ram, sizeof(ram), ram_size);
	for (unsigned i = 0; i < img->nseg; i++) {
		uint64_t e = img->seg[i].paddr + img->seg[i].memsz;

		if (ram_for_end(e) > need)
			need = ram_for_end(e);
	}
	/* Whole MiB, and never more than a guest may have (mem/mem.h). */
	need = need / MIB + (need % MIB != 0);
	if (need > GM_MEM_MAX_SIZE / MIB) {
		fmt_size(most, sizeof(most), GM_MEM_MAX_SIZE);
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOMEM,
			       "ELF segment [0x%" PRIx64 ", 0x%" PRIx64 ") lies beyond the guest's %s of RAM, "
			       "and its segments need more than the %s gmvm gives a guest; "
			       "link the guest at lower addresses", s->paddr, end, ram, most);
	}
	return gm_fail(err, GM_STATUS_BAD_INPUT, ENOMEM,
		       "ELF segment [0x%" PRIx64 ", 0x%" PRIx64 ") lies beyond the guest's %s of RAM; "
		       "give the guest more memory, e.g. --memory size=%" PRIu64 "M",
		       s->paddr, end, ram, need);
}

/* A segment in the 32-bit hole cannot be fixed by more RAM: said first. */
static int in_hole(const struct gm_elf_segment *s, uint64_t ram_size, struct gm_error *err)
{
	uint64_t end = s->paddr + s->memsz;
	char ram[32];

	if (!(s->paddr < GM_HIGH_RAM_BASE && end > GM_LOW_RAM_END))
		return 0;
	fmt_size(ram, sizeof(ram), ram_size);
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
		       "ELF segment [0x%" PRIx64 ", 0x%" PRIx64 ") overlaps the 32-bit hole "
		       "[3 GiB, 4 GiB), where there is no RAM (guest RAM: %s); "
		       "link the guest below 3 GiB", s->paddr, end, ram);
}

int gm_elf_check_placement(const struct gm_elf_image *img, uint64_t ram_size,
			   struct gm_error *err)
{
	uint64_t start[MAX_E820], end[MAX_E820];
	unsigned n = ram_ranges(ram_size, start, end);

	for (unsigned i = 0; i < img->nseg; i++) {
		int r = in_hole(&img->seg[i], ram_size, err);

		if (r)
			return r;
	}
	for (unsigned i = 0; i < img->nseg; i++) {
		const struct gm_elf_segment *s = &img->seg[i];
		bool ok = false;

		for (unsigned r = 0; r < n && !ok; r++)
			ok = s->paddr >= start[r] && s->paddr < end[r] &&
			     s->memsz <= end[r] - s->paddr;
		if (!ok)
			return misplaced(img, s, ram_size, err);
	}
	return 0;
}

int gm_elf_choose_entry(const struct gm_elf_image *img, enum gm_entry want,
			enum gm_entry *mode, uint64_t *addr, struct gm_error *err)
{
	switch (want) {
	case GM_ENTRY_AUTO:
		if (img->is64) {
			*mode = GM_ENTRY_LINUX64;
			*addr = img->entry;
		} else if (img->has_pvh) {
			*mode = GM_ENTRY_PVH;
			*addr = img->pvh_entry;
		} else {
			return bad(err, "ELF is 32-bit i386 with no 64-bit entry and no PVH note "
				   "(Xen ELF note type 18); build the guest for x86-64 or add a PVH note");
		}
		return 0;
	case GM_ENTRY_LINUX64:
		if (!img->is64)
			return bad(err, "the 64-bit Linux boot entry needs an x86-64 ELF64 but this ELF is "
				   "32-bit i386; use the PVH entry (with a PVH note) or build for x86-64");
		*mode = GM_ENTRY_LINUX64;
		*addr = img->entry;
		return 0;
	case GM_ENTRY_PVH:
		if (!img->has_pvh)
			return bad(err, "the PVH entry was asked for but the ELF has no PVH note "
				   "(Xen ELF note type 18); add the note or use the default entry");
		*mode = GM_ENTRY_PVH;
		*addr = img->pvh_entry;
		return 0;
	}
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
		       "unknown entry mode %d; use auto, linux64 or pvh", (int)want);
}

int gm_elf_read_file(const char *path, void **buf, size_t *len, struct gm_error *err)
{
	static const struct gm_boot_file_kind image = {
		.name = "the guest image",
		.max = GM_ELF_MAX_FILE,
		.path_fix = "check the path",
		.is_dir = "is a directory, not a guest image; give the path of an ELF file or a Linux bzImage",
		.not_reg = "is not a regular file; give the path of an ELF file or a Linux bzImage",
		.empty_fix = "rebuild or re-copy it",
		.big_fix = "strip it (strip --strip-debug) or give a smaller image",
	};
	uint64_t size;
	uint8_t *p;
	size_t got = 0;
	int fd, rc;

	*buf = NULL;
	*len = 0;
	rc = gm_boot_file_open(path, &image, &fd, &size, err);
	if (rc)
		return rc;
	p = malloc((size_t)size);
	if (!p) {
		close(fd);
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM,
			       "out of memory reading the %" PRIu64 "-byte guest image; free host memory",
			       size);
	}
	while (got < (size_t)size) {
		ssize_t n = read(fd, p + got, (size_t)size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = gm_fail(err, GM_STATUS_BAD_INPUT, errno, "cannot read the guest image: %s; "
				     "check the file and the disk", strerror(errno));
			break;
		}
		if (n == 0) {
			rc = gm_fail(err, GM_STATUS_BAD_INPUT, EIO, "the guest image shrank while being "
				     "read; do not rewrite it while gmvm starts");
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	if (rc) {
		free(p);
		return rc;
	}
	*buf = p;
	*len = got;
	return 0;
}

/*
 * Zero [gpa, gpa+len) of guest RAM at hva.  Whole pages are discarded, not
 * written: they read as zeros afterwards without being allocated, so a
 * guest's large BSS (per-CPU stacks, tables) costs no memory and no start-up
 * time until the guest touches it.  Only the partial pages at the ends are
 * written.
 */
static int zero_guest_range(struct gm_memory *mem, uint8_t *hva, uint64_t gpa, uint64_t len,
			    struct gm_error *err)
{
	uint64_t ps = gm_memory_page_size(mem);
	uint64_t start = (gpa + ps - 1) / ps * ps, end = (gpa + len) / ps * ps;

	if (ps == 0 || end <= start) {
		memset(hva, 0, len);
		return 0;
	}
	memset(hva, 0, start - gpa);
	memset(hva + (end - gpa), 0, gpa + len - end);
	return gm_memory_discard(mem, start, end - start, err);
}

int gm_elf_load(const void *buf, size_t len, const struct gm_elf_image *img,
		struct gm_memory *mem, struct gm_error *err)
{
	const uint8_t *b = buf;

	for (unsigned i = 0; i < img->nseg; i++) {
		const struct gm_elf_segment *s = &img->seg[i];
		uint8_t *hva;

		/* img may come from another buffer than buf: recheck, cheaply */
		if (s->offset > len || s->filesz > len - s->offset || s->filesz > s->memsz)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "ELF segment at 0x%" PRIx64 " does not match the %zu-byte image "
				       "given to load; parse the same image that is loaded", s->paddr, len);
		hva = gm_memory_hva(mem, s->paddr, s->memsz);
		if (!hva) {
			char ram[32];

			fmt_size(ram, sizeof(ram), gm_memory_size(mem));
			return gm_fail(err, GM_STATUS_BAD_INPUT, ENOMEM,
				       "ELF segment [0x%" PRIx64 ", 0x%" PRIx64 ") is not in the guest's "
				       "%s of RAM; give the guest more memory with --memory size=...",
				       s->paddr, s->paddr + s->memsz, ram);
		}
		if (s->filesz)
			memcpy(hva, b + s->offset, s->filesz);
		int r = zero_guest_range(mem, hva + s->filesz, s->paddr + s->filesz, s->memsz - s->filesz, err);
		if (r)
			return r;
	}
	return 0;
}
