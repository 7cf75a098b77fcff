/*
 * tests/integration/test_vm: a machine built through libgmvm's public API
 * alone, as another VMM would, with its console collected for the test.
 */
#ifndef GM_TEST_VM_H
#define GM_TEST_VM_H

#include <gmvm/gmvm.h>

#include "guest_console.h"

struct vm {
	struct gm_config cfg;
	struct gm_caps caps;
	struct gm_machine *m;
	struct guest_console con;
	struct gm_error err;
};

/* Require KVM, then create (not start) GUEST with the memory spec and guest command line. */
void vm_create(struct vm *vm, const char *guest, const char *memory, const char *cmdline);
/* vm_create, then start. */
void vm_start(struct vm *vm, const char *guest, const char *memory, const char *cmdline);
/* Wait for the end, assert the status and a console line, destroy. */
void vm_finish(struct vm *vm, int status, const char *expect);
/* Stop and destroy without looking at the end. */
void vm_kill(struct vm *vm);
void sleep_ms(long ms);

#endif
