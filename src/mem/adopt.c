/*
 * mem/adopt: what re-homing needs from the memory plane.  A region moves
 * onto a new memory object while its guest runs (src/move/rehome.c); this
 * file says which pages of the old object may hold data (so holes are
 * neither read nor allocated), fills the new one robustly, measures what
 * each holds, and finally swaps the backing under the region.  The region
 * (struct gm_memory) stays the same object throughout, so every pointer to
 * it (the machine's, the dirty rings', the API's) stays valid.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/backend.h"
#include "mem/mem.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define HUGEPAGES_DIR "/sys/kernel/mm/hugepages"
#define PAGE UINT64_C(4096)
#define PM_PRESENT (UINT64_C(1) << 63)
#define PM_SWAPPED (UINT64_C(1) << 62)
#define CHUNK_PAGES UINT64_C(65536) /* pagemap entries or mincore bytes read at once */

static void set_range(uint64_t *bm, uint64_t first, uint64_t end)
{
	for (uint64_t p = first; p < end; p++)
		bm[p / 64] |= UINT64_C(1) << (p % 64);
}

/*
 * /proc/self/pagemap over [host, host+npages pages): fn(page, present or
 * swapped) for each.  Both are what anonymous memory holds: mincore would
 * miss the swapped pages.
 */
static int pagemap_walk(const void *host, uint64_t npages, void (*fn)(void *, uint64_t, bool), void *opaque)
{
	uint64_t *buf = malloc(CHUNK_PAGES * 8);
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC), e = 0;

	if (fd < 0 || !buf) {
		e = fd < 0 ? errno : ENOMEM;
		goto out;
	}
	for (uint64_t done = 0; done < npages;) {
		uint64_t n = npages - done < CHUNK_PAGES ? npages - done : CHUNK_PAGES;
		off_t at = (off_t)(((uintptr_t)host / PAGE + done) * 8);
		ssize_t got = pread(fd, buf, n * 8, at);

		if (got <= 0 || got % 8) {
			e = got < 0 ? errno : EIO;
			goto out;
		}
		for (uint64_t i = 0; i < (uint64_t)got / 8; i++)
			fn(opaque, done + i, (buf[i] & (PM_PRESENT | PM_SWAPPED)) != 0);
		done += (uint64_t)got / 8;
	}
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return -e;
}

/* mincore over the mapping: fn(page, in the page cache) for each page. */
static int mincore_walk(void *host, uint64_t npages, void (*fn)(void *, uint64_t, bool), void *opaque)
{
	unsigned char *vec = malloc(CHUNK_PAGES);

	if (!vec)
		return -ENOMEM;
	for (uint64_t done = 0; done < npages;) {
		uint64_t n = npages - done < CHUNK_PAGES ? npages - done : CHUNK_PAGES;

		if (mincore((uint8_t *)host + done * PAGE, n * PAGE, vec) < 0) {
			int e = errno;

			free(vec);
			return -e;
		}
		for (uint64_t i = 0; i < n; i++)
			fn(opaque, done + i, vec[i] & 1);
		done += n;
	}
	free(vec);
	return 0;
}

static void mark_if(void *opaque, uint64_t page, bool held)
{
	if (held)
		((uint64_t *)opaque)[page / 64] |= UINT64_C(1) << (page % 64);
}

static void count_if(void *opaque, uint64_t page, bool held)
{
	(void)page;
	if (held)
		(*(uint64_t *)opaque)++;
}

/* SEEK_DATA/SEEK_HOLE over the fd; -EOPNOTSUPP when the file cannot say. */
static int seek_data(const struct gm_memory *mem, uint64_t *bm)
{
	for (off_t off = 0; (uint64_t)off < mem->size;) {
		off_t d = lseek(mem->fd, off, SEEK_DATA), h;

		if (d < 0 && errno == ENXIO)
			return 0; /* a hole to the end */
		if (d < 0)
			return errno == EINVAL || errno == ESPIPE || errno == EOPNOTSUPP ? -EOPNOTSUPP : -errno;
		h = lseek(mem->fd, d, SEEK_HOLE);
		if (h < 0 || (uint64_t)h > mem->size)
			h = (off_t)mem->size;
		set_range(bm, (uint64_t)d / PAGE, ((uint64_t)h + PAGE - 1) / PAGE);
		off = h;
	}
	return 0;
}

