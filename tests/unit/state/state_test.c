/* tests/unit/state/state_test.c: see state_test.h. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "state_test.h"
#include "util/le.h"

#ifdef ST_WITH_CRITERION
#include <criterion/criterion.h>
#endif

void sb_file_header(struct gm_buf *b, uint32_t version, uint32_t flags, const char *json)
{
	size_t n = strlen(json);

	gm_buf_bytes(b, "GMVMSTRM", 8);
	gm_buf_u32(b, version);
	gm_buf_u32(b, flags);
	gm_buf_u64(b, n);
	gm_buf_u64(b, XXH64(json, n, 0));
	gm_buf_bytes(b, json, n);
}

uint64_t sb_sum(const uint8_t head[24], const void *payload, size_t n)
{
	uint8_t *all = malloc(24 + n);
	uint64_t h;

	memcpy(all, head, 24);
	if (n)
		memcpy(all + 24, payload, n);
	h = XXH64(all, 24 + n, 0);
	free(all);
	return h;
}

void sb_section_raw(struct gm_buf *b, uint32_t type, uint32_t instance, uint32_t version,
		    uint32_t flags, uint64_t length, uint64_t sum, const void *payload, size_t n)
{
	gm_buf_u32(b, type);
	gm_buf_u32(b, instance);
	gm_buf_u32(b, version);
	gm_buf_u32(b, flags);
	gm_buf_u64(b, length);
	gm_buf_u64(b, sum);
	gm_buf_bytes(b, payload, n);
}

void sb_section(struct gm_buf *b, uint32_t type, uint32_t instance, uint32_t version,
		uint32_t flags, const void *payload, size_t len)
{
	uint8_t head[24];

	gm_put_le32(head, type);
	gm_put_le32(head + 4, instance);
	gm_put_le32(head + 8, version);
	gm_put_le32(head + 12, flags);
	gm_put_le64(head + 16, len);
	sb_section_raw(b, type, instance, version, flags, len, sb_sum(head, payload, len), payload,
		       len);
}

void sb_end(struct gm_buf *b)
{
	sb_section(b, GM_SECTION_END, 0, 0, 0, "", 0);
}

void sb_pages_head(struct gm_buf *p, uint32_t region, uint32_t shift)
{
	gm_buf_u32(p, region);
	gm_buf_u32(p, shift);
}

void sb_run(struct gm_buf *p, uint64_t first, uint32_t npages, uint32_t flags, const void *data,
	    uint64_t dlen)
{
	gm_buf_u64(p, first);
	gm_buf_u32(p, npages);
	gm_buf_u32(p, flags);
	gm_buf_u64(p, dlen);
	gm_buf_bytes(p, data, dlen);
}

uint8_t *sb_zstd(const void *src, size_t len, size_t *out_len)
{
	size_t cap = ZSTD_compressBound(len);
	uint8_t *out = malloc(cap);

	*out_len = ZSTD_compress(out, cap, src, len, 3);
	if (ZSTD_isError(*out_len))
		abort();
	return out;
}

void sb_small_stream(struct gm_buf *b)
{
	static uint8_t page[2][4096];
	uint8_t vcpu[600], clock[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0 };
	struct gm_buf pages = { 0 };
	size_t zlen, plen;
	uint8_t *z, *zp;

	for (size_t i = 0; i < sizeof(vcpu); i++)
		vcpu[i] = (uint8_t)(i % 7);
	memset(page[0], 0xab, sizeof(page[0]));
	for (size_t i = 0; i < sizeof(page[1]); i++)
		page[1][i] = (uint8_t)(i * 31);
	z = sb_zstd(vcpu, sizeof(vcpu), &zlen);
	zp = sb_zstd(page[0], sizeof(page[0]), &plen);
	sb_file_header(b, 1, 0, ST_JSON);
	sb_section(b, GM_SECTION_CLOCK, 0, 1, 0, clock, sizeof(clock));
	sb_section(b, GM_SECTION_VCPU, 0, 1, GM_SECTION_ZSTD, z, zlen);
	sb_section(b, GM_SECTION_DEVICE, 3, 2, 0, "serial", 6);
	sb_pages_head(&pages, 0, 12);
	sb_run(&pages, 16, 1, GM_SECTION_ZSTD, zp, plen);
	sb_run(&pages, 40, 1, 0, page[1], sizeof(page[1]));
	sb_section(b, GM_SECTION_PAGES, 0, 1, 0, pages.data, pages.len);
	sb_end(b);
	gm_buf_free(&pages);
	free(z);
	free(zp);
}

int st_memfd(void)
{
	return memfd_create("state-test", MFD_CLOEXEC);
}

uint8_t *st_slurp(int fd, size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	uint8_t *p = malloc(end > 0 ? (size_t)end : 1);

	*len = end > 0 ? (size_t)end : 0;
	if (pread(fd, p, *len, 0) != (ssize_t)*len)
		abort();
	return p;
}

#ifdef ST_WITH_CRITERION
void st_refused(const void *buf, size_t len, const char *want)
{
	struct gm_stream_in *s = (void *)1;
	struct gm_error err = { 0 };
	int r = gm_stream_in_parse(buf, len, &s, &err);

	cr_assert_lt(r, 0, "accepted, want a refusal containing \"%s\"", want);
	cr_assert_null(s);
	cr_expect_eq(err.status, GM_STATUS_BAD_INPUT, "status %d (%s)", err.status, err.msg);
	cr_expect_not_null(strstr(err.msg, want), "message \"%s\" lacks \"%s\"", err.msg, want);
	cr_expect_not_null(strstr(err.msg, " at byte "), "no offset in \"%s\"", err.msg);
	cr_expect_null(strchr(err.msg, '\n'), "not one line: %s", err.msg);
}

struct gm_stream_in *st_accepted(const void *buf, size_t len)
{
	struct gm_stream_in *s = NULL;
	struct gm_error err = { 0 };

	cr_assert_eq(gm_stream_in_parse(buf, len, &s, &err), 0, "refused: %s", err.msg);
	cr_assert_not_null(s);
	cr_expect_eq(err.msg[0], '\0');
	return s;
}
#endif
