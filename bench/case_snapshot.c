/*
 * bench/case_snapshot: case 7 (`--case snapshot`), a running guest saved
 * to files and started again from them: gmvm's vm.snapshot and
 * `gmvm run --restore` in each restore mode, next to QEMU 7.2 migrating to
 * a file and starting with -incoming from it.  Like the API cases it talks
 * to the VMMs while they run, so it has its own run function.  This file
 * builds the case, makes and removes each run's files and picks the side;
 * snapshot_gmvm.c and snapshot_qemu.c hold each VMM's save and restore.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "snapshot.h"

#define GUEST_SPARE_MIB 24	/* of the guest's RAM left to its own image, stacks and tables */
/* for 1 GiB and timeout_scale 1; set_timeouts scales them */
#define BOOT_TIMEOUT_MS 180000	/* boot, 1000 MiB written, then a whole round */
#define SAVE_TIMEOUT_MS 180000
#define RESTORE_TIMEOUT_MS 60000	/* until the restored guest runs */
#define CARRY_ON_TIMEOUT_MS 180000	/* until its next round line; ondemand loads what it touches */
#define END_TIMEOUT_MS 10000
#define FREE_NEEDED_FACTOR 2.0	/* one side's files (about the guest's RAM) at a time, with room to spare */

enum { R7_SAVE, R7_RESTORE_COPY, R7_RESTORE_MAP, R7_RESTORE_ONDEMAND, R7_DISK };

static const char *const modes[] = { [S7_COPY] = "copy", [S7_MAP] = "map", [S7_ONDEMAND] = "ondemand" };

/* The case's own state: bench_case.priv is case 3's. */
static char base_dir[PATH_MAX - 64];	/* each run's files go to a new directory in here */
static char about[8192];
static struct snap_guest guest;

/* ---- checks made when the case is built ---- */


/* restore-mode=ondemand needs a userfaultfd that sees KVM's faults, as gmvm opens it. */
static bool userfaultfd_denied(char *why, size_t len)
{
#ifdef SYS_userfaultfd
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd >= 0) {
		close(fd);
		return false;
	}
	if (errno == EPERM)
		snprintf(why, len, "userfaultfd for kernel faults is denied to this user "
			 "(vm.unprivileged_userfaultfd=0); run as root, or set vm.unprivileged_userfaultfd=1");
	else
		snprintf(why, len, "no userfaultfd on this kernel (%s)", strerror(errno));
#else
	snprintf(why, len, "this build has no userfaultfd system call number");
#endif
	return true;
}

static const char *fs_name(const char *path)
{
	static char other[48];
	struct statfs sf;

	if (statfs(path, &sf) < 0)
		return "file system unknown";
	switch ((unsigned long)sf.f_type) {
	case 0x01021994: return "tmpfs: RAM, not a disk";
	case 0xef53: return "ext2/3/4";
	case 0x58465342: return "xfs";
	case 0x9123683e: return "btrfs";
	case 0x794c7630: return "overlayfs";
	case 0x2fc12fc1: return "zfs";
	case 0xf2f52010: return "f2fs";
	}
	snprintf(other, sizeof(other), "file system magic 0x%lx", (unsigned long)sf.f_type);
	return other;
}

/* $TMPDIR, else /var/tmp (a disk on most systems, where /tmp may be RAM), else /tmp. */
static void choose_base(struct bench_case *c)
{
	const char *tmp = getenv("TMPDIR");
	const char *base = tmp && *tmp ? tmp : "/var/tmp";
	struct statvfs sv;
	struct stat st;
	double free_gib;

	if (!(tmp && *tmp) && (stat(base, &st) < 0 || !S_ISDIR(st.st_mode)))
		base = "/tmp";
	char real[PATH_MAX];
	const char *chosen = realpath(base, real) ? real : base;

	snprintf(base_dir, sizeof(base_dir), "%.*s", (int)sizeof(base_dir) - 1, chosen);
	if (c->skip[0])
		return;
	if (strlen(chosen) >= sizeof(base_dir))
		snprintf(c->skip, sizeof(c->skip), "the path of %.100s... is too long for the snapshot files; set "
			 "TMPDIR to a shorter one", chosen);
	else if (statvfs(base_dir, &sv) < 0)
		snprintf(c->skip, sizeof(c->skip), "cannot look at %.100s (%s); set TMPDIR to a writable directory "
			 "with 2 GiB free", base_dir, strerror(errno));
	else if ((free_gib = (double)sv.f_bavail * (double)sv.f_frsize / (double)BENCH_GIB) <
		 FREE_NEEDED_FACTOR * guest.mib / 1024)
		snprintf(c->skip, sizeof(c->skip), "%.1f GiB free in %.100s, %.1f GiB needed for the snapshot files; "
			 "set TMPDIR to a directory with room", free_gib, base_dir,
			 FREE_NEEDED_FACTOR * guest.mib / 1024);
	else if (strchr(base_dir, '\''))
		snprintf(c->skip, sizeof(c->skip), "%.80s has a ' in its path, which QEMU's exec: migration command "
			 "cannot quote; set TMPDIR to another directory", base_dir);
}

