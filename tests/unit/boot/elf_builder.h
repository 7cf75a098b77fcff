/*
 * tests/unit/boot/elf_builder: small ELF images built in memory, so each
 * test states the exact image it feeds the loader and can then corrupt one
 * field of it.  Layout: ELF header, program headers, then each segment's
 * bytes (8-byte aligned) in program header order.
 */
#ifndef EB_ELF_BUILDER_H
#define EB_ELF_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EB_MAX_PH 24
#define EB_PT_LOAD 1
#define EB_PT_INTERP 3
#define EB_PT_NOTE 4

struct eb_ph {
	uint32_t type;
	uint64_t paddr, filesz, memsz, align;
	uint8_t note[64];  /* PT_NOTE contents (filesz bytes) */
	uint64_t offset;   /* where eb_build() put the bytes */
};

struct eb {
	bool is64;
	uint16_t machine, type;
	uint64_t entry;
	unsigned nph;
	struct eb_ph ph[EB_MAX_PH];
	uint8_t *buf;
	size_t len;
};

/* Header fields and program header fields a test may overwrite. */
enum eb_field {
	EB_E_TYPE, EB_E_MACHINE, EB_E_ENTRY, EB_E_PHOFF, EB_E_PHENTSIZE, EB_E_PHNUM,
	EB_P_TYPE, EB_P_OFFSET, EB_P_PADDR, EB_P_FILESZ, EB_P_MEMSZ,
};

/* An x86-64 ELF64 (is64) or i386 ELF32 executable with no segments yet. */
void eb_init(struct eb *e, bool is64, uint64_t entry);
/* Add a PT_LOAD whose file bytes are eb_pattern(index, i); returns its index. */
unsigned eb_load(struct eb *e, uint64_t paddr, uint64_t filesz, uint64_t memsz);
/* Add a PT_NOTE holding one note (name NUL-terminated, 4-byte aligned). */
unsigned eb_note(struct eb *e, const char *name, uint32_t type, const void *desc,
		 uint32_t descsz);
/* Add a PT_NOTE with the Xen PVH entry note, addr as a 4- or 8-byte desc. */
unsigned eb_pvh(struct eb *e, uint64_t addr, uint32_t descsz);
/* Lay the image out into e->buf / e->len (malloc'd; eb_free releases it). */
void eb_build(struct eb *e);
void eb_free(struct eb *e);
/* Overwrite a header field (ph ignored) or program header ph's field. */
void eb_set(struct eb *e, enum eb_field f, unsigned ph, uint64_t v);
uint8_t eb_pattern(unsigned ph, uint64_t i);

#endif
