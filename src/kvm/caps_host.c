/*
 * kvm/caps_host.c: the host facts that decide what the host's own memory
 * management may do to guest memory: KSM, transparent hugepages, NUMA
 * balancing, swap, compaction of locked pages; how much memory this process
 * may lock; and whether guest_memfd folios can migrate.  Read from sysfs,
 * procfs, getrlimit and capget; recorded, never judged (mem/guarantees.c
 * judges).
 */
#include <cpuid.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "gmvm/caps.h"
#include "kvm/caps_host.h"
#include "kvm/uapi.h"

/* gmvm's names for the flags are the kernel's values. */
_Static_assert(GM_GMEM_FLAG_MMAP == GUEST_MEMFD_FLAG_MMAP, "GUEST_MEMFD_FLAG_MMAP");
_Static_assert(GM_GMEM_FLAG_INIT_SHARED == GUEST_MEMFD_FLAG_INIT_SHARED, "GUEST_MEMFD_FLAG_INIT_SHARED");
_Static_assert(GM_GMEM_FLAG_NO_DIRECT_MAP == GUEST_MEMFD_FLAG_NO_DIRECT_MAP, "GUEST_MEMFD_FLAG_NO_DIRECT_MAP");
_Static_assert(GM_VM_TYPE_SW_PROTECTED == 1ULL << KVM_X86_SW_PROTECTED_VM, "KVM_X86_SW_PROTECTED_VM");
_Static_assert(GM_MEM_ATTR_PRIVATE == KVM_MEMORY_ATTRIBUTE_PRIVATE, "KVM_MEMORY_ATTRIBUTE_PRIVATE");

#define THP_DIR "/sys/kernel/mm/transparent_hugepage"

static int read_int(const char *path)
{
	FILE *f = fopen(path, "re");
	int v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%d", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/* The chosen word of a sysfs choice file, "always [madvise] never" -> "madvise"; "" if none. */
static void read_choice(const char *path, char *out, size_t len)
{
	char line[256], *open, *close;
	FILE *f = fopen(path, "re");

	out[0] = '\0';
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && (open = strchr(line, '[')) && (close = strchr(open, ']'))) {
		*close = '\0';
		snprintf(out, len, "%s", open + 1);
	}
	fclose(f);
}

static int64_t swap_total(void)
{
	FILE *f = fopen("/proc/meminfo", "re");
	unsigned long long kb;
	char line[256];
	int64_t v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SwapTotal: %llu kB", &kb) == 1) {
			v = (int64_t)(kb << 10);
			break;
		}
	fclose(f);
	return v;
}

void gm_caps_probe_host_mm(struct gm_host_mm *h)
{
	memset(h, 0, sizeof(*h));
	h->ksm_run = read_int("/sys/kernel/mm/ksm/run");
	read_choice(THP_DIR "/enabled", h->thp_enabled, sizeof(h->thp_enabled));
	read_choice(THP_DIR "/defrag", h->thp_defrag, sizeof(h->thp_defrag));
	read_choice(THP_DIR "/shmem_enabled", h->thp_shmem, sizeof(h->thp_shmem));
	h->numa_balancing = read_int("/proc/sys/kernel/numa_balancing");
	h->swap_total = swap_total();
	h->compact_unevictable = read_int("/proc/sys/vm/compact_unevictable_allowed");
}

/* CAP_IPC_LOCK in the effective set: mlock ignores RLIMIT_MEMLOCK. */
static bool has_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		return false;
	return data[CAP_IPC_LOCK / 32].effective & (1u << (CAP_IPC_LOCK % 32));
}

void gm_caps_probe_memlock(struct gm_caps *caps)
{
	struct rlimit rl;

	caps->memlock_probed = getrlimit(RLIMIT_MEMLOCK, &rl) == 0;
	if (caps->memlock_probed)
		caps->memlock_limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
	caps->cap_ipc_lock = has_ipc_lock();
}

/*
 * Whether guest_memfd folios can migrate.  Every released kernel marks the
 * guest_memfd mapping unmovable (mapping_set_unmovable), so this is false.
 * The RFC "KVM: guest_memfd: folio migration for non-confidential VMs"
 * (Shivank Garg, June 2026) makes them movable for VMs without private
 * memory, without a capability to ask.  A kernel with it would be
 * recognised, in order of preference, by: a KVM_CAP_GUEST_MEMFD_FLAGS bit
 * or KVM capability if the series grows one (then test it here); or, on a
 * host with two online NUMA nodes, by faulting one page of a throwaway
 * guest_memfd (created with MMAP|INIT_SHARED) on node A and asking
 * move_pages(2) to move it to node B: an unmovable mapping reports -EBUSY
 * (or -ENOMEM/-EINVAL) in the page's status, a movable one reports B.
 * Until then gmvm refuses movable=on for guest-memfd.
 */
void gm_caps_probe_gmem_movable(struct gm_caps *caps)
{
	caps->gmem_movable = false;
}

/*
 * The host's own CPUID: CPUID.1:ECX.VMX (bit 5) and CPUID.80000001h:ECX.SVM
 * (bit 2).  With neither, a working /dev/kvm cannot be hardware-assisted:
 * it is a software design such as PVM (module kvm_pvm), which runs guest
 * user code natively and everything at guest CPL0 through KVM's
 * instruction emulator (shared/KERNEL.md, "Booting Linux here").
 */
bool gm_caps_probe_cpl0_emulated(void)
{
	unsigned eax, ebx, ecx, edx;
	bool vmx = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 5));
	bool svm = __get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 2));

	return !vmx && !svm;
}
