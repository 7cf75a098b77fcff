/* tests/integration/mm_host: see mm_host.h. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <unistd.h>

#include "mm_host.h"

#define MAX_KNOBS 24

/* One test per process (Criterion forks), so this state is the test's own. */
static struct {
	struct {
		char path[160];
		char old[128];
	} knob[MAX_KNOBS];
	unsigned nknobs;
	int zram;               /* zram device made for swap, -1: none */
	char cgroup[192];       /* the test's cgroup, "" when none */
	void (*cleanup)(void);
} mh = { .zram = -1 };

void mm_on_skip(void (*cleanup)(void))
{
	mh.cleanup = cleanup;
}

void mm_skip_cleanup(void)
{
	if (mh.cleanup)
		mh.cleanup();
}

/* strlcpy: cut to fit */
static void copy(char *dst, size_t len, const char *src)
{
	size_t n = strnlen(src, len - 1);

	memcpy(dst, src, n);
	dst[n] = 0;
}

void mm_need_root(const char *what)
{
	if (geteuid() != 0)
		mm_skip("%s needs root (uid %u)", what, (unsigned)geteuid());
}

bool mm_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = 0;
	return ok;
}

long long mm_read_num(const char *path)
{
	char b[64];

	return mm_read_line(path, b, sizeof(b)) ? strtoll(b, NULL, 0) : -1;
}

const char *mm_selected(const char *path, char *buf, size_t len)
{
	char line[256], *a, *b;

	buf[0] = 0;
	if (!mm_read_line(path, line, sizeof(line)))
		return buf;
	a = strchr(line, '[');
	b = a ? strchr(a, ']') : NULL;
	if (a && b) {
		*b = 0;
		snprintf(buf, len, "%s", a + 1);
	} else {
		snprintf(buf, len, "%s", line);
	}
	return buf;
}

static int write_str(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int e;

	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	e = n < 0 ? -errno : 0;
	close(fd);
	return e;
}

void mm_knob_set(const char *path, const char *value, const char *why)
{
	char old[128];
	int e;

	if (access(path, F_OK) != 0)
		mm_skip("%s: this kernel has no %s", why, path);
	mm_need_root(why);
	/* sysfs selectors read "a [b] c": keep the chosen word */
	if (strchr(mm_read_line(path, old, sizeof(old)) ? old : "", '['))
		mm_selected(path, old, sizeof(old));
	cr_assert_lt(mh.nknobs, MAX_KNOBS);
	snprintf(mh.knob[mh.nknobs].path, sizeof(mh.knob[0].path), "%s", path);
	snprintf(mh.knob[mh.nknobs].old, sizeof(mh.knob[0].old), "%s", old);
	mh.nknobs++;
	e = write_str(path, value);
	cr_assert_eq(e, 0, "cannot write %s to %s: %s", value, path, strerror(-e));
}

void mm_knobs_restore(void)
{
	while (mh.nknobs > 0) {
		mh.nknobs--;
		int e = write_str(mh.knob[mh.nknobs].path, mh.knob[mh.nknobs].old);
		if (e)
			fprintf(stderr, "cannot restore %s to %s: %s\n", mh.knob[mh.nknobs].path,
				mh.knob[mh.nknobs].old, strerror(-e));
	}
}

/* ---- smaps ---- */

struct vma_head {
	uint64_t start, end;
	char path[256];
};

static bool parse_head(const char *line, struct vma_head *h)
{
	unsigned long long s, e;
	int pos = 0;

	if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %n", &s, &e, &pos) != 2 || pos == 0)
		return false;
	h->start = s;
	h->end = e;
	copy(h->path, sizeof(h->path), line + pos);
	h->path[strcspn(h->path, "\n")] = 0;
	return true;
}

static bool is_guest(enum mm_kind kind, const struct vma_head *h, uint64_t size)
{
	switch (kind) {
	case MM_ANON:
		return h->path[0] == 0 && h->end - h->start == size;
	case MM_MEMFD:
		return strstr(h->path, "memfd:gmvm-ram") != NULL;
	case MM_GMEM:
		return strstr(h->path, "kvm-gmem") != NULL;
	}
	return false;
}

static uint64_t kb_field(const char *line, const char *key)
{
	size_t n = strlen(key);

	return strncmp(line, key, n) == 0 ? strtoull(line + n, NULL, 10) : 0;
}

