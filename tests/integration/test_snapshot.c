/*
 * Snapshots through libgmvm's public API: taken from a running guest,
 * restored after the original is gone, and the guest's own consistency
 * check passes; memtest's checksum survives; a chain of diffs and its
 * merge; two clones at once; a restore of a VM that still runs is refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "test_vm.h"

static char *scratch(const char *name)
{
	return test_scratch("snap", name);
}

static void snapshot(struct vm *vm, const char *dir, enum gm_snapshot_kind kind)
{
	struct gm_snapshot_stats st;

	cr_assert_eq(gm_machine_snapshot(vm->m, dir, kind, &st, &vm->err), 0, "%s", vm->err.msg);
	cr_assert_gt(st.state_bytes, 0);
	cr_assert_eq(access(dir, F_OK), 0, "no snapshot directory");
}

/*
 * Open the chain and fill vm's config from it: the snapshot's backend, or
 * the test backend the suite runs on; a clone gets a new identity.  The
 * caller may change the config before gm_machine_restore.
 */
static struct gm_snapshot *open_chain(struct vm *vm, const char *const *dirs, unsigned n, bool clone)
{
	struct gm_snapshot *s = NULL;

	require_kvm();
	memset(vm, 0, sizeof(*vm));
	gm_config_defaults(&vm->cfg);
	cr_assert_eq(gm_snapshot_open(dirs, n, &s, &vm->err), 0, "%s", vm->err.msg);
	gm_snapshot_config(s, &vm->cfg);
	const char *backend = getenv("GMVM_TEST_BACKEND");
	if (backend && !strcmp(backend, "memfd")) {
		vm->cfg.mem.backend = GM_BACKEND_MEMFD;
		vm->cfg.mem.bind = GM_BIND_MAPPED;
	}
	if (clone)
		vm->cfg.uuid = NULL;
	cr_assert_eq(gm_caps_probe(&vm->caps, GM_PROBE_FAST, &vm->err), 0, "%s", vm->err.msg);
	return s;
}

/* Restore with vm's config into a machine whose console the test collects; it runs on its own. */
static void restore_from(struct vm *vm, struct gm_snapshot *s, enum gm_restore_mode mode)
{
	cr_assert_eq(gm_machine_restore(&vm->cfg, &vm->caps, s, mode, &vm->m, &vm->err), 0, "%s", vm->err.msg);
	gm_snapshot_close(s);
	guest_console_init(&vm->con);
	/* paused: nothing is printed before the sink is in place */
	gm_machine_set_console_sink(vm->m, guest_console_sink, &vm->con);
	cr_assert_eq(gm_machine_state(vm->m), GM_STATE_PAUSED);
	cr_assert_eq(gm_machine_resume(vm->m, &vm->err), 0, "%s", vm->err.msg);
}

static void restore_mode(struct vm *vm, const char *const *dirs, unsigned n, bool clone, enum gm_restore_mode mode)
{
	restore_from(vm, open_chain(vm, dirs, n, clone), mode);
}

static void restore(struct vm *vm, const char *const *dirs, unsigned n, bool clone)
{
	restore_mode(vm, dirs, n, clone, GM_RESTORE_COPY);
}

Test(snapshot, dirty_guest_restored_after_the_original_is_gone, .timeout = 300)
{
	char *dir = scratch("dirty-full");
	struct vm vm;

	vm_start(&vm, "dirty", "size=256M", "dirty.mb=32 dirty.seconds=6 dirty.rounds=1500");
	/* rounds are printed each second, or each 20 rounds without a clock */
	cr_assert(guest_console_wait(&vm.con, "dirty: start", 60), "console:\n%s", vm.con.buf);
	sleep_ms(500);
	snapshot(&vm, dir, GM_SNAPSHOT_FULL);
	vm_kill(&vm);

	restore(&vm, (const char *const[]){ dir }, 1, false);
	vm_finish(&vm, 0, "dirty: ok pages=");
	free(dir);
}

static char *checksum_of(const char *console)
{
	const char *p = strstr(console, "checksum=");

	cr_assert(p, "no checksum in:\n%s", console);
	return strndup(p, strcspn(p, " \n"));
}

