/* dev/builtin: the devices every gmvm machine has, in creation order: the
 * interrupt controller first, since the others claim its lines. */
#include "dev/dev.h"

const struct gm_device_type *const gm_builtin_devices[] = {
	&gm_dev_ioapic,
	&gm_dev_serial,
	&gm_dev_exit_port,
	NULL,
};
