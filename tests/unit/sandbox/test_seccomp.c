/*
 * sandbox/seccomp without KVM: --seccomp's parsing, and in forked children
 * (a filter never leaves the process it was loaded in) what each mode does
 * to a call off the list, what the reporter says, and that every kind's
 * list loads and still lets a thread start and exit.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

/* syslog(SYSLOG_ACTION_SIZE_BUFFER): on no list */
static void forbidden(void)
{
	syscall(SYS_syslog, 10, NULL, 0);
}

struct child {
	int status;
	char err[2048];
};

/* Run fn in a child that set up mode and entered kind; its stderr and exit status. */
static void run_child(enum gm_seccomp_mode mode, int kind, void (*fn)(void), struct child *out)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	fflush(NULL);
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct gm_error e = { 0 };

		dup2(p[1], 2);
		close(p[0]);
		if (gm_seccomp_setup(mode, &e) < 0 || (kind >= 0 && gm_seccomp_enter((enum gm_thread_kind)kind, &e) < 0)) {
			fprintf(stderr, "setup failed: %s\n", e.msg);
			_exit(99);
		}
		if (fn)
			fn();
		_exit(0);
	}
	close(p[1]);
	size_t n = 0;
	ssize_t r;

	while (n < sizeof(out->err) - 1 && (r = read(p[0], out->err + n, sizeof(out->err) - 1 - n)) > 0)
		n += (size_t)r;
	out->err[n] = '\0';
	close(p[0]);
	cr_assert_eq(waitpid(pid, &out->status, 0), pid);
}

Test(seccomp, parses_on_log_off_and_names_them_on_a_typo)
{
	enum gm_seccomp_mode m;
	struct gm_error e = { 0 };

	cr_assert_eq(gm_seccomp_parse("on", &m, &e), 0);
	cr_assert_eq(m, GM_SECCOMP_ON);
	cr_assert_eq(gm_seccomp_parse("log", &m, &e), 0);
	cr_assert_eq(m, GM_SECCOMP_LOG);
	cr_assert_eq(gm_seccomp_parse("off", &m, &e), 0);
	cr_assert_eq(m, GM_SECCOMP_OFF);
	cr_assert_eq(gm_seccomp_parse("yes", &m, &e), -EINVAL);
	cr_assert(strstr(e.msg, "on, log or off"), "%s", e.msg);
}

Test(seccomp, on_a_call_off_the_list_stops_with_one_line_naming_kind_and_call)
{
	struct child c;

	run_child(GM_SECCOMP_ON, GM_THREAD_VCPU, forbidden, &c);
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1, "status %#x, stderr: %s", c.status, c.err);
	cr_assert(strstr(c.err, "gmvm: seccomp: the vcpu thread made syscall syslog (103), which its allow-list does not permit; gmvm stops (status 1); --seccomp log"),
		  "%s", c.err);
	cr_assert_eq(strchr(c.err, '\n') - c.err + 1, (long)strlen(c.err), "more than one line: %s", c.err);
}

/* The name a made thread gives itself (NULL: it keeps its maker's, gm-<kind>), as libmicrohttpd renames its own. */
static const char *made_thread_name;

static void *forbidden_thread(void *arg)
{
	(void)arg;
	if (made_thread_name)
		pthread_setname_np(pthread_self(), made_thread_name);
	forbidden();
	return NULL;
}

/* A thread made without the start hook, as libmicrohttpd makes its connection threads: it breaks its maker's list. */
static void forbidden_in_a_made_thread(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, forbidden_thread, NULL) == 0)
		pthread_join(t, NULL);
}

/* An api thread's list broken by a thread it made, named name: the line names the api kind. */
static void expect_made_thread_named_api(const char *name)
{
	struct child c;

	made_thread_name = name;
	run_child(GM_SECCOMP_ON, GM_THREAD_API, forbidden_in_a_made_thread, &c);
	made_thread_name = NULL;
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1, "status %#x, stderr: %s", c.status, c.err);
	cr_assert(strstr(c.err, "gmvm: seccomp: the api thread made syscall syslog (103)"), "%s", c.err);
}

Test(seccomp, a_thread_that_inherited_its_makers_filter_is_named_by_its_makers_kind)
{
	expect_made_thread_named_api(NULL);
}

