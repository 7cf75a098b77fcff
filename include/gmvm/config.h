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

/* Where KVM reports the pages the guest writes while dirty tracking is on. */
enum gm_dirty_log {
	GM_DIRTY_LOG_AUTO,   /* the ring when the kernel has it, else the bitmap */
	GM_DIRTY_LOG_RING,   /* per-vCPU dirty rings (KVM_CAP_DIRTY_LOG_RING) */
	GM_DIRTY_LOG_BITMAP, /* one bitmap per memslot (KVM_GET_DIRTY_LOG) */
};

#define GM_PAGE_4K (UINT64_C(4) << 10)
#define GM_PAGE_2M (UINT64_C(2) << 20)
#define GM_PAGE_1G (UINT64_C(1) << 30)

#define GM_MAX_CPUS 64

/* A machine's memory regions: "ram" (--memory) and the ones --region adds. */
#define GM_MAX_REGIONS 8
#define GM_REGION_NAME_MAX 15   /* bytes, without the NUL: [a-z0-9-] */
#define GM_RAM_REGION "ram"

struct gm_mem_config {
	uint64_t size;           /* bytes of guest RAM */
	enum gm_backend backend;
	uint64_t page_size;      /* GM_PAGE_4K, GM_PAGE_2M or GM_PAGE_1G */
	bool prealloc;
	bool track_dirty;        /* log the guest's writes from boot (for diff snapshots) */
	int numa_node;           /* -1: no policy */
	enum gm_bind bind;
	bool bind_given;         /* bind= was on the command line */
	/*
	 * movable=: may the host's memory management move these pages
	 * (compaction, migration, swap)?  Off pins memfd/anon (src/mem/pin.c);
	 * guest-memfd is unmovable on kernels whose guest_memfd folios cannot
	 * migrate.  Without movable= it follows the backend: off for
	 * guest-memfd, on for memfd and anon.
	 */
	bool movable;
	bool movable_given;      /* movable= was on the command line */
	bool no_direct_map;      /* direct-map=off: guest-memfd out of the kernel's direct map (0: in it, as ever) */
	bool private_mem;        /* private=on: private memory (KVM_MEMORY_ATTRIBUTE_PRIVATE) */
	bool given;              /* --memory was on the command line (a restore keeps the rest) */
};

/*
 * A region beside the RAM: a memory object of its own with a name, placed
 * in guest-physical space above the RAM and shown to the guest as RAM.
 */
struct gm_region_config {
	char name[GM_REGION_NAME_MAX + 1];
	struct gm_mem_config mem;  /* size 0: not given (a restore takes the snapshot's) */
	uint64_t gpa;              /* where it starts; 0: the machine places it */
};

/* A virtio-blk disk (--disk path=FILE[,readonly=on][,direct=on]). */
#define GM_MAX_DISKS 8
#define GM_DISK_PATH_MAX 4096
struct gm_disk_config {
	char path[GM_DISK_PATH_MAX]; /* a regular file or a block device */
	bool readonly;     /* the guest sees VIRTIO_BLK_F_RO; the file is opened O_RDONLY */
	bool direct;       /* O_DIRECT: no host page cache */
};

/*
 * A virtio-net interface: --net user[,hostfwd=udp|tcp:[ADDR:]HOSTPORT-[:]GUESTPORT]...[,mac=MAC]
 * (user-mode networking through libslirp: 10.0.2.0/24, the guest 10.0.2.15,
 * the host 10.0.2.2, DNS 10.0.2.3) or --net tap=NAME[,mac=MAC].
 */
#define GM_MAX_NETS 4
#define GM_MAX_HOSTFWD 8
#define GM_TAP_NAME_MAX 15          /* IFNAMSIZ - 1 */
enum gm_net_kind {
	GM_NET_USER,
	GM_NET_TAP,
};
struct gm_hostfwd {
	bool udp;                   /* else tcp */
	uint32_t host_addr;         /* IPv4, network order; 127.0.0.1 unless given */
	uint16_t host_port;         /* 1..65535 */
	uint16_t guest_port;        /* 1..65535, to the guest's 10.0.2.15 */
};
struct gm_net_config {
	enum gm_net_kind kind;
	char tap[GM_TAP_NAME_MAX + 1];   /* GM_NET_TAP: the interface (made if absent, as root) */
	struct gm_hostfwd fwd[GM_MAX_HOSTFWD];
	unsigned nfwd;
	uint8_t mac[6];
	bool mac_given;             /* else made from the VM's UUID and the interface's index */
};

/* --balloon[,free-page-reporting=on|off][,deflate-on-oom=on|off]: a virtio-balloon. */
struct gm_balloon_config {
	bool on;
	bool free_page_reporting;   /* VIRTIO_BALLOON_F_REPORTING offered; default on */
	bool deflate_on_oom;        /* VIRTIO_BALLOON_F_DEFLATE_ON_OOM offered; default off */
};

