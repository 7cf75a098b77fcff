/*
 * bench/machine_info: the report's machine line: CPU model, cores online,
 * RAM, kernel, transparent hugepage setting, QEMU version and gmvm revision,
 * all of which move the numbers.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench.h"

/* The value after "key" and a colon on the first line that starts with key. */
static void file_field(const char *path, const char *key, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[512];
	size_t klen = strlen(key);

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, key, klen) || !colon)
			continue;
		colon += 1 + strspn(colon + 1, " \t");
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(f);
}

/* "always [madvise] never" -> "madvise" */
static void thp_mode(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	char line[128] = "";

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f)) {
		char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;

		if (a && b) {
			*b = '\0';
			snprintf(buf, len, "%s", a + 1);
		}
	}
	fclose(f);
}

static void qemu_version(char *buf, size_t len, const struct bench_opts *o)
{
	char *argv[] = { (char *)o->qemu, "--version", NULL };
	struct spawn_result r;
	char err[256];

	snprintf(buf, len, "QEMU not found");
	if (!o->qemu_found || spawn_run(argv, 0, &r, err, sizeof(err)) < 0)
		return;
	if (r.status == 0 && r.output_len) {
		r.output[strcspn(r.output, "\n")] = '\0';
		snprintf(buf, len, "%s", r.output);
	}
	spawn_result_free(&r);
}

void machine_info(char *buf, size_t len, const struct bench_opts *o)
{
	char cpu[160], mem[64], thp[32], shmem[32], qemu[200];
	struct utsname u;
	unsigned long long kib = 0;

	file_field("/proc/cpuinfo", "model name", cpu, sizeof(cpu));
	file_field("/proc/meminfo", "MemTotal", mem, sizeof(mem));
	sscanf(mem, "%llu", &kib);
	thp_mode("/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof(thp));
	/* memfd guest RAM (gmvm's memfd backend, QEMU's memory-backend-memfd) is shmem */
	thp_mode("/sys/kernel/mm/transparent_hugepage/shmem_enabled", shmem, sizeof(shmem));
	qemu_version(qemu, sizeof(qemu), o);
	if (uname(&u) < 0)
		snprintf(u.release, sizeof(u.release), "unknown");
	snprintf(buf, len, "%s, %ld cores online, %.1f GiB RAM, Linux %s, THP enabled=%s shmem_enabled=%s, %s, "
		 "gmvm %s%s", cpu, sysconf(_SC_NPROCESSORS_ONLN), (double)kib / (1024 * 1024), u.release, thp, shmem,
		 qemu, o->rev, getenv("IN_NESTED_VM") ? "; inside the nested KVM VM of scripts/nested-kvm (QEMU TCG): "
		 "ratios only, absolute times are emulated" : "");
}
