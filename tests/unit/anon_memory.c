/* tests/unit/anon_memory: see anon_memory.h. */
#include "anon_memory.h"

struct gm_memory *test_anon_memory(uint64_t size, struct gm_error *err)
{
	struct gm_mem_config cfg = {
		.size = size, .backend = GM_BACKEND_ANON, .page_size = GM_PAGE_4K,
		.numa_node = -1, .bind = GM_BIND_MAPPED,
	};
	struct gm_caps caps = { .kvm = true, .host_ram = UINT64_C(1) << 40, .numa_nodes = 1,
				.numa_node_mask = 1, .nr_memslots = 32 };
	struct gm_memory *mem = NULL;

	return gm_memory_create(&cfg, &caps, -1, &mem, err) < 0 ? NULL : mem;
}