/* ---- files ---- */

static int make_workdir(struct snap_run *x, char *why, size_t whylen)
{
	snprintf(x->dir, sizeof(x->dir), "%s/gmvm-bench-snap-XXXXXX", base_dir);
	if (!mkdtemp(x->dir)) {
		snprintf(why, whylen, "cannot make a directory in %s: %s; set TMPDIR to a writable directory", base_dir,
			 strerror(errno));
		x->dir[0] = '\0';
		return -1;
	}
	snprintf(x->snap, sizeof(x->snap), "%s/snap", x->dir);
	snprintf(x->mig, sizeof(x->mig), "%s/" SNAP_MIG_FILE, x->dir);
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

/* The run's own directory and whatever the VMMs left in it. */
static void remove_workdir(struct snap_run *x)
{
	if (x->dir[0])
		nftw(x->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	x->dir[0] = '\0';
}

int snap_add_disk_use(const char *path, double *bytes, char *why, size_t whylen)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(why, whylen, "cannot stat %s: %s", path, strerror(errno));
		return -1;
	}
	*bytes += (double)st.st_blocks * 512;
	return 0;
}

/* ---- processes and connections ---- */

void snap_close_conns(struct snap_run *x)
{
	if (x->a.curl)
		api_client_close(&x->a);
	qmp_close(&x->q);
	if (x->ev_fd >= 0)
		close(x->ev_fd);
	x->ev_fd = -1;
}

int snap_wait_gone(struct snap_run *x, const char *asked, char *why, size_t whylen)
{
	snap_close_conns(x);
	if (bg_wait_end(&x->p, x->end_ms) < 0) {
		snprintf(why, whylen, "still running %d s after %s (killed)", x->end_ms / 1000, asked);
		return -1;
	}
	bg_stop(&x->p);
	return 0;
}

/* ---- the case ---- */

/* The waits for 1 GiB, in proportion to the guest's RAM (never less), times the --timeout-scale. */
static void set_timeouts(struct snap_run *x, int scale)
{
	double k = (guest.mib > 1024 ? guest.mib / 1024.0 : 1) * scale;

	x->boot_ms = (int)(BOOT_TIMEOUT_MS * k);
	x->save_ms = (int)(SAVE_TIMEOUT_MS * k);
	x->restore_ms = (int)(RESTORE_TIMEOUT_MS * k);
	x->carry_on_ms = (int)(CARRY_ON_TIMEOUT_MS * k);
	x->end_ms = END_TIMEOUT_MS * scale;
	x->q.timeout_ms = QMP_TIMEOUT_MS * scale;
}

static int run_snapshot(struct bench_case *c, int side, double *out, char *why, size_t whylen, char **output)
{
	struct snap_run *x = calloc(1, sizeof(*x));
	int r = -1;

	if (!x) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	x->p.out = -1;
	x->q.fd = -1;
	x->ev_fd = -1;
	x->guest = &guest;
	set_timeouts(x, c->timeout_scale);
	if (make_workdir(x, why, whylen) == 0)
		r = side == S7_QEMU ? snap_run_qemu(x, &c->sides[side], out, why, whylen)
				    : snap_run_gmvm(x, &c->sides[side], modes[side], out, why, whylen);
	snap_close_conns(x);
	if (r < 0 && x->p.out >= 0) {
		bg_alive(&x->p); /* reap first if it ended by itself */
		*output = bg_output(&x->p);
	}
	bg_stop(&x->p);
	remove_workdir(x);
	free(x);
	return r;
}

