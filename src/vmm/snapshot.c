/*
 * vmm/snapshot: taking a snapshot.  The guest holds still while its state
 * and memory (one file per region) go to a directory made under a
 * temporary name and renamed into place, so a snapshot is there whole or
 * not at all, and a failure halfway leaves the guest running as it was.  The first snapshot starts
 * dirty tracking; a diff writes only the pages written since the one
 * before it, with the bitmap saying which (a page written back to zero
 * must be told from one never written).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gmvm/snapshot.h"
#include "mem/mem.h"
#include "state/memfile.h"
#include "vmm/snapshot_dir.h"
#include "vmm/state.h"

static int write_state(struct gm_machine *m, const char *path, enum gm_snapshot_kind kind, const char *id,
		       uint64_t *const *bitmaps, uint64_t *bytes, struct gm_error *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	struct gm_stream_out *w = NULL;
	int r;

	if (fd < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot create %s: %s", path, strerror(errno));
	json_t *extra = json_pack("{s:{s:s, s:s, s:s?}}", "snapshot", "id", id, "type",
				  kind == GM_SNAPSHOT_DIFF ? "diff" : "full", "parent",
				  kind == GM_SNAPSHOT_DIFF ? m->snapshot_id : NULL);
	char *header = gm_state_header(m, extra);
	json_decref(extra);
	r = header ? gm_stream_out_open(fd, &w, err)
		   : gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the snapshot header");
	if (!r)
		r = gm_stream_out_header(w, header, strlen(header), err);
	if (!r)
		r = gm_state_write_sections(m, w, err);
	/* a diff: which pages of each region it holds (instance = region index) */
	for (unsigned i = 0; !r && kind == GM_SNAPSHOT_DIFF && i < m->nmems; i++) {
		uint64_t npages = gm_memory_size(m->mems[i]) / GM_PAGE_4K;
		struct gm_buf b = { 0 };
		gm_buf_u64(&b, npages);
		gm_buf_bytes(&b, bitmaps[i], (npages + 63) / 64 * 8);
		r = b.failed ? gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the dirty bitmap")
			     : gm_stream_out_section(w, GM_SECTION_DIRTY_BITMAP, i, 1, b.data, b.len, true, err);
		gm_buf_free(&b);
	}
	if (!r)
		r = gm_stream_out_end(w, err);
	if (!r && fsync(fd) < 0)
		r = gm_fail(err, GM_STATUS_FAILURE, errno, "cannot flush %s: %s", path, strerror(errno));
	if (!r)
		*bytes = gm_stream_out_bytes(w);
	gm_stream_out_free(w);
	free(header);
	close(fd);
	return r;
}

/* A snapshot is only taken once it would survive the host crashing. */
static int flush(const char *path, struct gm_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = fd < 0 || fsync(fd) < 0 ? gm_fail(err, GM_STATUS_FAILURE, errno, "cannot flush %s: %s", path, strerror(errno)) : 0;

	if (fd >= 0)
		close(fd);
	return r;
}

/* With op_lock and a hold: the state, each region's memory, then tracking for the next diff. */
static int take(struct gm_machine *m, const char *tmp, enum gm_snapshot_kind kind, const char *id,
		struct gm_snapshot_stats *stats, struct gm_error *err)
{
	uint64_t *bitmaps[GM_MAX_REGIONS] = { NULL };
	char path[PATH_MAX + 32], file[GM_REGION_NAME_MAX + 8];
	int r = 0;

	for (unsigned i = 0; i < m->nmems && !r; i++) {
		struct gm_memory *mem = m->mems[i];
		uint64_t npages = mem->size / GM_PAGE_4K;

		if (!gm_memory_dirty_active(mem))
			continue;
		/* a full snapshot collects too: the next diff starts from it */
		bitmaps[i] = calloc((npages + 63) / 64, sizeof(uint64_t));
		r = bitmaps[i] ? gm_memory_dirty_collect(mem, bitmaps[i], err)
			       : gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the dirty bitmap");
	}
	snprintf(path, sizeof(path), "%s/%s", tmp, GM_SNAPSHOT_STATE_FILE);
	if (!r)
		r = write_state(m, path, kind, id, bitmaps, &stats->state_bytes, err);
	for (unsigned i = 0; i < m->nmems && !r; i++) {
		struct gm_memory *mem = m->mems[i];
		uint64_t bytes = 0;

		gm_snapshot_region_file(gm_memory_name(mem), file, sizeof(file));
		snprintf(path, sizeof(path), "%s/%s", tmp, file);
		r = gm_memfile_write(path, mem->host, mem->size, kind == GM_SNAPSHOT_DIFF ? bitmaps[i] : NULL, &bytes, err);
		if (!r)
			r = flush(path, err);
		stats->memory_bytes += bytes;
	}
	for (unsigned i = 0; i < m->nmems && !r; i++)
		if (!gm_memory_dirty_active(m->mems[i]))
			r = gm_memory_dirty_start(m->mems[i], err);
	/* a snapshot that failed must not lose what the next diff needs */
	for (unsigned i = 0; i < m->nmems; i++) {
		uint64_t npages = m->mems[i]->size / GM_PAGE_4K;

		for (uint64_t p = 0; r && bitmaps[i] && p < npages; p++)
			if (bitmaps[i][p / 64] >> (p % 64) & 1)
				gm_memory_dirty_mark(m->mems[i], p * GM_PAGE_4K, GM_PAGE_4K);
		free(bitmaps[i]);
	}
	return r;
}

/* A diff needs every region tracked since the snapshot before it. */
static bool all_tracked(const struct gm_machine *m)
{
	for (unsigned i = 0; i < m->nmems; i++)
		if (!gm_memory_dirty_active(m->mems[i]))
			return false;
	return true;
}

int gm_machine_snapshot(struct gm_machine *m, const char *dir, enum gm_snapshot_kind kind,
			struct gm_snapshot_stats *stats, struct gm_error *err)
{
	struct gm_snapshot_stats local = { 0 };
	char tmp[PATH_MAX], id[37];
	uint8_t raw[16];
	int r;

	stats = stats ? stats : &local;
	memset(stats, 0, sizeof(*stats));
	pthread_mutex_lock(&m->op_lock);
	if (kind == GM_SNAPSHOT_DIFF && (!m->snapshot_id[0] || !all_tracked(m))) {
		pthread_mutex_unlock(&m->op_lock);
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOENT,
			       "a diff snapshot holds the pages written since the last snapshot, and this VM has none; take a full one first");
	}
	struct gm_exit ended;
	if (gm_machine_exit(m, &ended) == 0) {
		pthread_mutex_unlock(&m->op_lock);
		return gm_fail(err, GM_STATUS_FAILURE, ESRCH, "the guest has ended (%s); there is nothing left to snapshot",
			       ended.reason);
	}
	r = gm_uuid_generate(raw, err);
	if (!r)
		r = gm_snapshot_dir_begin(dir, tmp, sizeof(tmp), err);
	if (r) {
		pthread_mutex_unlock(&m->op_lock);
		return r;
	}
	gm_uuid_format(raw, id);
	uint64_t t0 = gm_now_us();
	r = gm_hold(m, err);
	if (!r) {
		r = take(m, tmp, kind, id, stats, err);
		gm_release(m);
	}
	stats->paused_us = gm_now_us() - t0;
	r = gm_snapshot_dir_commit(tmp, dir, r, err);
	if (!r)
		snprintf(m->snapshot_id, sizeof(m->snapshot_id), "%s", id);
	pthread_mutex_unlock(&m->op_lock);
	return r;
}
