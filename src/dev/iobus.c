/*
 * dev/iobus: the one dispatch table for port I/O and MMIO exits.  Ranges are
 * registered before vCPUs start and never change after, so lookups need no
 * lock.  Unclaimed accesses are logged once per address, then ignored, so a
 * guest probing for hardware we lack keeps running and the log stays short.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"

#define IOBUS_MAX_RANGES 32
#define MMIO_LOG_SLOTS   64

struct io_range {
	uint64_t base, len;
	gm_io_fn fn;
	void *opaque;
	const char *name;
};

struct gm_iobus {
	struct io_range pio[IOBUS_MAX_RANGES], mmio[IOBUS_MAX_RANGES];
	unsigned npio, nmmio;
	atomic_uchar pio_logged[65536 / 8];
	_Atomic uint64_t mmio_logged[MMIO_LOG_SLOTS];
	atomic_bool mmio_log_full;
	void (*log)(void *opaque, const char *line);
	void *log_opaque;
};

struct gm_iobus *gm_iobus_new(void)
{
	return calloc(1, sizeof(struct gm_iobus));
}

void gm_iobus_free(struct gm_iobus *bus)
{
	free(bus);
}

static int add_range(struct io_range *tab, unsigned *n, uint64_t base, uint64_t len, gm_io_fn fn,
		     void *opaque, const char *name, struct gm_error *err)
{
	if (len == 0 || base + len < base)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL, "device %s: empty or wrapping I/O range", name);
	for (unsigned i = 0; i < *n; i++)
		if (base < tab[i].base + tab[i].len && tab[i].base < base + len)
			return gm_fail(err, GM_STATUS_FAILURE, EEXIST, "device %s overlaps device %s at 0x%llx",
				       name, tab[i].name, (unsigned long long)base);
	if (*n == IOBUS_MAX_RANGES)
		return gm_fail(err, GM_STATUS_FAILURE, ENOSPC, "too many device ranges for %s", name);
	tab[(*n)++] = (struct io_range){ base, len, fn, opaque, name };
	return 0;
}

int gm_iobus_add_pio(struct gm_iobus *bus, uint16_t base, uint16_t len, gm_io_fn fn, void *opaque,
		     const char *name, struct gm_error *err)
{
	if ((uint32_t)base + len > 65536)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL, "device %s: ports past 0xffff", name);
	return add_range(bus->pio, &bus->npio, base, len, fn, opaque, name, err);
}

int gm_iobus_add_mmio(struct gm_iobus *bus, uint64_t base, uint64_t len, gm_io_fn fn, void *opaque,
		      const char *name, struct gm_error *err)
{
	return add_range(bus->mmio, &bus->nmmio, base, len, fn, opaque, name, err);
}

static const struct io_range *lookup(const struct io_range *tab, unsigned n, uint64_t addr, unsigned size)
{
	for (unsigned i = 0; i < n; i++)
		if (addr >= tab[i].base && addr - tab[i].base + size <= tab[i].len)
			return &tab[i];
	return NULL;
}

void gm_iobus_set_log(struct gm_iobus *bus, void (*log)(void *opaque, const char *line), void *opaque)
{
	bus->log = log;
	bus->log_opaque = opaque;
}

static void __attribute__((format(printf, 2, 3))) bus_log(struct gm_iobus *bus, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (!bus->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	bus->log(bus->log_opaque, line);
}

static void unclaimed(uint8_t *data, unsigned size, bool is_write)
{
	if (!is_write)
		memset(data, 0xff, size);
}

void gm_iobus_pio(struct gm_iobus *bus, uint16_t port, uint8_t *data, unsigned size, bool is_write)
{
	const struct io_range *r = lookup(bus->pio, bus->npio, port, size);

	if (r) {
		r->fn(r->opaque, port, data, size, is_write);
		return;
	}
	unclaimed(data, size, is_write);
	unsigned char bit = (unsigned char)(1u << (port & 7));
	if (!(atomic_fetch_or(&bus->pio_logged[port >> 3], bit) & bit))
		bus_log(bus, "guest %s %u byte(s) at unhandled port 0x%x; ignored (logged once)",
			is_write ? "wrote" : "read", size, port);
}

void gm_iobus_mmio(struct gm_iobus *bus, uint64_t addr, uint8_t *data, unsigned size, bool is_write)
{
	const struct io_range *r = lookup(bus->mmio, bus->nmmio, addr, size);

	if (r) {
		r->fn(r->opaque, addr, data, size, is_write);
		return;
	}
	unclaimed(data, size, is_write);
	/* Remember addresses already reported in a small open-addressed set;
	 * key 0 is "empty", so store addr + 1. */
	uint64_t key = addr + 1;
	for (unsigned i = 0; i < MMIO_LOG_SLOTS; i++) {
		_Atomic uint64_t *slot = &bus->mmio_logged[(addr / 8 + i) % MMIO_LOG_SLOTS];
		uint64_t expect = 0;

		if (atomic_load(slot) == key)
			return;
		if (atomic_compare_exchange_strong(slot, &expect, key)) {
			bus_log(bus, "guest %s %u byte(s) at unhandled MMIO address 0x%llx; ignored (logged once)",
				is_write ? "wrote" : "read", size, (unsigned long long)addr);
			return;
		}
		if (expect == key)
			return;
	}
	if (!atomic_exchange(&bus->mmio_log_full, true))
		bus_log(bus, "guest touches many unhandled MMIO addresses; no longer logging them");
}
