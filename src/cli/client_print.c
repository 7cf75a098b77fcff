/*
 * cli/client_print: the API's JSON answers as text for people (`gmvm info`,
 * `counters`, `ping`, and the actions).  The printers read the answer
 * defensively: a field a newer or older server leaves out is skipped, never
 * a crash, since `--json` is there for anything exact.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/escape.h"

/* A string field, escaped for the terminal, or fallback when absent. */
static const char *str(const json_t *o, const char *key, const char *fallback, char *buf, size_t len)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? gm_escape(s, buf, len) : fallback;
}

static uint64_t u64(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

/* Sizes as people write them: exact binary units, else bytes. */
static const char *size_text(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "TiB", "GiB", "MiB", "KiB" };

	for (int i = 0; i < 4; i++) {
		unsigned shift = 40 - 10 * (unsigned)i;
		if (bytes && bytes % (UINT64_C(1) << shift) == 0) {
			snprintf(buf, len, "%" PRIu64 " %s", bytes >> shift, units[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%" PRIu64 " bytes", bytes);
	return buf;
}

int gm_cli_print_ping(const json_t *body, FILE *out)
{
	char v[GM_ESCAPE_SHORT], b[GM_ESCAPE_SHORT], f[GM_ESCAPE_SHORT];
	const json_t *features = json_object_get(body, "features");
	size_t i;
	json_t *it;

	fprintf(out, "gmvm %s (build %s)\n", str(body, "version", "?", v, sizeof(v)),
		str(body, "build_id", "unknown", b, sizeof(b)));
	if (!json_is_array(features))
		return GM_STATUS_OK;
	fputs("features:", out);
	json_array_foreach(features, i, it) {
		const char *s = json_string_value(it);
		if (s)
			fprintf(out, "%s %s", i ? "," : "", gm_escape(s, f, sizeof(f)));
	}
	fputc('\n', out);
	return GM_STATUS_OK;
}

int gm_cli_print_state(const json_t *body, FILE *out)
{
	char s[GM_ESCAPE_SHORT];

	fprintf(out, "%s\n", str(body, "state", "done", s, sizeof(s)));
	return GM_STATUS_OK;
}

/*
 * The directory as the server wrote it (the URL's path), and sizes in the
 * units people think of them in: the state is KiB, guest RAM is MiB.
 */
int gm_cli_print_snapshot(const json_t *body, FILE *out)
{
	char d[GM_ESCAPE_PATH], t[GM_ESCAPE_SHORT];
	const char *url = json_string_value(json_object_get(body, "destination_url"));
	const char *dir = url && strncmp(url, "file://", 7) == 0 ? url + 7 : url;

	fprintf(out, "snapshot %s: %s, paused %.1f ms, state %" PRIu64 " KiB, memory %.1f MiB\n",
		dir ? gm_escape(dir, d, sizeof(d)) : "?", str(body, "type", "?", t, sizeof(t)),
		(double)u64(body, "paused_us") / 1e3, (u64(body, "state_bytes") + 1023) / 1024,
		(double)u64(body, "memory_bytes") / (1 << 20));
	return GM_STATUS_OK;
}

static void print_config(const json_t *cfg, FILE *out)
{
	char k[GM_ESCAPE_PATH], a[GM_ESCAPE_PATH], e[GM_ESCAPE_SHORT], c[GM_ESCAPE_PATH];
	char sz[32], hp[GM_ESCAPE_SHORT], be[GM_ESCAPE_SHORT], bi[GM_ESCAPE_SHORT];
	const json_t *mem = json_object_get(cfg, "memory");
	const json_t *node = json_object_get(mem, "numa_node");
	double timeout = json_number_value(json_object_get(cfg, "timeout_s"));

	if (!json_is_object(cfg))
		return;
	fprintf(out, "%-12s%s\n", "kernel", str(cfg, "kernel", "?", k, sizeof(k)));
	fprintf(out, "%-12s\"%s\"\n", "cmdline", str(cfg, "cmdline", "", a, sizeof(a)));
	fprintf(out, "%-12sentry %s, console %s, timeout ", "boot", str(cfg, "entry", "?", e, sizeof(e)),
		str(cfg, "console", "?", c, sizeof(c)));
	if (timeout > 0)
		fprintf(out, "%g s\n", timeout);
	else
		fputs("none\n", out);
	if (!json_is_object(mem))
		return;
	fprintf(out, "%-12s%s %s, %s pages, prealloc %s, NUMA node ", "memory",
		size_text(u64(mem, "size"), sz, sizeof(sz)), str(mem, "backend", "?", be, sizeof(be)),
		str(mem, "hugepages", "?", hp, sizeof(hp)), json_is_true(json_object_get(mem, "prealloc")) ? "on" : "off");
	if (json_is_integer(node))
		fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(node));
	else
		fputs("any", out);
	fprintf(out, ", bind %s\n", str(mem, "bind", "?", bi, sizeof(bi)));
}

static void print_region(const json_t *r, FILE *out)
{
	char n[GM_ESCAPE_SHORT], be[GM_ESCAPE_SHORT], bi[GM_ESCAPE_SHORT], id[GM_ESCAPE_PATH];
	char sz[32], pg[32];
	const json_t *ranges = json_object_get(r, "ranges");
	size_t i;
	json_t *it;

	fprintf(out, "region %-5s%s %s, binding %s, %s pages\n", str(r, "name", "?", n, sizeof(n)),
		size_text(u64(r, "size"), sz, sizeof(sz)), str(r, "backend", "?", be, sizeof(be)),
		str(r, "binding", "?", bi, sizeof(bi)), size_text(u64(r, "page_size"), pg, sizeof(pg)));
	fprintf(out, "%-12sidentity %s\n", "", str(r, "identity", "?", id, sizeof(id)));
	json_array_foreach(ranges, i, it) {
		uint64_t gpa = u64(it, "gpa"), size = u64(it, "size");
		fprintf(out, "%-12sgpa [0x%" PRIx64 ", 0x%" PRIx64 ") %s\n", "", gpa, gpa + size,
			size_text(size, sz, sizeof(sz)));
	}
}

static void print_vcpu(const json_t *v, FILE *out)
{
	static const char *const names[] = { "rip", "rsp", "rflags", "cr3" };
	const json_t *regs = json_object_get(v, "regs");
	char val[GM_ESCAPE_SHORT];

	fprintf(out, "vCPU %-7" JSON_INTEGER_FORMAT, json_integer_value(json_object_get(v, "id")));
	if (!json_is_object(regs)) {
		fputs("(registers are shown while paused)\n", out);
		return;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		fprintf(out, "%s%s=%s", i ? " " : "", names[i], str(regs, names[i], "?", val, sizeof(val)));
	fputc('\n', out);
}

static void print_exit(const json_t *ex, FILE *out)
{
	char k[GM_ESCAPE_SHORT], why[300];

	if (!json_is_object(ex))
		return;
	fprintf(out, "%-12s%s, status %" JSON_INTEGER_FORMAT ", vCPU %" JSON_INTEGER_FORMAT ": %s\n", "exit",
		str(ex, "kind", "?", k, sizeof(k)), json_integer_value(json_object_get(ex, "status")),
		json_integer_value(json_object_get(ex, "cpu")), str(ex, "reason", "", why, sizeof(why)));
}

int gm_cli_print_info(const json_t *body, FILE *out)
{
	char s[GM_ESCAPE_SHORT], u[GM_ESCAPE_SHORT];
	const json_t *vcpus = json_object_get(body, "vcpus");
	const json_t *regions = json_object_get(body, "regions");
	size_t i;
	json_t *it;

	fprintf(out, "%-12s%s\n", "state", str(body, "state", "?", s, sizeof(s)));
	fprintf(out, "%-12s%s\n", "uuid", str(body, "uuid", "?", u, sizeof(u)));
	fprintf(out, "%-12s%zu\n", "vCPUs", json_array_size(vcpus));
	print_config(json_object_get(body, "config"), out);
	json_array_foreach(regions, i, it)
		print_region(it, out);
	json_array_foreach(vcpus, i, it)
		print_vcpu(it, out);
	print_exit(json_object_get(body, "exit"), out);
	return GM_STATUS_OK;
}

/* The exit kinds in the order the machine counts them, then the sum. */
static const char *const exit_keys[] = { "io", "mmio", "eoi", "interrupted", "other", "total" };
#define N_EXIT_KEYS (sizeof(exit_keys) / sizeof(exit_keys[0]))

static void print_exit_row(const char *label, const json_t *exits, FILE *out)
{
	fprintf(out, "%-10s", label);
	for (size_t k = 0; k < N_EXIT_KEYS; k++)
		fprintf(out, " %12" PRIu64, u64(exits, exit_keys[k]));
	fputc('\n', out);
}

int gm_cli_print_counters(const json_t *body, FILE *out)
{
	const json_t *vcpus = json_object_get(body, "vcpus");
	char label[32];
	size_t i;
	json_t *it;

	fprintf(out, "%-10s", "exits");
	for (size_t k = 0; k < N_EXIT_KEYS; k++)
		fprintf(out, " %12s", exit_keys[k]);
	fputc('\n', out);
	print_exit_row("all", json_object_get(body, "exits"), out);
	json_array_foreach(vcpus, i, it) {
		snprintf(label, sizeof(label), "vCPU %" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(it, "id")));
		print_exit_row(label, json_object_get(it, "exits"), out);
	}
	fprintf(out, "pauses      %" PRIu64 " (%.3f ms paused in all)\n", u64(body, "pauses"),
		(double)u64(body, "paused_us") / 1e3);
	fprintf(out, "halt checks %" PRIu64 "\n", u64(body, "halt_checks"));
	return GM_STATUS_OK;
}
