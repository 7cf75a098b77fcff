/*
 * Fuzz target for virtio-balloon (dev/virtio/balloon*.c): a hostile
 * driver's inflate, deflate, stats and free page report chains over a fake
 * guest memory.  Input: an 8-byte header, then the guest memory image
 * (GUEST_MEM bytes, zero-padded) in a malloc'd buffer of exactly that size.
 *
 *   u8 features (1 STATS_VQ, 2 REPORTING, 4 DEFLATE_ON_OOM)
 *   u8 backing page size: 4 KiB << (n % 3) (a huge-page backing in miniature)
 *   u8 kicks[6]: queue numbers (mod 4) kicked in this order
 *
 * The driver's queues sit at fixed places: queue i's descriptor table at
 * 0x1000 * i, its avail ring at +0x400, used ring at +0x800, 16 entries;
 * the fuzzer writes their contents.  Invariants: every discard the device
 * asks for is inside guest memory, 4 KiB aligned and not empty; the
 * device's freed_bytes is their sum; a kind of refusal is logged once
 * (at most 5 device lines, plus the transport's one if it broke); the
 * state saved loads back; a reset empties the balloon.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/dev/virtio_fake.h"
#include "util/le.h"

#define GUEST_MEM 65536u
#define NUM 16

#define CHECK(cond, ...)                                                           \
	do {                                                                       \
		if (!(cond)) {                                                     \
			fprintf(stderr, "fuzz_balloon: %s: ", #cond);              \
			fprintf(stderr, __VA_ARGS__);                              \
			fputc('\n', stderr);                                       \
			abort();                                                   \
		}                                                                  \
	} while (0)

static uint64_t discarded;

static int discard(void *opaque, uint64_t gpa, uint64_t len, uint64_t *freed, struct gm_error *err)
{
	(void)opaque;
	(void)err;
	CHECK(len && gpa % 4096 == 0 && len % 4096 == 0 && gpa < GUEST_MEM && len <= GUEST_MEM - gpa,
	      "discard of 0x%llx+0x%llx", (unsigned long long)gpa, (unsigned long long)len);
	discarded += len;
	*freed = len;
	return 0;
}

static uint64_t stat(void *dev, const char *key)
{
	struct gm_dev_stat st[GM_DEV_STATS_MAX];
	unsigned n = gm_dev_virtio_balloon.stats(dev, st, GM_DEV_STATS_MAX);

	for (unsigned i = 0; i < n; i++)
		if (!strcmp(st[i].key, key))
			return st[i].value;
	CHECK(0, "no stat %s", key);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t state[GM_DEV_STATE_MAX];
	struct gm_config cfg;
	struct gm_error err = { 0 };
	uint8_t *mem;
	struct fake *f;
	void *dev = NULL;

	if (size < 8)
		return 0;
	mem = calloc(1, GUEST_MEM);
	if (!mem)
		abort();
	memcpy(mem, data + 8, size - 8 < GUEST_MEM ? size - 8 : GUEST_MEM);
	f = fake_over(mem, GUEST_MEM);
	memset(&cfg, 0, sizeof(cfg));
	cfg.mem.size = GUEST_MEM;
	cfg.mem.page_size = UINT64_C(4096) << (data[1] % 3);
	cfg.balloon = (struct gm_balloon_config){ .on = true, .free_page_reporting = true, .deflate_on_oom = true };
	f->ctx.cfg = &cfg;
	f->ctx.host.discard = discard;
	discarded = 0;
	if (gm_dev_virtio_balloon.create(&f->ctx, &dev, &err))
		abort();

	uint64_t features = GM_VIRTIO_F_VERSION_1 | (data[0] & 1 ? UINT64_C(1) << 1 : 0) |
			    (data[0] & 2 ? UINT64_C(1) << 5 : 0) | (data[0] & 4 ? UINT64_C(1) << 2 : 0);
	CHECK(fake_negotiate(f, FAKE_BASE, features) & 8, "FEATURES_OK refused");
	for (unsigned i = 0; i < 4; i++) {
		fake_wr(f, FAKE_BASE, 0x30, i);
		fake_wr(f, FAKE_BASE, 0x38, NUM);
		fake_wr(f, FAKE_BASE, 0x80, 0x1000 * i);
		fake_wr(f, FAKE_BASE, 0x84, 0);
		fake_wr(f, FAKE_BASE, 0x90, 0x1000 * i + 0x400);
		fake_wr(f, FAKE_BASE, 0x94, 0);
		fake_wr(f, FAKE_BASE, 0xa0, 0x1000 * i + 0x800);
		fake_wr(f, FAKE_BASE, 0xa4, 0);
		fake_wr(f, FAKE_BASE, 0x44, 1);
	}
	fake_wr(f, FAKE_BASE, 0x70, 0xf);
	for (unsigned k = 2; k < 8; k++)
		fake_wr(f, FAKE_BASE, 0x50, data[k] % 4);

	CHECK(stat(dev, "freed_bytes") == discarded, "freed_bytes %llu, discards %llu",
	      (unsigned long long)stat(dev, "freed_bytes"), (unsigned long long)discarded);
	CHECK(stat(dev, "inflated_bytes") <= GUEST_MEM, "inflated %llu", (unsigned long long)stat(dev, "inflated_bytes"));
	CHECK(f->nlog <= 6 + (cfg.mem.page_size > 4096), "%u log lines: %s", f->nlog, f->last_log);

	size_t n = gm_dev_virtio_balloon.save(dev, state, sizeof(state));
	if (n) {
		uint64_t inflated = stat(dev, "inflated_bytes");
		int r = gm_dev_virtio_balloon.load(dev, state, n, 1, &err);

		/* the transport refuses a state of a broken device; its own part was checked by fuzz_virtq */
		CHECK(r == 0 || (fake_rd(f, FAKE_BASE, 0x70) & 0x40), "its own state refused: %s", err.msg);
		if (r == 0)
			CHECK(stat(dev, "inflated_bytes") == inflated, "inflated_bytes changed across save and load");
	}
	gm_dev_virtio_balloon.reset(dev);
	CHECK(stat(dev, "inflated_bytes") == 0, "a reset left pages in the balloon");
	gm_dev_virtio_balloon.destroy(dev);
	fake_free(f);
	free(mem);
	return 0;
}
