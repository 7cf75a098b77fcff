/*
 * tests/integration/guest_console: a console sink that collects a guest's
 * output so a test can wait for a line, as another VMM using libgmvm would.
 */
#ifndef GM_TEST_GUEST_CONSOLE_H
#define GM_TEST_GUEST_CONSOLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct guest_console {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char buf[1 << 16];
	size_t len;
};

void guest_console_init(struct guest_console *c);
/* A gm_console_sink. */
void guest_console_sink(void *opaque, const char *buf, size_t len);
/* Wait up to limit seconds for needle; returns a pointer into buf or NULL. */
const char *guest_console_wait(struct guest_console *c, const char *needle, double limit);

#endif
