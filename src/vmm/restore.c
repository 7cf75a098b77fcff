/*
 * vmm/restore: machines made from a snapshot chain.  Opening reads and
 * checks every link whole (streams, headers, the chain's order, each
 * region's memory file, the machine sections of the last link) before any
 * VM exists.  The restore then builds the machine without a guest image
 * (restore_header.c, as a migration's destination does), fills every
 * region, starts it paused (the vCPUs park before their first instruction)
 * and loads every vCPU and device into it.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "gmvm/snapshot.h"
#include "mem/mem.h"
#include "state/memfile.h"
#include "util/escape.h"
#include "vmm/restore.h"
#include "vmm/snapshot_dir.h"

#define MAX_CHAIN 64
#define RESTORE_THREADS 4

struct link {
	char dir[PATH_MAX];
	struct gm_stream_in *stream;
	char id[37], parent[37];
	bool diff;
	uint64_t *bitmaps[GM_MAX_REGIONS]; /* diff: the pages it holds, per region (point into the stream) */
};

struct gm_snapshot {
	unsigned n;
	struct link links[MAX_CHAIN];
	struct gm_header_machine hm; /* the machine, the same in every link */
	struct gm_machine_image img; /* the last link's state */
};

static int bad(struct gm_error *err, const char *dir, const char *what)
{
	char q[GM_ESCAPE_PATH];

	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "snapshot %s: %s", gm_escape(dir, q, sizeof(q)), what);
}

static int copy_str(char *out, size_t n, json_t *v)
{
	const char *s = json_string_value(v);

	if (!s || strlen(s) >= n)
		return -1;
	strcpy(out, s);
	return 0;
}

/* The snapshot record (id, type, parent) and the machine, the same in every link of a chain. */
static int read_header(struct gm_snapshot *s, struct link *l, bool first, struct gm_error *err)
{
	const char *text = gm_stream_in_header(l->stream);
	json_t *h = json_loads(text, 0, NULL);
	json_t *snap = json_object_get(h, "snapshot");
	const char *type = json_string_value(json_object_get(snap, "type"));
	struct gm_header_machine hm;
	struct gm_error e = { 0 };
	int r = 0;

	if (!h || !type || copy_str(l->id, sizeof(l->id), json_object_get(snap, "id"))) {
		r = bad(err, l->dir, "the state header lacks the snapshot's id or type; it was not written by gmvm snapshot");
		goto out;
	}
	l->diff = strcmp(type, "diff") == 0;
	if (l->diff && copy_str(l->parent, sizeof(l->parent), json_object_get(snap, "parent"))) {
		r = bad(err, l->dir, "a diff snapshot without its parent's id; the state is corrupt");
		goto out;
	}
	if (gm_header_machine_parse(text, &hm, &e)) {
		r = bad(err, l->dir, e.msg);
		goto out;
	}
	if (first) {
		s->hm = hm;
	} else {
		if (!gm_header_machine_same(&hm, &s->hm))
			r = bad(err, l->dir, "belongs to another VM than the snapshot before it in the chain; restore one VM's chain");
		gm_header_machine_free(&hm);
	}
out:
	json_decref(h);
	return r;
}

/* A diff's page bitmaps, one per region (DIRTY_BITMAP, instance = region index). */
static int read_bitmaps(struct gm_snapshot *s, struct link *l, struct gm_error *err)
{
	for (unsigned i = 0; i < s->hm.nregions; i++) {
		const struct gm_section *sec = gm_stream_in_find(l->stream, GM_SECTION_DIRTY_BITMAP, i);
		uint64_t npages = s->hm.regions[i].size / GM_PAGE_4K;
		size_t words = (npages + 63) / 64;
		uint64_t have;

		if (!sec)
			return bad(err, l->dir, "a diff snapshot without a page bitmap for each region; the state is corrupt");
		if (sec->len >= 8)
			memcpy(&have, sec->data, 8);
		if (sec->len != 8 + words * 8 || have != npages)
			return gm_section_fail(err, sec, "the bitmap is for another size than region %s's %llu bytes",
					       s->hm.regions[i].name, (unsigned long long)s->hm.regions[i].size);
		l->bitmaps[i] = (uint64_t *)(uintptr_t)(sec->data + 8);
	}
	return 0;
}

static void region_path(const struct link *l, const char *region, char *out, size_t len)
{
	char file[GM_REGION_NAME_MAX + 8];

	gm_snapshot_region_file(region, file, sizeof(file));
	snprintf(out, len, "%s/%s", l->dir, file);
}

