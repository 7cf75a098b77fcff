/*
 * Integration: gmvm run's seccomp allow-lists (src/sandbox/seccomp.c).
 * For each kind of thread, GMVM_TEST_SECCOMP_VIOLATE=<kind> makes that
 * thread call syslog(2), on no list, right after it loaded its filter: gmvm
 * exits 1 with the one line naming the kind and the call, which shows the
 * kind's filter is in force on the threads the feature starts.  Then one
 * guest with every feature, seccomp on (the default), through a snapshot,
 * a re-home and a live update, whose own check passes.  The other suites
 * run with the default on too, which is the main proof that the lists hold.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "procs.h"
#include "update_vm.h"
#include "virtio_disk.h"

TestSuite(seccomp, .init = update_vm_setup, .fini = update_vm_teardown, .timeout = 900);

/* gmvm run ARGS hello.elf with the hook aimed at kind: status 1 and the reporter's line. */
static void expect_violation(const char *kind, const char *const *args)
{
	const char *argv[24] = { "run", "--memory", test_memory("size=64M") };
	unsigned n = 3;
	char line[128];
	struct run_result r;

	require_kvm();
	for (; *args; args++)
		argv[n++] = *args;
	char *elf = guest_path("hello");

	argv[n++] = elf;
	argv[n] = NULL;
	setenv("GMVM_TEST_SECCOMP_VIOLATE", kind, 1);
	run_gmvm_argv(&r, 120, argv);
	unsetenv("GMVM_TEST_SECCOMP_VIOLATE");
	snprintf(line, sizeof(line), "gmvm: seccomp: the %s thread made syscall syslog (103), which its allow-list does not permit",
		 kind);
	cr_expect_eq(r.status, 1, "kind %s: exit status %d, stderr:\n%s", kind, r.status, r.err);
	cr_expect(strstr(r.err, line), "kind %s: no reporter line in stderr:\n%s", kind, r.err);
	cr_expect(strstr(r.err, "--seccomp log runs on and logs such calls"), "%s", r.err);
	run_result_free(&r);
	free(elf);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NOARGS ((const char *const[]){ NULL })

Test(seccomp, vcpu_thread_is_confined) { expect_violation("vcpu", NOARGS); }
Test(seccomp, main_thread_is_confined_once_the_guest_runs) { expect_violation("main", NOARGS); }

/* the API's server, its op thread and its launcher start with the API socket */
Test(seccomp, api_threads_are_confined)
{
	char *sock = test_scratch("seccomp", "api.sock");

	expect_violation("api", ARGS("--api-sock", sock));
	expect_violation("migration", ARGS("--api-sock", sock));
	expect_violation("launcher", ARGS("--api-sock", sock));
	free(sock);
}

Test(seccomp, blk_io_thread_is_confined)
{
	char *img = test_scratch("seccomp", "disk.img"), spec[PATH_MAX + 8];

	disk_make(img, 1 << 20);
	snprintf(spec, sizeof(spec), "path=%s", img);
	expect_violation("blk-io", ARGS("--disk", spec));
	free(img);
}

/* console input is forwarded only from a terminal or a pipe: stdin is a pipe here */
Test(seccomp, console_thread_is_confined)
{
	char *err = test_scratch("seccomp", "console.err"), *elf = guest_path("hello"), cmd[PATH_MAX * 3];

	require_kvm();
	snprintf(cmd, sizeof(cmd),
		 "sleep 2 | GMVM_TEST_SECCOMP_VIOLATE=console '%s' run --memory '%s' --device virtio-console '%s' >/dev/null 2>'%s'",
		 gmvm_bin(), test_memory("size=64M"), elf, err);
	int st = system(cmd);
	char *text = slurp(err);

	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 1, "exit status %#x, stderr:\n%s", st, text);
	cr_expect(strstr(text, "gmvm: seccomp: the console thread made syscall syslog (103), which its allow-list does not permit"),
		  "no reporter line in stderr:\n%s", text);
	free(text);
	free(elf);
	free(err);
}
Test(seccomp, net_thread_is_confined) { expect_violation("net", ARGS("--net", "user")); }

Test(seccomp, log_mode_runs_on_past_a_call_off_the_list)
{
	struct run_result r;

	require_kvm();
	setenv("GMVM_TEST_SECCOMP_VIOLATE", "vcpu", 1);
	run_guest(&r, 60, "hello", "--memory", test_memory("size=64M"), "--seccomp", "log", NULL);
	unsetenv("GMVM_TEST_SECCOMP_VIOLATE");
	expect_run(&r, 0, "Hello");
	run_result_free(&r);
}

/* Every feature with the lists on: the operations run on the op thread, the update's new gmvm comes from the launcher. */
Test(seccomp, every_feature_with_seccomp_on)
{
	char *img = test_scratch("seccomp", "all.img"), spec[PATH_MAX + 8], snap[PATH_MAX + 64];

	disk_make(img, 4 << 20);
	snprintf(spec, sizeof(spec), "path=%s", img);
	start_vm_argv("size=256M,backend=memfd", DIRTY_LONG,
		      ARGS("--disk", spec, "--device", "virtio-rng", "--device", "virtio-console", "--net", "user",
			   "--balloon"));
	snprintf(snap, sizeof(snap), "{\"destination_url\":\"file://%s/snap\"}", ut.f.dir);
	struct answer a = put("vm.snapshot", snap);

	if (a.http != 200)
		dump_all();
	cr_expect_eq(a.http, 200, "vm.snapshot: %s", json_dumps(a.body, 0));
	json_decref(a.body);
	expect_more_rounds();
	a = put("vm.memory-rehome", "{\"backend\":\"memfd\"}");
	if (a.http != 200)
		dump_all();
	cr_expect_eq(a.http, 200, "vm.memory-rehome: %s", json_dumps(a.body, 0));
	json_decref(a.body);
	expect_more_rounds();
	json_decref(expect_updated(update("{}"), "running"));
	expect_guest_checks_then_shutdown();
	free(img);
}
