/*
 * gm_config: what the user asked for, as plain data.  Building one has no
 * side effects; checking it against the kernel happens in gm_memory_check()
 * and gm_machine_create(), before any VM exists.
 */
#ifndef GMVM_CONFIG_H
#define GMVM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "gmvm/error.h"

enum gm_backend {
	GM_BACKEND_GUEST_MEMFD, /* KVM_CREATE_GUEST_MEMFD, the default */
	GM_BACKEND_MEMFD,       /* memfd_create, MFD_HUGETLB for 2M/1G */
	GM_BACKEND_ANON,        /* private anonymous mmap */
};

enum gm_bind {
	GM_BIND_GMEM,   /* KVM_MEM_GUEST_MEMFD: KVM faults from guest_memfd */
	GM_BIND_MAPPED, /* the host mapping as an ordinary memslot */
};

enum gm_console {
	GM_CONSOLE_STDIO,
	GM_CONSOLE_FILE,
	GM_CONSOLE_NONE,
};

enum gm_entry {
	GM_ENTRY_AUTO,    /* 64-bit Linux boot protocol if the ELF is x86-64, else PVH */
	GM_ENTRY_LINUX64, /* long mode, boot_params in %rsi */
	GM_ENTRY_PVH,     /* Xen PVH: 32-bit flat, hvm_start_info in %ebx */
};

#define GM_PAGE_4K (UINT64_C(4) << 10)
#define GM_PAGE_2M (UINT64_C(2) << 20)
#define GM_PAGE_1G (UINT64_C(1) << 30)

#define GM_MAX_CPUS 64

struct gm_mem_config {
	uint64_t size;           /* bytes of guest RAM */
	enum gm_backend backend;
	uint64_t page_size;      /* GM_PAGE_4K, GM_PAGE_2M or GM_PAGE_1G */
	bool prealloc;
	bool track_dirty;        /* log the guest's writes from boot (for diff snapshots) */
	int numa_node;           /* -1: no policy */
	enum gm_bind bind;
	bool bind_given;         /* bind= was on the command line */
	bool given;              /* --memory was on the command line (a restore keeps the rest) */
};

struct gm_config {
	struct gm_mem_config mem;
	unsigned cpus;              /* 1..GM_MAX_CPUS */
	const char *kernel;         /* path of the guest ELF */
	const char *cmdline;        /* guest command line, may be NULL */
	enum gm_entry entry;
	enum gm_console console;
	const char *console_path;   /* for GM_CONSOLE_FILE */
	double timeout;             /* seconds, 0 = none */
	bool trace_startup;
	const char *uuid;           /* --uuid: the VM's identity; NULL: a new one */
	/* --restore DIR (repeated: a chain, base first) instead of a guest image */
#define GM_MAX_RESTORE 64
	const char *restore[GM_MAX_RESTORE];
	unsigned nrestore;
	bool new_identity;          /* --new-identity: a restored clone gets its own UUID */
	int restore_mode;           /* enum gm_restore_mode (gmvm/snapshot.h) */
	/* The owner's side (gmvm run), kept here so vm.info can show them. */
	const char *api_sock;       /* --api-sock PATH, NULL: no API */
	const char *event_monitor;  /* --event-monitor path=FILE|fd=N, NULL: none */
};

/* Fill cfg with the defaults: 1 vCPU, 256 MiB guest-memfd, bind=gmem, stdio. */
void gm_config_defaults(struct gm_config *cfg);

/*
 * Parse "size=SIZE[,backend=...][,hugepages=...][,prealloc=...][,numa-node=N]
 * [,bind=...]" into mem (which should hold defaults).  Syntax and
 * self-consistency only; kernel support is checked by gm_memory_check().
 * Returns 0 or -EINVAL with err->status = GM_STATUS_BAD_INPUT.
 */
int gm_mem_config_parse(const char *opt, struct gm_mem_config *mem, struct gm_error *err);

/* Parse "512M", "1G", "4096", "2T" (binary units, optional trailing B/iB). */
int gm_parse_size(const char *s, uint64_t *out, struct gm_error *err);

/* A VM UUID: parse "8-4-4-4-12" hex, format it (36 characters + NUL), make a new v4 one. */
int gm_uuid_parse(const char *s, uint8_t out[16], struct gm_error *err);
void gm_uuid_format(const uint8_t u[16], char out[37]);
int gm_uuid_generate(uint8_t out[16], struct gm_error *err);

const char *gm_backend_name(enum gm_backend b);
const char *gm_bind_name(enum gm_bind b);

#endif
