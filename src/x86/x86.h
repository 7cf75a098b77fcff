/*
 * x86/: the CPU and firmware-table state a guest expects at boot: identity
 * page tables, the boot GDT, boot_params/e820, the PVH start_info, the MP
 * table, CPUID and MSRs, and the register state of both entries.  Writes
 * guest memory only through gm_memory_hva().  docs/boot-protocol.md is the
 * contract these functions implement.
 */
#ifndef GM_X86_H
#define GM_X86_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmvm/config.h"
#include "gmvm/error.h"
#include "gmvm/memory.h"
#include "util/guest_map.h"

struct kvm_cpuid2;

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

/*
 * What a Linux kernel adds to the boot tables: a bzImage's setup header
 * (the bytes from 0x1f1 the kernel defines; NULL for an ELF), copied into
 * boot_params under gmvm's own loader fields, and an initrd (size 0: none)
 * in boot_params' ramdisk fields or, for PVH, start_info's module list.
 */
struct gm_x86_linux_boot {
	const uint8_t *setup_hdr;
	size_t setup_hdr_len;
	uint64_t initrd_addr, initrd_size;
};

/* Add lb to the tables gm_x86_write_boot_tables wrote for entry in mem. */
int gm_x86_write_linux_boot(struct gm_memory *mem, enum gm_entry entry, const struct gm_x86_linux_boot *lb,
			    struct gm_error *err);

/* Identity-map [0, max(4 GiB, end)) in 2 MiB user pages at GM_BOOT_PAGETABLES in mem. */
int gm_x86_write_pagetables(struct gm_memory *mem, uint64_t end, struct gm_error *err);

/*
 * The physical address width (CPUID 0x80000008 EAX[7:0]) of this host's
 * CPU, which KVM passes on to its guests; 36, the architectural minimum,
 * when the leaf is missing.  No system call: usable before any VM exists.
 */
unsigned gm_x86_phys_bits(void);

/*
 * Hardware-reduced ACPI tables at 0xe0000 (RSDP, XSDT, FADT, MADT for ncpus,
 * DSDT with a LNRO0005 device per "virtio_mmio.device=" entry of cmdline):
 * what distribution kernels built without MP-table parsing or virtio-mmio
 * command-line devices need (acpi.c).
 */
int gm_x86_write_acpi(struct gm_memory *mem, unsigned ncpus, const char *cmdline, struct gm_error *err);

/* The MP floating pointer and configuration table for ncpus at GM_BOOT_MPTABLE. */
int gm_x86_write_mptable(struct gm_memory *mem, unsigned ncpus, struct gm_error *err);

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

/*
 * CPU templates (--cpu host|minimal[,+FEATURE|,-FEATURE...]): what every
 * vCPU's CPUID shows.  "host" is what KVM supports here (with the
 * hypervisor bit and the TSC-deadline timer KVM emulates but does not list);
 * "minimal" is a baseline x86-64 (QEMU's qemu64 without cx16, with the
 * LAPIC features KVM emulates); each +/-FEATURE, by its Linux
 * /proc/cpuinfo name, shows or hides one feature.  The features' bits and
 * the rules for what hiding one hides with it are in cpu_features.c.
 */
#define GM_CPU_FEATURE_WORDS 4 /* bitmaps over the feature table, 64 features a word */
#define GM_CPU_SPEC_MAX 512    /* the canonical text of a template, with the NUL */

struct gm_cpu_template {
	bool minimal;                         /* the base: minimal, else host */
	uint64_t show[GM_CPU_FEATURE_WORDS];  /* +FEATURE: shown, refused if KVM cannot */
	uint64_t hide[GM_CPU_FEATURE_WORDS];  /* -FEATURE: hidden */
};

/* Parse spec (NULL: "host"); one-line refusals start "--cpu SPEC: " (status BAD_INPUT). */
int gm_cpu_template_parse(const char *spec, struct gm_cpu_template *t, struct gm_error *err);

/* The canonical text of t ("host", "minimal,-xsave,+avx2"), parsed back to the same template. */
void gm_cpu_template_format(const struct gm_cpu_template *t, char *out, size_t len);

/*
 * Where guest CPL0 code runs in KVM's instruction emulator (no VMX or SVM
 * on this host: PVM-style KVM), the features the emulator lacks are hidden
 * unless t shows them: cx16 and xsave.  Returns the names it hid, space
 * separated, in hidden (empty: none).
 */
void gm_cpu_template_cpl0(struct gm_cpu_template *t, char *hidden, size_t len);

/* The features gm_cpu_template_cpl0 hides, for messages: "cx16 xsave". */
const char *gm_cpu_cpl0_missing(void);

/*
 * Apply t to c, KVM's supported CPUID (changed in place): the base, the
 * user's changes, then the dependency rules; a +FEATURE that KVM cannot
 * offer, or whose prerequisite t hides, is refused with one line.
 * tsc_deadline: KVM_CAP_TSC_DEADLINE_TIMER (the in-kernel LAPIC has it).
 */
int gm_cpu_template_apply(const struct gm_cpu_template *t, struct kvm_cpuid2 *c, bool tsc_deadline,
			  struct gm_error *err);

/* The XCR0 bits a guest with CPUID c may set: x87|SSE without XSAVE, else leaf 0xD's. */
uint64_t gm_cpu_xcr0_allowed(const struct kvm_cpuid2 *c);

/*
 * KVM's supported CPUID with template t applied, as every vCPU starts from
 * it (gm_x86_setup_vcpu personalises it).  Free with free().
 */
struct kvm_cpuid2 *gm_x86_cpuid_build(int kvm_fd, const struct gm_cpu_template *t, struct gm_error *err);

/* Registers of the boot vCPU for the chosen entry at address rip. */
int gm_x86_setup_boot_regs(int vcpu_fd, enum gm_entry entry, uint64_t rip, struct gm_error *err);

/* MSR indices that are part of a vCPU's saved state (filtered by the kernel's list). */
int gm_x86_saved_msrs(int kvm_fd, uint32_t *out, unsigned max, struct gm_error *err);

#endif
