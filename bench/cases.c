/*
 * bench/cases: cases 1-3 of `make bench` (4-6 are in case_api.c, 7 in
 * case_snapshot.c): which sides they run (the exact commands), what they
 * measure from each run, the per-round ratios and the targets, and the
 * helpers every case builds with.  Running and reporting are elsewhere.
 */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "background.h"
#include "bench.h"
#include "trace.h"

#define HUGETLB_2M_FREE "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"

static void append_args(struct bench_side *s, va_list ap)
{
	const char *a;
	int n = 0;

	while (s->argv[n])
		n++;
	while ((a = va_arg(ap, const char *)) && n < BENCH_MAX_ARGS - 1)
		s->argv[n++] = strdup(a);
	s->argv[n] = NULL;
}

struct bench_side *bench_add_side(struct bench_case *c, const char *label, ...)
{
	struct bench_side *s = &c->sides[c->n_sides++];
	va_list ap;

	snprintf(s->label, sizeof(s->label), "%s", label);
	va_start(ap, label);
	append_args(s, ap);
	va_end(ap);
	return s;
}

void bench_side_append(struct bench_side *s, ...)
{
	va_list ap;

	va_start(ap, s);
	append_args(s, ap);
	va_end(ap);
}

char *bench_path_in(const char *dir, const char *file)
{
	static char buf[4][4096];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", dir, file);
	return p;
}

struct bench_side *bench_add_qemu(struct bench_case *c, const struct bench_opts *o, const char *label,
				  const char *elf, const char *cpus, const char *mem)
{
	char backend[64];

	snprintf(backend, sizeof(backend), "memory-backend-memfd,id=mem,size=%s", mem);
	struct bench_side *s = bench_add_side(c, label, o->qemu, "-accel", "kvm", "-M",
					      "microvm,x-option-roms=off,rtc=off", "-cpu", "qemu64,+invtsc", "-smp",
					      cpus, "-m", mem, "-object", backend, "-machine", "memory-backend=mem",
					      "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial",
					      "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", elf,
					      (char *)NULL);

	if (!o->qemu_found)
		snprintf(s->skip, sizeof(s->skip), "%s not found; install qemu-system-x86 or pass --qemu PATH",
			 o->qemu);
	return s;
}

char *bench_gmvm_memory(const struct bench_opts *o, const char *size)
{
	static char buf[4][128];
	static int next;
	char *p = buf[next++ % 4];

	if (o->backend)
		snprintf(p, sizeof(buf[0]), "%s,backend=%s", size, o->backend);
	else
		snprintf(p, sizeof(buf[0]), "%s", size);
	return p;
}

void bench_note_backend(struct bench_side *s, const struct bench_opts *o)
{
	if (o->backend_note[0])
		s->note = o->backend_note;
}

void bench_add_ratio(struct bench_case *c, int num, int den, int metric, const char *name)
{
	struct bench_ratio *q = &c->ratios[c->n_ratios++];

	q->num = num;
	q->den = den;
	q->metric = metric;
	snprintf(q->name, sizeof(q->name), "%s", name);
}

long bench_env_num(const char *name, long def, long min, long max)
{
	const char *v = getenv(name);
	char *end;

	if (!v || !*v)
		return def;
	long n = strtol(v, &end, 10);

	if (end == v || *end || n < min || n > max) {
		fprintf(stderr, "gmvm-bench: %s='%s' is not a whole number from %ld to %ld; using %ld\n", name, v, min,
			max, def);
		return def;
	}
	return n;
}

void bench_init_case(struct bench_case *c, const struct bench_opts *o, int number, const char *title)
{
	memset(c, 0, sizeof(*c));
	c->number = number;
	c->title = title;
	c->runs = o->runs;
	c->warmup = o->warmup;
	c->timeout_scale = o->timeout_scale;
	c->verbose = o->verbose;
}

/* ---- 1. cold start ---- */

