/*
 * api/: what a route answers.  Every error is {"error":"one line"}: the
 * line may quote a client's path or field, or a machine message, so it is
 * forced onto one line and into valid UTF-8 here, once, for every route.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "util/escape.h"

json_t *gm_json_text(const char *s)
{
	json_t *j = json_string(s);

	if (j)
		return j;
	/* not UTF-8: show the bytes escaped rather than lose the value */
	size_t n = strlen(s), len = 4 * n + 8;
	char *buf = malloc(len);

	if (!buf)
		return NULL;
	j = json_string(gm_escape_n(s, n, buf, len));
	free(buf);
	return j;
}

json_t *gm_json_u64(uint64_t v)
{
	return json_integer((json_int_t)v);
}

void gm_reply_json(struct gm_api_reply *r, int status, json_t *obj)
{
	json_decref(r->json);
	r->json = obj;
	r->status = status;
	if (!obj) {
		r->status = 500;
		r->json = json_pack("{s:s}", "error", "the server ran out of memory; retry later");
	}
}

static void reply_line(struct gm_api_reply *r, int status, char *line)
{
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	json_t *text = gm_json_text(line);

	gm_reply_json(r, status, text ? json_pack("{s:o}", "error", text) : NULL);
}

void gm_reply_error(struct gm_api_reply *r, int status, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	reply_line(r, status, line);
}

void gm_reply_machine_error(struct gm_api_reply *r, int rc, const struct gm_error *err,
			    const char *what)
{
	char line[1024];
	int status = 500;

	if (rc == -EALREADY || rc == -ESRCH || rc == -EBUSY)
		status = 409;
	else if (err && (err->status == GM_STATUS_BAD_INPUT || err->status == GM_STATUS_NO_KERNEL))
		status = 400;
	if (err && err->msg[0])
		snprintf(line, sizeof(line), "%s", err->msg);
	else
		snprintf(line, sizeof(line), "cannot %s: %s; GET " GM_API_PREFIX "vm.info shows the VM's state",
			 what, strerror(rc < 0 ? -rc : rc));
	reply_line(r, status, line);
}
