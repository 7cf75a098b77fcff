/* Helpers shared by the memory-plane tests: hand-built caps, configs, a tiny VM. */
#ifndef GM_MEM_TEST_H
#define GM_MEM_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmvm/caps.h"
#include "gmvm/config.h"
#include "gmvm/memory.h"
#include "kvm/kvm.h"

#define MT_MIB (UINT64_C(1) << 20)
#define MT_GIB (UINT64_C(1) << 30)

/* Caps of a roomy machine with everything today's kernel has (no gmem huge flag). */
struct gm_caps mt_caps_generous(void);

/* The live kernel's caps; skips the test when /dev/kvm is unusable. */
struct gm_caps mt_caps_real(void);

/* A config as the parser would make it: 4K pages, no prealloc, no NUMA, default bind. */
struct gm_mem_config mt_cfg(enum gm_backend backend, uint64_t size);

/* Pages of [p, p+len) resident per mincore(2). */
size_t mt_resident_pages(const void *p, size_t len);

bool mt_all_bytes(const void *p, size_t len, uint8_t value);

/* Open fds of this process (to catch leaks): test_open_fds. */
#include "../fd_count.h"

/* A VM with one vCPU that runs real-mode code from guest memory. */
struct mt_vm {
	int kvm_fd;
	int vm_fd;
	int vcpu_fd;
	struct kvm_run *run;
};

/* Open /dev/kvm and create a VM; skips the test without KVM. */
void mt_vm_open(struct mt_vm *vm);
void mt_vm_close(struct mt_vm *vm);

/*
 * Run a guest (code placed at gpa 0x1000 through the hva) that reads the byte
 * at gpa 0x2000, reports it with OUT to port 0x10, writes 0x5a to gpa 0x2001
 * and halts.  Returns the byte the guest read, or -1 if the guest did not
 * behave (the reason is printed).
 */
int mt_vm_peek_poke(struct mt_vm *vm, struct gm_memory *mem);

#endif
