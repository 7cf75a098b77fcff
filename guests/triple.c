/*
 * triple: ends the VM with a triple fault (KVM_EXIT_SHUTDOWN): a zero-limit
 * IDT is loaded at CPL0, so the ud2 that follows cannot be delivered.
 *
 *   triple: faulting
 */
#include "rt.h"

int main(void)
{
	rt_printf("triple: faulting\n");
	rt_triple_fault();
}
