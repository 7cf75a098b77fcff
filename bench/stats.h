/*
 * bench/stats: median, min, max and percentiles of a sample, the only
 * statistics the report uses.  Pure functions: the input is never modified.
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
/*
 * The p-th percentile (0..100), interpolated linearly between the two
 * nearest ranks (p = 50 is the median); NaN for n == 0.
 */
double stats_percentile(const double *v, size_t n, double p);

#endif
