/*
 * gm_error: how libgmvm reports a failure.  Every fallible function returns 0
 * or a negative errno and, when given a gm_error, fills it with one line that
 * names the cause and the remedy, plus the process exit status the gmvm
 * command uses for it (2 bad input, 3 the kernel lacks something).
 */
#ifndef GMVM_ERROR_H
#define GMVM_ERROR_H

#include <stddef.h>

/* Process exit statuses of `gmvm run` (and of gmvm subcommands). */
enum gm_status {
	GM_STATUS_OK = 0,
	GM_STATUS_FAILURE = 1,   /* guest crash, or a host-side failure */
	GM_STATUS_BAD_INPUT = 2, /* options, images or files are wrong */
	GM_STATUS_NO_KERNEL = 3, /* this kernel lacks a needed capability */
	GM_STATUS_TIMEOUT = 124, /* --timeout expired (as timeout(1)) */
};

struct gm_error {
	int status;     /* enum gm_status */
	int errnum;     /* positive errno of the cause, 0 if none */
	char msg[512];  /* one line, no trailing newline, no "gmvm: " prefix */
};

/*
 * Record a failure in err (which may be NULL) and return -errnum (or -EINVAL
 * when errnum is 0), so callers can write `return gm_fail(err, ...);`.
 * The first failure recorded wins: a later gm_fail on the same err keeps the
 * original, more specific message.
 */
int gm_fail(struct gm_error *err, int status, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Clear err so it can be reused. */
void gm_error_clear(struct gm_error *err);

#endif
