/* util/: gm_error, the one way every room reports a failure. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gmvm/error.h"

int gm_fail(struct gm_error *err, int status, int errnum, const char *fmt, ...)
{
	if (errnum < 0)
		errnum = -errnum;
	if (err && err->msg[0] == '\0') {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		err->status = status;
		err->errnum = errnum;
	}
	return errnum ? -errnum : -EINVAL;
}

void gm_error_clear(struct gm_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}
