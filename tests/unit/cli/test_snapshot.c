/*
 * `gmvm snapshot` and `gmvm snapshot-merge` without KVM.  The client runs
 * against the real API server in this process (no machine: the 409 line),
 * and against a fake peer that records the request, to see the body it
 * builds (DIR made absolute, the type) and how it prints an answer.
 * snapshot-merge is checked for its usage and for inputs that are not
 * snapshots; merging real chains needs a machine (tests/integration).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_test.h"
#include "fake_api.h"
#include "harness.h"

/* dir/name; the last four stay valid, for one call's arguments */
static const char *in_dir(const char *name)
{
	static char paths[4][256];
	static unsigned next;
	char *path = paths[next++ % 4];

	snprintf(path, sizeof(paths[0]), "%s/%s", dir, name);
	return path;
}

/* ---- against the real server, no machine ---------------------------------- */

TestSuite(snapshot, .init = start_server, .fini = stop_server, .timeout = 60);

Test(snapshot, without_a_machine_prints_the_409_line)
{
	struct run_result r;

	run_gmvm(&r, 30, "snapshot", "--api-sock", sock, in_dir("snap1"), NULL);
	expect_error_line(&r, 1, "gmvm: no VM is attached yet; retry vm.snapshot once gmvm run has created the machine\n");
	run_result_free(&r);

	run_gmvm(&r, 30, "snapshot", in_dir("snap1"), "--diff", "--json", "--api-sock", sock, NULL);
	expect_error_line(&r, 1, "no VM is attached yet; retry vm.snapshot");
	run_result_free(&r);
}

Test(snapshot, ping_lists_the_feature)
{
	struct run_result r;

	run_gmvm(&r, 30, "ping", "--api-sock", sock, NULL);
	expect_run(&r, 0, "features: guest-memfd, api, events, snapshot, migration, rehome, live-update\n");
	run_result_free(&r);
}

/* ---- against a peer that records the request ------------------------------ */

TestSuite(snapshot_peer, .init = make_dir, .fini = remove_dir, .timeout = 60);

Test(snapshot_peer, sends_an_absolute_file_url_and_prints_one_line)
{
	struct fake f;
	struct run_result r;
	char given[256], want[PATH_MAX + 16];

	/* a path through a subdirectory and back: what is sent is the real one */
	cr_assert_eq(mkdir(in_dir("sub"), 0700), 0);
	snprintf(given, sizeof(given), "%s/sub/../snap1/", dir);
	fake_start(&f, sock, 200,
		   "{\"destination_url\":\"file:///var/snap1\",\"type\":\"full\",\"paused_us\":12345,"
		   "\"state_bytes\":40000,\"memory_bytes\":268435456}",
		   0);
	run_gmvm(&r, 30, "snapshot", "--api-sock", sock, given, NULL);
	fake_stop_one_put(&f);
	expect_run(&r, 0, "snapshot /var/snap1: full, paused 12.3 ms, state 40 KiB, memory 256.0 MiB\n");
	cr_assert_str_empty(r.err);
	run_result_free(&r);

	cr_assert(strncmp(f.put_request, "PUT /api/v1/vm.snapshot HTTP/1.1\r\n", 34) == 0, "%s", f.put_request);
	json_t *j = fake_put_body(&f);
	snprintf(want, sizeof(want), "file://%s/snap1", real);
	cr_assert_str_eq(json_string_value(json_object_get(j, "destination_url")), want);
	cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "full");
	cr_assert_eq(json_object_size(j), 2);
	json_decref(j);
}

Test(snapshot_peer, diff_and_json)
{
	static const char answer[] = "{\"destination_url\":\"file:///var/s2\",\"type\":\"diff\",\"paused_us\":1,"
				     "\"state_bytes\":1,\"memory_bytes\":4096}";
	struct fake f;
	struct run_result r;

	fake_start(&f, sock, 200, answer, 0);
	run_gmvm(&r, 30, "snapshot", "--diff", in_dir("s2"), "--json", "--api-sock", sock, NULL);
	fake_stop_one_put(&f);
	expect_run(&r, 0, answer);
	run_result_free(&r);
	json_t *j = fake_put_body(&f);
	cr_assert_str_eq(json_string_value(json_object_get(j, "type")), "diff");
	json_decref(j);
}

/* ---- usage: exit 2, one line, nothing sent -------------------------------- */

static void usage_error(const char *want, const char *const *args)
{
	expect_usage_error(ARGS("snapshot", "--api-sock", sock), args, want);
}