Test(snapshot, memtest_checksum_survives_a_restore, .timeout = 600)
{
	char *dir = scratch("memtest");
	struct vm vm;

	vm_start(&vm, "memtest", "size=128M", NULL);
	cr_assert_eq(gm_machine_wait(vm.m, 300, &(struct gm_exit){ 0 }), 0);
	char *want = checksum_of(vm.con.buf);
	gm_machine_destroy(vm.m);
	free((char *)vm.cfg.kernel);

	vm_start(&vm, "memtest", "size=128M", NULL);
	cr_assert(guest_console_wait(&vm.con, "memtest: start", 60), "console:\n%s", vm.con.buf);
	snapshot(&vm, dir, GM_SNAPSHOT_FULL);
	vm_kill(&vm);
	restore(&vm, (const char *const[]){ dir }, 1, false);
	struct gm_exit ex;
	cr_assert_eq(gm_machine_wait(vm.m, 300, &ex), 0);
	cr_assert_eq(ex.status, 0, "%s\n%s", ex.reason, vm.con.buf);
	char *got = checksum_of(vm.con.buf);
	cr_assert_str_eq(got, want, "the restored guest computed another checksum");
	gm_machine_destroy(vm.m);
	free(want);
	free(got);
	free(dir);
}

Test(snapshot, chain_of_three_diffs_and_its_merge, .timeout = 300)
{
	char *base = scratch("chain-base"), *d1 = scratch("chain-d1"), *d2 = scratch("chain-d2"),
	     *d3 = scratch("chain-d3"), *merged = scratch("chain-merged");
	struct gm_snapshot *s = NULL;
	struct vm vm;

	vm_start(&vm, "dirty", "size=256M", "dirty.mb=32 dirty.seconds=8 dirty.rounds=2000");
	/* rounds are printed each second, or each 20 rounds without a clock */
	cr_assert(guest_console_wait(&vm.con, "dirty: start", 60), "console:\n%s", vm.con.buf);
	sleep_ms(500);
	cr_assert_eq(gm_machine_snapshot(vm.m, d1, GM_SNAPSHOT_DIFF, NULL, &vm.err), -ENOENT,
		     "a diff before any snapshot");
	gm_error_clear(&vm.err);
	snapshot(&vm, base, GM_SNAPSHOT_FULL);
	sleep_ms(300);
	snapshot(&vm, d1, GM_SNAPSHOT_DIFF);
	sleep_ms(300);
	snapshot(&vm, d2, GM_SNAPSHOT_DIFF);
	sleep_ms(300);
	snapshot(&vm, d3, GM_SNAPSHOT_DIFF);
	vm_kill(&vm);

	const char *const chain[] = { base, d1, d2, d3 };
	/* out of order is refused */
	cr_assert_eq(gm_snapshot_open((const char *const[]){ base, d2, d1, d3 }, 4, &s, &vm.err), -EINVAL);
	cr_assert(strstr(vm.err.msg, "in the order it was taken"), "%s", vm.err.msg);
	gm_error_clear(&vm.err);
	cr_assert_eq(gm_snapshot_open(chain, 4, &s, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_snapshot_merge(s, merged, &vm.err), 0, "%s", vm.err.msg);
	gm_snapshot_close(s);

	restore(&vm, chain, 4, false);
	vm_finish(&vm, 0, "dirty: ok pages=");
	restore(&vm, (const char *const[]){ merged }, 1, false);
	vm_finish(&vm, 0, "dirty: ok pages=");
	free(base), free(d1), free(d2), free(d3), free(merged);
}

Test(snapshot, clones_run_side_by_side_and_the_original_identity_is_held, .timeout = 300)
{
	char *dir = scratch("clones");
	struct vm orig, a, b, again;
	struct gm_snapshot *s = NULL;

	vm_start(&orig, "dirty", "size=256M", "dirty.mb=16 dirty.seconds=5 dirty.rounds=1500");
	cr_assert(guest_console_wait(&orig.con, "dirty: start", 60), "console:\n%s", orig.con.buf);
	sleep_ms(500);
	snapshot(&orig, dir, GM_SNAPSHOT_FULL);

	/* the snapshot keeps the identity, which the running original holds */
	s = open_chain(&again, (const char *const[]){ dir }, 1, false);
	cr_assert_eq(gm_machine_restore(&again.cfg, &again.caps, s, GM_RESTORE_COPY, &again.m, &again.err), -EBUSY);
	cr_assert(strstr(again.err.msg, "already runs") && strstr(again.err.msg, "--new-identity"), "%s",
		  again.err.msg);
	gm_snapshot_close(s);

	restore(&a, (const char *const[]){ dir }, 1, true);
	restore(&b, (const char *const[]){ dir }, 1, true);
	char ua[37], ub[37], uo[37];
	gm_machine_uuid(a.m, ua);
	gm_machine_uuid(b.m, ub);
	gm_machine_uuid(orig.m, uo);
	cr_assert(strcmp(ua, ub) && strcmp(ua, uo), "clones share an identity");
	vm_finish(&a, 0, "dirty: ok pages=");
	vm_finish(&b, 0, "dirty: ok pages=");
	vm_finish(&orig, 0, "dirty: ok pages=");
	free(dir);
}

/* map: the base file mapped privately, the diff copied over it; ondemand: userfaultfd serves every page. */
Test(snapshot, map_and_ondemand_restore_a_chain, .timeout = 300)
{
	char *base = scratch("modes-base"), *d1 = scratch("modes-d1");
	const char *const chain[] = { base, d1 };
	struct vm vm;

	/* memfd: map and ondemand restores need memory a file can back (not guest_memfd) */
	vm_start(&vm, "dirty", "size=256M,backend=memfd", "dirty.mb=32 dirty.seconds=6 dirty.rounds=1500");
	cr_assert(guest_console_wait(&vm.con, "dirty: start", 60), "console:\n%s", vm.con.buf);
	sleep_ms(500);
	snapshot(&vm, base, GM_SNAPSHOT_FULL);
	sleep_ms(300);
	snapshot(&vm, d1, GM_SNAPSHOT_DIFF);
	vm_kill(&vm);

	restore_mode(&vm, chain, 2, false, GM_RESTORE_MAP);
	vm_finish(&vm, 0, "dirty: ok pages=");
	restore_mode(&vm, chain, 2, false, GM_RESTORE_ONDEMAND);
	vm_finish(&vm, 0, "dirty: ok pages=");
	free(base);
	free(d1);
}

/*
 * Every backend, and onto another: memory files are plain bytes, so a
 * snapshot of one backend restores onto any other.  Specs name their
 * backend, so GMVM_TEST_BACKEND does not change them.
 */
static void across(const char *from, enum gm_backend to_backend)
{
	char *dir = scratch(gm_backend_name(to_backend));
	struct gm_snapshot *s = NULL;
	struct vm vm;

	if (strstr(from, "guest-memfd") || to_backend == GM_BACKEND_GUEST_MEMFD)
		require_guest_memfd();
	vm_start(&vm, "dirty", from, "dirty.mb=16 dirty.seconds=5 dirty.rounds=1500");
	cr_assert(guest_console_wait(&vm.con, "dirty: start", 60), "console:\n%s", vm.con.buf);
	sleep_ms(300);
	snapshot(&vm, dir, GM_SNAPSHOT_FULL);
	vm_kill(&vm);

	s = open_chain(&vm, (const char *const[]){ dir }, 1, false);
	vm.cfg.mem.backend = to_backend;
	vm.cfg.mem.bind = to_backend == GM_BACKEND_GUEST_MEMFD ? GM_BIND_GMEM : GM_BIND_MAPPED;
	restore_from(&vm, s, GM_RESTORE_COPY);
	cr_assert_eq(gm_memory_config(gm_machine_memory(vm.m))->backend, to_backend);
	vm_finish(&vm, 0, "dirty: ok pages=");
	free(dir);
}

Test(snapshot, memfd_onto_anon, .timeout = 300)
{
	across("size=256M,backend=memfd", GM_BACKEND_ANON);
}

Test(snapshot, anon_onto_memfd, .timeout = 300)
{
	across("size=256M,backend=anon", GM_BACKEND_MEMFD);
}

Test(snapshot, guest_memfd_onto_guest_memfd, .timeout = 300)
{
	across("size=256M,backend=guest-memfd", GM_BACKEND_GUEST_MEMFD);
}

Test(snapshot, guest_memfd_onto_memfd, .timeout = 300)
{
	across("size=256M,backend=guest-memfd", GM_BACKEND_MEMFD);
}

/* guest_memfd pages are only ever its own: no private file mapping, no userfaultfd. */
Test(snapshot, map_and_ondemand_refuse_guest_memfd, .timeout = 300)
{
	static const enum gm_restore_mode modes[] = { GM_RESTORE_MAP, GM_RESTORE_ONDEMAND };
	static const char *const why[] = { "guest_memfd's pages can only be its own", "userfaultfd on guest_memfd" };
	char *dir = scratch("gmem-modes");
	struct gm_snapshot *s = NULL;
	struct vm vm;

	require_guest_memfd();
	vm_start(&vm, "spin", "size=128M,backend=guest-memfd", NULL);
	cr_assert(guest_console_wait(&vm.con, "spin: running", 60));
	snapshot(&vm, dir, GM_SNAPSHOT_FULL);
	vm_kill(&vm);
	for (int i = 0; i < 2; i++) {
		s = open_chain(&vm, (const char *const[]){ dir }, 1, false);
		/* the point is guest_memfd, whatever backend the suite runs on */
		vm.cfg.mem.backend = GM_BACKEND_GUEST_MEMFD;
		vm.cfg.mem.bind = GM_BIND_GMEM;
		cr_assert_lt(gm_machine_restore(&vm.cfg, &vm.caps, s, modes[i], &vm.m, &vm.err), 0);
		cr_assert(strstr(vm.err.msg, why[i]) && strstr(vm.err.msg, "restore-mode=copy"), "%s", vm.err.msg);
		gm_snapshot_close(s);
	}
	free(dir);
}
