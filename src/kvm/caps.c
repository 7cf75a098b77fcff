/*
 * kvm/caps.c: the capability probe.  Asks the live kernel (KVM_CHECK_EXTENSION
 * on /dev/kvm and on one throwaway VM, sysfs, procfs, and a few syscalls tried
 * for real) what it can do for guest memory, and records the answers in a
 * gm_caps.  Nothing here decides policy; absence is recorded, not reported.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "gmvm/caps.h"
#include "kvm/caps_host.h"
#include "kvm/kvm.h"

#define HUGEPAGES_DIR "/sys/kernel/mm/hugepages"
#define NODE_ONLINE "/sys/devices/system/node/online"
#define GMEM_PROBE_SIZE (UINT64_C(2) << 20)

/* Read one integer from a sysfs/procfs file; -1 when unreadable. */
static long read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static void probe_hugetlb(struct gm_caps *caps)
{
	DIR *d = opendir(HUGEPAGES_DIR);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) && caps->n_hugetlb < GM_MAX_HUGETLB_SIZES) {
		struct gm_hugetlb_pool pool;
		unsigned long kb;
		char path[512];
		char tail;
		int i;

		if (sscanf(de->d_name, "hugepages-%lukB%c", &kb, &tail) != 1)
			continue;
		pool.page_size = (uint64_t)kb << 10;
		snprintf(path, sizeof(path), HUGEPAGES_DIR "/%s/nr_hugepages", de->d_name);
		pool.total = read_long(path);
		snprintf(path, sizeof(path), HUGEPAGES_DIR "/%s/free_hugepages", de->d_name);
		pool.free = read_long(path);
		if (pool.total < 0 || pool.free < 0)
			continue;
		/* readdir order is arbitrary; keep the pools sorted by size. */
		for (i = caps->n_hugetlb; i > 0 && caps->hugetlb[i - 1].page_size > pool.page_size; i--)
			caps->hugetlb[i] = caps->hugetlb[i - 1];
		caps->hugetlb[i] = pool;
		caps->n_hugetlb++;
	}
	closedir(d);
}

/* Parse a sysfs cpulist-style string ("0-3,5") into a node mask. */
static void parse_node_list(const char *s, struct gm_caps *caps)
{
	while (*s) {
		char *end;
		unsigned long lo = strtoul(s, &end, 10), hi = lo;

		if (end == s)
			break;
		s = end;
		if (*s == '-') {
			hi = strtoul(s + 1, &end, 10);
			if (end == s + 1)
				break;
			s = end;
		}
		for (unsigned long n = lo; n <= hi && n < 64; n++)
			caps->numa_node_mask |= UINT64_C(1) << n;
		if (*s != ',')
			break;
		s++;
	}
	caps->numa_nodes = __builtin_popcountll(caps->numa_node_mask);
}

static void probe_numa(struct gm_caps *caps)
{
	char buf[256] = "";
	FILE *f = fopen(NODE_ONLINE, "re");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	parse_node_list(buf, caps);
	/* A kernel without CONFIG_NUMA has no node directory: one node, node 0. */
	if (caps->numa_nodes == 0) {
		caps->numa_nodes = 1;
		caps->numa_node_mask = 1;
	}
}

static void probe_host(struct gm_caps *caps)
{
	struct utsname u;
	char line[256];
	FILE *f;

	if (uname(&u) == 0)
		snprintf(caps->kernel_release, sizeof(caps->kernel_release), "%s", u.release);
	f = fopen("/proc/meminfo", "re");
	if (f) {
		unsigned long long kb;

		while (fgets(line, sizeof(line), f)) {
			if (sscanf(line, "MemTotal: %llu kB", &kb) == 1) {
				caps->host_ram = (uint64_t)kb << 10;
				break;
			}
		}
		fclose(f);
	}
}

static void probe_memfd_secret(struct gm_caps *caps)
{
	long fd = syscall(SYS_memfd_secret, 0);

	if (fd >= 0) {
		close((int)fd);
		caps->memfd_secret = true;
	}
}

