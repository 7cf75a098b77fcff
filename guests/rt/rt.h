/*
 * rt/rt.h: the test guests' runtime API.  A guest defines int main(void); it
 * runs at CPL3 with IOPL 3 and interrupts off on the boot CPU, and its return
 * value goes to rt_exit().  Everything here is usable at CPL3.
 */
#ifndef RT_H
#define RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_EXIT_FAIL      0x10	/* the guest's own check failed: gmvm exits 33 */
#define RT_EXIT_EXCEPTION 0x7f	/* unexpected CPU exception */

#define RT_PAGE 4096ul
#define RT_MIB  (1024ul * 1024ul)

int main(void);

/* Console (8250 at 0x3f8).  %s %c %d %u %x %lx %lu %ld %llx %llu %p %%,
 * with width and '0' padding.  Lines end in a bare "\n". */
int rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int rt_snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int rt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

/* Exit.  rt_exit(0) powers off (i8042 reset, else ACPI S5 if the firmware
 * describes it, else isa-debug-exit 0), or with `exit=halt` on the command
 * line halts this CPU with interrupts off; rt_exit(v) writes v to port 0xf4
 * (gmvm and QEMU exit (v << 1) | 1). */
_Noreturn void rt_exit(uint32_t value);
_Noreturn void rt_halt(void);		/* cli; hlt forever on this CPU */
_Noreturn void rt_triple_fault(void);	/* zero-limit IDT (lidt at CPL0), then ud2 */

/* How we were entered: "linux64" or "pvh". */
const char *rt_entry_name(void);

/* Memory map (e820 types: 1 = RAM). */
struct rt_range {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};
unsigned rt_e820_count(void);
const struct rt_range *rt_e820_entry(unsigned i);
uint64_t rt_ram_total(void);		/* bytes of type-1 memory */
uint64_t rt_image_end(void);		/* page-aligned end of our ELF image */
/* RAM nobody uses: type-1 memory at or above max(1 MiB, image end), page
 * aligned, minus what rt_ram_alloc() handed out. */
unsigned rt_free_count(void);
const struct rt_range *rt_free_range(unsigned i);
uint64_t rt_ram_alloc(uint64_t size, uint64_t align);	/* 0: no room */
/* [addr, addr+size) out of free RAM: addr, or 0 when it is not all free. */
uint64_t rt_ram_claim(uint64_t addr, uint64_t size);

/* Command line: whitespace-separated key=value or bare key (value ""). */
const char *rt_cmdline(void);
const char *rt_param(const char *key);	/* NULL if absent; last one wins */
uint64_t rt_param_u64(const char *key, uint64_t def);	/* 123, 0x7b, 4K, 64M, 1G */

/* Time: TSC frequency in kHz, 0 if no source worked. */
uint64_t rt_tsc_khz(void);
const char *rt_tsc_source(void);	/* "cpuid-hv", "cpuid-15h", "cpuid-16h", "pit", "none" */
uint64_t rt_rdtsc(void);
void rt_delay_us(uint64_t us);		/* rough loop when the TSC rate is unknown */

/* Processors: from the MP table, else cpus=N (APIC IDs 0..N-1), else 1. */
unsigned rt_cpu_count(void);
uint32_t rt_cpu_apic_id(unsigned i);
bool rt_mptable_found(void);
uint32_t rt_apic_id(void);		/* this CPU's xAPIC ID */
/* Start every listed AP with INIT-SIPI-SIPI.  Each runs fn(slot, apic_id) at
 * CPL3 (slot 1.. in arrival order) and then halts.  Returns how many APs
 * reached CPL3 within a bounded wait. */
typedef void (*rt_ap_fn)(unsigned slot, uint32_t apic_id);
unsigned rt_smp_start(rt_ap_fn fn);

/* Device interrupts.  rt_set_irq_handler() makes vector (32..255) run fn on
 * whichever CPU it arrives at; at most 8 vectors, false otherwise.  fn runs
 * at CPL0 (emulated, slow on the project's machines) with interrupts off on
 * a 4 KiB stack: it should quiet the device, send the LAPIC its EOI and
 * leave the rest to CPL3; it must not call rt_printf.  Install it before the
 * vector can arrive: one without a handler ends the guest like an
 * unexpected exception (#NP, its gate is absent).  main() starts with
 * interrupts off; rt_irq_enable/disable are sti/cli, which trap.c carries
 * out where CPL3 may not. */
typedef void (*rt_irq_fn)(unsigned vector);
bool rt_set_irq_handler(unsigned vector, rt_irq_fn fn);

static inline void rt_irq_enable(void)
{
	__asm__ volatile("sti" ::: "memory");
}

static inline void rt_irq_disable(void)
{
	__asm__ volatile("cli" ::: "memory");
}

void *memset(void *dst, int c, size_t n);
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t rt_strlen(const char *s);
int rt_strcmp(const char *a, const char *b);

#endif
