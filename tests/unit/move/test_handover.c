/*
 * move/handover: a live update's messages over a socketpair, no KVM.  A
 * message crosses with its JSON object and fds; whatever the other side
 * gets wrong (a REFUSED, the wrong kind, a payload that is no JSON object,
 * fds where none belong, closing early, silence) comes back as one line
 * naming it, and no fd that arrived is left open.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "move/handover.h"
#include "../fd_count.h"

static int sv[2];

static void pair_up(void)
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0, "%s", strerror(errno));
}

static void pair_down(void)
{
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
}

TestSuite(handover, .init = pair_up, .fini = pair_down, .timeout = 30);

/* Raw JSON text (or anything) as kind, the way a broken peer would frame it. */
static void send_raw(uint16_t kind, const char *text, const int *fds, unsigned nfds)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_fdpass_send(sv[0], kind, text, text ? strlen(text) : 0, fds, nfds, 1000, &err), 0, "%s",
		     err.msg);
}

/* gm_ho_recv on sv[1] that must fail with -want_errno; its line holds needle and is one line. */
static void expect_refused(enum gm_handover_kind want, int want_errno, const char *needle, struct gm_error *err)
{
	struct gm_fdpass_msg msg;
	json_t *o = (json_t *)1;
	int r = gm_ho_recv(sv[1], want, "the new gmvm", 1000, &msg, &o, err);

	cr_assert_eq(r, -want_errno, "got %d (%s), want -%d", r, err->msg, want_errno);
	cr_assert_null(o, "an object was handed out with an error");
	cr_assert_eq(msg.nfds, 0, "fds left in the message after an error");
	cr_assert_null(msg.data);
	cr_assert_not_null(strstr(err->msg, needle), "'%s' not in: %s", needle, err->msg);
	cr_assert_null(strchr(err->msg, '\n'), "more than one line: %s", err->msg);
}

static int memfd_with(const char *text)
{
	int fd = memfd_create("gmvm-test-handover", MFD_CLOEXEC);

	cr_assert_geq(fd, 0, "memfd_create: %s", strerror(errno));
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

Test(handover, a_message_crosses_with_its_object_and_fds)
{
	struct gm_error err = { 0 };
	struct gm_fdpass_msg msg;
	int fds[2] = { memfd_with("region ram"), memfd_with("identity") };
	char buf[32] = "";
	json_t *o = NULL;

	cr_assert_eq(gm_ho_send(sv[0], GM_HO_HELLO, json_pack("{s:i, s:[s,s]}", "version", 3, "fds", "ram", "lock"),
				fds, 2, 1000, &err), 0, "%s", err.msg);
	/* the sender keeps its own fds: the kernel duplicated them */
	cr_assert_eq(fcntl(fds[0], F_GETFD), FD_CLOEXEC);
	close(fds[0]);
	close(fds[1]);
	cr_assert_eq(gm_ho_recv(sv[1], GM_HO_HELLO, "the old gmvm", 1000, &msg, &o, &err), 0, "%s", err.msg);
	cr_assert_eq(msg.kind, GM_HO_HELLO);
	cr_assert(json_is_object(o));
	cr_assert_eq(json_integer_value(json_object_get(o, "version")), 3);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(o, "fds"), 1)), "lock");
	cr_assert_eq(msg.nfds, 2);
	/* the same files: what was written on this side reads back over there */
	cr_assert_eq(pread(msg.fds[1], buf, sizeof(buf) - 1, 0), 8);
	cr_assert_str_eq(buf, "identity");
	json_decref(o);
	gm_fdpass_msg_free(&msg);
}

