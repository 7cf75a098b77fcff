/*
 * vballoon: drives the first virtio-balloon device.  Params:
 * vballoon.mode=report|inflate|target|hostile|bench, vballoon.mib=N (8),
 * vballoon.hold=S (0): seconds to wait after touching memory and after
 * giving it back (a test measures the host's resident memory meanwhile),
 * vballoon.hold2=S (hold): the second wait alone (a migration's).
 *
 *   report:  touch N MiB with a pattern ("vballoon: filled N MiB", hold),
 *            report it free (4 MiB ranges): "vballoon: reported N MiB",
 *            hold, then "vballoon: zeros ok",
 *            "vballoon: reuse ok"
 *   inflate: the same by inflating its PFNs, deflating after the check:
 *            "vballoon: inflated N MiB", "zeros ok", "reuse ok"
 *   target:  follow num_pages from a pool of N MiB, answering in actual,
 *            "vballoon: actual M MiB" at each change; ends when the target
 *            goes back to 0 after being set ("vballoon: target done")
 *   hostile: every bad entry the device must refuse, then its canaries:
 *            "vballoon: hostile sent K bad entries", "vballoon: canaries ok"
 *   bench:   touch N MiB, report all of it, as many ranges per request as
 *            the queue takes: "vballoon: reported N MiB in U us", hold
 * Every mode ends with "vballoon ok" and RT_EXIT_OK.
 */
#include "rt.h"
#include "virtio.h"

#define F_STATS     (1ull << 1)
#define F_REPORTING (1ull << 5)
#define RANGE       (4 * RT_MIB)
#define PER_CHAIN   32   /* ranges per report request: Linux's capacity */
#define QSIZE       256
#define PAT(a)      ((a) * 0x9e3779b97f4a7c15ull ^ 0xba11005eull)

static uint32_t pfnbuf[256];

static void fill(uint64_t base, uint64_t len)
{
	for (uint64_t a = base; a < base + len; a += 8)
		*(volatile uint64_t *)a = PAT(a);
}

static bool check(uint64_t base, uint64_t len, bool zero, const char *what)
{
	for (uint64_t a = base; a < base + len; a += 8) {
		uint64_t v = *(volatile uint64_t *)a;

		if (v != (zero ? 0 : PAT(a))) {
			rt_printf("vballoon: FAIL %s at 0x%lx: 0x%lx\n", what, (unsigned long)a, (unsigned long)v);
			return false;
		}
	}
	return true;
}

/* Add one chain and wait for it to come back. */
static bool send(struct rt_virtio *d, unsigned qi, const struct rt_vbuf *b, unsigned n)
{
	uint16_t head;
	uint32_t len;

	if (rt_virtq_add(d, qi, b, n) < 0) {
		rt_printf("vballoon: queue %u full\n", qi);
		return false;
	}
	rt_virtq_kick(d, qi);
	if (rt_virtq_wait(d, qi, &head, &len, 60000) != 1) {
		rt_printf("vballoon: no answer on queue %u (status 0x%x)\n", qi, rt_virtio_status(d));
		return false;
	}
	return true;
}

/* Inflate (qi 0) or deflate (qi 1) the pages of [base, base+len), 256 PFNs a chain. */
static bool pages(struct rt_virtio *d, unsigned qi, uint64_t base, uint64_t len)
{
	for (uint64_t a = base; a < base + len;) {
		unsigned n = 0;

		while (n < 256 && a < base + len) {
			pfnbuf[n++] = (uint32_t)(a / RT_PAGE);
			a += RT_PAGE;
		}
		struct rt_vbuf b = { (uint64_t)pfnbuf, n * 4, false };
		if (!send(d, qi, &b, 1))
			return false;
	}
	return true;
}

/* Report [base, base+len) free in RANGE pieces, as many chains in flight as the queue takes. */
static bool report(struct rt_virtio *d, unsigned qi, uint64_t base, uint64_t len, uint64_t *ticks)
{
	struct rt_vbuf b[PER_CHAIN];
	uint64_t next = base, t0 = 0;
	unsigned inflight = 0;

	while (next < base + len || inflight) {
		bool added = false;

		while (next < base + len && d->q[qi].nfree) {
			unsigned n = 0;

			while (n < PER_CHAIN && n < d->q[qi].nfree && next < base + len) {
				b[n++] = (struct rt_vbuf){ next, (uint32_t)RANGE, true };
				next += RANGE;
			}
			rt_virtq_add(d, qi, b, n);
			inflight++;
			added = true;
		}
		if (added) {
			if (!t0)
				t0 = rt_rdtsc();
			rt_virtq_kick(d, qi);
		}
		uint16_t head;
		uint32_t l;
		if (rt_virtq_wait(d, qi, &head, &l, 60000) != 1) {
			rt_printf("vballoon: no answer to a report (status 0x%x)\n", rt_virtio_status(d));
			return false;
		}
		inflight--;
		while (inflight && rt_virtq_get(d, qi, &head, &l))
			inflight--;
	}
	if (ticks)
		*ticks = rt_rdtsc() - t0;
	return true;
}

