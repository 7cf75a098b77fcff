/*
 * irq: device interrupts through the IOAPIC at 0xfec00000 to this CPU's
 * LAPIC.  The device is COM1's 8250 on IOAPIC pin 4: enabling its
 * transmitter-empty interrupt (IER bit 1), or writing THR, raises the line
 * until the handler reads IIR.  Checks, in order: the IOAPIC version
 * register (24 entries), edge-triggered delivery (twice), level-triggered
 * delivery (delivered again after an EOI while the line stays high, then
 * three more, remote IRR clear after each EOI), and masking (nothing while
 * masked, the held level interrupt on unmask).  Counts are interrupts that
 * found the UART's THRE pending.  The '.' written to THR are printed on
 * `irq: ticks` lines, which end in ` idle=N` when N deliveries found the
 * UART with nothing pending.
 *
 *   irq: ioapic version=0x<ver> entries=24
 *   irq: edge ok count=N
 *   irq: level ok count=N
 *   irq: mask ok
 *   irq: ok
 *   irq: FAIL <test>: <what>          (exit 0x10)
 */
#include "rt.h"
#include "x86.h"

#define LAPIC           0xfee00000ull
#define LAPIC_TPR       0x080
#define LAPIC_EOI       0x0b0
#define LAPIC_SVR       0x0f0
#define LAPIC_LVT_LINT0 0x350
#define SVR_ENABLE      0x100
#define LVT_MASKED      0x10000

#define IOAPIC          0xfec00000ull
#define IOREGSEL        0x00
#define IOWIN           0x10
#define IOAPIC_VER      0x01
#define RTE_LO(pin)     (0x10 + 2 * (pin))
#define RTE_HI(pin)     (0x11 + 2 * (pin))
#define RTE_REMOTE_IRR  (1u << 14)
#define RTE_LEVEL       (1u << 15)
#define RTE_MASKED      (1u << 16)

#define COM1            0x3f8
#define UART_IER        1
#define UART_IIR        2
#define UART_MCR        4
#define IER_THRI        0x02
#define IIR_THRI        0x02
#define MCR_OUT2        0x08

#define PIN             4	/* COM1's ISA IRQ 4 */
#define VEC_EDGE        0x40
#define VEC_LEVEL       0x41
#define VEC_SPURIOUS    0xff
#define WAIT_MS         2000

/* Counted by the handler, which runs at CPL0 on this CPU; [0] for VEC_EDGE,
 * [1] for VEC_LEVEL.  "idle": the UART had nothing pending.  That is normal
 * for level-triggered pins on hosts whose KVM EOIs an interrupt as it injects
 * it (KVM on PVM, ours): that EOI comes while the line is still high, so the
 * IOAPIC rightly sends it once more, and the second finds the UART quiet. */
static volatile unsigned serviced[2], idle[2];
static volatile unsigned spurious;
static volatile unsigned hold;		/* EOI without reading IIR this many times */

static uint32_t apic_id;

static void on_irq(unsigned vector)
{
	unsigned i = vector - VEC_EDGE;

	if (hold)
		hold--;			/* leave the UART's line high */
	else if ((inb(COM1 + UART_IIR) & 0x0f) == IIR_THRI)	/* read: THRE acknowledged */
		serviced[i]++;
	else
		idle[i]++;
	mmio_write32(LAPIC + LAPIC_EOI, 0);
}

static void on_spurious(unsigned vector)
{
	(void)vector;
	spurious++;			/* no EOI for the spurious vector */
}

static uint32_t ioapic_read(uint32_t reg)
{
	mmio_write32(IOAPIC + IOREGSEL, reg);
	return mmio_read32(IOAPIC + IOWIN);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC + IOREGSEL, reg);
	mmio_write32(IOAPIC + IOWIN, v);
}

/* Fixed delivery, physical destination = us, active high; masked while the
 * destination changes. */
static void route_pin(uint32_t lo)
{
	ioapic_write(RTE_LO(PIN), RTE_MASKED);
	ioapic_write(RTE_HI(PIN), apic_id << 24);
	ioapic_write(RTE_LO(PIN), lo);
}

static bool wait_serviced(unsigned i, unsigned target, uint64_t ms)
{
	uint64_t khz = rt_tsc_khz(), t0 = rt_rdtsc();

	for (uint64_t spins = 0; serviced[i] < target; spins++) {
		if (khz ? rt_rdtsc() - t0 > ms * khz : spins > ms * 100000)
			return false;
		__asm__ volatile("pause");
	}
	return true;
}

/* Remote IRR of pin 4, given a moment to clear: a VMM may see the EOI a
 * little after the guest sent it. */
static uint32_t rte_after_eoi(void)
{
	uint32_t rte = ioapic_read(RTE_LO(PIN));

	for (unsigned ms = 0; ms < 100 && (rte & RTE_REMOTE_IRR); ms++) {
		rt_delay_us(1000);
		rte = ioapic_read(RTE_LO(PIN));
	}
	return rte;
}

static unsigned idle_mark;

/* Starts a line that shows the '.' written to THR, and the idle deliveries. */
static void start_ticks(void)
{
	idle_mark = idle[0] + idle[1];
	rt_printf("irq: ticks ");
}

static void tick(void)
{
	outb(COM1, '.');		/* THR written: THRE again once it is sent */
}

