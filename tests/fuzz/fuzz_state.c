/*
 * tests/fuzz/fuzz_state.c: the state stream reader on arbitrary bytes.
 * Beyond "no crash, no sanitizer report" it checks what gm_stream_in_parse
 * promises about a stream it accepts (every section inside the input or
 * owned, PAGES runs ascending and whole) and that every refusal is one
 * bad-input line naming a place; every payload byte and every run's pages
 * are read so ASan sees a stray pointer.  An accepted stream is then written
 * again by the writer and must read back the same.
 *
 * Checksums would stop nearly every mutation at the first section, so each
 * input runs twice: as it is, and with every checksum the framing lets us
 * find made right, which takes the fuzzer into the sections' structure.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "state/stream.h"
#include "util/le.h"

/* Small, so a bomb costs a fuzzing iteration little. */
#define FUZZ_BUDGET (UINT64_C(64) << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok, const char *what, const struct gm_error *err)
{
	if (!ok) {
		fprintf(stderr, "fuzz_state: broken promise: %s (msg: %s)\n", what, err ? err->msg : "");
		abort();
	}
}

static void check_refusal(int rc, const struct gm_error *err)
{
	check(rc < 0, "negative errno on failure", err);
	if (err->status == GM_STATUS_FAILURE) /* out of memory under the fuzzer's limits */
		return;
	check(err->status == GM_STATUS_BAD_INPUT, "bad-input status", err);
	check(err->msg[0] != '\0' && !strchr(err->msg, '\n'), "one-line message", err);
	check(strstr(err->msg, " at byte ") != NULL, "names a byte offset", err);
}

static volatile uint8_t sink;

static void touch(const uint8_t *p, size_t n)
{
	uint8_t x = 0;

	for (size_t i = 0; i < n; i++)
		x ^= p[i];
	sink = x;
}

struct walk {
	const struct gm_section *sec;
	unsigned shift;
	uint64_t next; /* the first page the next run may start at */
	uint64_t runs;
};

static int on_run(void *opaque, uint32_t region, uint64_t first, uint64_t npages,
		  const uint8_t *data)
{
	struct walk *w = opaque;

	check(region == w->sec->instance, "region is the instance", NULL);
	check(npages > 0, "runs are not empty", NULL);
	check(w->runs == 0 || first >= w->next, "runs ascend without overlap", NULL);
	check(first + npages > first && first + npages <= UINT64_MAX >> w->shift,
	      "page offsets fit in 64 bits", NULL);
	if (data) {
		check((npages << w->shift) <= GM_STREAM_MAX_SECTION, "a run within the limit", NULL);
		touch(data, npages << w->shift);
	}
	w->next = first + npages;
	w->runs++;
	return 0;
}

static int writer_fd(void)
{
	static int fd = -2;

	if (fd == -2)
		fd = memfd_create("fuzz_state", MFD_CLOEXEC);
	return fd;
}

