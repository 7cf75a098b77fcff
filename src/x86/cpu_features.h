/*
 * x86/cpu_features: the table of CPUID features a --cpu template can name
 * (leaf, sub-leaf, register, bit) and the rules for what hiding one hides
 * with it.  Private to x86/ (cpu_template.c reads it; the unit test too).
 */
#ifndef GM_X86_CPU_FEATURES_H
#define GM_X86_CPU_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gm_cpuid_reg { GM_EAX, GM_EBX, GM_ECX, GM_EDX };

struct gm_cpu_feature {
	const char *name;   /* Linux's /proc/cpuinfo name */
	uint32_t leaf, sub; /* sub: the sub-leaf, for leaves where it matters */
	enum gm_cpuid_reg reg;
	uint8_t bit;
	bool baseline;      /* part of the "minimal" template */
};

/* A feature that needs another: hiding needs hides feature too. */
struct gm_cpu_dep {
	const char *feature, *needs;
};

extern const struct gm_cpu_feature gm_cpu_features[];
extern const unsigned gm_cpu_nfeatures;
extern const struct gm_cpu_dep gm_cpu_deps[];
extern const unsigned gm_cpu_ndeps;
#define GM_CPU_DEPS_MAX 128 /* room cpu_template.c keeps for the rules, by index */

/* The table index of name (case-insensitive, '-' and '.' as '_', aliases such as tsc-deadline), or -1. */
int gm_cpu_feature_find(const char *name);

/* Up to three known names closest to an unknown one, ", "-separated, into out. */
void gm_cpu_feature_suggest(const char *name, char *out, size_t len);

#endif
