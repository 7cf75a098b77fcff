/*
 * boot/elf: the ELF guest loader.  Reading a guest image, checking it as
 * untrusted input (every size and offset is bounds- and overflow-checked),
 * placing it against the guest's RAM, choosing the entry (64-bit Linux boot
 * protocol or Xen PVH) and copying it into guest memory.
 *
 * Every function returns 0 or a negative errno and fills err with one line
 * (status GM_STATUS_BAD_INPUT for anything wrong with the image).  Messages
 * do not name the file: the caller knows the path and prefixes it
 * ("guests/x.elf: ELF is truncated: ...").
 */
#ifndef GM_BOOT_ELF_H
#define GM_BOOT_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmvm/config.h"
#include "gmvm/error.h"
#include "gmvm/memory.h"
#include "util/guest_map.h"


/* Largest guest image gm_elf_read_file() reads. */
#define GM_ELF_MAX_FILE (UINT64_C(512) << 20)

#define GM_ELF_MAX_SEGMENTS 16

/* One PT_LOAD with memsz > 0: file bytes [offset, offset+filesz) go to
 * guest-physical paddr, followed by memsz - filesz zero bytes. */
struct gm_elf_segment {
	uint64_t paddr, offset, filesz, memsz;
};

struct gm_elf_image {
	bool is64;          /* ELFCLASS64 (x86-64) or ELFCLASS32 (i386) */
	uint16_t machine;   /* e_machine: 62 (EM_X86_64) or 3 (EM_386) */
	uint64_t entry;     /* e_entry; checked inside a segment for ELF64 */
	bool has_pvh;       /* a Xen XEN_ELFNOTE_PHYS32_ENTRY note was found */
	uint64_t pvh_entry; /* its address, inside a segment and below 4 GiB */
	unsigned nseg;
	struct gm_elf_segment seg[GM_ELF_MAX_SEGMENTS]; /* sorted by paddr */
	uint64_t lowest, highest; /* [lowest, highest) of loaded bytes */
};

/*
 * Parse and validate an ELF image held in buf[0, len) into img, without side
 * effects: header, program headers, segments (in the file, not overlapping,
 * at or above GM_ELF_MIN_PADDR), entry points and the PVH note.
 */
int gm_elf_parse(const void *buf, size_t len, struct gm_elf_image *img,
		 struct gm_error *err);

/*
 * Check that every segment of a parsed image lies in the RAM of a guest with
 * ram_size bytes (the e820 layout of gmvm/memory.h: not in the 32-bit hole,
 * not beyond the end of RAM).  Pure.
 */
int gm_elf_check_placement(const struct gm_elf_image *img, uint64_t ram_size,
			   struct gm_error *err);

/*
 * Pick how to enter the guest: GM_ENTRY_AUTO gives LINUX64 at e_entry for an
 * x86-64 ELF64 and PVH for an i386 ELF32 with a PVH note; an explicit want is
 * honoured or refused.  On success *mode is LINUX64 or PVH, never AUTO.
 */
int gm_elf_choose_entry(const struct gm_elf_image *img, enum gm_entry want,
			enum gm_entry *mode, uint64_t *addr, struct gm_error *err);

/*
 * Read a whole regular file of 1 byte to GM_ELF_MAX_FILE into a malloc'd
 * buffer (*buf, freed by the caller with free()).  Refuses a missing or
 * unreadable file, a directory, a non-regular file and an empty one.
 */
int gm_elf_read_file(const char *path, void **buf, size_t *len, struct gm_error *err);

/*
 * Copy each segment of img (parsed from buf[0, len)) into guest memory at its
 * paddr and zero its tail up to memsz.  Guest memory is reached only through
 * gm_memory_hva(); a segment outside RAM is refused, leaving the segments
 * before it copied.
 */
int gm_elf_load(const void *buf, size_t len, const struct gm_elf_image *img,
		struct gm_memory *mem, struct gm_error *err);

#endif
