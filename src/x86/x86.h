/*
 * x86/: the CPU and firmware-table state a guest expects at boot: identity
 * page tables, the boot GDT, boot_params/e820, the PVH start_info, the MP
 * table, CPUID and MSRs, and the register state of both entries.  Writes
 * guest memory only through gm_memory_hva().  docs/boot-protocol.md is the
 * contract these functions implement.
 */
#ifndef GM_X86_H
#define GM_X86_H

#include <stdint.h>

#include "gmvm/config.h"
#include "gmvm/error.h"
#include "gmvm/memory.h"
#include "util/guest_map.h"

/* Guest-physical addresses: the one map in util/guest_map.h. */

/* Boot GDT selectors (Linux boot protocol's __BOOT_CS/__BOOT_DS; PVH's). */
#define GM_SEL_CODE64 0x10
#define GM_SEL_DATA   0x18
#define GM_SEL_CODE32 0x08
#define GM_SEL_DATA32 0x10

/*
 * Write everything below 1 MiB that the chosen entry needs into the RAM,
 * mems[0]: the boot GDT, the command line, boot_params (LINUX64) or
 * start_info (PVH), identity page tables (LINUX64) and the MP table for
 * ncpus.  The memory map shows every one of the n regions as RAM, and the
 * page tables reach the end of the highest.
 */
int gm_x86_write_boot_tables(struct gm_memory *const *mems, unsigned n, enum gm_entry entry,
			     const char *cmdline, unsigned ncpus, struct gm_error *err);

/* Identity-map [0, max(4 GiB, end)) in 2 MiB user pages at GM_BOOT_PAGETABLES in mem. */
int gm_x86_write_pagetables(struct gm_memory *mem, uint64_t end, struct gm_error *err);

/*
 * The physical address width (CPUID 0x80000008 EAX[7:0]) of this host's
 * CPU, which KVM passes on to its guests; 36, the architectural minimum,
 * when the leaf is missing.  No system call: usable before any VM exists.
 */
unsigned gm_x86_phys_bits(void);

/* The MP floating pointer and configuration table for ncpus at GM_BOOT_MPTABLE. */
int gm_x86_write_mptable(struct gm_memory *mem, unsigned ncpus, struct gm_error *err);

struct kvm_cpuid2;

/*
 * The CPUID every vCPU starts from: what KVM supports on this host, read
 * once per machine.  Free with free().
 */
struct kvm_cpuid2 *gm_x86_cpuid_template(int kvm_fd, struct gm_error *err);

/*
 * Per-vCPU setup that does not depend on the entry: CPUID (the template with
 * this vCPU's APIC ID and a hypervisor leaf with the TSC frequency) and the
 * boot MSRs.  Must come before gm_x86_setup_boot_regs (EFER is checked
 * against CPUID).
 */
int gm_x86_setup_vcpu(int vcpu_fd, const struct kvm_cpuid2 *tmpl, unsigned id, unsigned ncpus,
		      struct gm_error *err);

/* Registers of the boot vCPU for the chosen entry at address rip. */
int gm_x86_setup_boot_regs(int vcpu_fd, enum gm_entry entry, uint64_t rip, struct gm_error *err);

/* MSR indices that are part of a vCPU's saved state (filtered by the kernel's list). */
int gm_x86_saved_msrs(int kvm_fd, uint32_t *out, unsigned max, struct gm_error *err);

#endif
