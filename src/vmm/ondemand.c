/*
 * vmm/ondemand: restore-mode=ondemand.  Every memory region starts empty
 * and registered with one userfaultfd; the first touch of a page, by a vCPU
 * (KVM faulting on the host mapping) or by gmvm itself, stops that thread
 * until the server thread here has copied the page in from that region's
 * memory files of the snapshot chain: from the newest diff that holds it,
 * else from the base.  The guest runs
 * its first instruction without a byte copied.
 *
 * guest_memfd memory cannot be registered (the kernel answers EINVAL, as
 * `gmvm probe` shows), nor can hugetlb pages be served 4 KiB at a time:
 * both are refused with the kernel's reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mem/mem.h"
#include "vmm/vmm.h"
#include "gmvm/thread.h"

#define MAX_SOURCES 64

/* One region and the chain it is served from. */
struct od_region {
	uint8_t *host;
	uint64_t size;
	int fd[MAX_SOURCES];
	uint64_t *bitmap[MAX_SOURCES]; /* own copies; NULL for the base */
};

struct gm_ondemand {
	int uffd;
	int wake[2];
	pthread_t thread;
	bool started;
	unsigned n;        /* links of every chain */
	unsigned nregions;
	struct od_region regions[GM_MAX_REGIONS];
	uint8_t page[GM_PAGE_4K] __attribute__((aligned(4096)));
};

/* The newest link of the region's chain that holds page. */
static int source_of(const struct gm_ondemand *od, const struct od_region *r, uint64_t page)
{
	for (unsigned i = od->n; i-- > 1;)
		if (r->bitmap[i][page / 64] >> (page % 64) & 1)
			return r->fd[i];
	return r->fd[0];
}

static void serve(struct gm_ondemand *od, uint64_t addr)
{
	const struct od_region *r = NULL;

	for (unsigned i = 0; i < od->nregions && !r; i++)
		if (addr >= (uint64_t)(uintptr_t)od->regions[i].host &&
		    addr - (uint64_t)(uintptr_t)od->regions[i].host < od->regions[i].size)
			r = &od->regions[i];
	if (!r)
		return; /* not ours: the kernel only reports registered ranges */
	uint64_t off = (addr - (uint64_t)(uintptr_t)r->host) & ~(GM_PAGE_4K - 1);
	ssize_t n = pread(source_of(od, r, off / GM_PAGE_4K), od->page, GM_PAGE_4K, (off_t)off);

	/* a short read (an I/O error) still must wake the faulting thread: it gets zeros */
	if (n < (ssize_t)GM_PAGE_4K)
		memset(od->page + (n > 0 ? n : 0), 0, GM_PAGE_4K - (size_t)(n > 0 ? n : 0));
	struct uffdio_copy copy = {
		.dst = (uint64_t)(uintptr_t)r->host + off,
		.src = (uint64_t)(uintptr_t)od->page,
		.len = GM_PAGE_4K,
	};
	/* EEXIST: another fault on the same page was served first */
	while (ioctl(od->uffd, UFFDIO_COPY, &copy) < 0 && errno == EAGAIN)
		;
}

static void *server_main(void *arg)
{
	struct gm_ondemand *od = arg;
	struct pollfd p[2] = { { .fd = od->uffd, .events = POLLIN }, { .fd = od->wake[0], .events = POLLIN } };
	struct uffd_msg msg;

	gm_thread_started(GM_THREAD_MIGRATION);
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		ssize_t n = read(od->uffd, &msg, sizeof(msg));
		if (n != (ssize_t)sizeof(msg))
			continue; /* EAGAIN: a wake-up with nothing to serve */
		if (msg.event == UFFD_EVENT_PAGEFAULT)
			serve(od, msg.arg.pagefault.address);
	}
	return NULL;
}

static int refuse(struct gm_ondemand *od, int e, const char *why, struct gm_error *err)
{
	gm_ondemand_stop(od);
	return gm_fail(err, e == EPERM ? GM_STATUS_FAILURE : GM_STATUS_NO_KERNEL, e,
		       "restore-mode=ondemand: %s: %s; use restore-mode=copy", why, strerror(e));
}

