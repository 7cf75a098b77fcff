/*
 * The writer's streams read back by the reader: header, sections compressed
 * and not, lookups, and the writer's own refusals.  PAGES round trips are in
 * test_pages.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state_test.h"

struct capture {
	int fd;
	struct gm_stream_out *w;
	struct gm_error err;
};

static void cap_open(struct capture *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = st_memfd();
	cr_assert_geq(c->fd, 0);
	cr_assert_eq(gm_stream_out_open(c->fd, &c->w, &c->err), 0, "%s", c->err.msg);
	cr_assert_eq(gm_stream_out_header(c->w, ST_JSON, strlen(ST_JSON), &c->err), 0, "%s",
		     c->err.msg);
}

static uint8_t *cap_close(struct capture *c, size_t *len)
{
	uint8_t *p;

	cr_assert_eq(gm_stream_out_end(c->w, &c->err), 0, "%s", c->err.msg);
	p = st_slurp(c->fd, len);
	cr_expect_eq(gm_stream_out_bytes(c->w), *len, "bytes counted %llu, file %zu",
		     (unsigned long long)gm_stream_out_bytes(c->w), *len);
	gm_stream_out_free(c->w);
	close(c->fd);
	return p;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 131 + seed) >> (i % 3));
}

Test(roundtrip, header_only_stream)
{
	struct capture c;
	size_t len;
	uint8_t *p;

	cap_open(&c);
	p = cap_close(&c, &len);
	cr_expect_eq(len, 32 + strlen(ST_JSON) + 32, "file header, JSON, END");
	struct gm_stream_in *s = st_accepted(p, len);

	cr_expect_str_eq(gm_stream_in_header(s), ST_JSON);
	cr_expect_eq(gm_stream_in_count(s), 0);
	cr_expect_null(gm_stream_in_section(s, 0));
	gm_stream_in_free(s);
	free(p);
}

Test(roundtrip, several_sections_compressed_and_not)
{
	static uint8_t big[300000], rnd[5000];
	struct capture c;
	size_t len;
	uint8_t *p;

	memset(big, 0x5a, sizeof(big));       /* compresses well */
	fill(rnd, sizeof(rnd), 7);
	cap_open(&c);
	cr_assert_eq(gm_stream_out_section(c.w, GM_SECTION_VCPU, 0, 1, rnd, 1000, false, &c.err), 0);
	cr_assert_eq(gm_stream_out_section(c.w, GM_SECTION_VCPU, 1, 1, rnd + 1, 1000, true, &c.err), 0);
	cr_assert_eq(gm_stream_out_section(c.w, GM_SECTION_DEVICE, 4, 3, big, sizeof(big), true, &c.err), 0);
	cr_assert_eq(gm_stream_out_section(c.w, GM_SECTION_CLOCK, 0, 1, "", 0, true, &c.err), 0);
	cr_assert_eq(gm_stream_out_section(c.w, GM_SECTION_REGION, 2, 1, big, sizeof(big), false, &c.err), 0);
	p = cap_close(&c, &len);
	cr_expect_lt(len, sizeof(big) + 20000, "the DEVICE section was compressed");
	struct gm_stream_in *s = st_accepted(p, len);

	cr_assert_eq(gm_stream_in_count(s), 5);
	const struct gm_section *v0 = gm_stream_in_section(s, 0), *v1 = gm_stream_in_section(s, 1);
	const struct gm_section *dev = gm_stream_in_find(s, GM_SECTION_DEVICE, 4);
	const struct gm_section *clk = gm_stream_in_find(s, GM_SECTION_CLOCK, 0);
	const struct gm_section *reg = gm_stream_in_find(s, GM_SECTION_REGION, 2);

	cr_assert(v0 && v1 && dev && clk && reg);
	cr_expect_eq(v0->type, GM_SECTION_VCPU);
	cr_expect_eq(v0->instance, 0);
	cr_expect_eq(v0->index, 0);
	cr_expect_eq(v0->offset, 32 + strlen(ST_JSON));
	cr_expect_eq(v1->instance, 1);
	cr_expect_eq(v1->index, 1);
	cr_expect_eq(v1->offset, v0->offset + 32 + 1000);
	cr_assert_eq(v0->len, 1000);
	cr_expect_arr_eq(v0->data, rnd, 1000);
	cr_assert_eq(v1->len, 1000);
	cr_expect_arr_eq(v1->data, rnd + 1, 1000);
	cr_expect_eq(dev->version, 3);
	cr_assert_eq(dev->len, sizeof(big));
	cr_expect_arr_eq(dev->data, big, sizeof(big));
	cr_expect_eq(clk->len, 0);
	cr_assert_eq(reg->len, sizeof(big));
	cr_expect_arr_eq(reg->data, big, sizeof(big));
	cr_expect_eq(reg->data, p + reg->offset + 32, "an uncompressed payload points into the stream");
	cr_expect_null(gm_stream_in_find(s, GM_SECTION_VCPU, 2));
	cr_expect_null(gm_stream_in_find(s, GM_SECTION_END, 0), "END is not a section to find");
	gm_stream_in_free(s);
	free(p);
}

