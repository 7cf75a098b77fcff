/*
 * state/stream_read.c: the stream parser.  Every byte is untrusted (a
 * snapshot file anyone could edit, a socket from another host), so the whole
 * stream is checked before the caller sees any of it, every length is checked
 * against what is left before it is used, and a compressed payload gets
 * memory only for the size its frame states, within the limits.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "state/state_internal.h"
#include "util/le.h"

struct slot {
	struct gm_section s;
	uint8_t *owned; /* the decompressed payload, or NULL */
};

struct gm_stream_in {
	char *header;
	struct slot *sec;
	unsigned n, cap;
	void *file; /* the stream's bytes when gm_stream_in_read_file read them */
};

static int refuse_file(struct gm_error *err, unsigned at, const char *what)
{
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "state stream: file header at byte %u: %s",
		       at, what);
}

/* The 32-byte file header and the JSON header; *off is where sections start. */
int gm_stream_header_parse(const uint8_t *b, size_t len, char **json, size_t *off,
			   struct gm_error *err)
{
	uint32_t version, flags;
	uint64_t hlen;
	const char *why;

	if (len && memcmp(b, GM_STREAM_MAGIC, len < 8 ? len : 8) != 0)
		return refuse_file(err, 0, "not a gmvm state stream (bad magic); "
				   "give a file written by gmvm");
	if (len < GM_STREAM_FILE_HEADER_LEN)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "state stream: file header at byte 0: only %zu of its 32 bytes; "
			       "the stream is cut short, copy it again", len);
	version = gm_le32(b + 8);
	flags = gm_le32(b + 12);
	hlen = gm_le64(b + 16);
	if (version == 0)
		return refuse_file(err, 8, "format version 0 is not valid; the stream is corrupt");
	if (version > GM_STREAM_VERSION)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "state stream: file header at byte 8: format version %" PRIu32
			       " is newer than the %u this gmvm reads; use a newer gmvm", version,
			       GM_STREAM_VERSION);
	if (flags != 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "state stream: file header at byte 12: unknown flags 0x%" PRIx32
			       "; the stream is from a newer gmvm or corrupt", flags);
	if (hlen == 0 || hlen > GM_STREAM_MAX_JSON)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "state stream: file header at byte 16: JSON header length %" PRIu64
			       " is not 1 byte to 1 MiB; the stream is corrupt", hlen);
	if (hlen > len - GM_STREAM_FILE_HEADER_LEN)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "state stream: JSON header at byte 32: %" PRIu64 " bytes, but only %zu "
			       "follow; the stream is cut short, copy it again", hlen,
			       len - GM_STREAM_FILE_HEADER_LEN);
	if (XXH64(b + 32, hlen, 0) != gm_le64(b + 24))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "state stream: JSON header at byte 32: checksum mismatch; "
			       "the stream is corrupt, take the snapshot again");
	if ((why = gm_stream_json_check((const char *)b + 32, hlen)))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "state stream: JSON header at byte 32: %s; the stream is corrupt "
			       "or not from gmvm", why);
	*json = malloc(hlen + 1);
	if (!*json)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM,
			       "state stream: out of memory for the JSON header");
	memcpy(*json, b + 32, hlen);
	(*json)[hlen] = '\0';
	*off = GM_STREAM_FILE_HEADER_LEN + hlen;
	return 0;
}

static struct slot *push(struct gm_stream_in *s)
{
	if (s->n == s->cap) {
		unsigned cap = s->cap ? 2 * s->cap : 16;
		struct slot *p;
		size_t bytes;

		if (cap < s->cap || __builtin_mul_overflow(cap, sizeof(*p), &bytes))
			return NULL;
		p = realloc(s->sec, bytes);
		if (!p)
			return NULL;
		s->sec = p;
		s->cap = cap;
	}
	memset(&s->sec[s->n], 0, sizeof(s->sec[0]));
	return &s->sec[s->n++];
}

/* A compressed payload into memory of its own (*owned), within the budget. */
static int inflate(struct gm_section *sec, uint8_t **owned, const uint8_t *p, uint64_t n,
		   struct gm_budget *bg, struct gm_error *err)
{
	uint64_t size;
	const char *why = gm_zstd_frame_size(p, n, GM_STREAM_MAX_SECTION, &size);