int gm_memory_data_pages(const struct gm_memory *mem, uint64_t *bm, struct gm_error *err)
{
	uint64_t npages = mem->size / PAGE;
	int r;

	memset(bm, 0, (npages + 63) / 64 * 8);
	/* a private file mapping reads the file where it was never written */
	/*
	 * A snapshot file's private mapping, and hugetlb memory another process
	 * (a live update's old one) filled, whose pages our page tables do not
	 * map until touched: no walk can tell, so every page counts as data.
	 */
	if (mem->file_private || (mem->imported && mem->fd >= 0 && mem->page_size != PAGE)) {
		set_range(bm, 0, npages);
		return 0;
	}
	/* hugetlbfs answers SEEK_DATA with the whole file, and reading one of
	 * its holes would take a page from the pool (or SIGBUS on an empty one):
	 * its pages are the ones mapped here, as anon's are */
	if (mem->fd < 0 || mem->page_size != PAGE)
		r = pagemap_walk(mem->host, npages, mark_if, bm);
	else if ((r = seek_data(mem, bm)) == -EOPNOTSUPP)
		/* guest_memfd has no llseek: its pages are its page cache, which
		 * mincore reads, and they never go to swap */
		r = mincore_walk(mem->host, npages, mark_if, bm);
	if (r < 0)
		return gm_fail(err, GM_STATUS_FAILURE, -r,
			       "cannot tell which pages of region %s hold data: %s; check that /proc is mounted",
			       mem->name, strerror(-r));
	return 0;
}

/* A run of resident pages, populated as the walk reaches its end. */
struct prefault_run {
	struct gm_memory *mem;
	uint64_t start, len;      /* pages */
	uint64_t deadline_ns;     /* CLOCK_MONOTONIC */
	bool stop;
};

static uint64_t mono_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void populate_run(struct prefault_run *r)
{
	if (r->len && !r->stop &&
	    (mono_ns() > r->deadline_ns || gm_memory_populate(r->mem, r->start * PAGE, r->len * PAGE) < 0))
		r->stop = true;
	r->len = 0;
}

static void extend_run(void *opaque, uint64_t page, bool held)
{
	struct prefault_run *r = opaque;

	if (held && r->len && r->start + r->len == page) {
		r->len++;
		return;
	}
	populate_run(r);
	if (held) {
		r->start = page;
		r->len = 1;
	}
}

void gm_memory_prefault(struct gm_memory *mem, uint64_t budget_ns)
{
	struct prefault_run r = { .mem = mem, .deadline_ns = mono_ns() + budget_ns };

	if (mem && mem->host && mincore_walk(mem->host, mem->size / PAGE, extend_run, &r) == 0)
		populate_run(&r);
}

uint64_t gm_memory_resident(const struct gm_memory *mem)
{
	uint64_t pages = 0;
	struct stat st;

	if (!mem || !mem->host)
		return 0;
	/* shmem and hugetlbfs count their blocks, swapped ones included */
	if (mem->fd >= 0 && !mem->file_private && fstat(mem->fd, &st) == 0 && st.st_blocks > 0)
		return (uint64_t)st.st_blocks * 512;
	if (mem->fd >= 0 && !mem->file_private)
		mincore_walk(mem->host, mem->size / PAGE, count_if, &pages);
	else
		pagemap_walk(mem->host, mem->size / PAGE, count_if, &pages);
	return pages * PAGE;
}

int gm_memory_populate(struct gm_memory *mem, uint64_t offset, uint64_t len)
{
	uint64_t start = offset / mem->page_size * mem->page_size;
	uint64_t end = (offset + len + mem->page_size - 1) / mem->page_size * mem->page_size;

	if (end > mem->size)
		end = mem->size;
	if (madvise((uint8_t *)mem->host + start, end - start, MADV_POPULATE_WRITE) == 0)
		return 0;
	return -errno;
}

int gm_memory_populate_fail(const struct gm_memory *mem, int e, struct gm_error *err)
{
	char p[32], path[96];

	if (mem->page_size != GM_PAGE_4K)
		return gm_fail(err, GM_STATUS_FAILURE, e, "the %s hugetlb pool ran out (%s); raise %s",
			       gm_mem_size_str(mem->page_size, p, sizeof(p)), strerror(e),
			       gm_hugetlb_sysctl(mem->page_size, path, sizeof(path)));
	return gm_fail(err, GM_STATUS_FAILURE, e,
		       "the host ran out of memory for the new %s memory (%s); free host memory or raise the memory cgroup's limit",
		       mem->ops->name, strerror(e));
}

