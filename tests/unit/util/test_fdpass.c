/*
 * util/fdpass: a frame with fds crosses a socketpair intact (a memfd maps
 * the same bytes on the other side, a pipe still connects), and every bad
 * frame is refused with one line and no fd left open.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/fdpass.h"
#include "util/le.h"
#include "../fd_count.h"

static int sv[2];

static void pair_up(void)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0, "%s", strerror(errno));
}

static void pair_down(void)
{
	close(sv[0]);
	close(sv[1]);
}

TestSuite(fdpass, .init = pair_up, .fini = pair_down);

/* Raw bytes (and fds) as a broken or hostile peer would send them. */
static void raw_send(const void *buf, size_t len, const int *fds, unsigned nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 64)];
	} ctrl;
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	cr_assert_leq(nfds, 64);
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctrl, 0, sizeof(ctrl));
		m.msg_control = ctrl.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	cr_assert_eq(sendmsg(sv[0], &m, MSG_NOSIGNAL), (ssize_t)len, "sendmsg: %s", strerror(errno));
}

static void header(uint8_t *h, uint32_t magic, uint16_t version, uint16_t kind, uint32_t len, uint16_t nfds)
{
	gm_put_le32(h, magic);
	gm_put_le16(h + 4, version);
	gm_put_le16(h + 6, kind);
	gm_put_le32(h + 8, len);
	gm_put_le16(h + 12, nfds);
	gm_put_le16(h + 14, 0);
}

