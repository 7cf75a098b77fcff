/*
 * vmm/hooks: how the machine tells its owner what happens, through the
 * gm_hooks the owner set (the library itself never prints).  Events carry
 * the machine's own monotonic time so an event file orders them exactly.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "vmm/vmm.h"

uint64_t gm_now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

uint64_t gm_ns_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - t->tv_sec) * 1000000000u + (uint64_t)now.tv_nsec - (uint64_t)t->tv_nsec;
}

void gm_emit(struct gm_machine *m, struct gm_event ev)
{
	if (!m->hooks.event)
		return;
	ev.time_us = gm_now_us();
	m->hooks.event(m->hooks.opaque, &ev);
}

void gm_log(struct gm_machine *m, enum gm_log_level level, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!m->hooks.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	m->hooks.log(m->hooks.opaque, level, line);
}

/* Device-side messages (the I/O bus's log-once lines, console write
 * failures) reach the same hook. */
static void dev_log(void *opaque, const char *line)
{
	gm_log(opaque, GM_LOG_WARN, "%s", line);
}

void gm_machine_set_hooks(struct gm_machine *m, const struct gm_hooks *hooks)
{
	m->hooks = *hooks;
	gm_iobus_set_log(m->bus, dev_log, m);
	gm_console_set_log(m->console, dev_log, m);
	gm_emit(m, (struct gm_event){ .kind = GM_EVENT_CREATED });
}
