/*
 * Fuzz target for what a migration's or a live update's peer sends before
 * anything is built.  The first byte picks what the rest is:
 *   0  the bytes a migration sender writes on its first connection: the
 *      stream reader (gm_stream_reader_open, _next) and the incoming
 *      side's header check (gm_incoming_check_header);
 *   1  the destination's answers the source reads: gm_frame_recv over and
 *      over, gm_frame_refusal on a REFUSED;
 *   2  a live update's socket: gm_ho_recv expecting the kind the next byte
 *      names (fdpass framing, JSON object, REFUSED), then takeover.c's
 *      checks of a HELLO or HANDOVER;
 *   3  a JSON text straight to those checks and the incoming header check
 *      (the next byte is how many fds "came"; bit 7 says whether KVM links
 *      guest_memfds).
 * The bytes reach the parsers through a socketpair, as on the wire.
 * Invariants beyond no crash: every refusal is one non-empty line; an
 * accepted header names a UUID, a 32-character session and 1..16
 * connections; a frame's text is NUL-terminated within its limit; a
 * message gm_ho_recv accepts is a JSON object of the kind asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gmvm/caps.h"
#include "move/handover.h"
#include "move/move.h"

#define WIRE_MAX 65536 /* fits a socketpair's buffer: written whole before reading */

#define CHECK(cond, ...)                                                           \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "fuzz_move_header: %s: ", #cond);          \
			fprintf(stderr, __VA_ARGS__);                              \
			fputc('\n', stderr);                                       \
			abort();                                                   \
		}                                                                  \
	} while (0)

/* FUZZ_VERBOSE=1 in the environment: each check's answer on stderr (to see what a seed reaches). */
static void say(const char *what, int r, const struct gm_error *err)
{
	static int verbose = -1;

	if (verbose < 0)
		verbose = getenv("FUZZ_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "%s: %d %s\n", what, r, r ? err->msg : "");
}

static void check_refusal(int r, const struct gm_error *err)
{
	CHECK(r < 0, "r=%d", r);
	CHECK(err->msg[0] && !strchr(err->msg, '\n'), "msg '%s'", err->msg);
}

/* The read end of a socketpair that holds data and then EOF; -1 if none. */
static int wire(const uint8_t *data, size_t size)
{
	int sv[2];

	if (size > WIRE_MAX || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	while (size) {
		ssize_t k = write(sv[1], data, size);

		if (k <= 0)
			break;
		data += k;
		size -= (size_t)k;
	}
	close(sv[1]);
	return sv[0];
}

static void header(const char *json)
{
	struct gm_error err = { 0 };
	char uuid[37] = "", session[33] = "";
	unsigned n = 0;
	int r = gm_incoming_check_header(json, uuid, session, &n, &err);

	say("incoming header", r, &err);
	if (r) {
		check_refusal(r, &err);
		return;
	}
	CHECK(strlen(uuid) == 36 && strlen(session) == 32 && n >= 1 && n <= GM_MIGRATION_MAX_CONNECTIONS,
	      "uuid '%s' session '%s' n %u", uuid, session, n);
}

static void stream(int fd)
{
	struct gm_stream_reader *rd = NULL;
	struct gm_error err = { 0 };
	const struct gm_section *sec;
	int r = gm_stream_reader_open(fd, UINT64_C(16) << 20, &rd, &err);

	say("stream reader", r, &err);
	if (r) {
		check_refusal(r, &err);
		return;
	}
	header(gm_stream_reader_header(rd));
	for (unsigned i = 0; i < 64; i++) {
		gm_error_clear(&err);
		r = gm_stream_reader_next(rd, &sec, &err);
		say("section", r, &err);
		if (r < 0)
			check_refusal(r, &err);
		if (r <= 0)
			break;
	}
	gm_stream_reader_free(rd);
}

static void frames(int fd)
{
	for (unsigned i = 0; i < 16; i++) {
		struct gm_error err = { 0 };
		struct gm_frame f;
		int r = gm_frame_recv(fd, &f, 1000, &err);

		say("frame", r, &err);
		if (r) {
			check_refusal(r, &err);
			return;
		}
		CHECK(f.kind >= GM_FRAME_READY && f.kind <= GM_FRAME_DONE, "kind %u", f.kind);
		CHECK(memchr(f.text, '\0', sizeof(f.text)), "text not terminated");
		if (f.kind == GM_FRAME_REFUSED) {
			gm_error_clear(&err);
			check_refusal(gm_frame_refusal(&f, &err), &err);
		}
	}
}

static void checks(json_t *o, unsigned nfds, bool link)
{
	struct gm_caps caps = { .kvm = true, .guest_memfd = true, .user_memory2 = true, .gmem_link = link,
				.numa_nodes = 1, .numa_node_mask = 1, .host_ram = UINT64_C(16) << 30 };
	struct gm_error err = { 0 };
	int r = gm_takeover_check_hello(o, nfds, &caps, &err);

	say("hello", r, &err);
	if (r)
		check_refusal(r, &err);
	gm_error_clear(&err);
	r = gm_takeover_check_handover(o, nfds, &err);
	say("handover", r, &err);
	if (r)
		check_refusal(r, &err);
}

static void handover(int fd, unsigned want)
{
	for (unsigned i = 0; i < 8; i++) {
		struct gm_error err = { 0 };
		struct gm_fdpass_msg msg;
		json_t *o;
		int r = gm_ho_recv(fd, (enum gm_handover_kind)want, "the old gmvm", 1000, &msg, &o, &err);

		say("message", r, &err);
		if (r) {
			check_refusal(r, &err);
			CHECK(!o && !msg.data && !msg.nfds, "a refusal left a message behind");
			return;
		}
		CHECK(json_is_object(o) && msg.kind == want, "kind %u, wanted %u", msg.kind, want);
		if (want == GM_HO_HELLO || want == GM_HO_HANDOVER)
			checks(o, msg.nfds, false);
		json_decref(o);
		gm_fdpass_msg_free(&msg);
	}
}

static void text(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data + 1, size - 1);
	json_t *o;

	if (!s)
		return;
	header(s);
	o = json_loads(s, 0, NULL);
	if (json_is_object(o))
		checks(o, data[0] % (GM_FDPASS_MAX_FDS + 1), data[0] & 0x80);
	json_decref(o);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd;

	if (size < 2)
		return 0;
	switch (data[0] % 4) {
	case 0:
	case 1:
		fd = wire(data + 1, size - 1);
		if (fd < 0)
			return 0;
		if (data[0] % 4 == 0)
			stream(fd);
		else
			frames(fd);
		close(fd);
		break;
	case 2:
		fd = wire(data + 2, size - 2);
		if (fd < 0)
			return 0;
		handover(fd, 1 + data[1] % GM_HO_REFUSED);
		close(fd);
		break;
	default:
		text(data + 1, size - 1);
		break;
	}
	return 0;
}
