/* tests/unit/boot/boot_test.h: assertions shared by the boot unit tests. */
#ifndef BOOT_TEST_H
#define BOOT_TEST_H

#include <criterion/criterion.h>
#include <string.h>

#include "boot/elf.h"

/* rc must be -errnum, err a bad-input refusal whose one line has needle. */
static inline void expect_refused(int rc, int errnum, const struct gm_error *err,
				  const char *needle)
{
	cr_assert_eq(rc, -errnum, "rc %d, want %d (%s)", rc, -errnum, err->msg);
	cr_assert_eq(err->status, GM_STATUS_BAD_INPUT, "status %d: %s", err->status, err->msg);
	cr_assert_not_null(strstr(err->msg, needle), "message \"%s\" lacks \"%s\"",
			   err->msg, needle);
	cr_assert_null(strchr(err->msg, '\n'), "message has a newline: %s", err->msg);
	cr_assert_not_null(strchr(err->msg, ';'), "message names no remedy: %s", err->msg);
}

#endif
