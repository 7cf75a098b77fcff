/*
 * cli/probe.c: `gmvm probe [--json]`.  Runs the full capability probe and
 * prints every fact in gm_caps, once as a table for people (with a note on
 * what each missing feature would enable) and once as JSON for programs.
 * Both outputs come from the one list of facts in emit_caps().
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "gmvm/caps.h"
#include "gmvm/guarantees.h"
#include "cli/probe.h"

#define USAGE "usage: gmvm probe [--json]"

struct bit_name {
	uint64_t bit;
	const char *name;
};

static const struct bit_name vm_type_names[] = {
	{ UINT64_C(1) << 0, "default" },
	{ UINT64_C(1) << 1, "sw-protected" },
	{ UINT64_C(1) << 2, "sev" },
	{ UINT64_C(1) << 3, "sev-es" },
	{ UINT64_C(1) << 4, "snp" },
	{ UINT64_C(1) << 5, "tdx" },
	{ 0, NULL },
};

static const struct bit_name gmem_flag_names[] = {
	{ GM_GMEM_FLAG_MMAP, "mmap" },
	{ GM_GMEM_FLAG_INIT_SHARED, "init-shared" },
	{ GM_GMEM_FLAG_NO_DIRECT_MAP, "no-direct-map" },
	{ 0, NULL },
};

static const struct bit_name mem_attr_names[] = {
	{ UINT64_C(1) << 3, "private" },
	{ 0, NULL },
};

/* Where facts go: into a JSON object, or as table lines on out. */
struct emit {
	json_t *obj;
	FILE *out;
};

/* Record one fact: key/json for JSON, label/text for the table.  Takes the
 * reference to jv. */
