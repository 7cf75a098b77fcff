/*
 * spin: never ends on its own (for the VMM's --timeout test): loops at CPL3
 * with interrupts off.
 *
 *   spin: running
 */
#include "rt.h"

int main(void)
{
	rt_printf("spin: running\n");
	for (;;)
		__asm__ volatile("pause");
}