const char *gm_mem_config_describe(const struct gm_mem_config *cfg, char *buf, size_t len)
{
	const struct gm_backend_ops *ops = gm_backend_ops(cfg->backend);
	char p[32];
	int n = snprintf(buf, len, "%s %s", ops ? ops->name : "?", gm_mem_size_str(cfg->page_size, p, sizeof(p)));

	if (cfg->numa_node >= 0 && n >= 0 && (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " node %d", cfg->numa_node);
	return buf;
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (f && fscanf(f, "%ld", &v) != 1)
		v = -1;
	if (f)
		fclose(f);
	return v;
}

void gm_mem_pools_refresh(struct gm_caps *caps)
{
	for (int i = 0; i < caps->n_hugetlb; i++) {
		struct gm_hugetlb_pool *pool = &caps->hugetlb[i];
		char path[160];
		long free_pages, resv, total;

		snprintf(path, sizeof(path), HUGEPAGES_DIR "/hugepages-%" PRIu64 "kB/nr_hugepages",
			 pool->page_size >> 10);
		total = read_long(path);
		snprintf(path, sizeof(path), HUGEPAGES_DIR "/hugepages-%" PRIu64 "kB/free_hugepages",
			 pool->page_size >> 10);
		free_pages = read_long(path);
		snprintf(path, sizeof(path), HUGEPAGES_DIR "/hugepages-%" PRIu64 "kB/resv_hugepages",
			 pool->page_size >> 10);
		resv = read_long(path);
		/* reserved pages are free but promised to a mapping already */
		if (total >= 0)
			pool->total = total;
		if (free_pages >= 0)
			pool->free = free_pages - (resv > 0 && resv <= free_pages ? resv : 0);
	}
}

/*
 * What belongs to the region, not to its backing: identity, placement and
 * slots, the binding's state, dirty tracking, and the two config keys the
 * machine decided (track-dirty, whether --memory was given).  Everything
 * else in the struct describes the backing and travels with it, including
 * what a later field adds.
 */
static void keep_region(struct gm_memory *dst, const struct gm_memory *was)
{
	dst->size = was->size;
	dst->vm_fd = was->vm_fd;
	memcpy(dst->regions, was->regions, sizeof(dst->regions));
	dst->nr_regions = was->nr_regions;
	dst->gpa = was->gpa;
	dst->binding = was->binding;
	dst->bound = was->bound;
	memcpy(dst->uuid, was->uuid, sizeof(dst->uuid));
	memcpy(dst->name, was->name, sizeof(dst->name));
	dst->dirty = was->dirty;
	dst->cfg.track_dirty = was->cfg.track_dirty;
	dst->cfg.given = was->cfg.given;
}

static void swap_backing(struct gm_memory *a, struct gm_memory *b)
{
	struct gm_memory ta = *a, tb = *b;

	*a = tb;
	keep_region(a, &ta);
	*b = ta;
	keep_region(b, &tb);
}

int gm_memory_adopt(struct gm_memory *mem, struct gm_memory *fresh, struct gm_error *err)
{
	enum gm_bind old_mode, old_restore, mode;
	bool was_bound;
	int r;

	if (!mem || !fresh || fresh == mem || fresh->bound || fresh->dirty.active || fresh->size != mem->size ||
	    (mem->bound && fresh->vm_fd != mem->vm_fd))
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "gm_memory_adopt needs an unbound memory of the same size and VM; this is a bug in the caller");
	was_bound = mem->bound;
	old_mode = mem->binding;
	old_restore = mem->dirty.restore;
	/* the slots go first (their dirty logs saved into host_bits): KVM must
	 * stop using the old mapping before anything changes under it */
	if (was_bound && (r = gm_mem_unbind(mem, err)) < 0) {
		gm_mem_rebind(mem, old_mode, NULL);
		return r;
	}
	swap_backing(mem, fresh);
	mode = mem->cfg.bind;
	/* as dirty start does: a guest_memfd memslot cannot log, so tracking
	 * binds mapped and goes back to gmem when it stops */
	if (mem->dirty.active) {
		mem->dirty.restore = mode;
		mode = GM_BIND_MAPPED;
	}
	if (!was_bound) {
		mem->binding = mode;
		return 0;
	}
	r = gm_mem_rebind(mem, mode, err);
	if (r < 0) {
		/* back onto the old backing, bound as it was: the guest never
		 * notices (a failed bind left no slot behind) */
		swap_backing(mem, fresh);
		mem->dirty.restore = old_restore;
		mem->binding = old_mode;
		gm_mem_rebind(mem, old_mode, NULL);
	}
	return r;
}
