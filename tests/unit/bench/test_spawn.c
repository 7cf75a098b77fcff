/*
 * bench/spawn on real processes: exit status, captured output, wall time,
 * and peak RSS read at exit (not inflated by the bench's own memory).
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/mman.h>

#include "spawn.h"

static struct spawn_result run(char *const argv[], uint64_t guest_bytes)
{
	struct spawn_result r;
	char err[256];

	cr_assert_eq(spawn_run(argv, guest_bytes, &r, err, sizeof(err)), 0, "spawn_run: %s", err);
	return r;
}

Test(spawn, host_touch_reports_its_memory_and_output)
{
	char *argv[] = { HOST_TOUCH, "--size", "64M", NULL };
	struct spawn_result r = run(argv, 0);

	cr_assert_eq(r.status, 0, "output: %s", r.output);
	cr_assert_geq(r.hwm_kib, 64 * 1024, "peak RSS %lu KiB, expected at least 64 MiB", (unsigned long)r.hwm_kib);
	cr_assert_not_null(strstr(r.output, "memtest: start pages=16384\n"), "output: %s", r.output);
	cr_assert_not_null(strstr(r.output, "memtest: ok pages=16384 checksum=0x"), "output: %s", r.output);
	cr_assert_gt(r.wall_ns, 0);
	spawn_result_free(&r);
}

Test(spawn, exit_status_and_stderr_are_kept)
{
	char *argv[] = { "sh", "-c", "echo out; echo err >&2; exit 3", NULL };
	struct spawn_result r = run(argv, 0);

	cr_assert_eq(r.status, 3);
	cr_assert_str_eq(r.output, "out\nerr\n");
	spawn_result_free(&r);
}

Test(spawn, a_missing_program_exits_127_and_says_so)
{
	char *argv[] = { "/nonexistent/gmvm-bench-test", NULL };
	struct spawn_result r = run(argv, 0);

	cr_assert_eq(r.status, 127);
	cr_assert_not_null(strstr(r.output, "cannot run /nonexistent/gmvm-bench-test"), "output: %s", r.output);
	spawn_result_free(&r);
}

Test(spawn, a_signal_death_is_128_plus_the_signal)
{
	char *argv[] = { "sh", "-c", "kill -TERM $$", NULL };
	struct spawn_result r = run(argv, 0);

	cr_assert_eq(r.status, 128 + 15);
	spawn_result_free(&r);
}

Test(spawn, wall_time_covers_the_run)
{
	char *argv[] = { "sleep", "0.1", NULL };
	struct spawn_result r = run(argv, 0);

	cr_assert_eq(r.status, 0);
	cr_assert_geq(r.wall_ns, 100000000u);
	cr_assert_lt(r.wall_ns, 2000000000u);
	spawn_result_free(&r);
}

/* wait4's ru_maxrss would count the forked child's copy of these pages */
Test(spawn, peak_rss_is_the_commands_own)
{
	size_t len = 256u << 20;
	char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *argv[] = { "true", NULL };

	cr_assert_neq(mem, MAP_FAILED);
	memset(mem, 1, len);
	struct spawn_result r = run(argv, 0);

	cr_assert_eq(r.status, 0);
	cr_assert_gt(r.hwm_kib, 0);
	cr_assert_lt(r.hwm_kib, 64 * 1024, "peak RSS of true: %lu KiB", (unsigned long)r.hwm_kib);
	spawn_result_free(&r);
	munmap(mem, len);
}

Test(spawn, guest_rss_counts_only_shared_mappings_of_the_guest_size)
{
	const char *smaps = "7f0000000000-7f0040000000 rw-s 00000000 00:0f 1234 anon_inode:[kvm-gmem]\n"
			    "Size:            1048576 kB\n"
			    "Rss:                1024 kB\n"
			    "AnonHugePages:         0 kB\n"
			    "7f0040000000-7f0080000000 rw-p 00000000 00:00 0\n"
			    "Size:            1048576 kB\n"
			    "Rss:              524288 kB\n"
			    "7f0080000000-7f0080200000 rw-s 00000000 00:01 99 /memfd:other (deleted)\n"
			    "Rss:                2048 kB\n";
	int vmas = -1;

	cr_assert_eq(spawn_smaps_guest_rss(smaps, UINT64_C(1) << 30, &vmas), 1024);
	cr_assert_eq(vmas, 1);
	cr_assert_eq(spawn_smaps_guest_rss(smaps, 0, &vmas), 0);
	cr_assert_eq(vmas, 0);
}
