/*
 * rt/layout.h: constants shared by the runtime's assembly and C: GDT
 * selectors, per-CPU stack sizes, the AP trampoline address and control
 * register bits.  Plain #defines only, so entry.S can include it.
 */
#ifndef RT_LAYOUT_H
#define RT_LAYOUT_H

/* GDT: kernel code/data first, a 32-bit code segment for the AP trampoline's
 * protected-mode step, user data/code, then one 16-byte TSS slot per CPU. */
#define SEL_KCODE     0x08
#define SEL_KDATA     0x10
#define SEL_KCODE32   0x18
#define SEL_UDATA     0x20
#define SEL_UCODE     0x28
#define SEL_TSS0      0x30
#define GDT_FIXED     6            /* descriptors before the TSS slots */
#define RT_GDT_BYTES  (GDT_FIXED * 8 + RT_MAX_CPUS * 16)

#define RT_MAX_CPUS   64           /* gmvm's GM_MAX_CPUS */
#define KSTACK_SIZE   4096         /* CPL0 stack per CPU: traps only */
#define BSP_USTACK    32768
#define AP_USTACK     8192

#define TRAMP_BASE    0x3000       /* SIPI vector 0x03 */
#define TRAMP_VECTOR  0x03


#define BOOT_LINUX64  1
#define BOOT_PVH      2

#define PVH_MAX_GIB   64           /* identity map cap for the PVH path */

#define CR0_PE  0x00000001
#define CR0_MP  0x00000002
#define CR0_ET  0x00000010
#define CR0_NE  0x00000020
#define CR0_WP  0x00010000
#define CR0_PG  0x80000000
#define CR4_PAE        0x020
#define CR4_OSFXSR     0x200
#define CR4_OSXMMEXCPT 0x400
#define MSR_EFER  0xc0000080
#define EFER_LME  0x100
#define EFER_LMA  0x400
#define EFER_NXE  0x800

#endif
