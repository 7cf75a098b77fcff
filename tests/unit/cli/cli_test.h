/*
 * tests/unit/cli/cli_test: what the client's tests share: a scratch
 * directory with the API socket path in it, and the real API server run
 * in the test process on that socket (no machine attached).
 */
#ifndef GM_TEST_CLI_TEST_H
#define GM_TEST_CLI_TEST_H

#include <limits.h>

#include <gmvm/api.h>

extern char dir[64];        /* /tmp/gmvm-cli-XXXXXX, made by make_dir */
extern char real[PATH_MAX]; /* dir with every link resolved */
extern char sock[128];      /* dir/api.sock */
extern struct gm_api *api;  /* the server on sock, from start_server */

/* Suite .init/.fini: the scratch directory alone, or with the server. */
void make_dir(void);
void remove_dir(void);
void start_server(void);
void stop_server(void);

/* A NULL-terminated argument list, for expect_usage_error (harness.h). */
#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

#endif
