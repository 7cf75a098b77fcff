/*
 * x86/boot_params: the data structures each entry hands the guest: the boot
 * GDT, the command line, Linux's boot_params "zero page" with the e820 map
 * (64-bit entry) and Xen's hvm_start_info with its memory map (PVH entry).
 * Both maps list every memory region of the machine as RAM.
 */
#include <errno.h>
#include <string.h>

#include "util/le.h"
#include "x86/x86.h"

/* struct boot_params offsets (Documentation/arch/x86/zero-page.rst). */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES     0x1e8
#define BP_BOOT_FLAG        0x1fe
#define BP_HEADER           0x202
#define BP_VERSION          0x206
#define BP_SETUP_HEADER     0x1f1
#define BP_SETUP_HEADER_END 0x290 /* _pad7: the header's room in boot_params */
#define BP_TYPE_OF_LOADER   0x210
#define BP_RAMDISK_IMAGE    0x218
#define BP_RAMDISK_SIZE     0x21c
#define BP_CMD_LINE_PTR     0x228
#define BP_CMDLINE_SIZE     0x238
#define BP_E820_TABLE       0x2d0
#define BP_E820_MAX         128
#define BP_SIZE             4096

/* struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h). */
#define PVH_MAGIC           0x336ec578u
#define PVH_VERSION         1u
#define PVH_NR_MODULES      0x0c
#define PVH_MODLIST_PADDR   0x10
#define PVH_CMDLINE_PADDR   0x18
#define PVH_MEMMAP_PADDR    0x28
#define PVH_MEMMAP_ENTRIES  0x30
#define PVH_INFO_SIZE       0x38
#define PVH_MEMMAP_OFFSET   0x40
#define PVH_MEMMAP_ENTRY    24
#define PVH_MODLIST_OFFSET  0x400 /* after a memmap of 32 entries */
#define PVH_MODLIST_ENTRY   32    /* struct hvm_modlist_entry */


static int write_gdt(struct gm_memory *mem, enum gm_entry entry, struct gm_error *err)
{
	/* The hidden segment state comes from KVM_SET_SREGS; this table is what
	 * a guest finds if it reloads a selector before installing its own. */
	static const uint64_t gdt64[4] = {
		0, 0, 0x00af9a000000ffffull /* 0x10 code64 */, 0x00cf92000000ffffull /* 0x18 data */,
	};
	static const uint64_t gdt32[4] = {
		0, 0x00cf9a000000ffffull /* 0x08 code32 */, 0x00cf92000000ffffull /* 0x10 data */,
		0x00cf92000000ffffull /* 0x18 data */,
	};
	void *gdt = gm_memory_hva(mem, GM_BOOT_GDT, sizeof(gdt64));

	if (!gdt)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOSPC, "guest RAM does not cover the boot GDT; use more --memory");
	memcpy(gdt, entry == GM_ENTRY_PVH ? gdt32 : gdt64, sizeof(gdt64));
	return 0;
}

static int write_cmdline(struct gm_memory *mem, const char *cmdline, struct gm_error *err)
{
	size_t len = cmdline ? strlen(cmdline) : 0;
	char *dst = gm_memory_hva(mem, GM_BOOT_CMDLINE, GM_BOOT_CMDLINE_MAX);

	if (len >= GM_BOOT_CMDLINE_MAX)
		return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG,
			       "guest command line is %zu bytes; shorten it to at most %u", len, GM_BOOT_CMDLINE_MAX - 1);
	if (!dst)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOSPC, "guest RAM does not cover the command line; use more --memory");
	memset(dst, 0, GM_BOOT_CMDLINE_MAX);
	if (len)
		memcpy(dst, cmdline, len);
	return 0;
}

/* Every region's map, the RAM's first, in one list of at most max entries. */
static size_t memory_map(struct gm_memory *const *mems, unsigned nmems, struct gm_e820_entry *map, size_t max)
{
	size_t n = 0;

	for (unsigned i = 0; i < nmems && n < max; i++)
		n += gm_memory_e820(mems[i], map + n, max - n);
	return n;
}

static int write_boot_params(struct gm_memory *const *mems, unsigned nmems, const char *cmdline,
			     struct gm_error *err)
{
	struct gm_memory *mem = mems[0];
	struct gm_e820_entry map[BP_E820_MAX];
	size_t n = memory_map(mems, nmems, map, BP_E820_MAX);
	uint8_t *bp = gm_memory_hva(mem, GM_BOOT_PARAMS, BP_SIZE);

	if (!bp)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOSPC, "guest RAM does not cover boot_params; use more --memory");
	memset(bp, 0, BP_SIZE);
	gm_put_le16(bp + BP_BOOT_FLAG, 0xaa55);
	gm_put_le32(bp + BP_HEADER, 0x53726448); /* "HdrS" */
	gm_put_le16(bp + BP_VERSION, 0x020f);
	bp[BP_TYPE_OF_LOADER] = 0xff;      /* "undefined" loader */
	gm_put_le32(bp + BP_CMD_LINE_PTR, (uint32_t)GM_BOOT_CMDLINE);
	gm_put_le32(bp + BP_EXT_CMD_LINE_PTR, 0);
	gm_put_le32(bp + BP_CMDLINE_SIZE, cmdline ? (uint32_t)strlen(cmdline) : 0);
	bp[BP_E820_ENTRIES] = (uint8_t)n;
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = bp + BP_E820_TABLE + 20 * i;
		gm_put_le64(e, map[i].addr);
		gm_put_le64(e + 8, map[i].size);
		gm_put_le32(e + 16, map[i].type);
	}
	return 0;
}

