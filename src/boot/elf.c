/*
 * boot/elf.c: parsing and checking an ELF guest image.  The image is
 * untrusted: every field is read byte by byte (no alignment or host
 * endianness assumed) and every offset and size is checked against the file
 * and against overflow before use.  Nothing here touches guest memory or
 * knows the guest's size: see load.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "boot/elf.h"
#include "util/le.h"

/*
 * Our own ELF constants: <elf.h> would find this folder's elf.h first, and
 * a handful of numbers read more plainly than the libc structures would.
 */
enum {
	EI_NIDENT = 16,
	EI_CLASS = 4,
	EI_DATA = 5,
	EI_VERSION = 6,
	ELFCLASS32 = 1,
	ELFCLASS64 = 2,
	ELFDATA2LSB = 1,
	EV_CURRENT = 1,
	ET_REL = 1,
	ET_EXEC = 2,
	ET_DYN = 3,
	EM_386 = 3,
	EM_X86_64 = 62,
	PT_LOAD = 1,
	PT_INTERP = 3,
	PT_NOTE = 4,
	PN_XNUM = 0xffff,
	EHDR32_SIZE = 52,
	EHDR64_SIZE = 64,
	PHDR32_SIZE = 32,
	PHDR64_SIZE = 56,
	NOTE_HDR_SIZE = 12,
	XEN_ELFNOTE_PHYS32_ENTRY = 18,
};

#define CORRUPT "rebuild or re-copy the guest image"

struct phdr {
	uint32_t type;
	uint64_t offset, paddr, filesz, memsz, align;
};

static int bad(struct gm_error *err, const char *msg)
{
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s", msg);
}

/* [start, start+len) lies within a file of file_len bytes. */
static bool in_file(uint64_t start, uint64_t len, size_t file_len)
{
	return start <= file_len && len <= file_len - start;
}

/*
 * Refuse a range [start, start+size) that runs past a file of len bytes.  A
 * range whose end does not fit in 64 bits is no truncation but a corrupt
 * header, and said so: "starts at byte 4096 of 23480" would send the user
 * looking for a short copy.
 */
static int truncated(struct gm_error *err, const char *what, uint64_t start,
		     uint64_t size, size_t len)
{
	if (start > len)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF is truncated: %s starts at byte %" PRIu64 " of %zu; " CORRUPT,
			       what, start, len);
	if (size > UINT64_MAX - start)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF %s: offset 0x%" PRIx64 " + size 0x%" PRIx64 " overflows; "
			       "the ELF is corrupt, " CORRUPT, what, start, size);
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
		       "ELF is truncated: %s ends at byte %" PRIu64 " of %zu; " CORRUPT,
		       what, start + size, len);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static const char *machine_name(unsigned m)
{
	switch (m) {
	case EM_386: return "i386";
	case EM_X86_64: return "x86-64";
	case 40: return "ARM";
	case 183: return "AArch64";
	case 243: return "RISC-V";
	case 8: return "MIPS";
	case 20: return "PowerPC";
	case 21: return "PowerPC64";
	case 22: return "s390";
	default: return "unknown";
	}
}

static int check_ident(const uint8_t *b, size_t len, struct gm_error *err)
{
	static const uint8_t magic[4] = { 0x7f, 'E', 'L', 'F' };
	size_t n = len < 4 ? len : 4;

	if (memcmp(b, magic, n) != 0)
		return bad(err, "not an ELF file (no \\x7fELF magic at its start) nor a Linux bzImage (no \"HdrS\" "
			   "at 0x202); give an ELF executable or a bzImage, not a raw or compressed image");
	if (len < EI_NIDENT)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF is truncated: %zu bytes, shorter than the ELF header; %s",
			       len, CORRUPT);
	if (b[EI_CLASS] != ELFCLASS32 && b[EI_CLASS] != ELFCLASS64)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF class %u is neither ELFCLASS32 nor ELFCLASS64; %s",
			       b[EI_CLASS], CORRUPT);
	if (b[EI_DATA] != ELFDATA2LSB)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF data encoding %u is not little-endian; build the guest for x86-64 or i386",
			       b[EI_DATA]);
	if (b[EI_VERSION] != EV_CURRENT)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF version %u is not 1 (EV_CURRENT); %s", b[EI_VERSION], CORRUPT);
	return 0;
}

