/* bench/stats: median, min, max and percentiles of a sample of doubles. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* A sorted copy: callers keep their samples in round order. */
static double *sorted_copy(const double *v, size_t n)
{
	double *s = malloc(n * sizeof(*s));

	if (s) {
		memcpy(s, v, n * sizeof(*s));
		qsort(s, n, sizeof(*s), cmp_double);
	}
	return s;
}

double stats_median(const double *v, size_t n)
{
	if (n == 0)
		return NAN;
	double *s = sorted_copy(v, n);

	if (!s)
		return NAN;
	double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;

	free(s);
	return m;
}

double stats_percentile(const double *v, size_t n, double p)
{
	if (n == 0 || isnan(p))
		return NAN;
	double *s = sorted_copy(v, n);

	if (!s)
		return NAN;
	double pos = (p < 0 ? 0 : p > 100 ? 100 : p) / 100 * (double)(n - 1);
	size_t lo = (size_t)pos;
	double m = lo + 1 < n && pos > (double)lo ? s[lo] + (pos - (double)lo) * (s[lo + 1] - s[lo]) : s[lo];

	free(s);
	return m;
}

struct stats stats_of(const double *v, size_t n)
{
	struct stats st = { NAN, NAN, NAN };

	if (n == 0)
		return st;
	st.median = stats_median(v, n);
	st.min = st.max = v[0];
	for (size_t i = 1; i < n; i++) {
		if (v[i] < st.min)
			st.min = v[i];
		if (v[i] > st.max)
			st.max = v[i];
	}
	return st;
}
