/*
 * virtio-balloon over fake guest memory (virtio_fake.c, the real transport):
 * inflate runs coalesced into few discards, deflate counting, hostile PFNs
 * and report ranges refused and counted with nothing else freed, the queue
 * roles packed over the negotiated features, huge-page backing freeing only
 * whole huge pages, stats, settings, and a save/load round trip.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "virtio_fake.h"
#include "util/le.h"

#define MEM   (UINT64_C(8) << 20)
#define BUF   0x10000
#define S_ALL (1 | 2 | 8 | 4) /* ACK, DRIVER, FEATURES_OK, DRIVER_OK */
#define F_STATS     (UINT64_C(1) << 1)
#define F_DEFLATE   (UINT64_C(1) << 2)
#define F_REPORTING (UINT64_C(1) << 5)
#define D_NEXT  1
#define D_WRITE 2

static struct fake *f;
static void *dev;
static struct gm_config cfg;
static struct fake_q q[4];
static struct { uint64_t gpa, len; } calls[64];
static unsigned ncalls;

static int rec_discard(void *opaque, uint64_t gpa, uint64_t len, uint64_t *freed, struct gm_error *err)
{
	(void)opaque;
	(void)err;
	if (ncalls < 64)
		calls[ncalls] = (typeof(calls[0])){ gpa, len };
	ncalls++;
	*freed = len;
	return 0;
}

static void setup(void)
{
	f = fake_new(MEM);
	memset(&cfg, 0, sizeof(cfg));
	cfg.mem.size = MEM;
	cfg.mem.page_size = 4096;
	cfg.balloon = (struct gm_balloon_config){ .on = true, .free_page_reporting = true };
	f->ctx.cfg = &cfg;
	f->ctx.host.discard = rec_discard;
	ncalls = 0;
	dev = NULL;
}

static void teardown(void)
{
	if (dev)
		gm_dev_virtio_balloon.destroy(dev);
	fake_free(f);
}

TestSuite(virtio_balloon, .init = setup, .fini = teardown);

/* Create, negotiate features, set up nq queues, DRIVER_OK. */
static void start(uint64_t features, unsigned nq)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_dev_virtio_balloon.create(&f->ctx, &dev, &err), 0, "%s", err.msg);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x08), GM_VIRTIO_ID_BALLOON);
	cr_assert(fake_negotiate(f, FAKE_BASE, GM_VIRTIO_F_VERSION_1 | features) & 8);
	for (unsigned i = 0; i < nq; i++)
		fake_queue(f, FAKE_BASE, &q[i], i, 16, 0x1000 + i * 0x1000, 0x1400 + i * 0x1000, 0x1800 + i * 0x1000);
	fake_wr(f, FAKE_BASE, 0x70, S_ALL);
}

/* One readable buffer of PFNs at BUF + slot * 0x1000 on queue qi. */
static void send_pfns(unsigned qi, unsigned slot, const uint32_t *pfn, unsigned n)
{
	uint64_t a = BUF + slot * 0x1000;

	for (unsigned i = 0; i < n; i++)
		gm_put_le32(f->mem + a + 4 * i, pfn[i]);
	fake_desc(f, q[qi].desc, slot % 16, a, 4 * n, 0, 0);
	fake_avail(&q[qi], slot % 16);
	fake_kick(&q[qi]);
}

static uint64_t stat(const char *key)
{
	struct gm_dev_stat st[GM_DEV_STATS_MAX];
	unsigned n = gm_dev_virtio_balloon.stats(dev, st, GM_DEV_STATS_MAX);

	for (unsigned i = 0; i < n; i++)
		if (!strcmp(st[i].key, key))
			return st[i].value;
	cr_assert_fail("no stat %s", key);
	return 0;
}

Test(virtio_balloon, offer_follows_the_config)
{
	cfg.balloon.deflate_on_oom = true;
	cfg.balloon.free_page_reporting = false;
	start(0, 0);
	fake_wr(f, FAKE_BASE, 0x14, 0);
	uint32_t lo = fake_rd(f, FAKE_BASE, 0x10);
	cr_assert_eq(lo & 0xff, F_STATS | F_DEFLATE, "offered 0x%x", lo);
}

