/*
 * `gmvm update` without KVM.  The client runs against the real API server
 * in this process (no machine: the 409 line), and against a fake peer
 * that records the request, to see the body it builds (the binary made
 * absolute, what follows -- as args) and how it shows each answer: the
 * one line on success, and the exit status of each refusal (400: 2,
 * 501: 3, else 1).  Live updates themselves need KVM
 * (tests/integration/test_update.c).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_test.h"
#include "fake_api.h"
#include "harness.h"

/* ---- against the real server, no machine ---------------------------------- */

TestSuite(update, .init = start_server, .fini = stop_server, .timeout = 60);

Test(update, without_a_machine_prints_the_409_line)
{
	struct run_result r;

	run_gmvm(&r, 30, "update", "--api-sock", sock, NULL);
	expect_error_line(&r, 1, "gmvm: no VM is attached yet; retry vmm.live-update once gmvm run has created the machine\n");
	run_result_free(&r);
}

Test(update, a_forbidden_argument_is_the_servers_400_and_exit_2)
{
	struct run_result r;

	run_gmvm(&r, 30, "update", "--api-sock", sock, "--", "--timeout", "30", "--api-sock", "/tmp/other.sock", NULL);
	expect_error_line(&r, 2, "argument 2 is '--api-sock', which the running VM hands over itself");
	run_result_free(&r);

	run_gmvm(&r, 30, "update", "--api-sock", sock, "--binary", "/nonexistent/gmvm", NULL);
	expect_error_line(&r, 2, "cannot use /nonexistent/gmvm: No such file or directory");
	run_result_free(&r);
}

/* ---- against a peer that records the request ------------------------------ */

#define DONE "{\"status\":\"completed\",\"phase\":\"completed\",\"pause_ms\":1.254,\"load_ms\":0.5,\"check_ms\":3," \
	     "\"elapsed_ms\":40,\"pid\":4242,\"binary\":\"/opt/gmvm-2\",\"updates\":1,\"state_bytes\":8192,"   \
	     "\"fds\":5,\"bind\":\"ram=mapped\"}"

TestSuite(update_peer, .init = make_dir, .fini = remove_dir, .timeout = 60);

Test(update_peer, sends_the_binary_absolute_and_the_args_and_prints_one_line)
{
	char cwd[PATH_MAX], want[PATH_MAX + 16];
	struct fake f;
	struct run_result r;

	fake_start(&f, sock, 200, DONE, 0);
	/* after --, even --json and --api-sock are the new process's (and the server judges them) */
	run_gmvm(&r, 30, "update", "--api-sock", sock, "--binary", "bin/gmvm-2", "--", "--timeout", "30", "--json", NULL);
	fake_stop_one_put(&f);
	expect_run(&r, 0, "updated: gmvm pid 4242 (/opt/gmvm-2) runs the guest; paused 1.25 ms\n");
	cr_assert_str_empty(r.err);
	run_result_free(&r);

	cr_assert(strncmp(f.put_request, "PUT /api/v1/vmm.live-update HTTP/1.1\r\n", 38) == 0, "%s", f.put_request);
	json_t *j = fake_put_body(&f);
	cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/bin/gmvm-2", cwd);
	cr_assert_str_eq(json_string_value(json_object_get(j, "binary")), want);
	json_t *args = json_object_get(j, "args");
	cr_assert_eq(json_array_size(args), 3);
	cr_assert_str_eq(json_string_value(json_array_get(args, 0)), "--timeout");
	cr_assert_str_eq(json_string_value(json_array_get(args, 1)), "30");
	cr_assert_str_eq(json_string_value(json_array_get(args, 2)), "--json");
	cr_assert_eq(json_object_size(j), 2);
	json_decref(j);
}

Test(update_peer, no_options_send_an_empty_object_and_json_prints_the_answer)
{
	struct fake f;
	struct run_result r;

	fake_start(&f, sock, 200, DONE, 0);
	run_gmvm(&r, 30, "update", "--json", "--api-sock", sock, NULL);
	fake_stop_one_put(&f);
	expect_run(&r, 0, DONE "\n");
	run_result_free(&r);
	json_t *j = fake_put_body(&f);
	cr_assert_eq(json_object_size(j), 0, "%s", f.put_request);
	json_decref(j);
}

static void expect_refusal(int http, const char *body, int status, const char *line)
{
	struct fake f;
	struct run_result r;

	fake_start(&f, sock, http, body, 0);
	run_gmvm(&r, 30, "update", "--api-sock", sock, "--binary", "/opt/gmvm-2", NULL);
	fake_stop_one_put(&f);
	expect_error_line(&r, status, line);
	run_result_free(&r);
}

Test(update_peer, refusals_exit_2_3_or_1_with_the_servers_line)
{
	expect_refusal(400, "{\"error\":\"region ram: backend=anon memory has no fd to hand to another process; re-home the region to memfd first (gmvm rehome ...)\"}",
		       2, "gmvm: region ram: backend=anon memory has no fd to hand to another process; re-home");
	expect_refusal(501, "{\"error\":\"this kernel cannot do it\"}", 3, "gmvm: this kernel cannot do it\n");
	expect_refusal(409, "{\"error\":\"a live update is running (checking)\"}", 1,
		       "gmvm: a live update is running (checking)\n");
	expect_refusal(500, "{\"error\":\"the new process died (phase load); the guest runs on here\"}", 1,
		       "gmvm: the new process died (phase load); the guest runs on here\n");
}

/* ---- usage: exit 2, one line, nothing sent -------------------------------- */

static void usage_error(const char *want, const char *const *args)
{
	expect_usage_error(ARGS("update", "--api-sock", sock), args, want);
}

Test(update_usage, errors_exit_2_with_one_line, .init = make_dir, .fini = remove_dir, .timeout = 60)
{
	usage_error("update: unexpected '--timeout'; options for the new gmvm run go after --; usage: gmvm update --api-sock PATH [--binary PATH] [-- ARGS...] [--json]",
		    ARGS("--timeout", "30"));
	usage_error("update: unexpected 'gmvm'", ARGS("gmvm"));
	usage_error("update: --binary needs a value", ARGS("--binary"));
	usage_error("update: --binary given twice", ARGS("--binary", "/a", "--binary=/b"));
	usage_error("update: the --binary path is empty", ARGS("--binary="));
	usage_error("update: 33 arguments after --; the new gmvm run takes at most 32",
		    ARGS("--", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17",
			 "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33"));

	/* the common options are checked too */
	expect_usage_error(ARGS("update"), ARGS("--binary", "/a"), "update: needs --api-sock PATH");
}

Test(update_usage, help_names_the_options_and_exits_0, .timeout = 60)
{
	struct run_result r;

	run_gmvm(&r, 30, "update", "--help", NULL);
	expect_run(&r, 0, "usage: gmvm update --api-sock PATH [--binary PATH] [-- ARGS...] [--json]\n");
	cr_assert(strstr(r.out, "PUT /api/v1/vmm.live-update"), "%s", r.out);
	cr_assert(strstr(r.out, "docs/live-update.md"), "%s", r.out);
	cr_assert_str_empty(r.err);
	run_result_free(&r);
}
