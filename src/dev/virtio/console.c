/* dev/virtio/console: virtio-console (being written: a stub that refuses). */
#include <errno.h>

#include "dev/virtio/virtio.h"

static unsigned instances(const struct gm_config *cfg)
{
	return cfg->virtio_console;
}

static int create(const struct gm_dev_ctx *ctx, void **dev, struct gm_error *err)
{
	(void)ctx;
	*dev = NULL;
	return gm_fail(err, GM_STATUS_BAD_INPUT, ENOSYS, "virtio-console is not built yet; leave it out");
}

static void reset(void *dev) { (void)dev; }
static size_t save(void *dev, uint8_t *out, size_t max) { (void)dev; (void)out; (void)max; return 0; }
static int load(void *dev, const uint8_t *data, size_t len, uint32_t version, struct gm_error *err)
{
	(void)dev; (void)data; (void)len; (void)version; (void)err;
	return 0;
}
static void destroy(void *dev) { (void)dev; }

const struct gm_device_type gm_dev_virtio_console = {
	.name = "virtio-console",
	.state_version = 1,
	.instances = instances,
	.create = create,
	.reset = reset,
	.save = save,
	.load = load,
	.destroy = destroy,
};
