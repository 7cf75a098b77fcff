/*
 * fill: fills a 2 MiB-aligned region of RAM above the image with identical
 * pages, then keeps running without touching them, so the host's memory
 * management (KSM, reclaim and swap, THP, compaction) has still, identical
 * guest pages to act on.  When told (any byte on the serial console, i.e.
 * gmvm's stdin) or after fill.seconds, it checks every byte of the region:
 * whatever the host did to the pages, the guest must see what it wrote.
 *
 * Params: fill.mb=N (64) region size in MiB; fill.seconds=S (0 = no limit)
 * how long to wait for the word; fill.distinct: each page's first word is
 * its index (pages differ, nothing to merge) instead of all pages equal.
 * The UART is polled about every 100 ms; the pages are never read meanwhile.
 *
 *   fill: ready gpa=0x<addr> len=0x<len> pages=N
 *   fill: ok pages=N                           (exit 0)
 *   fill: FAIL at 0x<addr> expected 0x<16 hex> got 0x<16 hex>   (exit 0x10)
 */
#include "rt.h"
#include "x86.h"

#define FILL     0x5a5aa5a5c3c33c3cull	/* not zero: KSM's zero-page path is not what is shown */
#define COM1     0x3f8
#define LSR_DR   0x01
#define POLL_US  100000ull

static uint64_t expected(uint64_t off, bool distinct)
{
	if (distinct && (off & (RT_PAGE - 1)) == 0)
		return off / RT_PAGE;
	return FILL;
}

/* True when a byte is waiting on the UART (it is consumed). */
static bool told(void)
{
	if (!(inb(COM1 + 5) & LSR_DR))
		return false;
	(void)inb(COM1);
	return true;
}

int main(void)
{
	uint64_t len = rt_param_u64("fill.mb", 64) * RT_MIB;
	uint64_t seconds = rt_param_u64("fill.seconds", 0);
	bool distinct = rt_param("fill.distinct") != NULL;
	uint64_t base = len ? rt_ram_alloc(len, 2 * RT_MIB) : 0;

	if (!base) {
		rt_printf("fill: not enough RAM for fill.mb=%lu\n", (unsigned long)(len / RT_MIB));
		return RT_EXIT_FAIL;
	}
	for (uint64_t off = 0; off < len; off += 8)
		*(volatile uint64_t *)(base + off) = expected(off, distinct);
	rt_printf("fill: ready gpa=0x%lx len=0x%lx pages=%lu\n", (unsigned long)base, (unsigned long)len,
		  (unsigned long)(len / RT_PAGE));

	/* Without a clock, rt_delay_us is a rough loop: the limit is then rough too. */
	for (uint64_t waited = 0; !told(); waited += POLL_US) {
		if (seconds && waited >= seconds * 1000000ull)
			break;
		rt_delay_us(POLL_US);
	}
	for (uint64_t off = 0; off < len; off += 8) {
		uint64_t v = *(volatile uint64_t *)(base + off);
		if (v != expected(off, distinct)) {
			rt_printf("fill: FAIL at 0x%lx expected 0x%016lx got 0x%016lx\n", (unsigned long)(base + off),
				  (unsigned long)expected(off, distinct), (unsigned long)v);
			return RT_EXIT_FAIL;
		}
	}
	rt_printf("fill: ok pages=%lu\n", (unsigned long)(len / RT_PAGE));
	return 0;
}
