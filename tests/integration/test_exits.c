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
	char *guest = guest_path("triple");

	require_kvm();
	run_gmvm(&r, 60, "run", guest, NULL);
	cr_assert_eq(r.status, 1, "status %d\nstderr:\n%s", r.status, r.err);
	cr_assert(strstr(r.out, "triple: faulting"), "stdout:\n%s", r.out);
	cr_assert(strstr(r.err, "triple-faulted"), "stderr:\n%s", r.err);
	cr_assert(strstr(r.err, "RIP="), "no register dump in stderr:\n%s", r.err);
	run_result_free(&r);
	free(guest);
}

Test(exits, timeout_stops_a_runaway_guest, .timeout = 90)
{
	struct run_result r;
	char *guest = guest_path("spin");

	require_kvm();
	run_gmvm(&r, 60, "run", "--timeout", "1.5", guest, NULL);
	cr_assert_eq(r.status, 124, "status %d\nstderr:\n%s", r.status, r.err);
	cr_assert(strstr(r.out, "spin: running"), "stdout:\n%s", r.out);
	cr_assert(strstr(r.err, "--timeout"), "stderr:\n%s", r.err);
	run_result_free(&r);
	free(guest);
}

Test(exits, halting_every_vcpu_exits_zero, .timeout = 90)
{
	struct run_result r;
	char *guest = guest_path("hello");

	require_kvm();
	run_gmvm(&r, 60, "run", "--cpus", "2", "--cmdline", "exit=halt", "--timeout", "30", guest, NULL);
	cr_assert_eq(r.status, 0, "status %d\nstdout:\n%s\nstderr:\n%s", r.status, r.out, r.err);
	cr_assert(strstr(r.out, "Hello from gmvm guest"), "stdout:\n%s", r.out);
	run_result_free(&r);
	free(guest);
}

Test(exits, console_to_file_and_none, .timeout = 90)
{
	struct run_result r;
	char *guest = guest_path("hello");
	char path[] = "/tmp/gmvm-console-XXXXXX";
	int fd = mkstemp(path);
	char *arg = NULL;

	require_kvm();
	cr_assert(fd >= 0);
	close(fd);
	cr_assert(asprintf(&arg, "file:%s", path) > 0);
	run_gmvm(&r, 60, "run", "--console", arg, guest, NULL);
	cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
	cr_assert_str_empty(r.out, "stdout should be empty, got:\n%s", r.out);
	FILE *f = fopen(path, "r");
	char buf[512] = { 0 };
	cr_assert(f);
	cr_assert(fread(buf, 1, sizeof(buf) - 1, f) > 0);
	fclose(f);
	cr_assert(strstr(buf, "Hello from gmvm guest"), "console file:\n%s", buf);
	run_result_free(&r);

	run_gmvm(&r, 60, "run", "--console", "none", guest, NULL);
	cr_assert_eq(r.status, 0, "stderr:\n%s", r.err);
	cr_assert_str_empty(r.out, "stdout should be empty, got:\n%s", r.out);
	run_result_free(&r);
	unlink(path);
	free(arg);
	free(guest);
}

Test(exits, exit_port_value_becomes_the_status, .timeout = 90)
{
	struct run_result r;
	char *guest = guest_path("hello");

	require_kvm();
	run_gmvm(&r, 60, "run", "--cmdline", "hello.exit=21", guest, NULL);
	cr_assert_eq(r.status, (21 << 1) | 1, "status %d\nstderr:\n%s", r.status, r.err);
	cr_assert(strstr(r.out, "Hello from gmvm guest"), "stdout:\n%s", r.out);
	run_result_free(&r);
	free(guest);
}

Test(exits, unhandled_port_is_logged_once_and_ignored, .timeout = 90)
{
	struct run_result r;
	char *guest = guest_path("hello");

	require_kvm();
	run_gmvm(&r, 60, "run", "--cmdline", "hello.port=0x2f0", guest, NULL);
	cr_assert_eq(r.status, 0, "status %d\nstderr:\n%s", r.status, r.err);
	/* reads of a port nobody claims give all ones, and the guest goes on */
	cr_assert_eq(count_substr(r.out, "hello: port 0x2f0 reads 0xff"), 2, "stdout:\n%s", r.out);
	cr_assert_eq(count_substr(r.err, "unhandled port 0x2f0"), 1, "logged once for four accesses:\n%s", r.err);
	run_result_free(&r);
	free(guest);
}
