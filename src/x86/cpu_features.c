/*
 * x86/cpu_features: every CPUID feature bit a --cpu template can name, by
 * the name Linux shows in /proc/cpuinfo, and what each one needs.  Bits are
 * the Intel SDM's and AMD APM's; the dependency rules follow what Linux
 * itself enforces (arch/x86/kernel/cpu/cpuid-deps.c), so a guest never sees
 * a feature whose prerequisite is hidden.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "x86/cpu_features.h"

#define B true  /* in the minimal template */
#define F(n, l, s, r, b, base) { n, l, s, r, b, base }

const struct gm_cpu_feature gm_cpu_features[] = {
	/* leaf 1 EDX: the x86-64 baseline, nearly all of it */
	F("fpu", 1, 0, GM_EDX, 0, B), F("vme", 1, 0, GM_EDX, 1, false), F("de", 1, 0, GM_EDX, 2, B),
	F("pse", 1, 0, GM_EDX, 3, B), F("tsc", 1, 0, GM_EDX, 4, B), F("msr", 1, 0, GM_EDX, 5, B),
	F("pae", 1, 0, GM_EDX, 6, B), F("mce", 1, 0, GM_EDX, 7, B), F("cx8", 1, 0, GM_EDX, 8, B),
	F("apic", 1, 0, GM_EDX, 9, B), F("sep", 1, 0, GM_EDX, 11, B), F("mtrr", 1, 0, GM_EDX, 12, B),
	F("pge", 1, 0, GM_EDX, 13, B), F("mca", 1, 0, GM_EDX, 14, B), F("cmov", 1, 0, GM_EDX, 15, B),
	F("pat", 1, 0, GM_EDX, 16, B), F("pse36", 1, 0, GM_EDX, 17, B), F("clflush", 1, 0, GM_EDX, 19, B),
	F("mmx", 1, 0, GM_EDX, 23, B), F("fxsr", 1, 0, GM_EDX, 24, B), F("sse", 1, 0, GM_EDX, 25, B),
	F("sse2", 1, 0, GM_EDX, 26, B), F("ss", 1, 0, GM_EDX, 27, false), F("ht", 1, 0, GM_EDX, 28, false),
	/* leaf 1 ECX */
	F("pni", 1, 0, GM_ECX, 0, B), F("pclmulqdq", 1, 0, GM_ECX, 1, false), F("monitor", 1, 0, GM_ECX, 3, false),
	F("vmx", 1, 0, GM_ECX, 5, false), F("ssse3", 1, 0, GM_ECX, 9, false), F("fma", 1, 0, GM_ECX, 12, false),
	F("cx16", 1, 0, GM_ECX, 13, false), F("pdcm", 1, 0, GM_ECX, 15, false), F("pcid", 1, 0, GM_ECX, 17, false),
	F("sse4_1", 1, 0, GM_ECX, 19, false), F("sse4_2", 1, 0, GM_ECX, 20, false),
	/* x2apic and the TSC-deadline timer are KVM's LAPIC, emulated: no host instruction behind them */
	F("x2apic", 1, 0, GM_ECX, 21, B), F("movbe", 1, 0, GM_ECX, 22, false), F("popcnt", 1, 0, GM_ECX, 23, false),
	F("tsc_deadline_timer", 1, 0, GM_ECX, 24, B), F("aes", 1, 0, GM_ECX, 25, false),
	F("xsave", 1, 0, GM_ECX, 26, false), F("avx", 1, 0, GM_ECX, 28, false), F("f16c", 1, 0, GM_ECX, 29, false),
	F("rdrand", 1, 0, GM_ECX, 30, false),
	/* Linux finds kvm-clock only behind the hypervisor bit */
	F("hypervisor", 1, 0, GM_ECX, 31, B),
	/* leaf 6 */
	F("arat", 6, 0, GM_EAX, 2, false),
	/* leaf 7.0 EBX */
	F("fsgsbase", 7, 0, GM_EBX, 0, false), F("tsc_adjust", 7, 0, GM_EBX, 1, false),
	F("sgx", 7, 0, GM_EBX, 2, false), F("bmi1", 7, 0, GM_EBX, 3, false), F("hle", 7, 0, GM_EBX, 4, false),
	F("avx2", 7, 0, GM_EBX, 5, false), F("smep", 7, 0, GM_EBX, 7, false), F("bmi2", 7, 0, GM_EBX, 8, false),
	F("erms", 7, 0, GM_EBX, 9, false), F("invpcid", 7, 0, GM_EBX, 10, false), F("rtm", 7, 0, GM_EBX, 11, false),
	F("mpx", 7, 0, GM_EBX, 14, false), F("avx512f", 7, 0, GM_EBX, 16, false),
	F("avx512dq", 7, 0, GM_EBX, 17, false), F("rdseed", 7, 0, GM_EBX, 18, false), F("adx", 7, 0, GM_EBX, 19, false),
	F("smap", 7, 0, GM_EBX, 20, false), F("avx512ifma", 7, 0, GM_EBX, 21, false),
	F("clflushopt", 7, 0, GM_EBX, 23, false), F("clwb", 7, 0, GM_EBX, 24, false),
	F("avx512pf", 7, 0, GM_EBX, 26, false), F("avx512er", 7, 0, GM_EBX, 27, false),
	F("avx512cd", 7, 0, GM_EBX, 28, false), F("sha_ni", 7, 0, GM_EBX, 29, false),
	F("avx512bw", 7, 0, GM_EBX, 30, false), F("avx512vl", 7, 0, GM_EBX, 31, false),
	/* leaf 7.0 ECX */
	F("avx512vbmi", 7, 0, GM_ECX, 1, false), F("umip", 7, 0, GM_ECX, 2, false), F("pku", 7, 0, GM_ECX, 3, false),
	F("waitpkg", 7, 0, GM_ECX, 5, false), F("avx512_vbmi2", 7, 0, GM_ECX, 6, false),
	F("shstk", 7, 0, GM_ECX, 7, false), F("gfni", 7, 0, GM_ECX, 8, false), F("vaes", 7, 0, GM_ECX, 9, false),
	F("vpclmulqdq", 7, 0, GM_ECX, 10, false), F("avx512_vnni", 7, 0, GM_ECX, 11, false),
	F("avx512_bitalg", 7, 0, GM_ECX, 12, false), F("avx512_vpopcntdq", 7, 0, GM_ECX, 14, false),
	F("la57", 7, 0, GM_ECX, 16, false), F("rdpid", 7, 0, GM_ECX, 22, false),
	F("cldemote", 7, 0, GM_ECX, 25, false), F("movdiri", 7, 0, GM_ECX, 27, false),
	F("movdir64b", 7, 0, GM_ECX, 28, false),
	/* leaf 7.0 EDX */
	F("avx512_4vnniw", 7, 0, GM_EDX, 2, false), F("avx512_4fmaps", 7, 0, GM_EDX, 3, false),
	F("fsrm", 7, 0, GM_EDX, 4, false), F("avx512_vp2intersect", 7, 0, GM_EDX, 8, false),
	F("md_clear", 7, 0, GM_EDX, 10, false), F("serialize", 7, 0, GM_EDX, 14, false),
	F("tsxldtrk", 7, 0, GM_EDX, 16, false), F("ibt", 7, 0, GM_EDX, 20, false),
	F("amx_bf16", 7, 0, GM_EDX, 22, false), F("avx512_fp16", 7, 0, GM_EDX, 23, false),
	F("amx_tile", 7, 0, GM_EDX, 24, false), F("amx_int8", 7, 0, GM_EDX, 25, false),
	F("spec_ctrl", 7, 0, GM_EDX, 26, false), F("intel_stibp", 7, 0, GM_EDX, 27, false),
	F("flush_l1d", 7, 0, GM_EDX, 28, false), F("arch_capabilities", 7, 0, GM_EDX, 29, false),
	F("ssbd", 7, 0, GM_EDX, 31, false),
	/* leaf 7.1 EAX */
	F("avx_vnni", 7, 1, GM_EAX, 4, false), F("avx512_bf16", 7, 1, GM_EAX, 5, false),
	F("fzrm", 7, 1, GM_EAX, 10, false), F("fsrs", 7, 1, GM_EAX, 11, false), F("fsrc", 7, 1, GM_EAX, 12, false),
	F("amx_fp16", 7, 1, GM_EAX, 21, false), F("avx_ifma", 7, 1, GM_EAX, 23, false),
	/* leaf 0xd.1 EAX */
	F("xsaveopt", 0xd, 1, GM_EAX, 0, false), F("xsavec", 0xd, 1, GM_EAX, 1, false),
	F("xgetbv1", 0xd, 1, GM_EAX, 2, false), F("xsaves", 0xd, 1, GM_EAX, 3, false),
	F("xfd", 0xd, 1, GM_EAX, 4, false),
	/* leaf 0x80000001 EDX (the bits it shares with leaf 1 on AMD follow leaf 1, see cpu_template.c) */
	F("syscall", 0x80000001, 0, GM_EDX, 11, B), F("nx", 0x80000001, 0, GM_EDX, 20, B),
	F("mmxext", 0x80000001, 0, GM_EDX, 22, false), F("fxsr_opt", 0x80000001, 0, GM_EDX, 25, false),
	F("pdpe1gb", 0x80000001, 0, GM_EDX, 26, false), F("rdtscp", 0x80000001, 0, GM_EDX, 27, false),
	F("lm", 0x80000001, 0, GM_EDX, 29, B), F("3dnowext", 0x80000001, 0, GM_EDX, 30, false),
	F("3dnow", 0x80000001, 0, GM_EDX, 31, false),
	/* leaf 0x80000001 ECX */
	F("lahf_lm", 0x80000001, 0, GM_ECX, 0, false), F("cmp_legacy", 0x80000001, 0, GM_ECX, 1, false),
	F("svm", 0x80000001, 0, GM_ECX, 2, false), F("extapic", 0x80000001, 0, GM_ECX, 3, false),
	F("cr8_legacy", 0x80000001, 0, GM_ECX, 4, false), F("abm", 0x80000001, 0, GM_ECX, 5, false),
	F("sse4a", 0x80000001, 0, GM_ECX, 6, false), F("misalignsse", 0x80000001, 0, GM_ECX, 7, false),
	F("3dnowprefetch", 0x80000001, 0, GM_ECX, 8, false), F("osvw", 0x80000001, 0, GM_ECX, 9, false),
	F("xop", 0x80000001, 0, GM_ECX, 11, false), F("fma4", 0x80000001, 0, GM_ECX, 16, false),
	F("tbm", 0x80000001, 0, GM_ECX, 21, false), F("topoext", 0x80000001, 0, GM_ECX, 22, false),
	F("perfctr_core", 0x80000001, 0, GM_ECX, 23, false), F("mwaitx", 0x80000001, 0, GM_ECX, 29, false),
	/* leaf 0x80000007 EDX: the TSC runs at one rate in every P/C-state */
	F("invtsc", 0x80000007, 0, GM_EDX, 8, false),
	/* leaf 0x80000008 EBX */
	F("clzero", 0x80000008, 0, GM_EBX, 0, false), F("xsaveerptr", 0x80000008, 0, GM_EBX, 2, false),
	F("wbnoinvd", 0x80000008, 0, GM_EBX, 9, false), F("ibpb", 0x80000008, 0, GM_EBX, 12, false),
	F("ibrs", 0x80000008, 0, GM_EBX, 14, false), F("stibp", 0x80000008, 0, GM_EBX, 15, false),
	F("virt_ssbd", 0x80000008, 0, GM_EBX, 25, false),
	/* KVM's paravirtual leaf 0x40000001 EAX: kept by every template unless hidden by name */
	F("kvmclock", 0x40000001, 0, GM_EAX, 0, B), F("kvm_nopiodelay", 0x40000001, 0, GM_EAX, 1, B),
	F("kvmclock2", 0x40000001, 0, GM_EAX, 3, B), F("kvm_asyncpf", 0x40000001, 0, GM_EAX, 4, B),
	F("kvm_steal_time", 0x40000001, 0, GM_EAX, 5, B), F("kvm_pv_eoi", 0x40000001, 0, GM_EAX, 6, B),
	F("kvm_pv_unhalt", 0x40000001, 0, GM_EAX, 7, B), F("kvm_pv_tlb_flush", 0x40000001, 0, GM_EAX, 9, B),
	F("kvm_pv_ipi", 0x40000001, 0, GM_EAX, 11, B), F("kvm_poll_control", 0x40000001, 0, GM_EAX, 12, B),
	F("kvm_pv_sched_yield", 0x40000001, 0, GM_EAX, 13, B), F("kvm_asyncpf_int", 0x40000001, 0, GM_EAX, 14, B),
	F("kvm_msi_ext_dest_id", 0x40000001, 0, GM_EAX, 15, B),
	F("kvmclock_stable_bit", 0x40000001, 0, GM_EAX, 24, B),
};
const unsigned gm_cpu_nfeatures = sizeof(gm_cpu_features) / sizeof(gm_cpu_features[0]);

