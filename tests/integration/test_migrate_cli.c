/*
 * The command lines of live migration, without KVM: `gmvm run --incoming`
 * refused up front (exit 2, one line, nothing started), and `gmvm migrate`
 * / `gmvm migrate-cancel` against a fake API server on a UNIX socket that
 * records what it is sent and answers as the contract says a gmvm does
 * (200, 409, 500, 501).  What is checked  is what a user sees: exit
 * statuses, the lines printed, and the progress line on a terminal.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_api.h"
#include "harness.h"

static char dir[64], real[PATH_MAX], sock[128];

static void make_dir(void)
{
	strcpy(dir, "/tmp/gmvm-migcli-XXXXXX");
	cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	cr_assert(realpath(dir, real), "realpath: %s", strerror(errno));
	snprintf(sock, sizeof(sock), "%s/api.sock", dir);
	/* relative URLs are resolved against the client's directory: this one */
	cr_assert_eq(chdir(dir), 0);
}

static void remove_dir(void)
{
	char cmd[128];

	cr_assert_eq(chdir("/"), 0);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ---- gmvm run --incoming: refused before anything exists ------------------- */

static void run_refused(const char *want, const char *const *args)
{
	expect_usage_error(ARGS("run"), args, want);
}

Test(incoming_options, refusals_exit_2_with_one_line, .init = make_dir, .fini = remove_dir, .timeout = 60)
{
	static const char uuid[] = "6f1c2a3e-0d4b-4c8e-9a7f-2b5d1e3c4a6f";
	char longest[128];

	run_refused("--incoming: 'http://h:1' is not a migration URL; write tcp:HOST:PORT (e.g. tcp:192.0.2.7:4444) or unix:PATH",
		    ARGS("--incoming", "http://h:1"));
	run_refused("--incoming: 'tcp:h:0': the port '0' is not a number from 1 to 65535", ARGS("--incoming", "tcp:h:0"));
	run_refused("--incoming: 'tcp:::1:4444': an IPv6 address goes in brackets", ARGS("--incoming=tcp:::1:4444"));
	run_refused("--incoming: 'unix:' names no socket path", ARGS("--incoming", "unix:"));
	run_refused("--incoming needs a value; write --incoming tcp:HOST:PORT|unix:PATH", ARGS("--incoming"));
	run_refused("--incoming and a guest ELF both say what to run; the sender brings its guest, drop the ELF",
		    ARGS("--incoming", "unix:in.sock", "guest.elf"));
	run_refused("--incoming and a guest ELF both say what to run",
		    ARGS("--kernel", "guest.elf", "--incoming", "tcp:0.0.0.0:4444"));
	run_refused("--incoming and --restore both say where the guest comes from; give one",
		    ARGS("--restore", dir, "--incoming", "unix:in.sock"));
	run_refused("--uuid with --incoming: the sender brings the VM's identity; to require one, write --incoming-identity UUID",
		    ARGS("--incoming", "unix:in.sock", "--uuid", uuid));
	run_refused("--incoming given twice ('unix:a.sock' and 'tcp:h:1')",
		    ARGS("--incoming", "unix:a.sock", "--incoming", "tcp:h:1"));
	run_refused("--incoming-identity: UUID 'vm-1' is not 8-4-4-4-12 hex digits",
		    ARGS("--incoming", "unix:in.sock", "--incoming-identity", "vm-1"));
	run_refused("--incoming-timeout -1: must be a positive number of seconds",
		    ARGS("--incoming", "unix:in.sock", "--incoming-timeout", "-1"));
	run_refused("--incoming-timeout 0: must be a positive number of seconds",
		    ARGS("--incoming", "unix:in.sock", "--incoming-timeout", "0"));
	run_refused("--incoming-timeout 604800.5: must be at most 604800 seconds (a week)",
		    ARGS("--incoming", "unix:in.sock", "--incoming-timeout", "604800.5"));
	run_refused("--incoming-identity and --incoming-timeout need --incoming URL",
		    ARGS("--incoming-identity", uuid, "guest.elf"));
	run_refused("--incoming-identity and --incoming-timeout need --incoming URL",
		    ARGS("--incoming-timeout", "10", "guest.elf"));
	/* a path the listener cannot take (it binds a temporary name first) is refused here, not later */
	memset(longest, 'p', sizeof(longest));
	memcpy(longest, "unix:/", 6);
	longest[5 + 101] = '\0';
	run_refused("the path is 101 bytes, more than the 100 gmvm can listen on; choose a shorter path",
		    ARGS("--incoming", longest));
	/* nothing was created */
	cr_assert_neq(access("in.sock", F_OK), 0);
}

Test(incoming_options, help_lists_them)
{
	struct run_result r;

	run_gmvm(&r, 30, "run", "--help", NULL);
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "gmvm run [OPTIONS] --incoming URL\n"), "%s", r.out);
	cr_assert(strstr(r.out, "--incoming URL     wait for a migrating guest at URL (default: none)"), "%s", r.out);
	cr_assert(strstr(r.out, "--incoming-identity UUID"), "%s", r.out);
	cr_assert(strstr(r.out, "--incoming-timeout SECONDS"), "%s", r.out);
	run_result_free(&r);
}