	if (why)
		return gm_state_refuse(err, sec->index, sec->type, sec->offset,
				       "%s (256 MiB per section); the stream is corrupt", why);
	if (size > bg->left)
		return gm_state_refuse(err, sec->index, sec->type, sec->offset,
				       "decompressed payloads pass the limit of %" PRIu64 " bytes "
				       "for the whole stream; raise the limit if the stream is "
				       "genuine", bg->max);
	if (!bg->dctx && !(bg->dctx = ZSTD_createDCtx()))
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "state stream: out of memory for zstd");
	*owned = malloc(size ? size : 1);
	if (!*owned)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM,
			       "state stream: out of memory for a %" PRIu64 "-byte payload", size);
	if ((why = gm_zstd_decompress(bg->dctx, p, n, *owned, size)))
		return gm_state_refuse(err, sec->index, sec->type, sec->offset,
				       "zstd payload does not decompress: %s; the stream is corrupt",
				       why);
	bg->left -= size;
	sec->data = *owned;
	sec->len = size;
	return 0;
}

int gm_section_accept(const uint8_t *h, const uint8_t *p, struct gm_section *sec, uint8_t **owned,
		      struct gm_budget *bg, struct gm_error *err)
{
	uint32_t type = gm_le32(h), flags = gm_le32(h + 12);
	uint64_t n = gm_le64(h + 16);

	sec->type = type;
	sec->instance = gm_le32(h + 4);
	sec->version = gm_le32(h + 8);
	sec->data = p;
	sec->len = n;
	*owned = NULL;
	/* The checksum first: a corrupt header is better called corrupt than
	 * taken for a newer gmvm's type or flag. */
	if (gm_section_xxh64(h, p, n) != gm_le64(h + 24))
		return gm_state_refuse(err, sec->index, type, sec->offset,
				       "checksum mismatch; the stream is corrupt (a damaged file, or bytes changed on the way)");
	if (!gm_section_type_known(type))
		return gm_state_refuse(err, sec->index, type, sec->offset,
				       "unknown section type %" PRIu32 "; the stream is from a newer "
				       "gmvm", type);
	if (flags & ~GM_SECTION_ZSTD)
		return gm_state_refuse(err, sec->index, type, sec->offset,
				       "unknown flags 0x%" PRIx32 "; the stream is from a newer gmvm",
				       flags);
	if (type == GM_SECTION_END) {
		if (sec->instance || sec->version || flags || n)
			return gm_state_refuse(err, sec->index, type, sec->offset,
					       "an END section has instance, version, flags and length "
					       "0; the stream is corrupt");
		return 0;
	}
	if (flags & GM_SECTION_ZSTD) {
		int r = inflate(sec, owned, p, n, bg, err);

		if (r < 0)
			return r;
	}
	if (type == GM_SECTION_PAGES)
		return gm_pages_walk(sec, NULL, NULL, NULL, err);
	return 0;
}

int gm_section_head_check(const uint8_t *h, size_t have, unsigned index, uint64_t off,
			  struct gm_error *err)
{
	uint32_t type = have >= 4 ? gm_le32(h) : 0;
	uint64_t n;

	if (have == 0)
		return gm_state_refuse(err, index, GM_SECTION_END, off,
				       "missing: the stream ends without an END section; "
				       "it is cut short, copy it again");
	if (have < GM_STREAM_SECTION_HEADER_LEN)
		return gm_state_refuse(err, index, type, off,
				       "only %zu of the 32 header bytes; the stream is cut short, "
				       "copy it again", have);
	n = gm_le64(h + 16);
	if (n > GM_STREAM_MAX_SECTION)
		return gm_state_refuse(err, index, type, off,
				       "payload of %" PRIu64 " bytes is over the 256 MiB limit; "
				       "the stream is corrupt", n);
	return 0;
}

