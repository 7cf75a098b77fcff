/*
 * rt/time.c: the TSC rate, found once on first use: the hypervisor timing
 * leaf 0x40000010 (gmvm provides it), else CPUID 0x15/0x16, else a PIT
 * channel 2 measurement through ports 0x42/0x43/0x61 (all at CPL3 with
 * IOPL 3).  0 kHz means no clock: callers fall back to counting.
 */
#include "rt_priv.h"
#include "x86.h"

#define PIT_HZ     1193182ull
#define PIT_COUNT  23864u		/* 20 ms */

static uint64_t khz;
static const char *source = "none";
static bool probed;

/* Leaves as read at CPL0 at boot: CPUID at CPL3 is not intercepted on every
 * host (under PVM it returns the host's values, not the VMM's). */
static const uint32_t *leaf(uint32_t fn)
{
	for (unsigned i = 0; i < RT_CPUID_LEAVES; i++)
		if (rt_cpuid_leaf[i] == fn)
			return rt_cpuid_boot[i];
	return NULL;
}

static uint64_t from_cpuid(void)
{
	const uint32_t *r;

	if (leaf(1)[2] & (1u << 31)) {	/* hypervisor present: its leaves are meaningful */
		uint32_t max_hv = leaf(0x40000000)[0];
		if (max_hv >= 0x40000010 && max_hv < 0x40010000 && leaf(0x40000010)[0]) {
			source = "cpuid-hv";
			return leaf(0x40000010)[0];
		}
	}
	uint32_t max = leaf(0)[0];
	r = leaf(0x15);
	if (max >= 0x15 && r[0] && r[1] && r[2]) {
		source = "cpuid-15h";
		return (uint64_t)r[2] * r[1] / r[0] / 1000;
	}
	r = leaf(0x16);
	if (max >= 0x16 && r[0]) {
		source = "cpuid-16h";
		return (uint64_t)r[0] * 1000;
	}
	return 0;
}

static uint64_t from_pit(void)
{
	uint8_t port61 = inb(0x61);

	outb(0x61, (uint8_t)((port61 & ~0x02) | 0x01));	/* gate on, speaker off */
	outb(0x43, 0xb0);					/* ch 2, lo/hi, mode 0 */
	outb(0x42, PIT_COUNT & 0xff);
	outb(0x42, PIT_COUNT >> 8);
	/* OUT2 must read low right after loading; a missing port reads 0xff */
	if (inb(0x61) & 0x20)
		return 0;
	uint64_t t0 = rdtsc();
	unsigned i;
	for (i = 0; i < 10000000 && !(inb(0x61) & 0x20); i++)
		;
	uint64_t t1 = rdtsc();
	outb(0x61, port61);
	if (i == 10000000)
		return 0;
	uint64_t f = (t1 - t0) * PIT_HZ / (PIT_COUNT * 1000ull);
	if (f < 100000 || f > 20000000)		/* 100 MHz .. 20 GHz, else nonsense */
		return 0;
	source = "pit";
	return f;
}

uint64_t rt_tsc_khz(void)
{
	if (!probed) {
		khz = from_cpuid();
		if (!khz)
			khz = from_pit();
		if (!khz)
			source = "none";
		probed = true;
	}
	return khz;
}

const char *rt_tsc_source(void)
{
	rt_tsc_khz();
	return source;
}

uint64_t rt_rdtsc(void)
{
	return rdtsc();
}

void rt_delay_us(uint64_t us)
{
	uint64_t f = rt_tsc_khz();

	if (f) {
		uint64_t end = rdtsc() + us * f / 1000;
		while (rdtsc() < end)
			cpu_relax();
	} else {
		for (uint64_t i = 0; i < us * 25; i++)
			cpu_relax();
	}
}
