/*
 * mem/import.c: a gm_memory over an fd that already holds the guest's
 * memory (a live update's new process received it over the handover
 * socket).  The pages exist and belong to a running guest, so nothing here
 * allocates, preallocates, truncates, punches or sets a NUMA policy (the
 * policy lives on the shmem or guest_memfd inode and came along with the
 * fd).  Before mapping, the fd is checked to be what the config says: the
 * size, memfd (shmem or hugetlbfs, by the page size) or guest_memfd.
 *
 * A guest_memfd can be bound with KVM_MEM_GUEST_MEMFD only to the VM that
 * created it (another VM gets EINVAL, see shared/KERNEL.md), and an import
 * is for another VM, so the imported memory records bind=mapped: its host
 * mapping becomes an ordinary memslot, which any VM may use.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "kvm/kvm.h"
#include "mem/backend.h"
#include "mem/mem.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif
#ifndef ANON_INODE_FS_MAGIC
#define ANON_INODE_FS_MAGIC 0x09041934
#endif
/* guest_memfd's own pseudo filesystem (Linux 6.18 and later); earlier ones are anon inodes */
#ifndef GUEST_MEMFD_MAGIC
#define GUEST_MEMFD_MAGIC 0x474d454d
#endif

enum fd_kind { FD_OTHER, FD_MEMFD, FD_GMEM };

struct fd_facts {
	enum fd_kind kind;
	uint64_t size;
	uint64_t page_size;
	char link[128];   /* what /proc/self/fd says it is, for messages */
};

/* What fd is, from its filesystem and its /proc/self/fd link. */
static int inspect(int fd, struct fd_facts *f)
{
	char path[64];
	struct statfs sfs;
	struct stat st;
	ssize_t n;

	memset(f, 0, sizeof(*f));
	if (fstat(fd, &st) < 0 || fstatfs(fd, &sfs) < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, f->link, sizeof(f->link) - 1);
	if (n < 0)
		snprintf(f->link, sizeof(f->link), "fd %d", fd);
	else
		f->link[n] = '\0';
	f->size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
	f->page_size = GM_PAGE_4K;
	/* a memfd is "/memfd:NAME (deleted)" on tmpfs or hugetlbfs */
	if ((uint32_t)sfs.f_type == (uint32_t)HUGETLBFS_MAGIC && S_ISREG(st.st_mode)) {
		f->kind = FD_MEMFD;
		f->page_size = st.st_blksize > 0 ? (uint64_t)st.st_blksize : (uint64_t)sfs.f_bsize;
	} else if ((uint32_t)sfs.f_type == (uint32_t)TMPFS_MAGIC && S_ISREG(st.st_mode) &&
		   !strncmp(f->link, "/memfd:", 7)) {
		f->kind = FD_MEMFD;
	} else if ((uint32_t)sfs.f_type == (uint32_t)GUEST_MEMFD_MAGIC ||
		   ((uint32_t)sfs.f_type == (uint32_t)ANON_INODE_FS_MAGIC && strstr(f->link, "[kvm-gmem]"))) {
		f->kind = FD_GMEM;
	}
	return 0;
}

static const char *kind_name(enum fd_kind k)
{
	return k == FD_MEMFD ? "a memfd" : k == FD_GMEM ? "a guest_memfd" : "not guest memory";
}

/* Is fd what cfg describes?  One line naming the mismatch otherwise. */
static int check_fd(const struct gm_mem_config *cfg, int fd, const struct fd_facts *f, struct gm_error *err)
{
	enum fd_kind want = cfg->backend == GM_BACKEND_GUEST_MEMFD ? FD_GMEM : FD_MEMFD;
	char a[32], b[32];
	int fl = fcntl(fd, F_GETFL);

	if (f->kind != want)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "the fd handed over for backend=%s memory is %s (%s); hand over the region's own fd",
			       gm_backend_ops(cfg->backend)->name, kind_name(f->kind), f->link);
	if (f->size != cfg->size)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "the %s handed over holds %s and the region is %s; hand over the region's own fd",
			       gm_backend_ops(cfg->backend)->name, gm_mem_size_str(f->size, a, sizeof(a)),
			       gm_mem_size_str(cfg->size, b, sizeof(b)));
	if (f->page_size != cfg->page_size)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "the %s handed over has %s pages and the region hugepages=%s; hand over the region's own fd",
			       gm_backend_ops(cfg->backend)->name, gm_mem_size_str(f->page_size, a, sizeof(a)),
			       gm_mem_size_str(cfg->page_size, b, sizeof(b)));
	if (fl < 0 || (fl & O_ACCMODE) != O_RDWR)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EACCES,
			       "the %s handed over is not open read-write; hand over the fd gmvm created",
			       gm_backend_ops(cfg->backend)->name);
	return 0;
}

