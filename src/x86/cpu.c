/*
 * x86/cpu: what a vCPU looks like at power-on for each entry: CPUID, boot
 * MSRs, segment/control registers.  Also the list of MSRs that make up a
 * vCPU's saved state.
 */
#include <cpuid.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm/kvm.h"
#include "x86/x86.h"

#define CPUID_MAX_ENTRIES   256
#define HV_LEAF_BASE        0x40000000u
#define HV_LEAF_TIMING      0x40000010u /* EAX = TSC kHz, EBX = LAPIC timer kHz */

#define CR0_PE (1u << 0)
#define CR0_MP (1u << 1)
#define CR0_ET (1u << 4)
#define CR0_NE (1u << 5)
#define CR0_WP (1u << 16)
#define CR0_AM (1u << 18)
#define CR0_PG (1u << 31)
#define CR4_PAE        (1u << 5)
#define CR4_OSFXSR     (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)
#define EFER_SCE (1u << 0)
#define EFER_LME (1u << 8)
#define EFER_LMA (1u << 10)
#define EFER_NXE (1u << 11)

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MISC_ENABLE_FAST_STRING 1ull

struct kvm_cpuid2 *gm_x86_cpuid_template(int kvm_fd, struct gm_error *err)
{
	size_t size = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = calloc(1, size);

	if (!c) {
		gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for CPUID");
		return NULL;
	}
	/* leave room for the timing leaf we add per vCPU */
	c->nent = CPUID_MAX_ENTRIES - 1;
	int r = gm_ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c);
	if (r < 0) {
		free(c);
		gm_fail(err, GM_STATUS_NO_KERNEL, -r, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(-r));
		return NULL;
	}
	return c;
}

static struct kvm_cpuid_entry2 *find_leaf(struct kvm_cpuid2 *c, uint32_t fn)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn)
			return &c->entries[i];
	return NULL;
}

static void personalise_cpuid(struct kvm_cpuid2 *c, unsigned id, unsigned ncpus, uint32_t tsc_khz)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			/* initial APIC ID and logical processor count */
			e->ebx = (e->ebx & 0x0000ffffu) | (id << 24) | ((ncpus & 0xff) << 16);
			break;
		case 0xb:
		case 0x1f:
			e->edx = id; /* x2APIC ID, every sub-leaf */
			break;
		}
	}
	/* The hypervisor timing leaf (as VMware and QEMU define it) lets a guest
	 * read the TSC rate instead of calibrating it with slow port I/O. */
	struct kvm_cpuid_entry2 *base = find_leaf(c, HV_LEAF_BASE);
	if (!base || !tsc_khz)
		return;
	if (base->eax < HV_LEAF_TIMING)
		base->eax = HV_LEAF_TIMING;
	struct kvm_cpuid_entry2 *t = find_leaf(c, HV_LEAF_TIMING);
	if (!t) {
		t = &c->entries[c->nent++];
		memset(t, 0, sizeof(*t));
		t->function = HV_LEAF_TIMING;
	}
	t->eax = tsc_khz;
	t->ebx = 1000000; /* the LAPIC timer runs at 1 GHz in KVM */
}

int gm_x86_setup_vcpu(int vcpu_fd, const struct kvm_cpuid2 *tmpl, unsigned id, unsigned ncpus,
		      struct gm_error *err)
{
	size_t size = sizeof(*tmpl) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = malloc(size);
	int r;

	if (!c)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for CPUID");
	memcpy(c, tmpl, sizeof(*tmpl) + tmpl->nent * sizeof(struct kvm_cpuid_entry2));
	r = gm_ioctl(vcpu_fd, KVM_GET_TSC_KHZ, NULL);
	personalise_cpuid(c, id, ncpus, r > 0 ? (uint32_t)r : 0);
	r = gm_ioctl(vcpu_fd, KVM_SET_CPUID2, c);
	free(c);
	if (r < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -r, "KVM_SET_CPUID2 on vCPU %u failed: %s", id, strerror(-r));

	/* A union, not a struct with the entries after the header: a struct with a
	 * flexible array may only end another struct in GNU C (clang refuses). */
	union {
		struct kvm_msrs hdr;
		uint8_t room[sizeof(struct kvm_msrs) + 1 * sizeof(struct kvm_msr_entry)];
	} msrs;
	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = 1;
	msrs.hdr.entries[0].index = MSR_IA32_MISC_ENABLE;
	msrs.hdr.entries[0].data = MISC_ENABLE_FAST_STRING;
	r = gm_ioctl(vcpu_fd, KVM_SET_MSRS, &msrs.hdr);
	if (r < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -r, "KVM_SET_MSRS on vCPU %u failed: %s", id, strerror(-r));
	return 0;
}

static void flat_segment(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code64;
	s->db = !code64;
}