/*
 * Hiding "needs" hides "feature" too.  XSAVE carries the most: every
 * feature whose registers only XSAVE saves (AVX and up, MPX, PKU, AMX) and
 * the XSAVE variants go with it, and cpu_template.c then also empties leaf
 * 0xD, so the guest's XCR0 can hold nothing beyond x87|SSE.  AVX carries
 * the instructions encoded with VEX (FMA, F16C, AVX2, VAES, VPCLMULQDQ,
 * AVX-VNNI) and AVX-512; AVX512F carries every AVX-512 extension.  The
 * table is read to a fixed point, so chains (xsave -> avx -> avx2) work.
 */
const struct gm_cpu_dep gm_cpu_deps[] = {
	{ "fxsr", "fpu" }, { "sse", "fxsr" }, { "sse2", "sse" }, { "mmx", "fxsr" }, { "mmxext", "mmx" },
	{ "fxsr_opt", "fxsr" }, { "pni", "sse2" }, { "ssse3", "sse2" }, { "sse4_1", "sse2" },
	{ "sse4_2", "sse2" }, { "pclmulqdq", "sse2" }, { "aes", "sse2" }, { "sha_ni", "sse2" },
	{ "gfni", "sse2" }, { "cx16", "cx8" }, { "lm", "pae" },
	{ "xsave", "fxsr" }, { "xsaveopt", "xsave" }, { "xsavec", "xsave" }, { "xsaves", "xsave" },
	{ "xgetbv1", "xsave" }, { "xfd", "xsave" }, { "avx", "xsave" }, { "mpx", "xsave" },
	{ "pku", "xsave" }, { "shstk", "xsaves" }, { "ibt", "xsaves" }, { "amx_tile", "xfd" },
	{ "amx_bf16", "amx_tile" }, { "amx_int8", "amx_tile" }, { "amx_fp16", "amx_tile" },
	{ "f16c", "avx" }, { "fma", "avx" }, { "fma4", "avx" }, { "xop", "avx" }, { "avx2", "avx" },
	{ "vaes", "avx" }, { "vpclmulqdq", "avx" }, { "avx_vnni", "avx" }, { "avx_ifma", "avx" },
	{ "avx512f", "avx" }, { "avx512dq", "avx512f" }, { "avx512ifma", "avx512f" },
	{ "avx512pf", "avx512f" }, { "avx512er", "avx512f" }, { "avx512cd", "avx512f" },
	{ "avx512bw", "avx512f" }, { "avx512vl", "avx512f" }, { "avx512vbmi", "avx512bw" },
	{ "avx512_vbmi2", "avx512vl" }, { "avx512_vnni", "avx512vl" }, { "avx512_bitalg", "avx512vl" },
	{ "avx512_vpopcntdq", "avx512f" }, { "avx512_4vnniw", "avx512f" }, { "avx512_4fmaps", "avx512f" },
	{ "avx512_vp2intersect", "avx512vl" }, { "avx512_bf16", "avx512vl" }, { "avx512_fp16", "avx512bw" },
	{ "kvmclock2", "kvmclock" }, { "kvmclock_stable_bit", "kvmclock2" },
	/* TSC-deadline and kvm-clock need a TSC */
	{ "tsc_deadline_timer", "tsc" }, { "kvmclock", "tsc" }, { "rdtscp", "tsc" }, { "invtsc", "tsc" },
	{ "x2apic", "apic" }, { "tsc_deadline_timer", "apic" },
};
const unsigned gm_cpu_ndeps = sizeof(gm_cpu_deps) / sizeof(gm_cpu_deps[0]);