static void put(struct emit *e, const char *key, json_t *jv, const char *label,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void put(struct emit *e, const char *key, json_t *jv, const char *label,
		const char *fmt, ...)
{
	va_list ap;

	if (e->obj) {
		json_object_set_new(e->obj, key, jv);
		return;
	}
	json_decref(jv);
	fprintf(e->out, "%-28s ", label);
	va_start(ap, fmt);
	vfprintf(e->out, fmt, ap);
	va_end(ap);
	fputc('\n', e->out);
}

static void put_bool(struct emit *e, const char *key, const char *label, bool v,
		     const char *no_note)
{
	put(e, key, json_boolean(v), label, "%s%s", v ? "yes" : "no: ", v ? "" : no_note);
}

static json_t *jint(uint64_t v)
{
	return json_integer((json_int_t)v);
}

/* Decode a bitmap into names; unknown bits become hex so nothing is hidden. */
static json_t *names_of(uint64_t bits, const struct bit_name *table, char *text, size_t len)
{
	json_t *arr = json_array();
	size_t used = 0;

	text[0] = '\0';
	for (int b = 0; b < 64; b++) {
		uint64_t bit = UINT64_C(1) << b;
		const char *name = NULL;
		char hex[24];

		if (!(bits & bit))
			continue;
		for (const struct bit_name *t = table; t->name; t++)
			if (t->bit == bit)
				name = t->name;
		if (!name) {
			snprintf(hex, sizeof(hex), "0x%" PRIx64, bit);
			name = hex;
		}
		json_array_append_new(arr, json_string(name));
		if (used < len)
			used += (size_t)snprintf(text + used, len - used, "%s%s", used ? ", " : "", name);
	}
	return arr;
}

static void put_bits(struct emit *e, const char *key, const char *label, uint64_t bits,
		     const struct bit_name *table, const char *none_text)
{
	char text[256];
	json_t *arr = names_of(bits, table, text, sizeof(text));

	if (bits)
		put(e, key, arr, label, "%s (0x%" PRIx64 ")", text, bits);
	else
		put(e, key, arr, label, "%s", none_text);
}

static const char *errno_name(int e)
{
	const char *name = strerrorname_np(e);

	return name ? name : "unknown errno";
}

static void size_name(uint64_t bytes, char *buf, size_t len)
{
	if (bytes && bytes % (UINT64_C(1) << 30) == 0)
		snprintf(buf, len, "%" PRIu64 "G", bytes >> 30);
	else if (bytes && bytes % (UINT64_C(1) << 20) == 0)
		snprintf(buf, len, "%" PRIu64 "M", bytes >> 20);
	else
		snprintf(buf, len, "%" PRIu64 "K", bytes >> 10);
}

static void emit_hugetlb(struct emit *e, const struct gm_caps *c)
{
	json_t *arr = json_array();

	for (int i = 0; i < c->n_hugetlb; i++) {
		const struct gm_hugetlb_pool *p = &c->hugetlb[i];
		char label[48], sz[24];

		size_name(p->page_size, sz, sizeof(sz));
		json_array_append_new(arr, json_pack("{s:I, s:I, s:I}", "page_size", (json_int_t)p->page_size,
						     "total", (json_int_t)p->total, "free", (json_int_t)p->free));
		if (e->obj)
			continue;
		snprintf(label, sizeof(label), "hugetlb %s pool", sz);
		if (p->total == 0)
			put(e, NULL, NULL, label, "0 total, 0 free (empty: reserve with echo N > /sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB/nr_hugepages)",
			    p->page_size >> 10);
		else
			put(e, NULL, NULL, label, "%ld total, %ld free", p->total, p->free);
	}
	if (e->obj)
		json_object_set_new(e->obj, "hugetlb", arr);
	else
		json_decref(arr);
	if (!e->obj && c->n_hugetlb == 0)
		put(e, NULL, NULL, "hugetlb", "no: hugepage-backed guest memory unavailable");
}

static void emit_uffd(struct emit *e, const struct gm_caps *c)
{
	const char *gmem_label = "userfaultfd on guest_memfd";
	json_t *error = json_null();

	if (c->userfaultfd)
		put_bool(e, "userfaultfd", "userfaultfd", true, "");
	else if (c->uffd_probed && c->uffd_on_gmem == EPERM)
		put(e, "userfaultfd", json_false(), "userfaultfd",
		    "no (EPERM): present but denied to this user (vm.unprivileged_userfaultfd=0); postcopy migration needs it");
	else
		put_bool(e, "userfaultfd", "userfaultfd", false,
			 "postcopy migration and lazy snapshot restore unavailable");

	if (!c->uffd_probed) {
		put(e, "userfaultfd_on_guest_memfd", json_null(), gmem_label, "not probed");
	} else if (c->uffd_on_gmem == 0) {
		put(e, "userfaultfd_on_guest_memfd", json_true(), gmem_label, "yes");
	} else {
		error = json_string(errno_name(c->uffd_on_gmem));
		put(e, "userfaultfd_on_guest_memfd", json_false(), gmem_label,
		    "no (%s): postcopy migration of guest_memfd memory needs it", errno_name(c->uffd_on_gmem));
	}
	if (e->obj)
		json_object_set_new(e->obj, "userfaultfd_on_guest_memfd_error", error);
	else
		json_decref(error);
}

static void emit_numa(struct emit *e, const struct gm_caps *c)
{
	json_t *list = json_array();
	char text[256] = "";
	size_t used = 0;

	for (int n = 0; n < 64; n++) {
		if (!(c->numa_node_mask & (UINT64_C(1) << n)))
			continue;
		json_array_append_new(list, json_integer(n));
		if (used < sizeof(text))
			used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%d", used ? "," : "", n);
	}
	if (e->obj) {
		json_object_set_new(e->obj, "numa_nodes", json_integer(c->numa_nodes));
		json_object_set_new(e->obj, "numa_node_list", list);
		return;
	}
	json_decref(list);
	put(e, NULL, NULL, "NUMA nodes", "%d (online: %s)", c->numa_nodes, text);
}

static void put_int_setting(struct emit *e, const char *key, const char *label, long v, const char *what)
{
	if (v < 0)
		put(e, key, json_null(), label, "unknown (not readable: %s)", what);
	else
		put(e, key, json_integer(v), label, "%ld", v);
}

static void put_choice(struct emit *e, const char *key, const char *label, const char *v)
{
	put(e, key, *v ? json_string(v) : json_null(), label, "%s", *v ? v : "unknown (no transparent hugepages)");
}

/* Hidden from the host: direct-map removal and private memory, each with what it enables. */
static void emit_hiding(struct emit *e, const struct gm_caps *c)
{
	bool ndm = c->gmem_flags & GM_GMEM_FLAG_NO_DIRECT_MAP;
	bool priv = (c->vm_types & GM_VM_TYPE_SW_PROTECTED) && (c->memory_attributes & GM_MEM_ATTR_PRIVATE);

	put(e, "direct_map_removal", json_boolean(ndm), "direct-map removal", "%s",
	    ndm ? "yes: --memory ...,direct-map=off takes guest_memfd out of the kernel's direct map"
		: "no (GUEST_MEMFD_FLAG_NO_DIRECT_MAP, series \"Direct Map Removal Support for guest_memfd\"): would keep guest memory out of the kernel's direct map, out of reach of transient-execution attacks through it");
	put(e, "private_memory", json_boolean(priv), "private memory", "%s",
	    priv ? "yes (sw-protected VM, KVM_MEMORY_ATTRIBUTE_PRIVATE): the kernel could; gmvm does not convert memory yet"
		 : "no (needs the sw-protected VM type and KVM_MEMORY_ATTRIBUTE_PRIVATE): would let private=on make memory the host cannot map");
	put(e, "guest_memfd_movable", json_boolean(c->gmem_movable), "guest_memfd folio migration", "%s",
	    c->gmem_movable ? "yes: movable=on works on guest-memfd"
			    : "no: guest_memfd is unmovable; folio migration would allow movable=on on guest-memfd (compaction, offlining)");
	put(e, "guest_memfd_link", json_boolean(c->gmem_link), "guest_memfd link to a new VM", "%s",
	    c->gmem_link ? "yes (KVM_LINK_GUEST_MEMFD): after a live update guest-memfd memory stays bound gmem"
			 : "no (KVM_LINK_GUEST_MEMFD, an RFC): a live update binds guest-memfd memory mapped in the new VM; the link would keep it gmem");
}

/* The host settings that decide what can act on guest memory, and how much may be pinned. */
static void emit_host_mm(struct emit *e, const struct gm_caps *c)
{
	const struct gm_host_mm *h = &c->host_mm;
	static const char *const ksm[] = { "stopped", "merging", "unmerging" };

	if (h->ksm_run >= 0 && h->ksm_run <= 2)
		put(e, "ksm_run", json_integer(h->ksm_run), "KSM (ksm/run)", "%d (%s)", h->ksm_run, ksm[h->ksm_run]);
	else
		put_int_setting(e, "ksm_run", "KSM (ksm/run)", h->ksm_run, "no KSM");
	put_choice(e, "thp_enabled", "THP enabled", h->thp_enabled);
	put_choice(e, "thp_defrag", "THP defrag", h->thp_defrag);
	put_choice(e, "thp_shmem_enabled", "THP shmem_enabled", h->thp_shmem);
	put_int_setting(e, "numa_balancing", "NUMA balancing", h->numa_balancing, "no NUMA balancing");
	if (h->swap_total >= 0)
		put(e, "swap_total_bytes", json_integer(h->swap_total), "swap", "%.1f GiB%s",
		    (double)h->swap_total / (double)(UINT64_C(1) << 30), h->swap_total ? "" : " (none)");
	else
		put(e, "swap_total_bytes", json_null(), "swap", "unknown");
	put_int_setting(e, "compact_unevictable_allowed", "compact unevictable", h->compact_unevictable,
			"vm.compact_unevictable_allowed");
	if (c->memlock_limit == UINT64_MAX)
		put(e, "memlock_limit_bytes", json_null(), "RLIMIT_MEMLOCK", "unlimited%s",
		    c->cap_ipc_lock ? " (and CAP_IPC_LOCK)" : "");
	else
		put(e, "memlock_limit_bytes", jint(c->memlock_limit), "RLIMIT_MEMLOCK", "%" PRIu64 " KiB%s", c->memlock_limit >> 10,
		    c->cap_ipc_lock ? " (CAP_IPC_LOCK: no limit applies)" : ": movable=off pins at most this much");
	if (e->obj)
		json_object_set_new(e->obj, "cap_ipc_lock", json_boolean(c->cap_ipc_lock));
}

/* For each kind of memory, which host feature can act on it here (mem/guarantees.c). */
static void emit_guarantees(struct emit *e, const struct gm_caps *c)
{
	json_t *all = json_object();

	for (int k = 0; k < GM_KIND_COUNT; k++) {
		json_t *row = json_object();
		char text[256], label[48];
		size_t used = 0;

		text[0] = '\0';
		for (int f = 0; f < GM_FEAT_COUNT; f++) {
			struct gm_guarantee g;

			gm_guarantee((enum gm_mem_kind)k, (enum gm_host_feature)f, c, &g);
			json_object_set_new(row, gm_host_feature_key((enum gm_host_feature)f),
					    json_pack("{s:s, s:s, s:s}", "acts", gm_verdict_name(g.verdict), "why", g.why,
						      "gmvm", g.gmvm));
			if (used < sizeof(text))
				used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%s %s", f ? ", " : "",
							 gm_host_feature_name((enum gm_host_feature)f), gm_verdict_name(g.verdict));
		}
		json_object_set_new(all, gm_mem_kind_key((enum gm_mem_kind)k), row);
		snprintf(label, sizeof(label), "acts on %s", gm_mem_kind_name((enum gm_mem_kind)k));
		put(e, NULL, NULL, label, "%s", text);
	}
	if (e->obj)
		json_object_set_new(e->obj, "guarantees", all);
	else
		json_decref(all);
}

