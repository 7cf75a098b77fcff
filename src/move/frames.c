/*
 * move/frames: the destination's answers on the first connection, going
 * the other way from the stream: READY once it built the machine, RUNNING
 * once the guest runs there, REFUSED with the one line that says why; in
 * postcopy, PAGE for a page the guest waits for and DONE at the end.
 * 16 bytes ("GMAN", u32 kind, u32 status, u32 length, little-endian)
 * and at most GM_FRAME_MAX bytes of text; a frame is untrusted like the
 * stream.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "move/move.h"
#include "util/escape.h"
#include "util/le.h"

#define FRAME_MAGIC "GMAN"
#define FRAME_HEAD 16u

static int gm_frame_send_bytes(int fd, uint32_t kind, uint32_t status, const void *text, size_t n,
			       int timeout_ms, struct gm_error *err)
{
	uint8_t buf[FRAME_HEAD + GM_FRAME_MAX];

	memcpy(buf, FRAME_MAGIC, 4);
	gm_put_le32(buf + 4, kind);
	gm_put_le32(buf + 8, status);
	gm_put_le32(buf + 12, (uint32_t)n);
	if (n)
		memcpy(buf + FRAME_HEAD, text, n);
	return gm_move_write_all(fd, buf, FRAME_HEAD + n, timeout_ms, err);
}

int gm_frame_send(int fd, uint32_t kind, uint32_t status, const char *text, int timeout_ms,
		  struct gm_error *err)
{
	return gm_frame_send_bytes(fd, kind, status, text, text ? strnlen(text, GM_FRAME_MAX - 1) : 0, timeout_ms,
				   err);
}

int gm_frame_send_page(int fd, uint32_t region, uint64_t page, struct gm_error *err)
{
	uint8_t p[8];

	gm_put_le64(p, page);
	return gm_frame_send_bytes(fd, GM_FRAME_PAGE, region, p, sizeof(p), -1, err);
}

int gm_frame_recv(int fd, struct gm_frame *f, int timeout_ms, struct gm_error *err)
{
	uint8_t head[FRAME_HEAD];
	uint32_t n;
	int r = gm_move_read_all(fd, head, sizeof(head), timeout_ms, err);

	if (r < 0)
		return r;
	memset(f, 0, sizeof(*f));
	f->kind = gm_le32(head + 4);
	f->status = gm_le32(head + 8);
	n = gm_le32(head + 12);
	if (memcmp(head, FRAME_MAGIC, 4) != 0 || f->kind < GM_FRAME_READY || f->kind > GM_FRAME_DONE ||
	    n >= GM_FRAME_MAX || (f->kind == GM_FRAME_PAGE && n != 8))
		return gm_fail(err, GM_STATUS_FAILURE, EPROTO,
			       "migration: the destination's answer is not a gmvm frame (kind %" PRIu32
			       ", %" PRIu32 " bytes); is a gmvm --incoming listening there?", f->kind, n);
	if (n && (r = gm_move_read_all(fd, f->text, n, timeout_ms, err)) < 0)
		return r;
	f->text[n] = '\0';
	if (f->kind == GM_FRAME_PAGE)
		f->page = gm_le64((const uint8_t *)f->text);
	return 0;
}

int gm_frame_refusal(const struct gm_frame *f, struct gm_error *err)
{
	char line[GM_FRAME_MAX + 64];
	int status = f->status == GM_STATUS_BAD_INPUT || f->status == GM_STATUS_NO_KERNEL ? (int)f->status
											  : GM_STATUS_FAILURE;

	/* whatever the peer wrote stays one printable line */
	gm_escape(f->text, line, sizeof(line));
	return gm_fail(err, status, status == GM_STATUS_NO_KERNEL ? ENOSYS : ECONNREFUSED,
		       "the destination refused the migration: %s", line);
}