/* Other spellings people use (QEMU's, the SDM's) for the table's names. */
static const struct {
	const char *alias, *name;
} aliases[] = {
	{ "tsc_deadline", "tsc_deadline_timer" }, { "sse3", "pni" }, { "pclmuldq", "pclmulqdq" },
	{ "sha", "sha_ni" }, { "lzcnt", "abm" }, { "ospke", "pku" }, { "page1gb", "pdpe1gb" },
	{ "avx512vbmi2", "avx512_vbmi2" }, { "avx512vnni", "avx512_vnni" }, { "avx512bitalg", "avx512_bitalg" },
	{ "avx512vpopcntdq", "avx512_vpopcntdq" }, { "avx512_vbmi", "avx512vbmi" },
	{ "kvm_asyncpf_vmexit", "kvm_asyncpf" }, { "i64", "lm" }, { "xd", "nx" },
};

/* name with '-' and '.' as '_', lower case, into out; false when it does not fit */
static bool normalise(const char *name, char *out, size_t len)
{
	size_t i;

	for (i = 0; name[i]; i++) {
		if (i + 1 >= len)
			return false;
		char ch = name[i] == '-' || name[i] == '.' ? '_' : (char)tolower((unsigned char)name[i]);
		out[i] = ch;
	}
	out[i] = '\0';
	return true;
}

