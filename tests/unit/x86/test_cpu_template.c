/*
 * --cpu templates: parsing and its one-line refusals, the canonical text a
 * state header carries, and what a template does to a CPUID list shaped
 * like KVM's (an AMD host with AVX-512): the bits a guest reads, leaf 0xD,
 * and the XCR0 the guest may then set.  No KVM needed.
 */
#include <criterion/criterion.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>

#include "x86/cpu_features.h"
#include "x86/x86.h"

#define BIT(n) (1u << (n))
#define SIG KVM_CPUID_FLAG_SIGNIFCANT_INDEX

/* What KVM_GET_SUPPORTED_CPUID could say on an AVX-512 host, trimmed. */
static struct kvm_cpuid2 *kvm_like(void)
{
	static const struct kvm_cpuid_entry2 e[] = {
		{ .function = 0, .eax = 0xd },
		{ .function = 1, .eax = 0xa10f11,
		  .ecx = BIT(0) | BIT(1) | BIT(9) | BIT(12) | BIT(13) | BIT(19) | BIT(20) | BIT(21) | BIT(22) |
			 BIT(23) | BIT(25) | BIT(26) | BIT(28) | BIT(29) | BIT(30),
		  .edx = 0x178bfbff },
		{ .function = 7, .index = 0, .flags = SIG, .eax = 1,
		  .ebx = BIT(0) | BIT(3) | BIT(5) | BIT(7) | BIT(8) | BIT(9) | BIT(16) | BIT(17) | BIT(20) | BIT(30) | BIT(31),
		  .ecx = BIT(2) | BIT(3) | BIT(9) | BIT(10), .edx = BIT(4) },
		{ .function = 7, .index = 1, .flags = SIG, .eax = BIT(4) | BIT(5) },
		{ .function = 0xd, .index = 0, .flags = SIG, .eax = 0xe7, .ebx = 576, .ecx = 2688 },
		{ .function = 0xd, .index = 1, .flags = SIG, .eax = BIT(0) | BIT(1) | BIT(2) },
		{ .function = 0xd, .index = 2, .flags = SIG, .eax = 256, .ebx = 576 },
		{ .function = 0xd, .index = 5, .flags = SIG, .eax = 64, .ebx = 1088 },
		{ .function = 0xd, .index = 6, .flags = SIG, .eax = 512, .ebx = 1152 },
		{ .function = 0xd, .index = 7, .flags = SIG, .eax = 1024, .ebx = 1664 },
		{ .function = 0x40000000, .eax = 0x40000001, .ebx = 0x4b4d564b },
		{ .function = 0x40000001, .eax = 0x01007afb },
		{ .function = 0x80000000, .eax = 0x80000008 },
		{ .function = 0x80000001, .ecx = BIT(0) | BIT(2) | BIT(5) | BIT(6), .edx = 0x2fd3fbff },
		{ .function = 0x80000008, .eax = 0x3030, .ebx = BIT(0) | BIT(2) },
	};
	size_t n = sizeof(e) / sizeof(e[0]);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (n + 1) * sizeof(e[0]));

	c->nent = (uint32_t)n;
	memcpy(c->entries, e, sizeof(e));
	return c;
}

static struct kvm_cpuid_entry2 *leaf(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	cr_assert_fail("no leaf 0x%x.%u", fn, idx);
	return NULL;
}

/* spec applied to kvm_like(); the error, if any, in err */
static struct kvm_cpuid2 *applied(const char *spec, bool cpl0, int *r, struct gm_error *err)
{
	struct gm_cpu_template t;
	char hidden[64];
	struct kvm_cpuid2 *c = kvm_like();

	*r = gm_cpu_template_parse(spec, &t, err);
	cr_assert_eq(*r, 0, "%s", err->msg);
	if (cpl0)
		gm_cpu_template_cpl0(&t, hidden, sizeof(hidden));
	*r = gm_cpu_template_apply(&t, c, true, err);
	return c;
}

static struct kvm_cpuid2 *ok(const char *spec)
{
	struct gm_error err = { 0 };
	int r;
	struct kvm_cpuid2 *c = applied(spec, false, &r, &err);

	cr_assert_eq(r, 0, "--cpu %s: %s", spec, err.msg);
	return c;
}