/* The section at off; *next is where the one after it starts, or 0 after END. */
static int parse_section(const uint8_t *b, size_t len, size_t off, struct gm_stream_in *s,
			 struct gm_budget *bg, size_t *next, struct gm_error *err)
{
	unsigned index = s->n;
	size_t left = len - off;
	const uint8_t *h = b + off;
	struct gm_section sec = { .index = index, .offset = off };
	uint8_t *owned;
	uint64_t n;
	struct slot *sl;
	int r;

	if ((r = gm_section_head_check(h, left, index, off, err)) < 0)
		return r;
	n = gm_le64(h + 16);
	left -= GM_STREAM_SECTION_HEADER_LEN;
	if (n > left)
		return gm_state_refuse(err, index, gm_le32(h), off,
				       "payload of %" PRIu64 " bytes, but only %zu follow; "
				       "the stream is cut short, copy it again", n, left);
	r = gm_section_accept(h, h + GM_STREAM_SECTION_HEADER_LEN, &sec, &owned, bg, err);
	if (r == 0 && sec.type == GM_SECTION_END) {
		if (left != 0)
			return gm_state_refuse(err, index, sec.type, off,
					       "%zu bytes follow the END section, where nothing may; "
					       "the stream is corrupt", left);
		*next = 0;
		return 0;
	}
	if (r == 0 && !(sl = push(s)))
		r = gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "state stream: out of memory");
	if (r < 0) {
		free(owned);
		return r;
	}
	sl->s = sec;
	sl->owned = owned;
	*next = off + GM_STREAM_SECTION_HEADER_LEN + n;
	return 0;
}

int gm_stream_in_parse_limit(const void *buf, size_t len, uint64_t max_decompressed,
			     struct gm_stream_in **out, struct gm_error *err)
{
	struct gm_budget bg = { .left = max_decompressed, .max = max_decompressed };
	struct gm_stream_in *s;
	size_t off = 0;
	int r;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "state stream: out of memory");
	r = gm_stream_header_parse(buf, len, &s->header, &off, err);
	while (r == 0 && off != 0)
		r = parse_section(buf, len, off, s, &bg, &off, err);
	ZSTD_freeDCtx(bg.dctx);
	if (r < 0) {
		gm_stream_in_free(s);
		return r;
	}
	*out = s;
	return 0;
}

int gm_stream_in_parse(const void *buf, size_t len, struct gm_stream_in **out,
		       struct gm_error *err)
{
	return gm_stream_in_parse_limit(buf, len, GM_STREAM_MAX_TOTAL, out, err);
}

int gm_stream_in_new(const char *json, struct gm_stream_in **out, struct gm_error *err)
{
	struct gm_stream_in *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s || !(s->header = strdup(json))) {
		free(s);
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "state stream: out of memory");
	}
	*out = s;
	return 0;
}

int gm_stream_in_add(struct gm_stream_in *s, const struct gm_section *sec, struct gm_error *err)
{
	struct slot *sl = push(s);
	uint8_t *copy = malloc(sec->len ? sec->len : 1);

	if (!sl || !copy) {
		free(copy);
		if (sl)
			s->n--;
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "state stream: out of memory");
	}
	memcpy(copy, sec->data, sec->len);
	sl->s = *sec;
	sl->s.data = copy;
	sl->owned = copy;
	return 0;
}

void gm_stream_in_adopt(struct gm_stream_in *s, void *bytes)
{
	s->file = bytes;
}

const char *gm_stream_in_header(const struct gm_stream_in *s)
{
	return s->header;
}

unsigned gm_stream_in_count(const struct gm_stream_in *s)
{
	return s->n;
}

const struct gm_section *gm_stream_in_section(const struct gm_stream_in *s, unsigned i)
{
	return i < s->n ? &s->sec[i].s : NULL;
}

const struct gm_section *gm_stream_in_find(const struct gm_stream_in *s, uint32_t type,
					   uint32_t instance)
{
	for (unsigned i = 0; i < s->n; i++)
		if (s->sec[i].s.type == type && s->sec[i].s.instance == instance)
			return &s->sec[i].s;
	return NULL;
}

void gm_stream_in_free(struct gm_stream_in *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->n; i++)
		free(s->sec[i].owned);
	free(s->sec);
	free(s->header);
	free(s->file);
	free(s);
}
