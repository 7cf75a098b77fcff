/*
 * bench/case_blk: case 11 (`--case blk`), virtio-blk IOPS of gmvm next to
 * QEMU 7.2 microvm's virtio-blk-device (virtio-mmio, modern) on the same
 * disk file.  The `blkbench` guest runs 4 KiB requests at a fixed queue
 * depth in four modes (seqread, randread, seqwrite, randwrite), each for a
 * fixed time, polling the used ring at CPL3, and prints IOPS and MB/s per
 * mode; the bench only reads its lines.
 *
 * Sides: gmvm with its default engine (io_uring), QEMU with aio=io_uring;
 * gmvm's worker-thread engine (GMVM_BLK_ENGINE=thread) and QEMU's
 * aio=threads, which are the same kind of thing; with
 * GMVM_BENCH_BLK_DIRECT=1 also both with O_DIRECT (gmvm direct=on, QEMU
 * cache=none), where the file system takes O_DIRECT.
 *
 * The disk file (GMVM_BENCH_BLK_MIB, default 256 MiB) is written by the bench
 * before the first run, every 4 KiB block holding its own number in its
 * first 8 bytes (the guest checks each read against it), in
 * GMVM_BENCH_BLK_DIR, else /var/tmp when writable (a real file system), else
 * $TMPDIR or /tmp; it is removed when the bench exits.  Per mode
 * GMVM_BENCH_BLK_MS (default 1000) milliseconds at depth GMVM_BENCH_BLK_DEPTH
 * (default 16).  The guest's clock is the TSC at the rate the bench
 * measures here (blkbench.khz=, the same on every side): QEMU gives a guest
 * no TSC rate on a CPU without invtsc, such as the nested rig's.
 *
 * QEMU microvm adds virtio_mmio.device= entries to the kernel command line
 * only with acpi=off (and then its rt_exit(0) ends with status 1), so the
 * QEMU side keeps ACPI and names the transport itself: with ACPI the second
 * I/O APIC is on, microvm makes 24 transports from 0xfeb00000, 512 bytes
 * apart, IRQs from 24, and the one device goes on the last (0xfeb02e00,
 * IRQ 47; the guest polls, so the IRQ is not used).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "background.h"
#include "bench.h"

#define NMODES 4
#define BLOCK 4096
#define QEMU_MMIO_ENTRY "virtio_mmio.device=512@0xfeb02e00:47"

enum { S_GMVM, S_QEMU, S_GMVM_THREAD, S_QEMU_THREADS, S_GMVM_DIRECT, S_QEMU_DIRECT };

static const char *const modes[NMODES] = { "seqread", "randread", "seqwrite", "randwrite" };
static char disk[4096], disk_note[160], about[3072], cmdline[160], names[2 * NMODES][32];
static char ratio_names[3][NMODES][96], target_names[NMODES][64];

static void remove_disk(void)
{
	if (disk[0])
		unlink(disk);
}

/* The disk file, every block holding its number; 0, or -1 with a reason. */
static int make_disk(const char *dir, long mib, char *why, size_t whylen)
{
	uint8_t *buf = calloc(1, 256 * BLOCK);
	int fd;

	snprintf(disk, sizeof(disk), "%s/gmvm-bench-blk-%d.img", dir, (int)getpid());
	fd = open(disk, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (!buf || fd < 0) {
		snprintf(why, whylen, "cannot create the disk file %.100s: %s; set GMVM_BENCH_BLK_DIR to a writable directory",
			 disk, buf ? strerror(errno) : "out of memory");
		disk[0] = '\0';
		free(buf);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	atexit(remove_disk);
	uint64_t blocks = (uint64_t)mib * (1024 * 1024 / BLOCK);

	for (uint64_t b = 0; b < blocks; b += 256) {
		for (uint64_t k = 0; k < 256; k++)
			memcpy(buf + k * BLOCK, &(uint64_t){ b + k }, 8);
		if (pwrite(fd, buf, 256 * BLOCK, (off_t)(b * BLOCK)) != 256 * BLOCK) {
			snprintf(why, whylen, "cannot write the disk file %.100s: %s; give GMVM_BENCH_BLK_DIR room for %ld MiB",
				 disk, strerror(errno), mib);
			free(buf);
			close(fd);
			return -1;
		}
	}
	free(buf);
	fsync(fd);
	close(fd);
	return 0;
}

static const char *pick_dir(void)
{
	const char *d = getenv("GMVM_BENCH_BLK_DIR");

	if (d && *d)
		return d;
	if (access("/var/tmp", W_OK) == 0)
		return "/var/tmp";
	d = getenv("TMPDIR");
	return d && *d ? d : "/tmp";
}

/*
 * The TSC rate in kHz, against CLOCK_MONOTONIC over 200 ms.  A KVM guest's
 * TSC runs at the host's (no scaling asked by either VMM), so this is the
 * guest's too; 0 when the clock will not say.
 */
static long host_tsc_khz(void)
{
	struct timespec a, b, pause = { 0, 200 * 1000 * 1000 };

	if (clock_gettime(CLOCK_MONOTONIC, &a) < 0)
		return 0;
	uint64_t t0 = __rdtsc();

	nanosleep(&pause, NULL);
	uint64_t t1 = __rdtsc();

	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);

	return ns > 0 ? (long)((double)(t1 - t0) * 1e6 / ns + 0.5) : 0;
}

/* Whether the disk file opens with O_DIRECT (tmpfs and 9p may refuse). */
static bool direct_works(void)
{
	int fd = open(disk, O_RDONLY | O_DIRECT | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* "blkbench: mode=M depth=D ios=N ns=T iops=X mbps=Y" for each mode into out[mode] and out[NMODES + mode]. */
static int measure_blk(struct bench_case *c, int side, int round, const struct spawn_result *r, double *out,
		       char *why, size_t whylen)
{
	(void)c, (void)round;
	/* gmvm logs its engine ("virtio-blk vda: ..., I/O by io_uring"): a side must not measure the other one */
	const char *want = side == S_GMVM_THREAD ? "I/O by thread" : "I/O by io_uring";

	if (side % 2 == 0 && strstr(r->output, "I/O by ") && !strstr(r->output, want)) {
		snprintf(why, whylen, "gmvm did not use the engine this side is about ('%s' not in its output)", want);
		return -1;
	}
	for (int m = 0; m < NMODES; m++) {
		char key[48];

		snprintf(key, sizeof(key), "blkbench: mode=%s ", modes[m]);
		const char *l = strstr(r->output, key);
		const char *iops = l ? strstr(l, " iops=") : NULL, *mbps = l ? strstr(l, " mbps=") : NULL;
		const char *eol = l ? strchr(l, '\n') : NULL;

		if (!iops || !mbps || (eol && (iops > eol || mbps > eol))) {
			snprintf(why, whylen, "no 'blkbench: mode=%s ... iops=N mbps=N' line in its output", modes[m]);
			return -1;
		}
		out[m] = strtod(iops + 6, NULL);
		out[NMODES + m] = strtod(mbps + 6, NULL);
		if (!(out[m] > 0)) {
			snprintf(why, whylen, "mode %s: no request finished (iops=0)", modes[m]);
			return -1;
		}
	}
	return 0;
}

static struct bench_side *add_gmvm(struct bench_case *c, const struct bench_opts *o, const char *label,
				   const char *engine, bool direct)
{
	char spec[4200];
	struct bench_side *s;

	snprintf(spec, sizeof(spec), "path=%s%s", disk, direct ? ",direct=on" : "");
	if (engine)
		s = bench_add_side(c, label, "env", engine, o->gmvm, (char *)NULL);
	else
		s = bench_add_side(c, label, o->gmvm, (char *)NULL);
	bench_side_append(s, "run", "--cpus", "1", "--memory", bench_gmvm_memory(o, "256M"), "--disk", spec,
			  "--cmdline", cmdline, bench_path_in(o->guests, "blkbench.elf"), (char *)NULL);
	bench_note_backend(s, o);
	return s;
}

static struct bench_side *add_qemu(struct bench_case *c, const struct bench_opts *o, const char *label,
				   const char *cache_aio)
{
	char drive[4200], append[256];
	struct bench_side *s = bench_add_qemu(c, o, label, bench_path_in(o->guests, "blkbench.elf"), "1", "256M");

	snprintf(drive, sizeof(drive), "id=d0,file=%s,format=raw,if=none,%s", disk, cache_aio);
	snprintf(append, sizeof(append), "%s %s", cmdline, QEMU_MMIO_ENTRY);
	bench_side_append(s, "-global", "virtio-mmio.force-legacy=false", "-device", "virtio-blk-device,drive=d0",
			  "-drive", drive, "-append", append, (char *)NULL);
	return s;
}

static void add_ratios(struct bench_case *c, int k, int num, int den, const char *what)
{
	for (int m = 0; m < NMODES; m++) {
		snprintf(ratio_names[k][m], sizeof(ratio_names[k][m]), "%s: %s IOPS", modes[m], what);
		bench_add_ratio(c, num, den, m, ratio_names[k][m]);
	}
}

void bench_case_blk(struct bench_case *c, const struct bench_opts *o)
{
	long mib = bench_env_num("GMVM_BENCH_BLK_MIB", 256, 16, 65536);
	long ms = bench_env_num("GMVM_BENCH_BLK_MS", 1000, 50, 600000);
	long depth = bench_env_num("GMVM_BENCH_BLK_DEPTH", 16, 1, 32);
	bool direct = bench_env_num("GMVM_BENCH_BLK_DIRECT", 0, 0, 1) == 1;
	const char *dir = pick_dir();
	struct statfs fs;

	bench_init_case(c, o, 11, "virtio-blk IOPS");
	c->expect = "blkbench ok";
	c->measure = measure_blk;
	c->n_metrics = 2 * NMODES;
	for (int m = 0; m < NMODES; m++) {
		snprintf(names[m], sizeof(names[m]), "%s IOPS", modes[m]);
		snprintf(names[NMODES + m], sizeof(names[0]), "%s MB/s", modes[m]);
		c->metrics[m] = (struct bench_metric){ names[m], 0 };
		c->metrics[NMODES + m] = (struct bench_metric){ names[NMODES + m], 1 };
	}
	long khz = 0;

	if (!bg_kvm_unusable(c->skip, sizeof(c->skip)) && make_disk(dir, mib, c->skip, sizeof(c->skip)) == 0 &&
	    !(khz = host_tsc_khz()))
		snprintf(c->skip, sizeof(c->skip), "cannot measure this machine's TSC rate against CLOCK_MONOTONIC");
	snprintf(cmdline, sizeof(cmdline), "blkbench.ms=%ld blkbench.depth=%ld blkbench.khz=%ld", ms, depth, khz);
	bool tmpfs = statfs(dir, &fs) == 0 && fs.f_type == TMPFS_MAGIC;

	snprintf(disk_note, sizeof(disk_note), "%.100s%s", dir, tmpfs ? " (tmpfs: the page cache is the disk)" : "");
	add_gmvm(c, o, "gmvm (io_uring)", NULL, false);
	add_qemu(c, o, "QEMU (aio=io_uring)", "cache=writeback,aio=io_uring");
	add_gmvm(c, o, "gmvm (worker thread)", "GMVM_BLK_ENGINE=thread", false);
	add_qemu(c, o, "QEMU (aio=threads)", "cache=writeback,aio=threads");
	add_ratios(c, 0, S_GMVM, S_QEMU, "gmvm io_uring / QEMU io_uring");
	add_ratios(c, 1, S_GMVM_THREAD, S_QEMU_THREADS, "gmvm thread / QEMU threads");
	if (direct) {
		struct bench_side *g = add_gmvm(c, o, "gmvm (io_uring, direct=on)", NULL, true);
		struct bench_side *q = add_qemu(c, o, "QEMU (io_uring, cache=none)", "cache=none,aio=io_uring");

		if (!c->skip[0] && !direct_works())
			for (struct bench_side *s = g; s <= q; s++)
				snprintf(s->skip, sizeof(s->skip),
					 "%.100s does not take O_DIRECT; set GMVM_BENCH_BLK_DIR to a disk-backed file system",
					 dir);
		add_ratios(c, 2, S_GMVM_DIRECT, S_QEMU_DIRECT, "gmvm direct / QEMU cache=none");
	}
	c->n_targets = NMODES;
	for (int m = 0; m < NMODES; m++) {
		snprintf(target_names[m], sizeof(target_names[m]), "%s: gmvm IOPS >= QEMU's", modes[m]);
		c->targets[m] = (struct bench_target){ target_names[m], m, 0, 0, false, 1.0, "x" };
	}
	snprintf(about, sizeof(about),
		 "The `blkbench` guest (1 vCPU, 256 MiB) on one virtio-blk disk: 4 KiB requests (8 sectors), %ld in "
		 "flight, for %ld ms in each mode, in this order: seqread, randread (uniform over the disk, the same "
		 "xorshift sequence every run), seqwrite, randwrite. It polls the used ring at CPL3 with the "
		 "device's interrupts off (VRING_AVAIL_F_NO_INTERRUPT) and kicks unless the device set "
		 "VRING_USED_F_NO_NOTIFY; the times are the guest's TSC from the first request to the last "
		 "answer, at the rate the bench measured for this machine's TSC (%ld kHz, `blkbench.khz=`, "
		 "given to every side: QEMU tells a guest the rate only where the CPU has invtsc). MB/s = 10^6 "
		 "bytes/s.\n\n"
		 "The disk is a %ld MiB raw file in %s, written by the bench before the first run (each 4 KiB block "
		 "holds its number, which the guest checks on every read), so reads and writes both hit the host's "
		 "page cache: gmvm `--disk path=FILE` (direct=off), QEMU `-drive file=FILE,format=raw,if=none,"
		 "cache=writeback,aio=io_uring|threads` with `-device virtio-blk-device,drive=d0 -global "
		 "virtio-mmio.force-legacy=false` (modern virtio-mmio, as gmvm; `-append ... %s`: QEMU microvm "
		 "lists its transports on the command line only with acpi=off). gmvm's worker-thread engine "
		 "(`GMVM_BLK_ENGINE=thread`) is compared with QEMU's aio=threads.%s",
		 depth, ms, khz, mib, disk_note, QEMU_MMIO_ENTRY,
		 direct ? " With GMVM_BENCH_BLK_DIRECT=1 both also run with O_DIRECT (gmvm direct=on, QEMU cache=none)."
			: "");
	c->about = about;
}
