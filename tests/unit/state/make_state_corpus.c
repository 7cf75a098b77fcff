/*
 * make_state_corpus: writes the seed corpus of tests/fuzz/fuzz_state.c, valid
 * streams of several shapes (some from the real writer, some built by hand)
 * and broken ones, each a few KiB at most.  The files are committed; rerun
 * only to change the seeds:
 *   build/tests/unit/state/make_state_corpus tests/fuzz/corpus/state
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "state_test.h"
#include "util/le.h"

static const char *dir;

/* Save a seed and say what the reader makes of it. */
static void save(const char *name, const struct gm_buf *b)
{
	struct gm_stream_in *s;
	struct gm_error err = { 0 };
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b->data, 1, b->len, f) != b->len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
	if (gm_stream_in_parse(b->data, b->len, &s, &err) == 0)
		printf("%-14s %5zu bytes  accepted, %u sections\n", name, b->len, gm_stream_in_count(s));
	else
		printf("%-14s %5zu bytes  refused: %s\n", name, b->len, err.msg);
	gm_stream_in_free(s);
}

/* What the real writer makes of a few sections and 16 pages of memory. */
static void writer_stream(struct gm_buf *b, bool compress, const uint64_t *bitmap)
{
	static uint8_t mem[16][4096];
	struct gm_stream_out *w;
	struct gm_error err = { 0 };
	int fd = st_memfd();
	size_t len;
	uint8_t *p;

	for (unsigned i = 0; i < 16; i++)
		if (i % 4 != 2)
			for (unsigned j = 0; j < 4096; j += 512)
				mem[i][j] = (uint8_t)(i * 16 + j / 512);
	if (gm_stream_out_open(fd, &w, &err) ||
	    gm_stream_out_header(w, ST_JSON, strlen(ST_JSON), &err) ||
	    gm_stream_out_section(w, GM_SECTION_VCPU, 0, 1, mem[1], 300, compress, &err) ||
	    gm_stream_out_section(w, GM_SECTION_CLOCK, 0, 1, "\1\2\3\4\5\6\7\10\0\0\0\0", 12, false, &err) ||
	    gm_stream_out_section(w, GM_SECTION_GSI_ROUTES, 0, 1, mem[5], 64, compress, &err) ||
	    gm_stream_out_section(w, GM_SECTION_REGION, 0, 1, "ram", 3, false, &err) ||
	    gm_stream_out_pages(w, 0, mem[0], 4096, 0, 16, bitmap, compress ? GM_PAGES_COMPRESS : 0, &err) ||
	    gm_stream_out_end(w, &err)) {
		fprintf(stderr, "make_state_corpus: %s\n", err.msg);
		exit(1);
	}
	gm_stream_out_free(w);
	p = st_slurp(fd, &len);
	close(fd);
	gm_buf_bytes(b, p, len);
	free(p);
}

static void pages_stream(struct gm_buf *b, const struct gm_buf *payload, uint32_t region)
{
	sb_file_header(b, 1, 0, ST_JSON);
	sb_section(b, GM_SECTION_PAGES, region, 1, 0, payload->data, payload->len);
	sb_end(b);
}

#define SEED(name, ...)                                  \
	do {                                             \
		struct gm_buf b = { 0 }, p = { 0 };      \
		__VA_ARGS__;                             \
		save(name, &b);                          \
		gm_buf_free(&b);                         \
		gm_buf_free(&p);                         \
		(void)p;                                 \
	} while (0)

int main(int argc, char **argv)
{
	static uint8_t two_m[2 << 20], page[4096];
	uint64_t bitmap[1] = { 0xa5a5 }, two_pages[1] = { 0x3 };
	uint8_t bomb[17] = { 0x28, 0xb5, 0x2f, 0xfd, 0xc0, 0x50, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0 };
	size_t zl;
	uint8_t *z;

	if (argc != 2) {
		fprintf(stderr, "usage: %s corpus-dir\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	memset(two_m, 1, sizeof(two_m));
	memset(page, 0x3c, sizeof(page));

	/* valid */
	SEED("small", sb_small_stream(&b));
	SEED("header_only", sb_file_header(&b, 1, 0, ST_JSON); sb_end(&b));
	SEED("writer_plain", writer_stream(&b, false, two_pages));
	SEED("writer_zstd", writer_stream(&b, true, NULL));
	SEED("writer_bitmap", writer_stream(&b, true, bitmap));
	SEED("many_sections",
	     sb_file_header(&b, 1, 0, ST_JSON);
	     for (uint32_t i = 0; i < 24; i++) /* every type but PAGES */
		     sb_section(&b, (uint32_t[]){ 1, 2, 3, 4, 6, 7 }[i % 6], i, 1, 0, page, i * 3);
	     sb_end(&b));
	z = sb_zstd(two_m, sizeof(two_m), &zl);
	SEED("pages_2m_zstd",
	     sb_pages_head(&p, 1, 21);
	     sb_run(&p, 7, 1, GM_SECTION_ZSTD, z, zl);
	     pages_stream(&b, &p, 1));
	free(z);

	/* broken */
	SEED("cut_short", sb_small_stream(&b); b.len /= 2);
	SEED("bad_checksum", sb_small_stream(&b); b.data[b.len - 40] ^= 1);
	SEED("bad_magic", sb_small_stream(&b); b.data[3] = 'x');
	SEED("version_2", sb_file_header(&b, 2, 0, ST_JSON); sb_end(&b));
	SEED("no_end", sb_file_header(&b, 1, 0, ST_JSON);
	     sb_section(&b, GM_SECTION_DEVICE, 0, 1, 0, "serial", 6));
	SEED("after_end", sb_file_header(&b, 1, 0, ST_JSON); sb_end(&b); sb_end(&b));
	SEED("unknown_type", sb_file_header(&b, 1, 0, ST_JSON);
	     sb_section(&b, 9, 0, 1, 0, "x", 1); sb_end(&b));
	SEED("json_array", sb_file_header(&b, 1, 0, "[\"gmvm_version\",\"uuid\"]"); sb_end(&b));
	SEED("zstd_bomb", sb_file_header(&b, 1, 0, ST_JSON);
	     sb_section(&b, GM_SECTION_VCPU, 0, 1, GM_SECTION_ZSTD, bomb, sizeof(bomb)); sb_end(&b));
	SEED("pages_overlap",
	     sb_pages_head(&p, 0, 12);
	     sb_run(&p, 4, 1, 0, page, sizeof(page));
	     sb_run(&p, 4, 1, 0, page, sizeof(page));
	     pages_stream(&b, &p, 0));
	SEED("pages_overflow",
	     sb_pages_head(&p, 0, 12);
	     sb_run(&p, UINT64_MAX, 1, 0, page, sizeof(page));
	     pages_stream(&b, &p, 0));
	return 0;
}
