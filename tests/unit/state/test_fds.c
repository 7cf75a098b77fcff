/*
 * The writer on what migration and live update hand it: a pipe and a socket
 * read by another thread, non-blocking ones too (EAGAIN, short writes), and a
 * socket whose peer went away (an error, not a SIGPIPE).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "state_test.h"

struct reader {
	int fd;
	struct gm_buf got;
};

static void *drain(void *arg)
{
	struct reader *r = arg;
	uint8_t chunk[7000]; /* odd size: the writer sees short reads on the far side */

	for (;;) {
		ssize_t n = read(r->fd, chunk, sizeof(chunk));

		if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
			usleep(100);
			continue;
		}
		if (n <= 0)
			break;
		gm_buf_bytes(&r->got, chunk, (size_t)n);
	}
	return NULL;
}

/* A 3 MiB stream (more than any pipe buffer) through fds[1], read from fds[0]. */
static void through(int fds[2], bool nonblock)
{
	static uint8_t pay[3 << 20];
	struct reader rd = { .fd = fds[0] };
	struct gm_error err = { 0 };
	struct gm_stream_out *w;
	pthread_t t;

	for (size_t i = 0; i < sizeof(pay); i++)
		pay[i] = (uint8_t)(i * 7 + (i >> 12));
	if (nonblock) {
		cr_assert_eq(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
		cr_assert_eq(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	}
	cr_assert_eq(pthread_create(&t, NULL, drain, &rd), 0);
	cr_assert_eq(gm_stream_out_open(fds[1], &w, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_stream_out_header(w, ST_JSON, strlen(ST_JSON), &err), 0, "%s", err.msg);
	for (unsigned i = 0; i < 100; i++)
		cr_assert_eq(gm_stream_out_section(w, GM_SECTION_DEVICE, i, 1, pay + i, 100, false, &err), 0);
	cr_assert_eq(gm_stream_out_section(w, GM_SECTION_REGION, 0, 1, pay, sizeof(pay), false, &err), 0,
		     "%s", err.msg);
	cr_assert_eq(gm_stream_out_end(w, &err), 0, "%s", err.msg);
	uint64_t total = gm_stream_out_bytes(w);

	gm_stream_out_free(w);
	close(fds[1]);
	pthread_join(t, NULL);
	close(fds[0]);
	cr_assert_eq(rd.got.len, total);
	struct gm_stream_in *s = st_accepted(rd.got.data, rd.got.len);

	cr_expect_eq(gm_stream_in_count(s), 101);
	cr_expect_arr_eq(gm_stream_in_find(s, GM_SECTION_REGION, 0)->data, pay, sizeof(pay));
	gm_stream_in_free(s);
	gm_buf_free(&rd.got);
}

Test(fds, a_pipe)
{
	int fds[2];

	cr_assert_eq(pipe(fds), 0);
	through(fds, false);
}

Test(fds, a_non_blocking_pipe)
{
	int fds[2];

	cr_assert_eq(pipe(fds), 0);
	through(fds, true);
}

Test(fds, a_socket)
{
	int fds[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	through(fds, false);
}

Test(fds, a_non_blocking_socket)
{
	int fds[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	through(fds, true);
}

Test(fds, a_socket_whose_peer_left_is_epipe_not_sigpipe)
{
	static uint8_t pay[1 << 20];
	struct gm_error err = { 0 };
	struct gm_stream_out *w;
	int fds[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	close(fds[0]);
	cr_assert_eq(gm_stream_out_open(fds[1], &w, &err), 0);
	cr_assert_eq(gm_stream_out_header(w, ST_JSON, strlen(ST_JSON), &err), 0);
	cr_expect_eq(gm_stream_out_section(w, GM_SECTION_REGION, 0, 1, pay, sizeof(pay), false, &err),
		     -EPIPE, "%s", err.msg);
	cr_expect_eq(err.errnum, EPIPE);
	gm_stream_out_free(w);
	close(fds[1]);
}

Test(fds, a_bad_fd_is_refused_at_open)
{
	struct gm_error err = { 0 };
	struct gm_stream_out *w;

	cr_expect_eq(gm_stream_out_open(-1, &w, &err), -EBADF);
	cr_expect_null(w);
	cr_expect_not_null(strstr(err.msg, "fd -1"), "%s", err.msg);
}