Test(seccomp, libmicrohttpds_renamed_threads_are_named_api)
{
	expect_made_thread_named_api("MHD-connection");
}

static void bad_ioctl(void)
{
	ioctl(0, 0x1234abcdUL, 0);
}

Test(seccomp, an_ioctl_off_the_list_is_named_with_its_request)
{
	struct child c;

	run_child(GM_SECCOMP_ON, GM_THREAD_CONSOLE, bad_ioctl, &c);
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1, "status %#x, stderr: %s", c.status, c.err);
	cr_assert(strstr(c.err, "the console thread made syscall ioctl (16) request 0x1234abcd,"), "%s", c.err);
}

Test(seccomp, log_lets_the_call_run)
{
	struct child c;

	run_child(GM_SECCOMP_LOG, GM_THREAD_VCPU, forbidden, &c);
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "status %#x, stderr: %s", c.status, c.err);
	cr_assert_str_empty(c.err);
}

Test(seccomp, off_confines_nothing)
{
	struct child c;

	run_child(GM_SECCOMP_OFF, GM_THREAD_VCPU, forbidden, &c);
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "status %#x, stderr: %s", c.status, c.err);
}

Test(seccomp, main_setting_up_is_under_the_baseline)
{
	struct child c;

	run_child(GM_SECCOMP_ON, -1, forbidden, &c);
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1, "status %#x, stderr: %s", c.status, c.err);
	cr_assert(strstr(c.err, "the main (setting up) thread made syscall syslog"), "%s", c.err);
}

static void *nothing(void *p)
{
	return p;
}

/* A thread starts and ends (clone3 says ENOSYS, glibc falls back to clone with CLONE_THREAD). */
static void start_a_thread(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, nothing, NULL) != 0 || pthread_join(t, NULL) != 0)
		_exit(98);
}

Test(seccomp, every_kinds_list_loads_and_lets_a_thread_start)
{
	for (int k = 0; k < GM_THREAD_KINDS; k++) {
		struct child c;

		run_child(GM_SECCOMP_ON, k, start_a_thread, &c);
		cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "kind %s: status %#x, stderr: %s",
			  gm_thread_kind_name((enum gm_thread_kind)k), c.status, c.err);
	}
}

static void make_a_process(void)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	_exit(97);
}

Test(seccomp, a_confined_thread_makes_no_process)
{
	struct child c;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	cr_skip_test("a sanitized build lets every clone through: LSan's leak check at exit makes a tracer task with it");
#endif
	run_child(GM_SECCOMP_ON, GM_THREAD_MIGRATION, make_a_process, &c);
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1, "status %#x, stderr: %s", c.status, c.err);
	cr_assert(strstr(c.err, "the migration thread made syscall clone (56) argument 0x"), "%s", c.err);
}

Test(seccomp, the_test_hook_violates_right_after_its_kind_entered)
{
	struct child c;

	setenv("GMVM_TEST_SECCOMP_VIOLATE", "net", 1);
	run_child(GM_SECCOMP_ON, GM_THREAD_BLK_IO, NULL, &c);
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "blk-io is not net: status %#x, %s", c.status, c.err);
	run_child(GM_SECCOMP_ON, GM_THREAD_NET, NULL, &c);
	unsetenv("GMVM_TEST_SECCOMP_VIOLATE");
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1, "status %#x, stderr: %s", c.status, c.err);
	cr_assert(strstr(c.err, "the net thread made syscall syslog (103)"), "%s", c.err);
}

static void *blocked_violator(void *p)
{
	struct gm_error e = { 0 };

	if (gm_seccomp_enter(GM_THREAD_BLK_IO, &e) < 0)
		_exit(96);
	forbidden();
	return p;
}

/* blk-io and the API's workers block every signal: the reporter must still run, not a silent SIGSYS */
static void violate_with_signals_blocked(void)
{
	sigset_t all;
	pthread_t t;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	if (pthread_create(&t, NULL, blocked_violator, NULL) == 0)
		pthread_join(t, NULL);
	_exit(95);
}

Test(seccomp, a_thread_that_blocks_every_signal_still_reports)
{
	struct child c;

	run_child(GM_SECCOMP_ON, -1, violate_with_signals_blocked, &c);
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 1, "status %#x, stderr: %s", c.status, c.err);
	cr_assert(strstr(c.err, "the blk-io thread made syscall syslog (103)"), "%s", c.err);
}
