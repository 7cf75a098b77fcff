/*
 * virtio devices on real KVM through the gmvm binary, driven by the test
 * guests' own virtio driver (guests/rt/virtio.c): virtio-blk's request
 * types and checks against the disk file afterwards, read-only and
 * O_DIRECT disks, refused disks, virtio-rng, virtio-console, and bad
 * chains on purpose (gmvm marks the device broken and runs on).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "virtio_disk.h"

#define MEM "size=64M"

static void vblk_run(struct run_result *r, const char *disk_spec, const char *cmdline)
{
	run_guest(r, 300, "vblk", "--memory", test_memory(MEM), "--disk", disk_spec, "--cmdline", cmdline, NULL);
}

Test(virtio, blk_every_request_type, .timeout = 600)
{
	char *disk = test_scratch("virtio", "types.img");
	struct run_result r;

	disk_make(disk, 1024 * 512);
	vblk_run(&r, disk, "vblk.mode=types vblk.seed=5 vblk.start=16 vblk.count=200 vblk.req=8 vblk.depth=8");
	expect_run(&r, 0, "vblk ok");
	cr_assert(strstr(r.out, "vblk: id=gmvm-vda\n"), "%s", r.out);
	cr_assert(strstr(r.out, "type 99 -> UNSUPP"), "%s", r.out);
	cr_assert(strstr(r.out, "past the end -> IOERR"), "%s", r.out);
	cr_assert(strstr(r.out, "flush ok"), "%s", r.out);
	disk_expect(disk, &r, 5, 16, 200);
	disk_expect_zero(disk, 0, 16);
	disk_expect_zero(disk, 216, 1024 - 216);
	run_result_free(&r);
	free(disk);
}

Test(virtio, blk_random_order_survives_into_a_second_run, .timeout = 600)
{
	char *disk = test_scratch("virtio", "random.img");
	struct run_result r;

	disk_make(disk, 2048 * 512);
	vblk_run(&r, disk, "vblk.seed=9 vblk.count=2048 vblk.req=16 vblk.depth=16 vblk.order=random");
	expect_run(&r, 0, "vblk ok");
	disk_expect(disk, &r, 9, 0, 2048);
	run_result_free(&r);
	/* a new gmvm over the same file reads what the first one wrote */
	vblk_run(&r, disk, "vblk.mode=verify vblk.seed=9 vblk.count=2048 vblk.req=64");
	expect_run(&r, 0, "vblk ok");
	run_result_free(&r);
	free(disk);
}

Test(virtio, blk_second_disk, .timeout = 600)
{
	char *a = test_scratch("virtio", "a.img"), *b = test_scratch("virtio", "b.img");
	struct run_result r;

	disk_make(a, 64 * 512);
	disk_make(b, 128 * 512);
	run_guest(&r, 300, "vblk", "--memory", test_memory(MEM), "--disk", a, "--disk", b, "--cmdline",
		  "vblk.disk=1 vblk.mode=types vblk.seed=3 vblk.count=128", NULL);
	expect_run(&r, 0, "vblk ok");
	cr_assert(strstr(r.out, "vblk: id=gmvm-vdb\n"), "%s", r.out);
	disk_expect(b, &r, 3, 0, 128);
	disk_expect_zero(a, 0, 64);
	run_result_free(&r);
	free(a);
	free(b);
}

Test(virtio, blk_readonly_refuses_writes, .timeout = 300)
{
	char *disk = test_scratch("virtio", "ro.img"), spec[4200];
	struct run_result r;

	disk_make(disk, 64 * 512);
	snprintf(spec, sizeof(spec), "path=%s,readonly=on", disk);
	vblk_run(&r, spec, "vblk.mode=ro vblk.count=64");
	expect_run(&r, 0, "vblk: readonly ok");
	disk_expect_zero(disk, 0, 64);
	run_result_free(&r);
	chmod(disk, 0400);
	/* a file only readable: fine read-only; for writing, refused with the fix */
	if (geteuid() != 0) {
		vblk_run(&r, spec, "vblk.mode=ro vblk.count=64");
		expect_run(&r, 0, "vblk ok");
		run_result_free(&r);
		vblk_run(&r, disk, "vblk.count=8");
		expect_error_line(&r, 2, "readonly=on");
		run_result_free(&r);
	}
	free(disk);
}