static void refused(const char *spec, int status, const char *words)
{
	struct gm_cpu_template t;
	struct gm_error err = { 0 };
	int r = gm_cpu_template_parse(spec, &t, &err);

	if (!r) {
		struct kvm_cpuid2 *c = kvm_like();
		r = gm_cpu_template_apply(&t, c, true, &err);
		free(c);
	}
	cr_assert_neq(r, 0, "--cpu %s was taken", spec);
	cr_assert_eq(err.status, status, "--cpu %s: status %d: %s", spec, err.status, err.msg);
	cr_assert(strstr(err.msg, words), "--cpu %s: \"%s\" lacks \"%s\"", spec, err.msg, words);
	cr_assert_null(strchr(err.msg, '\n'));
}

Test(cpu_template, every_feature_name_is_unique_and_found)
{
	for (unsigned i = 0; i < gm_cpu_nfeatures; i++) {
		cr_assert_eq(gm_cpu_feature_find(gm_cpu_features[i].name), (int)i, "%s", gm_cpu_features[i].name);
		cr_assert_lt(gm_cpu_features[i].bit, 32);
	}
	for (unsigned d = 0; d < gm_cpu_ndeps; d++) {
		cr_assert_geq(gm_cpu_feature_find(gm_cpu_deps[d].feature), 0, "%s", gm_cpu_deps[d].feature);
		cr_assert_geq(gm_cpu_feature_find(gm_cpu_deps[d].needs), 0, "%s", gm_cpu_deps[d].needs);
	}
	cr_assert_lt(gm_cpu_nfeatures, GM_CPU_FEATURE_WORDS * 64);
	cr_assert_leq(gm_cpu_ndeps, GM_CPU_DEPS_MAX);
}

Test(cpu_template, canonical_text_round_trips)
{
	static const char *const in[][2] = {
		{ NULL, "host" },
		{ "host", "host" },
		{ "minimal", "minimal" },
		{ "host,-tsc-deadline,+sse4.1,-SSE4_2", "host,+sse4_1,-sse4_2,-tsc_deadline_timer" },
		{ "host,-cx16,+cx16", "host,+cx16" },
		{ "minimal,+avx,+xsave,-sse3", "minimal,-pni,+xsave,+avx" },
	};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct gm_cpu_template t, back;
		struct gm_error err = { 0 };
		char text[GM_CPU_SPEC_MAX], again[GM_CPU_SPEC_MAX];

		cr_assert_eq(gm_cpu_template_parse(in[i][0], &t, &err), 0, "%s", err.msg);
		gm_cpu_template_format(&t, text, sizeof(text));
		cr_assert_str_eq(text, in[i][1]);
		cr_assert_eq(gm_cpu_template_parse(text, &back, &err), 0, "%s", err.msg);
		gm_cpu_template_format(&back, again, sizeof(again));
		cr_assert_str_eq(again, text);
	}
}

Test(cpu_template, bad_words_are_refused_in_one_line)
{
	refused("", GM_STATUS_BAD_INPUT, "start with host or minimal");
	refused("qemu64", GM_STATUS_BAD_INPUT, "start with host or minimal");
	refused("host,avx", GM_STATUS_BAD_INPUT, "needs + (show) or - (hide)");
	refused("host,-cx61", GM_STATUS_BAD_INPUT, "cx16");
	refused("host,-avx512", GM_STATUS_BAD_INPUT, "avx512f");
	refused("host,-xsav", GM_STATUS_BAD_INPUT, "xsave");
	refused("host,-nosuchthing", GM_STATUS_BAD_INPUT, "no CPU feature \"nosuchthing\"");
}