Test(roundtrip, the_hand_built_small_stream_is_accepted)
{
	struct gm_buf b = { 0 };

	sb_small_stream(&b);
	struct gm_stream_in *s = st_accepted(b.data, b.len);

	cr_expect_eq(gm_stream_in_count(s), 4);
	cr_expect_eq(gm_stream_in_section(s, 1)->len, 600, "the VCPU payload decompressed");
	cr_expect_eq(gm_stream_in_section(s, 1)->data[8], 8 % 7);
	gm_stream_in_free(s);
	gm_buf_free(&b);
}

Test(roundtrip, read_file_reads_and_owns_the_bytes)
{
	char path[] = "/tmp/gmvm-state-XXXXXX";
	struct gm_error err = { 0 };
	struct gm_stream_in *s;
	struct gm_buf b = { 0 };
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	sb_small_stream(&b);
	cr_assert_eq(write(fd, b.data, b.len), (ssize_t)b.len);
	close(fd);
	cr_assert_eq(gm_stream_in_read_file(path, &s, &err), 0, "%s", err.msg);
	gm_buf_free(&b);
	cr_expect_eq(gm_stream_in_section(s, 0)->data[0], 1, "readable after the source is gone");
	gm_stream_in_free(s);

	gm_error_clear(&err);
	cr_expect_eq(gm_stream_in_read_file_limit(path, 100, &s, &err), -EFBIG);
	cr_expect_null(s);
	cr_expect_not_null(strstr(err.msg, path), "%s", err.msg);
	cr_expect_not_null(strstr(err.msg, "limit"), "%s", err.msg);
	unlink(path);

	gm_error_clear(&err);
	cr_expect_eq(gm_stream_in_read_file(path, &s, &err), -ENOENT);
	cr_expect_eq(err.status, GM_STATUS_BAD_INPUT);
}

Test(roundtrip, read_file_names_the_file_in_a_refusal)
{
	char path[] = "/tmp/gmvm-state-XXXXXX";
	struct gm_error err = { 0 };
	struct gm_stream_in *s;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "GMVMSTRX", 8), 8);
	close(fd);
	cr_expect_lt(gm_stream_in_read_file(path, &s, &err), 0);
	unlink(path);
	cr_expect_not_null(strstr(err.msg, path), "%s", err.msg);
	cr_expect_not_null(strstr(err.msg, "bad magic"), "%s", err.msg);
}

