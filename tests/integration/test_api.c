/*
 * libgmvm used the way another VMM would use it: only <gmvm/gmvm.h>.
 * Boots hello, discards memory under a running guest, switches the binding
 * while the dirty guest runs, pauses memtest, round-trips vCPU state.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gmvm/gmvm.h>

#include "harness.h"
#include "test_vm.h"

Test(api, hello_through_the_public_api, .timeout = 90)
{
	struct vm vm;

	vm_start(&vm, "hello", "size=128M", NULL);
	vm_finish(&vm, 0, "Hello from gmvm guest (entry=linux64)");
}

static double ms_after(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* The machine's own start-up points, in order; the caller's are left to the caller. */
Test(api, machine_trace_has_its_points_in_order, .timeout = 90)
{
	struct gm_trace t = { 0 };
	struct gm_exit ex;
	struct vm vm;

	vm_start(&vm, "hello", "size=128M", NULL);
	cr_assert_eq(gm_machine_wait(vm.m, 60, &ex), 0);
	gm_machine_trace(vm.m, &t);
	cr_assert_eq(t.at[GM_TRACE_START].tv_sec | t.at[GM_TRACE_PROBED].tv_sec | t.at[GM_TRACE_EXIT].tv_sec, 0,
		     "start, probe and exit are the caller's to mark");
	for (int p = GM_TRACE_CHECKED; p <= GM_TRACE_END; p++) {
		cr_assert(t.at[p].tv_sec || t.at[p].tv_nsec, "point %d not reached", p);
		if (p > GM_TRACE_CHECKED)
			cr_assert_geq(ms_after(&t.at[p - 1], &t.at[p]), 0, "point %d before point %d", p, p - 1);
	}
	gm_machine_destroy(vm.m);
	free((char *)vm.cfg.kernel);
}

static void discard_under_guest(const char *memory)
{
	struct vm vm;
	unsigned long long gpa, len;

	vm_start(&vm, "discard", memory, "discard.mb=8");
	const char *ready = guest_console_wait(&vm.con, "discard: ready", 60);
	cr_assert(ready, "guest never got ready; console:\n%s", vm.con.buf);
	cr_assert(guest_console_wait(&vm.con, "\n", 5));
	cr_assert_eq(sscanf(ready, "discard: ready gpa=%llx len=%llx", &gpa, &len), 2, "console:\n%s", vm.con.buf);
	cr_assert_eq(len, 8ull << 20);
	/* the guest filled the range with 0x5a; the host sees it too */
	unsigned char *host = gm_memory_hva(gm_machine_memory(vm.m), gpa, len);
	cr_assert(host);
	cr_assert_eq(host[0], 0x5a);
	cr_assert_eq(host[len - 1], 0x5a);
	cr_assert_eq(gm_machine_discard(vm.m, gpa, len, &vm.err), 0, "%s", vm.err.msg);
	vm_finish(&vm, 0, "discard: zeros seen");
}

Test(api, discard_is_seen_as_zeros_guest_memfd, .timeout = 120)
{
	require_guest_memfd();
	discard_under_guest("size=256M,backend=guest-memfd");
}

Test(api, discard_is_seen_as_zeros_memfd, .timeout = 120)
{
	discard_under_guest("size=256M,backend=memfd");
}

Test(api, discard_is_seen_as_zeros_anon, .timeout = 120)
{
	discard_under_guest("size=256M,backend=anon");
}

Test(api, discard_refuses_unaligned_and_outside_ram, .timeout = 60)
{
	struct vm vm;

	vm_start(&vm, "spin", "size=128M", NULL);
	cr_assert(guest_console_wait(&vm.con, "spin: running", 60));
	cr_assert_eq(gm_machine_discard(vm.m, 0x200001, 4096, &vm.err), -EINVAL);
	cr_assert_neq(vm.err.msg[0], '\0');
	gm_error_clear(&vm.err);
	cr_assert_eq(gm_machine_discard(vm.m, 3ull << 30, 4096, &vm.err), -EINVAL);
	vm_kill(&vm);
}

