/*
 * A vblk guest in the middle of disk I/O (loop mode: write, flush, read
 * back and check, round after round) through a snapshot and restore, a
 * live migration over a unix socket, and a live update: its checks pass
 * after each, it never starts over, and the disk file holds the last
 * round's pattern with the checksum the guest printed.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "harness.h"
#include "procs.h"
#include "virtio_disk.h"

#define SECTORS 512
/* long enough to be moved in the middle, on a fast host or under TCG on a loaded one (20 s ended
 * once before the live update began: the first round alone had taken most of it) */
#define LOOP "vblk.mode=loop vblk.seed=100 vblk.seconds=45 vblk.min-rounds=6 vblk.count=512 vblk.req=8 vblk.depth=8"
#define MID "vblk: round 1 ok"

static struct vm_files f;
static char disk[192], console2[160], err2[160], out2[160];
static pid_t pid, pid2;

static void setup(void)
{
	vm_files_make(&f, "gmvm-vmove");
	snprintf(disk, sizeof(disk), "%s/disk.img", f.dir);
	snprintf(console2, sizeof(console2), "%s/console2", f.dir);
	snprintf(err2, sizeof(err2), "%s/err2", f.dir);
	snprintf(out2, sizeof(out2), "%s/out2", f.dir);
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	pid = pid2 = 0;
}

static void teardown(void)
{
	kill_reap(&pid);
	kill_reap(&pid2);
	vm_files_remove(&f);
}

static void dump(void)
{
	char *e = slurp(f.err), *c = slurp(f.console), *e2 = slurp(err2), *c2 = slurp(console2);

	fprintf(stderr, "---- stderr\n%s\n---- console\n%s\n---- stderr 2\n%s\n---- console 2\n%s\n", e, c, e2, c2);
	free(e);
	free(c);
	free(e2);
	free(c2);
}

/* The guest in loop mode with its API on f.sock, once it finished a round. */
static void start_guest(void)
{
	char con[160];
	char *elf = guest_path("vblk");

	require_kvm();
	disk_make(disk, SECTORS * 512);
	snprintf(con, sizeof(con), "file:%s", f.console);
	const char *argv[] = { gmvm_bin(), "run", "--api-sock", f.sock, "--console", con, "--memory", test_memory("size=64M"),
			       "--disk", disk, "--cmdline", LOOP, elf, NULL };
	pid = spawn(argv, f.out, f.err);
	if (!wait_file_has(f.console, MID, 300)) {
		dump();
		cr_assert_fail("the guest did not get through a round of disk I/O");
	}
	free(elf);
}

static struct answer put(const char *endpoint, const char *body)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/answer.json", f.dir);
	return api_put(f.sock, endpoint, body, path, dump);
}

static void expect_200(struct answer a, const char *what)
{
	if (a.http != 200)
		dump();
	cr_assert_eq(a.http, 200, "%s: %s", what, a.body ? json_dumps(a.body, 0) : "(no body)");
	json_decref(a.body);
}

/* Wait for the guest of p to end with 0 after all its rounds, then check the disk against the console. */
static void expect_finished(pid_t *p, const char *console)
{
	int st = wait_exit(*p, 900);

	if (st != 0)
		dump();
	cr_assert_eq(st, 0, "the exit status of gmvm (the guest's)");
	*p = 0;
	char *c = slurp(console);
	cr_assert(strstr(c, "vblk ok"), "the guest's checks did not pass:\n%s", c);
	cr_assert(strstr(c, "vblk: round "), "no disk I/O after the move:\n%s", c);
	const char *s = strstr(c, " seed=");
	cr_assert_not_null(s, "%s", c);
	disk_expect_text(disk, c, strtoull(s + 6, NULL, 10), 0, SECTORS);
	free(c);
}

Test(virtio_move, snapshot_and_restore_mid_io, .init = setup, .fini = teardown, .timeout = 1200)
{
	char body[256], snap[128];

	start_guest();
	snprintf(snap, sizeof(snap), "%s/snap", f.dir);
	/* paused: the disk keeps what the snapshot's guest has seen */
	expect_200(put("vm.pause", NULL), "pause");
	snprintf(body, sizeof(body), "{\"destination_url\":\"file://%s\"}", snap);
	expect_200(put("vm.snapshot", body), "snapshot");
	kill_reap(&pid);

	char con[200];
	snprintf(con, sizeof(con), "file:%s", console2);
	const char *argv[] = { gmvm_bin(), "run", "--restore", snap, "--console", con, NULL };
	pid2 = spawn(argv, out2, err2);
	expect_finished(&pid2, console2);
	char *c = slurp(console2);
	cr_expect_null(strstr(c, "vblk: disk of"), "the restored guest started over:\n%s", c);
	free(c);
}

Test(virtio_move, migration_mid_io, .init = setup, .fini = teardown, .timeout = 1200)
{
	char url[160], con[200], body[256];

	start_guest();
	snprintf(url, sizeof(url), "unix:%s/mig.sock", f.dir);
	snprintf(con, sizeof(con), "file:%s", console2);
	const char *argv[] = { gmvm_bin(), "run", "--incoming", url, "--console", con, NULL };
	pid2 = spawn(argv, out2, err2);
	for (int i = 0; i < 500 && access(url + 5, F_OK) != 0; i++)
		cr_assert_eq(wait_exit(pid2, 0.02), -1, "the destination ended early:\n%s", slurp(err2));
	snprintf(body, sizeof(body), "{\"destination_url\":\"%s\"}", url);
	expect_200(put("vm.send-migration", body), "migration");
	int st = wait_exit(pid, 120);
	cr_assert_eq(st, 0, "the source's exit status after the migration");
	pid = 0;
	expect_finished(&pid2, console2);
	char *c = slurp(console2);
	cr_expect_null(strstr(c, "vblk: disk of"), "the guest started over on the destination:\n%s", c);
	free(c);
}

Test(virtio_move, live_update_mid_io, .init = setup, .fini = teardown, .timeout = 1200)
{
	start_guest();
	char path[160];
	snprintf(path, sizeof(path), "%s/answer.json", f.dir);
	struct answer a = api_put(f.sock, "vmm.live-update", "{}", path, dump);
	if (a.http != 200)
		dump();
	cr_assert_eq(a.http, 200, "update: %s", a.body ? json_dumps(a.body, 0) : "(no body)");
	pid_t newpid = (pid_t)json_integer_value(json_object_get(a.body, "pid"));
	json_decref(a.body);
	cr_assert_gt(newpid, 0);
	cr_assert_eq(wait_exit(pid, 120), 0, "the old process's exit status after the update");
	pid = 0;
	/* the new process was the old one's child: ours now (subreaper) */
	pid2 = newpid;
	expect_finished(&pid2, f.console);
	char *c = slurp(f.console);
	cr_expect_eq(count_substr(c, "vblk: disk of"), 1, "the guest started over:\n%s", c);
	free(c);
}
