/*
 * x86/acpi: the ACPI tables a distribution kernel needs where the MP table
 * is not enough: Debian's kernels are built without
 * CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES (virtio-mmio devices are found only
 * through ACPI, as LNRO0005), and the cloud flavour without
 * CONFIG_X86_MPPARSE (without an MADT it sets up neither the IOAPIC nor
 * the LAPIC timer: no tick, and userspace's first sleep never ends).
 * Hardware-reduced ACPI as Firecracker and Cloud Hypervisor write it: RSDP
 * (found by the BIOS-area scan at 0xe0000), XSDT, FADT (no SCI, no PM
 * timer, no fixed buttons), MADT (the LAPICs, the IOAPIC, NMI on LINT1) and
 * a DSDT with one device per virtio-mmio window the devices put on the
 * kernel command line.  All of it in the e820-reserved area below 1 MiB.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/le.h"
#include "x86/x86.h"

#define ACPI_BASE     UINT64_C(0xe0000)
#define ACPI_SIZE     0x10000u
#define HDR           36
#define RSDP_SIZE     36
#define FADT_SIZE     276
#define MAX_VIRTIO    32

#define FADT_HW_REDUCED (1u << 20)
#define FADT_PWR_BUTTON (1u << 4) /* no fixed-feature power button */
#define FADT_SLP_BUTTON (1u << 5)
#define BOOT_NO_VGA     (1u << 2)
#define BOOT_NO_CMOS    (1u << 5)

struct mmio_dev {
	uint64_t base, size;
	unsigned gsi;
};

static void put64(uint8_t *p, uint64_t v)
{
	gm_put_le32(p, (uint32_t)v);
	gm_put_le32(p + 4, (uint32_t)(v >> 32));
}

static uint8_t checksum(const uint8_t *p, size_t n)
{
	uint8_t sum = 0;

	while (n--)
		sum += *p++;
	return (uint8_t)-sum;
}

static void header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	gm_put_le32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "GMVM  ", 6);
	memcpy(t + 16, "GMVMACPI", 8);
	gm_put_le32(t + 24, 1);
	memcpy(t + 28, "GMVM", 4);
	gm_put_le32(t + 32, 1);
	t[9] = checksum(t, len);
}

/* "virtio_mmio.device=SIZE@BASE:IRQ" entries of the command line, as Linux would read them. */
static unsigned find_devices(const char *cmdline, struct mmio_dev *d, unsigned max)
{
	static const char key[] = "virtio_mmio.device=";
	unsigned n = 0;

	for (const char *p = cmdline ? strstr(cmdline, key) : NULL; p && n < max; p = strstr(p + 1, key)) {
		char *end;
		uint64_t size = strtoull(p + sizeof(key) - 1, &end, 0);

		if (*end == 'K' || *end == 'k')
			size <<= 10, end++;
		else if (*end == 'M' || *end == 'm')
			size <<= 20, end++;
		if (*end != '@')
			continue;
		uint64_t base = strtoull(end + 1, &end, 0);
		if (*end != ':')
			continue;
		unsigned long gsi = strtoul(end + 1, &end, 0);
		if (!size || size > UINT32_MAX || base > UINT32_MAX - size || gsi >= GM_IOAPIC_PINS)
			continue;
		d[n++] = (struct mmio_dev){ .base = base, .size = size, .gsi = (unsigned)gsi };
	}
	return n;
}

/* AML PkgLength for a package whose contents (after the PkgLength) are len bytes. */
static size_t pkg_length(uint8_t *out, size_t len)
{
	if (len + 1 < 0x40) {
		out[0] = (uint8_t)(len + 1);
		return 1;
	}
	size_t total = len + 2;
	if (total < 0x1000) {
		out[0] = (uint8_t)(0x40 | (total & 0xf));
		out[1] = (uint8_t)(total >> 4);
		return 2;
	}
	total = len + 3;
	out[0] = (uint8_t)(0x80 | (total & 0xf));
	out[1] = (uint8_t)(total >> 4);
	out[2] = (uint8_t)(total >> 12);
	return 3;
}

/* Device (VRnn) { Name (_HID, "LNRO0005") Name (_UID, n) Name (_CRS, ResourceTemplate () {
 *   Memory32Fixed (ReadWrite, base, size) Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { gsi } }) } */
static size_t aml_device(uint8_t *out, unsigned i, const struct mmio_dev *d)
{
	uint8_t body[96], crs[32];
	size_t b = 0, c = 0;

	crs[c++] = 0x86; /* Memory32Fixed */
	crs[c++] = 9;
	crs[c++] = 0;
	crs[c++] = 1; /* read-write */
	gm_put_le32(crs + c, (uint32_t)d->base);
	gm_put_le32(crs + c + 4, (uint32_t)d->size);
	c += 8;
	crs[c++] = 0x89; /* Extended Interrupt */
	crs[c++] = 6;
	crs[c++] = 0;
	crs[c++] = 0x03; /* consumer, edge, active high, exclusive */
	crs[c++] = 1;
	gm_put_le32(crs + c, d->gsi);
	c += 4;
	crs[c++] = 0x79; /* End Tag */
	crs[c++] = 0;

	body[b++] = 'V';
	body[b++] = 'R';
	body[b++] = (uint8_t)('0' + i / 10);
	body[b++] = (uint8_t)('0' + i % 10);
	body[b++] = 0x08; /* Name (_HID, "LNRO0005") */
	memcpy(body + b, "_HID", 4);
	b += 4;
	body[b++] = 0x0d;
	memcpy(body + b, "LNRO0005", 9);
	b += 9;
	body[b++] = 0x08; /* Name (_UID, i) */
	memcpy(body + b, "_UID", 4);
	b += 4;
	body[b++] = 0x0a;
	body[b++] = (uint8_t)i;
	body[b++] = 0x08; /* Name (_CRS, Buffer (c) {...}) */
	memcpy(body + b, "_CRS", 4);
	b += 4;
	body[b++] = 0x11;
	b += pkg_length(body + b, 2 + c);
	body[b++] = 0x0a;
	body[b++] = (uint8_t)c;
	memcpy(body + b, crs, c);
	b += c;

	size_t o = 0;
	out[o++] = 0x5b; /* DeviceOp */
	out[o++] = 0x82;
	o += pkg_length(out + o, b);
	memcpy(out + o, body, b);
	return o + b;
}