/*
 * A working userfaultfd, or -errno.  When vm.unprivileged_userfaultfd=0 denies
 * the syscall, /dev/userfaultfd may still grant one by file permission; if
 * both refuse, the feature is present but denied (-EPERM).
 */
static int open_uffd(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int ret;

	if (fd < 0 && (errno == EPERM || errno == EACCES)) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

		if (dev < 0)
			return -EPERM;
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		close(dev);
		if (fd < 0)
			return -EPERM;
	}
	if (fd < 0)
		return -errno;
	ret = gm_ioctl(fd, UFFDIO_API, &api);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

/*
 * Postcopy migration of guest_memfd memory needs missing-page faults on its
 * mapping.  Record 0 or the errno of the first step that failed, so the
 * caller can tell "denied" (EPERM) from "guest_memfd refuses" (EINVAL).
 */
static void probe_uffd_on_gmem(struct gm_caps *caps, int vm_fd, int uffd)
{
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	uint64_t flags = caps->gmem_flags & (GM_GMEM_FLAG_MMAP | GM_GMEM_FLAG_INIT_SHARED);
	void *map;
	int gmem;

	caps->uffd_probed = true;
	if (uffd < 0) {
		caps->uffd_on_gmem = -uffd;
		return;
	}
	gmem = gm_kvm_create_guest_memfd(vm_fd, GMEM_PROBE_SIZE, flags, NULL);
	if (gmem < 0) {
		caps->uffd_on_gmem = -gmem;
		return;
	}
	map = mmap(NULL, GMEM_PROBE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, gmem, 0);
	if (map == MAP_FAILED) {
		caps->uffd_on_gmem = errno;
		close(gmem);
		return;
	}
	reg.range.start = (uintptr_t)map;
	reg.range.len = GMEM_PROBE_SIZE;
	caps->uffd_on_gmem = -gm_ioctl(uffd, UFFDIO_REGISTER, &reg);
	munmap(map, GMEM_PROBE_SIZE);
	close(gmem);
}

int gm_caps_uffd_on_gmem(int vm_fd, uint64_t gmem_flags)
{
	struct gm_caps c = { .gmem_flags = gmem_flags };
	int uffd = open_uffd();

	probe_uffd_on_gmem(&c, vm_fd, uffd);
	if (uffd >= 0)
		close(uffd);
	return c.uffd_on_gmem;
}

/* A VM with no memslots answers KVM_GET_DIRTY_LOG with ENOENT iff it has the
 * ioctl at all. */
static bool probe_dirty_log(int vm_fd)
{
	struct kvm_dirty_log log = { .slot = 0 };

	return gm_ioctl(vm_fd, KVM_GET_DIRTY_LOG, &log) == -ENOENT;
}

/*
 * Per-VM capabilities depend on the VM type (a protected VM may differ), so
 * they are asked of a real default VM; the system fd answers only when no VM
 * could be created.
 */
/*
 * KVM_LINK_GUEST_MEMFD has no capability: ask with fd -1.  A kernel without
 * it answers ENOTTY (x86's VM ioctl default); the RFC's code looks the fd
 * up first and answers EBADF.  Anything else is not the ioctl we mean.
 */
static bool probe_gmem_link(int vm_fd)
{
	struct gm_kvm_link_guest_memfd link = { .fd = UINT64_MAX };

	return ioctl(vm_fd, GM_KVM_LINK_GUEST_MEMFD, &link) < 0 && errno == EBADF;
}

