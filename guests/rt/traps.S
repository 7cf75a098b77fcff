/*
 * rt/traps.S: CPL0 entry points other than boot: the 32 exception stubs and
 * the device-interrupt slot stubs, which save the registers and call
 * rt_trap() (trap.c: it emulates the privileged instructions CPL3 uses to
 * reach CPL0, runs an interrupt handler (irq.c), or reports and exits), and
 * the AP start path (real-mode trampoline copied to TRAMP_BASE, then 32-bit
 * and 64-bit code in the image).
 */
#include "layout.h"

	.text
	.code64

/* Each stub leaves (vector, error code) on top of the CPU's frame; the CPU
 * pushes an error code itself only for 8, 10-14, 17, 21, 29 and 30. */
	.macro exc_stub v, err
	.p2align 4
exc_stub_\v:
	.if \err == 0
	pushq $0
	.endif
	pushq $\v
	jmp exc_common
	.endm

	.irp v, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
	exc_stub \v, 0
	.endr
	.irp v, 8,10,11,12,13,14,17,21,29,30
	exc_stub \v, 1
	.endr

/* Interrupt slots: rt_set_irq_handler() (irq.c) points a vector's gate at a
 * slot's stub, so only vectors in use cost anything.  The stub pushes the
 * slot where the error code goes and 256, which no CPU vector equals, where
 * the vector goes: rt_trap() hands such frames to irq.c.  RT_IRQ_SLOTS
 * (rt_priv.h) counts these stubs; slot s is at rt_irq_stubs + s * 12: no
 * address table, no padding, so that the existing guests' images keep their
 * size (their free RAM, hence their output, depends on it). */
	.globl rt_irq_stubs
rt_irq_stubs:
	.irp s, 0,1,2,3,4,5,6,7
	.if . - rt_irq_stubs != \s * 12
	.error "interrupt slot stubs must be 12 bytes apart"
	.endif
	pushq $\s
	pushq $256
	.byte 0xe9			/* jmp rel32, spelt out so its size is fixed */
	.long exc_common - . - 4
	.endr

exc_common:
	pushq %r15
	pushq %r14
	pushq %r13
	pushq %r12
	pushq %r11
	pushq %r10
	pushq %r9
	pushq %r8
	pushq %rbp
	pushq %rdi
	pushq %rsi
	pushq %rdx
	pushq %rcx
	pushq %rbx
	pushq %rax
	movq %rsp, %rdi			/* struct rt_frame * */
	movq %rsp, %rbx
	andq $-16, %rsp
	call rt_trap			/* returns after emulating the instruction or handling an interrupt */
	movq %rbx, %rsp
	popq %rax
	popq %rbx
	popq %rcx
	popq %rdx
	popq %rsi
	popq %rdi
	popq %rbp
	popq %r8
	popq %r9
	popq %r10
	popq %r11
	popq %r12
	popq %r13
	popq %r14
	popq %r15
	addq $16, %rsp			/* vector, error code */
	iretq

	.section .rodata
	.p2align 3
	.globl rt_exc_stubs
rt_exc_stubs:
	.irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad exc_stub_\v
	.endr

/* The real-mode part, copied to TRAMP_BASE (CS = 0x0300, IP = 0). */
	.p2align 4
	.globl rt_tramp_start, rt_tramp_end
	.code16
rt_tramp_start:
	cli
	cld
	xorw %ax, %ax
	movw %ax, %ds
	lgdtl TRAMP_BASE + (tramp_gdt_ptr - rt_tramp_start)
	movl %cr0, %eax
	orl $CR0_PE, %eax
	movl %eax, %cr0
	ljmpl $SEL_KCODE32, $rt_ap_entry32
	.p2align 3
tramp_gdt_ptr:
	.word RT_GDT_BYTES - 1
	.long rt_gdt
rt_tramp_end:

	.text
	.code32
rt_ap_entry32:
	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %cr4, %eax
	orl $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
	movl %eax, %cr4
	movl rt_boot_cr3, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	movl rt_boot_efer, %eax
	andl $~EFER_LMA, %eax
	xorl %edx, %edx
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_WP | CR0_NE | CR0_ET | CR0_MP), %eax
	movl %eax, %cr0
	ljmp $SEL_KCODE, $rt_ap_entry64

	.code64
rt_ap_entry64:
	/* Each AP takes the next free slot: no shared parameter block to race on. */
	movl $1, %eax
	lock xaddl %eax, rt_ap_next_slot
	cmpl $RT_MAX_CPUS, %eax
	jae 9f
	movl %eax, %ebx
	leal 1(%rax), %edi
	imull $KSTACK_SIZE, %edi, %edi
	leaq rt_kstacks(%rdi), %rsp
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movl %ebx, %edi
	call rt_cpu_init
	movl %ebx, %edi
	imull $AP_USTACK, %ebx, %esi
	addq $(rt_ap_ustacks + AP_USTACK - 8), %rsi
	movq $rt_ap_main, %rdx
	jmp rt_enter_user
9:	cli
	hlt
	jmp 9b

	.data
	.p2align 2
	.globl rt_ap_next_slot
rt_ap_next_slot: .long 1

	.bss
	.p2align 12
	.globl rt_ap_ustacks
rt_ap_ustacks: .skip AP_USTACK * RT_MAX_CPUS

	.section .note.GNU-stack, "", @progbits
