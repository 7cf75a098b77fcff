/*
 * vmm/restore: machines made from a snapshot chain.  Opening reads and
 * checks every link whole (streams, headers, the chain's order, memory
 * files, the machine sections of the last link) before any VM exists.
 * The restore then builds the machine without a guest image, fills its
 * memory, starts it paused (the vCPUs park before their first instruction)
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
#include "vmm/snapshot_dir.h"
#include "vmm/state.h"

#define MAX_CHAIN 64
#define RESTORE_THREADS 4

struct link {
	char dir[PATH_MAX];
	struct gm_stream_in *stream;
	char id[37], parent[37];
	bool diff;
	uint64_t *bitmap; /* diff: the pages it holds (points into the stream) */
};

struct gm_snapshot {
	unsigned n;
	struct link links[MAX_CHAIN];
	/* from the last link's header */
	unsigned cpus;
	uint64_t size, page_size;
	enum gm_backend backend;
	char uuid[37];
	char *cmdline;
	struct gm_machine_image img;
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

/* The header's facts, the same in every link of a chain. */
static int read_header(struct gm_snapshot *s, struct link *l, bool first, struct gm_error *err)
{
	json_t *h = json_loads(gm_stream_in_header(l->stream), 0, NULL);
	json_t *cfg = json_object_get(h, "config"), *mem = json_object_get(cfg, "memory");
	json_t *snap = json_object_get(h, "snapshot");
	char uuid[37];
	const char *type = json_string_value(json_object_get(snap, "type"));
	int r = 0;

	json_int_t cpus = json_integer_value(json_object_get(cfg, "cpus"));
	json_int_t size = json_integer_value(json_object_get(mem, "size"));
	const char *pages = json_string_value(json_object_get(mem, "hugepages"));
	const char *backend = json_string_value(json_object_get(mem, "backend"));
	if (!h || copy_str(uuid, sizeof(uuid), json_object_get(h, "uuid")) || cpus < 1 || cpus > GM_MAX_CPUS ||
	    size <= 0 || size % (json_int_t)GM_PAGE_4K || !pages || !backend || !type ||
	    copy_str(l->id, sizeof(l->id), json_object_get(snap, "id"))) {
		r = bad(err, l->dir, "the state header lacks the VM's uuid, config or snapshot id; it was not written by gmvm snapshot");
		goto out;
	}
	l->diff = strcmp(type, "diff") == 0;
	if (l->diff && copy_str(l->parent, sizeof(l->parent), json_object_get(snap, "parent"))) {
		r = bad(err, l->dir, "a diff snapshot without its parent's id; the state is corrupt");
		goto out;
	}
	uint64_t page_size = !strcmp(pages, "1G") ? GM_PAGE_1G : !strcmp(pages, "2M") ? GM_PAGE_2M : GM_PAGE_4K;
	if (first) {
		s->cpus = (unsigned)cpus;
		s->size = (uint64_t)size;
		s->page_size = page_size;
		s->backend = !strcmp(backend, "memfd") ? GM_BACKEND_MEMFD
			     : !strcmp(backend, "anon") ? GM_BACKEND_ANON : GM_BACKEND_GUEST_MEMFD;
		strcpy(s->uuid, uuid);
		free(s->cmdline);
		s->cmdline = strdup(json_string_value(json_object_get(cfg, "cmdline")) ?: "");
	} else if (strcmp(uuid, s->uuid) || (unsigned)cpus != s->cpus || (uint64_t)size != s->size) {
		r = bad(err, l->dir, "belongs to another VM than the snapshot before it in the chain; restore one VM's chain");
	}
out:
	json_decref(h);
	return r;
}

static int read_bitmap(struct gm_snapshot *s, struct link *l, struct gm_error *err)
{
	const struct gm_section *sec = gm_stream_in_find(l->stream, GM_SECTION_DIRTY_BITMAP, 0);
	uint64_t npages = s->size / GM_PAGE_4K;
	size_t words = (npages + 63) / 64;

	if (!sec)
		return bad(err, l->dir, "a diff snapshot without its page bitmap; the state is corrupt");
	if (sec->len != 8 + words * 8 || *(const uint64_t *)(const void *)sec->data != npages)
		return gm_section_fail(err, sec, "the bitmap is for another RAM size than %llu bytes",
				       (unsigned long long)s->size);
	l->bitmap = (uint64_t *)(uintptr_t)(sec->data + 8);
	return 0;
}

static int check_memory_file(const struct gm_snapshot *s, const struct link *l, struct gm_error *err)
{
	char path[PATH_MAX + 16];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", l->dir, GM_SNAPSHOT_RAM_FILE);
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return bad(err, l->dir, "has no ram.mem; the snapshot is incomplete");
	if ((uint64_t)st.st_size != s->size)
		return bad(err, l->dir, "ram.mem is not the size of the guest's RAM; the snapshot is truncated or corrupt");
	return 0;
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
			r = read_bitmap(s, l, err);
		if (!r)
			r = check_memory_file(s, l, err);
	}
	if (!r)
		r = gm_image_decode(s->links[s->n - 1].stream, s->cpus, &s->img, err);
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
	free(s->cmdline);
	free(s);
}

