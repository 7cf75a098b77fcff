/*
 * move/handover: a live update's messages, JSON objects in fdpass frames
 * (see handover.h).  Both sides check what they get here: the kind, that
 * the payload is one JSON object, and that a frame carries fds only where
 * the protocol puts them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "move/handover.h"
#include "util/escape.h"

static const char *kind_name(uint16_t k)
{
	static const char *const names[] = { "?", "HELLO", "CAN", "HANDOVER", "READY", "COMMIT", "RUNNING", "REFUSED" };

	return k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

int gm_ho_send(int sock, enum gm_handover_kind kind, json_t *obj, const int *fds, unsigned nfds, int timeout_ms,
	       struct gm_error *err)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	int r;

	json_decref(obj);
	/* json_pack fails on a string that is not UTF-8 as much as on memory */
	if (!text)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "live update: the %s cannot be encoded (a path that is not UTF-8, or no memory); rename the console file or free memory",
			       kind_name(kind));
	struct gm_error e = { 0 };

	r = gm_fdpass_send(sock, (uint16_t)kind, text, strlen(text), fds, nfds, timeout_ms, &e);
	free(text);
	if (r == -EPIPE || r == -ECONNRESET)
		return gm_fail(err, GM_STATUS_FAILURE, -r, "the other gmvm closed the handover socket before the %s reached it",
			       kind_name(kind));
	if (r)
		*err = e;
	return r;
}

int gm_ho_recv(int sock, enum gm_handover_kind want, const char *who, int timeout_ms, struct gm_fdpass_msg *msg,
	       json_t **obj, struct gm_error *err)
{
	struct gm_error e = { 0 };
	json_t *o;
	int r;

	*obj = NULL;
	memset(msg, 0, sizeof(*msg));
	r = gm_fdpass_recv(sock, GM_HO_MAX_LEN, want == GM_HO_HELLO || want == GM_HO_HANDOVER ? GM_FDPASS_MAX_FDS : 0, timeout_ms, msg, &e);
	if (r == -ECONNRESET)
		return gm_fail(err, GM_STATUS_FAILURE, ECONNRESET,
			       "%s closed the handover socket before its %s; its own message, if any, is on stderr", who,
			       kind_name(want));
	if (r == -ETIMEDOUT)
		return gm_fail(err, GM_STATUS_FAILURE, ETIMEDOUT, "%s sent no %s in time; %s", who, kind_name(want), e.msg);
	if (r)
		return gm_fail(err, e.status, -r, "live update: the %s from %s: %s", kind_name(want), who, e.msg);
	o = msg->data ? json_loadb((const char *)msg->data, msg->len, 0, NULL) : NULL;
	if (!json_is_object(o)) {
		/* named before the free, which clears msg */
		r = gm_fail(err, GM_STATUS_BAD_INPUT, EPROTO,
			    "live update: %s sent a %s that is not a JSON object; are both gmvm of a version that does live updates?",
			    who, kind_name(msg->kind));
		json_decref(o);
		gm_fdpass_msg_free(msg);
		return r;
	}
	if (msg->kind == GM_HO_REFUSED) {
		const char *line = json_string_value(json_object_get(o, "error"));
		json_int_t status = json_integer_value(json_object_get(o, "status"));
		/* whatever the peer wrote stays one printable line */
		char esc[sizeof(err->msg)];

		r = gm_fail(err, status > 0 && status < 256 ? (int)status : GM_STATUS_FAILURE, ECANCELED, "%s",
			    line ? gm_escape(line, esc, sizeof(esc)) : "the other gmvm refused, giving no reason");
		json_decref(o);
		gm_fdpass_msg_free(msg);
		return r;
	}
	if (msg->kind != want) {
		r = gm_fail(err, GM_STATUS_BAD_INPUT, EPROTO, "live update: %s sent %s where %s belongs; is it a gmvm of this version?",
			    who, kind_name(msg->kind), kind_name(want));
		json_decref(o);
		gm_fdpass_msg_free(msg);
		return r;
	}
	*obj = o;
	return 0;
}

void gm_ho_refuse(int sock, const struct gm_error *why)
{
	struct gm_error ignored = { 0 };

	gm_ho_send(sock, GM_HO_REFUSED, json_pack("{s:s, s:i}", "error", why->msg, "status", why->status), NULL, 0, 2000,
		   &ignored);
}
