/*
 * bench/stats: median, min and max of a sample, the only statistics the
 * report uses.  Pure functions: the input is never modified.
 */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stddef.h>

struct stats {
	double median;	/* for an even count, the mean of the two middle values */
	double min;
	double max;
};

/* NaN for n == 0 (and for the median, if memory runs out). */
double stats_median(const double *v, size_t n);
struct stats stats_of(const double *v, size_t n);

#endif