Test(snapshot_usage, errors_exit_2_with_one_line, .init = make_dir, .fini = remove_dir, .timeout = 60)
{
	usage_error("snapshot: needs DIR, the snapshot directory to create; usage: gmvm snapshot --api-sock PATH DIR [--diff] [--json]",
		    ARGS("--json"));
	usage_error("snapshot: two directories, 'a' and 'b'; give one DIR", ARGS("a", "b"));
	usage_error("snapshot: unexpected '--full'; usage: gmvm snapshot --api-sock PATH DIR [--diff] [--json]",
		    ARGS("a", "--full"));
	usage_error("snapshot: the directory is empty", ARGS(""));
	usage_error("already exists; name a new directory (snapshots are never overwritten)", ARGS(dir));
	usage_error("snapshot: cannot find the parent directory of '/nonexistent/snap': No such file or directory; create it first",
		    ARGS("/nonexistent/snap"));
	usage_error("snapshot: '/' does not name a new directory", ARGS("/"));
	usage_error("holds a '%', which the API's file:// URLs do not take", ARGS(in_dir("a%20b")));
	/* the common options are checked too */
	expect_usage_error(ARGS("snapshot"), ARGS(in_dir("x")), "snapshot: needs --api-sock PATH");
}

Test(snapshot_usage, help_shows_the_arguments, .timeout = 60)
{
	struct run_result r;

	run_gmvm(&r, 30, "snapshot", "--help", NULL);
	expect_run(&r, 0, "usage: gmvm snapshot --api-sock PATH DIR [--diff] [--json]\n");
	cr_assert(strstr(r.out, "PUT /api/v1/vm.snapshot"), "%s", r.out);
	cr_assert(strstr(r.out, "  --diff "), "%s", r.out);
	run_result_free(&r);

	run_gmvm(&r, 30, "help", NULL);
	expect_run(&r, 0, "\n  snapshot-merge BASE [DIFF...] OUT\n");
	cr_assert(strstr(r.out, "\n  snapshot "), "%s", r.out);
	run_result_free(&r);
}

/* ---- snapshot-merge ------------------------------------------------------- */

TestSuite(merge, .init = make_dir, .fini = remove_dir, .timeout = 60);

Test(merge, fewer_than_two_arguments_is_usage)
{
	struct run_result r;

	run_gmvm(&r, 30, "snapshot-merge", NULL);
	expect_error_line(&r, 2, "snapshot-merge: needs the snapshots to merge, then OUT, the directory to create; "
				 "usage: gmvm snapshot-merge BASE [DIFF...] OUT");
	run_result_free(&r);
	run_gmvm(&r, 30, "snapshot-merge", in_dir("base"), NULL);
	expect_error_line(&r, 2, "usage: gmvm snapshot-merge BASE [DIFF...] OUT");
	run_result_free(&r);
	run_gmvm(&r, 30, "snapshot-merge", "--", "-x", NULL);
	expect_error_line(&r, 2, "usage: gmvm snapshot-merge BASE [DIFF...] OUT");
	run_result_free(&r);
}

Test(merge, unknown_option_is_usage)
{
	struct run_result r;

	run_gmvm(&r, 30, "snapshot-merge", "--force", in_dir("a"), in_dir("b"), NULL);
	expect_error_line(&r, 2, "snapshot-merge: unknown option '--force'");
	run_result_free(&r);
}

Test(merge, missing_base_is_named)
{
	struct run_result r;
	const char *base = in_dir("base");

	run_gmvm(&r, 30, "snapshot-merge", base, in_dir("out"), NULL);
	expect_error_line(&r, 2, "is not a snapshot directory: No such file or directory");
	cr_assert(strstr(r.err, base), "BASE not named:\n%s", r.err);
	run_result_free(&r);
	cr_assert_neq(access(in_dir("out"), F_OK), 0, "OUT was made");
}

Test(merge, missing_diff_is_named)
{
	struct run_result r;

	cr_assert_eq(mkdir(in_dir("base"), 0700), 0);
	run_gmvm(&r, 30, "snapshot-merge", in_dir("base"), in_dir("diff1"), in_dir("out"), NULL);
	expect_error_line(&r, 2, "diff1 is not a snapshot directory");
	run_result_free(&r);
}

/* A directory that holds no snapshot: the library's own line, and nothing written. */
Test(merge, directory_without_a_snapshot_is_refused)
{
	struct run_result r;

	cr_assert_eq(mkdir(in_dir("empty"), 0700), 0);
	run_gmvm(&r, 30, "snapshot-merge", in_dir("empty"), in_dir("out"), NULL);
	expect_error_line(&r, 2, "empty/state");
	run_result_free(&r);
	cr_assert_neq(access(in_dir("out"), F_OK), 0, "OUT was made");
}

Test(merge, help_exits_0, .timeout = 60)
{
	struct run_result r;

	run_gmvm(&r, 30, "snapshot-merge", "--help", NULL);
	expect_run(&r, 0, "usage: gmvm snapshot-merge BASE [DIFF...] OUT\n");
	run_result_free(&r);
}
