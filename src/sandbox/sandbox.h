/*
 * sandbox/: confining a gmvm process.  seccomp.c gives every kind of
 * thread (gmvm/thread.h) its own allow-list through libseccomp; jail.c
 * starts gmvm in its own namespaces and root, as an unprivileged user with
 * no capabilities (libcap-ng).  Used by the CLI only: libgmvm confines
 * nothing by itself.
 */
#ifndef GM_SANDBOX_H
#define GM_SANDBOX_H

#include "gmvm/error.h"
#include "gmvm/thread.h"

enum gm_seccomp_mode {
	GM_SECCOMP_ON,  /* a syscall off the list: one line naming thread and call, exit status 1 */
	GM_SECCOMP_LOG, /* it is allowed and logged by the kernel (audit), for finding what a list lacks */
	GM_SECCOMP_OFF,
};

/* "on", "log" or "off" (--seccomp); else -EINVAL with a line naming the three. */
int gm_seccomp_parse(const char *s, enum gm_seccomp_mode *mode, struct gm_error *err);

/*
 * Ready the process: the SIGSYS reporter and the thread-start hook (which
 * then confines each thread libgmvm starts).  Call once from main's thread,
 * before any other thread exists.  GM_SECCOMP_OFF: nothing.
 */
int gm_seccomp_setup(enum gm_seccomp_mode mode, struct gm_error *err);

/* Confine the calling thread to kind's list (the hook calls it; the CLI calls it for GM_THREAD_MAIN). */
int gm_seccomp_enter(enum gm_thread_kind kind, struct gm_error *err);

#endif