static void build_about(void)
{
	snprintf(about, sizeof(about),
		 "A running guest saved to files and started again from them. The `dirty` guest (1 vCPU, %d MiB of "
		 "RAM, command line `%s`) writes %d MiB of its RAM, then keeps rewriting random pages of it, "
		 "checking that each still holds what it last wrote there; the bench waits for its first `"
		 SNAP_ROUND_LINE "N ok` line, so all of it has been written and the guest is busy when it is saved. "
		 "gmvm runs it on `--memory %s` (restore modes map and ondemand need memfd or anon), QEMU microvm "
		 "on memory-backend-memfd as in case 1. Each run of a side saves once and restores once; the three "
		 "gmvm sides save alike and differ in `--restore-mode`. While a VMM saves or restores, the bench "
		 "waits blocked (on an HTTP answer, a pipe or the QMP socket), so it takes no CPU from it.\n\n"
		 "- *save ms*: gmvm: `PUT /api/v1/vm.snapshot` with "
		 "`{\"destination_url\":\"file://$DIR/snap\",\"type\":\"full\"}` (what `gmvm snapshot "
		 "--api-sock SOCK $DIR/snap` sends), from sending it to having read the answer, on a connection "
		 "opened before; gmvm pauses the guest for the write and resumes it. QEMU: QMP `stop`, then "
		 "`migrate` with `{\"uri\":\"exec:cat > '$DIR/" SNAP_MIG_FILE "'\"}`, timed from sending `stop` "
		 "to QEMU's `MIGRATION` event with status `completed`. Untimed before it: QEMU's migration "
		 "bandwidth limit lifted (`migrate-set-parameters` `max-bandwidth` 1 TiB/s, so that no throttle "
		 "decides the result) and the `events` migration capability turned on.\n"
		 "- *save MB/s*: the guest's RAM size (%d MiB = %.1f MB) / the save time.\n"
		 "- *save: paused ms*: gmvm only, how long the guest stood still within the save, as gmvm says in "
		 "the answer's `paused_us`; the rest of save ms is the request, the snapshot directory's creation "
		 "and rename. QEMU's guest is stopped for all of its save ms.\n"
		 "- *restore ms*: the saving VMM is ended (untimed) and a new process restores: `gmvm run --restore "
		 "$DIR/snap --restore-mode MODE --api-sock SOCK --event-monitor fd=3 --trace-startup` (fd 3 a pipe to "
		 "the bench), or QEMU's command below with `-S -incoming defer` added, then on QMP the `events` "
		 "capability and `migrate-incoming` with `{\"uri\":\"exec:cat '$DIR/" SNAP_MIG_FILE "'\"}` (the same load as "
		 "`-incoming \"exec:cat FILE\"`; deferred so that the capability is on before it starts). Timed "
		 "from just before the bench forks that process until the guest runs: for gmvm the `timestamp_us` "
		 "of its `resumed` event (CLOCK_MONOTONIC, the bench's clock too), written when the loaded vCPUs "
		 "are released, so an upper bound of the first guest instruction by a thread wake-up; for QEMU "
		 "until QMP `cont` has answered, sent on its `MIGRATION` event `completed` (the bench connects to "
		 "QEMU's QMP socket as soon as inotify shows it in its directory). `copy` fills all of RAM from "
		 "the file before the guest runs; `map` maps `ram.mem` privately and `ondemand` serves pages "
		 "through userfaultfd, both as the guest first touches them, so their restore ms leaves out the "
		 "loading the guest pays later.\n"
		 "- *restore in main() ms*: gmvm only, the part of its restore ms spent in gmvm's own code: the "
		 "restore also runs with `--trace-startup`, whose `first guest instruction` line says when vCPU 0 "
		 "entered KVM_RUN, counted from the start of main(). The rest of restore ms is exec, the dynamic "
		 "linker and a thread wake-up; QEMU has no such split.\n"
		 "- *disk MiB*: the space the files take (st_blocks x 512): gmvm's `ram.mem` + `state` (pages of "
		 "zeros are holes), QEMU's migration file.\n\n"
		 "Each run then waits, untimed, for the restored guest's next `" SNAP_ROUND_LINE "N ok` line (the "
		 "guest checks every page it rewrites, so a restore that lost or mixed up RAM fails the run), ends "
		 "it and deletes `$DIR`, a new directory in `%s` (%s; `TMPDIR` chooses another) for each run. Both "
		 "VMMs write into the page cache and restore from it; gmvm also fsyncs its files before it answers "
		 "(a snapshot must survive the host crashing), QEMU does not: on tmpfs that fsync costs nothing, on "
		 "a disk it is part of gmvm's save ms.",
		 guest.mib, guest.cmdline, guest.written_mib, guest.memory, guest.mib, guest.bytes / 1e6,
		 base_dir, fs_name(base_dir));
}

