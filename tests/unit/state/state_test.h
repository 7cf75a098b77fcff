/*
 * Helpers of the state-stream tests (and of the fuzz corpus generator): a
 * stream builder that writes the format from docs/state-stream.md by hand,
 * independently of src/state, so the tests check the reader against the
 * document rather than against the writer; and capture of what the writer
 * writes to an fd.
 */
#ifndef GM_STATE_TEST_H
#define GM_STATE_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/buf.h"
#include "state/stream.h"

#define ST_JSON "{\"gmvm_version\":\"0.1.0\",\"uuid\":\"6f1c3a52-0f7e-4d4a-9a57-3c1d2e8b9f00\"}"
#define ST_MIB (UINT64_C(1) << 20)

/* The 32-byte file header (with the given version and flags) and json. */
void sb_file_header(struct gm_buf *b, uint32_t version, uint32_t flags, const char *json);
/* A section whose checksum is right for the given header fields and payload. */
void sb_section(struct gm_buf *b, uint32_t type, uint32_t instance, uint32_t version,
		uint32_t flags, const void *payload, size_t len);
/* A section header with any length and checksum, and n payload bytes. */
void sb_section_raw(struct gm_buf *b, uint32_t type, uint32_t instance, uint32_t version,
		    uint32_t flags, uint64_t length, uint64_t sum, const void *payload, size_t n);
/* The checksum the document defines: XXH64 of header bytes 0..23 then the payload. */
uint64_t sb_sum(const uint8_t head[24], const void *payload, size_t n);
void sb_end(struct gm_buf *b);
/* The PAGES payload head, and one run. */
void sb_pages_head(struct gm_buf *p, uint32_t region, uint32_t shift);
void sb_run(struct gm_buf *p, uint64_t first, uint32_t npages, uint32_t flags, const void *data,
	    uint64_t dlen);
/* One zstd frame of src (malloc'd). */
uint8_t *sb_zstd(const void *src, size_t len, size_t *out_len);

/* A small valid stream: header, CLOCK, compressed VCPU, DEVICE, a PAGES
 * section of two runs (one compressed), END. */
void sb_small_stream(struct gm_buf *b);

/* A memfd for the writer to write into, and all of it read back (malloc'd). */
int st_memfd(void);
uint8_t *st_slurp(int fd, size_t *len);

/* Parse, asserting it is refused with a message that contains want (and
 * names a section or header, at a byte offset, on one line). */
void st_refused(const void *buf, size_t len, const char *want);
/* Parse, asserting it is accepted; free with gm_stream_in_free. */
struct gm_stream_in *st_accepted(const void *buf, size_t len);

#endif
