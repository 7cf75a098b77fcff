/*
 * rt/rt_priv.h: what the runtime's own files share and guests do not use:
 * boot data left by entry.S, CPL0 hooks, and the per-part init calls made
 * once by start.c before main().
 */
#ifndef RT_PRIV_H
#define RT_PRIV_H

#include "rt.h"

extern uint64_t rt_boot_info;		/* boot_params or hvm_start_info */
extern uint32_t rt_boot_kind;		/* BOOT_LINUX64 / BOOT_PVH */
extern uint64_t rt_boot_cr3;
extern uint32_t rt_boot_efer;
extern char _image_end[];
extern const char rt_tramp_start[], rt_tramp_end[];

/* Interrupt slot stubs in traps.S, one per vector a guest handles. */
#define RT_IRQ_SLOTS      8
#define RT_IRQ_STUB_BYTES 12
extern const char rt_irq_stubs[];
void rt_idt_set(unsigned vector, uint64_t handler);	/* DPL 0 interrupt gate, every CPU */

/* Registers as traps.S saves them for rt_trap(). */
struct rt_frame {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t vector, err, rip, cs, rflags, rsp, ss;
};

/* CPL0 */
void rt_cpu_init(unsigned slot);
void rt_trap(struct rt_frame *f);
void rt_uart_write(const char *s, size_t n);	/* direct port I/O */
void rt_irq_dispatch(struct rt_frame *f);	/* a slot stub's frame: run its handler */
extern bool rt_io_trapped;			/* CPL3 port I/O faults here */

#define RT_CPUID_LEAVES 6
extern const uint32_t rt_cpuid_leaf[RT_CPUID_LEAVES];
extern uint32_t rt_cpuid_boot[RT_CPUID_LEAVES][4];	/* as read at CPL0 */

/* CPL3 entries from the assembly: the boot CPU's, and each AP's */
_Noreturn void rt_bsp_main(unsigned slot);
_Noreturn void rt_ap_main(unsigned slot);

/* CPL3, called by start.c in this order */
void rt_bootinfo_init(void);		/* e820 + command line */
void rt_cmdline_init(const char *src);	/* from rt_bootinfo_init() */
void rt_smp_init(void);			/* MP table */
void rt_acpi_init(void);		/* FADT sleep register */

/* S5 through the FADT's sleep control register; false if there is none. */
bool rt_acpi_poweroff(void);

#endif
