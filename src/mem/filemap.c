/*
 * mem/filemap: guest RAM as a private mapping of a snapshot's memory file
 * (restore-mode=map).  Restoring then copies nothing up front: the guest's
 * first touch of a page reads it from the page cache, its writes go to
 * private copies, and the file is never written.  The mapping replaces the
 * backend's at the same address, so memslots already pointing there see
 * the file's pages without being touched (KVM follows the host mapping
 * through its MMU notifier).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/mem.h"
#include "util/escape.h"

int gm_memory_map_file_private(struct gm_memory *mem, const char *path, struct gm_error *err)
{
	char q[GM_ESCAPE_PATH];
	struct stat st;

	if (mem->cfg.backend == GM_BACKEND_GUEST_MEMFD)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOTSUP,
			       "restore-mode=map needs backend=memfd or anon: a guest_memfd's pages can only be its own, never a file's; use restore-mode=copy");
	if (mem->page_size != GM_PAGE_4K)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOTSUP,
			       "restore-mode=map works on 4K pages (a file mapping cannot be hugetlb); drop hugepages= or use restore-mode=copy");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || (uint64_t)st.st_size != mem->size) {
		int e = fd < 0 ? errno : EINVAL;
		if (fd >= 0)
			close(fd);
		return gm_fail(err, GM_STATUS_BAD_INPUT, e, "cannot map %s as guest RAM: %s", gm_escape(path, q, sizeof(q)),
			       e == EINVAL ? "its size is not the RAM's" : strerror(e));
	}
	void *p = mmap(mem->host, mem->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0);
	int e = errno;
	close(fd); /* the mapping keeps the file */
	if (p == MAP_FAILED)
		return gm_fail(err, GM_STATUS_FAILURE, e, "mmap of %s over guest RAM failed: %s", gm_escape(path, q, sizeof(q)),
			       strerror(e));
	mem->file_private = true;
	/* a new mapping: movable=off's pinning (pin.c) goes on it again */
	return gm_mem_pin_redo(mem, 0, mem->size, err);
}

/*
 * MADV_DONTNEED on a private file mapping would bring the file's page back,
 * not zeros; fresh anonymous memory over the range frees the private copy
 * and reads as zero, which is what a discard promises.
 */
int gm_mem_file_private_discard(struct gm_memory *mem, uint64_t offset, uint64_t len, struct gm_error *err)
{
	void *p = mmap((uint8_t *)mem->host + offset, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "discarding file-mapped guest RAM failed: %s; the memory is unchanged",
			       strerror(errno));
	return gm_mem_pin_redo(mem, offset, len, err);
}