static const char completed[] =
	"{\"status\":\"completed\",\"total_ms\":1234.4,\"bytes_sent\":268435456,\"downtime_ms\":3.25,"
	"\"rounds\":4,\"throttle_pct\":0,\"pages_sent\":70000,\"destination_url\":\"tcp:192.0.2.7:4444\"}";

TestSuite(migrate, .init = make_dir, .fini = remove_dir, .timeout = 60);

/* ---- gmvm migrate: the request and its answer ------------------------------- */

Test(migrate, sends_the_options_and_prints_one_line)
{
	struct fake f;
	struct run_result r;
	char want[PATH_MAX + 16];

	fake_start(&f, sock, 200, completed, 0);
	run_gmvm(&r, 30, "migrate", "--api-sock", sock, "unix:dest.sock", "--downtime-ms", "20", "--connections=4",
		 "--postcopy", "--compress", "zstd", "--timeout-s", "90", NULL);
	fake_stop(&f);
	expect_run(&r, 0, "migrated to tcp:192.0.2.7:4444 in 1234 ms: 268435456 bytes sent, downtime 3.2 ms, 4 rounds\n");
	cr_assert_eq(count_substr(r.out, "\n"), 1, "%s", r.out);
	/* no terminal: nothing while it waits, and no polling either */
	cr_assert_str_empty(r.err);
	cr_assert_eq(f.gets, 0);
	run_result_free(&r);

	cr_assert_eq(f.puts, 1);
	cr_assert(strncmp(f.put_request, "PUT /api/v1/vm.send-migration HTTP/1.1\r\n", 40) == 0, "%s", f.put_request);
	json_t *j = fake_put_body(&f);
	snprintf(want, sizeof(want), "unix:%s/dest.sock", real);
	cr_assert_str_eq(json_string_value(json_object_get(j, "destination_url")), want, "a relative path is made absolute");
	cr_assert_eq(json_integer_value(json_object_get(j, "downtime_ms")), 20);
	cr_assert_eq(json_integer_value(json_object_get(j, "connections")), 4);
	cr_assert_eq(json_integer_value(json_object_get(j, "timeout_s")), 90);
	cr_assert_str_eq(json_string_value(json_object_get(j, "memory_mode")), "postcopy");
	cr_assert_str_eq(json_string_value(json_object_get(j, "compress")), "zstd");
	cr_assert_eq(json_object_size(j), 6);
	json_decref(j);
}

Test(migrate, only_the_url_leaves_the_rest_to_the_server)
{
	struct fake f;
	struct run_result r;

	fake_start(&f, sock, 200, completed, 0);
	run_gmvm(&r, 30, "migrate", "tcp:[::1]:4444", "--api-sock", sock, NULL);
	fake_stop(&f);
	cr_assert_eq(r.status, 0, "%s", r.err);
	run_result_free(&r);
	json_t *j = fake_put_body(&f);
	cr_assert_str_eq(json_string_value(json_object_get(j, "destination_url")), "tcp:[::1]:4444");
	cr_assert_eq(json_object_size(j), 1, "defaults are the server's");
	json_decref(j);
}

