/*
 * x86/pagetables: the identity map the 64-bit entry starts with.  2 MiB
 * pages, user-accessible, so a guest can run its workload at CPL3 without
 * building page tables in (slow, emulated here) CPL0 code.
 */
#include <errno.h>
#include <string.h>

#include "x86/x86.h"

#define PTE_P   (UINT64_C(1) << 0)
#define PTE_RW  (UINT64_C(1) << 1)
#define PTE_US  (UINT64_C(1) << 2)
#define PTE_PS  (UINT64_C(1) << 7)
#define PAGE    UINT64_C(4096)

int gm_x86_write_pagetables(struct gm_memory *mem, uint64_t end, struct gm_error *err)
{
	uint64_t span = end > (UINT64_C(4) << 30) ? end : (UINT64_C(4) << 30);
	uint64_t ngb = (span + GM_PAGE_1G - 1) / GM_PAGE_1G;
	uint64_t pml4_gpa = GM_BOOT_PAGETABLES;
	uint64_t pdpt_gpa = pml4_gpa + PAGE;
	uint64_t pd_gpa = pdpt_gpa + PAGE;

	if (span > GM_BOOT_MAP_MAX)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "guest RAM ends at %llu MiB, beyond the %llu GiB the boot page tables map; use less --memory",
			       (unsigned long long)(end >> 20),
			       (unsigned long long)(GM_BOOT_MAP_MAX >> 30));

	uint64_t *pml4 = gm_memory_hva(mem, pml4_gpa, PAGE);
	uint64_t *pdpt = gm_memory_hva(mem, pdpt_gpa, PAGE);
	uint64_t *pd = gm_memory_hva(mem, pd_gpa, ngb * PAGE);
	if (!pml4 || !pdpt || !pd)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOSPC,
			       "guest RAM too small for the boot page tables at 0x%llx; use at least 1 MiB of --memory",
			       (unsigned long long)pml4_gpa);

	const uint64_t flags = PTE_P | PTE_RW | PTE_US;
	memset(pml4, 0, PAGE);
	memset(pdpt, 0, PAGE);
	pml4[0] = pdpt_gpa | flags;
	for (uint64_t g = 0; g < ngb; g++) {
		pdpt[g] = (pd_gpa + g * PAGE) | flags;
		for (uint64_t i = 0; i < 512; i++)
			pd[g * 512 + i] = (g * GM_PAGE_1G + i * GM_PAGE_2M) | flags | PTE_PS;
	}
	return 0;
}
