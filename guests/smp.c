/*
 * smp: starts every AP the MP table lists (or cpus=N) with INIT-SIPI-SIPI;
 * each AP, at CPL3, records its APIC ID and atomically bumps a counter.  The
 * boot CPU waits (bounded, ~5 s) for all of them.
 *
 *   smp: cpus=N up=M      (exit 0 if M == N, else 0x10)
 */
#include "rt.h"

static unsigned checked_in;
static uint32_t apic_of_slot[64];

static void ap_main(unsigned slot, uint32_t apic_id)
{
	if (slot < 64)
		apic_of_slot[slot] = apic_id;
	__atomic_add_fetch(&checked_in, 1, __ATOMIC_SEQ_CST);
}

int main(void)
{
	unsigned n = rt_cpu_count();

	rt_smp_start(ap_main);

	uint64_t khz = rt_tsc_khz(), t0 = rt_rdtsc();
	for (uint64_t spins = 0; __atomic_load_n(&checked_in, __ATOMIC_SEQ_CST) < n - 1; spins++) {
		if (khz ? rt_rdtsc() - t0 > 5000 * khz : spins > 200000000ull)
			break;
		__asm__ volatile("pause");
	}
	unsigned up = 1 + __atomic_load_n(&checked_in, __ATOMIC_SEQ_CST);
	if (rt_param("smp.verbose"))
		for (unsigned s = 1; s < up && s < 64; s++)
			rt_printf("smp: slot %u apic %u\n", s, apic_of_slot[s]);
	rt_printf("smp: cpus=%u up=%u\n", n, up);
	return up == n ? 0 : RT_EXIT_FAIL;
}
