/*
 * vcon: writes one line through the first virtio-console device's transmit
 * queue (port 0, queue 1): "vcon: hello through virtio-console" (or
 * vcon.text=WORD), waits until the device took it, and says "vcon ok" on
 * the serial console.
 */
#include "rt.h"
#include "virtio.h"

static char line[128];

int main(void)
{
	struct rt_virtio *d = rt_virtio_find(3, 0);
	const char *text = rt_param("vcon.text") ? rt_param("vcon.text") : "hello through virtio-console";
	uint16_t head;
	uint32_t len;

	if (!d) {
		rt_printf("vcon: no virtio-console device\n");
		return RT_EXIT_FAIL;
	}
	if (rt_virtio_init(d, 0, 2, 16))
		return RT_EXIT_FAIL;
	int n = rt_snprintf(line, sizeof(line), "vcon: %s\n", text);
	struct rt_vbuf b = { (uint64_t)line, (uint32_t)n, false };
	rt_virtq_add(d, 1, &b, 1);
	rt_virtq_kick(d, 1);
	if (rt_virtq_wait(d, 1, &head, &len, 60000) != 1) {
		rt_printf("vcon: the device did not take the line (status 0x%x)\n", rt_virtio_status(d));
		return RT_EXIT_FAIL;
	}
	rt_printf("vcon ok\n");
	return 0;
}
