/*
 * vmm/identity: a VM identity has one owner on a host at a time.  The
 * machine holds an flock on RUN_DIR/UUID.lock for its whole life, so a
 * restore of a VM that still runs (or a second restore of the same
 * snapshot) is refused instead of two VMs claiming the same memory
 * identity.  The lock dies with the process, so a crash never leaves a
 * stale claim.  The file itself stays: removing it would race a newcomer.
 *
 * RUN_DIR is $GMVM_RUN_DIR when set, /run/gmvm for root, else /tmp/gmvm-UID.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/vmm.h"

static void run_dir(char *out, size_t n)
{
	const char *env = getenv("GMVM_RUN_DIR");

	if (env && *env)
		snprintf(out, n, "%s", env);
	else if (geteuid() == 0)
		snprintf(out, n, "/run/gmvm");
	else
		snprintf(out, n, "/tmp/gmvm-%u", (unsigned)geteuid());
}

int gm_identity_lock(const uint8_t uuid[16], int *fd, struct gm_error *err)
{
	char dir[256], path[320], id[37], owner[32] = "";

	run_dir(dir, sizeof(dir));
	gm_uuid_format(uuid, id);
	snprintf(path, sizeof(path), "%s/%s.lock", dir, id);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot create %s for the VM identity lock: %s; set GMVM_RUN_DIR to a writable directory",
			       dir, strerror(errno));
	int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot open the VM identity lock %s: %s; set GMVM_RUN_DIR to a writable directory",
			       path, strerror(errno));
	if (flock(f, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		ssize_t n = pread(f, owner, sizeof(owner) - 1, 0);
		owner[n > 0 ? n : 0] = '\0';
		owner[strcspn(owner, "\n")] = '\0';
		close(f);
		if (e == EWOULDBLOCK)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EBUSY,
				       "a VM with identity %s already runs on this host (gmvm pid %s); stop it, or restore with --new-identity to make a clone",
				       id, owner[0] ? owner : "unknown");
		return gm_fail(err, GM_STATUS_FAILURE, e, "cannot lock %s: %s", path, strerror(e));
	}
	/* who holds it, for the message a second claimant gets */
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(f, 0) < 0 || pwrite(f, pid, (size_t)len, 0) != len) {
		/* the lock holds without the note */
	}
	*fd = f;
	return 0;
}

int gm_identity_lock_wait(const uint8_t uuid[16], int *fd, unsigned wait_ms, struct gm_error *err)
{
	for (unsigned waited = 0;; waited += 10) {
		struct gm_error e = { 0 };
		int r = gm_identity_lock(uuid, fd, &e);

		if (r != -EBUSY || waited >= wait_ms) {
			if (r && err)
				*err = e;
			return r;
		}
		usleep(10000);
	}
}

int gm_identity_adopt(const uint8_t uuid[16], int handed_fd, int *fd, struct gm_error *err)
{
	char dir[256], path[320], id[37], pid[32];
	struct stat mine, theirs;

	run_dir(dir, sizeof(dir));
	gm_uuid_format(uuid, id);
	snprintf(path, sizeof(path), "%s/%s.lock", dir, id);
	/* the same file as this VM's lock at this host's path, and held through
	 * the handed open file: the flock belongs to the open file, which the
	 * old process shares with us.  A lock nobody holds would be a claim
	 * made here, not one handed over: another open of the file must fail. */
	int probe = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	bool held = probe >= 0 && flock(probe, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;

	if (probe >= 0)
		close(probe);
	if (handed_fd < 0 || !held || fstat(handed_fd, &theirs) < 0 || stat(path, &mine) < 0 ||
	    mine.st_dev != theirs.st_dev || mine.st_ino != theirs.st_ino || flock(handed_fd, LOCK_EX | LOCK_NB) < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EPERM,
			       "the identity lock handed over is not %s, held; the old gmvm must run with the same GMVM_RUN_DIR as the new one",
			       path);
	*fd = fcntl(handed_fd, F_DUPFD_CLOEXEC, 0);
	if (*fd < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot keep the identity lock handed over: %s; raise ulimit -n",
			       strerror(errno));
	/* who holds it now, for the message a second claimant gets */
	int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(*fd, 0) < 0 || pwrite(*fd, pid, (size_t)len, 0) != len) {
		/* the lock holds without the note */
	}
	return 0;
}

void gm_identity_unlock(const uint8_t uuid[16], int fd)
{
	(void)uuid;
	if (fd >= 0)
		close(fd);
}
