/*
 * bench/runner: runs a case's rounds.  Each round runs every side once, in
 * the case's order, so that drift in the machine (thermal, page cache, other
 * load) touches all sides alike; warm-up rounds come first and are not
 * counted.  A failed run stops the bench: no silent numbers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "background.h"
#include "bench.h"
#include "spawn.h"

bool bench_side_ran(const struct bench_case *c, int side)
{
	return !c->skip[0] && side >= 0 && side < c->n_sides && !c->sides[side].skip[0];
}

/* Shell-like quoting, so a command from the report can be pasted. */
void bench_format_argv(char *const argv[], char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; argv[i] && n < len; i++) {
		const char *a = argv[i];
		bool plain = *a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
					     "-_=+,./:@%") == strlen(a);

		n += (size_t)snprintf(buf + n, len - n, plain ? "%s%s" : "%s'%s'", i ? " " : "", a);
	}
}

static void report_failure(const struct bench_case *c, int side, const char *what, const char *output)
{
	char cmd[4096];
	size_t len = output ? strlen(output) : 0;

	bench_format_argv(c->sides[side].argv, cmd, sizeof(cmd));
	fprintf(stderr, "gmvm-bench: case %d, %s: %s\n  command: %s\n", c->number, c->sides[side].label, what, cmd);
	if (output) {
		fprintf(stderr, "  output (%zu bytes):\n%s", len, output);
		if (len && output[len - 1] != '\n')
			fputc('\n', stderr);
	}
	fprintf(stderr, "gmvm-bench: stopped; fix the failure above and run again\n");
}

static void store(struct bench_case *c, int side, int round, const double *vals)
{
	if (round >= 0)
		for (int m = 0; m < c->n_metrics; m++)
			c->sides[side].v[m][round] = vals[m];
}

/* --verbose: one line on stderr per run, as it ends. */
static void say_run(const struct bench_case *c, int side, int round, double t0_us, const double *vals)
{
	if (!c->verbose)
		return;
	fprintf(stderr, "gmvm-bench: case %d, %s, %s %d: %.1f s:", c->number, c->sides[side].label,
		round < 0 ? "warm-up" : "round", round < 0 ? -round : round + 1, (bg_now_us() - t0_us) / 1e6);
	for (int m = 0; m < c->n_metrics; m++)
		if (!isnan(vals[m]))
			fprintf(stderr, " %s %.*f", c->metrics[m].name, c->metrics[m].decimals + 1, vals[m]);
	fputc('\n', stderr);
}

/* One run of one side of a case with its own run function. */
static int run_side_own(struct bench_case *c, int side, int round)
{
	double vals[BENCH_MAX_METRICS], t0 = bg_now_us();
	char why[512] = "";
	char *output = NULL;

	for (int m = 0; m < BENCH_MAX_METRICS; m++)
		vals[m] = NAN;
	if (c->run(c, side, vals, why, sizeof(why), &output) < 0) {
		report_failure(c, side, why[0] ? why : "failed", output);
		free(output);
		return -1;
	}
	free(output);
	say_run(c, side, round, t0, vals);
	store(c, side, round, vals);
	return 0;
}

/* One run of one side; round < 0 is a warm-up round. */
static int run_side(struct bench_case *c, int side, int round)
{
	struct spawn_result r;
	char err[512], why[512];
	double vals[BENCH_MAX_METRICS], t0 = bg_now_us();

	for (int m = 0; m < BENCH_MAX_METRICS; m++)
		vals[m] = NAN;
	if (spawn_run(c->sides[side].argv, c->guest_bytes, &r, err, sizeof(err)) < 0) {
		report_failure(c, side, err, NULL);
		return -1;
	}
	if (r.status != 0) {
		snprintf(why, sizeof(why), "exit status %d, expected 0", r.status);
		report_failure(c, side, why, r.output);
		goto fail;
	}
	if (c->expect && !bench_has_line_starting(r.output, c->expect)) {
		snprintf(why, sizeof(why), "no line starting '%s' in its output", c->expect);
		report_failure(c, side, why, r.output);
		goto fail;
	}
	why[0] = '\0';
	if (c->measure(c, side, round, &r, vals, why, sizeof(why)) < 0) {
		report_failure(c, side, why, r.output);
		goto fail;
	}
	say_run(c, side, round, t0, vals);
	store(c, side, round, vals);
	if (round >= 0)
		c->sides[side].unmapped += c->guest_bytes && !r.guest_vmas;
	spawn_result_free(&r);
	return 0;
fail:
	spawn_result_free(&r);
	return -1;
}

static int alloc_samples(struct bench_case *c)
{
	size_t n = (size_t)c->runs;

	for (int s = 0; s < c->n_sides; s++)
		for (int m = 0; m < c->n_metrics; m++)
			if (!(c->sides[s].v[m] = calloc(n, sizeof(double))))
				return -1;
	for (int i = 0; i < c->n_ratios; i++)
		if (!(c->ratios[i].v = calloc(n, sizeof(double))))
			return -1;
	return 0;
}

int bench_run_case(struct bench_case *c)
{
	if (alloc_samples(c) < 0) {
		fprintf(stderr, "gmvm-bench: out of memory; use fewer --runs\n");
		return -1;
	}
	if (c->skip[0]) {
		printf("case %d: skipping %s: %s\n", c->number, c->title, c->skip);
		fflush(stdout);
	} else {
		for (int s = 0; s < c->n_sides; s++)
			if (c->sides[s].skip[0])
				printf("case %d: skipping %s: %s\n", c->number, c->sides[s].label, c->sides[s].skip);
		printf("case %d: %s: %d warm-up + %d counted rounds...\n", c->number, c->title, c->warmup, c->runs);
		fflush(stdout);
	}
	for (int round = -c->warmup; round < c->runs; round++)
		for (int s = 0; s < c->n_sides; s++)
			if (bench_side_ran(c, s) && (c->run ? run_side_own(c, s, round) : run_side(c, s, round)) < 0)
				return -1;
	/* ratios within each round, so that slow rounds cancel out */
	for (int i = 0; i < c->n_ratios; i++) {
		struct bench_ratio *q = &c->ratios[i];
		bool ok = bench_side_ran(c, q->num) && bench_side_ran(c, q->den);

		for (int k = 0; k < c->runs; k++) {
			double a = ok ? c->sides[q->num].v[q->metric][k] : NAN;
			double b = ok ? c->sides[q->den].v[q->metric][k] : NAN;

			q->v[k] = q->diff ? a - b : a / b;
		}
	}
	return 0;
}
