/*
 * rt/acpi.c: power-off through ACPI for VMMs without an i8042 (QEMU's
 * microvm): follow the RSDP the boot protocol hands over (never scanned for)
 * to the FADT, and if it names a hardware-reduced SLEEP_CONTROL register,
 * write SLP_TYP = 5 (QEMU's GED value for S5) with SLP_EN.  The register is
 * looked up at start, before a guest like memtest overwrites RAM.
 */
#include "layout.h"
#include "rt_priv.h"
#include "x86.h"

#define FADT_SLEEP_CTL 244	/* generic address structure, ACPI 5.0+ */
#define SLP_EN         0x20
#define SLP_TYP_S5     5

static bool sig_is(uint64_t a, const char *sig, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (*(const volatile char *)(a + i) != sig[i])
			return false;
	return true;
}

static uint64_t rsdp_address(void)
{
	if (rt_boot_kind == BOOT_PVH)
		return *(const volatile uint32_t *)rt_boot_info == 0x336ec578u ?
			       *(const volatile uint64_t *)(rt_boot_info + 32) : 0;
	return *(const volatile uint64_t *)(rt_boot_info + 0x070);	/* boot_params.acpi_rsdp_addr */
}

static uint64_t find_fadt(uint64_t rsdp)
{
	if (!rsdp || !sig_is(rsdp, "RSD PTR ", 8))
		return 0;
	uint8_t rev = *(const volatile uint8_t *)(rsdp + 15);
	uint64_t xsdt = rev >= 2 ? *(const volatile uint64_t *)(rsdp + 24) : 0;
	uint64_t sdt = xsdt ? xsdt : *(const volatile uint32_t *)(rsdp + 16);
	unsigned width = xsdt ? 8 : 4;

	if (!sdt)
		return 0;
	uint32_t len = *(const volatile uint32_t *)(sdt + 4);
	for (uint64_t p = sdt + 36; p + width <= sdt + len; p += width) {
		uint64_t t = width == 8 ? *(const volatile uint64_t *)p : *(const volatile uint32_t *)p;
		if (t && sig_is(t, "FACP", 4))
			return t;
	}
	return 0;
}

static uint64_t sleep_reg;
static uint8_t sleep_space;	/* 0 = memory, 1 = I/O port */

void rt_acpi_init(void)
{
	uint64_t fadt = find_fadt(rsdp_address());

	if (!fadt || *(const volatile uint32_t *)(fadt + 4) < FADT_SLEEP_CTL + 12)
		return;
	sleep_space = *(const volatile uint8_t *)(fadt + FADT_SLEEP_CTL);
	if (sleep_space <= 1)
		sleep_reg = *(const volatile uint64_t *)(fadt + FADT_SLEEP_CTL + 4);
}

bool rt_acpi_poweroff(void)
{
	uint8_t v = SLP_TYP_S5 << 2 | SLP_EN;

	if (!sleep_reg)
		return false;
	if (sleep_space == 0)
		*(volatile uint8_t *)sleep_reg = v;
	else
		outb((uint16_t)sleep_reg, v);
	return true;
}