Test(cpu_template, host_adds_what_kvm_emulates_without_listing)
{
	struct kvm_cpuid2 *c = ok("host");

	cr_assert(leaf(c, 1, 0)->ecx & BIT(31), "the hypervisor bit (Linux finds kvm-clock behind it)");
	cr_assert(leaf(c, 1, 0)->ecx & BIT(24), "the TSC-deadline timer");
	cr_assert(leaf(c, 1, 0)->ecx & BIT(13), "cx16 stays");
	cr_assert_eq(leaf(c, 0xd, 0)->eax, 0xe7);
	cr_assert_eq(leaf(c, 0xd, 0)->ebx, 2688, "the area of every component, as Linux enables them all");
	cr_assert_eq(leaf(c, 0x40000001, 0)->eax, 0x01007afb, "kvm-clock and the other PV features stay");
	free(c);
	c = kvm_like();
	struct gm_cpu_template t;
	struct gm_error err = { 0 };
	leaf(c, 0x40000001, 0)->eax &= ~(1u << 24); /* as KVM lists it */
	cr_assert_eq(gm_cpu_template_parse("host", &t, &err), 0);
	cr_assert_eq(gm_cpu_template_apply(&t, c, false, &err), 0, "%s", err.msg);
	cr_assert(leaf(c, 0x40000001, 0)->eax & (1u << 24), "kvm-clock's stable bit, with kvmclock2");
	cr_assert_eq(leaf(c, 1, 0)->ecx & (1u << 24), 0, "no TSC-deadline without the capability");
	cr_assert_eq(gm_cpu_xcr0_allowed(c), 0xe7);
	free(c);
}

Test(cpu_template, no_xsave_hides_what_needs_it_and_empties_leaf_d)
{
	struct kvm_cpuid2 *c = ok("host,-xsave");
	uint32_t ecx1 = leaf(c, 1, 0)->ecx;

	cr_assert_eq(ecx1 & (BIT(26) | BIT(27) | BIT(28) | BIT(29) | BIT(12)), 0, "xsave osxsave avx f16c fma: 0x%x", ecx1);
	cr_assert_eq(leaf(c, 7, 0)->ebx & (BIT(5) | BIT(16) | BIT(17) | BIT(30) | BIT(31)), 0, "avx2 avx512*");
	cr_assert_eq(leaf(c, 7, 0)->ecx & (BIT(3) | BIT(9) | BIT(10)), 0, "pku vaes vpclmulqdq");
	cr_assert_eq(leaf(c, 7, 1)->eax, 0, "avx_vnni avx512_bf16");
	cr_assert(leaf(c, 7, 0)->ebx & BIT(3), "bmi1 has nothing to do with xsave");
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == 0xd)
			cr_assert_eq(c->entries[i].eax | c->entries[i].ebx | c->entries[i].ecx | c->entries[i].edx, 0,
				     "leaf 0xd.%u", c->entries[i].index);
	cr_assert_eq(gm_cpu_xcr0_allowed(c), 3, "x87|SSE only");
	free(c);
}

Test(cpu_template, no_avx_shrinks_xcr0_and_the_area)
{
	struct kvm_cpuid2 *c = ok("host,-avx");

	cr_assert(leaf(c, 1, 0)->ecx & BIT(26), "xsave stays");
	cr_assert_eq(leaf(c, 1, 0)->ecx & (BIT(28) | BIT(29) | BIT(12)), 0, "avx f16c fma");
	cr_assert_eq(leaf(c, 7, 0)->ebx & (BIT(5) | BIT(16)), 0, "avx2 avx512f");
	cr_assert_eq(leaf(c, 0xd, 0)->eax, 3, "XCR0: x87|SSE");
	cr_assert_eq(leaf(c, 0xd, 0)->ecx, 576, "legacy area and header only");
	cr_assert_eq(leaf(c, 0xd, 0)->ebx, 576);
	cr_assert_eq(leaf(c, 0xd, 2)->eax, 0);
	cr_assert_eq(leaf(c, 0xd, 1)->eax, BIT(0) | BIT(1) | BIT(2), "the XSAVE variants stay");
	free(c);
	c = ok("host,-avx512f");
	cr_assert_eq(leaf(c, 0xd, 0)->eax, 7, "x87|SSE|YMM");
	cr_assert_eq(leaf(c, 0xd, 0)->ecx, 832);
	cr_assert_eq(leaf(c, 0xd, 0)->ebx, 832, "what Linux, enabling every component, checks");
	cr_assert(leaf(c, 7, 0)->ebx & BIT(5), "avx2 stays");
	cr_assert_eq(leaf(c, 7, 0)->ebx & (BIT(17) | BIT(30) | BIT(31)), 0);
	free(c);
}