struct gm_config {
	struct gm_mem_config mem;   /* the region "ram" */
	/* --region, in order: at most GM_MAX_REGIONS - 1, "ram" is never one */
	struct gm_region_config regions[GM_MAX_REGIONS - 1];
	unsigned nregions;
	unsigned cpus;              /* 1..GM_MAX_CPUS */
	const char *kernel;         /* path of the guest ELF */
	const char *cmdline;        /* guest command line, may be NULL */
	const char *initrd;         /* --initrd PATH: an initial ramdisk for a Linux kernel, NULL: none */
	/*
	 * --cpu TEMPLATE[,+FEATURE|,-FEATURE...]: what the vCPUs' CPUID shows
	 * (host: all KVM supports; minimal: a baseline x86-64), each FEATURE a
	 * CPUID name shown or hidden on every vCPU.  NULL: "host".  Checked by
	 * the machine before any VM exists.
	 */
	const char *cpu;
	enum gm_entry entry;
	enum gm_console console;
	const char *console_path;   /* for GM_CONSOLE_FILE */
	double timeout;             /* seconds, 0 = none */
	bool trace_startup;
	enum gm_dirty_log dirty_log; /* --dirty-log; chosen per VM, before any vCPU exists */
	const char *uuid;           /* --uuid: the VM's identity; NULL: a new one */
	/* --restore DIR (repeated: a chain, base first) instead of a guest image */
#define GM_MAX_RESTORE 64
	const char *restore[GM_MAX_RESTORE];
	unsigned nrestore;
	bool new_identity;          /* --new-identity: a restored clone gets its own UUID */
	int restore_mode;           /* enum gm_restore_mode (gmvm/snapshot.h) */
	/* --incoming URL: the guest comes from a migration sender instead of an image */
	const char *incoming;          /* tcp:HOST:PORT or unix:PATH, checked; NULL: none */
	const char *incoming_identity; /* --incoming-identity UUID: refuse any other VM; NULL: any */
	double incoming_timeout;       /* --incoming-timeout: seconds to wait for the sender, 0 = for ever */
	/* --takeover FD (hidden): a live update's new process; the guest comes over fd */
	int takeover_fd;               /* -1: none */
	const char *test_update_die;   /* --test-update-die PHASE: tests kill the new process there */
	/* virtio-mmio devices: --disk (in order: vda, vdb, ...), --device virtio-console|virtio-rng */
	struct gm_disk_config disks[GM_MAX_DISKS];
	unsigned ndisks;
	bool virtio_console;        /* hvc0, beside the 8250; output goes where --console says */
	bool virtio_rng;            /* entropy from the host's getrandom() */
	struct gm_net_config nets[GM_MAX_NETS]; /* --net, in order: eth0, eth1, ... */
	unsigned nnets;
	struct gm_balloon_config balloon;       /* --balloon */
	/* The owner's side (gmvm run), kept here so vm.info can show them. */
	const char *api_sock;       /* --api-sock PATH, NULL: no API */
	const char *event_monitor;  /* --event-monitor path=FILE|fd=N, NULL: none */
	int seccomp;                /* --seccomp: 0 on (the default), 1 log, 2 off (the CLI's enum gm_seccomp_mode) */
};

/* Fill cfg with the defaults: 1 vCPU, 256 MiB guest-memfd, bind=gmem, stdio. */
void gm_config_defaults(struct gm_config *cfg);

/*
 * Parse "size=SIZE[,backend=...][,hugepages=...][,prealloc=...][,numa-node=N]
 * [,bind=...][,track-dirty=...][,movable=...][,direct-map=...][,private=...]" into mem (which should hold defaults).  Syntax and
 * self-consistency only; kernel support is checked by gm_memory_check().
 * Returns 0 or -EINVAL with err->status = GM_STATUS_BAD_INPUT.
 */
int gm_mem_config_parse(const char *opt, struct gm_mem_config *mem, struct gm_error *err);

/*
 * Parse "name=NAME[,size=SIZE][,backend=...]...": name= and the keys of
 * gm_mem_config_parse, in any order, into r (reset to the defaults of
 * --memory with size 0 first).  Syntax and the name only: a missing size,
 * duplicate names and the count are gm_regions_check's.
 */
int gm_region_config_parse(const char *opt, struct gm_region_config *r, struct gm_error *err);

/* A region name: 1 to GM_REGION_NAME_MAX characters of a-z, 0-9 and '-'. */
int gm_region_name_check(const char *name, struct gm_error *err);

/*
 * cfg's regions as a whole: valid names, none twice, none "ram", at most
 * GM_MAX_REGIONS with the RAM, and (need_size) each with a size.  Messages
 * start "--region NAME: ".
 */
int gm_regions_check(const struct gm_config *cfg, bool need_size, struct gm_error *err);

/*
 * Parse "path=FILE[,readonly=on|off][,direct=on|off]" (or just FILE, with no
 * comma) into d.  Syntax only: the file is opened when the machine is built.
 */
int gm_disk_config_parse(const char *opt, struct gm_disk_config *d, struct gm_error *err);

/* Parse a --net value ("user[,hostfwd=...][,mac=...]" or "tap=NAME[,mac=...]") into n.  Syntax only. */
int gm_net_config_parse(const char *opt, struct gm_net_config *n, struct gm_error *err);

/* Parse a --balloon value ("" or "free-page-reporting=on|off,deflate-on-oom=on|off") into b (on set). */
int gm_balloon_config_parse(const char *opt, struct gm_balloon_config *b, struct gm_error *err);

/* Parse "512M", "1G", "4096", "2T" (binary units, optional trailing B/iB). */
int gm_parse_size(const char *s, uint64_t *out, struct gm_error *err);

/* A VM UUID: parse "8-4-4-4-12" hex, format it (36 characters + NUL), make a new v4 one. */
int gm_uuid_parse(const char *s, uint8_t out[16], struct gm_error *err);
void gm_uuid_format(const uint8_t u[16], char out[37]);
int gm_uuid_generate(uint8_t out[16], struct gm_error *err);

/*
 * Whether mem may move: movable= when given, else the backend's nature (off
 * for guest-memfd, on for memfd and anon).  Code that builds a gm_mem_config
 * without the parser (a restore, a re-home target) gets the backend's default
 * by leaving movable_given false.
 */
static inline bool gm_mem_movable(const struct gm_mem_config *mem)
{
	return mem->movable_given ? mem->movable : mem->backend != GM_BACKEND_GUEST_MEMFD;
}

const char *gm_backend_name(enum gm_backend b);
const char *gm_bind_name(enum gm_bind b);

#endif