Test(migrate, json_prints_the_answer_as_it_came)
{
	struct fake f;
	struct run_result r;

	fake_start(&f, sock, 200, completed, 0);
	run_gmvm(&r, 30, "migrate", "--api-sock", sock, "--json", "unix:/run/d.sock", NULL);
	fake_stop(&f);
	expect_run(&r, 0, completed);
	cr_assert_str_empty(r.err);
	run_result_free(&r);
}

Test(migrate, waits_as_long_as_the_migration_takes)
{
	struct fake f;
	struct run_result r;

	fake_start(&f, sock, 200, completed, 2500);
	run_gmvm(&r, 30, "migrate", "--api-sock", sock, "unix:/run/d.sock", NULL);
	fake_stop(&f);
	expect_run(&r, 0, "migrated to tcp:192.0.2.7:4444 in 1234 ms");
	run_result_free(&r);
}

Test(migrate, http_501_exits_3_with_the_servers_line)
{
	struct fake f;
	struct run_result r;

	fake_start(&f, sock, 501,
		   "{\"error\":\"postcopy needs userfaultfd on the guest memory, and this kernel has none on guest_memfd; use precopy\"}",
		   0);
	run_gmvm(&r, 30, "migrate", "--api-sock", sock, "unix:/run/d.sock", "--postcopy", NULL);
	fake_stop(&f);
	expect_error_line(&r, 3, "gmvm: postcopy needs userfaultfd on the guest memory, and this kernel has none on guest_memfd; use precopy\n");
	run_result_free(&r);
}

Test(migrate, a_failure_exits_1_with_the_servers_line)
{
	static const int statuses[] = { 500, 502, 409, 400 };
	struct fake f;
	struct run_result r;

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		fake_start(&f, sock, statuses[i], "{\"error\":\"migration cancelled by vm.migration-cancel\"}", 0);
		run_gmvm(&r, 30, "migrate", "--api-sock", sock, "unix:/run/d.sock", "--json", NULL);
		fake_stop(&f);
		expect_error_line(&r, 1, "gmvm: migration cancelled by vm.migration-cancel\n");
		run_result_free(&r);
	}
}

Test(migrate, no_api_there)
{
	struct run_result r;

	run_gmvm(&r, 30, "migrate", "--api-sock", sock, "unix:/run/d.sock", NULL);
	expect_error_line(&r, 1, "cannot reach the API at");
	run_result_free(&r);
}

/* ---- progress on a terminal ------------------------------------------------- */

struct tty_run {
	int status;
	char out[4096];  /* stdout, a pipe */
	char tty[65536]; /* stderr, a terminal */
};

static void read_into(int fd, char *buf, size_t cap, size_t *len)
{
	ssize_t n = read(fd, buf + *len, cap - 1 - *len);

	if (n > 0)
		*len += (size_t)n;
	buf[*len] = '\0';
}