/* Region i's sources open and its diffs' bitmaps copied. */
static int open_chain(struct gm_ondemand *od, unsigned i, const struct gm_page_source *src, struct gm_error *err)
{
	struct od_region *r = &od->regions[i];
	uint64_t words = (r->size / GM_PAGE_4K + 63) / 64;

	for (unsigned k = 0; k < od->n; k++) {
		r->fd[k] = open(src[k].path, O_RDONLY | O_CLOEXEC);
		if (r->fd[k] < 0)
			return refuse(od, errno, "cannot open a snapshot's memory file", err);
		if (k > 0) {
			r->bitmap[k] = malloc(words * 8);
			if (!r->bitmap[k])
				return refuse(od, ENOMEM, "no memory for a diff's bitmap", err);
			memcpy(r->bitmap[k], src[k].bitmap, words * 8);
		}
	}
	return 0;
}

int gm_ondemand_start(struct gm_machine *m, const struct gm_page_source *src, unsigned n, struct gm_error *err)
{
	for (unsigned i = 0; i < m->nmems; i++)
		if (m->mems[i]->page_size != GM_PAGE_4K)
			return gm_fail(err, GM_STATUS_BAD_INPUT, ENOTSUP,
				       "restore-mode=ondemand serves 4K pages and region %s has hugepages; drop hugepages= or use restore-mode=copy",
				       gm_memory_name(m->mems[i]));
	if (n < 1 || n > MAX_SOURCES)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "restore-mode=ondemand takes 1 to %d snapshots",
			       MAX_SOURCES);
	struct gm_ondemand *od = aligned_alloc(4096, (sizeof(*od) + 4095) & ~(size_t)4095);
	if (!od)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the page server");
	memset(od, 0, sizeof(*od));
	od->uffd = od->wake[0] = od->wake[1] = -1;
	for (unsigned i = 0; i < GM_MAX_REGIONS; i++)
		for (unsigned k = 0; k < MAX_SOURCES; k++)
			od->regions[i].fd[k] = -1;
	od->n = n;
	od->nregions = m->nmems;
	for (unsigned i = 0; i < m->nmems; i++) {
		od->regions[i].host = m->mems[i]->host;
		od->regions[i].size = m->mems[i]->size;
		int r = open_chain(od, i, src + (size_t)i * n, err);
		if (r)
			return r;
	}
	/* No UFFD_USER_MODE_ONLY: KVM's own faults on the mapping must reach us. */
	od->uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (od->uffd < 0)
		return refuse(od, errno, errno == EPERM ? "userfaultfd for kernel faults needs root (or vm.unprivileged_userfaultfd=1)" : "no userfaultfd", err);
	struct uffdio_api api = { .api = UFFD_API };
	if (ioctl(od->uffd, UFFDIO_API, &api) < 0)
		return refuse(od, errno, "UFFDIO_API failed", err);
	for (unsigned i = 0; i < m->nmems; i++) {
		struct uffdio_register reg = {
			.range = { .start = (uint64_t)(uintptr_t)od->regions[i].host, .len = od->regions[i].size },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};
		if (ioctl(od->uffd, UFFDIO_REGISTER, &reg) < 0)
			return refuse(od, errno,
				      m->mems[i]->cfg.backend == GM_BACKEND_GUEST_MEMFD
					      ? "the kernel refuses userfaultfd on guest_memfd memory (gmvm probe: userfaultfd on guest_memfd)"
					      : "the kernel refuses userfaultfd on this memory",
				      err);
	}
	if (pipe2(od->wake, O_CLOEXEC) < 0)
		return refuse(od, errno, "no wake-up pipe", err);
	int r = pthread_create(&od->thread, NULL, server_main, od);
	if (r)
		return refuse(od, r, "cannot start the page server thread", err);
	od->started = true;
	m->ondemand = od;
	return 0;
}

void gm_ondemand_stop(struct gm_ondemand *od)
{
	if (!od)
		return;
	if (od->started) {
		if (write(od->wake[1], "x", 1) < 0) {
			/* the thread also ends when the pipe is closed */
		}
		pthread_join(od->thread, NULL);
	}
	if (od->uffd >= 0)
		close(od->uffd); /* unregisters: the memory is ordinary from here on */
	for (int i = 0; i < 2; i++)
		if (od->wake[i] >= 0)
			close(od->wake[i]);
	for (unsigned i = 0; i < GM_MAX_REGIONS; i++)
		for (unsigned k = 0; k < MAX_SOURCES; k++) {
			if (od->regions[i].fd[k] >= 0)
				close(od->regions[i].fd[k]);
			free(od->regions[i].bitmap[k]);
		}
	free(od);
}
