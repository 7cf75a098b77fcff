/*
 * bench/: gmvm-bench, the side-by-side benchmark driver behind `make bench`.
 * A case is a set of sides (commands) run alternately, round after round;
 * this header holds what the cases, the runner and the report share.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "spawn.h"
#include "stats.h"

#define BENCH_MAX_SIDES 8
#define BENCH_MAX_ARGS 40
#define BENCH_MAX_METRICS 8
#define BENCH_MAX_RATIOS 12
#define BENCH_MAX_TARGETS 6
#define BENCH_GIB (UINT64_C(1) << 30)

struct bench_opts {
	const char *gmvm, *guests, *qemu, *host_touch, *report, *rev, *which;
	const char *sockdir;	/* a private directory for the API and snapshot cases' sockets; NULL without them */
	const char *backend;	/* --gmvm-backend: gmvm's backend where a case names none; NULL: gmvm's default */
	char backend_note[96];	/* said next to the sides it changes; empty without --gmvm-backend */
	bool qemu_found;	/* qemu resolved to an executable */
	bool verbose;		/* --verbose: a line on stderr per run */
	int runs, warmup;
	int snapshot_mib;	/* case 7's guest RAM, both VMMs (default 1024) */
	int timeout_scale;	/* the VMM waits' timeouts times this: slow hosts (nested KVM under TCG) */
};

struct bench_side {
	char label[48];
	const char *note;		/* said next to the label, e.g. "not a target"; may be NULL */
	char *argv[BENCH_MAX_ARGS];	/* NULL-terminated, strings owned by the side */
	char skip[200];			/* why this side cannot run here; empty when it can */
	char sock[108];			/* the control socket a run function talks to; empty: none */
	double *v[BENCH_MAX_METRICS];	/* v[metric][round], counted rounds only */
	int unmapped;			/* counted runs with no guest-RAM mapping left at exit */
};

struct bench_metric {
	const char *name;	/* "wall ms", "peak RSS MiB" */
	int decimals;		/* shown in tables; raw medians get more */
};

/* Per round: sides[num].v[metric] / sides[den].v[metric], or their difference (diff). */
struct bench_ratio {
	char name[96];
	int num, den, metric;
	bool diff;
	double *v;
};

/* A goal checked on a ratio's median (ratio >= 0) or a side's metric median. */
struct bench_target {
	const char *what;
	int ratio;
	int side, metric;
	bool at_most;		/* value <= limit, else value >= limit */
	double limit;
	const char *unit;	/* appended to the measured value: "x", " MiB" */
};

struct bench_case;
/* Fills out[metric] from one run's result; -1 with a reason in why when the output lacks it. */
typedef int (*bench_measure_fn)(struct bench_case *c, int side, int round, const struct spawn_result *r,
				double *out, char *why, size_t whylen);

/*
 * Runs one side once by itself, in place of spawn + expect + measure (the
 * API cases, which talk to a VMM while it runs).  Fills out[metric] (NaN:
 * not measured on this side), or returns -1 with a reason in why and, in
 * *output, what the command printed (malloc'd, may stay NULL).
 */
typedef int (*bench_run_fn)(struct bench_case *c, int side, double *out, char *why, size_t whylen,
			    char **output);

struct bench_case {
	int number;
	const char *title;
	const char *about;	/* Markdown paragraph(s) for the report */
	const char *expect;	/* every run must print a line starting with this */
	uint64_t guest_bytes;	/* guest RAM size to find in smaps at exit; 0: not looked for */
	int n_sides, n_metrics, n_ratios, n_targets;
	struct bench_side sides[BENCH_MAX_SIDES];
	struct bench_metric metrics[BENCH_MAX_METRICS];
	struct bench_ratio ratios[BENCH_MAX_RATIOS];
	struct bench_target targets[BENCH_MAX_TARGETS];
	int runs, warmup;
	int timeout_scale;	/* the case's waits for a VMM are multiplied by it (bench_opts) */
	bool verbose;		/* a line on stderr per run */
	bench_measure_fn measure;
	bench_run_fn run;	/* NULL: spawn each side's command to its end, then measure */
	char skip[200];		/* why no side of the case can run here; empty when they can */
	void *priv;		/* case 3: the trace phases (trace.h) */
};

/* cases.c: build cases 1-3 from the options, and the helpers every case uses. */
void bench_case_start(struct bench_case *c, const struct bench_opts *o);
void bench_case_memory(struct bench_case *c, const struct bench_opts *o);
void bench_case_trace(struct bench_case *c, const struct bench_opts *o);
void bench_case_free(struct bench_case *c);
void bench_init_case(struct bench_case *c, const struct bench_opts *o, int number, const char *title);
/* Appends a side whose command is the NULL-terminated list of strings. */
struct bench_side *bench_add_side(struct bench_case *c, const char *label, ...);
/* Appends the NULL-terminated strings to a side's command. */
void bench_side_append(struct bench_side *s, ...);
/* QEMU microvm with cpus vCPUs, mem ("1G", "512M") of memory-backend-memfd, the guest's serial on stdout. */
struct bench_side *bench_add_qemu(struct bench_case *c, const struct bench_opts *o, const char *label,
				  const char *elf, const char *cpus, const char *mem);
