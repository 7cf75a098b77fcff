/*
 * The MP table's interrupt routing, as Linux without ACPI reads it: the
 * IOAPIC at 0xfec00000 with 24 pins, one source entry per pin (ISA IRQs
 * on their own pins, pins 16-23 edge/high for virtio-mmio) and the local
 * ExtINT/NMI wires.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gmvm/memory.h"
#include "x86/x86.h"
#include "../anon_memory.h"

static struct gm_memory *anon_memory(uint64_t size)
{
	struct gm_error err = { 0 };
	struct gm_memory *mem = test_anon_memory(size, &err);

	cr_assert_not_null(mem, "%s", err.msg);
	return mem;
}

Test(mptable, every_ioapic_pin_has_a_source)
{
	struct gm_memory *mem = anon_memory(64 << 20);
	struct gm_error err = { 0 };
	const unsigned ncpus = 2;
	bool pin_seen[GM_IOAPIC_PINS] = { false };
	unsigned lints = 0, ioapics = 0;

	cr_assert_eq(gm_x86_write_mptable(mem, ncpus, &err), 0, "%s", err.msg);
	uint32_t at;
	memcpy(&at, gm_memory_hva(mem, GM_BOOT_MPTABLE + 4, 4), 4);
	uint8_t *hdr = gm_memory_hva(mem, at, 44);
	uint16_t len, count;
	memcpy(&len, hdr + 4, 2);
	memcpy(&count, hdr + 34, 2);
	hdr = gm_memory_hva(mem, at, len);
	uint8_t sum = 0;
	for (unsigned i = 0; i < len; i++)
		sum += hdr[i];
	cr_assert_eq(sum, 0, "checksum");
	uint8_t *e = hdr + 44, *end = hdr + len;
	for (unsigned n = 0; n < count; n++) {
		cr_assert_lt(e, end, "entry %u lies inside the table", n);
		switch (e[0]) {
		case 0: e += 20; continue;
		case 1: cr_assert_eq(memcmp(e + 2, "ISA   ", 6), 0); break;
		case 2: {
			uint32_t base;
			memcpy(&base, e + 4, 4);
			cr_assert_eq(base, 0xfec00000u);
			cr_assert_eq(e[1], ncpus, "IOAPIC ID after the LAPIC IDs");
			cr_assert_eq(e[3] & 1, 1, "usable");
			ioapics++;
			break;
		}
		case 3: {
			uint16_t flags;
			memcpy(&flags, e + 2, 2);
			cr_assert_eq(e[1], 0, "a vectored interrupt");
			cr_assert_eq(e[6], ncpus, "to the IOAPIC");
			cr_assert_lt(e[7], GM_IOAPIC_PINS);
			cr_assert_eq(e[5], e[7], "IRQ n on pin n");
			cr_assert_eq(flags, e[7] < 16 ? 0 : 0x5, "pin %u: ISA default, or edge/high", e[7]);
			cr_assert_not(pin_seen[e[7]], "pin %u twice", e[7]);
			pin_seen[e[7]] = true;
			break;
		}
		case 4:
			cr_assert_eq(e[6], 0xff, "every LAPIC");
			cr_assert_eq(e[7], e[1] == 3 ? 0 : 1, "ExtINT on LINT0, NMI on LINT1");
			lints++;
			break;
		default:
			cr_assert_fail("entry type %u", e[0]);
		}
		e += 8;
	}
	cr_assert_eq(e, end, "the length covers the entries exactly");
	cr_assert_eq(ioapics, 1);
	cr_assert_eq(lints, 2);
	for (unsigned p = 0; p < GM_IOAPIC_PINS; p++)
		cr_assert(pin_seen[p], "pin %u has a source", p);
	gm_memory_destroy(mem);
}

static uint8_t sum_of(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

/* The table at gpa, its signature and checksum checked; its length in *len. */
static uint8_t *table(struct gm_memory *mem, uint64_t gpa, const char *sig, uint32_t *len)
{
	uint8_t *t = gm_memory_hva(mem, gpa, 36);

	cr_assert_not_null(t);
	cr_assert_eq(memcmp(t, sig, 4), 0, "%.4s at 0x%llx, not %s", t, (unsigned long long)gpa, sig);
	memcpy(len, t + 4, 4);
	t = gm_memory_hva(mem, gpa, *len);
	cr_assert_eq(sum_of(t, *len), 0, "%s checksum", sig);
	/* GMVM_DUMP_ACPI=DIR: the tables as files, for iasl -d */
	const char *dir = getenv("GMVM_DUMP_ACPI");
	if (dir) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%.4s.dat", dir, sig);
		FILE *f = fopen(path, "wb");
		fwrite(t, 1, *len, f);
		fclose(f);
	}
	return t;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

Test(acpi, tables_for_kernels_without_mp_parsing_or_cmdline_virtio)
{
	struct gm_memory *mem = anon_memory(64 << 20);
	struct gm_error err = { 0 };
	uint32_t len;

	cr_assert_eq(gm_x86_write_acpi(mem, 3, "console=ttyS0 virtio_mmio.device=512@0xd0000000:16 virtio_mmio.device=4K@0xd0001000:17", &err), 0,
		     "%s", err.msg);
	uint8_t *rsdp = gm_memory_hva(mem, 0xe0000, 36);
	cr_assert_eq(memcmp(rsdp, "RSD PTR ", 8), 0, "found by the BIOS-area scan");
	cr_assert_eq(sum_of(rsdp, 20), 0);
	cr_assert_eq(sum_of(rsdp, 36), 0);
	cr_assert_eq(rsdp[15], 2);
	uint8_t *xsdt = table(mem, le64(rsdp + 24), "XSDT", &len);
	cr_assert_eq(len, 36 + 16);
	uint8_t *fadt = table(mem, le64(xsdt + 36), "FACP", &len);
	uint32_t flags;
	memcpy(&flags, fadt + 112, 4);
	cr_assert(flags & (1u << 20), "hardware-reduced");
	uint8_t *madt = table(mem, le64(xsdt + 44), "APIC", &len);
	unsigned lapics = 0, ioapics = 0;
	for (uint8_t *e = madt + 44; e < madt + len; e += e[1]) {
		cr_assert_gt(e[1], 0);
		if (e[0] == 0) {
			cr_assert_eq(e[3], lapics, "APIC ID = vCPU index");
			lapics++;
		}
		if (e[0] == 1) {
			uint32_t a;
			memcpy(&a, e + 4, 4);
			cr_assert_eq(a, 0xfec00000u);
			ioapics++;
		}
	}
	cr_assert_eq(lapics, 3);
	cr_assert_eq(ioapics, 1);
	uint8_t *dsdt = table(mem, le64(fadt + 140), "DSDT", &len);
	unsigned hids = 0;
	for (uint32_t i = 36; i + 8 <= len; i++)
		hids += !memcmp(dsdt + i, "LNRO0005", 8);
	cr_assert_eq(hids, 2, "one virtio-mmio device per command-line entry");
	gm_memory_destroy(mem);
}