int gm_cpu_feature_find(const char *name)
{
	char n[48];

	if (!normalise(name, n, sizeof(n)))
		return -1;
	for (size_t a = 0; a < sizeof(aliases) / sizeof(aliases[0]); a++)
		if (!strcmp(n, aliases[a].alias)) {
			snprintf(n, sizeof(n), "%s", aliases[a].name);
			break;
		}
	for (unsigned i = 0; i < gm_cpu_nfeatures; i++)
		if (!strcmp(n, gm_cpu_features[i].name))
			return (int)i;
	return -1;
}

/* Levenshtein distance, capped: names are short. */
static unsigned distance(const char *a, const char *b)
{
	unsigned row[64], la = (unsigned)strlen(a), lb = (unsigned)strlen(b);

	if (la >= 63 || lb >= 63)
		return 99;
	for (unsigned j = 0; j <= lb; j++)
		row[j] = j;
	for (unsigned i = 1; i <= la; i++) {
		unsigned diag = row[0];

		row[0] = i;
		for (unsigned j = 1; j <= lb; j++) {
			unsigned up = row[j], best = diag + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	return row[lb];
}

void gm_cpu_feature_suggest(const char *name, char *out, size_t len)
{
	char n[48];
	size_t used = 0;
	unsigned found = 0;

	out[0] = '\0';
	if (!normalise(name, n, sizeof(n)))
		n[0] = '\0';
	/* the nearest first: distance 1, then 2, then 3; a name that starts the same counts as near */
	for (unsigned d = 0; d <= 3 && found < 3; d++)
		for (unsigned i = 0; i < gm_cpu_nfeatures && found < 3; i++) {
			const char *f = gm_cpu_features[i].name;
			size_t pl = strlen(n);
			unsigned dist = pl >= 3 && !strncmp(f, n, pl) ? 1 : distance(n, f);

			if (dist != d || !*n)
				continue;
			used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s", found ? ", " : "", f);
			found++;
		}
	if (!found)
		snprintf(out, len, "cx16, xsave, avx2, x2apic, tsc_deadline_timer");
}
