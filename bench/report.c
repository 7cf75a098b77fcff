/*
 * bench/report: turns a finished case into tables (per side per metric,
 * ratios, targets, and case 3's phases), printed as a plain-text summary on
 * stdout and as docs/performance.md.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "table.h"
#include "trace.h"

#define ANALYSIS_FILE "bench/analysis.md"

/* A metric a side does not measure (QEMU has no paused_us) is NaN in every run. */
static bool measured(const struct bench_case *c, int s, int m)
{
	for (int k = 0; k < c->runs; k++)
		if (!isnan(c->sides[s].v[m][k]))
			return true;
	return false;
}

static void side_table(struct table *t, const struct bench_case *c)
{
	char med[32], lo[32], hi[32];

	table_init(t, 5, "side", "metric", ">median", ">min", ">max");
	for (int s = 0; s < c->n_sides; s++) {
		if (!bench_side_ran(c, s))
			continue;
		for (int m = 0, first = 1; m < c->n_metrics; m++) {
			if (!measured(c, s, m))
				continue;
			struct stats st = stats_of(c->sides[s].v[m], (size_t)c->runs);
			int d = c->metrics[m].decimals;

			table_row(t, first ? c->sides[s].label : "", c->metrics[m].name, table_num(med, 32, st.median, d),
				  table_num(lo, 32, st.min, d), table_num(hi, 32, st.max, d));
			first = 0;
		}
	}
}

/* "ratio", "difference" or both, for the table's head and the text before it. */
static const char *ratio_kind(const struct bench_case *c)
{
	int diffs = 0;

	for (int i = 0; i < c->n_ratios; i++)
		diffs += c->ratios[i].diff;
	return !diffs ? "ratio" : diffs == c->n_ratios ? "difference" : "ratio or difference";
}

static void ratio_table(struct table *t, const struct bench_case *c)
{
	char med[32], lo[32], hi[32], head[64];

	snprintf(head, sizeof(head), "%s, per round", ratio_kind(c));
	table_init(t, 4, head, ">median", ">min", ">max");
	for (int i = 0; i < c->n_ratios; i++) {
		struct stats st = stats_of(c->ratios[i].v, (size_t)c->runs);

		table_row(t, c->ratios[i].name, table_num(med, 32, st.median, 3), table_num(lo, 32, st.min, 3),
			  table_num(hi, 32, st.max, 3));
	}
}

static double target_value(const struct bench_case *c, const struct bench_target *g)
{
	if (g->ratio >= 0)
		return stats_median(c->ratios[g->ratio].v, (size_t)c->runs);
	if (!bench_side_ran(c, g->side))
		return NAN;
	return stats_median(c->sides[g->side].v[g->metric], (size_t)c->runs);
}

static void target_table(struct table *t, const struct bench_case *c)
{
	table_init(t, 3, "target", ">measured (median)", "result");
	for (int i = 0; i < c->n_targets; i++) {
		const struct bench_target *g = &c->targets[i];
		double v = target_value(c, g);
		char measured[48];

		snprintf(measured, sizeof(measured), "%.3f%s", v, g->unit);
		if (isnan(v))
			table_row(t, g->what, "n/a", "not measured (a side was skipped)");
		else
			table_row(t, g->what, measured, (g->at_most ? v <= g->limit : v >= g->limit) ? "met" : "not met");
	}
}

/* Median of the values that are not NaN (a phase may be absent from a run). */
static double median_present(const double *v, int n, int *present)
{
	double *p = malloc((size_t)(n ? n : 1) * sizeof(*p));
	int k = 0;

	if (!p)
		return NAN;
	for (int i = 0; i < n; i++)
		if (!isnan(v[i]))
			p[k++] = v[i];
	double m = stats_median(p, (size_t)k);

	free(p);
	*present = k;
	return m;
}