/* DSDT: Scope (\_SB) { the devices }; returns its length. */
static size_t write_dsdt(uint8_t *t, const struct mmio_dev *d, unsigned n)
{
	uint8_t *devs = malloc(n * 96 + 1);
	size_t len = 0, o = HDR;

	for (unsigned i = 0; devs && i < n; i++)
		len += aml_device(devs + len, i, &d[i]);
	t[o++] = 0x10; /* ScopeOp */
	o += pkg_length(t + o, 5 + len);
	memcpy(t + o, "\\_SB_", 5); /* the root prefix and the NameSeg */
	o += 5;
	if (devs)
		memcpy(t + o, devs, len);
	o += len;
	free(devs);
	return o;
}

int gm_x86_write_acpi(struct gm_memory *mem, unsigned ncpus, const char *cmdline, struct gm_error *err)
{
	struct mmio_dev devs[MAX_VIRTIO];
	unsigned ndevs = find_devices(cmdline, devs, MAX_VIRTIO);
	uint64_t rsdp = ACPI_BASE, xsdt = rsdp + 64, fadt = xsdt + 64, madt = fadt + 288;
	uint32_t madt_len = HDR + 8 + ncpus * 8 + 12 + 6;
	uint64_t dsdt = (madt + madt_len + 15) & ~UINT64_C(15);
	/* zero only what the tables can take: each page touched is a page the guest's memory must hold */
	size_t used = (size_t)(dsdt - ACPI_BASE) + HDR + 16 + ndevs * 96; /* a device takes < 70 bytes of AML */
	uint8_t *base = used <= ACPI_SIZE ? gm_memory_hva(mem, ACPI_BASE, used) : NULL;

	if (!base)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOSPC, "guest RAM does not cover the ACPI tables at 0x%" PRIx64 "; use more --memory",
			       ACPI_BASE);
	memset(base, 0, used);

	/* DSDT first: the others carry no checksum over it, but its length bounds the area */
	size_t dsdt_len = write_dsdt(base + (dsdt - ACPI_BASE), devs, ndevs);
	if (dsdt - ACPI_BASE + dsdt_len > used)
		return gm_fail(err, GM_STATUS_FAILURE, E2BIG, "the ACPI tables outgrew the room counted for them");
	header(base + (dsdt - ACPI_BASE), "DSDT", (uint32_t)dsdt_len, 2);

	uint8_t *m = base + (madt - ACPI_BASE), *e = m + HDR + 8;
	gm_put_le32(m + HDR, (uint32_t)GM_LAPIC_BASE);
	gm_put_le32(m + HDR + 4, 0); /* no PCAT_COMPAT: there is no 8259 */
	for (unsigned i = 0; i < ncpus; i++, e += 8) {
		e[0] = 0; /* Processor Local APIC */
		e[1] = 8;
		e[2] = (uint8_t)i;
		e[3] = (uint8_t)i;
		gm_put_le32(e + 4, 1); /* enabled */
	}
	e[0] = 1; /* I/O APIC: the ID after the LAPICs', as the MP table says */
	e[1] = 12;
	e[2] = (uint8_t)ncpus;
	gm_put_le32(e + 4, (uint32_t)GM_IOAPIC_BASE);
	gm_put_le32(e + 8, 0);
	e += 12;
	e[0] = 4; /* Local APIC NMI: every processor, LINT1 */
	e[1] = 6;
	e[2] = 0xff;
	e[5] = 1;
	header(m, "APIC", madt_len, 4);

	uint8_t *f = base + (fadt - ACPI_BASE);
	gm_put_le32(f + 40, (uint32_t)dsdt);
	gm_put_le16(f + 109, BOOT_NO_VGA | BOOT_NO_CMOS);
	gm_put_le32(f + 112, FADT_HW_REDUCED | FADT_PWR_BUTTON | FADT_SLP_BUTTON);
	f[131] = 0; /* minor version: ACPI 6.0 */
	put64(f + 140, dsdt);
	memcpy(f + 268, "GMVM", 4); /* hypervisor vendor identity */
	header(f, "FACP", FADT_SIZE, 6);

	uint8_t *x = base + (xsdt - ACPI_BASE);
	put64(x + HDR, fadt);
	put64(x + HDR + 8, madt);
	header(x, "XSDT", HDR + 16, 1);

	uint8_t *r = base;
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "GMVM  ", 6);
	r[15] = 2; /* ACPI 2.0+: the XSDT */
	gm_put_le32(r + 20, RSDP_SIZE);
	put64(r + 24, xsdt);
	r[8] = checksum(r, 20);
	r[32] = checksum(r, RSDP_SIZE);
	return 0;
}
