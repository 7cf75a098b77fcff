/*
 * rt/cpu.c: per-CPU descriptor tables: our GDT (kernel and user segments,
 * one TSS per CPU) and the IDT (the 32 exception stubs), plus the CPUID
 * leaves the timing code wants, read once at CPL0 on the boot CPU.  Runs
 * emulated on the project's machines, so it does as little as it can.
 */
#include "layout.h"
#include "rt_priv.h"
#include "x86.h"

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

struct gate {
	uint16_t off0;
	uint16_t sel;
	uint8_t ist;
	uint8_t attr;
	uint16_t off1;
	uint32_t off2;
	uint32_t reserved;
} __attribute__((packed));

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed));

uint64_t rt_gdt[RT_GDT_BYTES / 8] __attribute__((aligned(16))) = {
	[SEL_KCODE >> 3] = 0x00af9a000000ffffull,	/* 64-bit code, DPL 0 */
	[SEL_KDATA >> 3] = 0x00cf92000000ffffull,	/* flat data, DPL 0 */
	[SEL_KCODE32 >> 3] = 0x00cf9a000000ffffull,	/* 32-bit code (AP start) */
	[SEL_UDATA >> 3] = 0x00cff2000000ffffull,	/* flat data, DPL 3 */
	[SEL_UCODE >> 3] = 0x00affa000000ffffull,	/* 64-bit code, DPL 3 */
};
struct desc_ptr rt_gdt_ptr = { RT_GDT_BYTES - 1, (uint64_t)rt_gdt };

extern char rt_kstacks[];
extern const uint64_t rt_exc_stubs[32];


/* CPUID at CPL3 may not be intercepted on every host; read what matters at CPL0. */
const uint32_t rt_cpuid_leaf[RT_CPUID_LEAVES] = { 0, 1, 0x15, 0x16, 0x40000000, 0x40000010 };
uint32_t rt_cpuid_boot[RT_CPUID_LEAVES][4];

static struct tss tss[RT_MAX_CPUS] __attribute__((aligned(16)));
static struct gate idt[256] __attribute__((aligned(16)));

/* Called at CPL3 too (irq.c): the IDT lies in user-accessible memory.  Kept
 * out of line so the image does not grow by a second copy. */
__attribute__((noinline)) void rt_idt_set(unsigned v, uint64_t handler)
{
	struct gate *g = &idt[v];

	g->off0 = (uint16_t)handler;
	g->sel = SEL_KCODE;
	g->ist = 0;
	g->attr = 0x8e;			/* present 64-bit interrupt gate, DPL 0 */
	g->off1 = (uint16_t)(handler >> 16);
	g->off2 = (uint32_t)(handler >> 32);
	g->reserved = 0;
}

void rt_cpu_init(unsigned slot)
{
	if (slot == 0) {
		for (unsigned v = 0; v < 32; v++)
			rt_idt_set(v, rt_exc_stubs[v]);
		for (unsigned i = 0; i < RT_CPUID_LEAVES; i++)
			cpuid(rt_cpuid_leaf[i], 0, rt_cpuid_boot[i]);
	}

	struct tss *t = &tss[slot];
	uint64_t base = (uint64_t)t;
	uint64_t limit = sizeof(*t) - 1;
	unsigned idx = GDT_FIXED + 2 * slot;

	t->rsp[0] = (uint64_t)rt_kstacks + (uint64_t)(slot + 1) * KSTACK_SIZE;
	t->iomap_base = sizeof(*t);	/* no bitmap: IOPL 3 grants port I/O */
	rt_gdt[idx] = (limit & 0xffff) | (base & 0xffffff) << 16 | 0x89ull << 40 |
		      ((limit >> 16) & 0xf) << 48 | ((base >> 24) & 0xff) << 56;
	rt_gdt[idx + 1] = base >> 32;

	struct desc_ptr ip = { sizeof(idt) - 1, (uint64_t)idt };
	__asm__ volatile("lidt %0" : : "m"(ip));
	__asm__ volatile("ltr %w0" : : "r"(SEL_TSS0 + 16 * slot));
}
