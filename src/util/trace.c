/*
 * util/trace: the start-up trace's clock and its printout.  The names are
 * those of the phases that end at each point, in the order they happen.
 */
#include "gmvm/trace.h"

static const char *const phase_names[GM_TRACE_COUNT] = {
	[GM_TRACE_START] = "start",
	[GM_TRACE_PROBED] = "probe",
	[GM_TRACE_IMAGE_READ] = "read kernel image",
	[GM_TRACE_UNPACKED] = "decompress kernel",
	[GM_TRACE_CHECKED] = "check config+image",
	[GM_TRACE_VM] = "VM create",
	[GM_TRACE_MEMORY] = "memory create+bind",
	[GM_TRACE_LOADED] = "load guest",
	[GM_TRACE_VCPUS] = "vCPU setup",
	[GM_TRACE_FIRST_RUN] = "first guest instruction",
	[GM_TRACE_FIRST_EXIT] = "first guest exit",
	[GM_TRACE_END] = "guest run to its end",
	[GM_TRACE_EXIT] = "exit (teardown)",
};

void gm_trace_mark(struct gm_trace *t, enum gm_trace_point p)
{
	clock_gettime(CLOCK_MONOTONIC, &t->at[p]);
}

static int reached(const struct timespec *ts)
{
	return ts->tv_sec || ts->tv_nsec;
}

void gm_trace_merge(struct gm_trace *into, const struct gm_trace *from)
{
	for (int p = 0; p < GM_TRACE_COUNT; p++)
		if (reached(&from->at[p]))
			into->at[p] = from->at[p];
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

void gm_trace_print(const struct gm_trace *t, FILE *out)
{
	const struct timespec *first = NULL, *prev = NULL;

	for (int p = 0; p < GM_TRACE_COUNT; p++) {
		const struct timespec *ts = &t->at[p];

		if (!reached(ts))
			continue; /* a phase that did not happen */
		if (first)
			fprintf(out, "gmvm: trace %-24s +%8.3f ms  (at %8.3f ms)\n", phase_names[p],
				ms_between(prev, ts), ms_between(first, ts));
		else
			first = ts;
		prev = ts;
	}
}