Test(writer, refuses_out_of_order_calls)
{
	struct gm_error err = { 0 };
	struct gm_stream_out *w;
	int fd = st_memfd();

	cr_assert_eq(gm_stream_out_open(fd, &w, &err), 0);
	cr_expect_lt(gm_stream_out_section(w, GM_SECTION_VCPU, 0, 1, "x", 1, false, &err), 0);
	cr_expect_not_null(strstr(err.msg, "before the header"), "%s", err.msg);
	gm_error_clear(&err);
	cr_assert_eq(gm_stream_out_header(w, ST_JSON, strlen(ST_JSON), &err), 0);
	cr_expect_lt(gm_stream_out_header(w, ST_JSON, strlen(ST_JSON), &err), 0);
	cr_expect_not_null(strstr(err.msg, "twice"), "%s", err.msg);
	gm_error_clear(&err);
	cr_expect_lt(gm_stream_out_section(w, GM_SECTION_END, 0, 0, "", 0, false, &err), 0);
	cr_expect_not_null(strstr(err.msg, "gm_stream_out_end"), "%s", err.msg);
	gm_error_clear(&err);
	cr_expect_lt(gm_stream_out_section(w, 99, 0, 0, "", 0, false, &err), 0);
	gm_error_clear(&err);
	cr_assert_eq(gm_stream_out_end(w, &err), 0);
	cr_expect_lt(gm_stream_out_section(w, GM_SECTION_VCPU, 0, 1, "x", 1, false, &err), 0);
	cr_expect_not_null(strstr(err.msg, "after END"), "%s", err.msg);
	gm_stream_out_free(w);
	close(fd);
}

Test(writer, refuses_a_header_the_reader_would_refuse)
{
	static const char *bad[] = { "", "[1,2]", "{\"uuid\":\"x\"}", "{\"gmvm_version\":1,\"uuid\":\"x\"}",
				     "{\"gmvm_version\":\"1\",\"uuid\":\"x\"} trailing" };
	struct gm_error err = { 0 };
	struct gm_stream_out *w;
	int fd = st_memfd();

	cr_assert_eq(gm_stream_out_open(fd, &w, &err), 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gm_error_clear(&err);
		cr_expect_lt(gm_stream_out_header(w, bad[i], strlen(bad[i]), &err), 0, "%s", bad[i]);
	}
	gm_stream_out_free(w);
	close(fd);
}

Test(writer, a_write_error_is_reported_and_sticks)
{
	struct gm_error err = { 0 };
	struct gm_stream_out *w;
	int fds[2];

	cr_assert_eq(pipe(fds), 0);
	close(fds[0]);
	/* On a pipe SIGPIPE is the caller's business (the CLI ignores it);
	 * test_fds.c shows a socket needs no such care. */
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(gm_stream_out_open(fds[1], &w, &err), 0);
	cr_assert_eq(gm_stream_out_header(w, ST_JSON, strlen(ST_JSON), &err), 0, "buffered");
	cr_expect_eq(gm_stream_out_end(w, &err), -EPIPE);
	cr_expect_eq(err.status, GM_STATUS_FAILURE);
	cr_expect_not_null(strstr(err.msg, "writing to fd"), "%s", err.msg);
	gm_error_clear(&err);
	cr_expect_lt(gm_stream_out_end(w, &err), 0);
	cr_expect_not_null(strstr(err.msg, "an earlier write failed"), "%s", err.msg);
	gm_stream_out_free(w);
	close(fds[1]);
}

Test(writer, a_section_over_256M_is_refused)
{
	struct gm_error err = { 0 };
	struct gm_stream_out *w;
	int fd = st_memfd();

	cr_assert_eq(gm_stream_out_open(fd, &w, &err), 0);
	cr_assert_eq(gm_stream_out_header(w, ST_JSON, strlen(ST_JSON), &err), 0);
	cr_expect_eq(gm_stream_out_section(w, GM_SECTION_DEVICE, 0, 1, "", GM_STREAM_MAX_SECTION + 1,
					   false, &err), -EFBIG);
	cr_expect_not_null(strstr(err.msg, "256 MiB"), "%s", err.msg);
	gm_stream_out_free(w);
	close(fd);
}