static void hold_for(const char *key)
{
	uint64_t s = rt_param_u64(key, rt_param_u64("vballoon.hold", 0));

	if (s) {
		rt_printf("vballoon: holding %lu s\n", (unsigned long)s);
		rt_delay_us(s * 1000000);
	}
}

static uint64_t region(uint64_t len, uint64_t align)
{
	uint64_t base = rt_ram_alloc(len, align);

	if (!base)
		rt_printf("vballoon: not enough RAM for %lu MiB\n", (unsigned long)(len / RT_MIB));
	return base;
}

static int give_back(struct rt_virtio *d, uint64_t mib, bool by_report)
{
	uint64_t len = mib * RT_MIB, base = region(len, RANGE);

	if (!base || rt_virtio_init(d, by_report ? F_REPORTING : 0, by_report ? 3 : 2, QSIZE))
		return RT_EXIT_FAIL;
	if (by_report && !(d->features & F_REPORTING)) {
		rt_printf("vballoon: the device does not offer free page reporting\n");
		return RT_EXIT_FAIL;
	}
	fill(base, len);
	rt_printf("vballoon: filled %lu MiB\n", (unsigned long)mib);
	hold_for("vballoon.hold");
	if (by_report ? !report(d, 2, base, len, NULL) : !pages(d, 0, base, len))
		return RT_EXIT_FAIL;
	rt_printf("vballoon: %s %lu MiB\n", by_report ? "reported" : "inflated", (unsigned long)mib);
	hold_for("vballoon.hold2");
	if (!check(base, len, true, "not zero"))
		return RT_EXIT_FAIL;
	rt_printf("vballoon: zeros ok\n");
	if (!by_report && !pages(d, 1, base, len))
		return RT_EXIT_FAIL;
	fill(base, len);
	if (!check(base, len, false, "pattern lost"))
		return RT_EXIT_FAIL;
	rt_printf("vballoon: reuse ok\n");
	return 0;
}

static int target(struct rt_virtio *d, uint64_t mib)
{
	uint64_t pool_pages = mib * RT_MIB / RT_PAGE, base = region(mib * RT_MIB, 2 * RT_MIB), in = 0;
	uint64_t khz = rt_tsc_khz(), start = rt_rdtsc();
	bool was_set = false;

	if (!base || rt_virtio_init(d, 0, 2, QSIZE))
		return RT_EXIT_FAIL;
	for (;;) {
		uint64_t want = rt_virtio_cfg32(d, 0), old = in;

		if (want > pool_pages)
			want = pool_pages;
		if (want > in && !pages(d, 0, base + in * RT_PAGE, (want - in) * RT_PAGE))
			return RT_EXIT_FAIL;
		if (want < in && !pages(d, 1, base + want * RT_PAGE, (in - want) * RT_PAGE))
			return RT_EXIT_FAIL;
		in = want;
		rt_vio_write(d, VIO_CONFIG + 4, (uint32_t)in);
		if (in != old)
			rt_printf("vballoon: actual %lu MiB\n", (unsigned long)(in * RT_PAGE / RT_MIB));
		was_set |= in != 0;
		if (was_set && !in) {
			rt_printf("vballoon: target done\n");
			return 0;
		}
		if (khz && rt_rdtsc() - start > 300000ull * khz) {
			rt_printf("vballoon: FAIL no target came in 300 s\n");
			return RT_EXIT_FAIL;
		}
		rt_delay_us(10000);
	}
}

