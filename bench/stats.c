/* bench/stats: median, min and max of a sample of doubles. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double stats_median(const double *v, size_t n)
{
	if (n == 0)
		return NAN;
	/* sort a copy: callers keep their samples in round order */
	double *s = malloc(n * sizeof(*s));

	if (!s)
		return NAN;
	memcpy(s, v, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_double);
	double m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;

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
