/*
 * vrng: reads vrng.bytes (64) random bytes from the first virtio-rng
 * device and checks they are not all the same; "vrng: N bytes" and
 * "vrng ok".
 */
#include "rt.h"
#include "virtio.h"

static uint8_t buf[4096];

int main(void)
{
	struct rt_virtio *d = rt_virtio_find(4, 0);
	uint64_t want = rt_param_u64("vrng.bytes", 64), got = 0;

	if (!d || want < 16 || want > sizeof(buf)) {
		rt_printf("vrng: no virtio-rng device, or vrng.bytes outside 16..4096\n");
		return RT_EXIT_FAIL;
	}
	if (rt_virtio_init(d, 0, 1, 16))
		return RT_EXIT_FAIL;
	while (got < want) {
		struct rt_vbuf b = { (uint64_t)buf + got, (uint32_t)(want - got), true };
		uint16_t head;
		uint32_t len;
		rt_virtq_add(d, 0, &b, 1);
		rt_virtq_kick(d, 0);
		if (rt_virtq_wait(d, 0, &head, &len, 60000) != 1 || !len || len > want - got) {
			rt_printf("vrng: no good answer (status 0x%x)\n", rt_virtio_status(d));
			return RT_EXIT_FAIL;
		}
		got += len;
	}
	unsigned same = 0;
	for (uint64_t i = 1; i < want; i++)
		same += buf[i] == buf[0];
	rt_printf("vrng: %lu bytes, %u equal to the first\n", (unsigned long)got, same);
	if (same == want - 1)
		return RT_EXIT_FAIL;
	rt_printf("vrng ok\n");
	return 0;
}
