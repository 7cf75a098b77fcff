/*
 * bench/case_linux: case 12 (`--case linux`), the cold start of a real
 * Linux kernel: Debian 12's cloud kernel, from spawning the VMM to the
 * first line the kernel prints on the serial console ("Linux version ...",
 * which earlyprintk prints first), after which the bench kills the VMM: the
 * rest of the boot is the kernel's business and the same on both sides.
 *
 * Sides: gmvm with the kernel's vmlinux (ELF, 64-bit boot protocol), QEMU
 * 7.2 microvm with the same vmlinux (-kernel: its PVH note), and gmvm with
 * the bzImage (vmlinuz, decompressed by gmvm on the host).  The kernel
 * comes from scripts/linux/fetch.sh's cache: $LINUX_CACHE, else
 * build/linux-cache (vmlinux and vmlinuz there); the case skips with one
 * line when it is not there.  Both VMMs are spawned the same way (output
 * into a file; the bench sleeps on inotify until it is written, and reads
 * what is new), so the wake-up's cost is the same on every side and the
 * bench takes no CPU from the VMM while it waits.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "background.h"
#include "bench.h"

#define FIRST_LINE "Linux version "
#define LINE_TIMEOUT_MS 120000	/* times timeout_scale */
#define CMDLINE "console=ttyS0 earlyprintk=ttyS0 panic=-1"
#define LIVENESS_MS 50		/* how often a silent VMM is checked for having ended */

enum { S_GMVM, S_QEMU, S_GMVM_BZ };
enum { M_FIRST };

static char vmlinux[4096], bzimage[4096], about[2048];

/*
 * An inotify descriptor that wakes on every write to p's output file (the
 * unlinked file, through /proc/self/fd), so that the wait blocks instead of
 * taking CPU from the VMM it times; -1 when inotify will not: then polled.
 */