static int write_start_info(struct gm_memory *const *mems, unsigned nmems, struct gm_error *err)
{
	struct gm_memory *mem = mems[0];
	struct gm_e820_entry map[32];
	size_t n = memory_map(mems, nmems, map, 32);
	size_t size = PVH_MEMMAP_OFFSET + n * PVH_MEMMAP_ENTRY;
	uint8_t *si = gm_memory_hva(mem, GM_BOOT_START_INFO, size);

	if (!si)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOSPC, "guest RAM does not cover hvm_start_info; use more --memory");
	memset(si, 0, size);
	gm_put_le32(si, PVH_MAGIC);
	gm_put_le32(si + 4, PVH_VERSION);
	gm_put_le64(si + PVH_CMDLINE_PADDR, GM_BOOT_CMDLINE);
	gm_put_le64(si + PVH_MEMMAP_PADDR, GM_BOOT_START_INFO + PVH_MEMMAP_OFFSET);
	gm_put_le32(si + PVH_MEMMAP_ENTRIES, (uint32_t)n);
	for (size_t i = 0; i < n; i++) {
		uint8_t *e = si + PVH_MEMMAP_OFFSET + PVH_MEMMAP_ENTRY * i;
		gm_put_le64(e, map[i].addr);
		gm_put_le64(e + 8, map[i].size);
		gm_put_le32(e + 16, map[i].type);
	}
	_Static_assert(PVH_MEMMAP_OFFSET >= PVH_INFO_SIZE, "memmap after start_info");
	return 0;
}

int gm_x86_write_boot_tables(struct gm_memory *const *mems, unsigned n, enum gm_entry entry,
			     const char *cmdline, unsigned ncpus, struct gm_error *err)
{
	struct gm_memory *mem = mems[0];
	uint64_t end = 0;
	int r = write_gdt(mem, entry, err);

	for (unsigned i = 0; i < n; i++)
		if (gm_memory_end(mems[i]) > end)
			end = gm_memory_end(mems[i]);
	if (!r)
		r = write_cmdline(mem, cmdline, err);
	if (!r)
		r = entry == GM_ENTRY_PVH ? write_start_info(mems, n, err) : write_boot_params(mems, n, cmdline, err);
	/* PVH guests build their own page tables; the 64-bit entry needs ours. */
	if (!r && entry != GM_ENTRY_PVH)
		r = gm_x86_write_pagetables(mem, end, err);
	if (!r)
		r = gm_x86_write_mptable(mem, ncpus, err);
	if (!r)
		r = gm_x86_write_acpi(mem, ncpus, cmdline, err);
	return r;
}

/* The PVH entry's one module, the initrd, after the memory map. */
static int write_modlist(struct gm_memory *mem, uint64_t addr, uint64_t size, struct gm_error *err)
{
	uint8_t *si = gm_memory_hva(mem, GM_BOOT_START_INFO, PVH_MODLIST_OFFSET + PVH_MODLIST_ENTRY);
	uint8_t *e;

	_Static_assert(PVH_MODLIST_OFFSET >= PVH_MEMMAP_OFFSET + 32 * PVH_MEMMAP_ENTRY, "modlist after memmap");
	if (!si)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOSPC, "guest RAM does not cover hvm_start_info; use more --memory");
	e = si + PVH_MODLIST_OFFSET;
	memset(e, 0, PVH_MODLIST_ENTRY);
	gm_put_le64(e, addr);
	gm_put_le64(e + 8, size);
	gm_put_le32(si + PVH_NR_MODULES, 1);
	gm_put_le64(si + PVH_MODLIST_PADDR, GM_BOOT_START_INFO + PVH_MODLIST_OFFSET);
	return 0;
}

int gm_x86_write_linux_boot(struct gm_memory *mem, enum gm_entry entry, const struct gm_x86_linux_boot *lb,
			    struct gm_error *err)
{
	uint8_t *bp;

	if (entry == GM_ENTRY_PVH)
		return lb->initrd_size ? write_modlist(mem, lb->initrd_addr, lb->initrd_size, err) : 0;
	bp = gm_memory_hva(mem, GM_BOOT_PARAMS, BP_SIZE);
	if (!bp)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOSPC, "guest RAM does not cover boot_params; use more --memory");
	if (lb->setup_hdr) {
		size_t n = lb->setup_hdr_len;

		/* the kernel's own header (version, alignment, init_size, cmdline_size ...),
		 * then the loader's fields over it, as boot.rst asks of a boot loader */
		if (n > BP_SETUP_HEADER_END - BP_SETUP_HEADER)
			n = BP_SETUP_HEADER_END - BP_SETUP_HEADER;
		memcpy(bp + BP_SETUP_HEADER, lb->setup_hdr, n);
		bp[BP_TYPE_OF_LOADER] = 0xff;
		gm_put_le32(bp + BP_CMD_LINE_PTR, (uint32_t)GM_BOOT_CMDLINE);
	}
	if (lb->initrd_size) {
		gm_put_le32(bp + BP_RAMDISK_IMAGE, (uint32_t)lb->initrd_addr);
		gm_put_le32(bp + BP_RAMDISK_SIZE, (uint32_t)lb->initrd_size);
		gm_put_le32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(lb->initrd_addr >> 32));
		gm_put_le32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(lb->initrd_size >> 32));
	}
	return 0;
}
