/*
 * x86/cpu_template: --cpu host|minimal[,+FEATURE|,-FEATURE...] parsed,
 * printed back in one canonical form (the state stream carries it, so a
 * restore, a migration or a live update builds the same CPUID), and applied
 * to KVM's supported CPUID with the dependency rules of cpu_features.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "kvm/kvm.h"
#include "util/escape.h"
#include "x86/cpu_features.h"
#include "x86/x86.h"

#define SPEC_INPUT_MAX 511

/* bits of leaf 1 ECX and leaf 7.0 ECX the CPU sets from CR4, never a template */
#define OSXSAVE_BIT 27
#define OSPKE_BIT   4
/* leaf 0x80000001 EDX bits that repeat leaf 1 EDX on AMD CPUs (fpu..apic, mtrr..pse36, mmx, fxsr) */
#define AMD_EDX_ALIASES 0x0183f3ffu

static void bit_set(uint64_t *w, unsigned i, bool on)
{
	if (on)
		w[i / 64] |= UINT64_C(1) << (i % 64);
	else
		w[i / 64] &= ~(UINT64_C(1) << (i % 64));
}

static bool bit_get(const uint64_t *w, unsigned i)
{
	return w[i / 64] >> (i % 64) & 1;
}

_Static_assert(GM_CPU_FEATURE_WORDS * 64 >= 200, "room for the feature table");

int gm_cpu_template_parse(const char *spec, struct gm_cpu_template *t, struct gm_error *err)
{
	/* spec may come from a migration sender's header: quote it escaped, one line whatever it holds */
	char buf[SPEC_INPUT_MAX + 1], *save = NULL, qs[GM_ESCAPE_SHORT], qt[GM_ESCAPE_SHORT];

	memset(t, 0, sizeof(*t));
	if (gm_cpu_nfeatures > GM_CPU_FEATURE_WORDS * 64)
		return gm_fail(err, GM_STATUS_FAILURE, EOVERFLOW, "the CPU feature table outgrew its bitmaps");
	if (!spec)
		return 0;
	if (strlen(spec) > SPEC_INPUT_MAX)
		return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG, "--cpu: %zu characters; at most %d fit", strlen(spec),
			       SPEC_INPUT_MAX);
	snprintf(buf, sizeof(buf), "%s", spec);
	char *tok = strtok_r(buf, ",", &save);
	if (!tok || (strcmp(tok, "host") && strcmp(tok, "minimal")))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--cpu %s: start with host or minimal, then ,+FEATURE or ,-FEATURE (as --cpu host,-cx16)",
			       gm_escape(spec, qs, sizeof(qs)));
	t->minimal = !strcmp(tok, "minimal");
	while ((tok = strtok_r(NULL, ",", &save))) {
		char near[128];
		int i;

		if (tok[0] != '+' && tok[0] != '-')
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "--cpu %s: \"%s\" needs + (show) or - (hide) in front, as +%s or -%s",
				       gm_escape(spec, qs, sizeof(qs)), gm_escape(tok, qt, sizeof(qt)), qt, qt);
		i = gm_cpu_feature_find(tok + 1);
		if (i < 0) {
			gm_cpu_feature_suggest(tok + 1, near, sizeof(near));
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "--cpu %s: no CPU feature \"%s\"; known names are Linux's /proc/cpuinfo ones, as %s",
				       gm_escape(spec, qs, sizeof(qs)), gm_escape(tok + 1, qt, sizeof(qt)), near);
		}
		/* the last word on a feature wins */
		bit_set(t->show, (unsigned)i, tok[0] == '+');
		bit_set(t->hide, (unsigned)i, tok[0] == '-');
	}
	return 0;
}

void gm_cpu_template_format(const struct gm_cpu_template *t, char *out, size_t len)
{
	size_t used = (size_t)snprintf(out, len, "%s", t->minimal ? "minimal" : "host");

	for (unsigned i = 0; i < gm_cpu_nfeatures; i++)
		if (bit_get(t->hide, i) || bit_get(t->show, i))
			used += (size_t)snprintf(out + (used < len ? used : len), used < len ? len - used : 0, ",%c%s",
						 bit_get(t->show, i) ? '+' : '-', gm_cpu_features[i].name);
}