int gm_x86_setup_boot_regs(int vcpu_fd, enum gm_entry entry, uint64_t rip, struct gm_error *err)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	bool pvh = entry == GM_ENTRY_PVH;
	int r = gm_ioctl(vcpu_fd, KVM_GET_SREGS, &sregs);

	if (r < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -r, "KVM_GET_SREGS failed: %s", strerror(-r));

	struct kvm_segment data;
	flat_segment(&sregs.cs, pvh ? GM_SEL_CODE32 : GM_SEL_CODE64, 0xb /* code, read, accessed */, !pvh);
	flat_segment(&data, pvh ? GM_SEL_DATA32 : GM_SEL_DATA, 0x3 /* data, write, accessed */, false);
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.gdt.base = GM_BOOT_GDT;
	sregs.gdt.limit = 4 * 8 - 1;
	if (pvh) {
		sregs.cr0 = CR0_PE | CR0_ET;
		sregs.cr3 = 0;
		sregs.cr4 = 0;
		sregs.efer = 0;
	} else {
		sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
		sregs.cr3 = GM_BOOT_PAGETABLES;
		sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
		sregs.efer = EFER_LME | EFER_LMA | EFER_NXE | EFER_SCE;
	}
	r = gm_ioctl(vcpu_fd, KVM_SET_SREGS, &sregs);
	if (r < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -r, "KVM_SET_SREGS for the %s entry failed: %s",
			       pvh ? "PVH" : "64-bit", strerror(-r));

	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	regs.rip = rip;
	if (pvh)
		regs.rbx = GM_BOOT_START_INFO;
	else
		regs.rsi = GM_BOOT_PARAMS;
	r = gm_ioctl(vcpu_fd, KVM_SET_REGS, &regs);
	if (r < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -r, "KVM_SET_REGS failed: %s", strerror(-r));
	return 0;
}

/* The architectural MSRs a running x86-64 guest depends on, in the order
 * they must be written back (APIC base and TSC before what depends on
 * them); every other MSR the kernel lists follows them. */
static const uint32_t state_msrs[] = {
	0x00000010, /* TSC */
	0x0000001b, /* APIC_BASE */
	0x0000003a, /* FEATURE_CONTROL */
	0x00000174, 0x00000175, 0x00000176, /* SYSENTER_CS/ESP/EIP */
	0x000001a0, /* MISC_ENABLE */
	0x00000277, /* PAT */
	0x000006e0, /* TSC_DEADLINE */
	0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084, /* STAR, LSTAR, CSTAR, SFMASK */
	0xc0000102, /* KERNEL_GS_BASE */
	0xc0000103, /* TSC_AUX */
	0x4b564d00, 0x4b564d01, 0x4b564d02, 0x4b564d03, 0x4b564d04, /* KVM pv clock, ASYNC_PF, STEAL, EOI */
};

#define MSR_LIST_MAX 2048

int gm_x86_saved_msrs(int kvm_fd, uint32_t *out, unsigned max, struct gm_error *err)
{
	/* Header and room for its flexible array in one union (see gm_x86_setup_vcpu). */
	union {
		struct kvm_msr_list hdr;
		uint8_t room[sizeof(struct kvm_msr_list) + MSR_LIST_MAX * sizeof(uint32_t)];
	} list;
	unsigned n = 0;
	int r;

	list.hdr.nmsrs = MSR_LIST_MAX;
	r = gm_ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &list.hdr);

	if (r < 0)
		return gm_fail(err, GM_STATUS_NO_KERNEL, -r, "KVM_GET_MSR_INDEX_LIST failed: %s", strerror(-r));
	uint32_t total = list.hdr.nmsrs < MSR_LIST_MAX ? list.hdr.nmsrs : MSR_LIST_MAX;
	bool taken[MSR_LIST_MAX] = { false };
	for (size_t i = 0; i < sizeof(state_msrs) / sizeof(state_msrs[0]) && n < max; i++)
		for (uint32_t j = 0; j < total; j++)
			if (list.hdr.indices[j] == state_msrs[i]) {
				out[n++] = state_msrs[i];
				taken[j] = true;
				break;
			}
	for (uint32_t j = 0; j < total; j++)
		if (!taken[j]) {
			if (n == max)
				return gm_fail(err, GM_STATUS_NO_KERNEL, E2BIG,
					       "KVM lists %u MSRs and gmvm saves at most %u; this kernel is newer than gmvm knows",
					       total, max);
			out[n++] = list.hdr.indices[j];
		}
	return (int)n;
}

unsigned gm_x86_phys_bits(void)
{
	unsigned eax, ebx, ecx, edx;

	if (!__get_cpuid(0x80000008u, &eax, &ebx, &ecx, &edx) || (eax & 0xff) < 36)
		return 36;
	return eax & 0xff;
}
