/*
 * tests/unit/fd_count: how many fds this process has open, to show a call
 * leaked none (shared by the unit suites that check it).
 */
#ifndef GM_TEST_FD_COUNT_H
#define GM_TEST_FD_COUNT_H

int test_open_fds(void);

#endif