Test(virtio_balloon, inflate_coalesces_and_refuses_bad_pfns)
{
	uint32_t pfn[] = { 0x100, 0x101, 0x102, 0x200, 0xfffff, 0x101, 0x103, 0x7ff, 0x800 };

	start(F_STATS | F_REPORTING, 4);
	send_pfns(0, 0, pfn, 9);
	cr_assert_eq(fake_used_idx(&q[0]), 1, "the chain went back");
	/* 0x100-0x102 one run; 0x200; 0x103 (0x101 twice is nothing new); 0x7ff; 0x800 and 0xfffff are outside RAM */
	cr_assert_eq(ncalls, 4, "%u discards", ncalls);
	cr_assert_eq(calls[0].gpa, 0x100000);
	cr_assert_eq(calls[0].len, 0x3000);
	cr_assert_eq(calls[1].gpa, 0x200000);
	cr_assert_eq(calls[2].gpa, 0x103000);
	cr_assert_eq(calls[3].gpa, 0x7ff000);
	cr_assert_eq(stat("refused"), 2);
	cr_assert_eq(stat("inflated_bytes"), 6 * 4096);
	cr_assert_eq(stat("freed_bytes"), 6 * 4096);
	cr_assert_eq(f->nlog, 1, "one line per kind: %s", f->last_log);
	cr_assert(strstr(f->last_log, "outside guest RAM"), "%s", f->last_log);

	uint32_t back[] = { 0x100, 0x300, 0x200 };
	send_pfns(1, 1, back, 3);
	cr_assert_eq(fake_used_idx(&q[1]), 1);
	cr_assert_eq(ncalls, 4, "a deflate frees nothing");
	cr_assert_eq(stat("inflated_bytes"), 4 * 4096, "0x300 was never inflated");
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70) & 0x40, 0, "not broken");
}

Test(virtio_balloon, report_queue_is_packed_without_stats)
{
	start(F_REPORTING, 3);
	/* a chain of two device-writable ranges and one misaligned */
	fake_desc(f, q[2].desc, 0, 0x400000, 0x200000, D_WRITE | D_NEXT, 1);
	fake_desc(f, q[2].desc, 1, 0x600000, 0x100000, D_WRITE | D_NEXT, 2);
	fake_desc(f, q[2].desc, 2, 0x700800, 0x1000, D_WRITE, 0);
	fake_avail(&q[2], 0);
	fake_kick(&q[2]);
	cr_assert_eq(fake_used_idx(&q[2]), 1);
	cr_assert_eq(ncalls, 1, "adjacent ranges are one discard");
	cr_assert_eq(calls[0].gpa, 0x400000);
	cr_assert_eq(calls[0].len, 0x300000);
	cr_assert_eq(stat("reported_bytes"), 0x300000);
	cr_assert_eq(stat("refused"), 1);
	cr_assert(strstr(f->last_log, "not aligned"), "%s", f->last_log);
	/* a readable report buffer is refused, not freed */
	fake_desc(f, q[2].desc, 3, 0x100000, 0x1000, 0, 0);
	fake_avail(&q[2], 3);
	fake_kick(&q[2]);
	cr_assert_eq(fake_used_idx(&q[2]), 2);
	cr_assert_eq(ncalls, 1);
	cr_assert_eq(stat("refused"), 2);
}

Test(virtio_balloon, report_ranges_outside_ram_are_refused_alone)
{
	start(F_REPORTING, 3);
	/* beyond the end of RAM, wrapping past 2^64, then a good one: only the good one is freed */
	fake_desc(f, q[2].desc, 0, MEM, 0x200000, D_WRITE | D_NEXT, 1);
	fake_desc(f, q[2].desc, 1, UINT64_MAX - 0xfff, 0x2000, D_WRITE | D_NEXT, 2);
	fake_desc(f, q[2].desc, 2, 0x200000, 0x200000, D_WRITE, 0);
	fake_avail(&q[2], 0);
	fake_kick(&q[2]);
	cr_assert_eq(fake_used_idx(&q[2]), 1, "the chain is given back");
	cr_assert_eq(ncalls, 1);
	cr_assert_eq(calls[0].gpa, 0x200000);
	cr_assert_eq(stat("refused"), 2);
	cr_assert_eq(stat("reported_bytes"), 0x200000);
	cr_assert(strstr(f->last_log, "outside guest RAM"), "%s", f->last_log);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x70) & 0x40, 0, "the device keeps working (no NEEDS_RESET)");
}