static void phase_table(struct table *t, const struct bench_case *c)
{
	const struct trace_phases *tp = c->priv;
	double med[TRACE_MAX_PHASES + 1], total = 0;
	int present[TRACE_MAX_PHASES + 1];
	char name[TABLE_CELL], ms[32], share[32];

	for (int i = 0; i < tp->n; i++)
		total += med[i] = median_present(tp->step[i], c->runs, &present[i]);
	total += med[tp->n] = stats_median(c->sides[0].v[1], (size_t)c->runs);
	present[tp->n] = c->runs;
	table_init(t, 3, "phase", ">median ms", ">share");
	for (int i = 0; i <= tp->n; i++) {
		const char *label = i < tp->n ? tp->name[i] : "outside main() (exec, dynamic linking, process exit)";

		if (present[i] < c->runs)
			snprintf(name, sizeof(name), "%s (in %d of %d runs)", label, present[i], c->runs);
		else
			snprintf(name, sizeof(name), "%s", label);
		snprintf(share, sizeof(share), "%.1f%%", 100 * med[i] / total);
		table_row(t, name, table_num(ms, 32, med[i], 3), share);
	}
	table_row(t, "total (sum of the medians above)", table_num(ms, 32, total, 3), "100.0%");
}

/* Why a side's guest RAM in RSS may read 0; empty when it does not apply. */
static const char *unmapped_note(const struct bench_case *c, int s, char *buf, size_t len)
{
	buf[0] = '\0';
	if (bench_side_ran(c, s) && c->sides[s].unmapped)
		snprintf(buf, len,
			 "%s: in %d of %d runs no guest-RAM mapping was left at exit (unmapped while tearing "
			 "down, or never mapped), so its guest RAM in RSS reads 0 and its overhead is an upper bound: it "
			 "includes the guest-RAM pages the VMM itself touched (image, boot tables)",
			 c->sides[s].label, c->sides[s].unmapped, c->runs);
	return buf;
}

static void print_skips(FILE *out, const struct bench_case *c, const char *indent)
{
	for (int s = 0; s < c->n_sides; s++)
		if (c->sides[s].skip[0])
			fprintf(out, "%sskipped %s: %s\n", indent, c->sides[s].label, c->sides[s].skip);
}

void report_case_text(FILE *out, const struct bench_case *c)
{
	static struct table t;
	char note[512];

	if (c->skip[0]) {
		fprintf(out, "\n== case %d: %s: skipped: %s ==\n", c->number, c->title, c->skip);
		fflush(out);
		return;
	}
	fprintf(out, "\n== case %d: %s (%d counted rounds after %d warm-up) ==\n", c->number, c->title, c->runs,
		c->warmup);
	print_skips(out, c, "  ");
	side_table(&t, c);
	table_print_text(out, &t, "  ");
	for (int s = 0; s < c->n_sides; s++)
		if (c->sides[s].note && bench_side_ran(c, s))
			fprintf(out, "  (%s: %s)\n", c->sides[s].label, c->sides[s].note);
	for (int s = 0; s < c->n_sides; s++)
		if (*unmapped_note(c, s, note, sizeof(note)))
			fprintf(out, "  (%s)\n", note);
	if (c->n_ratios) {
		fputc('\n', out);
		ratio_table(&t, c);
		table_print_text(out, &t, "  ");
	}
	if (c->n_targets) {
		fputc('\n', out);
		target_table(&t, c);
		table_print_text(out, &t, "  ");
	}
	if (c->priv) {
		fputc('\n', out);
		phase_table(&t, c);
		table_print_text(out, &t, "  ");
	}
	fflush(out);
}

