/*
 * sandbox/seccomp_lists: the allow-lists' tables (seccomp_lists.c), read by
 * seccomp.c.  A row's kinds is a bit per enum gm_thread_kind.
 */
#ifndef GM_SECCOMP_LISTS_H
#define GM_SECCOMP_LISTS_H

#include <stdint.h>

#include "gmvm/thread.h"

struct gm_sc_row {
	int64_t what;   /* a syscall number, an ioctl request, an fcntl command, a socket domain, a prctl option */
	unsigned kinds; /* 1u << kind for each kind it is allowed to */
};

/* syscalls allowed whatever their arguments; ends with what -1 */
extern const struct gm_sc_row gm_sc_plain[];
/* the baseline's own syscalls (main setting up, the launcher), none argument-filtered; ends with -1 */
extern const int gm_sc_setup[];
/* argument-filtered: ioctl by request (ends with 0), fcntl by command, socket by domain, prctl by option (end with -1) */
extern const struct gm_sc_row gm_sc_ioctl[];
extern const struct gm_sc_row gm_sc_fcntl[];
extern const struct gm_sc_row gm_sc_socket[];
extern const struct gm_sc_row gm_sc_prctl[];

#endif
