/* tests/unit/boot/elf_builder.c: see elf_builder.h. */
#include <stdlib.h>
#include <string.h>

#include "elf_builder.h"

static void put(uint8_t *p, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint8_t eb_pattern(unsigned ph, uint64_t i)
{
	return (uint8_t)(0x11 * (ph + 1) + i * 7);
}

void eb_init(struct eb *e, bool is64, uint64_t entry)
{
	memset(e, 0, sizeof(*e));
	e->is64 = is64;
	e->machine = is64 ? 62 : 3;
	e->type = 2;
	e->entry = entry;
}

static struct eb_ph *add(struct eb *e, uint32_t type)
{
	struct eb_ph *ph = &e->ph[e->nph++];

	if (e->nph > EB_MAX_PH)
		abort();
	ph->type = type;
	ph->align = 4;
	return ph;
}

unsigned eb_load(struct eb *e, uint64_t paddr, uint64_t filesz, uint64_t memsz)
{
	struct eb_ph *ph = add(e, EB_PT_LOAD);

	ph->paddr = paddr;
	ph->filesz = filesz;
	ph->memsz = memsz;
	ph->align = 0x1000;
	return e->nph - 1;
}

unsigned eb_note(struct eb *e, const char *name, uint32_t type, const void *desc,
		 uint32_t descsz)
{
	struct eb_ph *ph = add(e, EB_PT_NOTE);
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	uint32_t desc_off = 12 + ((namesz + 3) & ~3u);

	if (desc_off + ((descsz + 3) & ~3u) > sizeof(ph->note))
		abort();
	put(ph->note, namesz, 4);
	put(ph->note + 4, descsz, 4);
	put(ph->note + 8, type, 4);
	memcpy(ph->note + 12, name, namesz);
	memcpy(ph->note + desc_off, desc, descsz);
	ph->filesz = desc_off + ((descsz + 3) & ~3u);
	return e->nph - 1;
}

unsigned eb_pvh(struct eb *e, uint64_t addr, uint32_t descsz)
{
	uint8_t d[8];

	put(d, addr, 8);
	return eb_note(e, "Xen", 18, d, descsz);
}

static unsigned ehsize(const struct eb *e)
{
	return e->is64 ? 64 : 52;
}

static unsigned phentsize(const struct eb *e)
{
	return e->is64 ? 56 : 32;
}

void eb_build(struct eb *e)
{
	size_t off = ehsize(e) + (size_t)e->nph * phentsize(e);
	uint8_t *b;

	for (unsigned i = 0; i < e->nph; i++) {
		off = (off + 7) & ~(size_t)7;
		e->ph[i].offset = off;
		off += e->ph[i].filesz;
	}
	free(e->buf);
	b = e->buf = calloc(1, off);
	e->len = off;
	memcpy(b, "\x7f" "ELF", 4);
	b[4] = e->is64 ? 2 : 1;
	b[5] = 1;
	b[6] = 1;
	put(b + 20, 1, 4);
	put(b + (e->is64 ? 52 : 40), ehsize(e), 2);
	eb_set(e, EB_E_TYPE, 0, e->type);
	eb_set(e, EB_E_MACHINE, 0, e->machine);
	eb_set(e, EB_E_ENTRY, 0, e->entry);
	eb_set(e, EB_E_PHOFF, 0, ehsize(e));
	eb_set(e, EB_E_PHENTSIZE, 0, phentsize(e));
	eb_set(e, EB_E_PHNUM, 0, e->nph);
	for (unsigned i = 0; i < e->nph; i++) {
		struct eb_ph *ph = &e->ph[i];
		uint8_t *p = b + ehsize(e) + (size_t)i * phentsize(e);

		eb_set(e, EB_P_TYPE, i, ph->type);
		eb_set(e, EB_P_OFFSET, i, ph->offset);
		eb_set(e, EB_P_PADDR, i, ph->paddr);
		eb_set(e, EB_P_FILESZ, i, ph->filesz);
		eb_set(e, EB_P_MEMSZ, i, ph->memsz);
		/* vaddr = paddr, flags RWX, align */
		put(p + (e->is64 ? 16 : 8), ph->paddr, e->is64 ? 8 : 4);
		put(p + (e->is64 ? 4 : 24), 7, 4);
		put(p + (e->is64 ? 48 : 28), ph->align, e->is64 ? 8 : 4);
		if (ph->type == EB_PT_NOTE)
			memcpy(b + ph->offset, ph->note, ph->filesz);
		else
			for (uint64_t j = 0; j < ph->filesz; j++)
				b[ph->offset + j] = eb_pattern(i, j);
	}
}

void eb_free(struct eb *e)
{
	free(e->buf);
	e->buf = NULL;
	e->len = 0;
}

void eb_set(struct eb *e, enum eb_field f, unsigned ph, uint64_t v)
{
	static const struct { unsigned off64, off32, size32; } at[] = {
		[EB_E_TYPE] = { 16, 16, 2 },     [EB_E_MACHINE] = { 18, 18, 2 },
		[EB_E_ENTRY] = { 24, 24, 4 },    [EB_E_PHOFF] = { 32, 28, 4 },
		[EB_E_PHENTSIZE] = { 54, 42, 2 }, [EB_E_PHNUM] = { 56, 44, 2 },
		[EB_P_TYPE] = { 0, 0, 4 },       [EB_P_OFFSET] = { 8, 4, 4 },
		[EB_P_PADDR] = { 24, 12, 4 },    [EB_P_FILESZ] = { 32, 16, 4 },
		[EB_P_MEMSZ] = { 40, 20, 4 },
	};
	size_t base = f >= EB_P_TYPE ? ehsize(e) + (size_t)ph * phentsize(e) : 0;
	unsigned size = at[f].size32;

	/* 64-bit fields widen in ELF64; 16-bit and p_type do not */
	if (e->is64 && size == 4 && f != EB_P_TYPE)
		size = 8;
	put(e->buf + base + (e->is64 ? at[f].off64 : at[f].off32), v, size);
}
