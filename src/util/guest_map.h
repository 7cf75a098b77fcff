/*
 * util/guest_map: every fixed guest-physical address, port and limit gmvm
 * uses, in one place (docs/boot-protocol.md explains them to guests).
 * Rooms take their constants from here so two of them can never disagree
 * about where something lives.
 *
 *   0x0000_0500  boot GDT
 *   0x0000_6000  PVH hvm_start_info
 *   0x0000_7000  Linux boot_params (zero page)
 *   0x0000_8000  guest command line (4 KiB)
 *   0x0001_0000  identity page tables (up to 64 GiB mapped)
 *   0x0009_fc00  MP table (in the EBDA, below 640 KiB)
 *   0x0010_0000  lowest address a guest image may load at
 *   ...          RAM up to 3 GiB
 *   0xc000_0000  32-bit hole: no RAM
 *   0xfec0_0000  IOAPIC (4 KiB)
 *   0xfee0_0000  LAPICs (in the kernel)
 *   0xfeff_c000  three pages KVM keeps for VMX real mode (identity map, TSS)
 *   0x1_0000_0000 RAM above 3 GiB continues here, up to 64 GiB
 */
#ifndef GM_UTIL_GUEST_MAP_H
#define GM_UTIL_GUEST_MAP_H

#include <stdint.h>

#include "gmvm/memory.h" /* GM_LOW_RAM_END, GM_HIGH_RAM_BASE: public */

#define GM_BOOT_GDT          UINT64_C(0x500)
#define GM_BOOT_START_INFO   UINT64_C(0x6000)
#define GM_BOOT_PARAMS       UINT64_C(0x7000)
#define GM_BOOT_CMDLINE      UINT64_C(0x8000)
#define GM_BOOT_CMDLINE_MAX  4096u
#define GM_BOOT_PAGETABLES   UINT64_C(0x10000)
#define GM_BOOT_MPTABLE      UINT64_C(0x9fc00)
#define GM_BOOT_IMAGE_MIN    UINT64_C(0x100000)

/* Lowest guest-physical address a segment may load at: below it live the
 * boot GDT, boot_params, command line and page tables. */
#define GM_ELF_MIN_PADDR     GM_BOOT_IMAGE_MIN

#define GM_IOAPIC_BASE       UINT64_C(0xfec00000)
#define GM_IOAPIC_MMIO_BASE  GM_IOAPIC_BASE
#define GM_IOAPIC_MMIO_SIZE  0x1000
#define GM_LAPIC_BASE        UINT64_C(0xfee00000)
#define GM_VMX_IDENTITY_MAP  UINT64_C(0xfeffc000)
#define GM_VMX_TSS           UINT64_C(0xfeffd000)

/* The boot page tables map guest-physical [0, 64 GiB): RAM must end there,
 * which with the hole at 3-4 GiB is 63 GiB of RAM. */
#define GM_BOOT_MAP_MAX      (UINT64_C(64) << 30)
#define GM_MEM_MAX_END       GM_BOOT_MAP_MAX
#define GM_MEM_MAX_SIZE      (GM_MEM_MAX_END - (GM_HIGH_RAM_BASE - GM_LOW_RAM_END))

/* Legacy I/O ports and interrupt lines (IOAPIC pins). */
#define GM_SERIAL_COM1_BASE  0x3f8
#define GM_SERIAL_COM1_GSI   4
#define GM_DEBUG_EXIT_PORT   0xf4  /* QEMU's isa-debug-exit convention */
#define GM_I8042_DATA_PORT   0x60
#define GM_I8042_CMD_PORT    0x64
#define GM_IOAPIC_PINS       24

#endif