static int check_memory_files(const struct gm_snapshot *s, const struct link *l, struct gm_error *err)
{
	char path[PATH_MAX + 32], what[128];
	struct stat st;

	for (unsigned i = 0; i < s->hm.nregions; i++) {
		const char *name = s->hm.regions[i].name;

		region_path(l, name, path, sizeof(path));
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
			snprintf(what, sizeof(what), "has no %s.mem; the snapshot is incomplete", name);
			return bad(err, l->dir, what);
		}
		if ((uint64_t)st.st_size != s->hm.regions[i].size) {
			snprintf(what, sizeof(what), "%s.mem is not the size of region %s; the snapshot is truncated or corrupt",
				 name, name);
			return bad(err, l->dir, what);
		}
	}
	return 0;
}

/* The REGION sections, when the state has them, must say what the header says. */
static int check_image_regions(const struct gm_snapshot *s, struct gm_error *err)
{
	const struct gm_machine_image *img = &s->img;
	bool same = img->nregions == s->hm.nregions;

	if (!img->nregions)
		return 0;
	for (unsigned i = 0; same && i < img->nregions; i++)
		same = !strcmp(img->regions[i].name, s->hm.regions[i].name) &&
		       img->regions[i].size == s->hm.regions[i].size && img->regions[i].gpa == s->hm.regions[i].gpa;
	return same ? 0 : bad(err, s->links[s->n - 1].dir, "its REGION sections and its header disagree about the memory regions; the state is corrupt");
}

int gm_snapshot_open(const char *const *dirs, unsigned n, struct gm_snapshot **out, struct gm_error *err)
{
	struct gm_snapshot *s = calloc(1, sizeof(*s));
	char path[PATH_MAX + 16];
	int r = 0;

	if (!s)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the snapshot");
	if (n < 1 || n > MAX_CHAIN)
		r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "a restore takes 1 to %d snapshot directories", MAX_CHAIN);
	for (unsigned i = 0; i < n && !r; i++) {
		struct link *l = &s->links[i];

		snprintf(l->dir, sizeof(l->dir), "%s", dirs[i]);
		s->n = i + 1;
		snprintf(path, sizeof(path), "%s/%s", l->dir, GM_SNAPSHOT_STATE_FILE);
		r = gm_stream_in_read_file(path, &l->stream, err);
		if (!r)
			r = read_header(s, l, i == 0, err);
		if (!r && i == 0 && l->diff)
			r = bad(err, l->dir, "is a diff; a chain starts with a full snapshot (--restore BASE --restore DIFF...)");
		if (!r && i > 0 && !l->diff)
			r = bad(err, l->dir, "is a full snapshot; only diffs may follow the first");
		if (!r && i > 0 && strcmp(l->parent, s->links[i - 1].id))
			r = bad(err, l->dir, "was not taken after the snapshot before it in the chain; give the chain in the order it was taken");
		if (!r && l->diff)
			r = read_bitmaps(s, l, err);
		if (!r)
			r = check_memory_files(s, l, err);
	}
	if (!r)
		r = gm_image_decode(s->links[s->n - 1].stream, s->hm.cpus, &s->img, err);
	if (!r)
		r = check_image_regions(s, err);
	if (r) {
		gm_snapshot_close(s);
		return r;
	}
	*out = s;
	return 0;
}

void gm_snapshot_close(struct gm_snapshot *s)
{
	if (!s)
		return;
	gm_image_free(&s->img);
	for (unsigned i = 0; i < s->n; i++)
		gm_stream_in_free(s->links[i].stream);
	gm_header_machine_free(&s->hm);
	free(s);
}

void gm_snapshot_config(const struct gm_snapshot *s, struct gm_config *cfg)
{
	gm_header_machine_config(&s->hm, cfg);
}

int gm_snapshot_restore_config(const struct gm_snapshot *s, const struct gm_config *user, struct gm_config *out,
			       struct gm_error *err)
{
	return gm_header_machine_merge(&s->hm, user, out, err);
}

/* Region r of the chain into base: the full snapshot (from `first` on), then each diff's pages over it. */
static int fill_from(const struct gm_snapshot *s, unsigned r, unsigned first, uint8_t *base, struct gm_error *err)
{
	char path[PATH_MAX + 32];
	int e = 0;

	for (unsigned i = first; i < s->n && !e; i++) {
		region_path(&s->links[i], s->hm.regions[r].name, path, sizeof(path));
		e = gm_memfile_read(path, base, s->hm.regions[r].size, s->links[i].bitmaps[r], RESTORE_THREADS, err);
	}
	return e;
}