/* The accepted stream, written again section by section, reads back the same. */
static void rewrite(const uint8_t *data, size_t size, const struct gm_stream_in *s)
{
	const char *json = gm_stream_in_header(s);
	struct gm_stream_out *w;
	struct gm_stream_in *s2;
	struct gm_error err = { 0 };
	int fd = writer_fd();
	unsigned n = gm_stream_in_count(s);
	uint8_t *out;
	off_t len;

	if (fd < 0 || ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return;
	check(gm_stream_out_open(fd, &w, &err) == 0, "writer opens", &err);
	check(gm_stream_out_header(w, json, strlen(json), &err) == 0, "the header is written again", &err);
	for (unsigned i = 0; i < n; i++) {
		const struct gm_section *sec = gm_stream_in_section(s, i);

		check(gm_stream_out_section(w, sec->type, sec->instance, sec->version, sec->data, sec->len,
					    (data[size - 1] + i) & 1, &err) == 0,
		      "a section is written again", &err);
	}
	check(gm_stream_out_end(w, &err) == 0, "END is written", &err);
	gm_stream_out_free(w);
	len = lseek(fd, 0, SEEK_END);
	out = malloc(len > 0 ? (size_t)len : 1);
	check(out && pread(fd, out, (size_t)len, 0) == len, "read back", NULL);
	check(gm_stream_in_parse_limit(out, (size_t)len, UINT64_MAX, &s2, &err) == 0,
	      "what the writer wrote is accepted", &err);
	check(gm_stream_in_count(s2) == n && !strcmp(gm_stream_in_header(s2), json), "same shape", &err);
	for (unsigned i = 0; i < n; i++) {
		const struct gm_section *a = gm_stream_in_section(s, i), *b = gm_stream_in_section(s2, i);

		check(a->type == b->type && a->instance == b->instance && a->version == b->version &&
		      a->len == b->len && (a->len == 0 || !memcmp(a->data, b->data, a->len)),
		      "same sections", &err);
	}
	gm_stream_in_free(s2);
	free(out);
}

/* Make the JSON header's and every section's checksum right, in place. */
static void fix_checksums(uint8_t *p, size_t size)
{
	uint64_t hlen, n;
	size_t off;

	if (size < GM_STREAM_FILE_HEADER_LEN || memcmp(p, GM_STREAM_MAGIC, 8))
		return;
	hlen = gm_le64(p + 16);
	if (hlen > size - GM_STREAM_FILE_HEADER_LEN)
		return;
	gm_put_le64(p + 24, XXH64(p + 32, hlen, 0));
	for (off = 32 + hlen; size - off >= GM_STREAM_SECTION_HEADER_LEN; off += 32 + n) {
		XXH64_state_t st;

		n = gm_le64(p + off + 16);
		if (n > size - off - 32)
			return;
		XXH64_reset(&st, 0);
		XXH64_update(&st, p + off, 24);
		XXH64_update(&st, p + off + 32, n);
		gm_put_le64(p + off + 24, XXH64_digest(&st));
	}
}

static void one(const uint8_t *data, size_t size)
{
	struct gm_stream_in *s = NULL;
	struct gm_error err = { 0 };
	int rc = gm_stream_in_parse_limit(data, size, FUZZ_BUDGET, &s, &err);
	unsigned n;

	if (rc) {
		check_refusal(rc, &err);
		check(s == NULL, "no stream on failure", &err);
		return;
	}
	check(err.msg[0] == '\0', "no message on success", &err);
	check(strlen(gm_stream_in_header(s)) <= GM_STREAM_MAX_JSON, "header within 1 MiB", NULL);
	n = gm_stream_in_count(s);
	check(gm_stream_in_section(s, n) == NULL, "nothing past the count", NULL);
	for (unsigned i = 0; i < n; i++) {
		const struct gm_section *sec = gm_stream_in_section(s, i);
		bool inside = sec->data >= data && sec->data <= data + size;

		check(sec->index == i, "index", NULL);
		check(sec->offset + GM_STREAM_SECTION_HEADER_LEN <= size, "header inside the input", NULL);
		check(sec->type != GM_SECTION_END && strcmp(gm_section_type_name(sec->type), "unknown"),
		      "a known type, END not counted", NULL);
		check(sec->len <= GM_STREAM_MAX_SECTION, "payload within 256 MiB", NULL);
		check(!inside || sec->len <= (size_t)(data + size - sec->data), "payload inside the input",
		      NULL);
		check(gm_stream_in_find(s, sec->type, sec->instance) != NULL, "find", NULL);
		touch(sec->data, sec->len);
		if (sec->type == GM_SECTION_PAGES) {
			struct walk w = { .sec = sec, .shift = gm_stream_pages_shift(sec) };

			check(w.shift >= 12 && w.shift <= 21, "page shift", NULL);
			gm_error_clear(&err);
			rc = gm_stream_pages_foreach(sec, on_run, &w, &err);
			if (rc)
				check_refusal(rc, &err);
		}
	}
	if (size)
		rewrite(data, size, s);
	gm_stream_in_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed = malloc(size ? size : 1);

	one(data, size);
	if (fixed) {
		memcpy(fixed, data, size);
		fix_checksums(fixed, size);
		if (memcmp(fixed, data, size))
			one(fixed, size);
		free(fixed);
	}
	return 0;
}