Test(cpu_template, minimal_is_the_x86_64_baseline)
{
	struct kvm_cpuid2 *c = ok("minimal");

	cr_assert_eq(leaf(c, 1, 0)->edx, 0x078bfbfd, "fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2: 0x%x",
		     leaf(c, 1, 0)->edx);
	cr_assert_eq(leaf(c, 1, 0)->ecx, BIT(0) | BIT(21) | BIT(24) | BIT(31), "sse3 x2apic tsc-deadline hypervisor: 0x%x",
		     leaf(c, 1, 0)->ecx);
	cr_assert_eq(leaf(c, 7, 0)->ebx | leaf(c, 7, 0)->ecx | leaf(c, 7, 0)->edx | leaf(c, 7, 1)->eax, 0);
	cr_assert_eq(leaf(c, 0x80000001, 0)->ecx, 0);
	cr_assert_eq(leaf(c, 0x80000001, 0)->edx & (BIT(11) | BIT(20) | BIT(29)), BIT(11) | BIT(20) | BIT(29), "syscall nx lm");
	cr_assert_eq(leaf(c, 0x80000001, 0)->edx & ~0x0183f3ffu, BIT(11) | BIT(20) | BIT(29));
	cr_assert_eq(leaf(c, 0x80000008, 0)->eax, 0x3030, "address sizes stay");
	cr_assert_eq(leaf(c, 0x40000001, 0)->eax, 0x01007afb, "KVM's leaf stays");
	cr_assert_eq(leaf(c, 0xd, 0)->eax, 0, "no XSAVE, no leaf 0xd");
	cr_assert_eq(gm_cpu_xcr0_allowed(c), 3);
	free(c);
	c = ok("minimal,+xsave,+avx,+avx2");
	cr_assert_eq(leaf(c, 1, 0)->ecx & (BIT(26) | BIT(28)), BIT(26) | BIT(28));
	cr_assert_eq(leaf(c, 7, 0)->ebx, BIT(5));
	cr_assert_eq(leaf(c, 0xd, 0)->eax, 7, "x87|SSE|YMM");
	free(c);
}

Test(cpu_template, a_shown_feature_must_be_possible)
{
	refused("minimal,+avx2", GM_STATUS_BAD_INPUT, "avx2 needs avx, which this template hides; add +avx");
	refused("host,-xsave,+avx", GM_STATUS_BAD_INPUT, "avx needs xsave");
	refused("host,+la57", GM_STATUS_NO_KERNEL, "KVM on this host cannot offer la57");
	refused("host,+amx_tile", GM_STATUS_NO_KERNEL, "cannot offer amx_tile");
}

Test(cpu_template, emulated_cpl0_hides_cx16_and_xsave_unless_shown)
{
	struct gm_cpu_template t;
	struct gm_error err = { 0 };
	char hidden[64], text[GM_CPU_SPEC_MAX];

	cr_assert_eq(gm_cpu_template_parse(NULL, &t, &err), 0);
	gm_cpu_template_cpl0(&t, hidden, sizeof(hidden));
	cr_assert_str_eq(hidden, "cx16 xsave");
	gm_cpu_template_format(&t, text, sizeof(text));
	cr_assert_str_eq(text, "host,-cx16,-xsave");

	cr_assert_eq(gm_cpu_template_parse("host,+cx16", &t, &err), 0);
	gm_cpu_template_cpl0(&t, hidden, sizeof(hidden));
	cr_assert_str_eq(hidden, "xsave");
	gm_cpu_template_format(&t, text, sizeof(text));
	cr_assert_str_eq(text, "host,+cx16,-xsave");

	cr_assert_eq(gm_cpu_template_parse("minimal", &t, &err), 0);
	gm_cpu_template_cpl0(&t, hidden, sizeof(hidden));
	cr_assert_str_eq(hidden, "", "minimal shows neither");

	int r;
	struct kvm_cpuid2 *c = applied(NULL, true, &r, &err);
	cr_assert_eq(r, 0, "%s", err.msg);
	cr_assert_eq(leaf(c, 1, 0)->ecx & (BIT(13) | BIT(26) | BIT(28)), 0, "cx16 xsave avx");
	cr_assert_eq(gm_cpu_xcr0_allowed(c), 3);
	free(c);
}