static int check_type(unsigned type, struct gm_error *err)
{
	if (type == ET_EXEC)
		return 0;
	if (type == ET_DYN)
		return bad(err, "ELF is position-independent (ET_DYN); link the guest "
			   "as a static executable at a fixed address (-static -no-pie)");
	if (type == ET_REL)
		return bad(err, "ELF is a relocatable object (ET_REL), not an executable; "
			   "link it into a static executable");
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
		       "ELF type %u is not an executable (ET_EXEC); give gmvm a linked static executable",
		       type);
}

static void read_phdr(const uint8_t *p, bool is64, struct phdr *ph)
{
	ph->type = gm_le32(p);
	if (is64) {
		ph->offset = gm_le64(p + 8);
		ph->paddr = gm_le64(p + 24);
		ph->filesz = gm_le64(p + 32);
		ph->memsz = gm_le64(p + 40);
		ph->align = gm_le64(p + 48);
	} else {
		ph->offset = gm_le32(p + 4);
		ph->paddr = gm_le32(p + 12);
		ph->filesz = gm_le32(p + 16);
		ph->memsz = gm_le32(p + 20);
		ph->align = gm_le32(p + 28);
	}
}

/* Validate one PT_LOAD and, when it has memory, append it to img. */
static int add_load(const struct phdr *ph, unsigned idx, size_t len,
		    struct gm_elf_image *img, struct gm_error *err)
{
	/* highest end a segment may have: no wrap, and ELF32 stays below 4 GiB */
	uint64_t limit = img->is64 ? UINT64_MAX : UINT64_C(1) << 32;
	struct gm_elf_segment *s;

	if (ph->filesz > ph->memsz)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF segment %u has filesz 0x%" PRIx64 " larger than memsz 0x%" PRIx64 "; %s",
			       idx, ph->filesz, ph->memsz, CORRUPT);
	if (ph->filesz && !in_file(ph->offset, ph->filesz, len)) {
		char what[32];

		snprintf(what, sizeof(what), "segment %u", idx);
		return truncated(err, what, ph->offset, ph->filesz, len);
	}
	if (ph->memsz == 0)
		return 0;
	if (ph->paddr > limit || ph->memsz > limit - ph->paddr)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF segment %u at 0x%" PRIx64 " with memsz 0x%" PRIx64
			       " runs past the end of the %u-bit address space; %s",
			       idx, ph->paddr, ph->memsz, img->is64 ? 64 : 32, CORRUPT);
	if (ph->paddr < GM_ELF_MIN_PADDR)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF segment %u loads at 0x%" PRIx64 ", below 1 MiB (0x100000): "
			       "gmvm keeps boot structures there; link the guest at 1 MiB or above",
			       idx, ph->paddr);
	if (img->nseg == GM_ELF_MAX_SEGMENTS)
		return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG,
			       "ELF has more than %d loadable segments; merge them in the guest's linker script",
			       GM_ELF_MAX_SEGMENTS);
	s = &img->seg[img->nseg++];
	s->paddr = ph->paddr;
	s->offset = ph->filesz ? ph->offset : 0;
	s->filesz = ph->filesz;
	s->memsz = ph->memsz;
	return 0;
}

