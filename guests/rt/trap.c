/*
 * rt/trap.c: what happens when CPL3 traps into CPL0.  CPL3 reaches CPL0 only
 * through #GP on privileged instructions, because software interrupts
 * (int 0x80) from guest user mode raise #UD on some hosts (PVM) and port I/O
 * at CPL3 faults there despite IOPL 3.  So the handler emulates: in/out/outsb
 * (port I/O), cli/sti (interrupts off/on), hlt (halt this CPU for good),
 * lidt (%rax).  Device interrupts go to irq.c.  Any other exception is
 * reported on the UART and ends the guest with exit value 0x7f.
 */
#include "layout.h"
#include "rt_priv.h"
#include "x86.h"

#define COM1      0x3f8
#define RFLAGS_IF 0x200

bool rt_io_trapped;

static uint32_t port_in(uint16_t port, unsigned size)
{
	return size == 1 ? inb(port) : size == 2 ? inw(port) : inl(port);
}

static void port_out(uint16_t port, uint32_t v, unsigned size)
{
	if (size == 1)
		outb(port, (uint8_t)v);
	else if (size == 2)
		outw(port, (uint16_t)v);
	else
		outl(port, v);
}

static uint64_t merge(uint64_t old, uint32_t v, unsigned size)
{
	if (size == 1)
		return (old & ~0xffull) | v;
	if (size == 2)
		return (old & ~0xffffull) | v;
	return v;	/* 32-bit results zero-extend */
}

static _Noreturn void halt_forever(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* Emulates the instruction at f->rip; false if it is not one we handle. */
static bool emulate(struct rt_frame *f)
{
	const uint8_t *p = (const uint8_t *)f->rip;
	bool op16 = false, rep = false;
	unsigned len = 0;

	for (; len < 4 && (p[len] == 0x66 || p[len] == 0xf3); len++)
		p[len] == 0x66 ? (op16 = true) : (rep = true);
	uint8_t op = p[len++];
	unsigned wide = op16 ? 2 : 4;
	uint16_t port;

	switch (op) {
	case 0xe4: case 0xe5: case 0xec: case 0xed:	/* in */
		port = (op & 8) ? (uint16_t)f->rdx : p[len++];
		f->rax = merge(f->rax, port_in(port, (op & 1) ? wide : 1), (op & 1) ? wide : 1);
		rt_io_trapped = true;
		break;
	case 0xe6: case 0xe7: case 0xee: case 0xef:	/* out */
		port = (op & 8) ? (uint16_t)f->rdx : p[len++];
		port_out(port, (uint32_t)f->rax, (op & 1) ? wide : 1);
		rt_io_trapped = true;
		break;
	case 0x6e: {					/* (rep) outsb */
		uint64_t n = rep ? f->rcx : 1;
		port = (uint16_t)f->rdx;
		if (port == COM1)
			rt_uart_write((const char *)f->rsi, n);
		else
			for (uint64_t i = 0; i < n; i++)
				outb(port, ((const uint8_t *)f->rsi)[i]);
		f->rsi += n;
		if (rep)
			f->rcx = 0;
		rt_io_trapped = true;
		break;
	}
	case 0xfa: case 0xfb:				/* cli, sti */
		f->rflags = (f->rflags & ~(uint64_t)RFLAGS_IF) | ((op & 1) ? RFLAGS_IF : 0);
		break;
	case 0xf4:					/* hlt */
		halt_forever();
	case 0x0f:					/* lidt (%rax) */
		if (p[len] != 0x01 || p[len + 1] != 0x18)
			return false;
		__asm__ volatile("lidt (%0)" : : "r"(f->rax) : "memory");
		len += 2;
		break;
	default:
		return false;
	}
	f->rip += len;
	return true;
}

void rt_trap(struct rt_frame *f)
{
	if (f->vector >= 256) {		/* an interrupt slot's stub (traps.S) */
		rt_irq_dispatch(f);
		return;
	}
	if (f->vector == 13 && (f->cs & 3) && emulate(f))
		return;

	uint64_t cr2;
	char buf[128];
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	int n = rt_snprintf(buf, sizeof(buf), "guest: exception %lu at rip=0x%lx err=0x%lx cr2=0x%lx\n",
			    (unsigned long)f->vector, (unsigned long)f->rip, (unsigned long)f->err,
			    (unsigned long)cr2);
	rt_uart_write(buf, (size_t)n);
	outl(0xf4, RT_EXIT_EXCEPTION);
	halt_forever();
}
