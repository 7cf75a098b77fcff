/*
 * rt/console.c: output on the 8250 UART at 0x3f8 (COM1), one byte at a time
 * after the transmitter-holding-register-empty bit (LSR bit 5).  Where CPL3
 * port I/O works natively the loop runs at CPL3; where it traps, one
 * `rep outsb` hands the whole line to the trap handler (trap.c), which polls
 * LSR itself, so a line costs one trap instead of two per byte.  CPL3 callers
 * are serialised by a spinlock so lines from different CPUs do not interleave.
 */
#include "rt_priv.h"
#include "x86.h"

#define COM1     0x3f8
#define LSR      5
#define LSR_THRE 0x20

static int console_lock;

/* CPL0 (or CPL3 where port I/O is native) */
void rt_uart_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* bounded: a missing UART reads as 0xff anyway */
		for (unsigned k = 0; k < 100000 && !(inb(COM1 + LSR) & LSR_THRE); k++)
			;
		outb(COM1, (uint8_t)s[i]);
	}
}

static void console_out(const char *s, size_t n)
{
	if (rt_io_trapped)
		__asm__ volatile("rep outsb" : "+S"(s), "+c"(n) : "d"(COM1) : "memory");
	else
		rt_uart_write(s, n);
}

int rt_printf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	int n = rt_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
		cpu_relax();
	console_out(buf, (size_t)n);
	__atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
	return n;
}
