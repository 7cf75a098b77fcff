/* tests/integration/test_vm: see test_vm.h. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "test_vm.h"

void vm_create(struct vm *vm, const char *guest, const char *memory, const char *cmdline)
{
	require_kvm();
	memset(vm, 0, sizeof(*vm));
	gm_config_defaults(&vm->cfg);
	vm->cfg.kernel = guest_path(guest);
	vm->cfg.cmdline = cmdline;
	cr_assert_eq(gm_mem_config_parse(test_memory(memory), &vm->cfg.mem, &vm->err), 0, "%s", vm->err.msg);
	cr_assert_eq(gm_caps_probe(&vm->caps, GM_PROBE_FAST, &vm->err), 0, "%s", vm->err.msg);
	cr_assert_eq(gm_machine_create(&vm->cfg, &vm->caps, &vm->m, &vm->err), 0, "%s", vm->err.msg);
	guest_console_init(&vm->con);
	gm_machine_set_console_sink(vm->m, guest_console_sink, &vm->con);
}

void vm_start(struct vm *vm, const char *guest, const char *memory, const char *cmdline)
{
	vm_create(vm, guest, memory, cmdline);
	cr_assert_eq(gm_machine_start(vm->m, &vm->err), 0, "%s", vm->err.msg);
}

void vm_finish(struct vm *vm, int status, const char *expect)
{
	struct gm_exit ex;

	cr_assert_eq(gm_machine_wait(vm->m, 120, &ex), 0, "guest still running; console:\n%s", vm->con.buf);
	cr_assert_eq(ex.status, status, "exit %d (%s); console:\n%s", ex.status, ex.reason, vm->con.buf);
	cr_assert(strstr(vm->con.buf, expect), "expected '%s' in console:\n%s", expect, vm->con.buf);
	gm_machine_destroy(vm->m);
	free((char *)vm->cfg.kernel);
}

void vm_kill(struct vm *vm)
{
	gm_machine_stop(vm->m);
	gm_machine_destroy(vm->m);
	free((char *)vm->cfg.kernel);
}

void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&t, NULL);
}
