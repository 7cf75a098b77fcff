/*
 * How a guest ends and what gmvm's exit status says about it: power-off,
 * halt, the exit port, a triple fault, a runaway guest and --timeout, and
 * where console output goes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

Test(exits, triple_fault_is_a_crash_with_register_dump, .timeout = 90)
{
	struct run_result r;

	run_guest(&r, 60, "triple", NULL);
	expect_run(&r, 1, "triple: faulting");
	cr_assert(strstr(r.err, "triple-faulted"), "stderr:\n%s", r.err);
	cr_assert(strstr(r.err, "RIP="), "no register dump in stderr:\n%s", r.err);
	run_result_free(&r);
}

Test(exits, timeout_stops_a_runaway_guest, .timeout = 90)
{
	struct run_result r;

	run_guest(&r, 60, "spin", "--timeout", "1.5", NULL);
	expect_run(&r, 124, "spin: running");
	cr_assert(strstr(r.err, "--timeout"), "stderr:\n%s", r.err);
	run_result_free(&r);
}

Test(exits, halting_every_vcpu_exits_zero, .timeout = 90)
{
	struct run_result r;

	run_guest(&r, 60, "hello", "--cpus", "2", "--cmdline", "exit=halt", "--timeout", "30", NULL);
	expect_run(&r, 0, "Hello from gmvm guest");
	run_result_free(&r);
}

Test(exits, console_to_file_and_none, .timeout = 90)
{
	struct run_result r;
	char path[] = "/tmp/gmvm-console-XXXXXX";
	int fd = mkstemp(path);
	char *arg = NULL;

	cr_assert(fd >= 0);
	close(fd);
	cr_assert(asprintf(&arg, "file:%s", path) > 0);
	run_guest(&r, 60, "hello", "--console", arg, NULL);
	cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
	cr_assert_str_empty(r.out, "stdout should be empty, got:\n%s", r.out);
	FILE *f = fopen(path, "r");
	char buf[512] = { 0 };
	cr_assert(f);
	cr_assert(fread(buf, 1, sizeof(buf) - 1, f) > 0);
	fclose(f);
	cr_assert(strstr(buf, "Hello from gmvm guest"), "console file:\n%s", buf);
	run_result_free(&r);

	run_guest(&r, 60, "hello", "--console", "none", NULL);
	cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
	cr_assert_str_empty(r.out, "stdout should be empty, got:\n%s", r.out);
	run_result_free(&r);
	unlink(path);
	free(arg);
}

Test(exits, exit_port_value_becomes_the_status, .timeout = 90)
{
	struct run_result r;

	run_guest(&r, 60, "hello", "--cmdline", "hello.exit=21", NULL);
	expect_run(&r, (21 << 1) | 1, "Hello from gmvm guest");
	run_result_free(&r);
}

Test(exits, unhandled_port_is_logged_once_and_ignored, .timeout = 90)
{
	struct run_result r;

	run_guest(&r, 60, "hello", "--cmdline", "hello.port=0x2f0", NULL);
	expect_run(&r, 0, "Hello from gmvm guest");
	/* reads of a port nobody claims give all ones, and the guest goes on */
	cr_assert_eq(count_substr(r.out, "hello: port 0x2f0 reads 0xff"), 2, "stdout:\n%s", r.out);
	cr_assert_eq(count_substr(r.err, "unhandled port 0x2f0"), 1, "logged once for four accesses:\n%s", r.err);
	run_result_free(&r);
}

/* --trace-startup names every phase from the probe to the teardown, in order. */
Test(exits, trace_startup_lists_the_phases_in_order, .timeout = 90)
{
	static const char *const phases[] = {
		"probe", "check config+image", "VM create", "memory create+bind", "load guest", "vCPU setup",
		"first guest instruction", "first guest exit", "guest run to its end", "exit (teardown)",
	};
	struct run_result r;
	const char *at;

	run_guest(&r, 60, "hello", "--trace-startup", NULL);
	expect_run(&r, 0, "Hello from gmvm guest");
	at = r.err;
	for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++) {
		char want[64];

		snprintf(want, sizeof(want), "gmvm: trace %s ", phases[i]);
		at = strstr(at, want);
		cr_assert(at, "'%s' missing or out of order in:\n%s", want, r.err);
	}
	run_result_free(&r);
}