Test(api, binding_switch_while_dirty_runs, .timeout = 180)
{
	struct vm vm;

	/* bind=gmem needs guest_memfd: named, so GMVM_TEST_BACKEND does not apply */
	require_guest_memfd();
	vm_start(&vm, "dirty", "size=256M,backend=guest-memfd", "dirty.mb=64 dirty.seconds=4");
	cr_assert(guest_console_wait(&vm.con, "dirty: start", 60), "console:\n%s", vm.con.buf);
	for (int i = 0; i < 6; i++) {
		enum gm_bind to = i % 2 ? GM_BIND_GMEM : GM_BIND_MAPPED;
		cr_assert_eq(gm_machine_switch_binding(vm.m, to, &vm.err), 0, "switch %d: %s", i, vm.err.msg);
		cr_assert_eq(gm_memory_binding(gm_machine_memory(vm.m)), to);
		sleep_ms(250);
	}
	vm_finish(&vm, 0, "dirty: ok pages=");
}

Test(api, pause_and_resume_during_memtest, .timeout = 180)
{
	struct vm vm;
	struct gm_vcpu_state a, b;

	/* 2 GiB keeps memtest busy for seconds, well past the pauses below */
	vm_start(&vm, "memtest", "size=2G", NULL);
	cr_assert(guest_console_wait(&vm.con, "memtest: start", 60), "console:\n%s", vm.con.buf);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(gm_machine_pause(vm.m, &vm.err), 0, "%s", vm.err.msg);
		/* paused means paused: the instruction pointer does not move */
		cr_assert_eq(gm_machine_get_vcpu_state(vm.m, 0, &a, &vm.err), 0, "%s", vm.err.msg);
		sleep_ms(100);
		cr_assert_eq(gm_machine_get_vcpu_state(vm.m, 0, &b, &vm.err), 0, "%s", vm.err.msg);
		cr_assert_eq(a.regs.rip, b.regs.rip);
		cr_assert_eq(gm_machine_resume(vm.m, &vm.err), 0, "%s", vm.err.msg);
		sleep_ms(100);
	}
	vm_finish(&vm, 0, "memtest: ok pages=");
}

Test(api, vcpu_state_round_trip, .timeout = 120)
{
	struct vm vm;
	struct gm_vcpu_state *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));

	vm_start(&vm, "dirty", "size=256M", "dirty.mb=16 dirty.seconds=2");
	cr_assert(guest_console_wait(&vm.con, "dirty: start", 60), "console:\n%s", vm.con.buf);
	cr_assert_eq(gm_machine_pause(vm.m, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_machine_get_vcpu_state(vm.m, 0, a, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_gt(a->nmsrs, 0);
	cr_assert_eq(a->sregs.cs.dpl | 3, 3);
	cr_assert_eq(gm_machine_set_vcpu_state(vm.m, 0, a, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_machine_get_vcpu_state(vm.m, 0, b, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(memcmp(&a->regs, &b->regs, sizeof(a->regs)), 0, "regs differ after set");
	cr_assert_eq(memcmp(&a->sregs, &b->sregs, sizeof(a->sregs)), 0, "sregs differ after set");
	cr_assert_eq(memcmp(&a->xcrs, &b->xcrs, sizeof(a->xcrs)), 0, "xcrs differ after set");
	cr_assert_eq(memcmp(&a->mp_state, &b->mp_state, sizeof(a->mp_state)), 0);
	cr_assert_eq(memcmp(a->xsave.region, b->xsave.region, 512), 0, "legacy FPU/SSE area differs");
	cr_assert_eq(a->nmsrs, b->nmsrs);
	/* The TSC moves on while paused; Hyper-V's synthetic MSRs (0x40000000
	 * and up) are saved as KVM lists them, but gmvm shows the guest no
	 * Hyper-V leaves, and some of them are clocks too. */
	for (unsigned i = 0; i < a->nmsrs; i++)
		if (a->msrs[i].index != 0x10 && (a->msrs[i].index & 0xffffff00) != 0x40000000)
			cr_assert_eq(a->msrs[i].data, b->msrs[i].data, "MSR 0x%x", a->msrs[i].index);
	/* running state cannot be read */
	cr_assert_eq(gm_machine_resume(vm.m, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_machine_get_vcpu_state(vm.m, 0, b, &vm.err), -EBUSY);
	/* and the guest, given its own state back, runs on correctly */
	vm_finish(&vm, 0, "dirty: ok pages=");
	free(a);
	free(b);
}