/* Ends the line with the UART's interrupt off. */
static void end_ticks(void)
{
	outb(COM1 + UART_IER, 0);
	unsigned n = idle[0] + idle[1] - idle_mark;
	if (n)
		rt_printf(" idle=%u\n", n);
	else
		rt_printf("\n");
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	char what[160];
	va_list ap;

	end_ticks();
	ioapic_write(RTE_LO(PIN), RTE_MASKED);
	rt_irq_disable();
	va_start(ap, fmt);
	rt_vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	rt_printf("irq: FAIL %s\n", what);
	return RT_EXIT_FAIL;
}

static int test_edge(void)
{
	route_pin(VEC_EDGE);
	start_ticks();
	outb(COM1 + UART_IER, IER_THRI);	/* empty transmitter: raised at once */
	if (!wait_serviced(0, 1, WAIT_MS))
		return fail("edge: no interrupt after enabling THRE (count=%u)", serviced[0]);
	tick();
	if (!wait_serviced(0, 2, WAIT_MS))
		return fail("edge: no interrupt after writing THR (count=%u)", serviced[0]);
	end_ticks();
	rt_printf("irq: edge ok count=%u\n", serviced[0]);
	return 0;
}

static int test_level(void)
{
	unsigned edge_before = serviced[0] + idle[0];

	route_pin(RTE_LEVEL | VEC_LEVEL);
	start_ticks();
	/* The first delivery is left unacknowledged: after its EOI the line is
	 * still high, so a level-triggered pin must deliver it again. */
	hold = 1;
	outb(COM1 + UART_IER, IER_THRI);
	if (!wait_serviced(1, 1, WAIT_MS))
		return fail("level: not delivered again after EOI while the line stayed high (count=%u rte=0x%x)",
			    serviced[1], ioapic_read(RTE_LO(PIN)));
	for (unsigned i = 0; i < 3; i++) {
		uint32_t rte = rte_after_eoi();
		if (rte & RTE_REMOTE_IRR)
			return fail("level: remote IRR still set after EOI (rte=0x%x count=%u)", rte, serviced[1]);
		tick();
		if (!wait_serviced(1, 2 + i, WAIT_MS))
			return fail("level: no interrupt after EOI and writing THR (count=%u rte=0x%x)",
				    serviced[1], ioapic_read(RTE_LO(PIN)));
	}
	uint32_t rte = rte_after_eoi();
	if (rte & RTE_REMOTE_IRR)
		return fail("level: remote IRR still set after EOI (rte=0x%x count=%u)", rte, serviced[1]);
	if (serviced[0] + idle[0] != edge_before)
		return fail("level: interrupts on the old vector 0x%x", VEC_EDGE);
	end_ticks();
	rt_printf("irq: level ok count=%u\n", serviced[1]);
	return 0;
}

static int test_mask(void)
{
	ioapic_write(RTE_LO(PIN), RTE_MASKED | RTE_LEVEL | VEC_LEVEL);
	unsigned before = serviced[1] + idle[1], want = serviced[1] + 1;

	start_ticks();
	outb(COM1 + UART_IER, IER_THRI);
	tick();
	rt_delay_us(50000);
	if (serviced[1] + idle[1] != before)
		return fail("mask: %u deliveries while pin %u was masked", serviced[1] + idle[1] - before, PIN);
	/* Unmasked with the line still high: the held level interrupt arrives. */
	ioapic_write(RTE_LO(PIN), RTE_LEVEL | VEC_LEVEL);
	if (!wait_serviced(1, want, WAIT_MS))
		return fail("mask: the level interrupt held while masked did not arrive on unmask");
	ioapic_write(RTE_LO(PIN), RTE_MASKED | RTE_LEVEL | VEC_LEVEL);
	end_ticks();
	rt_printf("irq: mask ok\n");
	return 0;
}

int main(void)
{
	apic_id = rt_apic_id();
	rt_set_irq_handler(VEC_EDGE, on_irq);
	rt_set_irq_handler(VEC_LEVEL, on_irq);
	rt_set_irq_handler(VEC_SPURIOUS, on_spurious);
	mmio_write32(LAPIC + LAPIC_SVR, SVR_ENABLE | VEC_SPURIOUS);
	mmio_write32(LAPIC + LAPIC_TPR, 0);
	/* No 8259 behind LINT0: where a VMM still has one, its vectors would
	 * land on our exception stubs. */
	mmio_write32(LAPIC + LAPIC_LVT_LINT0, LVT_MASKED);

	uint32_t ver = ioapic_read(IOAPIC_VER);
	unsigned entries = ((ver >> 16) & 0xff) + 1;
	rt_printf("irq: ioapic version=0x%x entries=%u\n", ver, entries);
	if (entries != 24) {
		rt_printf("irq: FAIL ioapic: expected 24 redirection entries\n");
		return RT_EXIT_FAIL;
	}

	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_MCR, inb(COM1 + UART_MCR) | MCR_OUT2);	/* gates IRQ 4 on PCs */
	rt_irq_enable();
	int r = test_edge();
	if (!r)
		r = test_level();
	if (!r)
		r = test_mask();
	rt_irq_disable();
	if (!r)
		rt_printf("irq: ok\n");
	return r;
}