/* What an import cannot serve, before the fd is looked at. */
static int check_cfg(const struct gm_mem_config *cfg, struct gm_error *err)
{
	const struct gm_backend_ops *ops = gm_backend_ops(cfg->backend);

	if (!ops)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "unknown memory backend %d; use guest-memfd, memfd or anon", (int)cfg->backend);
	if (cfg->backend == GM_BACKEND_ANON)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EOPNOTSUPP,
			       "backend=anon memory has no fd to hand to another process; re-home the region to memfd first (gmvm rehome --api-sock S ram backend=memfd, or the region's name for ram)");
	if (cfg->page_size != GM_PAGE_4K && cfg->page_size != GM_PAGE_2M && cfg->page_size != GM_PAGE_1G)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "page size %" PRIu64 " is not supported; use hugepages=4K, 2M or 1G", cfg->page_size);
	if (cfg->size == 0 || cfg->size % cfg->page_size)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "memory size %" PRIu64 " is not a whole number of pages; this is a bug in the caller", cfg->size);
	/* both need the gmem binding, which another VM cannot have on this kernel */
	if (cfg->no_direct_map || cfg->private_mem)
		return gm_fail(err, GM_STATUS_NO_KERNEL, EOPNOTSUPP,
			       "%s guest_memfd can only be bound gmem, and this kernel binds a guest_memfd gmem only to the VM that created it (KVM_LINK_GUEST_MEMFD is not upstream); it cannot move to a new process, stop and restore the VM instead",
			       cfg->private_mem ? "private=on" : "direct-map=off");
	return 0;
}

/*
 * KVM_LINK_GUEST_MEMFD (an RFC, see kvm/uapi.h): a new guest_memfd over
 * the same pages, bindable gmem in vm_fd.  Used only when it is what it
 * claims (a guest_memfd of the same size); -1 otherwise, and the memory is
 * bound mapped.
 */
static int link_gmem(int vm_fd, int fd, const struct fd_facts *theirs)
{
	struct gm_kvm_link_guest_memfd link = { .fd = (uint64_t)fd };
	struct fd_facts f;
	int nfd = ioctl(vm_fd, GM_KVM_LINK_GUEST_MEMFD, &link);

	if (nfd < 0)
		return -1;
	/* the RFC makes it without O_CLOEXEC */
	fcntl(nfd, F_SETFD, FD_CLOEXEC);
	if (inspect(nfd, &f) < 0 || f.kind != FD_GMEM || f.size != theirs->size) {
		close(nfd);
		return -1;
	}
	return nfd;
}

int gm_memory_import_check(const struct gm_mem_config *cfg, const struct gm_caps *caps, struct gm_error *err)
{
	int r = check_cfg(cfg, err);

	if (!r)
		r = gm_mem_check_memlock(gm_mem_pinned_bytes(cfg), caps, "the imported memory with movable=off", err);
	return r;
}

int gm_memory_import(const struct gm_mem_config *cfg, const struct gm_caps *caps, int vm_fd, int fd,
		     struct gm_memory **out, struct gm_error *err)
{
	struct gm_memory *mem;
	struct fd_facts facts;
	int r;

	if (!out || !cfg || !caps)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "gm_memory_import needs a config, caps and somewhere to put the memory; this is a bug in the caller");
	*out = NULL;
	r = check_cfg(cfg, err);
	if (r)
		return r;
	if (fd < 0)
		return gm_fail(err, GM_STATUS_FAILURE, EBADF,
			       "no fd was handed over for the %s memory; the sender must pass every region's fd",
			       gm_backend_ops(cfg->backend)->name);
	r = inspect(fd, &facts);
	if (r < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -r, "the fd handed over for guest memory cannot be examined: %s",
			       strerror(-r));
	r = check_fd(cfg, fd, &facts, err);
	if (r)
		return r;
	/* the locks movable=off takes are per mapping: the new one needs them too */
	r = gm_mem_check_memlock(gm_mem_pinned_bytes(cfg), caps, "the imported memory with movable=off", err);
	if (r)
		return r;

	mem = gm_mem_alloc(cfg, vm_fd, err);
	if (!mem)
		return -ENOMEM;
	/* the pages exist: nothing to preallocate, and the inode keeps its NUMA policy */
	mem->cfg.prealloc = false;
	mem->imported = true;
	mem->fd = -1;
	if (cfg->backend == GM_BACKEND_GUEST_MEMFD && gm_mem_effective_bind(cfg) == GM_BIND_GMEM)
		mem->fd = link_gmem(vm_fd, fd, &facts);
	if (cfg->backend == GM_BACKEND_GUEST_MEMFD && mem->fd < 0) {
		/* KVM_MEM_GUEST_MEMFD in a VM but the creator: EINVAL.  Recorded
		 * as given so gm_mem_effective_bind says mapped as well. */
		mem->cfg.bind = mem->binding = GM_BIND_MAPPED;
		mem->cfg.bind_given = true;
		mem->foreign_gmem = true;
	}
	/* a duplicate of our own: the caller keeps (and closes) the fd it passed */
	if (mem->fd < 0)
		mem->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (mem->fd < 0) {
		r = gm_fail(err, GM_STATUS_FAILURE, errno, "duplicating the handed-over memory fd failed: %s; raise ulimit -n",
			    strerror(errno));
		free(mem);
		return r;
	}
	/* the backend's own map: the same flags and alignment as at creation.
	 * hugetlb reserves nothing new here: the pages are the file's already. */
	r = mem->ops->map(mem, err);
	/* movable=off: advice and MLOCK_ONFAULT on the new mapping (prealloc is
	 * off, so nothing is faulted in; pages lock as the guest touches them) */
	if (!r)
		r = gm_mem_pin_advise(mem, err);
	if (!r)
		r = gm_mem_pin_lock(mem, err);
	if (r) {
		if (mem->host)
			munmap(mem->host, mem->size);
		mem->ops->close(mem);
		free(mem);
		return r;
	}
	*out = mem;
	return 0;
}