Test(virtio_balloon, huge_pages_free_only_when_whole)
{
	uint32_t pfn[512];

	cfg.mem.page_size = 2 << 20;
	start(F_STATS, 3);
	for (unsigned i = 0; i < 512; i++)
		pfn[i] = 0x200 + i; /* the huge page at 2 MiB */
	send_pfns(0, 0, pfn, 511);
	cr_assert_eq(ncalls, 0, "511 of 512 pages free nothing");
	send_pfns(0, 1, pfn + 511, 1);
	cr_assert_eq(ncalls, 1);
	cr_assert_eq(calls[0].gpa, 0x200000);
	cr_assert_eq(calls[0].len, 0x200000);
	send_pfns(1, 2, pfn + 7, 1);
	send_pfns(0, 3, pfn + 7, 1);
	cr_assert_eq(ncalls, 2, "deflated then inflated again: whole again, freed again");
	cr_assert_eq(stat("inflated_bytes"), 512 * 4096);
}

Test(virtio_balloon, target_and_settings)
{
	struct gm_error err = { 0 };

	start(F_STATS, 3);
	cr_assert_lt(gm_dev_virtio_balloon.set(dev, "target_mib", 9, &err), 0);
	cr_assert(strstr(err.msg, "outside 0..8"), "%s", err.msg);
	gm_error_clear(&err);
	cr_assert_lt(gm_dev_virtio_balloon.set(dev, "target_mib", -1, &err), 0);
	gm_error_clear(&err);
	cr_assert_eq(gm_dev_virtio_balloon.set(dev, "target_mib", 6, &err), 0, "%s", err.msg);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x100), 6 * 256);
	cr_assert(fake_rd(f, FAKE_BASE, 0x60) & 2, "a config change interrupt");
	fake_wr(f, FAKE_BASE, 0x104, 5 * 256);
	fake_wr(f, FAKE_BASE, 0x100, 1); /* num_pages is the device's */
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x100), 6 * 256);
	cr_assert_eq(stat("target_mib"), 6);
	cr_assert_eq(stat("actual_mib"), 5);
	cr_assert_eq(gm_dev_virtio_balloon.set(dev, "deflate_on_oom", 0, &err), 0, "equal to the offer");
	gm_error_clear(&err);
	cr_assert_lt(gm_dev_virtio_balloon.set(dev, "deflate_on_oom", 1, &err), 0);
	cr_assert(strstr(err.msg, "restart with --balloon,deflate-on-oom=on"), "%s", err.msg);
	cr_assert_eq(gm_dev_virtio_balloon.set(dev, "colour", 1, &err), -ENOENT);
}

Test(virtio_balloon, deflate_on_oom_changes_before_the_driver)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_dev_virtio_balloon.create(&f->ctx, &dev, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_dev_virtio_balloon.set(dev, "deflate_on_oom", 1, &err), 0, "%s", err.msg);
	fake_wr(f, FAKE_BASE, 0x14, 0);
	cr_assert(fake_rd(f, FAKE_BASE, 0x10) & F_DEFLATE);
	cr_assert_eq(stat("deflate_on_oom"), 1);
}