/* The one list of facts; the table and the JSON object both come from here. */
static void emit_caps(struct emit *e, const struct gm_caps *c)
{
	if (e->obj)
		json_object_set_new(e->obj, "kvm", json_boolean(c->kvm));
	put(e, "kvm_api_version", json_integer(c->api_version), "KVM API version", "%d", c->api_version);
	put_bits(e, "vm_types", "VM types", c->vm_types, vm_type_names, "none");
	put(e, "max_vcpus", jint(c->max_vcpus), "max vCPUs", "%u", c->max_vcpus);
	put_bool(e, "irqchip", "in-kernel LAPIC", c->irqchip,
		 "KVM_CAP_SPLIT_IRQCHIP missing: gmvm cannot run here");
	put(e, "cpl0_emulated", json_boolean(c->cpl0_emulated), "cpl0_emulated", "%s",
	    c->cpl0_emulated ? "yes: guest CPL0 runs in KVM's instruction emulator; it lacks cx16 xsave (the default --cpu host hides them here, as --cpu host,-cx16,-xsave)"
			     : "no: guest CPL0 runs on the CPU (VMX or SVM)");
	put_bool(e, "guest_memfd", "guest_memfd", c->guest_memfd,
		 "guest-first memory unavailable; use backend=memfd");
	put_bits(e, "guest_memfd_flags", "guest_memfd flags", c->gmem_flags, gmem_flag_names,
		 c->guest_memfd ? "none: the host cannot map guest_memfd memory" : "none");
	put_bool(e, "user_memory2", "USER_MEMORY2 memslots", c->user_memory2,
		 "guest_memfd cannot be bound to memslots");
	put_bits(e, "memory_attributes", "memory attributes", c->memory_attributes, mem_attr_names,
		 "no: private (confidential) memory unavailable");
	put_bool(e, "pre_fault_memory", "pre-fault memory", c->pre_fault_memory,
		 "cannot pre-map guest memory into the VM's page tables before boot");
	put_bool(e, "memory_fault_info", "memory fault info", c->memory_fault_info,
		 "guest memory faults exit as a bare EFAULT, without the guest address");
	put_bool(e, "readonly_mem", "read-only memslots", c->readonly_mem,
		 "ROM and flash cannot be mapped read-only into the guest");
	put_bool(e, "dirty_log", "dirty log (bitmap)", c->dirty_log,
		 "live migration and incremental snapshots cannot track written pages");
	put_bool(e, "dirty_log_manual", "dirty log manual clear", c->dirty_log_manual,
		 "each collect re-protects the whole slot at once (no KVM_CLEAR_DIRTY_LOG)");
	if (c->dirty_ring_bytes)
		put(e, "dirty_ring_bytes", jint(c->dirty_ring_bytes), "dirty ring",
		    "%" PRIu64 " bytes per vCPU (max); %s", c->dirty_ring_bytes,
		    c->cpl0_emulated ? "--dirty-log auto takes the bitmap here (guest CPL0 is emulated; docs/memory.md)"
				     : "dirty tracking uses it (--dirty-log auto)");
	else
		put(e, "dirty_ring_bytes", jint(0), "dirty ring",
		    "no: dirty tracking reads the memslots' bitmaps (--dirty-log ring is refused)");
	put_bool(e, "dirty_ring_acq_rel", "dirty ring acq_rel", c->dirty_ring_acq_rel,
		 "only the x86-TSO dirty ring protocol is available");
	put(e, "max_memslots", jint(c->nr_memslots), "max memslots", "%u", c->nr_memslots);
	emit_hugetlb(e, c);
	put_bool(e, "memfd_secret", "memfd_secret", c->memfd_secret,
		 "memory hidden from the host kernel's direct map unavailable");
	emit_uffd(e, c);
	emit_numa(e, c);
	put(e, "host_ram_bytes", jint(c->host_ram), "host RAM", "%.1f GiB (%" PRIu64 " bytes)",
	    (double)c->host_ram / (double)(UINT64_C(1) << 30), c->host_ram);
	put(e, "kernel_release", json_string(c->kernel_release), "kernel release", "%s", c->kernel_release);
	emit_hiding(e, c);
	emit_host_mm(e, c);
	emit_guarantees(e, c);
}

int gm_cli_probe(int argc, char **argv)
{
	struct gm_error err = { 0 };
	struct gm_caps caps;
	bool as_json = false;
	struct emit e = { .out = stdout };

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			as_json = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("%s\n", USAGE);
			return GM_STATUS_OK;
		} else {
			fprintf(stderr, "gmvm: probe: unknown option '%s'\n%s\n", argv[i], USAGE);
			return GM_STATUS_BAD_INPUT;
		}
	}

	if (gm_caps_probe(&caps, GM_PROBE_FULL, &err) < 0) {
		fprintf(stderr, "gmvm: %s\n", err.msg);
		return err.status ? err.status : GM_STATUS_NO_KERNEL;
	}

	if (as_json) {
		e.obj = json_object();
		emit_caps(&e, &caps);
		json_dumpf(e.obj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(e.obj);
	} else {
		emit_caps(&e, &caps);
	}
	fflush(stdout);
	return GM_STATUS_OK;
}