/* --snapshot-mib and --gmvm-backend: the guest's size, its command line and gmvm's --memory. */
static void set_guest(const struct bench_opts *o)
{
	const char *backend = o->backend && !strcmp(o->backend, "anon") ? "anon" : "memfd";

	guest.mib = o->snapshot_mib;
	guest.written_mib = guest.mib - GUEST_SPARE_MIB;
	guest.bytes = (double)guest.mib * (1 << 20);
	snprintf(guest.cmdline, sizeof(guest.cmdline), "dirty.mb=%d dirty.share=100 dirty.seconds=600",
		 guest.written_mib);
	snprintf(guest.size, sizeof(guest.size), "%dM", guest.mib);
	snprintf(guest.memory, sizeof(guest.memory), "%dM,backend=%s", guest.mib, backend);
}

void bench_case_snapshot(struct bench_case *c, const struct bench_opts *o)
{
	const char *dirty = bench_path_in(o->guests, "dirty.elf");
	char label[48], qmp[160];

	bench_init_case(c, o, 7, "Snapshot and restore");
	set_guest(o);
	c->run = run_snapshot;
	c->n_metrics = 6;
	c->metrics[M7_SAVE_MS] = (struct bench_metric){ "save ms", 1 };
	c->metrics[M7_SAVE_MBS] = (struct bench_metric){ "save MB/s", 0 };
	c->metrics[M7_PAUSED_MS] = (struct bench_metric){ "save: paused ms", 1 };
	c->metrics[M7_RESTORE_MS] = (struct bench_metric){ "restore ms", 2 };
	c->metrics[M7_IN_MAIN_MS] = (struct bench_metric){ "restore in main() ms", 2 };
	c->metrics[M7_DISK_MIB] = (struct bench_metric){ "disk MiB", 1 };
	for (int s = S7_COPY; s <= S7_ONDEMAND; s++) {
		snprintf(label, sizeof(label), "gmvm restore-mode=%s", modes[s]);
		struct bench_side *g = bench_add_side(c, label, o->gmvm, "run", "--cpus", "1", "--memory",
						      guest.memory, "--cmdline", guest.cmdline, (char *)NULL);

		snprintf(g->sock, sizeof(g->sock), "%s/gmvm.sock", o->sockdir);
		bench_side_append(g, "--api-sock", g->sock, dirty, (char *)NULL);
	}
	struct bench_side *q = bench_add_qemu(c, o, "QEMU", dirty, "1", guest.size);

	snprintf(q->sock, sizeof(q->sock), "%s/qmp.sock", o->sockdir);
	snprintf(qmp, sizeof(qmp), "unix:%s,server=on,wait=off", q->sock);
	bench_side_append(q, "-append", guest.cmdline, "-qmp", qmp, (char *)NULL);

	bench_add_ratio(c, S7_COPY, S7_QEMU, M7_SAVE_MBS, "gmvm save MB/s / QEMU's");
	bench_add_ratio(c, S7_QEMU, S7_COPY, M7_RESTORE_MS, "QEMU restore ms / gmvm copy's");
	bench_add_ratio(c, S7_QEMU, S7_MAP, M7_RESTORE_MS, "QEMU restore ms / gmvm map's");
	bench_add_ratio(c, S7_QEMU, S7_ONDEMAND, M7_RESTORE_MS, "QEMU restore ms / gmvm ondemand's");
	bench_add_ratio(c, S7_COPY, S7_QEMU, M7_DISK_MIB, "gmvm disk MiB / QEMU's");
	c->n_targets = 4;
	c->targets[0] = (struct bench_target){ "gmvm saves at >= 3x QEMU's MB/s (copy side's save)", R7_SAVE, 0, 0,
					       false, 3, "x" };
	c->targets[1] = (struct bench_target){ "gmvm map: restore to the guest running <= 10 ms", -1, S7_MAP,
					       M7_RESTORE_MS, true, 10, " ms" };
	c->targets[2] = (struct bench_target){ "gmvm ondemand: restore to the guest running <= 10 ms", -1,
					       S7_ONDEMAND, M7_RESTORE_MS, true, 10, " ms" };
	c->targets[3] = (struct bench_target){ "gmvm copy restores >= 3x faster than QEMU", R7_RESTORE_COPY, 0, 0,
					       false, 3, "x" };
	if (!bg_kvm_unusable(c->skip, sizeof(c->skip)))
		userfaultfd_denied(c->sides[S7_ONDEMAND].skip, sizeof(c->sides[S7_ONDEMAND].skip));
	choose_base(c);
	build_about();
	c->about = about;
}