static const char *const cpl0_missing[] = { "cx16", "xsave" };

const char *gm_cpu_cpl0_missing(void)
{
	return "cx16 xsave";
}

void gm_cpu_template_cpl0(struct gm_cpu_template *t, char *hidden, size_t len)
{
	size_t used = 0;

	hidden[0] = '\0';
	if (t->minimal)
		return; /* it shows neither unless asked */
	for (size_t k = 0; k < sizeof(cpl0_missing) / sizeof(cpl0_missing[0]); k++) {
		unsigned i = (unsigned)gm_cpu_feature_find(cpl0_missing[k]);

		if (bit_get(t->show, i) || bit_get(t->hide, i))
			continue;
		bit_set(t->hide, i, true);
		used += (size_t)snprintf(hidden + (used < len ? used : len), used < len ? len - used : 0, "%s%s",
					 used ? " " : "", cpl0_missing[k]);
	}
}

/* The entry of leaf/sub in c; a leaf whose sub-leaf does not matter answers for every sub-leaf. */
static struct kvm_cpuid_entry2 *leaf_of(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t sub)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == leaf && (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == sub))
			return e;
	}
	return NULL;
}

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, enum gm_cpuid_reg r)
{
	return r == GM_EAX ? &e->eax : r == GM_EBX ? &e->ebx : r == GM_ECX ? &e->ecx : &e->edx;
}

static bool has(struct kvm_cpuid2 *c, unsigned i)
{
	const struct gm_cpu_feature *f = &gm_cpu_features[i];
	struct kvm_cpuid_entry2 *e = leaf_of(c, f->leaf, f->sub);

	return e && (*reg_of(e, f->reg) >> f->bit & 1);
}

static void put(struct kvm_cpuid2 *c, unsigned i, bool on)
{
	const struct gm_cpu_feature *f = &gm_cpu_features[i];
	struct kvm_cpuid_entry2 *e = leaf_of(c, f->leaf, f->sub);

	if (!e)
		return;
	if (on)
		*reg_of(e, f->reg) |= 1u << f->bit;
	else
		*reg_of(e, f->reg) &= ~(1u << f->bit);
}

static bool on(struct kvm_cpuid2 *c, const char *name)
{
	int i = gm_cpu_feature_find(name);

	return i >= 0 && has(c, (unsigned)i);
}

/* Zero every sub-leaf of leaf (the guest then reads zeros, as for an absent feature). */
static void zero_leaf(struct kvm_cpuid2 *c, uint32_t leaf)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == leaf)
			c->entries[i].eax = c->entries[i].ebx = c->entries[i].ecx = c->entries[i].edx = 0;
}

/* minimal: in every register the table names (but KVM's own leaf), only the baseline bits */
static void to_baseline(struct kvm_cpuid2 *c)
{
	for (uint32_t n = 0; n < c->nent; n++) {
		struct kvm_cpuid_entry2 *e = &c->entries[n];
		uint32_t keep[4] = { 0 };
		bool named[4] = { false };

		if (e->function == 0x40000001)
			continue;
		for (unsigned i = 0; i < gm_cpu_nfeatures; i++) {
			const struct gm_cpu_feature *f = &gm_cpu_features[i];

			if (f->leaf != e->function || (f->sub != e->index && (e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)))
				continue;
			named[f->reg] = true;
			if (f->baseline)
				keep[f->reg] |= 1u << f->bit;
		}
		for (int r = GM_EAX; r <= GM_EDX; r++)
			if (named[r])
				*reg_of(e, (enum gm_cpuid_reg)r) &= keep[r];
		/* leaf 7's other sub-leaves hold features only */
		if (e->function == 7 && e->index > 0)
			e->eax = e->ebx = e->ecx = e->edx = 0;
		if (e->function == 7 && e->index == 0)
			e->ebx = e->ecx = e->edx = 0;
	}
	/* the leaves that describe features minimal lacks: SGX, processor trace, AMX */
	zero_leaf(c, 0x12);
	zero_leaf(c, 0x14);
	zero_leaf(c, 0x1d);
	zero_leaf(c, 0x1e);
}