/* NULL is what json_pack gives for a string that is not UTF-8: refused, nothing sent */
Test(handover, a_null_object_is_refused_and_an_empty_one_goes)
{
	struct gm_error err = { 0 };
	struct gm_fdpass_msg msg;
	json_t *o = NULL;

	cr_assert_eq(gm_ho_send(sv[0], GM_HO_HELLO, NULL, NULL, 0, 1000, &err), -EINVAL);
	cr_assert_str_eq(err.msg, "live update: the HELLO cannot be encoded (a path that is not UTF-8, or no memory); rename the console file or free memory");
	gm_error_clear(&err);
	cr_assert_eq(gm_ho_send(sv[0], GM_HO_COMMIT, json_object(), NULL, 0, 1000, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_ho_recv(sv[1], GM_HO_COMMIT, "the old gmvm", 1000, &msg, &o, &err), 0, "%s", err.msg);
	cr_assert(json_is_object(o));
	cr_assert_eq(json_object_size(o), 0);
	cr_assert_eq(msg.nfds, 0);
	json_decref(o);
	gm_fdpass_msg_free(&msg);
}

Test(handover, every_message_of_an_update_in_order)
{
	static const enum gm_handover_kind order[] = { GM_HO_HELLO, GM_HO_CAN, GM_HO_HANDOVER, GM_HO_READY,
						       GM_HO_COMMIT, GM_HO_RUNNING };
	struct gm_error err = { 0 };

	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		/* old -> new on even steps, new -> old on odd ones */
		int from = sv[i % 2], to = sv[1 - i % 2];
		struct gm_fdpass_msg msg;
		json_t *o = NULL;

		cr_assert_eq(gm_ho_send(from, order[i], json_pack("{s:i}", "step", (int)i), NULL, 0, 1000, &err), 0,
			     "%s", err.msg);
		cr_assert_eq(gm_ho_recv(to, order[i], "the peer", 1000, &msg, &o, &err), 0, "step %u: %s", i, err.msg);
		cr_assert_eq(json_integer_value(json_object_get(o, "step")), i);
		json_decref(o);
		gm_fdpass_msg_free(&msg);
	}
}

Test(handover, a_refusal_becomes_the_peers_line_and_status)
{
	struct gm_error why = { 0 }, err = { 0 };

	gm_fail(&why, GM_STATUS_BAD_INPUT, EINVAL,
		"live update: stream version 99 is newer than this gmvm's 3; update with a newer binary");
	gm_ho_refuse(sv[0], &why);
	expect_refused(GM_HO_CAN, ECANCELED, "stream version 99 is newer than this gmvm's 3", &err);
	cr_assert_str_eq(err.msg, why.msg);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
}

Test(handover, a_refusal_without_a_line_or_a_sane_status_still_says_something)
{
	struct gm_error err = { 0 };

	send_raw(GM_HO_REFUSED, "{\"status\":9999}", NULL, 0);
	expect_refused(GM_HO_READY, ECANCELED, "refused", &err);
	cr_assert_eq(err.status, GM_STATUS_FAILURE);
}

Test(handover, a_refusal_is_heard_where_fds_were_expected_and_leaves_none_open)
{
	struct gm_error err = { 0 };
	int before = test_open_fds();
	int fd = memfd_with("x");

	/* a broken peer's REFUSED with an fd, while HELLO (which carries fds) is awaited */
	send_raw(GM_HO_REFUSED, "{\"error\":\"cannot bind ram: no room\",\"status\":1}", &fd, 1);
	close(fd);
	expect_refused(GM_HO_HELLO, ECANCELED, "cannot bind ram: no room", &err);
	cr_assert_eq(test_open_fds(), before, "an fd of the refusal stayed open");
}

Test(handover, the_wrong_kind_is_refused_naming_both)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_ho_send(sv[0], GM_HO_RUNNING, json_object(), NULL, 0, 1000, &err), 0, "%s", err.msg);
	expect_refused(GM_HO_READY, EPROTO, "the new gmvm sent RUNNING where READY belongs", &err);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
}

Test(handover, an_unknown_kind_is_refused)
{
	struct gm_error err = { 0 };

	send_raw(42, "{}", NULL, 0);
	expect_refused(GM_HO_CAN, EPROTO, "where CAN belongs", &err);
}

Test(handover, the_wrong_kind_with_fds_leaves_none_open)
{
	struct gm_error err = { 0 };
	int before = test_open_fds();
	int fds[3] = { memfd_with("a"), memfd_with("b"), memfd_with("c") };

	/* HANDOVER may carry fds, so they arrive; a READY is not what was awaited */
	send_raw(GM_HO_READY, "{}", fds, 3);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	expect_refused(GM_HO_HANDOVER, EPROTO, "sent READY where HANDOVER belongs", &err);
	cr_assert_eq(test_open_fds(), before, "an fd of the wrong message stayed open");
}

Test(handover, a_payload_that_is_not_a_json_object_is_refused)
{
	static const char *const bad[] = { "[1,2]", "\"hello\"", "{\"a\":", "{} trailing", "not json at all" };
	struct gm_error err = { 0 };

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		send_raw(GM_HO_CAN, bad[i], NULL, 0);
		expect_refused(GM_HO_CAN, EPROTO, "the new gmvm sent a CAN that is not a JSON object", &err);
		cr_assert_eq(err.status, GM_STATUS_BAD_INPUT, "%s", bad[i]);
	}
	/* nor is an empty payload */
	send_raw(GM_HO_CAN, NULL, NULL, 0);
	expect_refused(GM_HO_CAN, EPROTO, "not a JSON object", &err);
}

