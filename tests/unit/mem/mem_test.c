/* Helpers shared by the memory-plane tests. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem_test.h"

struct gm_caps mt_caps_generous(void)
{
	struct gm_caps c;

	memset(&c, 0, sizeof(c));
	c.kvm = true;
	c.api_version = 12;
	c.guest_memfd = true;
	c.gmem_flags = GM_GMEM_FLAG_MMAP | GM_GMEM_FLAG_INIT_SHARED;
	c.user_memory2 = true;
	c.dirty_log = true;
	c.nr_memslots = 32764;
	c.n_hugetlb = 2;
	c.hugetlb[0] = (struct gm_hugetlb_pool){ .page_size = GM_PAGE_2M, .total = 100000, .free = 100000 };
	c.hugetlb[1] = (struct gm_hugetlb_pool){ .page_size = GM_PAGE_1G, .total = 100, .free = 100 };
	c.numa_nodes = 1;
	c.numa_node_mask = 1;
	c.host_ram = UINT64_C(1) << 40;
	return c;
}

struct gm_caps mt_caps_real(void)
{
	struct gm_caps c;
	struct gm_error err = { 0 };

	memset(&c, 0, sizeof(c));
	if (gm_caps_probe(&c, GM_PROBE_FAST, &err) < 0)
		cr_skip_test("no usable KVM: %s", err.msg);
	return c;
}

struct gm_mem_config mt_cfg(enum gm_backend backend, uint64_t size)
{
	struct gm_mem_config m = {
		.size = size,
		.backend = backend,
		.page_size = GM_PAGE_4K,
		.prealloc = false,
		.numa_node = -1,
		.bind = backend == GM_BACKEND_GUEST_MEMFD ? GM_BIND_GMEM : GM_BIND_MAPPED,
		.bind_given = false,
	};
	return m;
}

size_t mt_resident_pages(const void *p, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = (len + page - 1) / page, count = 0;
	unsigned char *vec = calloc(n, 1);

	cr_assert_not_null(vec);
	cr_assert_eq(mincore((void *)p, len, vec), 0, "mincore: %s", strerror(errno));
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	free(vec);
	return count;
}

bool mt_all_bytes(const void *p, size_t len, uint8_t value)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		if (b[i] != value)
			return false;
	return true;
}


void mt_vm_open(struct mt_vm *vm)
{
	struct gm_error err = { 0 };

	memset(vm, 0, sizeof(*vm));
	vm->kvm_fd = gm_kvm_open(&err);
	if (vm->kvm_fd < 0)
		cr_skip_test("no usable KVM: %s", err.msg);
	vm->vm_fd = gm_kvm_create_vm(vm->kvm_fd, &err);
	cr_assert_geq(vm->vm_fd, 0, "%s", err.msg);
	vm->vcpu_fd = -1;
}

void mt_vm_close(struct mt_vm *vm)
{
	if (vm->run)
		gm_kvm_unmap_run(vm->kvm_fd, vm->run);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	memset(vm, 0xff, sizeof(*vm));
	vm->run = NULL;
}

static const uint8_t peek_poke_code[] = {
	0xa0, 0x00, 0x20,                   /* mov al, [0x2000] */
	0xe6, 0x10,                         /* out 0x10, al */
	0xc6, 0x06, 0x01, 0x20, 0x5a,       /* mov byte [0x2001], 0x5a */
	0xf4,                               /* hlt */
};

int mt_vm_peek_poke(struct mt_vm *vm, struct gm_memory *mem)
{
	struct gm_error err = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = 0x1000, .rflags = 0x2 };
	uint8_t *code = gm_memory_hva(mem, 0x1000, sizeof(peek_poke_code));
	int seen;

	cr_assert_not_null(code);
	memcpy(code, peek_poke_code, sizeof(peek_poke_code));
	if (vm->vcpu_fd < 0) {
		vm->vcpu_fd = gm_kvm_create_vcpu(vm->vm_fd, 0, &err);
		cr_assert_geq(vm->vcpu_fd, 0, "%s", err.msg);
		vm->run = gm_kvm_map_run(vm->kvm_fd, vm->vcpu_fd, &err);
		cr_assert_not_null(vm->run, "%s", err.msg);
	}
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs), 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs), 0);
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_SET_REGS, &regs), 0);

	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_RUN, NULL), 0);
	if (vm->run->exit_reason != KVM_EXIT_IO || vm->run->io.port != 0x10) {
		cr_log_error("guest exit %u (port 0x%x), expected port I/O on 0x10",
			     vm->run->exit_reason, vm->run->io.port);
		return -1;
	}
	seen = *((uint8_t *)vm->run + vm->run->io.data_offset);
	cr_assert_eq(gm_ioctl(vm->vcpu_fd, KVM_RUN, NULL), 0);
	if (vm->run->exit_reason != KVM_EXIT_HLT) {
		cr_log_error("guest exit %u, expected HLT", vm->run->exit_reason);
		return -1;
	}
	return seen;
}
