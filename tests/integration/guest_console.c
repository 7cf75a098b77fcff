/* tests/integration/guest_console: see guest_console.h. */
#include <string.h>
#include <time.h>

#include "guest_console.h"

void guest_console_init(struct guest_console *c)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
}

void guest_console_sink(void *opaque, const char *buf, size_t len)
{
	struct guest_console *c = opaque;

	pthread_mutex_lock(&c->lock);
	if (len > sizeof(c->buf) - 1 - c->len)
		len = sizeof(c->buf) - 1 - c->len;
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	c->buf[c->len] = '\0';
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

const char *guest_console_wait(struct guest_console *c, const char *needle, double limit)
{
	struct timespec end;
	const char *hit;

	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += (time_t)limit;
	pthread_mutex_lock(&c->lock);
	while (!(hit = strstr(c->buf, needle)))
		if (pthread_cond_timedwait(&c->cond, &c->lock, &end))
			break;
	pthread_mutex_unlock(&c->lock);
	return hit;
}
