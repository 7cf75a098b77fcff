/*
 * state/: the versioned state stream that snapshots, migration and live
 * update share (docs/state-stream.md has the byte layout).  A 32-byte file
 * header and a JSON header, then sections {type, instance, version, flags,
 * length, xxh64} each optionally one zstd frame, and an END section.  The
 * writer streams to any fd (file, pipe, socket: it never seeks); the reader
 * takes the whole stream as untrusted bytes and checks all of it before the
 * caller sees any of it.  What goes into sections is src/vmm's business.
 */
#ifndef GM_STATE_STREAM_H
#define GM_STATE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmvm/error.h"

#define GM_STREAM_MAGIC "GMVMSTRM"
#define GM_STREAM_VERSION 1u
#define GM_STREAM_FILE_HEADER_LEN 32u
#define GM_STREAM_SECTION_HEADER_LEN 32u
#define GM_STREAM_MAX_JSON (UINT64_C(1) << 20)
/* One section's payload, as stored and decompressed. */
#define GM_STREAM_MAX_SECTION (UINT64_C(256) << 20)
/* What gm_stream_in_read_file reads, and what gm_stream_in_parse
 * decompresses in all, unless the caller allows more. */
#define GM_STREAM_MAX_TOTAL (UINT64_C(1) << 30)
/* Section flag: the payload is one zstd frame (also a PAGES run's flag). */
#define GM_SECTION_ZSTD 1u
/* The writer's PAGES sections hold at most this much payload. */
#define GM_PAGES_SECTION_TARGET (UINT64_C(8) << 20)
/* The PAGES payload layout this reader and writer speak. */
#define GM_PAGES_VERSION 1u
/* A PAGES run's flag: its pages are all zero and it carries no data. */
#define GM_RUN_ZERO 2u
/* gm_stream_out_pages' flags: compress each run; send zero runs too. */
#define GM_PAGES_COMPRESS 1u
#define GM_PAGES_ZEROS 2u

enum gm_section_type {
	GM_SECTION_VCPU = 1,
	GM_SECTION_CLOCK = 2,
	GM_SECTION_GSI_ROUTES = 3,
	GM_SECTION_DEVICE = 4,
	GM_SECTION_PAGES = 5,
	GM_SECTION_DIRTY_BITMAP = 6,
	GM_SECTION_REGION = 7,
	GM_SECTION_MIGRATION = 8,
	GM_SECTION_END = 0x7fffffff,
};

/* "VCPU", "PAGES", ... or "unknown". */
const char *gm_section_type_name(uint32_t type);

/* ---- writing ---- */

struct gm_stream_out;

/* A writer on fd (not owned, not closed; any position, never seeked).  On a
 * socket it sends with MSG_NOSIGNAL, so a peer that went away is an EPIPE
 * error, not a SIGPIPE. */
int gm_stream_out_open(int fd, struct gm_stream_out **out, struct gm_error *err);
/* The file header and the JSON header (1 B..1 MiB, a JSON object with string
 * "gmvm_version" and "uuid": what the reader demands).  Exactly once, first. */
int gm_stream_out_header(struct gm_stream_out *w, const char *json, size_t len,
			 struct gm_error *err);
/* One section (any type but END; payload <= 256 MiB).  compress asks for one
 * zstd frame; a payload zstd cannot shrink is stored as it is. */
int gm_stream_out_section(struct gm_stream_out *w, uint32_t type, uint32_t instance,
			  uint32_t version, const void *payload, size_t len, bool compress,
			  struct gm_error *err);
/*
 * Runs of the non-zero pages of [first_page, first_page+npages) of host
 * memory base (page i at base + i*page_size; page_size a power of two, 4 KiB
 * to 2 MiB); bitmap (bit i = page first_page+i) limits it to set bits when
 * not NULL.  Splits into PAGES sections (instance = region) of at most
 * GM_PAGES_SECTION_TARGET payload.  flags: GM_PAGES_COMPRESS makes each run
 * a zstd frame; GM_PAGES_ZEROS adds GM_RUN_ZERO runs for the selected pages
 * that are zero.
 */
int gm_stream_out_pages(struct gm_stream_out *w, uint32_t region, const uint8_t *base,
			uint64_t page_size, uint64_t first_page, uint64_t npages,
			const uint64_t *bitmap, unsigned flags, struct gm_error *err);
/* The END section, then flush.  The stream is complete only after this. */
int gm_stream_out_end(struct gm_stream_out *w, struct gm_error *err);
/* Write out what is buffered: a peer waiting for the header must get it. */
int gm_stream_out_flush(struct gm_stream_out *w, struct gm_error *err);
/* Bytes of stream produced so far (written or still buffered). */
uint64_t gm_stream_out_bytes(const struct gm_stream_out *w);
/* Frees the writer (buffered bytes not yet flushed are dropped); does not close fd. */
void gm_stream_out_free(struct gm_stream_out *w);

