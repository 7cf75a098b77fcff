/*
 * The section-at-a-time reader (migration's): it hands out the sections the
 * whole-stream parser accepts, refuses what that parser refuses with the
 * same line, and says where a sender that stopped or stalled left it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "state_test.h"

/* A pipe holding len bytes of buf, its write end closed: the sender is done. */
static int fed(const void *buf, size_t len)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fcntl(p[1], F_SETPIPE_SZ, 1 << 20) >= (int)len, 1);
	cr_assert_eq(write(p[1], buf, len), (ssize_t)len);
	close(p[1]);
	return p[0];
}

/* Read all of buf section by section: 0 on END, else the refusal in err. */
static int read_all(const void *buf, size_t len, unsigned *nsec, struct gm_error *err)
{
	struct gm_stream_reader *r;
	const struct gm_section *sec;
	int fd = fed(buf, len), rc;

	*nsec = 0;
	rc = gm_stream_reader_open(fd, GM_STREAM_MAX_TOTAL, &r, err);
	if (rc == 0)
		while ((rc = gm_stream_reader_next(r, &sec, err)) == 1)
			(*nsec)++;
	gm_stream_reader_free(r);
	close(fd);
	return rc;
}

Test(reader, gives_the_sections_the_parser_gives)
{
	struct gm_buf b = { 0 };
	struct gm_error err = { 0 };
	struct gm_stream_reader *r;
	const struct gm_section *sec;
	size_t hlen;

	sb_small_stream(&b);
	struct gm_stream_in *whole = st_accepted(b.data, b.len);
	int fd = fed(b.data, b.len);

	cr_assert_eq(gm_stream_reader_open(fd, GM_STREAM_MAX_TOTAL, &r, &err), 0, "%s", err.msg);
	cr_expect_str_eq(gm_stream_reader_header(r), ST_JSON);
	cr_expect_eq(gm_stream_reader_head_bytes(r, &hlen), (const void *)gm_stream_reader_head_bytes(r, &hlen));
	cr_expect_eq(hlen, 32 + strlen(ST_JSON));
	for (unsigned i = 0; i < gm_stream_in_count(whole); i++) {
		const struct gm_section *want = gm_stream_in_section(whole, i);

		cr_assert_eq(gm_stream_reader_next(r, &sec, &err), 1, "%s", err.msg);
		cr_expect_eq(sec->type, want->type);
		cr_expect_eq(sec->instance, want->instance);
		cr_expect_eq(sec->version, want->version);
		cr_expect_eq(sec->offset, want->offset);
		cr_assert_eq(sec->len, want->len);
		cr_expect_eq(memcmp(sec->data, want->data, sec->len), 0, "section %u", i);
	}
	cr_expect_eq(gm_stream_reader_next(r, &sec, &err), 0);
	cr_expect_null(sec);
	cr_expect_eq(gm_stream_reader_next(r, &sec, &err), 0, "END stays the end");
	cr_expect_eq(gm_stream_reader_bytes(r), b.len);
	gm_stream_reader_free(r);
	gm_stream_in_free(whole);
	close(fd);
	gm_buf_free(&b);
}

/* Any byte of the stream changed: refused by both or by neither, with one line. */
Test(reader, refuses_what_the_parser_refuses_with_the_same_line)
{
	struct gm_buf b = { 0 };

	sb_small_stream(&b);
	for (size_t at = 0; at < b.len; at++) {
		struct gm_error whole_err = { 0 }, err = { 0 };
		struct gm_stream_in *s = NULL;
		unsigned n;

		b.data[at] ^= 0x5a;
		int whole = gm_stream_in_parse(b.data, b.len, &s, &whole_err);
		int rc = read_all(b.data, b.len, &n, &err);

		cr_expect_eq(rc < 0, whole < 0, "byte %zu: parser %d (%s), reader %d (%s)", at, whole,
			     whole_err.msg, rc, err.msg);
		/* A length that runs past the end is, on a socket, a sender that
		 * stopped: the reader cannot know it, it waits for the bytes. */
		if (whole < 0 && rc < 0 && strstr(whole_err.msg, "cut short"))
			cr_expect(strstr(err.msg, "the sender closed the connection"), "byte %zu: %s", at,
				  err.msg);
		else if (whole < 0 && rc < 0)
			cr_expect_str_eq(err.msg, whole_err.msg, "byte %zu", at);
		gm_stream_in_free(s);
		b.data[at] ^= 0x5a;
	}
	gm_buf_free(&b);
}

Test(reader, a_sender_that_stops_midway_is_named_with_the_byte)
{
	struct gm_buf b = { 0 };
	struct gm_error err = { 0 };
	unsigned n;

	sb_small_stream(&b);
	cr_expect_lt(read_all(b.data, b.len - 40, &n, &err), 0);
	cr_expect(strstr(err.msg, "the sender closed the connection at byte"), "%s", err.msg);
	cr_expect_eq(err.errnum, EPIPE);
	cr_expect_lt(read_all(b.data, 10, &n, &err), 0);
	gm_buf_free(&b);
}

Test(reader, a_stalled_sender_times_out_with_one_line)
{
	struct gm_buf b = { 0 };
	struct gm_error err = { 0 };
	struct gm_stream_reader *r;
	const struct gm_section *sec;
	struct timeval tv = { .tv_usec = 50000 };
	int sv[2];

	sb_small_stream(&b);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	/* the header and the first section, then nothing while the socket stays open */
	cr_assert_eq(write(sv[1], b.data, 32 + strlen(ST_JSON) + 32 + 12), (ssize_t)(32 + strlen(ST_JSON) + 32 + 12));
	cr_assert_eq(gm_stream_reader_open(sv[0], GM_STREAM_MAX_TOTAL, &r, &err), 0, "%s", err.msg);
	cr_expect_eq(gm_stream_reader_next(r, &sec, &err), 1, "%s", err.msg);
	cr_expect_lt(gm_stream_reader_next(r, &sec, &err), 0);
	cr_expect(strstr(err.msg, "nothing came from the sender"), "%s", err.msg);
	cr_expect_eq(err.errnum, ETIMEDOUT);
	gm_stream_reader_free(r);
	close(sv[0]);
	close(sv[1]);
	gm_buf_free(&b);
}