/* Every region's memory, by mode; the machine is built and no vCPU runs. */
static int load_memory(struct gm_machine *m, const struct gm_snapshot *s, enum gm_restore_mode mode,
		       struct gm_error *err)
{
	char path[PATH_MAX + 32];
	int r = 0;

	switch (mode) {
	case GM_RESTORE_COPY:
		for (unsigned i = 0; i < m->nmems && !r; i++)
			r = fill_from(s, i, 0, m->mems[i]->host, err);
		return r;
	case GM_RESTORE_MAP:
		/* each base file lazily, the diffs' few pages copied over it */
		for (unsigned i = 0; i < m->nmems && !r; i++) {
			region_path(&s->links[0], s->hm.regions[i].name, path, sizeof(path));
			r = gm_memory_map_file_private(m->mems[i], path, err);
			if (!r)
				r = fill_from(s, i, 1, m->mems[i]->host, err);
		}
		return r;
	case GM_RESTORE_ONDEMAND: {
		/* region-major: src[region * n + link] */
		struct gm_page_source *src = calloc((size_t)m->nmems * s->n, sizeof(*src));
		char (*paths)[PATH_MAX + 32] = calloc((size_t)m->nmems * s->n, sizeof(*paths));

		if (!src || !paths)
			r = gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the page server's sources");
		for (unsigned i = 0; i < m->nmems && !r; i++)
			for (unsigned k = 0; k < s->n; k++) {
				unsigned j = i * s->n + k;
				region_path(&s->links[k], s->hm.regions[i].name, paths[j], sizeof(paths[j]));
				src[j] = (struct gm_page_source){ .path = paths[j], .bitmap = s->links[k].bitmaps[i] };
			}
		if (!r)
			r = gm_ondemand_start(m, src, s->n, err);
		free(src);
		free(paths);
		return r;
	}
	}
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "unknown restore mode %d", (int)mode);
}

/* One region of the chain folded into OUT's memory file. */
static int merge_region(const struct gm_snapshot *s, unsigned i, const char *tmp, struct gm_error *err)
{
	uint64_t size = s->hm.regions[i].size, written = 0;
	char path[PATH_MAX + 32], file[GM_REGION_NAME_MAX + 8];
	int r = 0;

	/* an anonymous mapping that only grows where the snapshots hold data */
	uint8_t *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot map %llu bytes to merge region %s: %s",
			       (unsigned long long)size, s->hm.regions[i].name, strerror(errno));
	r = fill_from(s, i, 0, base, err);
	gm_snapshot_region_file(s->hm.regions[i].name, file, sizeof(file));
	snprintf(path, sizeof(path), "%s/%s", tmp, file);
	if (!r)
		r = gm_memfile_write(path, base, size, NULL, &written, err);
	munmap(base, size);
	return r;
}

int gm_snapshot_merge(const struct gm_snapshot *s, const char *out, struct gm_error *err)
{
	const struct link *last = &s->links[s->n - 1];
	char tmp[PATH_MAX], path[PATH_MAX + 16];
	int r = gm_snapshot_dir_begin(out, tmp, sizeof(tmp), err);

	if (r)
		return r;
	for (unsigned i = 0; i < s->hm.nregions && !r; i++)
		r = merge_region(s, i, tmp, err);
	snprintf(path, sizeof(path), "%s/%s", tmp, GM_SNAPSHOT_STATE_FILE);
	if (!r)
		r = gm_state_rewrite_full(last->stream, path, err);
	return gm_snapshot_dir_commit(tmp, out, r, err);
}

int gm_machine_restore(const struct gm_config *cfg, const struct gm_caps *caps, const struct gm_snapshot *s,
		       enum gm_restore_mode mode, struct gm_machine **out, struct gm_error *err)
{
	struct gm_machine *m = NULL;
	int r = gm_header_machine_check(&s->hm, cfg, err);

	if (r)
		return r;
	for (unsigned i = 0; i <= cfg->nregions; i++)
		if (mode != GM_RESTORE_COPY && (i ? cfg->regions[i - 1].mem.prealloc : cfg->mem.prealloc))
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "prealloc=on fills all of a region up front, which restore-mode=map and ondemand exist to avoid; drop one");
	r = gm_machine_build(cfg, caps, false, NULL, &m, err);
	if (!r)
		r = load_memory(m, s, mode, err);
	if (!r)
		r = gm_machine_load_image(m, &s->img, err);
	if (r) {
		gm_machine_destroy(m);
		return r;
	}
	snprintf(m->snapshot_id, sizeof(m->snapshot_id), "%s", s->links[s->n - 1].id);
	*out = m;
	return 0;
}