Test(handover, a_non_object_payload_with_fds_leaves_none_open)
{
	struct gm_error err = { 0 };
	int before = test_open_fds();
	int fd = memfd_with("ram");

	send_raw(GM_HO_HELLO, "[\"ram\"]", &fd, 1);
	close(fd);
	expect_refused(GM_HO_HELLO, EPROTO, "not a JSON object", &err);
	cr_assert_eq(test_open_fds(), before, "the fd of a bad HELLO stayed open");
}

Test(handover, fds_on_a_kind_that_carries_none_are_refused_and_closed)
{
	static const enum gm_handover_kind bare[] = { GM_HO_CAN, GM_HO_READY, GM_HO_COMMIT, GM_HO_RUNNING };
	struct gm_error err = { 0 };

	for (unsigned i = 0; i < sizeof(bare) / sizeof(bare[0]); i++) {
		int before = test_open_fds();
		int fds[2] = { memfd_with("stray"), memfd_with("stray") };

		pair_down();
		pair_up();
		send_raw(bare[i], "{}", fds, 2);
		close(fds[0]);
		close(fds[1]);
		expect_refused(bare[i], E2BIG, "the new gmvm", &err);
		cr_assert_not_null(strstr(err.msg, "more than the 0 allowed"), "%s", err.msg);
		cr_assert_eq(test_open_fds(), before, "kind %d: an fd stayed open", bare[i]);
	}
}

Test(handover, the_peer_closing_first_is_a_reset_naming_what_was_awaited)
{
	struct gm_error err = { 0 };

	close(sv[0]);
	sv[0] = -1;
	expect_refused(GM_HO_READY, ECONNRESET, "the new gmvm closed the handover socket before its READY", &err);
}

Test(handover, the_peer_dying_with_unread_data_is_a_reset_too)
{
	struct gm_error err = { 0 };

	/* what the old side sees when the new process dies before reading HANDOVER:
	 * its socket went away with data unread, and the kernel says ECONNRESET */
	cr_assert_eq(gm_ho_send(sv[1], GM_HO_HANDOVER, json_object(), NULL, 0, 1000, &err), 0, "%s", err.msg);
	close(sv[0]);
	sv[0] = -1;
	expect_refused(GM_HO_READY, ECONNRESET, "closed the handover socket before its READY", &err);
}

Test(handover, sending_to_a_closed_peer_fails_with_one_line)
{
	struct gm_error err = { 0 };

	close(sv[1]);
	sv[1] = -1;
	cr_assert_eq(gm_ho_send(sv[0], GM_HO_COMMIT, json_object(), NULL, 0, 1000, &err), -EPIPE);
	cr_assert_str_eq(err.msg, "the other gmvm closed the handover socket before the COMMIT reached it");
}

Test(handover, silence_times_out_naming_what_was_awaited)
{
	struct gm_error err = { 0 };
	struct gm_fdpass_msg msg;
	struct timespec a, b;
	json_t *o = NULL;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &a);
	cr_assert_eq(gm_ho_recv(sv[1], GM_HO_RUNNING, "the new gmvm", 200, &msg, &o, &err), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	cr_assert_geq(ms, 190, "gave up after %ld ms", ms);
	cr_assert_lt(ms, 2000, "waited %ld ms", ms);
	cr_assert_null(o);
	cr_assert_not_null(strstr(err.msg, "the new gmvm sent no RUNNING in time"), "%s", err.msg);
	cr_assert_null(strchr(err.msg, '\n'));
}

Test(handover, half_a_frame_then_silence_times_out_too)
{
	struct gm_error err = { 0 };
	struct gm_fdpass_msg msg;
	json_t *o = NULL;
	int fd = memfd_with("ram");
	char hdr[8] = "GMFP";
	struct iovec iov = { hdr, sizeof(hdr) };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctrl = { 0 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctrl.buf,
			    .msg_controllen = sizeof(ctrl.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	int before = test_open_fds();

	/* a peer that stalls mid-header, an fd already sent with it */
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	cr_assert_eq(sendmsg(sv[0], &m, MSG_NOSIGNAL), (ssize_t)sizeof(hdr));
	close(fd);
	cr_assert_eq(gm_ho_recv(sv[1], GM_HO_HELLO, "the old gmvm", 200, &msg, &o, &err), -ETIMEDOUT);
	cr_assert_not_null(strstr(err.msg, "the old gmvm sent no HELLO in time"), "%s", err.msg);
	cr_assert_eq(test_open_fds(), before - 1, "the fd of the half frame stayed open");
}
