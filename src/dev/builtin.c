/* dev/builtin: the devices every gmvm machine has, in creation order: the
 * interrupt controller first, since the others claim its lines. */
#include "dev/virtio/virtio.h"

const struct gm_device_type *const gm_builtin_devices[] = {
	&gm_dev_ioapic,
	&gm_dev_serial,
	&gm_dev_exit_port,
	/* as many as the config asks for (instances()), in this order: the
	 * command line's virtio_mmio entries, hence /dev/vda..., follow it */
	&gm_dev_virtio_blk,
	&gm_dev_virtio_console,
	&gm_dev_virtio_rng,
	&gm_dev_virtio_net,
	&gm_dev_virtio_balloon,
	NULL,
};