enum { S1_GMVM, S1_QEMU };
enum { M1_WALL, M1_HWM, M1_GUEST, M1_OVERHEAD };

static int measure_start(struct bench_case *c, int side, int round, const struct spawn_result *r, double *out,
			 char *why, size_t whylen)
{
	(void)c, (void)side, (void)round;
	if (!r->hwm_kib) {
		snprintf(why, whylen, "no peak RSS: the process was not seen at its exit");
		return -1;
	}
	out[M1_WALL] = (double)r->wall_ns / 1e6;
	out[M1_HWM] = (double)r->hwm_kib / 1024;
	out[M1_GUEST] = (double)r->guest_rss_kib / 1024;
	out[M1_OVERHEAD] = out[M1_HWM] - out[M1_GUEST];
	return 0;
}

void bench_case_start(struct bench_case *c, const struct bench_opts *o)
{
	bench_init_case(c, o, 1, "Cold start");
	c->about = "The `hello` guest (prints two lines and exits), 1 vCPU, 1 GiB of guest RAM, timed from just "
		   "before exec to the process being reaped. gmvm uses guest_memfd (its default backend); QEMU "
		   "microvm uses memory-backend-memfd.\n\n"
		   "*Peak RSS* is VmHWM from /proc/PID/status, read at the moment of exit (the bench stops the "
		   "process at PTRACE_EVENT_EXIT, while its memory still exists; the time spent reading is not "
		   "counted). *Guest RAM in RSS* is the resident part of the guest-RAM mapping at exit: the `Rss:` "
		   "of the shared mapping of exactly 1 GiB in /proc/PID/smaps (gmvm's `anon_inode:[kvm-gmem]`, "
		   "QEMU's `/memfd:memory-backend-memfd (deleted)`). *Overhead* = peak RSS - guest RAM in RSS: what the VMM "
		   "itself costs. With gmvm's default bind=gmem the guest's own faults never enter gmvm's page "
		   "tables: only pages gmvm wrote (image, boot tables) or that KVM's emulator read through the "
		   "mapping are resident there. QEMU binds its memfd as an ordinary memslot, so every page the "
		   "guest touched is resident in QEMU and counted as guest RAM.";
	c->expect = "Hello from gmvm guest";
	c->guest_bytes = BENCH_GIB;
	c->measure = measure_start;
	c->n_metrics = 4;
	c->metrics[M1_WALL] = (struct bench_metric){ "wall ms", 2 };
	c->metrics[M1_HWM] = (struct bench_metric){ "peak RSS MiB", 2 };
	c->metrics[M1_GUEST] = (struct bench_metric){ "guest RAM in RSS MiB", 2 };
	c->metrics[M1_OVERHEAD] = (struct bench_metric){ "overhead MiB", 2 };
	bench_note_backend(bench_add_side(c, "gmvm", o->gmvm, "run", "--cpus", "1", "--memory",
					  bench_gmvm_memory(o, "1G"), bench_path_in(o->guests, "hello.elf"),
					  (char *)NULL), o);
	bench_add_qemu(c, o, "QEMU", bench_path_in(o->guests, "hello.elf"), "1", "1G");
	bench_add_ratio(c, S1_GMVM, S1_QEMU, M1_WALL, "gmvm wall / QEMU wall");
	bench_add_ratio(c, S1_GMVM, S1_QEMU, M1_HWM, "gmvm peak RSS / QEMU peak RSS");
	c->n_targets = 2;
	c->targets[0] = (struct bench_target){ "gmvm wall time <= 0.25x QEMU's", 0, 0, 0, true, 0.25, "x" };
	c->targets[1] = (struct bench_target){ "gmvm overhead <= 4 MiB", -1, S1_GMVM, M1_OVERHEAD, true, 4, " MiB" };
	bg_kvm_unusable(c->skip, sizeof(c->skip));
}

/* ---- 2. guest memory fault-in ---- */

