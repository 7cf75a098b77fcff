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
		    "%" PRIu64 " bytes per vCPU (max); dirty tracking uses it (--dirty-log auto)",
		    c->dirty_ring_bytes);
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
