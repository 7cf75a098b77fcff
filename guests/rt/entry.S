/*
 * rt/entry.S: how a guest starts.  Two entries reach the same 64-bit code:
 * rt_entry64 (Linux 64-bit boot protocol: long mode, VMM page tables, RSI =
 * boot_params) and rt_entry_pvh (Xen PVH: 32-bit, paging off, EBX =
 * hvm_start_info), which first builds its own identity map.  rt_start64 then
 * loads our GDT/IDT/TSS and drops to CPL3, where all real work happens:
 * CPL0 is emulated (slow) on the project's machines, so it stays short.
 */
#include "layout.h"

/* The PVH entry, for QEMU's microvm and `gmvm run --entry pvh`. */
	.section .note.Xen, "a"
	.p2align 2
	.long 4, 4, 18			/* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long rt_entry_pvh

	.section .text.entry, "ax"
	.code64
	.globl rt_entry64
rt_entry64:
	cli
	cld
	movq %rsi, rt_boot_info
	movl $BOOT_LINUX64, rt_boot_kind
	jmp rt_start64

	.code32
	.globl rt_entry_pvh
rt_entry_pvh:
	cli
	cld
	movl %ebx, rt_boot_info
	movl $0, rt_boot_info + 4
	movl $BOOT_PVH, rt_boot_kind

	/* GiB to map: max(4, highest RAM end rounded up), at most PVH_MAX_GIB */
	movl $4, %ebp
	cmpl $1, 4(%ebx)		/* version 1 has the memory map */
	jb 3f
	movl 40(%ebx), %esi		/* memmap_paddr (below 4 GiB) */
	movl 48(%ebx), %ecx		/* memmap_entries */
	testl %ecx, %ecx
	jz 3f
1:	cmpl $1, 16(%esi)		/* RAM */
	jne 2f
	movl 0(%esi), %eax
	movl 4(%esi), %edx
	addl 8(%esi), %eax
	adcl 12(%esi), %edx
	addl $0x3fffffff, %eax
	adcl $0, %edx
	movl $PVH_MAX_GIB, %edi
	cmpl $(PVH_MAX_GIB >> 2), %edx
	jae 4f
	shrdl $30, %edx, %eax
	movl %eax, %edi
4:	cmpl %edi, %ebp
	jae 2f
	movl %edi, %ebp
2:	addl $24, %esi
	decl %ecx
	jnz 1b
3:
	/* PML4 and PDPT start zeroed; the PDs are written in full */
	movl $rt_pvh_pml4, %edi
	xorl %eax, %eax
	movl $2048, %ecx
	rep stosl
	movl $(rt_pvh_pdpt + 7), rt_pvh_pml4
	movl $(rt_pvh_pd + 7), %eax
	xorl %ecx, %ecx
5:	movl %eax, rt_pvh_pdpt(,%ecx,8)
	addl $4096, %eax
	incl %ecx
	cmpl %ebp, %ecx
	jb 5b
	/* 2 MiB pages, present|RW|user|PS; edx:eax walks the physical address */
	movl %ebp, %ecx
	shll $9, %ecx
	movl $rt_pvh_pd, %edi
	movl $0x87, %eax
	xorl %edx, %edx
6:	movl %eax, (%edi)
	movl %edx, 4(%edi)
	addl $8, %edi
	addl $0x200000, %eax
	adcl $0, %edx
	decl %ecx
	jnz 6b

	movl %cr4, %eax
	orl $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
	movl %eax, %cr4
	movl $rt_pvh_pml4, %eax
	movl %eax, %cr3
	xorl %esi, %esi			/* NXE only where the CPU has NX */
	movl $0x80000000, %eax
	cpuid
	cmpl $0x80000001, %eax
	jb 7f
	movl $0x80000001, %eax
	cpuid
	testl $(1 << 20), %edx
	jz 7f
	movl $EFER_NXE, %esi
7:	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	orl %esi, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_WP | CR0_NE | CR0_ET | CR0_MP), %eax
	movl %eax, %cr0
	lgdt rt_gdt_ptr
	ljmp $SEL_KCODE, $rt_start64

	.code64
rt_start64:
	/* Our GDT before any segment load: the Linux entry's boot GDT has its
	 * code segment at 0x10, our data selector. */
	lgdt rt_gdt_ptr
	movq $(rt_kstacks + KSTACK_SIZE), %rsp
	pushq $SEL_KCODE
	pushq $1f
	lretq
1:	movl $SEL_KDATA, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	xorl %eax, %eax
	movl %eax, %fs
	movl %eax, %gs
	movq %cr3, %rax			/* the APs reuse the BSP's paging setup */
	movq %rax, rt_boot_cr3
	movl $MSR_EFER, %ecx
	rdmsr
	movl %eax, rt_boot_efer
	xorl %edi, %edi
	call rt_cpu_init
	movq $(rt_bsp_ustack + BSP_USTACK - 8), %rsi
	movq $rt_bsp_main, %rdx
	xorl %edi, %edi
	jmp rt_enter_user

/* rt_enter_user(arg=rdi, user rsp=rsi, user rip=rdx): iretq to CPL3 with
 * IOPL 3 and interrupts off.  Hosts that do not honour IOPL 3 for guest user
 * mode make port I/O fault; trap.c then does it at CPL0. */
	.globl rt_enter_user
rt_enter_user:
	pushq $(SEL_UDATA | 3)
	pushq %rsi
	pushq $0x3002
	pushq $(SEL_UCODE | 3)
	pushq %rdx
	iretq

	.section .data
	.p2align 3
	.globl rt_boot_info, rt_boot_kind, rt_boot_cr3, rt_boot_efer
rt_boot_info:	.quad 0
rt_boot_cr3:	.quad 0
rt_boot_kind:	.long 0
rt_boot_efer:	.long 0

	.section .bss
	.p2align 12
	.globl rt_kstacks, rt_bsp_ustack
rt_pvh_pml4:	.skip 4096
rt_pvh_pdpt:	.skip 4096
rt_pvh_pd:	.skip 4096 * PVH_MAX_GIB
rt_kstacks:	.skip KSTACK_SIZE * RT_MAX_CPUS
rt_bsp_ustack:	.skip BSP_USTACK

	.section .note.GNU-stack, "", @progbits