/* Sort segments by paddr (at most 16: insertion sort) and refuse overlaps. */
static int sort_segments(struct gm_elf_image *img, struct gm_error *err)
{
	for (unsigned i = 1; i < img->nseg; i++) {
		struct gm_elf_segment s = img->seg[i];
		unsigned j = i;

		for (; j > 0 && img->seg[j - 1].paddr > s.paddr; j--)
			img->seg[j] = img->seg[j - 1];
		img->seg[j] = s;
	}
	for (unsigned i = 1; i < img->nseg; i++) {
		const struct gm_elf_segment *a = &img->seg[i - 1], *b = &img->seg[i];

		if (b->paddr - a->paddr < a->memsz)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "ELF segments overlap in physical memory: [0x%" PRIx64 ", 0x%" PRIx64
				       ") and [0x%" PRIx64 ", 0x%" PRIx64 "); fix the guest's linker script",
				       a->paddr, a->paddr + a->memsz, b->paddr, b->paddr + b->memsz);
	}
	img->lowest = img->seg[0].paddr;
	img->highest = img->seg[img->nseg - 1].paddr + img->seg[img->nseg - 1].memsz;
	return 0;
}

static int pvh_note(const uint8_t *desc, uint32_t descsz, uint64_t at,
		    struct gm_elf_image *img, struct gm_error *err)
{
	uint64_t addr;

	if (descsz != 4 && descsz != 8)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF PVH note (Xen note type 18) at byte %" PRIu64
			       " holds %" PRIu32 " bytes, not a 4- or 8-byte address; %s",
			       at, descsz, CORRUPT);
	addr = descsz == 4 ? gm_le32(desc) : gm_le64(desc);
	if (addr > UINT32_MAX)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF PVH entry point 0x%" PRIx64 " is above 4 GiB, out of reach of "
			       "the 32-bit PVH entry; link the PVH entry below 4 GiB", addr);
	if (!img->has_pvh) {
		img->has_pvh = true;
		img->pvh_entry = addr;
	}
	return 0;
}

/*
 * Walk the notes of one PT_NOTE (file range already checked).  Notes are
 * 4-byte aligned, or 8 when the segment says so (as GNU property notes are).
 */
static int walk_notes(const uint8_t *b, const struct phdr *ph,
		      struct gm_elf_image *img, struct gm_error *err)
{
	const uint8_t *p = b + ph->offset;
	uint64_t n = ph->filesz, pos = 0, a = ph->align == 8 ? 8 : 4;

	while (n - pos >= NOTE_HDR_SIZE) {
		uint32_t namesz = gm_le32(p + pos), descsz = gm_le32(p + pos + 4);
		uint32_t type = gm_le32(p + pos + 8);
		uint64_t name = pos + NOTE_HDR_SIZE;
		uint64_t desc = align_up(name + namesz, a); /* < 2^34: no overflow */
		int rc;

		if (desc > n || descsz > n - desc)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "ELF note at byte %" PRIu64 " (name %" PRIu32 " bytes, desc %" PRIu32
				       " bytes) runs past the end of its PT_NOTE segment; %s",
				       ph->offset + pos, namesz, descsz, CORRUPT);
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
		    memcmp(p + name, "Xen", 4) == 0) {
			rc = pvh_note(p + desc, descsz, ph->offset + pos, img, err);
			if (rc)
				return rc;
		}
		pos = align_up(desc + descsz, a);
		if (pos >= n)
			break;
	}
	return 0;
}

static bool inside_segment(const struct gm_elf_image *img, uint64_t addr)
{
	for (unsigned i = 0; i < img->nseg; i++)
		if (addr >= img->seg[i].paddr && addr - img->seg[i].paddr < img->seg[i].memsz)
			return true;
	return false;
}

