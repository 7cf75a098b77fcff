/*
 * tests/integration/test_bzimage.c: `gmvm run` on a bzImage.  The hello
 * test guest is wrapped as a bzImage whose payload is its ELF compressed
 * (gzip, lz4 and zstd: what Debian and the kernel's defaults use), so the
 * host-side decompression, the setup header in boot_params and the initrd
 * are exercised on real KVM without a Linux kernel.  Each test checks the
 * guest's own output and gmvm's exit status, or the one line a refusal is.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/boot/bz_builder.h"
#include "harness.h"

#define HELLO "Hello from gmvm guest (entry=linux64)"

static void *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	void *buf;
	long n;

	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void spill(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
}

/* build/guests/hello.elf wrapped as a bzImage with its ELF in fmt (a scratch file, malloc'd path). */
static char *hello_bzimage(enum gm_payload_format fmt, bool corrupt)
{
	char *elf_path = guest_path("hello"), name[64], *out;
	size_t elen, plen, blen;
	void *elf = slurp(elf_path, &elen);
	uint8_t *p = bzb_compress(fmt, elf, elen, &plen), *img;

	if (corrupt)
		memset(p + plen / 2, 0xa5, 16);
	img = bzb_build(NULL, p, plen, &blen);
	snprintf(name, sizeof(name), "hello-%s%s.bzImage", gm_payload_name(fmt), corrupt ? "-corrupt" : "");
	out = test_scratch("bzimage", name);
	spill(out, img, blen);
	free(img);
	free(p);
	free(elf);
	free(elf_path);
	return out;
}

static void boot(const char *image, const char *want, const char *arg, const char *val)
{
	struct run_result r;

	require_kvm();
	run_gmvm(&r, 90, "run", "--memory", test_memory("size=256M"), "--trace-startup",
		 arg ? arg : image, arg ? val : NULL, arg ? image : NULL, NULL);
	expect_run(&r, 0, want);
	cr_assert(strstr(r.err, "gmvm: trace decompress kernel "), "no decompression in the trace:\n%s", r.err);
	run_result_free(&r);
}

Test(bzimage, hello_gzip, .timeout = 120)
{
	char *img = hello_bzimage(GM_PAYLOAD_GZIP, false);

	boot(img, HELLO, NULL, NULL);
	free(img);
}

Test(bzimage, hello_lz4, .timeout = 120)
{
	char *img = hello_bzimage(GM_PAYLOAD_LZ4, false);

	boot(img, HELLO, NULL, NULL);
	free(img);
}

Test(bzimage, hello_zstd_with_initrd, .timeout = 120)
{
	char *img = hello_bzimage(GM_PAYLOAD_ZSTD, false), *rd = test_scratch("bzimage", "initrd");

	spill(rd, "070701 a cpio archive stands here", 33);
	boot(img, HELLO, "--initrd", rd);
	free(rd);
	free(img);
}

Test(bzimage, corrupt_payload_is_one_line_exit_2, .timeout = 120)
{
	char *img = hello_bzimage(GM_PAYLOAD_GZIP, true);
	struct run_result r;

	require_kvm();
	run_gmvm(&r, 90, "run", "--memory", test_memory("size=256M"), img, NULL);
	/* which check a mangled stream trips (a bad block, or more output than
	 * the size trailer says) depends on the bytes: either is one line, exit 2 */
	expect_error_line(&r, 2, "the kernel's gzip payload ");
	cr_assert(strstr(r.err, img), "the message names the image:\n%s", r.err);
	run_result_free(&r);
	free(img);
}

Test(bzimage, empty_initrd_is_one_line_exit_2, .timeout = 120)
{
	char *img = hello_bzimage(GM_PAYLOAD_LZ4, false), *rd = test_scratch("bzimage", "empty-initrd");
	struct run_result r;

	spill(rd, "", 0);
	require_kvm();
	run_gmvm(&r, 90, "run", "--memory", test_memory("size=256M"), "--initrd", rd, img, NULL);
	expect_error_line(&r, 2, "empty-initrd: the initrd is empty (0 bytes)");
	run_result_free(&r);
	free(rd);
	free(img);
}
