/* bench/trace: gmvm's --trace-startup lines, read without knowing the phase names. */
#include <criterion/criterion.h>
#include <math.h>

#include "trace.h"

Test(trace, a_line_gives_name_step_and_time_since_start)
{
	char name[64];
	double step, at;

	cr_assert_eq(trace_parse_line("gmvm: trace memory create+bind   +   7.664 ms  (at    8.090 ms)\n", name,
				      sizeof(name), &step, &at), 0);
	cr_assert_str_eq(name, "memory create+bind");
	cr_assert_float_eq(step, 7.664, 1e-9);
	cr_assert_float_eq(at, 8.090, 1e-9);
}

Test(trace, other_lines_are_not_trace_lines)
{
	char name[64];
	double step, at;

	cr_assert_eq(trace_parse_line("Hello from gmvm guest (entry=pvh)", name, sizeof(name), &step, &at), -1);
	cr_assert_eq(trace_parse_line("gmvm: trace broken +1.0 ms", name, sizeof(name), &step, &at), -1);
	cr_assert_eq(trace_parse_line("gmvm: trace  +1.0 ms  (at 1.0 ms)", name, sizeof(name), &step, &at), -1);
}

Test(trace, phases_keep_the_order_they_first_appear_in)
{
	struct trace_phases t;
	double last = 0;
	const char *run0 = "Hello\n"
			   "gmvm: trace probe                    +   0.500 ms  (at    0.500 ms)\n"
			   "gmvm: trace VM create                +   1.000 ms  (at    1.500 ms)\n";
	const char *run1 = "gmvm: trace probe                    +   0.700 ms  (at    0.700 ms)\n"
			   "gmvm: trace first guest exit         +   2.000 ms  (at    2.700 ms)\n";

	trace_phases_init(&t, 2);
	cr_assert_eq(trace_phases_add(&t, 0, run0, &last), 2);
	cr_assert_float_eq(last, 1.5, 1e-9);
	cr_assert_eq(trace_phases_add(&t, 1, run1, &last), 2);
	cr_assert_float_eq(last, 2.7, 1e-9);
	cr_assert_eq(t.n, 3);
	cr_assert_str_eq(t.name[0], "probe");
	cr_assert_str_eq(t.name[1], "VM create");
	cr_assert_str_eq(t.name[2], "first guest exit");
	cr_assert_float_eq(t.step[0][1], 0.7, 1e-9);
	cr_assert(isnan(t.step[1][1]), "a phase missing from a run is NaN there");
	cr_assert(isnan(t.step[2][0]));
	trace_phases_free(&t);
}

Test(trace, warm_up_runs_name_phases_without_counting)
{
	struct trace_phases t;
	double last = 0;

	trace_phases_init(&t, 1);
	cr_assert_eq(trace_phases_add(&t, -1, "gmvm: trace load guest +   1.000 ms  (at 3.000 ms)\n", &last), 1);
	cr_assert_eq(t.n, 1);
	cr_assert(isnan(t.step[0][0]));
	trace_phases_free(&t);
}