/*
 * XSAVE's state follows the features: without XSAVE leaf 0xD is empty, so
 * KVM lets the guest set no XCR0 bit beyond x87|SSE (it derives the
 * allowed XCR0 from leaf 0xD) and Linux falls back to FXSAVE.  With XSAVE,
 * each hidden feature's state components leave 0xD.0 (XCR0) and 0xD.1
 * ECX (XSS), and the size of the largest area shrinks to match.
 */
static void xsave_state(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *l1 = leaf_of(c, 1, 0), *l7 = leaf_of(c, 7, 0);
	struct kvm_cpuid_entry2 *d0 = leaf_of(c, 0xd, 0), *d1 = leaf_of(c, 0xd, 1);

	if (l7 && !on(c, "pku"))
		l7->ecx &= ~(1u << OSPKE_BIT);
	if (!on(c, "xsave")) {
		if (l1)
			l1->ecx &= ~(1u << OSXSAVE_BIT);
		zero_leaf(c, 0xd);
		return;
	}
	if (!d0)
		return;
	uint64_t drop = 0;
	if (!on(c, "avx"))
		drop |= 1u << 2;
	if (!on(c, "mpx"))
		drop |= 3u << 3;
	if (!on(c, "avx512f"))
		drop |= 7u << 5;
	if (!on(c, "pku"))
		drop |= 1u << 9;
	if (!on(c, "shstk") && !on(c, "ibt"))
		drop |= 3u << 11;
	if (!on(c, "amx_tile"))
		drop |= UINT64_C(3) << 17;
	d0->eax &= ~(uint32_t)drop;
	d0->edx &= ~(uint32_t)(drop >> 32);
	if (d1) {
		d1->ecx &= ~(uint32_t)drop;
		d1->edx &= ~(uint32_t)(drop >> 32);
	}
	uint64_t xcr0 = d0->eax | (uint64_t)d0->edx << 32;
	uint32_t size = 512 + 64; /* the legacy area and the header */
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function != 0xd || e->index < 2 || e->index > 63)
			continue;
		if (drop >> e->index & 1)
			e->eax = e->ebx = e->ecx = e->edx = 0;
		else if (xcr0 >> e->index & 1 && e->eax + e->ebx > size)
			size = e->eax + e->ebx;
	}
	/*
	 * ECX: the area for every component the guest may enable.  EBX is the
	 * area for what XCR0 enables now; KVM reports it for its XCR0 at the
	 * time (x87|SSE) and not every KVM updates it when the guest sets
	 * XCR0, and Linux checks it against the components' offsets ("XSAVE
	 * consistency problem", then no XSAVE at all).  Linux enables all of
	 * them at once, so EBX = ECX, as QEMU does.
	 */
	d0->ecx = size;
	d0->ebx = size;
}

int gm_cpu_template_apply(const struct gm_cpu_template *t, struct kvm_cpuid2 *c, bool tsc_deadline,
			  struct gm_error *err)
{
	char spec[GM_CPU_SPEC_MAX];
	struct kvm_cpuid_entry2 *l1 = leaf_of(c, 1, 0), *ext = leaf_of(c, 0x80000001, 0);
	uint32_t ext_edx = ext ? ext->edx : 0;
	size_t size = sizeof(*c) + c->nent * sizeof(c->entries[0]);
	struct kvm_cpuid2 *offer = malloc(size);
	int r = 0;

