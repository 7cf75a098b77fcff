/*
 * The pause contract of gmvm/machine.h, through the public API: a pause
 * before start holds the vCPUs before their first instruction, a pause has
 * one owner (a second one is refused, as is resuming a running guest), vCPU
 * state needs every vCPU parked, a vCPU thread cannot pause its own machine,
 * a busy guest is never stopped behind the owner's back, and every change
 * reaches the event hook in order.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "test_vm.h"

Test(pause, before_start_holds_the_first_instruction, .timeout = 90)
{
	struct gm_vcpu_state *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct vm vm;

	vm_create(&vm, "hello", "size=128M", NULL);
	cr_assert_eq(gm_machine_state(vm.m), GM_STATE_CREATED);
	cr_assert_eq(gm_machine_pause(vm.m, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_machine_start(vm.m, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_machine_state(vm.m), GM_STATE_PAUSED);
	/* this read hung for ever when vCPUs went straight into KVM_RUN */
	cr_assert_eq(gm_machine_get_vcpu_state(vm.m, 0, a, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_machine_set_vcpu_state(vm.m, 0, a, &vm.err), 0, "%s", vm.err.msg);
	sleep_ms(200);
	cr_assert_eq(gm_machine_get_vcpu_state(vm.m, 0, b, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(a->regs.rip, b->regs.rip, "a paused guest moved");
	cr_assert_eq(vm.con.len, 0, "the guest printed before it was resumed:\n%s", vm.con.buf);
	cr_assert_eq(gm_machine_resume(vm.m, &vm.err), 0, "%s", vm.err.msg);
	vm_finish(&vm, 0, "Hello from gmvm guest");
	free(a);
	free(b);
}

Test(pause, has_one_owner, .timeout = 90)
{
	struct vm vm;

	vm_start(&vm, "spin", "size=128M", NULL);
	cr_assert(guest_console_wait(&vm.con, "spin: running", 60));
	cr_assert_eq(gm_machine_resume(vm.m, &vm.err), -EALREADY, "resuming a running guest");
	cr_assert(strstr(vm.err.msg, "not paused"), "%s", vm.err.msg);
	gm_error_clear(&vm.err);
	cr_assert_eq(gm_machine_pause(vm.m, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_machine_pause(vm.m, &vm.err), -EALREADY, "pausing a paused guest");
	cr_assert(strstr(vm.err.msg, "already paused"), "%s", vm.err.msg);
	gm_error_clear(&vm.err);
	cr_assert_eq(gm_machine_resume(vm.m, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_machine_state(vm.m), GM_STATE_RUNNING);
	vm_kill(&vm);
}

Test(pause, vcpu_state_needs_every_vcpu_parked, .timeout = 90)
{
	struct gm_vcpu_state *st = calloc(1, sizeof(*st));
	struct vm vm;

	vm_start(&vm, "spin", "size=128M", NULL);
	cr_assert(guest_console_wait(&vm.con, "spin: running", 60));
	cr_assert_eq(gm_machine_get_vcpu_state(vm.m, 0, st, &vm.err), -EBUSY);
	gm_error_clear(&vm.err);
	cr_assert_eq(gm_machine_set_vcpu_state(vm.m, 0, st, &vm.err), -EBUSY);
	vm_kill(&vm);
	free(st);
}

/* A console sink runs on the vCPU thread that wrote to the UART. */
struct pausing_sink {
	struct vm *vm;
	int result;
	bool tried;
};

static void sink_that_pauses(void *opaque, const char *buf, size_t len)
{
	struct pausing_sink *s = opaque;

	if (!s->tried) {
		s->tried = true;
		s->result = gm_machine_pause(s->vm->m, NULL);
	}
	guest_console_sink(&s->vm->con, buf, len);
}

Test(pause, from_a_vcpu_thread_is_refused, .timeout = 90)
{
	struct vm vm;
	struct pausing_sink s = { .vm = &vm };

	vm_create(&vm, "hello", "size=128M", NULL);
	gm_machine_set_console_sink(vm.m, sink_that_pauses, &s);
	cr_assert_eq(gm_machine_start(vm.m, &vm.err), 0, "%s", vm.err.msg);
	vm_finish(&vm, 0, "Hello from gmvm guest");
	cr_assert(s.tried);
	cr_assert_eq(s.result, -EDEADLK, "pause on a vCPU thread returned %d", s.result);
}

Test(pause, busy_guest_is_never_stopped, .timeout = 90)
{
	struct gm_counters c;
	struct vm vm;

	vm_start(&vm, "spin", "size=128M", NULL);
	cr_assert(guest_console_wait(&vm.con, "spin: running", 60));
	sleep_ms(3000);
	gm_machine_counters(vm.m, &c);
	cr_assert_eq(c.pauses, 0, "a guest nobody paused was stopped %llu times", (unsigned long long)c.pauses);
	cr_assert_eq(c.halt_checks, 0);
	cr_assert_gt(c.exits[0][GM_COUNT_IO], 0, "the guest's console output is port I/O");
	vm_kill(&vm);
}

Test(pause, halted_guest_is_still_noticed, .timeout = 90)
{
	struct gm_counters c;
	struct vm vm;
	struct gm_exit ex;

	vm_start(&vm, "hello", "size=128M", "exit=halt");
	cr_assert_eq(gm_machine_wait(vm.m, 60, &ex), 0);
	cr_assert_eq(ex.kind, GM_EXIT_HALTED, "%s", ex.reason);
	gm_machine_counters(vm.m, &c);
	cr_assert_geq(c.halt_checks, 1);
	gm_machine_destroy(vm.m);
	free((char *)vm.cfg.kernel);
}

struct event_log {
	pthread_mutex_t lock;
	enum gm_event_kind kinds[32];
	unsigned n;
	char shutdown_reason[256];
};

static void record_event(void *opaque, const struct gm_event *ev)
{
	struct event_log *l = opaque;

	pthread_mutex_lock(&l->lock);
	if (l->n < 32)
		l->kinds[l->n++] = ev->kind;
	if (ev->kind == GM_EVENT_SHUTDOWN)
		snprintf(l->shutdown_reason, sizeof(l->shutdown_reason), "%s", ev->exit->reason);
	pthread_mutex_unlock(&l->lock);
}

Test(pause, events_and_shutdown_on_request, .timeout = 90)
{
	static const enum gm_event_kind want[] = {
		GM_EVENT_CREATED, GM_EVENT_RUNNING, GM_EVENT_PAUSED, GM_EVENT_RESUMED,
		GM_EVENT_BINDING, GM_EVENT_SHUTDOWN,
	};
	struct event_log log = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct gm_hooks hooks = { .opaque = &log, .event = record_event };
	struct gm_exit ex;
	struct vm vm;

	vm_create(&vm, "spin", "size=128M", NULL);
	gm_machine_set_hooks(vm.m, &hooks);
	cr_assert_eq(gm_machine_start(vm.m, &vm.err), 0, "%s", vm.err.msg);
	cr_assert(guest_console_wait(&vm.con, "spin: running", 60));
	cr_assert_eq(gm_machine_pause(vm.m, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_machine_resume(vm.m, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_machine_switch_binding(vm.m, GM_BIND_MAPPED, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_machine_shutdown(vm.m, "shutdown by test", &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_machine_wait(vm.m, 30, &ex), 0);
	cr_assert_eq(ex.kind, GM_EXIT_SHUTDOWN);
	cr_assert_eq(ex.status, 0);
	cr_assert_str_eq(ex.reason, "shutdown by test");
	cr_assert_eq(gm_machine_shutdown(vm.m, "again", &vm.err), -ESRCH);
	cr_assert_eq(gm_machine_state(vm.m), GM_STATE_SHUTDOWN);
	cr_assert_eq(log.n, sizeof(want) / sizeof(want[0]), "%u events", log.n);
	for (unsigned i = 0; i < log.n; i++)
		cr_assert_eq(log.kinds[i], want[i], "event %u is %d, not %d", i, log.kinds[i], want[i]);
	cr_assert_str_eq(log.shutdown_reason, "shutdown by test");
	gm_machine_destroy(vm.m);
	free((char *)vm.cfg.kernel);
}