Test(fdpass, memfd_and_pipe_round_trip)
{
	struct gm_fdpass_msg msg;
	struct gm_error err = { 0 };
	const char text[] = "{\"phase\":\"handover\"}";
	int before = test_open_fds(), mfd, p[2], fds[2];
	uint8_t *map;
	char got[8] = { 0 };

	mfd = memfd_create("fdpass-test", MFD_CLOEXEC);
	cr_assert_geq(mfd, 0);
	cr_assert_eq(ftruncate(mfd, 8192), 0);
	map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	cr_assert_neq(map, MAP_FAILED);
	memset(map, 0xa5, 4096);
	memcpy(map + 4096, "guest!", 6);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	fds[0] = mfd;
	fds[1] = p[1];

	cr_assert_eq(gm_fdpass_send(sv[0], 7, text, strlen(text), fds, 2, 1000, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_fdpass_recv(sv[1], 4096, 4, 1000, &msg, &err), 0, "%s", err.msg);
	cr_assert_eq(msg.kind, 7);
	cr_assert_eq(msg.len, strlen(text));
	cr_assert_str_eq((char *)msg.data, text);
	cr_assert_eq(msg.nfds, 2);
	cr_assert_eq(fcntl(msg.fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC, "received fds must be close-on-exec");

	/* the received memfd is the same memory: its mapping shows the bytes, and writes come back */
	uint8_t *other = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, msg.fds[0], 0);
	cr_assert_neq(other, MAP_FAILED);
	cr_assert_eq(memcmp(other, map, 8192), 0, "the received memfd maps other bytes");
	other[100] = 0x11;
	cr_assert_eq(map[100], 0x11, "a write through the received memfd is not seen by the sender");
	munmap(other, 8192);

	/* the received pipe end still feeds the sender's read end */
	cr_assert_eq(write(msg.fds[1], "pipe", 4), 4);
	cr_assert_eq(read(p[0], got, sizeof(got)), 4);
	cr_assert_str_eq(got, "pipe");

	gm_fdpass_msg_free(&msg);
	munmap(map, 8192);
	close(mfd);
	close(p[0]);
	close(p[1]);
	cr_assert_eq(test_open_fds(), before, "fds leaked: %d before, %d after", before, test_open_fds());
}

Test(fdpass, frames_keep_their_own_fds_and_take_moves_one)
{
	struct gm_fdpass_msg a, b;
	struct gm_error err = { 0 };
	int before = test_open_fds(), p[2], fd;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	/* two frames back to back, fds on the first only: the second must not see them */
	cr_assert_eq(gm_fdpass_send(sv[0], 1, "a", 1, p, 2, 1000, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_fdpass_send(sv[0], 2, NULL, 0, NULL, 0, 1000, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_fdpass_recv(sv[1], 16, 2, 1000, &a, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_fdpass_recv(sv[1], 16, 2, 1000, &b, &err), 0, "%s", err.msg);
	cr_assert_eq(a.nfds, 2);
	cr_assert_eq(b.nfds, 0);
	cr_assert_eq(b.kind, 2);
	cr_assert_eq(b.len, 0);
	cr_assert_null(b.data);
	fd = gm_fdpass_take(&a, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(gm_fdpass_take(&a, 0), -1, "a taken fd is handed out twice");
	gm_fdpass_msg_free(&a); /* closes the other one, not the taken one */
	cr_assert_eq(fcntl(fd, F_GETFD) >= 0, 1, "free closed an fd the caller took");
	close(fd);
	gm_fdpass_msg_free(&b);
	close(p[0]);
	close(p[1]);
	cr_assert_eq(test_open_fds(), before);
}

Test(fdpass, bad_magic_is_refused_and_its_fds_closed)
{
	struct gm_fdpass_msg msg;
	struct gm_error err = { 0 };
	uint8_t h[GM_FDPASS_HDR_SIZE];
	int before = test_open_fds(), p[2];

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	header(h, 0x12345678, GM_FDPASS_VERSION, 1, 0, 2);
	raw_send(h, sizeof(h), p, 2);
	close(p[0]);
	close(p[1]);
	cr_assert_eq(gm_fdpass_recv(sv[1], 16, 4, 1000, &msg, &err), -EPROTO);
	cr_assert(strstr(err.msg, "not a gmvm handover frame"), "%s", err.msg);
	cr_assert_eq(msg.nfds, 0);
	cr_assert_eq(test_open_fds(), before, "the refused frame's fds stayed open");
}

Test(fdpass, another_version_is_refused)
{
	struct gm_fdpass_msg msg;
	struct gm_error err = { 0 };
	uint8_t h[GM_FDPASS_HDR_SIZE];
	int before = test_open_fds(), p[2];

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	header(h, GM_FDPASS_MAGIC, GM_FDPASS_VERSION + 1, 1, 0, 1);
	raw_send(h, sizeof(h), p, 1);
	close(p[0]);
	close(p[1]);
	cr_assert_eq(gm_fdpass_recv(sv[1], 16, 4, 1000, &msg, &err), -EPROTONOSUPPORT);
	cr_assert(strstr(err.msg, "version 2"), "%s", err.msg);
	cr_assert_eq(test_open_fds(), before);
}

Test(fdpass, too_many_fds_are_refused_on_both_sides)
{
	struct gm_fdpass_msg msg;
	struct gm_error err = { 0 };
	int before = test_open_fds(), p[2], many[GM_FDPASS_MAX_FDS + 1];

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	for (unsigned i = 0; i < GM_FDPASS_MAX_FDS + 1; i++)
		many[i] = p[0];
	cr_assert_eq(gm_fdpass_send(sv[0], 1, NULL, 0, many, GM_FDPASS_MAX_FDS + 1, 1000, &err), -E2BIG);
	cr_assert(strstr(err.msg, "at most"), "%s", err.msg);

	/* three sent, the receiver allows two */
	gm_error_clear(&err);
	cr_assert_eq(gm_fdpass_send(sv[0], 1, NULL, 0, many, 3, 1000, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_fdpass_recv(sv[1], 16, 2, 1000, &msg, &err), -E2BIG);
	cr_assert(strstr(err.msg, "more than the 2 allowed"), "%s", err.msg);
	cr_assert_eq(msg.nfds, 0);
	close(p[0]);
	close(p[1]);
	cr_assert_eq(test_open_fds(), before);
}

Test(fdpass, truncated_control_data_is_refused)
{
	struct gm_fdpass_msg msg;
	struct gm_error err = { 0 };
	uint8_t h[GM_FDPASS_HDR_SIZE];
	int before = test_open_fds(), p[2], many[60];

	/* more fds than the receiver's control buffer holds: MSG_CTRUNC, the
	 * ones that did arrive must be closed */
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	for (unsigned i = 0; i < 60; i++)
		many[i] = p[1];
	header(h, GM_FDPASS_MAGIC, GM_FDPASS_VERSION, 1, 0, 60);
	raw_send(h, sizeof(h), many, 60);
	close(p[0]);
	close(p[1]);
	cr_assert_eq(gm_fdpass_recv(sv[1], 16, GM_FDPASS_MAX_FDS, 1000, &msg, &err), -E2BIG);
	cr_assert_eq(test_open_fds(), before, "fds of a truncated control message stayed open");
}

Test(fdpass, fds_not_as_announced_are_refused)
{
	struct gm_fdpass_msg msg;
	struct gm_error err = { 0 };
	uint8_t h[GM_FDPASS_HDR_SIZE];
	int before = test_open_fds(), p[2];

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	header(h, GM_FDPASS_MAGIC, GM_FDPASS_VERSION, 1, 0, 2);
	raw_send(h, sizeof(h), p, 1); /* one fd where two were announced */
	close(p[0]);
	close(p[1]);
	cr_assert_eq(gm_fdpass_recv(sv[1], 16, 4, 1000, &msg, &err), -EPROTO);
	cr_assert(strstr(err.msg, "announced 2 fds and 1 came"), "%s", err.msg);
	cr_assert_eq(test_open_fds(), before);
}

Test(fdpass, fds_after_the_first_byte_are_refused)
{
	struct gm_fdpass_msg msg;
	struct gm_error err = { 0 };
	uint8_t h[GM_FDPASS_HDR_SIZE];
	int before = test_open_fds(), p[2];

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	header(h, GM_FDPASS_MAGIC, GM_FDPASS_VERSION, 1, 4, 1);
	raw_send(h, sizeof(h), NULL, 0);
	raw_send("data", 4, p, 1); /* the fd rides on the payload instead */
	close(p[0]);
	close(p[1]);
	cr_assert_eq(gm_fdpass_recv(sv[1], 16, 4, 1000, &msg, &err), -EPROTO);
	cr_assert(strstr(err.msg, "after the frame's first byte"), "%s", err.msg);
	cr_assert_eq(test_open_fds(), before);
}

Test(fdpass, a_frame_cut_short_is_refused)
{
	struct gm_fdpass_msg msg;
	struct gm_error err = { 0 };
	uint8_t h[GM_FDPASS_HDR_SIZE];
	int before = test_open_fds(), p[2];

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	header(h, GM_FDPASS_MAGIC, GM_FDPASS_VERSION, 1, 100, 1);
	raw_send(h, sizeof(h), p, 1);
	static const char fifty[50] = "only fifty bytes ........................ of 100";

	raw_send(fifty, sizeof(fifty), NULL, 0);
	shutdown(sv[0], SHUT_WR);
	close(p[0]);
	close(p[1]);
	cr_assert_eq(gm_fdpass_recv(sv[1], 4096, 4, 1000, &msg, &err), -EPROTO);
	cr_assert(strstr(err.msg, "truncated handover frame"), "%s", err.msg);
	cr_assert(strstr(err.msg, "50 of 100 payload bytes"), "%s", err.msg);
	cr_assert_eq(test_open_fds(), before);
}

Test(fdpass, a_header_cut_short_is_refused)
{
	struct gm_fdpass_msg msg;
	struct gm_error err = { 0 };
	uint8_t h[GM_FDPASS_HDR_SIZE];

	header(h, GM_FDPASS_MAGIC, GM_FDPASS_VERSION, 1, 0, 0);
	raw_send(h, 9, NULL, 0);
	shutdown(sv[0], SHUT_WR);
	cr_assert_eq(gm_fdpass_recv(sv[1], 16, 4, 1000, &msg, &err), -EPROTO);
	cr_assert(strstr(err.msg, "9 of 16 header bytes"), "%s", err.msg);
}

Test(fdpass, a_closed_peer_and_a_silent_one_are_told_apart)
{
	struct gm_fdpass_msg msg;
	struct gm_error err = { 0 };

	cr_assert_eq(gm_fdpass_recv(sv[1], 16, 4, 50, &msg, &err), -ETIMEDOUT);
	cr_assert(strstr(err.msg, "within 50 ms"), "%s", err.msg);
	gm_error_clear(&err);
	shutdown(sv[0], SHUT_WR);
	cr_assert_eq(gm_fdpass_recv(sv[1], 16, 4, 50, &msg, &err), -ECONNRESET);
	cr_assert(strstr(err.msg, "before sending a frame"), "%s", err.msg);
}

Test(fdpass, too_long_a_payload_is_refused)
{
	struct gm_fdpass_msg msg;
	struct gm_error err = { 0 };
	char big[64] = { 0 };

	cr_assert_eq(gm_fdpass_send(sv[0], 1, big, sizeof(big), NULL, 0, 1000, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_fdpass_recv(sv[1], 16, 4, 1000, &msg, &err), -EMSGSIZE);
	cr_assert(strstr(err.msg, "64 bytes, more than the 16 allowed"), "%s", err.msg);
}

Test(fdpass, a_large_payload_crosses_in_pieces)
{
	struct gm_fdpass_msg msg;
	struct gm_error err = { 0 };
	size_t len = 4u << 20; /* more than the socket buffer: short writes and reads */
	uint8_t *buf = malloc(len);
	int p[2];
	pid_t pid;

	cr_assert_not_null(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 7);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct gm_error e = { 0 };

		_exit(gm_fdpass_send(sv[0], 3, buf, len, p, 1, 5000, &e) ? 1 : 0);
	}
	cr_assert_eq(gm_fdpass_recv(sv[1], len, 1, 5000, &msg, &err), 0, "%s", err.msg);
	cr_assert_eq(msg.len, len);
	cr_assert_eq(memcmp(msg.data, buf, len), 0);
	cr_assert_eq(msg.nfds, 1);
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert_eq(WEXITSTATUS(status), 0);
	gm_fdpass_msg_free(&msg);
	close(p[0]);
	close(p[1]);
	free(buf);
}

Test(fdpass, a_peer_that_does_not_read_times_out_and_a_gone_one_is_named)
{
	struct gm_error err = { 0 };
	size_t len = 4u << 20;
	uint8_t *buf = calloc(1, len);

	cr_assert_not_null(buf);
	cr_assert_eq(gm_fdpass_send(sv[0], 1, buf, len, NULL, 0, 50, &err), -ETIMEDOUT);
	cr_assert(strstr(err.msg, "more than 50 ms"), "%s", err.msg);
	gm_error_clear(&err);
	close(sv[1]);
	sv[1] = -1;
	cr_assert_eq(gm_fdpass_send(sv[0], 1, buf, 16, NULL, 0, 50, &err), -EPIPE);
	cr_assert(strstr(err.msg, "closed its socket"), "%s", err.msg);
	free(buf);
}
