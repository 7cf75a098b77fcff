/*
 * gm_trace: timestamps at the ends of the steps of starting and running a
 * machine, so a caller can see where start-up time goes.  The caller marks
 * the points outside the machine (its own start, the probe, the exit);
 * gm_machine_trace() adds the points the machine marked itself.
 */
#ifndef GMVM_TRACE_H
#define GMVM_TRACE_H

#include <stdio.h>
#include <time.h>

enum gm_trace_point {
	GM_TRACE_START,       /* the caller began (gmvm: `run` entered) */
	GM_TRACE_PROBED,      /* kernel capabilities probed */
	GM_TRACE_IMAGE_READ,  /* a bzImage read (only bzImages mark it) */
	GM_TRACE_UNPACKED,    /* its payload decompressed on the host (likewise) */
	GM_TRACE_CHECKED,     /* config, memory and guest image checked, image read */
	GM_TRACE_VM,          /* VM and irqchip created */
	GM_TRACE_MEMORY,      /* guest memory created and bound */
	GM_TRACE_LOADED,      /* guest image and boot tables written */
	GM_TRACE_VCPUS,       /* vCPUs created and set up */
	GM_TRACE_FIRST_RUN,   /* first KVM_RUN issued: the guest's first instruction */
	GM_TRACE_FIRST_EXIT,  /* first exit from the guest (its first I/O) */
	GM_TRACE_END,         /* the guest ended */
	GM_TRACE_EXIT,        /* machine destroyed, the caller about to exit */
	GM_TRACE_COUNT,
};

struct gm_trace {
	struct timespec at[GM_TRACE_COUNT]; /* CLOCK_MONOTONIC; zero: not reached */
};

/* Record now (CLOCK_MONOTONIC) as the time point p was reached. */
void gm_trace_mark(struct gm_trace *t, enum gm_trace_point p);

/* Copy into *into every point *from reached, leaving the others as they are. */
void gm_trace_merge(struct gm_trace *into, const struct gm_trace *from);

/*
 * One line per reached point after the first reached one:
 *   gmvm: trace <phase>  +<ms since the previous point> ms  (at <ms since the first> ms)
 */
void gm_trace_print(const struct gm_trace *t, FILE *out);

#endif