static void probe_kvm(struct gm_caps *caps, int kvm_fd, int vm_fd)
{
	int fd = vm_fd >= 0 ? vm_fd : kvm_fd;
	long types = gm_kvm_check(fd, KVM_CAP_VM_TYPES);

	/* Kernels before VM types know only the default VM. */
	caps->vm_types = types > 0 ? (uint64_t)types : UINT64_C(1) << KVM_X86_DEFAULT_VM;
	caps->max_vcpus = (unsigned)gm_kvm_check(fd, KVM_CAP_MAX_VCPUS);
	caps->irqchip = gm_kvm_check(fd, KVM_CAP_SPLIT_IRQCHIP) > 0;
	caps->guest_memfd = gm_kvm_check(fd, KVM_CAP_GUEST_MEMFD) > 0;
	caps->gmem_flags = caps->guest_memfd ? (uint64_t)gm_kvm_check(fd, KVM_CAP_GUEST_MEMFD_FLAGS) : 0;
	caps->user_memory2 = gm_kvm_check(fd, KVM_CAP_USER_MEMORY2) > 0;
	caps->memory_attributes = (uint64_t)gm_kvm_check(fd, KVM_CAP_MEMORY_ATTRIBUTES);
	caps->pre_fault_memory = gm_kvm_check(fd, KVM_CAP_PRE_FAULT_MEMORY) > 0;
	caps->memory_fault_info = gm_kvm_check(fd, KVM_CAP_MEMORY_FAULT_INFO) > 0;
	caps->readonly_mem = gm_kvm_check(fd, KVM_CAP_READONLY_MEM) > 0;
	caps->dirty_log = vm_fd >= 0 && probe_dirty_log(vm_fd);
	caps->dirty_log_manual = (gm_kvm_check(fd, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) &
				  KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) != 0;
	caps->dirty_ring_bytes = (uint64_t)gm_kvm_check(fd, KVM_CAP_DIRTY_LOG_RING);
	caps->dirty_ring_acq_rel = gm_kvm_check(fd, KVM_CAP_DIRTY_LOG_RING_ACQ_REL) > 0;
	caps->nr_memslots = (unsigned)gm_kvm_check(fd, KVM_CAP_NR_MEMSLOTS);
	caps->gmem_link = vm_fd >= 0 && caps->guest_memfd && probe_gmem_link(vm_fd);
}

int gm_caps_probe(struct gm_caps *caps, unsigned flags, struct gm_error *err)
{
	int kvm_fd, vm_fd, uffd;

	memset(caps, 0, sizeof(*caps));
	probe_host(caps);
	probe_numa(caps);
	probe_hugetlb(caps);
	/* what the host's memory management may do to guest memory, and how much may be pinned */
	gm_caps_probe_host_mm(&caps->host_mm);
	gm_caps_probe_memlock(caps);
	/* Secret memory and userfaultfd matter to `gmvm probe`, not to booting a
	 * guest: they cost two syscalls and an fd each, so only the full probe tries. */
	if (flags & GM_PROBE_FULL) {
		probe_memfd_secret(caps);
		uffd = open_uffd();
		caps->userfaultfd = uffd >= 0;
	} else {
		uffd = -ENOSYS;
	}

	kvm_fd = gm_kvm_open(err);
	if (kvm_fd < 0) {
		if (uffd >= 0)
			close(uffd);
		return kvm_fd;
	}
	caps->kvm = true;
	caps->api_version = KVM_API_VERSION;
	caps->cpl0_emulated = gm_caps_probe_cpl0_emulated();

	/* One VM serves every per-VM question; failing to create it is not
	 * fatal here, the system fd's answers are recorded instead. */
	vm_fd = gm_kvm_create_vm(kvm_fd, NULL);
	probe_kvm(caps, kvm_fd, vm_fd);
	if (caps->guest_memfd)
		gm_caps_probe_gmem_movable(caps);
	if ((flags & GM_PROBE_FULL) && vm_fd >= 0 && caps->guest_memfd)
		probe_uffd_on_gmem(caps, vm_fd, uffd);

	if (uffd >= 0)
		close(uffd);
	if (vm_fd >= 0)
		close(vm_fd);
	close(kvm_fd);
	return 0;
}

const struct gm_hugetlb_pool *gm_caps_hugetlb(const struct gm_caps *caps, uint64_t page_size)
{
	for (int i = 0; i < caps->n_hugetlb; i++)
		if (caps->hugetlb[i].page_size == page_size)
			return &caps->hugetlb[i];
	return NULL;
}