static int watch_output(const struct bg_proc *p)
{
	char path[64];
	int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);

	snprintf(path, sizeof(path), "/proc/self/fd/%d", p->out);
	if (fd >= 0 && inotify_add_watch(fd, path, IN_MODIFY) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Sleeps until the output may have grown: a write (inotify) or LIVENESS_MS, else BG_POLL_US. */
static void wait_output(int ino)
{
	char ev[4096];
	struct pollfd pfd = { .fd = ino, .events = POLLIN };

	if (ino < 0) {
		usleep(BG_POLL_US);
		return;
	}
	if (poll(&pfd, 1, LIVENESS_MS) > 0)
		while (read(ino, ev, sizeof(ev)) > 0)
			;
}

/*
 * Waits for a line containing FIRST_LINE in p's output, reading only what
 * is new each time; 0 with *at_us (CLOCK_MONOTONIC) when seen, -1 with a
 * reason when the process ended or the time ran out.
 */
static int wait_first_line(struct bg_proc *p, int timeout_ms, double *at_us, char *why, size_t whylen)
{
	static char buf[1 << 16];
	size_t have = 0;
	off_t off = 0;
	double deadline = bg_now_us() + timeout_ms * 1e3;
	int ino = watch_output(p), r = -1;

	for (;;) {
		bool alive = bg_alive(p);	/* before reading: a line printed just before exit still counts */
		ssize_t n;

		while ((n = pread(p->out, buf + have, sizeof(buf) - 1 - have, off)) > 0) {
			double now = bg_now_us();

			off += n;
			have += (size_t)n;
			buf[have] = '\0';
			if (strstr(buf, FIRST_LINE)) {
				*at_us = now;
				r = 0;
				goto out;
			}
			/* keep the tail, in case the words were cut in two */
			if (have > sizeof(buf) / 2) {
				memmove(buf, buf + have - 64, 64);
				have = 64;
			}
		}
		if (!alive) {
			snprintf(why, whylen, "it ended (status %d) before printing '%s'", p->status, FIRST_LINE);
			goto out;
		}
		if (bg_now_us() > deadline) {
			snprintf(why, whylen, "no '%s' in its output after %d ms", FIRST_LINE, timeout_ms);
			goto out;
		}
		wait_output(ino);
	}
out:
	if (ino >= 0)
		close(ino);
	return r;
}

static int run_linux(struct bench_case *c, int side, double *out, char *why, size_t whylen, char **output)
{
	struct bg_proc p = { .out = -1 };
	double t0 = bg_now_us(), t1;
	int r;

	if (bg_start(&p, c->sides[side].argv, why, whylen) < 0)
		return -1;
	r = wait_first_line(&p, LINE_TIMEOUT_MS * c->timeout_scale, &t1, why, whylen);
	if (r == 0)
		out[M_FIRST] = (t1 - t0) / 1e3;
	else
		*output = bg_output(&p);
	bg_stop(&p);
	return r;
}

static bool readable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

void bench_case_linux(struct bench_case *c, const struct bench_opts *o)
{
	const char *cache = getenv("LINUX_CACHE");

	if (!cache || !*cache)
		cache = "build/linux-cache";
	snprintf(vmlinux, sizeof(vmlinux), "%s/vmlinux", cache);
	snprintf(bzimage, sizeof(bzimage), "%s/vmlinuz", cache);
	bench_init_case(c, o, 12, "Linux cold start to the first console line");
	c->run = run_linux;
	c->n_metrics = 1;
	c->metrics[M_FIRST] = (struct bench_metric){ "first line ms", 1 };
	bench_note_backend(bench_add_side(c, "gmvm vmlinux", o->gmvm, "run", "--cpus", "1", "--memory",
					  bench_gmvm_memory(o, "512M"), "--cmdline", CMDLINE, vmlinux, (char *)NULL), o);
	bench_side_append(bench_add_qemu(c, o, "QEMU vmlinux (PVH)", vmlinux, "1", "512M"), "-append", CMDLINE,
			  (char *)NULL);
	struct bench_side *bz = bench_add_side(c, "gmvm bzImage", o->gmvm, "run", "--cpus", "1", "--memory",
					       bench_gmvm_memory(o, "512M"), "--cmdline", CMDLINE, bzimage,
					       (char *)NULL);

	bench_note_backend(bz, o);
	bench_add_ratio(c, S_GMVM, S_QEMU, M_FIRST, "gmvm vmlinux / QEMU vmlinux");
	bench_add_ratio(c, S_GMVM_BZ, S_QEMU, M_FIRST, "gmvm bzImage / QEMU vmlinux");
	c->n_targets = 1;
	c->targets[0] = (struct bench_target){ "gmvm vmlinux first line <= QEMU's", 0, 0, 0, true, 1.0, "x" };
	if (!bg_kvm_unusable(c->skip, sizeof(c->skip)) && !readable(vmlinux))
		snprintf(c->skip, sizeof(c->skip),
			 "no kernel at %.120s; run scripts/linux/fetch.sh (or set LINUX_CACHE to its directory)", vmlinux);
	if (!readable(bzimage))
		snprintf(bz->skip, sizeof(bz->skip), "no bzImage at %.120s; run scripts/linux/fetch.sh", bzimage);
	else if (getenv("GMVM_BENCH_LINUX_BZIMAGE") && !strcmp(getenv("GMVM_BENCH_LINUX_BZIMAGE"), "0"))
		snprintf(bz->skip, sizeof(bz->skip), "GMVM_BENCH_LINUX_BZIMAGE=0");
	snprintf(about, sizeof(about),
		 "Debian 12's cloud kernel (%.300s, from scripts/linux/fetch.sh), 1 vCPU, 512 MiB, command line `%s`, no "
		 "initramfs: the time from just before fork+exec of the VMM to the moment the bench sees the "
		 "kernel's first console line (`Linux version ...`, which earlyprintk prints first) in the VMM's "
		 "output; the bench then kills the VMM. The output goes to a file; the bench sleeps until it is "
		 "written (inotify) and reads what is new, the same on every side. gmvm boots the vmlinux ELF with the 64-bit boot protocol; QEMU microvm "
		 "(`-kernel vmlinux`, the same file) enters it through its PVH note via qboot; *gmvm bzImage* "
		 "boots the compressed vmlinuz, which gmvm decompresses on the host before the guest runs.",
		 vmlinux, CMDLINE);
	c->about = about;
}