Test(virtio, blk_direct, .timeout = 300)
{
	const char *where = getenv("GMVM_TEST_DIRECT_DIR");
	char *disk, spec[4200];
	struct run_result r;

	if (where) {
		disk = malloc(strlen(where) + 32);
		sprintf(disk, "%s/gmvm-direct-%d.img", where, (int)getpid());
	} else {
		disk = test_scratch("virtio", "direct.img");
	}
	disk_make(disk, 256 * 512);
	snprintf(spec, sizeof(spec), "path=%s,direct=on", disk);
	vblk_run(&r, spec, "vblk.seed=11 vblk.count=256");
	if (r.status == 2 && strstr(r.err, "direct=on")) {
		unlink(disk);
		cr_skip_test("no O_DIRECT where the disk is (%s); set GMVM_TEST_DIRECT_DIR to a disk file system",
			     where ? where : "the scratch directory");
	}
	expect_run(&r, 0, "vblk ok");
	disk_expect(disk, &r, 11, 0, 256);
	run_result_free(&r);
	unlink(disk);
	free(disk);
}

Test(virtio, blk_bad_disks_exit_2_with_one_line, .timeout = 300)
{
	char *odd = test_scratch("virtio", "odd.img"), *dir = test_scratch("virtio", "adir");
	char *missing = test_scratch("virtio", "missing.img");
	struct run_result r;

	disk_make(odd, 1000);
	cr_assert_eq(mkdir(dir, 0700), 0);
	vblk_run(&r, odd, "vblk.count=1");
	expect_error_line(&r, 2, "not a multiple of 512");
	run_result_free(&r);
	vblk_run(&r, dir, "vblk.count=1");
	expect_error_line(&r, 2, "a directory");
	run_result_free(&r);
	vblk_run(&r, missing, "vblk.count=1");
	expect_error_line(&r, 2, "cannot open");
	run_result_free(&r);
	free(odd);
	free(dir);
	free(missing);
}

Test(virtio, rng, .timeout = 300)
{
	struct run_result r;

	run_guest(&r, 300, "vrng", "--memory", test_memory(MEM), "--device", "virtio-rng", "--cmdline", "vrng.bytes=256", NULL);
	expect_run(&r, 0, "vrng ok");
	run_result_free(&r);
}

Test(virtio, console, .timeout = 300)
{
	struct run_result r;

	run_guest(&r, 300, "vcon", "--memory", test_memory(MEM), "--device", "virtio-console", NULL);
	expect_run(&r, 0, "vcon ok");
	cr_assert(strstr(r.out, "vcon: hello through virtio-console\n"), "%s", r.out);
	run_result_free(&r);
}

/* Every bad chain: the device says NEEDS_RESET, guest memory is intact, a reset revives it, gmvm exits as the guest. */
static const char *const hostile_modes[] = { "oob", "loop", "long", "nextoob", "indirect", "order", "avail", "short" };

ParameterizedTestParameters(virtio, hostile)
{
	static unsigned idx[sizeof(hostile_modes) / sizeof(hostile_modes[0])];

	for (unsigned i = 0; i < sizeof(idx) / sizeof(idx[0]); i++)
		idx[i] = i;
	return cr_make_param_array(unsigned, idx, sizeof(idx) / sizeof(idx[0]));
}

ParameterizedTest(unsigned *which, virtio, hostile, .timeout = 300)
{
	const char *const *mode = &hostile_modes[*which];
	char *disk = test_scratch("virtio", "hostile.img"), cmd[64];
	struct run_result r;

	disk_make(disk, 64 * 512);
	snprintf(cmd, sizeof(cmd), "vhostile.mode=%s", *mode);
	run_guest(&r, 300, "vhostile", "--memory", test_memory(MEM), "--disk", disk, "--cmdline", cmd, NULL);
	expect_run(&r, 0, "vhostile ok");
	char want[64];
	snprintf(want, sizeof(want), "vhostile: %s status=0x", *mode);
	cr_assert(strstr(r.out, want), "%s", r.out);
	cr_assert(strstr(r.out, "after reset id=gmvm-vda"), "%s", r.out);
	disk_expect_zero(disk, 0, 64);
	run_result_free(&r);
	free(disk);
}
