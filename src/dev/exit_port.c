/*
 * dev/exit_port: how a guest ends gmvm on purpose.  Port 0xf4 follows QEMU's
 * isa-debug-exit (status = value << 1 | 1), so test guests run unchanged in
 * both.  Port 0x64 is the i8042 command port: 0xfe there pulses the CPU
 * reset line, which gmvm (like Firecracker) takes as power-off with status 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "gmvm/machine.h"

#define I8042_RESET_CMD 0xfe
#define I8042_STATUS_IDLE 0x00 /* output empty, input empty: nothing to read */

struct gm_exit_port {
	struct gm_dev_host host;
};

static void debug_exit_io(void *opaque, uint64_t addr, uint8_t *data, unsigned size, bool is_write)
{
	struct gm_exit_port *e = opaque;
	uint32_t v = 0;
	char reason[64];

	(void)addr;
	if (!is_write) {
		memset(data, 0, size);
		return;
	}
	memcpy(&v, data, size < 4 ? size : 4);
	snprintf(reason, sizeof(reason), "guest wrote 0x%x to the exit port", v);
	e->host.request_exit(e->host.opaque, GM_EXIT_PORT, (int)(((v << 1) | 1) & 0xff), v, reason);
}

static void i8042_io(void *opaque, uint64_t addr, uint8_t *data, unsigned size, bool is_write)
{
	struct gm_exit_port *e = opaque;

	if (!is_write) {
		memset(data, 0, size);
		if (addr == GM_I8042_CMD_PORT)
			data[0] = I8042_STATUS_IDLE;
		return;
	}
	if (addr == GM_I8042_CMD_PORT && data[0] == I8042_RESET_CMD)
		e->host.request_exit(e->host.opaque, GM_EXIT_POWEROFF, 0, 0, "guest reset the CPU through the i8042 (power off)");
}

int gm_exit_port_new(struct gm_iobus *bus, const struct gm_dev_host *host, struct gm_exit_port **out,
		     struct gm_error *err)
{
	struct gm_exit_port *e = calloc(1, sizeof(*e));
	int r;

	if (!e)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the exit port");
	e->host = *host;
	r = gm_iobus_add_pio(bus, GM_DEBUG_EXIT_PORT, 4, debug_exit_io, e, "isa-debug-exit", err);
	if (!r)
		r = gm_iobus_add_pio(bus, GM_I8042_DATA_PORT, 1, i8042_io, e, "i8042-data", err);
	if (!r)
		r = gm_iobus_add_pio(bus, GM_I8042_CMD_PORT, 1, i8042_io, e, "i8042-cmd", err);
	if (r) {
		free(e);
		return r;
	}
	*out = e;
	return 0;
}

void gm_exit_port_free(struct gm_exit_port *e)
{
	free(e);
}

/* As a registered device: no state of its own -------------------------- */

static int exit_port_create(const struct gm_dev_ctx *ctx, void **dev, struct gm_error *err)
{
	return gm_exit_port_new(ctx->bus, &ctx->host, (struct gm_exit_port **)dev, err);
}

static void exit_port_reset(void *dev)
{
	(void)dev;
}

static size_t exit_port_save(void *dev, uint8_t *out, size_t max)
{
	(void)dev, (void)out, (void)max;
	return 0;
}

static int exit_port_load(void *dev, const uint8_t *data, size_t len, uint32_t version, struct gm_error *err)
{
	(void)dev, (void)data;
	if (version != 1 || len != 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "exit port state is %zu bytes of version %u; it has none (version 1)", len, version);
	return 0;
}

static void exit_port_destroy(void *dev)
{
	gm_exit_port_free(dev);
}

const struct gm_device_type gm_dev_exit_port = {
	.name = "exit-port",
	.state_version = 1,
	.create = exit_port_create,
	.reset = exit_port_reset,
	.save = exit_port_save,
	.load = exit_port_load,
	.destroy = exit_port_destroy,
};
