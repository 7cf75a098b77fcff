/* bench/stats: the medians, minima and maxima the report prints. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "stats.h"

Test(stats, odd_count_takes_the_middle_value)
{
	double v[] = { 5, 1, 3 };

	cr_assert_eq(stats_median(v, 3), 3);
}

Test(stats, even_count_takes_the_mean_of_the_two_middle_values)
{
	double v[] = { 4, 1, 3, 2 };

	cr_assert_eq(stats_median(v, 4), 2.5);
}

Test(stats, unsorted_input_gives_min_max_and_median)
{
	double v[] = { 9.5, -2, 7, 0.25, 3, 11, 1 };
	struct stats st = stats_of(v, 7);

	cr_assert_eq(st.median, 3);
	cr_assert_eq(st.min, -2);
	cr_assert_eq(st.max, 11);
}

Test(stats, one_value_is_its_own_median_min_and_max)
{
	double v[] = { 42.5 };
	struct stats st = stats_of(v, 1);

	cr_assert_eq(st.median, 42.5);
	cr_assert_eq(st.min, 42.5);
	cr_assert_eq(st.max, 42.5);
}

Test(stats, input_keeps_its_round_order)
{
	double v[] = { 3, 1, 2, 5, 4, 0 };
	double copy[6];

	memcpy(copy, v, sizeof(v));
	(void)stats_of(v, 6);
	(void)stats_median(v, 6);
	cr_assert_arr_eq(v, copy, sizeof(v));
}

Test(stats, no_values_give_nan)
{
	struct stats st = stats_of(NULL, 0);

	cr_assert(isnan(st.median) && isnan(st.min) && isnan(st.max));
}
