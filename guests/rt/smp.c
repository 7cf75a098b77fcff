/*
 * rt/smp.c: processors: the MP table (found in the EBDA/0x9fc00 or BIOS
 * area) or `cpus=N`, and AP start-up with INIT-SIPI-SIPI through the xAPIC,
 * all from CPL3 (the APIC page is user-mapped in the identity map).  APs run
 * traps.S's trampoline at TRAMP_BASE, then rt_ap_main() at CPL3.
 */
#include "layout.h"
#include "rt_priv.h"
#include "x86.h"

#define LAPIC_DEFAULT  0xfee00000ull
#define LAPIC_ID       0x020
#define LAPIC_SVR      0x0f0
#define LAPIC_ICR_LO   0x300
#define LAPIC_ICR_HI   0x310
#define ICR_BUSY       (1u << 12)
#define ICR_INIT       0x00004500u	/* INIT, level assert */
#define ICR_SIPI       0x00004600u	/* start-up, level assert */

static uint32_t apic_ids[RT_MAX_CPUS];
static unsigned ncpus = 1;
static bool mp_found;
static uint64_t lapic = LAPIC_DEFAULT;

static rt_ap_fn volatile ap_fn;
static unsigned ap_started;

static uint8_t sum_bytes(const volatile uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

static uint64_t find_floating(uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a + 16 <= start + len; a += 16) {
		const volatile uint8_t *p = (const volatile uint8_t *)a;
		if (p[0] == '_' && p[1] == 'M' && p[2] == 'P' && p[3] == '_' && p[8] == 1 && sum_bytes(p, 16) == 0)
			return a;
	}
	return 0;
}

static bool parse_config(uint64_t fp)
{
	uint32_t cfg = *(const volatile uint32_t *)(fp + 4);
	const volatile uint8_t *h = (const volatile uint8_t *)(uint64_t)cfg;

	if (!cfg || h[0] != 'P' || h[1] != 'C' || h[2] != 'M' || h[3] != 'P')
		return false;
	uint16_t len = *(const volatile uint16_t *)(h + 4);
	if (len < 44 || sum_bytes(h, len) != 0)
		return false;
	lapic = *(const volatile uint32_t *)(h + 36);
	if (!lapic)
		lapic = LAPIC_DEFAULT;

	unsigned n = 0;
	const volatile uint8_t *e = h + 44, *end = h + len;
	/* Walk by length, not by the entry count: qboot leaves the count 0. */
	while (e < end) {
		if (e[0] == 0) {			/* processor */
			if ((e[3] & 1) && n < RT_MAX_CPUS)
				apic_ids[n++] = e[1];
			e += 20;
		} else if (e[0] <= 4) {
			e += 8;
		} else {
			break;
		}
	}
	if (!n)
		return false;
	ncpus = n;
	return true;
}

void rt_smp_init(void)
{
	uint64_t ebda = (uint64_t)*(const volatile uint16_t *)0x40e << 4;
	uint64_t fp = find_floating(0x9fc00, 0x400);

	if (!fp && ebda && ebda != 0x9fc00)
		fp = find_floating(ebda, 0x400);
	if (!fp)
		fp = find_floating(0xf0000, 0x10000);
	mp_found = fp && parse_config(fp);
	if (!mp_found) {
		uint64_t n = rt_param_u64("cpus", 1);
		ncpus = n < 1 ? 1 : n > RT_MAX_CPUS ? RT_MAX_CPUS : (unsigned)n;
		for (unsigned i = 0; i < ncpus; i++)
			apic_ids[i] = i;
	}
}

unsigned rt_cpu_count(void)
{
	return ncpus;
}

uint32_t rt_cpu_apic_id(unsigned i)
{
	return i < ncpus ? apic_ids[i] : 0;
}

bool rt_mptable_found(void)
{
	return mp_found;
}

uint32_t rt_apic_id(void)
{
	return mmio_read32(lapic + LAPIC_ID) >> 24;
}

static void send_ipi(uint32_t apic_id, uint32_t icr)
{
	mmio_write32(lapic + LAPIC_ICR_HI, apic_id << 24);
	mmio_write32(lapic + LAPIC_ICR_LO, icr);
	for (unsigned i = 0; i < 100000 && (mmio_read32(lapic + LAPIC_ICR_LO) & ICR_BUSY); i++)
		cpu_relax();
}

static void send_all(uint32_t self, uint32_t icr)
{
	for (unsigned i = 0; i < ncpus; i++)
		if (apic_ids[i] != self)
			send_ipi(apic_ids[i], icr);
}

unsigned rt_smp_start(rt_ap_fn fn)
{
	uint32_t self = rt_apic_id();
	unsigned want = 0;

	for (unsigned i = 0; i < ncpus; i++)
		want += apic_ids[i] != self;
	if (!want)
		return 0;
	ap_fn = fn;
	memcpy((void *)TRAMP_BASE, rt_tramp_start, (size_t)(rt_tramp_end - rt_tramp_start));
	barrier();
	mmio_write32(lapic + LAPIC_SVR, mmio_read32(lapic + LAPIC_SVR) | 0x100);

	/* One INIT round and two SIPI rounds for all APs, not per AP: the
	 * waits dominate and they need not be repeated. */
	send_all(self, ICR_INIT);
	rt_delay_us(10000);
	send_all(self, ICR_SIPI | TRAMP_VECTOR);
	rt_delay_us(200);
	send_all(self, ICR_SIPI | TRAMP_VECTOR);

	uint64_t khz = rt_tsc_khz();
	uint64_t t0 = rdtsc();
	for (uint64_t spins = 0; __atomic_load_n(&ap_started, __ATOMIC_ACQUIRE) < want; spins++) {
		if (khz ? rdtsc() - t0 > 5000 * khz : spins > 200000000ull)
			break;
		cpu_relax();
	}
	return __atomic_load_n(&ap_started, __ATOMIC_ACQUIRE);
}

_Noreturn void rt_ap_main(unsigned slot)
{
	uint32_t id = rt_apic_id();
	rt_ap_fn fn = ap_fn;

	__atomic_add_fetch(&ap_started, 1, __ATOMIC_RELEASE);
	if (fn)
		fn(slot, id);
	rt_halt();
}