/*
 * gmvm's --memory value for size with the --gmvm-backend added when one was
 * given; in rotating static buffers as bench_path_in.
 */
char *bench_gmvm_memory(const struct bench_opts *o, const char *size);
/* Marks a side whose --memory came from bench_gmvm_memory with the backend it was given. */
void bench_note_backend(struct bench_side *s, const struct bench_opts *o);
void bench_add_ratio(struct bench_case *c, int num, int den, int metric, const char *name);
/* Free 2 MiB hugetlb pages now, -1 when the kernel has none. */
long bench_free_hugepages_2m(void);
/* A whole number from the environment variable name, def when unset or (said on stderr) outside min..max. */
long bench_env_num(const char *name, long def, long min, long max);
/* dir/file in one of a few rotating static buffers: use it at once (argv strings are copied). */
char *bench_path_in(const char *dir, const char *file);

/* case_api.c: cases 4-6, gmvm's control API next to QEMU's QMP (--case api). */
void bench_case_api_ping(struct bench_case *c, const struct bench_opts *o);
void bench_case_api_pause(struct bench_case *c, const struct bench_opts *o);
void bench_case_api_memory(struct bench_case *c, const struct bench_opts *o);

/* case_snapshot.c: case 7, saving a running guest and restoring it, next to QEMU (--case snapshot). */
void bench_case_snapshot(struct bench_case *c, const struct bench_opts *o);

/* case_migrate.c: case 8, live migration at three dirty rates, next to QEMU (--case migrate). */
void bench_case_migrate(struct bench_case *c, const struct bench_opts *o);
/* What one QEMU live migration measured (NaN: not measured). */
struct bench_migration {
	double total_ms, mb, down_ms, seen_ms, dirty_mbs;
};
/*
 * For other cases: one QEMU live migration of side's guest (the side's
 * QEMU command, guest_mib of RAM, `dirty` writing at pages_s) over a UNIX
 * socket to a QEMU whose -object is dst_object (NULL: the source's).
 */
int bench_qemu_migration(struct bench_case *c, const struct bench_opts *o, int side, int guest_mib, double pages_s,
			 const char *dst_object, struct bench_migration *res, char *why, size_t whylen, char **output);
/* How a QEMU migration for another case differs from case 8's; zero fields keep case 8's. */
struct bench_qemu_how {
	const char *src_object, *dst_object;	/* each QEMU's -object; NULL: the side's */
	int ws_mib;				/* what `dirty` writes (dirty.mb); 0: the guest's RAM less 24 MiB */
	bool ignore_shared;			/* x-ignore-shared on both QEMUs (the destination's through its QMP) */
};
int bench_qemu_migration_how(struct bench_case *c, const struct bench_opts *o, int side, int guest_mib,
			     double pages_s, const struct bench_qemu_how *how, struct bench_migration *res, char *why,
			     size_t whylen, char **output);

/* case_rehome.c: case 9, re-homing a running guest's memory 4K -> 2M, next to a QEMU migration (--case rehome). */
void bench_case_rehome(struct bench_case *c, const struct bench_opts *o);

/* case_update.c: case 10, live update of a running gmvm at 1, 4 and 16 GiB, next to QEMU x-ignore-shared (--case update). */
void bench_case_update(struct bench_case *c, const struct bench_opts *o);

/* case_blk.c: case 11, virtio-blk IOPS per mode, next to QEMU's virtio-blk-device (--case blk). */
void bench_case_blk(struct bench_case *c, const struct bench_opts *o);

/* case_linux.c: case 12, Linux (vmlinux, bzImage) to its first console line, next to QEMU PVH (--case linux). */
void bench_case_linux(struct bench_case *c, const struct bench_opts *o);

/* case_net.c: case 13, UDP round trips and throughput through user-mode networking, next to QEMU -netdev user (--case net). */
void bench_case_net(struct bench_case *c, const struct bench_opts *o);

/* case_balloon.c: case 14, virtio-balloon free page reporting reclaim GB/s per backend, gmvm only (--case balloon). */
void bench_case_balloon(struct bench_case *c, const struct bench_opts *o);

/* runner.c: run every round; -1 (after printing the command and its output) on a failed run. */
int bench_run_case(struct bench_case *c);
bool bench_side_ran(const struct bench_case *c, int side);
void bench_format_argv(char *const argv[], char *buf, size_t len);

/* report.c: the stdout summary and the Markdown report. */
void report_case_text(FILE *out, const struct bench_case *c);
int report_write_markdown(const char *path, const char *machine, const char *date, const struct bench_opts *o,
			  struct bench_case *const cases[], int n_cases);

/* machine_info.c: one line describing the host, and the QEMU version. */
void machine_info(char *buf, size_t len, const struct bench_opts *o);

#endif