void gm_snapshot_config(const struct gm_snapshot *s, struct gm_config *cfg)
{
	cfg->cpus = s->cpus;
	cfg->mem.size = s->size;
	cfg->mem.page_size = s->page_size;
	cfg->mem.backend = s->backend;
	cfg->uuid = s->uuid;
	cfg->cmdline = s->cmdline;
	cfg->kernel = NULL;
}

/* The chain's memory into base: the full snapshot (from `first` on), then each diff's pages over it. */
static int fill_from(const struct gm_snapshot *s, unsigned first, uint8_t *base, struct gm_error *err)
{
	char path[PATH_MAX + 16];
	int r = 0;

	for (unsigned i = first; i < s->n && !r; i++) {
		snprintf(path, sizeof(path), "%s/%s", s->links[i].dir, GM_SNAPSHOT_RAM_FILE);
		r = gm_memfile_read(path, base, s->size, s->links[i].bitmap, RESTORE_THREADS, err);
	}
	return r;
}

static int fill(const struct gm_snapshot *s, uint8_t *base, struct gm_error *err)
{
	return fill_from(s, 0, base, err);
}

/* Memory for the restored guest, by mode; the machine is built and no vCPU runs. */
static int load_memory(struct gm_machine *m, const struct gm_snapshot *s, enum gm_restore_mode mode,
		       struct gm_error *err)
{
	char path[PATH_MAX + 16];
	int r;

	switch (mode) {
	case GM_RESTORE_COPY:
		return fill(s, m->mem->host, err);
	case GM_RESTORE_MAP:
		/* the base file lazily, the diffs' few pages copied over it */
		snprintf(path, sizeof(path), "%s/%s", s->links[0].dir, GM_SNAPSHOT_RAM_FILE);
		r = gm_memory_map_file_private(m->mem, path, err);
		return r ? r : fill_from(s, 1, m->mem->host, err);
	case GM_RESTORE_ONDEMAND: {
		struct gm_page_source src[MAX_CHAIN];
		char paths[MAX_CHAIN][PATH_MAX + 16];
		for (unsigned i = 0; i < s->n; i++) {
			snprintf(paths[i], sizeof(paths[i]), "%s/%s", s->links[i].dir, GM_SNAPSHOT_RAM_FILE);
			src[i] = (struct gm_page_source){ .path = paths[i], .bitmap = s->links[i].bitmap };
		}
		return gm_ondemand_start(m, src, s->n, err);
	}
	}
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "unknown restore mode %d", (int)mode);
}

int gm_snapshot_merge(const struct gm_snapshot *s, const char *out, struct gm_error *err)
{
	const struct link *last = &s->links[s->n - 1];
	char tmp[PATH_MAX], path[PATH_MAX + 16];
	uint64_t written = 0;
	int r = gm_snapshot_dir_begin(out, tmp, sizeof(tmp), err);

	if (r)
		return r;
	/* the chain's memory, folded in an anonymous mapping that only grows
	 * where the snapshots hold data */
	uint8_t *base = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		r = gm_fail(err, GM_STATUS_FAILURE, errno, "cannot map %llu bytes to merge the chain: %s",
			    (unsigned long long)s->size, strerror(errno));
	if (!r)
		r = fill(s, base, err);
	snprintf(path, sizeof(path), "%s/%s", tmp, GM_SNAPSHOT_RAM_FILE);
	if (!r)
		r = gm_memfile_write(path, base, s->size, NULL, &written, err);
	if (base != MAP_FAILED)
		munmap(base, s->size);
	snprintf(path, sizeof(path), "%s/%s", tmp, GM_SNAPSHOT_STATE_FILE);
	if (!r)
		r = gm_state_rewrite_full(last->stream, path, err);
	return gm_snapshot_dir_commit(tmp, out, r, err);
}

int gm_machine_restore(const struct gm_config *cfg, const struct gm_caps *caps, const struct gm_snapshot *s,
		       enum gm_restore_mode mode, struct gm_machine **out, struct gm_error *err)
{
	struct gm_machine *m = NULL;
	int r;

	if (cfg->cpus != s->cpus || cfg->mem.size != s->size)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "the snapshot is of %u vCPUs and %llu bytes of RAM; a restore keeps both", s->cpus,
			       (unsigned long long)s->size);
	if (mode != GM_RESTORE_COPY && cfg->mem.prealloc)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "prealloc=on fills all RAM up front, which restore-mode=map and ondemand exist to avoid; drop one");
	r = gm_machine_build(cfg, caps, false, &m, err);
	if (!r)
		r = load_memory(m, s, mode, err);
	/* the vCPUs park before their first KVM_RUN, then take the saved state */
	if (!r)
		r = gm_machine_pause(m, err);
	if (!r)
		r = gm_machine_start(m, err);
	if (!r) {
		pthread_mutex_lock(&m->op_lock);
		r = gm_image_apply(m, &s->img, err);
		pthread_mutex_unlock(&m->op_lock);
	}
	if (r) {
		gm_machine_destroy(m);
		return r;
	}
	snprintf(m->snapshot_id, sizeof(m->snapshot_id), "%s", s->links[s->n - 1].id);
	*out = m;
	return 0;
}
