/*
 * state/memfile_read.c: a memory file back into memory.  The file's data
 * extents (SEEK_DATA/SEEK_HOLE) are cut into pieces that worker threads take
 * one at a time, each pread()ing straight into the destination: restore time
 * is bound by the storage, not by one thread's copy, and holes cost nothing
 * because fresh memory is zero already.  With a bitmap (a diff) the holes
 * matter too: a page in the bitmap that is a hole was dirtied to zero.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "state/memfile.h"
#include "state/state_internal.h"
#include "gmvm/thread.h"

/* A piece small enough to share out among threads, big enough to stream. */
#define GM_MEMFILE_PIECE (UINT64_C(16) << 20)

struct piece {
	uint64_t start, end;
	bool data; /* false: a hole */
};

struct job {
	const char *path;
	int fd;
	uint8_t *base;
	const uint64_t *bitmap;
	struct piece *p;
	size_t n, cap;
	atomic_size_t next;
	atomic_bool stop;
	pthread_mutex_t lock;
	struct gm_error err; /* the first failure of any thread */
	int rc;
};

static int add(struct job *j, uint64_t start, uint64_t end, bool data)
{
	while (start < end) {
		uint64_t stop = end - start > GM_MEMFILE_PIECE ? start + GM_MEMFILE_PIECE : end;

		if (j->n == j->cap) {
			size_t cap = j->cap ? 2 * j->cap : 64;
			struct piece *np = realloc(j->p, cap * sizeof(*np));

			if (!np)
				return -ENOMEM;
			j->p = np;
			j->cap = cap;
		}
		j->p[j->n++] = (struct piece){ start, stop, data };
		start = stop;
	}
	return 0;
}

/* Pieces covering the data extents, and the holes too if a bitmap needs them. */
static int find_extents(struct job *j, uint64_t size)
{
	uint64_t pos = 0;
	int r = 0;

	while (pos < size && r == 0) {
		off_t d = lseek(j->fd, (off_t)pos, SEEK_DATA), h;

		if (d < 0 && errno == ENXIO)
			d = (off_t)size;
		else if (d < 0 && (errno == EINVAL || errno == EOPNOTSUPP))
			return add(j, pos, size, true); /* no hole lookup here: read it all */
		else if (d < 0)
			return -errno;
		if ((uint64_t)d > size)
			d = (off_t)size;
		if ((uint64_t)d > pos && j->bitmap)
			r = add(j, pos, (uint64_t)d, false);
		if ((uint64_t)d >= size || r)
			break;
		h = lseek(j->fd, d, SEEK_HOLE);
		if (h < 0)
			return -errno;
		if ((uint64_t)h > size || h <= d)
			h = (off_t)size;
		r = add(j, (uint64_t)d, (uint64_t)h, true);
		pos = (uint64_t)h;
	}
	return r;
}

static void fail(struct job *j, int e, const char *fmt, uint64_t a)
{
	pthread_mutex_lock(&j->lock);
	if (j->rc == 0) {
		char what[128];

		snprintf(what, sizeof(what), fmt, a);
		j->rc = gm_fail(&j->err, GM_STATUS_FAILURE, e ? e : EIO, "memory file %s: %s: %s", j->path, what,
				e ? strerror(e) : "the file changed while it was read");
	}
	pthread_mutex_unlock(&j->lock);
	atomic_store(&j->stop, true);
}

static bool copy(struct job *j, uint64_t off, uint64_t n)
{
	while (n > 0) {
		ssize_t r = pread(j->fd, j->base + off, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fail(j, r < 0 ? errno : 0, "reading at byte %" PRIu64 " failed", off);
			return false;
		}
		off += (uint64_t)r;
		n -= (uint64_t)r;
	}
	return true;
}

static bool wanted(const uint64_t *bitmap, uint64_t i)
{
	return bitmap[i / 64] >> (i % 64) & 1;
}

/* The bitmap's pages within one piece: data read, holes zeroed. */
static bool do_bitmap(struct job *j, const struct piece *pc)
{
	for (uint64_t i = pc->start / GM_MEMFILE_PAGE; i * GM_MEMFILE_PAGE < pc->end; i++) {
		uint64_t a, b;

		if (!wanted(j->bitmap, i))
			continue;
		/* Pages in the run that follows, clipped to the piece. */
		a = i * GM_MEMFILE_PAGE;
		while ((i + 1) * GM_MEMFILE_PAGE < pc->end && wanted(j->bitmap, i + 1))
			i++;
		b = (i + 1) * GM_MEMFILE_PAGE;
		a = a < pc->start ? pc->start : a;
		b = b > pc->end ? pc->end : b;
		if (pc->data && !copy(j, a, b - a))
			return false;
		if (!pc->data)
			memset(j->base + a, 0, b - a);
	}
	return true;
}

static void *worker(void *arg)
{
	struct job *j = arg;

	gm_thread_started(GM_THREAD_MIGRATION);
	while (!atomic_load(&j->stop)) {
		size_t k = atomic_fetch_add(&j->next, 1);
		const struct piece *pc;

		if (k >= j->n)
			break;
		pc = &j->p[k];
		if (j->bitmap ? !do_bitmap(j, pc) : !copy(j, pc->start, pc->end - pc->start))
			break;
	}
	return NULL;
}

static void run_threads(struct job *j, unsigned threads)
{
	pthread_t t[GM_MEMFILE_MAX_THREADS];
	unsigned started = 0;

	if (threads > j->n)
		threads = j->n ? (unsigned)j->n : 1;
	/* Fewer threads than asked if some cannot start: slower, not wrong. */
	while (started + 1 < threads && pthread_create(&t[started], NULL, worker, j) == 0)
		started++;
	worker(j);
	for (unsigned i = 0; i < started; i++)
		pthread_join(t[i], NULL);
}

int gm_memfile_read(const char *path, uint8_t *base, uint64_t size, const uint64_t *bitmap,
		    unsigned threads, struct gm_error *err)
{
	struct job j = { .path = path, .base = base, .bitmap = bitmap };
	struct stat st;
	int r;

	if (threads < 1 || threads > GM_MEMFILE_MAX_THREADS || size % GM_MEMFILE_PAGE)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL,
			       "memory file %s: %u threads and size %" PRIu64 " asked; give 1 to 16 "
			       "threads and a multiple of 4 KiB", path, threads, size);
	j.fd = open(path, O_RDONLY | O_CLOEXEC);
	if (j.fd < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, errno,
			       "memory file %s: cannot open: %s; check the snapshot directory",
			       path, strerror(errno));
	if (fstat(j.fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		r = gm_fail(err, GM_STATUS_BAD_INPUT, errno ? errno : EINVAL,
			    "memory file %s: not a regular file; check the snapshot directory", path);
		close(j.fd);
		return r;
	}
	if ((uint64_t)st.st_size != size) {
		r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			    "memory file %s: %" PRIu64 " bytes, but the memory is %" PRIu64 "; the "
			    "snapshot does not belong to this memory size", path,
			    (uint64_t)st.st_size, size);
		close(j.fd);
		return r;
	}
	r = find_extents(&j, size);
	if (r < 0) {
		close(j.fd);
		free(j.p);
		return gm_fail(err, GM_STATUS_FAILURE, -r, "memory file %s: cannot find its data: %s",
			       path, strerror(-r));
	}
	pthread_mutex_init(&j.lock, NULL);
	run_threads(&j, threads);
	pthread_mutex_destroy(&j.lock);
	close(j.fd);
	free(j.p);
	if (j.rc < 0)
		return gm_fail(err, j.err.status, j.err.errnum, "%s", j.err.msg);
	return 0;
}
