/*
 * tests/fuzz/fuzz_elf.c: the ELF loader on arbitrary bytes.  Beyond "no
 * crash, no sanitizer report" it checks what gm_elf_parse promises about an
 * image it accepts, and that every refusal is a one-line bad-input message,
 * then loads accepted images into a small real guest memory so a segment
 * that strays outside the input would be caught by ASan.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/elf.h"

#define MIB (UINT64_C(1) << 20)
#define FUZZ_RAM (4 * MIB) /* small: the loader zeroes up to all of it */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what, const struct gm_error *err)
{
	if (!ok) {
		fprintf(stderr, "fuzz_elf: broken promise: %s (msg: %s)\n", what, err->msg);
		abort();
	}
}

static void check_refusal(int rc, const struct gm_error *err)
{
	check(rc < 0, "negative errno on failure", err);
	check(err->status == GM_STATUS_BAD_INPUT, "bad-input status", err);
	check(err->msg[0] != '\0' && !strchr(err->msg, '\n'), "one-line message", err);
}

static void check_image(const struct gm_elf_image *img, size_t size, const struct gm_error *err)
{
	check(img->nseg >= 1 && img->nseg <= GM_ELF_MAX_SEGMENTS, "1..16 segments", err);
	for (unsigned i = 0; i < img->nseg; i++) {
		const struct gm_elf_segment *s = &img->seg[i];

		check(s->memsz > 0 && s->filesz <= s->memsz, "filesz <= memsz", err);
		check(s->offset <= size && s->filesz <= size - s->offset, "bytes in file", err);
		check(s->paddr >= GM_ELF_MIN_PADDR, "at or above 1 MiB", err);
		check(s->memsz <= UINT64_MAX - s->paddr, "no wrap", err);
		check(i == 0 || img->seg[i - 1].paddr + img->seg[i - 1].memsz <= s->paddr,
		      "sorted, no overlap", err);
	}
	check(img->lowest == img->seg[0].paddr, "lowest", err);
	check(img->highest == img->seg[img->nseg - 1].paddr + img->seg[img->nseg - 1].memsz,
	      "highest", err);
	check(!img->has_pvh || img->pvh_entry <= UINT32_MAX, "PVH entry below 4 GiB", err);
}

/*
 * One guest memory for the whole run: creating it per input would be most
 * of the fuzzer's time.  NULL (and loading skipped) if it cannot be made.
 */
static struct gm_memory *fuzz_memory(void)
{
	static struct gm_memory *mem;
	static bool tried;

	if (!tried) {
		struct gm_mem_config cfg = {
			.size = FUZZ_RAM, .backend = GM_BACKEND_ANON, .page_size = GM_PAGE_4K,
			.numa_node = -1, .bind = GM_BIND_MAPPED,
		};
		struct gm_caps caps = { .numa_nodes = 1, .numa_node_mask = 1 };
		struct gm_error err = { 0 };

		tried = true;
		if (gm_memory_create(&cfg, &caps, -1, &mem, &err) < 0)
			fprintf(stderr, "fuzz_elf: no guest memory, loading not fuzzed: %s\n", err.msg);
	}
	return mem;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t rams[] = { FUZZ_RAM, 256 * MIB, UINT64_C(3) << 30, UINT64_C(6) << 30 };
	static const enum gm_entry wants[] = { GM_ENTRY_AUTO, GM_ENTRY_LINUX64, GM_ENTRY_PVH };
	struct gm_elf_image img;
	struct gm_error err = { 0 };
	struct gm_memory *mem;
	int rc = gm_elf_parse(data, size, &img, &err);

	if (rc) {
		check_refusal(rc, &err);
		return 0;
	}
	check(err.msg[0] == '\0', "no message on success", &err);
	check_image(&img, size, &err);
	for (unsigned i = 0; i < sizeof(rams) / sizeof(rams[0]); i++) {
		gm_error_clear(&err);
		rc = gm_elf_check_placement(&img, rams[i], &err);
		if (rc)
			check_refusal(rc, &err);
		else
			check(img.highest <= (rams[i] <= (UINT64_C(3) << 30) ? rams[i] :
					      rams[i] + (UINT64_C(1) << 30)), "fits the RAM", &err);
	}
	for (unsigned i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
		enum gm_entry mode;
		uint64_t addr;

		gm_error_clear(&err);
		rc = gm_elf_choose_entry(&img, wants[i], &mode, &addr, &err);
		if (rc) {
			check_refusal(rc, &err);
			continue;
		}
		check(mode == GM_ENTRY_LINUX64 || mode == GM_ENTRY_PVH, "a concrete mode", &err);
		check(mode != GM_ENTRY_LINUX64 || (img.is64 && addr == img.entry), "linux64", &err);
		check(mode != GM_ENTRY_PVH || (img.has_pvh && addr == img.pvh_entry), "pvh", &err);
	}
	gm_error_clear(&err);
	mem = fuzz_memory();
	if (mem && gm_elf_check_placement(&img, FUZZ_RAM, &err) == 0) {
		rc = gm_elf_load(data, size, &img, mem, &err);
		check(rc == 0, "placed image loads", &err);
	}
	return 0;
}