/* ---- reading ---- */

struct gm_section {
	uint32_t type, instance, version;
	uint64_t offset;      /* of its header in the stream */
	const uint8_t *data;  /* decompressed payload */
	size_t len;
	unsigned index;       /* its position among the sections, for messages */
};

struct gm_stream_in;

/*
 * Check ALL of buf before returning: magic, version, flags, header checksum
 * and JSON, each section's bounds, checksum, flags, type, decompression
 * (bounded), the layout of PAGES sections, END last and nothing after it.
 * A refusal is one line naming the section (index and type name) and the
 * byte offset, status GM_STATUS_BAD_INPUT.  Payloads that were stored
 * uncompressed point into buf: keep buf until gm_stream_in_free.
 * Decompressed payloads are limited to GM_STREAM_MAX_TOTAL in all.
 */
int gm_stream_in_parse(const void *buf, size_t len, struct gm_stream_in **out,
		       struct gm_error *err);
/* The same, with max_decompressed bytes of decompressed payloads in all. */
int gm_stream_in_parse_limit(const void *buf, size_t len, uint64_t max_decompressed,
			     struct gm_stream_in **out, struct gm_error *err);
/* Read a whole stream file (or FIFO) of at most GM_STREAM_MAX_TOTAL bytes and
 * parse it; the stream owns the bytes. */
int gm_stream_in_read_file(const char *path, struct gm_stream_in **out, struct gm_error *err);
/* The same with max bytes (of the file, and of decompressed payloads). */
int gm_stream_in_read_file_limit(const char *path, uint64_t max, struct gm_stream_in **out,
				 struct gm_error *err);
const char *gm_stream_in_header(const struct gm_stream_in *s); /* NUL-terminated JSON */
unsigned gm_stream_in_count(const struct gm_stream_in *s);     /* sections, END not counted */
const struct gm_section *gm_stream_in_section(const struct gm_stream_in *s, unsigned i);
/* The first section of that type and instance, or NULL. */
const struct gm_section *gm_stream_in_find(const struct gm_stream_in *s, uint32_t type,
					   uint32_t instance);
void gm_stream_in_free(struct gm_stream_in *s);

/*
 * Walk a PAGES section's runs in order, checked: run bounds, runs ascending
 * without overlap, page numbers whose byte offsets fit in 64 bits, and
 * bounded decompression.  fn gets each run's npages << page_shift bytes
 * (page_shift from the payload: gm_stream_pages_shift), or NULL data for a
 * GM_RUN_ZERO run (those pages are zero); it returns 0 to go on, anything
 * else stops the walk and is returned as it is.
 */
int gm_stream_pages_foreach(const struct gm_section *sec,
			    int (*fn)(void *opaque, uint32_t region, uint64_t first_page,
				      uint64_t npages, const uint8_t *data),
			    void *opaque, struct gm_error *err);
/*
 * A stream put together from sections a gm_stream_reader already checked
 * (the state at the end of a migration), for the same lookups: a copy of
 * each payload, its index and offset as they were.
 */
int gm_stream_in_new(const char *json, struct gm_stream_in **out, struct gm_error *err);
int gm_stream_in_add(struct gm_stream_in *s, const struct gm_section *sec, struct gm_error *err);

/* ---- reading a section at a time (migration) ---- */

struct gm_stream_reader;

/*
 * Read and check the file header and JSON header from fd (a socket or pipe,
 * never seeked; a receive timeout on it becomes a "nothing came" error).
 * Later sections may decompress to max_decompressed bytes in all.
 */
int gm_stream_reader_open(int fd, uint64_t max_decompressed, struct gm_stream_reader **out,
			  struct gm_error *err);
const char *gm_stream_reader_header(const struct gm_stream_reader *r); /* the JSON */
/* The file header and JSON header bytes as they came (to rebuild a stream). */
const void *gm_stream_reader_head_bytes(const struct gm_stream_reader *r, size_t *len);
/*
 * The next section, checked as gm_stream_in_parse checks one: 1 with *sec
 * (valid until the next call), 0 at the END section (and after it), or a
 * negative errno with a one-line reason naming the section and byte offset.
 */
int gm_stream_reader_next(struct gm_stream_reader *r, const struct gm_section **sec,
			  struct gm_error *err);
/* The current section as it was stored (header and payload), to pass it on. */
const void *gm_stream_reader_raw(const struct gm_stream_reader *r, size_t *len);
uint64_t gm_stream_reader_bytes(const struct gm_stream_reader *r); /* consumed so far */
void gm_stream_reader_free(struct gm_stream_reader *r);

/* The page_shift of a (parsed, so checked) PAGES section; 0 if it is not one. */
unsigned gm_stream_pages_shift(const struct gm_section *sec);

#endif
