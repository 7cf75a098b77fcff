/*
 * rt/start.c: the boot CPU's first CPL3 code (find out whether port I/O
 * traps, read boot data, then main()) and the ways out: power-off, the exit
 * port, halting, a deliberate triple fault.  Each way out is a privileged
 * instruction that trap.c carries out at CPL0 when CPL3 may not.
 */
#include "layout.h"
#include "rt_priv.h"
#include "x86.h"

static void debug_dump(void)
{
	rt_printf("rt: entry=%s info=0x%lx image_end=0x%lx io=%s cmdline=\"%s\"\n", rt_entry_name(),
		  (unsigned long)rt_boot_info, (unsigned long)rt_image_end(),
		  rt_io_trapped ? "trapped" : "native", rt_cmdline());
	for (unsigned i = 0; i < rt_e820_count(); i++) {
		const struct rt_range *e = rt_e820_entry(i);
		rt_printf("rt: e820 0x%016lx-0x%016lx type %u\n", (unsigned long)e->addr,
			  (unsigned long)(e->addr + e->size), e->type);
	}
	for (unsigned i = 0; i < RT_CPUID_LEAVES; i++) {
		uint32_t r[4];
		cpuid(rt_cpuid_leaf[i], 0, r);
		const uint32_t *b = rt_cpuid_boot[i];
		rt_printf("rt: cpuid 0x%x cpl0 %x %x %x %x cpl3 %x %x %x %x\n", rt_cpuid_leaf[i], b[0], b[1], b[2],
			  b[3], r[0], r[1], r[2], r[3]);
	}
	rt_printf("rt: mptable=%s cpus=%u apic=%u tsc=%lu kHz (%s)\n", rt_mptable_found() ? "yes" : "no",
		  rt_cpu_count(), rt_apic_id(), (unsigned long)rt_tsc_khz(), rt_tsc_source());
}

_Noreturn void rt_bsp_main(unsigned slot)
{
	(void)slot;
	(void)inb(0x3fd);	/* UART LSR: sets rt_io_trapped if this traps */
	rt_bootinfo_init();
	rt_smp_init();
	rt_acpi_init();
	if (rt_param("rt.debug"))
		debug_dump();
	rt_exit((uint32_t)main());
}

_Noreturn void rt_halt(void)
{
	for (;;)
		__asm__ volatile("hlt");
}

_Noreturn void rt_triple_fault(void)
{
	static const struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) empty = { 0, 0 };

	/* With a zero-limit IDT the #UD cannot be delivered: #GP, #DF, shutdown. */
	__asm__ volatile("lidt (%0)\n\tud2" : : "a"(&empty) : "memory");
	__builtin_unreachable();
}

_Noreturn void rt_exit(uint32_t value)
{
	if (value == 0) {
		const char *how = rt_param("exit");
		if (how && rt_strcmp(how, "halt") == 0)
			rt_halt();
		outb(0x64, 0xfe);	/* i8042 reset: gmvm powers off, exit 0 */
		/* Both resets may act asynchronously (QEMU): give them time
		 * before the exit port ends the VM with status 1. */
		rt_delay_us(10000);
		if (rt_acpi_poweroff())
			rt_delay_us(1000000);
	}
	outl(0xf4, value);		/* isa-debug-exit: (value << 1) | 1 */
	rt_halt();
}
