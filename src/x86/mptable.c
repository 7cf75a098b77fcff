/*
 * x86/mptable: an Intel MultiProcessor Specification 1.4 table, the
 * simplest firmware description of the vCPUs (APIC ID = vCPU index, vCPU 0
 * the bootstrap processor), the IOAPIC and the interrupt routing.  An SMP
 * guest reads it to find the processors it may start with INIT-SIPI-SIPI,
 * and Linux without ACPI finds its IOAPIC and every pin's source here.
 */
#include <errno.h>
#include <string.h>

#include "util/le.h"
#include "x86/x86.h"

#define MP_SPEC_REV       4
#define MP_LAPIC_VERSION  0x14
#define MP_IOAPIC_VERSION 0x11
#define MP_CPU_ENABLED    0x01
#define MP_CPU_BSP        0x02
#define MP_ISA_IRQS       16
/* pins above the ISA IRQs (virtio-mmio's): edge, active high, whatever the bus says */
#define MP_IRQ_EDGE_HIGH  0x5

enum { MP_PROCESSOR = 0, MP_BUS = 1, MP_IOAPIC = 2, MP_IOINT = 3, MP_LINT = 4 };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

#define FP_SIZE     16
#define HDR_SIZE    44
#define CPU_SIZE    20
#define SMALL_SIZE  8


static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	while (n--)
		sum += *p++;
	return (uint8_t)-sum;
}

static size_t table_size(unsigned ncpus)
{
	/* header, processors, one bus, one IOAPIC, one source per IOAPIC pin, two local ints */
	return HDR_SIZE + ncpus * CPU_SIZE + SMALL_SIZE * (2 + GM_IOAPIC_PINS + 2);
}

static uint8_t *put_small(uint8_t *p, uint8_t type, uint8_t a, uint16_t flags, uint8_t bus,
			  uint8_t irq, uint8_t dst, uint8_t pin)
{
	p[0] = type;
	p[1] = a;
	gm_put_le16(p + 2, flags);
	p[4] = bus;
	p[5] = irq;
	p[6] = dst;
	p[7] = pin;
	return p + SMALL_SIZE;
}

int gm_x86_write_mptable(struct gm_memory *mem, unsigned ncpus, struct gm_error *err)
{
	size_t size = table_size(ncpus);
	uint8_t *fp = gm_memory_hva(mem, GM_BOOT_MPTABLE, FP_SIZE + size);
	uint8_t ioapic_id = (uint8_t)ncpus;
	uint16_t entries = 0;

	if (ncpus < 1 || ncpus > GM_MAX_CPUS)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%u vCPUs: use 1 to %d", ncpus, GM_MAX_CPUS);
	if (!fp)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOSPC, "guest RAM does not cover the MP table at 0x%llx; use more --memory",
			       (unsigned long long)GM_BOOT_MPTABLE);
	memset(fp, 0, FP_SIZE + size);

	uint8_t *hdr = fp + FP_SIZE;
	uint8_t *p = hdr + HDR_SIZE;
	for (unsigned i = 0; i < ncpus; i++, entries++) {
		p[0] = MP_PROCESSOR;
		p[1] = (uint8_t)i;
		p[2] = MP_LAPIC_VERSION;
		p[3] = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0);
		gm_put_le32(p + 4, 0x600);     /* family 6 signature */
		gm_put_le32(p + 8, 0x201);     /* FPU, APIC */
		p += CPU_SIZE;
	}
	p[0] = MP_BUS;
	p[1] = 0;
	memcpy(p + 2, "ISA   ", 6);
	p += SMALL_SIZE;
	entries++;
	p[0] = MP_IOAPIC;
	p[1] = ioapic_id;
	p[2] = MP_IOAPIC_VERSION;
	p[3] = 1;
	gm_put_le32(p + 4, (uint32_t)GM_IOAPIC_BASE);
	p += SMALL_SIZE;
	entries++;
	/*
	 * Every pin is the IRQ of its number on the one (ISA) bus, as in
	 * Firecracker and kvmtool: gmvm has neither PIT nor 8259, so nothing
	 * needs IRQ 0 moved to pin 2.  ISA IRQs take the bus's edge/high;
	 * pins 16-23 (devices with a GSI from the allocator, virtio-mmio) say
	 * edge/high themselves, as virtio-mmio's interrupt is edge-like here.
	 */
	for (uint8_t pin = 0; pin < GM_IOAPIC_PINS; pin++) {
		p = put_small(p, MP_IOINT, MP_INT, pin < MP_ISA_IRQS ? 0 : MP_IRQ_EDGE_HIGH, 0, pin, ioapic_id, pin);
		entries++;
	}
	/* the 8259's and the NMI's wires to every LAPIC, as on PCs (LINT0, LINT1) */
	p = put_small(p, MP_LINT, MP_EXTINT, 0, 0, 0, 0xff, 0);
	p = put_small(p, MP_LINT, MP_NMI, 0, 0, 0, 0xff, 1);
	entries += 2;

	memcpy(hdr, "PCMP", 4);
	gm_put_le16(hdr + 4, (uint16_t)size);
	hdr[6] = MP_SPEC_REV;
	memcpy(hdr + 8, "GMVM    ", 8);
	memcpy(hdr + 16, "GMVM-MICROVM", 12);
	gm_put_le16(hdr + 34, entries);
	gm_put_le32(hdr + 36, (uint32_t)GM_LAPIC_BASE);
	hdr[7] = checksum(hdr, size);

	memcpy(fp, "_MP_", 4);
	gm_put_le32(fp + 4, (uint32_t)(GM_BOOT_MPTABLE + FP_SIZE));
	fp[8] = 1;                   /* length in 16-byte units */
	fp[9] = MP_SPEC_REV;
	fp[10] = checksum(fp, FP_SIZE);
	return 0;
}
