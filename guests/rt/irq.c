/*
 * rt/irq.c: device interrupts for the guests that want them.  A vector gets
 * one of RT_IRQ_SLOTS stubs (traps.S) as its gate; the stub's frame says
 * which slot, and the slot which function to run.  Slots are filled from
 * CPL3 and never freed: a test guest handles a few vectors for its lifetime.
 */
#include "rt_priv.h"

static struct {
	unsigned vector;
	rt_irq_fn fn;
} slots[RT_IRQ_SLOTS];

bool rt_set_irq_handler(unsigned vector, rt_irq_fn fn)
{
	unsigned s = 0;

	if (vector < 32 || vector > 255 || !fn)
		return false;
	while (s < RT_IRQ_SLOTS && slots[s].fn && slots[s].vector != vector)
		s++;
	if (s == RT_IRQ_SLOTS)
		return false;
	slots[s].vector = vector;
	slots[s].fn = fn;
	__asm__ volatile("" ::: "memory");	/* the slot is complete before its gate points at it */
	rt_idt_set(vector, (uint64_t)(rt_irq_stubs + s * RT_IRQ_STUB_BYTES));
	return true;
}

/* CPL0, interrupts off */
void rt_irq_dispatch(struct rt_frame *f)
{
	unsigned s = (unsigned)f->err % RT_IRQ_SLOTS;

	f->vector = slots[s].vector;
	slots[s].fn(slots[s].vector);
}