static int hostile(struct rt_virtio *d)
{
	static const uint32_t bad[] = { 0xffffffffu, 0xc0000 /* 3 GiB: the hole */,
					0xd0000 /* the virtio windows */, 0x7fffffffu };
	uint64_t canary = region(16 * RT_PAGE, RT_PAGE), many = 65536 + 1000, sent = 0;
	uint32_t *big = (uint32_t *)region(many * 4 + RT_PAGE, RT_PAGE);

	if (!canary || !big || rt_virtio_init(d, F_REPORTING, 3, QSIZE))
		return RT_EXIT_FAIL;
	fill(canary, 16 * RT_PAGE);
	/* PFNs outside RAM, to inflate and to deflate */
	for (unsigned qi = 0; qi < 2; qi++) {
		for (unsigned i = 0; i < 4; i++)
			pfnbuf[i] = bad[i];
		struct rt_vbuf b = { (uint64_t)pfnbuf, 16, false };
		if (!send(d, qi, &b, 1))
			return RT_EXIT_FAIL;
		sent += 4;
	}
	/* an array of one PFN and two stray bytes: both refused */
	{
		struct rt_vbuf b = { (uint64_t)pfnbuf, 6, false };
		if (!send(d, 0, &b, 1))
			return RT_EXIT_FAIL;
		sent += 2;
	}
	/* more PFNs in one chain than the device takes: all bad, the excess refused unread */
	for (uint64_t i = 0; i < many; i++)
		big[i] = 0xffffffffu;
	{
		struct rt_vbuf b = { (uint64_t)big, (uint32_t)(many * 4), false };
		if (!send(d, 0, &b, 1))
			return RT_EXIT_FAIL;
		sent += many;
	}
	/* reports over memory the guest never had: the 3G-4G hole, far beyond RAM, wrapping past 2^64 */
	{
		struct rt_vbuf b[3] = { { 0xc0000000ull, 0x200000, true }, { 1ull << 46, 0x400000, true },
					{ ~0ull - 0xfff, 0x2000, true } };
		if (!send(d, 2, b, 3))
			return RT_EXIT_FAIL;
		sent += 3;
	}
	/* reports: misaligned start, misaligned length, and a driver-written buffer */
	{
		struct rt_vbuf b[2] = { { canary + 0x800, 0x1000, true }, { canary + RT_PAGE, 0x800, true } };
		if (!send(d, 2, b, 2))
			return RT_EXIT_FAIL;
		struct rt_vbuf r = { canary + 2 * RT_PAGE, RT_PAGE, false };
		if (!send(d, 2, &r, 1))
			return RT_EXIT_FAIL;
		sent += 3;
	}
	rt_printf("vballoon: hostile sent %lu bad entries\n", (unsigned long)sent);
	if (rt_virtio_status(d) & VIO_S_NEEDS_RESET) {
		rt_printf("vballoon: FAIL the device gave up\n");
		return RT_EXIT_FAIL;
	}
	/* the device still works: a good inflate frees a page */
	if (!pages(d, 0, canary + 15 * RT_PAGE, RT_PAGE))
		return RT_EXIT_FAIL;
	hold_for("vballoon.hold");
	if (!check(canary, 15 * RT_PAGE, false, "canary changed"))
		return RT_EXIT_FAIL;
	rt_printf("vballoon: canaries ok\n");
	return 0;
}

static int bench(struct rt_virtio *d, uint64_t mib)
{
	uint64_t len = mib * RT_MIB, base = region(len, RANGE), ticks, khz = rt_tsc_khz();

	if (!base || rt_virtio_init(d, F_REPORTING, 3, QSIZE))
		return RT_EXIT_FAIL;
	if (!(d->features & F_REPORTING)) {
		rt_printf("vballoon: the device does not offer free page reporting\n");
		return RT_EXIT_FAIL;
	}
	for (uint64_t a = base; a < base + len; a += RT_PAGE)
		for (uint64_t o = 0; o < RT_PAGE; o += 8)
			*(volatile uint64_t *)(a + o) = a + o;
	if (!report(d, 2, base, len, &ticks))
		return RT_EXIT_FAIL;
	rt_printf("vballoon: reported %lu MiB in %lu us\n", (unsigned long)mib,
		  (unsigned long)(khz ? ticks * 1000 / khz : 0));
	hold_for("vballoon.hold"); /* the bench reads the device's numbers meanwhile, then shuts down */
	return 0;
}

int main(void)
{
	struct rt_virtio *d = rt_virtio_find(5, 0);
	const char *mode = rt_param("vballoon.mode");
	uint64_t mib = rt_param_u64("vballoon.mib", 8);
	int r;

	if (!d || !mode || !mib) {
		rt_printf("vballoon: no virtio-balloon device, no vballoon.mode, or vballoon.mib=0\n");
		return RT_EXIT_FAIL;
	}
	if (!rt_strcmp(mode, "report") || !rt_strcmp(mode, "inflate"))
		r = give_back(d, mib, !rt_strcmp(mode, "report"));
	else if (!rt_strcmp(mode, "target"))
		r = target(d, mib);
	else if (!rt_strcmp(mode, "hostile"))
		r = hostile(d);
	else if (!rt_strcmp(mode, "bench"))
		r = bench(d, mib);
	else {
		rt_printf("vballoon: unknown vballoon.mode %s\n", mode);
		return RT_EXIT_FAIL;
	}
	if (r)
		return r;
	rt_printf("vballoon ok\n");
	return 0;
}