static void md_case(FILE *out, const struct bench_case *c)
{
	static struct table t;
	char cmd[4096], note[512];

	fprintf(out, "\n## %d. %s\n\n%s\n\n", c->number, c->title, c->about);
	fprintf(out, "Commands, one per side, run alternately: %d warm-up round(s), then %d counted rounds.\n\n```sh\n",
		c->warmup, c->runs);
	for (int s = 0; s < c->n_sides; s++) {
		bench_format_argv(c->sides[s].argv, cmd, sizeof(cmd));
		fprintf(out, "# %s%s%s\n%s\n", c->sides[s].label, c->sides[s].note ? ": " : "",
			c->sides[s].note ? c->sides[s].note : "", cmd);
	}
	fputs("```\n\n", out);
	if (c->skip[0]) {
		fprintf(out, "- **Skipped**: %s\n", c->skip);
		return;
	}
	bool skipped = false;

	for (int s = 0; s < c->n_sides; s++)
		if (c->sides[s].skip[0]) {
			fprintf(out, "- **Skipped** %s: %s\n", c->sides[s].label, c->sides[s].skip);
			skipped = true;
		}
	if (skipped)
		fputc('\n', out);
	side_table(&t, c);
	table_print_md(out, &t);
	for (int s = 0, first = 1; s < c->n_sides; s++)
		if (*unmapped_note(c, s, note, sizeof(note))) {
			fprintf(out, "%s- %s.\n", first ? "\n" : "", note);
			first = 0;
		}
	if (c->priv) {
		fputs("\nWhere the time goes (median step per phase):\n\n", out);
		phase_table(&t, c);
		table_print_md(out, &t);
	}
	if (c->n_ratios) {
		const char *kind = ratio_kind(c);

		fprintf(out, "\n%c%ss, computed within each round; median, min and max over the rounds:\n\n",
			kind[0] - 'a' + 'A', kind + 1);
		ratio_table(&t, c);
		table_print_md(out, &t);
	}
	if (c->n_targets) {
		fputs("\nTargets (reported, never asserted):\n\n", out);
		target_table(&t, c);
		table_print_md(out, &t);
	}
	fputs("\nRaw medians (and every counted run, in round order):\n\n", out);
	for (int s = 0; s < c->n_sides; s++) {
		if (!bench_side_ran(c, s))
			continue;
		for (int m = 0; m < c->n_metrics; m++) {
			const double *v = c->sides[s].v[m];

			if (!measured(c, s, m))
				continue;
			fprintf(out, "- %s, %s: %.6g (runs:", c->sides[s].label, c->metrics[m].name,
				stats_median(v, (size_t)c->runs));
			for (int k = 0; k < c->runs; k++)
				fprintf(out, " %.6g", v[k]);
			fputs(")\n", out);
		}
	}
}

/* bench/analysis.md, the lead engineer's reading of the numbers, verbatim. */
static void append_analysis(FILE *out)
{
	FILE *in = fopen(ANALYSIS_FILE, "r");
	char buf[8192];
	size_t n;

	if (!in)
		return;
	fputc('\n', out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
}

int report_write_markdown(const char *path, const char *machine, const char *date, const struct bench_opts *o,
			  struct bench_case *const cases[], int n_cases)
{
	FILE *out = fopen(path, "w");

	if (!out)
		return -1;
	fprintf(out, "# Performance\n\n"
		     "Side-by-side benchmarks of gmvm, written by `make bench` (bench/, driver "
		     "`build/bench/gmvm-bench`); edits here are lost on the next run.\n\n"
		     "- Date: %s\n- Machine: %s\n%s%s%s"
		     "- Method: each case runs its sides alternately (A B A B ...), %d warm-up round(s) then %d "
		     "counted rounds; tables give the median, min and max per side; ratios are computed within "
		     "each round and summarised by their median. No case asserts on time: each target is reported "
		     "as met or not met.\n\n"
		     "To reproduce: `make bench` from the repository root, as root so that the 2 MiB hugetlb pool "
		     "can be filled (`bench/run.sh`; `bench/run.sh --runs 11` for more rounds, `--case memory` "
		     "for one case, `--case api` for the control-API cases 4-6, `--case snapshot` for case 7).%s\n",
		date, machine, o->backend ? "- gmvm's memory backend where a case names none: " : "",
		o->backend ? o->backend : "", o->backend ? " (--gmvm-backend)\n" : "", o->warmup, o->runs,
		getenv("IN_NESTED_VM") ? " This report comes from the nested KVM VM under QEMU TCG: "
					 "`make bench-nested` (scripts/nested-kvm/bench.sh, whose header lists its "
					 "knobs); only the ratios between gmvm and QEMU mean something there." : "");
	for (int i = 0; i < n_cases; i++)
		md_case(out, cases[i]);
	append_analysis(out);
	return fclose(out) == 0 ? 0 : -1;
}