bool mm_guest_vma(pid_t pid, enum mm_kind kind, uint64_t size, struct mm_vma *v)
{
	char path[64], line[512];
	struct vma_head h;
	bool in = false;
	FILE *f;

	memset(v, 0, sizeof(*v));
	v->thp_eligible = -1;
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "r");
	cr_assert(f, "cannot read %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (parse_head(line, &h)) {
			in = is_guest(kind, &h, size);
			if (in && v->n++ == 0) {
				v->start = h.start;
				v->end = h.end;
			}
			continue;
		}
		if (!in)
			continue;
		v->rss += kb_field(line, "Rss:");
		v->swap += kb_field(line, "Swap:");
		v->anon_huge += kb_field(line, "AnonHugePages:");
		v->shmem_pmd += kb_field(line, "ShmemPmdMapped:");
		v->file_pmd += kb_field(line, "FilePmdMapped:");
		v->hugetlb += kb_field(line, "Shared_Hugetlb:") + kb_field(line, "Private_Hugetlb:");
		v->locked += kb_field(line, "Locked:");
		if (strncmp(line, "KSM:", 4) == 0) {
			v->has_ksm = true;
			v->ksm += kb_field(line, "KSM:");
		}
		if (v->n == 1 && strncmp(line, "KernelPageSize:", 15) == 0)
			v->page_kb = (long)kb_field(line, "KernelPageSize:");
		if (v->n == 1 && strncmp(line, "THPeligible:", 12) == 0)
			v->thp_eligible = (int)kb_field(line, "THPeligible:");
		if (v->n == 1 && strncmp(line, "VmFlags:", 8) == 0)
		{
			copy(v->flags, sizeof(v->flags), line + 8);
			v->flags[strcspn(v->flags, "\n")] = 0;
		}
	}
	fclose(f);
	return v->n > 0;
}

bool mm_has_flag(const struct mm_vma *v, const char *code)
{
	char want[8];

	snprintf(want, sizeof(want), " %s", code);
	return strstr(v->flags, want) != NULL;
}

bool mm_any_flag(pid_t pid, const char *code)
{
	char path[64], line[512], want[8];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	snprintf(want, sizeof(want), " %s", code);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strncmp(line, "VmFlags:", 8) == 0 && strstr(line + 8, want);
	fclose(f);
	return found;
}

void mm_pfns(pid_t pid, uint64_t addr, size_t n, uint64_t *pfn)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert(fd >= 0, "cannot open %s: %s", path, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		uint64_t e = 0;
		off_t off = (off_t)((addr / 4096 + i) * 8);
		cr_assert_eq(pread(fd, &e, 8, off), 8, "cannot read %s: %s", path, strerror(errno));
		/* bit 63: present; bits 0-54: PFN (zero unless CAP_SYS_ADMIN) */
		pfn[i] = (e >> 63) ? e & ((1ull << 55) - 1) : 0;
	}
	close(fd);
}

/* ---- swap ---- */

static uint64_t swap_free_bytes(void)
{
	char line[512];
	uint64_t free_kb = 0;
	FILE *f = fopen("/proc/swaps", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long size, used;
		if (sscanf(line, "%*s %*s %llu %llu", &size, &used) == 2 && size > used)
			free_kb += size - used;
	}
	fclose(f);
	return free_kb * 1024;
}

void mm_swap_ensure(uint64_t bytes)
{
	char dev[32], path[96], cmd[128], size[32];
	long long id;

	if (swap_free_bytes() >= bytes)
		return;
	mm_need_root("making a swap device");
	if (access("/sys/class/zram-control/hot_add", F_OK) != 0 &&
	    system("modprobe zram num_devices=0 >/dev/null 2>&1") != 0)
		mm_skip("no swap with %" PRIu64 "M free and no zram to make one (modprobe zram failed)", bytes >> 20);
	id = mm_read_num("/sys/class/zram-control/hot_add");
	cr_assert_geq(id, 0, "zram hot_add gave no device");
	mh.zram = (int)id;
	snprintf(path, sizeof(path), "/sys/block/zram%d/disksize", mh.zram);
	snprintf(size, sizeof(size), "%" PRIu64, bytes * 2);
	cr_assert_eq(write_str(path, size), 0, "cannot size zram%d", mh.zram);
	snprintf(dev, sizeof(dev), "/dev/zram%d", mh.zram);
	snprintf(cmd, sizeof(cmd), "mkswap %s >/dev/null", dev);
	cr_assert_eq(system(cmd), 0, "mkswap %s failed", dev);
	cr_assert_eq(swapon(dev, 0), 0, "swapon %s: %s", dev, strerror(errno));
}

