/*
 * tests/fuzz/fuzz_bzimage.c: the bzImage loader on arbitrary bytes: the
 * setup header parser, the payload decompressors (behind a header, and on
 * the raw input so every decoder sees every input), and the initrd's
 * placement.  Beyond "no crash, no sanitizer report" it checks what they
 * promise: a refusal is one bad-input line with nothing allocated, a
 * decompressed payload is exactly its trailer's size and within the cap, a
 * parsed header's ranges lie in the input, a placed initrd lies above the
 * kernel and below the limits.  The cap is small so bombs cost nothing.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/bzimage.h"
#include "util/le.h"

#define MIB (UINT64_C(1) << 20)
#define FUZZ_CAP (4 * MIB)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what, const struct gm_error *err)
{
	if (!ok) {
		fprintf(stderr, "fuzz_bzimage: broken promise: %s (msg: %s)\n", what, err->msg);
		abort();
	}
}

static void check_refusal(int rc, const struct gm_error *err)
{
	check(rc < 0, "negative errno on failure", err);
	check(err->status == GM_STATUS_BAD_INPUT || rc == -ENOMEM, "bad-input status", err);
	check(err->msg[0] != '\0' && !strchr(err->msg, '\n'), "one-line message", err);
}

static void decompressed(int rc, void *out, size_t len, const uint8_t *in, size_t n, const struct gm_error *err)
{
	if (rc) {
		check_refusal(rc, err);
		check(out == NULL, "nothing returned on failure", err);
		return;
	}
	check(out != NULL && n >= 8, "output", err);
	check(len == gm_le32(in + n - 4) && len <= FUZZ_CAP, "exactly the trailer's size, within the cap", err);
	/* an ELF inside, parsed as the loader would */
	struct gm_elf_image elf;
	struct gm_error e2 = { 0 };
	int r = gm_elf_parse(out, len, &elf, &e2);
	if (r)
		check_refusal(r, &e2);
	gm_decompress_free(out, len);
}

static void parse(const uint8_t *data, size_t size)
{
	struct gm_bzimage bz;
	struct gm_elf_image img;
	struct gm_error err = { 0 };
	void *out;
	size_t len;
	int rc = gm_bzimage_parse(data, size, &bz, &err);

	if (rc) {
		check_refusal(rc, &err);
		return;
	}
	check(bz.version >= 0x020c && (bz.xloadflags & 1), "2.12+ with a 64-bit entry", &err);
	check(bz.pm_offset < size && bz.pm_len <= size - bz.pm_offset, "code in the file", &err);
	check(bz.payload_offset <= size && bz.payload_len <= size - bz.payload_offset, "payload in the file", &err);
	check(bz.hdr_len <= GM_SETUP_HDR_MAX, "header fits boot_params", &err);
	check(bz.init_size >= bz.pm_len || bz.pm_len > UINT32_MAX, "init_size covers the code", &err);
	rc = gm_bzimage_unpack(data, size, &bz, FUZZ_CAP, &out, &len, &err);
	if (bz.format == GM_PAYLOAD_UNKNOWN) {
		check(rc == 0 && out == NULL, "unknown format: fallback", &err);
		gm_bzimage_fallback(&bz, &img);
		check(img.nseg == 1 && img.entry == img.seg[0].paddr + 0x200 && img.seg[0].paddr >= MIB,
		      "fallback entry", &err);
		return;
	}
	decompressed(rc, out, len, data + bz.payload_offset, bz.payload_len, &err);
}

static void place(const uint8_t *data, size_t size)
{
	struct gm_error err = { 0 };
	uint64_t ram, end, max, n, addr;
	int rc;

	if (size < 16)
		return;
	ram = (uint64_t)gm_le32(data) << 12;
	end = gm_le32(data + 4);
	max = gm_le32(data + 8);
	n = gm_le32(data + 12);
	rc = gm_initrd_place(ram, end, max, n, &addr, &err);
	if (rc) {
		check_refusal(rc, &err);
		return;
	}
	check(n > 0 && addr % 4096 == 0 && addr >= end, "page-aligned above the kernel", &err);
	check(addr + n <= ram && addr + n <= max + 1 && addr + n <= (UINT64_C(2) << 30), "below every limit", &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gm_error err = { 0 };
	void *out;
	size_t len;

	if (gm_bzimage_is(data, size)) {
		parse(data, size);
	} else if (gm_payload_detect(data, size) != GM_PAYLOAD_UNKNOWN) {
		int rc = gm_decompress(data, size, FUZZ_CAP, &out, &len, &err);
		decompressed(rc, out, len, data, size, &err);
	} else {
		parse(data, size);
		place(data, size);
	}
	return 0;
}