static int read_header(const uint8_t *b, size_t len, struct gm_elf_image *img,
		       uint64_t *phoff, unsigned *phnum, struct gm_error *err)
{
	unsigned ehsize, phentsize, type;
	int rc = check_ident(b, len, err);

	if (rc)
		return rc;
	img->is64 = b[EI_CLASS] == ELFCLASS64;
	ehsize = img->is64 ? EHDR64_SIZE : EHDR32_SIZE;
	if (len < ehsize)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF is truncated: %zu bytes, shorter than the %u-byte ELF header; %s",
			       len, ehsize, CORRUPT);
	img->machine = gm_le16(b + 18);
	if (img->is64 && img->machine != EM_X86_64)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF64 is for machine %u (%s), not x86-64 (62); build the guest for x86-64",
			       img->machine, machine_name(img->machine));
	if (!img->is64 && img->machine != EM_386)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF32 is for machine %u (%s), not i386 (3); build the guest for x86-64 or i386",
			       img->machine, machine_name(img->machine));
	type = gm_le16(b + 16);
	rc = check_type(type, err);
	if (rc)
		return rc;
	img->entry = img->is64 ? gm_le64(b + 24) : gm_le32(b + 24);
	*phoff = img->is64 ? gm_le64(b + 32) : gm_le32(b + 28);
	phentsize = gm_le16(b + (img->is64 ? 54 : 42));
	*phnum = gm_le16(b + (img->is64 ? 56 : 44));
	if (*phnum == 0)
		return bad(err, "ELF has no program headers, so nothing to load; "
			   "link the guest as an executable with PT_LOAD segments");
	if (*phnum == PN_XNUM)
		return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG,
			       "ELF uses extended program header numbering (65535 or more headers); "
			       "gmvm loads at most %d segments", GM_ELF_MAX_SEGMENTS);
	if (phentsize != (img->is64 ? PHDR64_SIZE : PHDR32_SIZE))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF program header entry size is %u bytes, not %u; %s",
			       phentsize, img->is64 ? PHDR64_SIZE : PHDR32_SIZE, CORRUPT);
	/* phnum * phentsize <= 65534 * 56: no overflow */
	if (!in_file(*phoff, (uint64_t)*phnum * phentsize, len))
		return truncated(err, "program header table", *phoff,
				 (uint64_t)*phnum * phentsize, len);
	return 0;
}

int gm_elf_parse(const void *buf, size_t len, struct gm_elf_image *img,
		 struct gm_error *err)
{
	const uint8_t *b = buf;
	unsigned phnum = 0, phentsize;
	uint64_t phoff = 0;
	struct phdr ph;
	int rc;

	memset(img, 0, sizeof(*img));
	if (!b && len)
		return bad(err, "no ELF image given (NULL buffer); "
			   "pass the bytes gm_elf_read_file() returned");
	rc = read_header(len ? b : (const uint8_t *)"", len, img, &phoff, &phnum, err);
	if (rc)
		return rc;
	phentsize = img->is64 ? PHDR64_SIZE : PHDR32_SIZE;
	for (unsigned i = 0; i < phnum; i++) {
		read_phdr(b + phoff + (uint64_t)i * phentsize, img->is64, &ph);
		if (ph.type == PT_INTERP)
			return bad(err, "ELF asks for a program interpreter (PT_INTERP): it is "
				   "dynamically linked; link the guest statically");
		if (ph.type == PT_LOAD)
			rc = add_load(&ph, i, len, img, err);
		else if (ph.type == PT_NOTE && ph.filesz && !in_file(ph.offset, ph.filesz, len))
			rc = truncated(err, "note segment", ph.offset, ph.filesz, len);
		if (rc)
			return rc;
	}
	if (img->nseg == 0)
		return bad(err, "ELF has no loadable (PT_LOAD) segments; "
			   "link the guest as an executable with code and data to load");
	rc = sort_segments(img, err);
	if (rc)
		return rc;
	for (unsigned i = 0; i < phnum; i++) {
		read_phdr(b + phoff + (uint64_t)i * phentsize, img->is64, &ph);
		if (ph.type == PT_NOTE && ph.filesz) {
			rc = walk_notes(b, &ph, img, err);
			if (rc)
				return rc;
		}
	}
	if (img->is64 && !inside_segment(img, img->entry))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF entry point 0x%" PRIx64 " is not inside any loaded segment; "
			       "check ENTRY() and the load addresses in the guest's linker script",
			       img->entry);
	if (img->has_pvh && !inside_segment(img, img->pvh_entry))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "ELF PVH entry point 0x%" PRIx64 " (Xen note type 18) is not inside any "
			       "loaded segment; point the note at the guest's 32-bit entry code",
			       img->pvh_entry);
	return 0;
}