enum { S2_BASE, S2_GMEM, S2_MEMFD, S2_ANON, S2_HUGE, S2_PREALLOC, S2_QEMU };
enum { M2_MBS, M2_WALL };

static int measure_memory(struct bench_case *c, int side, int round, const struct spawn_result *r, double *out,
			  char *why, size_t whylen)
{
	(void)c, (void)side, (void)round;
	const char *ok = strstr(r->output, "memtest: ok ");
	const char *mbs = ok ? strstr(ok, "MB/s=") : NULL;
	char *end;

	if (mbs)
		out[M2_MBS] = strtod(mbs + 5, &end);
	if (!mbs || end == mbs + 5) {
		snprintf(why, whylen, "no 'MB/s=N' on its 'memtest: ok' line");
		return -1;
	}
	out[M2_WALL] = (double)r->wall_ns / 1e6;
	return 0;
}

long bench_free_hugepages_2m(void)
{
	FILE *f = fopen(HUGETLB_2M_FREE, "r");
	long n = -1;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

void bench_case_memory(struct bench_case *c, const struct bench_opts *o)
{
	const char *memtest = bench_path_in(o->guests, "memtest.elf");
	static const char *const names[] = {
		[S2_GMEM] = "gmvm guest-memfd", [S2_MEMFD] = "gmvm memfd", [S2_ANON] = "gmvm anon",
		[S2_HUGE] = "gmvm memfd 2M", [S2_PREALLOC] = "gmvm guest-memfd prealloc", [S2_QEMU] = "QEMU",
	};
	static const char *const specs[] = {
		[S2_GMEM] = "1G,backend=guest-memfd", [S2_MEMFD] = "1G,backend=memfd", [S2_ANON] = "1G,backend=anon",
		[S2_HUGE] = "1G,backend=memfd,hugepages=2M", [S2_PREALLOC] = "1G,backend=guest-memfd,prealloc=on",
	};

	bench_init_case(c, o, 2, "Guest memory fault-in");
	c->about = "`memtest` writes every free page of 1 GiB of guest RAM with a pattern derived from each word's "
		   "address, then reads it all back, so every page is touched for the first time during the "
		   "test. MB/s is the guest's own figure: bytes written once and read once, divided by the time of "
		   "both passes (TSC). The baseline is `host-touch`, a plain host process doing the same work with "
		   "the same code (guests/memtest_pattern.h) over fresh anonymous memory, without MAP_POPULATE or "
		   "madvise: what first touch costs on this machine. The `prealloc=on` side has guest_memfd "
		   "allocated and zeroed before boot (fallocate), so each guest fault only maps a page that "
		   "exists: its distance to the guest-memfd side is what allocating a page inside KVM's fault "
		   "costs, and its distance to the baseline what the fault itself (a VM exit per 4 KiB page) "
		   "costs. It explains the gap and is not a target.";
	c->expect = "memtest: ok ";
	c->measure = measure_memory;
	c->n_metrics = 2;
	c->metrics[M2_MBS] = (struct bench_metric){ "MB/s", 0 };
	c->metrics[M2_WALL] = (struct bench_metric){ "wall ms", 1 };
	bench_add_side(c, "host baseline", o->host_touch, "--size", "1G", (char *)NULL);
	for (int s = S2_GMEM; s <= S2_PREALLOC; s++)
		bench_add_side(c, names[s], o->gmvm, "run", "--cpus", "1", "--memory", specs[s], memtest,
			       (char *)NULL);
	c->sides[S2_PREALLOC].note = "explains the gap, not a target";
	long free2m = bench_free_hugepages_2m();

	if (free2m < 512)
		snprintf(c->sides[S2_HUGE].skip, sizeof(c->sides[S2_HUGE].skip),
			 "%ld free 2 MiB hugetlb pages, 512 needed; as root raise /proc/sys/vm/nr_hugepages "
			 "(bench/run.sh does)", free2m < 0 ? 0 : free2m);
	bench_add_qemu(c, o, names[S2_QEMU], memtest, "1", "1G");
	if (o->backend && strcmp(o->backend, "guest-memfd"))
		for (int s = S2_GMEM; s <= S2_PREALLOC; s += S2_PREALLOC - S2_GMEM)
			snprintf(c->sides[s].skip, sizeof(c->sides[s].skip),
				 "--gmvm-backend %s: the guest-memfd sides are left out (a kernel without a "
				 "guest_memfd gmvm can use)", o->backend);
	for (int s = S2_GMEM; s <= S2_QEMU; s++) {
		char name[96];

		snprintf(name, sizeof(name), "%s / host baseline MB/s", names[s]);
		bench_add_ratio(c, s, S2_BASE, M2_MBS, name);
	}
	bench_add_ratio(c, S2_GMEM, S2_QEMU, M2_MBS, "gmvm guest-memfd / QEMU MB/s");
	c->n_targets = 2;
	c->targets[0] = (struct bench_target){ "gmvm guest-memfd MB/s >= 0.9x the host baseline", 0, 0, 0, false,
					       0.9, "x" };
	c->targets[1] = (struct bench_target){ "gmvm guest-memfd MB/s >= QEMU's", c->n_ratios - 1, 0, 0, false,
					       1.0, "x" };
	bg_kvm_unusable(c->skip, sizeof(c->skip));
}

/* ---- 3. startup breakdown ---- */

enum { M3_WALL, M3_OUTSIDE };

static int measure_trace(struct bench_case *c, int side, int round, const struct spawn_result *r, double *out,
			 char *why, size_t whylen)
{
	(void)side;
	double last_at = 0;

	if (!c->priv) {
		snprintf(why, whylen, "out of memory for the trace phases");
		return -1;
	}
	if (trace_phases_add(c->priv, round, r->output, &last_at) == 0) {
		snprintf(why, whylen, "no 'gmvm: trace' lines in its output; does this gmvm know --trace-startup?");
		return -1;
	}
	out[M3_WALL] = (double)r->wall_ns / 1e6;
	out[M3_OUTSIDE] = out[M3_WALL] - last_at;
	return 0;
}

void bench_case_trace(struct bench_case *c, const struct bench_opts *o)
{
	bench_init_case(c, o, 3, "Startup breakdown");
	c->about = "`gmvm run --trace-startup` on case 1's command: each phase's step as gmvm prints it on "
		   "stderr, median over the counted runs, phases in the order gmvm prints them. *outside main()* "
		   "is the process wall time minus the last trace line's time since start: exec, dynamic "
		   "linking and process exit after the trace was printed.";
	c->expect = "Hello from gmvm guest";
	c->measure = measure_trace;
	c->n_metrics = 2;
	c->metrics[M3_WALL] = (struct bench_metric){ "wall ms", 2 };
	c->metrics[M3_OUTSIDE] = (struct bench_metric){ "outside main() ms", 2 };
	bench_note_backend(bench_add_side(c, "gmvm", o->gmvm, "run", "--cpus", "1", "--memory",
					  bench_gmvm_memory(o, "1G"), "--trace-startup",
					  bench_path_in(o->guests, "hello.elf"), (char *)NULL), o);
	c->priv = calloc(1, sizeof(struct trace_phases));
	if (c->priv)
		trace_phases_init(c->priv, o->runs);
	bg_kvm_unusable(c->skip, sizeof(c->skip));
}

void bench_case_free(struct bench_case *c)
{
	for (int s = 0; s < c->n_sides; s++) {
		for (int a = 0; c->sides[s].argv[a]; a++)
			free(c->sides[s].argv[a]);
		for (int m = 0; m < c->n_metrics; m++)
			free(c->sides[s].v[m]);
	}
	for (int i = 0; i < c->n_ratios; i++)
		free(c->ratios[i].v);
	if (c->priv) {
		trace_phases_free(c->priv);
		free(c->priv);
	}
	c->n_sides = c->n_ratios = 0;
	c->priv = NULL;
}