	if (!offer)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for CPUID");
	/* KVM runs these but lists none: the hypervisor bit (always, as QEMU
	 * sets it), the in-kernel LAPIC's TSC-deadline mode, and kvm-clock's
	 * stable bit (KVM sets PVCLOCK_TSC_STABLE_BIT only when the host's
	 * clock is; without the CPUID bit Linux ignores it, keeps sched_clock
	 * "unstable" and ties it to the tick until late in boot) */
	struct kvm_cpuid_entry2 *pv = leaf_of(c, 0x40000001, 0);
	if (l1) {
		l1->ecx |= 1u << 31;
		if (tsc_deadline)
			l1->ecx |= 1u << 24;
	}
	if (pv && (pv->eax & (1u << 3)))
		pv->eax |= 1u << 24;
	memcpy(offer, c, size);
	if (t->minimal)
		to_baseline(c);
	for (unsigned i = 0; i < gm_cpu_nfeatures && !r; i++) {
		if (bit_get(t->hide, i))
			put(c, i, false);
		if (!bit_get(t->show, i))
			continue;
		if (!has(offer, i)) {
			gm_cpu_template_format(t, spec, sizeof(spec));
			r = gm_fail(err, GM_STATUS_NO_KERNEL, ENOTSUP,
				    "--cpu %s: KVM on this host cannot offer %s (KVM_GET_SUPPORTED_CPUID lacks it); drop +%s",
				    spec, gm_cpu_features[i].name, gm_cpu_features[i].name);
		} else {
			put(c, i, true);
		}
	}
	/* the rules by table index, looked up once (names are for people) */
	int dep_f[GM_CPU_DEPS_MAX], dep_n[GM_CPU_DEPS_MAX];
	unsigned ndeps = gm_cpu_ndeps < GM_CPU_DEPS_MAX ? gm_cpu_ndeps : GM_CPU_DEPS_MAX;
	for (unsigned d = 0; d < ndeps; d++) {
		dep_f[d] = gm_cpu_feature_find(gm_cpu_deps[d].feature);
		dep_n[d] = gm_cpu_feature_find(gm_cpu_deps[d].needs);
	}
	/* a feature goes when what it needs went, to a fixed point; an explicit +FEATURE does not go quietly */
	for (bool changed = !r; changed && !r;) {
		changed = false;
		for (unsigned d = 0; d < ndeps && !r; d++) {
			int f = dep_f[d];

			if (f < 0 || dep_n[d] < 0 || !has(c, (unsigned)f) || has(c, (unsigned)dep_n[d]))
				continue;
			if (bit_get(t->show, (unsigned)f)) {
				gm_cpu_template_format(t, spec, sizeof(spec));
				r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
					    "--cpu %s: %s needs %s, which this template hides; add +%s or drop +%s", spec,
					    gm_cpu_deps[d].feature, gm_cpu_deps[d].needs, gm_cpu_deps[d].needs,
					    gm_cpu_deps[d].feature);
			}
			put(c, (unsigned)f, false);
			changed = true;
		}
	}
	free(offer);
	if (r)
		return r;
	xsave_state(c);
	if (l1 && ext) /* AMD's copies of leaf 1 EDX follow it */
		ext->edx = (ext->edx & ~AMD_EDX_ALIASES) | (ext_edx & l1->edx & AMD_EDX_ALIASES);
	return 0;
}

uint64_t gm_cpu_xcr0_allowed(const struct kvm_cpuid2 *c)
{
	struct kvm_cpuid2 *m = (struct kvm_cpuid2 *)c; /* leaf_of does not write */
	struct kvm_cpuid_entry2 *d0 = leaf_of(m, 0xd, 0);

	if (!on(m, "xsave") || !d0)
		return 3; /* x87 | SSE: what a CPU without XSAVE has */
	return (d0->eax | (uint64_t)d0->edx << 32) | 3;
}

struct kvm_cpuid2 *gm_x86_cpuid_build(int kvm_fd, const struct gm_cpu_template *t, struct gm_error *err)
{
	struct kvm_cpuid2 *c = gm_x86_cpuid_template(kvm_fd, err);

	if (!c)
		return NULL;
	bool deadline = gm_ioctl(kvm_fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	if (gm_cpu_template_apply(t, c, deadline, err)) {
		free(c);
		return NULL;
	}
	return c;
}
