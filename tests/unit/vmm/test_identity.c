/*
 * vmm/identity: a live update's new process adopts the identity lock the
 * old one hands over (the same open file, so the same flock) and writes
 * its own pid as the holder's note; anything else handed over, another
 * file or the lock file opened apart from its holder, is refused with a
 * line naming the lock's path.  GMVM_RUN_DIR points at a private directory.
 * No KVM.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/vmm.h"
#include "../fd_count.h"

static char run_dir[64];
static uint8_t uuid_a[16], uuid_b[16];
static char lock_a[128];

static void setup(void)
{
	struct gm_error err = { 0 };

	snprintf(run_dir, sizeof(run_dir), "/tmp/gmvm-identity-XXXXXX");
	cr_assert_not_null(mkdtemp(run_dir), "mkdtemp: %s", strerror(errno));
	cr_assert_eq(setenv("GMVM_RUN_DIR", run_dir, 1), 0);
	cr_assert_eq(gm_uuid_parse("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", uuid_a, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_uuid_parse("11111111-2222-4333-8444-555555555555", uuid_b, &err), 0, "%s", err.msg);
	snprintf(lock_a, sizeof(lock_a), "%s/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0.lock", run_dir);
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", run_dir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", run_dir);
	unsetenv("GMVM_RUN_DIR");
}

TestSuite(identity, .init = setup, .fini = teardown, .timeout = 30);

static int held_lock(const uint8_t uuid[16])
{
	struct gm_error err = { 0 };
	int fd = -1;

	cr_assert_eq(gm_identity_lock(uuid, &fd, &err), 0, "%s", err.msg);
	cr_assert_geq(fd, 0);
	return fd;
}

/* The holder's note in the lock file, without its newline. */
static void note_of(const char *path, char *out, size_t len)
{
	FILE *f = fopen(path, "r");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_not_null(fgets(out, (int)len, f), "empty note in %s", path);
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

/* Adopting handed as uuid's lock is refused with EPERM and a line naming want_path. */
static void expect_refused(const uint8_t uuid[16], int handed, const char *want_path)
{
	struct gm_error err = { 0 };
	int before = test_open_fds(), fd = -1;

	cr_assert_eq(gm_identity_adopt(uuid, handed, &fd, &err), -EPERM, "adopted: %s", err.msg);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert_not_null(strstr(err.msg, want_path), "'%s' not in: %s", want_path, err.msg);
	cr_assert_not_null(strstr(err.msg, "GMVM_RUN_DIR"), "no remedy in: %s", err.msg);
	cr_assert_null(strchr(err.msg, '\n'));
	cr_assert_eq(test_open_fds(), before, "a refusal left an fd open");
}

Test(identity, the_handed_lock_is_adopted_and_its_note_rewritten)
{
	struct gm_error err = { 0 };
	int before = test_open_fds();
	int handed = held_lock(uuid_a), fd = -1, other = -1;
	char note[32], pid[32];

	/* as if the old process, another pid, had written the note */
	cr_assert_eq(pwrite(handed, "999999\n", 7, 0), 7);
	cr_assert_eq(gm_identity_adopt(uuid_a, handed, &fd, &err), 0, "%s", err.msg);
	cr_assert_geq(fd, 0);
	cr_assert_neq(fd, handed, "the adopted fd is the handed one, which the caller closes");
	cr_assert_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC, "the adopted lock would leak into children");
	note_of(lock_a, note, sizeof(note));
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	cr_assert_str_eq(note, pid, "the holder's note is not ours");
	/* the old process goes (its fd closes): the lock stays held by the adopted fd */
	close(handed);
	cr_assert_eq(gm_identity_lock(uuid_a, &other, &err), -EBUSY, "the identity was free after the handover");
	cr_assert_not_null(strstr(err.msg, pid), "the second claimant is not told our pid: %s", err.msg);
	/* and goes with it */
	gm_identity_unlock(uuid_a, fd);
	other = held_lock(uuid_a);
	gm_identity_unlock(uuid_a, other);
	cr_assert_eq(test_open_fds(), before, "fds leaked");
}

Test(identity, another_file_is_refused)
{
	char path[128];
	int held = held_lock(uuid_a), fd;

	snprintf(path, sizeof(path), "%s/not-a-lock", run_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	expect_refused(uuid_a, fd, lock_a);
	close(fd);
	gm_identity_unlock(uuid_a, held);
}

Test(identity, another_identitys_lock_is_refused)
{
	char lock_b[128];
	int fd = held_lock(uuid_a);

	/* the old process's lock, but this process was told another uuid */
	snprintf(lock_b, sizeof(lock_b), "%s/11111111-2222-4333-8444-555555555555.lock", run_dir);
	expect_refused(uuid_b, fd, lock_b);
	gm_identity_unlock(uuid_a, fd);
}

Test(identity, the_lock_file_opened_apart_from_its_holder_is_refused)
{
	int held = held_lock(uuid_a);
	int fd = open(lock_a, O_RDWR | O_CLOEXEC);
	char note[32], pid[32];

	/* the right file, but not the open file that holds the flock */
	cr_assert_geq(fd, 0);
	expect_refused(uuid_a, fd, lock_a);
	close(fd);
	/* and the holder keeps it, its note untouched */
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	note_of(lock_a, note, sizeof(note));
	cr_assert_str_eq(note, pid);
	gm_identity_unlock(uuid_a, held);
}

Test(identity, no_fd_is_refused)
{
	expect_refused(uuid_a, -1, lock_a);
}

Test(identity, a_lock_under_another_run_dir_is_refused)
{
	char other_dir[80];
	int fd;

	/* the old process ran with another GMVM_RUN_DIR */
	snprintf(other_dir, sizeof(other_dir), "%s/other", run_dir);
	cr_assert_eq(setenv("GMVM_RUN_DIR", other_dir, 1), 0);
	fd = held_lock(uuid_a);
	cr_assert_eq(setenv("GMVM_RUN_DIR", run_dir, 1), 0);
	/* here, the file is another (or none at all) */
	expect_refused(uuid_a, fd, lock_a);
	close(open(lock_a, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
	expect_refused(uuid_a, fd, lock_a);
	gm_identity_unlock(uuid_a, fd);
}