/* The guest negotiated DEFLATE_ON_OOM the API offered: a device made from --balloon's "off" takes the state. */
Test(virtio_balloon, an_offer_changed_by_the_api_moves_with_the_state)
{
	uint8_t st[GM_DEV_STATE_MAX];
	struct gm_error err = { 0 };
	void *other = NULL;
	size_t n;

	cr_assert_eq(gm_dev_virtio_balloon.create(&f->ctx, &dev, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_dev_virtio_balloon.set(dev, "deflate_on_oom", 1, &err), 0, "%s", err.msg);
	cr_assert(fake_negotiate(f, FAKE_BASE, GM_VIRTIO_F_VERSION_1 | F_STATS | F_DEFLATE | F_REPORTING) & 8);
	for (unsigned i = 0; i < 4; i++)
		fake_queue(f, FAKE_BASE, &q[i], i, 16, 0x1000 + i * 0x1000, 0x1400 + i * 0x1000, 0x1800 + i * 0x1000);
	fake_wr(f, FAKE_BASE, 0x70, S_ALL);
	n = gm_dev_virtio_balloon.save(dev, st, sizeof(st));
	cr_assert_gt(n, 0);
	gm_dev_virtio_balloon.destroy(dev);
	dev = NULL;
	fake_free(f);
	setup(); /* a fresh machine from the same command line: deflate-on-oom off */
	cr_assert_eq(gm_dev_virtio_balloon.create(&f->ctx, &other, &err), 0, "%s", err.msg);
	dev = other;
	cr_assert_eq(gm_dev_virtio_balloon.load(dev, st, n, 1, &err), 0, "%s", err.msg);
	cr_assert_eq(stat("deflate_on_oom"), 1);
}

Test(virtio_balloon, stats_are_held_then_given_back)
{
	uint8_t s[20];

	start(F_STATS, 3);
	gm_put_le16(s, 4);
	gm_put_le64(s + 2, 123456);
	gm_put_le16(s + 10, 77); /* unknown tag: ignored */
	gm_put_le64(s + 12, 1);
	memcpy(f->mem + BUF, s, sizeof(s));
	fake_desc(f, q[2].desc, 0, BUF, sizeof(s), 0, 0);
	fake_avail(&q[2], 0);
	fake_kick(&q[2]);
	cr_assert_eq(fake_used_idx(&q[2]), 0, "held until we want fresh numbers");
	cr_assert_eq(stat("guest_memfree_bytes"), 123456);
	cr_assert_eq(fake_used_idx(&q[2]), 1, "stats() asked for fresh ones");
}

Test(virtio_balloon, state_round_trip)
{
	uint8_t st[GM_DEV_STATE_MAX];
	uint32_t pfn[] = { 0x10, 0x11, 0x12, 0x40 };
	struct gm_error err = { 0 };
	size_t n;

	start(F_STATS | F_REPORTING, 4);
	send_pfns(0, 0, pfn, 4);
	cr_assert_eq(gm_dev_virtio_balloon.set(dev, "target_mib", 3, &err), 0);
	n = gm_dev_virtio_balloon.save(dev, st, sizeof(st));
	cr_assert_gt(n, 0);
	cr_assert_lt(gm_dev_virtio_balloon.load(dev, st, n - 1, 1, &err), 0, "short state");
	st[n - 1] = 0xff; /* the last run's length: past RAM */
	cr_assert_lt(gm_dev_virtio_balloon.load(dev, st, n, 1, &err), 0);
	cr_assert(strstr(err.msg, "corrupt"), "%s", err.msg);
	st[n - 1] = 0;
	gm_error_clear(&err);
	gm_dev_virtio_balloon.reset(dev);
	cr_assert_eq(stat("inflated_bytes"), 0);
	cr_assert_eq(gm_dev_virtio_balloon.load(dev, st, n, 1, &err), 0, "%s", err.msg);
	cr_assert_eq(stat("inflated_bytes"), 4 * 4096);
	cr_assert_eq(stat("target_mib"), 3);
	/* the bitmap came back: deflating a known page counts, inflating it again frees it again */
	ncalls = 0;
	send_pfns(1, 1, pfn + 3, 1);
	cr_assert_eq(stat("inflated_bytes"), 3 * 4096);
	send_pfns(0, 2, pfn, 1);
	cr_assert_eq(ncalls, 0, "0x10 is still in the balloon");
}

Test(virtio_balloon, a_balloon_too_scattered_for_the_state_still_counts)
{
	uint8_t st[GM_DEV_STATE_MAX];
	static uint32_t pfn[600];
	struct gm_error err = { 0 };

	start(F_STATS, 3);
	/* every other page from 1 MiB: 600 runs, more than a state holds */
	for (unsigned i = 0; i < 600; i++)
		pfn[i] = 0x100 + 2 * i;
	for (unsigned k = 0; k < 600; k += 200)
		send_pfns(0, k / 200, pfn + k, 200);
	cr_assert_eq(stat("inflated_bytes"), 600 * 4096);
	size_t n = gm_dev_virtio_balloon.save(dev, st, sizeof(st));
	cr_assert_gt(n, 0);
	cr_assert_eq(gm_dev_virtio_balloon.load(dev, st, n, 1, &err), 0, "%s", err.msg);
	cr_assert_eq(stat("inflated_bytes"), 600 * 4096, "the count travels without the runs");
	send_pfns(1, 3, pfn, 1);
	cr_assert_eq(stat("inflated_bytes"), 599 * 4096, "a deflate of a page it lost track of still counts");
}
