/*
 * bench/trace: reads the lines `gmvm run --trace-startup` prints,
 *   gmvm: trace <phase, may contain spaces> +<step> ms  (at <since start> ms)
 * without knowing the phase names: they are gmvm's business and may change.
 */
#ifndef BENCH_TRACE_H
#define BENCH_TRACE_H

#include <stddef.h>

#define TRACE_MAX_PHASES 24
#define TRACE_NAME_MAX 64

struct trace_phases {
	int n, rounds;
	char name[TRACE_MAX_PHASES][TRACE_NAME_MAX];	/* in order of first appearance */
	double *step[TRACE_MAX_PHASES];			/* step[phase][round] ms, NaN when absent */
};

/* One line (up to its newline); 0 when it is a trace line, -1 otherwise. */
int trace_parse_line(const char *line, char *name, size_t namelen, double *step_ms, double *at_ms);

/* Records every trace line of one run's output; returns how many there were
 * and sets *last_at_ms to the last line's "at" value. */
int trace_phases_add(struct trace_phases *t, int round, const char *output, double *last_at_ms);

int trace_phases_init(struct trace_phases *t, int rounds);
void trace_phases_free(struct trace_phases *t);

#endif