void mm_swap_cleanup(void)
{
	char dev[32], id[16];

	if (mh.zram < 0)
		return;
	snprintf(dev, sizeof(dev), "/dev/zram%d", mh.zram);
	if (swapoff(dev) != 0 && errno != EINVAL)
		fprintf(stderr, "swapoff %s: %s\n", dev, strerror(errno));
	snprintf(id, sizeof(id), "%d", mh.zram);
	if (write_str("/sys/class/zram-control/hot_remove", id) != 0)
		fprintf(stderr, "cannot remove zram%d\n", mh.zram);
	mh.zram = -1;
}

/* ---- cgroup v2 ---- */

/* Mount point of the cgroup2 hierarchy, from mountinfo ("" when none). */
static void cgroup2_root(char *out, size_t len)
{
	char line[1024], mnt[512], fstype[64];
	FILE *f = fopen("/proc/self/mountinfo", "r");

	out[0] = 0;
	if (!f)
		return;
	while (!out[0] && fgets(line, sizeof(line), f)) {
		char *dash = strstr(line, " - ");
		if (dash && sscanf(line, "%*s %*s %*s %*s %511s", mnt) == 1 &&
		    sscanf(dash + 3, "%63s", fstype) == 1 && strcmp(fstype, "cgroup2") == 0)
			copy(out, len, mnt);
	}
	fclose(f);
}

const char *mm_cgroup_make(void)
{
	char root[128], path[256], line[256];

	mm_need_root("a cgroup for gmvm");
	cgroup2_root(root, sizeof(root));
	if (!root[0])
		mm_skip("no cgroup v2 hierarchy is mounted: reclaim is asked of a cgroup (memory.reclaim)");
	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	if (!mm_read_line(path, line, sizeof(line)) || !strstr(line, "memory"))
		mm_skip("the cgroup v2 hierarchy at %s has no memory controller", root);
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", root);
	if (!mm_read_line(path, line, sizeof(line)) || !strstr(line, "memory"))
		cr_assert_eq(write_str(path, "+memory"), 0, "cannot enable the memory controller in %s", root);
	snprintf(mh.cgroup, sizeof(mh.cgroup), "%s/gmvm-guarantees-%d", root, (int)getpid());
	cr_assert(mkdir(mh.cgroup, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", mh.cgroup, strerror(errno));
	snprintf(path, sizeof(path), "%s/memory.reclaim", mh.cgroup);
	if (access(path, F_OK) != 0)
		mm_skip("this kernel has no memory.reclaim (Linux 5.19): cannot ask it to reclaim");
	return mh.cgroup;
}

void mm_cgroup_remove(void)
{
	if (!mh.cgroup[0])
		return;
	/* the last process may take a moment to leave */
	for (int i = 0; i < 50 && rmdir(mh.cgroup) != 0 && errno == EBUSY; i++)
		usleep(100000);
	mh.cgroup[0] = 0;
}

long long mm_cgroup_stat(const char *key)
{
	char path[256], line[256];
	size_t n = strlen(key);
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/memory.stat", mh.cgroup);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (v < 0 && fgets(line, sizeof(line), f))
		if (strncmp(line, key, n) == 0 && line[n] == ' ')
			v = strtoll(line + n + 1, NULL, 10);
	fclose(f);
	return v;
}

int mm_cgroup_reclaim(uint64_t bytes)
{
	char path[256], amount[32];

	snprintf(path, sizeof(path), "%s/memory.reclaim", mh.cgroup);
	snprintf(amount, sizeof(amount), "%" PRIu64, bytes);
	return write_str(path, amount);
}

bool mm_numa_policy(pid_t pid, uint64_t start, char *buf, size_t len)
{
	char path[64], line[1024], pol[128];
	unsigned long long a;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/numa_maps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%llx %127s", &a, pol) == 2 && a == start) {
			copy(buf, len, pol);
			found = true;
		}
	fclose(f);
	return found;
}

unsigned mm_numa_nodes(void)
{
	char line[256];
	unsigned n = 0;

	if (!mm_read_line("/sys/devices/system/node/online", line, sizeof(line)))
		return 1;
	/* "0", "0-3", "0,2-3" */
	for (char *tok = strtok(line, ","); tok; tok = strtok(NULL, ",")) {
		unsigned a, b;
		if (sscanf(tok, "%u-%u", &a, &b) == 2)
			n += b - a + 1;
		else
			n++;
	}
	return n;
}