/* gmvm migrate with stderr on a pseudo-terminal, as in a shell. */
static void run_on_tty(struct tty_run *t, const char *const *args)
{
	const char *bin = getenv("GMVM_BIN") ? getenv("GMVM_BIN") : "build/gmvm";
	const char *argv[16] = { bin };
	int master = posix_openpt(O_RDWR | O_NOCTTY), out[2], n = 1;
	size_t olen = 0, tlen = 0;

	for (; *args; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	cr_assert(master >= 0 && grantpt(master) == 0 && unlockpt(master) == 0);
	int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	cr_assert(slave >= 0 && pipe(out) == 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(slave, 2);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(slave);
	close(out[1]);
	/* until the child's end closes both: the pty then reads EIO, the pipe EOF */
	for (bool tty_open = true, out_open = true; tty_open || out_open;) {
		struct pollfd p[2] = { { tty_open ? master : -1, POLLIN, 0 }, { out_open ? out[0] : -1, POLLIN, 0 } };
		cr_assert_gt(poll(p, 2, 20000), 0, "gmvm migrate hangs; tty so far:\n%s", t->tty);
		if (p[0].revents) {
			size_t before = tlen;
			read_into(master, t->tty, sizeof(t->tty), &tlen);
			tty_open = tlen != before;
		}
		if (p[1].revents) {
			size_t before = olen;
			read_into(out[0], t->out, sizeof(t->out), &olen);
			out_open = olen != before;
		}
	}
	int ws;
	cr_assert_eq(waitpid(pid, &ws, 0), pid);
	t->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	close(master);
	close(out[0]);
}

Test(migrate, a_terminal_sees_the_progress_line_then_the_answer)
{
	static struct tty_run t;
	struct fake f;

	fake_start(&f, sock, 200, completed, 1500);
	f.info_body = "{\"state\":\"running\",\"migration\":{\"phase\":\"precopy\",\"destination_url\":\"unix:/run/d.sock\","
		      "\"round\":2,\"pages_total\":1000,\"pages_left\":250,\"pages_sent\":900,\"bytes_sent\":3686400,"
		      "\"bandwidth_mbps\":812.34,\"expected_downtime_ms\":1.5,\"throttle_pct\":20,\"elapsed_ms\":900}}";
	run_on_tty(&t, ARGS("migrate", "--api-sock", sock, "unix:/run/d.sock"));
	fake_stop(&f);
	cr_assert_eq(t.status, 0, "tty:\n%s", t.tty);
	cr_assert_str_eq(t.out, "migrated to tcp:192.0.2.7:4444 in 1234 ms: 268435456 bytes sent, downtime 3.2 ms, 4 rounds\n");
	/* several polls in 1.5 s, each redrawing the one line in place */
	cr_assert_geq(f.gets, 3, "vm.info was asked %d times", f.gets);
	cr_assert(strstr(t.tty, "\rprecopy round 2 [#######---]  75%, 812.3 MB/s, 250 pages left, throttle 20%\033[K"),
		  "no progress line on the terminal:\n%s", t.tty);
	cr_assert_null(strchr(t.tty, '\n'), "the progress line must not scroll:\n%s", t.tty);
	/* and cleared before the answer */
	size_t len = strlen(t.tty);
	cr_assert(len >= 4 && strcmp(t.tty + len - 4, "\r\033[K") == 0, "the line is not cleared at the end:\n%s", t.tty);
}

Test(migrate, a_terminal_sees_nothing_before_the_first_phase)
{
	static struct tty_run t;
	struct fake f;

	fake_start(&f, sock, 501, "{\"error\":\"no postcopy here\"}", 600);
	f.info_body = "{\"state\":\"running\",\"migration\":{\"phase\":\"none\"}}";
	run_on_tty(&t, ARGS("migrate", "--api-sock", sock, "unix:/run/d.sock", "--postcopy"));
	fake_stop(&f);
	cr_assert_eq(t.status, 3);
	cr_assert_str_eq(t.tty, "gmvm: no postcopy here\r\n");
}

/* ---- usage: exit 2, one line, nothing sent -------------------------------- */

static void usage_error(const char *want, const char *const *args)
{
	expect_usage_error(ARGS("migrate", "--api-sock", sock), args, want);
}

Test(migrate, usage_errors_exit_2_with_one_line)
{
	static const char usage[] =
		"usage: gmvm migrate --api-sock PATH URL [--downtime-ms N] [--connections N] [--postcopy] [--compress zstd] [--timeout-s N] [--json]";
	struct fake f;
	char want[512];
	struct run_result r;

	/* a server that would answer: none of these may reach it */
	fake_start(&f, sock, 200, completed, 0);
	snprintf(want, sizeof(want), "migrate: needs URL, where gmvm run --incoming URL waits (tcp:HOST:PORT or unix:PATH); %s",
		 usage);
	usage_error(want, ARGS("--json"));
	usage_error("migrate: 'dest:4444' is not a migration URL; write tcp:HOST:PORT", ARGS("dest:4444"));
	usage_error("migrate: 'tcp:dest' has no port", ARGS("tcp:dest"));
	usage_error("migrate: two destinations, 'unix:/a' and 'unix:/b'; give one URL", ARGS("unix:/a", "unix:/b"));
	snprintf(want, sizeof(want), "migrate: unexpected '--precopy'; %s", usage);
	usage_error(want, ARGS("unix:/a", "--precopy"));
	usage_error("migrate: --downtime-ms 0: must be a whole number from 1 to 60000", ARGS("unix:/a", "--downtime-ms", "0"));
	usage_error("migrate: --downtime-ms 60001: must be a whole number from 1 to 60000",
		    ARGS("unix:/a", "--downtime-ms=60001"));
	usage_error("migrate: --downtime-ms 5ms: must be a whole number", ARGS("unix:/a", "--downtime-ms", "5ms"));
	usage_error("migrate: --connections 17: must be a whole number from 1 to 16", ARGS("unix:/a", "--connections", "17"));
	usage_error("migrate: --connections 0: must be", ARGS("--connections", "0", "unix:/a"));
	usage_error("migrate: --timeout-s -5: must be a whole number from 0 to", ARGS("unix:/a", "--timeout-s", "-5"));
	usage_error("migrate: --timeout-s 99999999999999999999999: must be a whole number",
		    ARGS("unix:/a", "--timeout-s", "99999999999999999999999"));
	usage_error("migrate: --timeout-s 604801: must be a whole number from 0 to 604800",
		    ARGS("unix:/a", "--timeout-s", "604801"));
	usage_error("migrate: --compress lz4: use zstd or none", ARGS("unix:/a", "--compress", "lz4"));
	snprintf(want, sizeof(want), "migrate: --connections needs a value; %s", usage);
	usage_error(want, ARGS("unix:/a", "--connections"));
	usage_error("migrate: --compress needs a value", ARGS("unix:/a", "--compress"));
	usage_error("migrate: unexpected '--postcopy=yes'", ARGS("unix:/a", "--postcopy=yes"));
	fake_stop(&f);
	cr_assert_eq(f.puts + f.gets, 0, "a refused command line reached the server");

	run_gmvm(&r, 30, "migrate", "unix:/a", NULL);
	expect_error_line(&r, 2, "migrate: needs --api-sock PATH");
	run_result_free(&r);
}

Test(migrate, help_shows_every_option_and_the_exit_statuses)
{
	struct run_result r;

	run_gmvm(&r, 30, "migrate", "--help", NULL);
	cr_assert_eq(r.status, 0);
	for (const char *const *w = ARGS("--downtime-ms N", "--connections N", "--postcopy", "--compress zstd",
					 "--timeout-s N", "--json", "3 when this kernel lacks what was asked");
	     *w; w++)
		cr_assert(strstr(r.out, *w), "help lacks '%s':\n%s", *w, r.out);
	run_result_free(&r);
	run_gmvm(&r, 30, "help", NULL);
	cr_assert(strstr(r.out, "  migrate         move the running guest to gmvm run --incoming URL\n"), "%s", r.out);
	cr_assert(strstr(r.out, "  migrate-cancel  stop a running migration"), "%s", r.out);
	run_result_free(&r);
}

/* ---- gmvm migrate-cancel ---------------------------------------------------- */

Test(migrate, cancel)
{
	struct fake f;
	struct run_result r;

	fake_start(&f, sock, 200, "{\"cancelled\":true}", 0);
	run_gmvm(&r, 30, "migrate-cancel", "--api-sock", sock, NULL);
	fake_stop(&f);
	expect_run(&r, 0, "migration cancelled; the guest runs on here\n");
	cr_assert_str_empty(r.err);
	run_result_free(&r);
	cr_assert(strncmp(f.put_request, "PUT /api/v1/vm.migration-cancel HTTP/1.1\r\n", 42) == 0, "%s", f.put_request);
	cr_assert(strstr(f.put_request, "Content-Length: 0\r\n"), "%s", f.put_request);

	fake_start(&f, sock, 409, "{\"error\":\"no migration is running\"}", 0);
	run_gmvm(&r, 30, "migrate-cancel", "--api-sock", sock, NULL);
	fake_stop(&f);
	expect_error_line(&r, 1, "gmvm: no migration is running\n");
	run_result_free(&r);

	run_gmvm(&r, 30, "migrate-cancel", "--api-sock", sock, "now", NULL);
	expect_error_line(&r, 2, "migrate-cancel: unexpected 'now'");
	run_result_free(&r);
}
