/*
 * virtio-blk over a fake transport (fake_transport.c): every request type,
 * the range checks, read-only disks, bad chains, the refusals at create,
 * both I/O engines, quiesce, and the state's checks.  The disk is a real
 * file; what a request did is read back from it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev/virtio/virtio.h"
#include "fake_transport.h"

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2
#define SECTORS 128

static struct gm_config cfg;
static char dir[64], path[128];
static char logged[4][256];
static unsigned nlogged;

static void log_line(void *opaque, const char *line)
{
	(void)opaque;
	if (nlogged < 4)
		snprintf(logged[nlogged], sizeof(logged[0]), "%s", line);
	nlogged++;
}

static void make_disk(off_t bytes)
{
	strcpy(dir, "/tmp/gmvm-blk-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/disk.img", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, bytes), 0);
	close(fd);
}

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static int create(bool readonly, bool direct, void **dev, struct gm_error *err)
{
	struct gm_dev_ctx ctx = { .cfg = &cfg, .instance = 0, .host = { .log = log_line } };

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.disks[0].path, sizeof(cfg.disks[0].path), "%s", path);
	cfg.disks[0].readonly = readonly;
	cfg.disks[0].direct = direct;
	cfg.ndisks = 1;
	nlogged = 0;
	gm_error_clear(err);
	return gm_dev_virtio_blk.create(&ctx, dev, err);
}

static void *up(bool readonly)
{
	struct gm_error err;
	void *dev = NULL;
	int r = create(readonly, false, &dev, &err);

	cr_assert_eq(r, 0, "create: %s", err.msg);
	cr_assert_not_null(fake_virtio_last());
	return dev;
}

struct req {
	uint8_t hdr[16];
	uint8_t status;
};

/* A request chain: header (out), data (out for writes, in otherwise), status (in). */
static struct fake_chain chain(uint16_t head, struct req *q, uint32_t type, uint64_t sector, void *data, uint32_t len)
{
	struct fake_chain c = { .head = head };
	unsigned n = 0;

	memset(q, 0, sizeof(*q));
	memcpy(q->hdr, &type, 4);
	memcpy(q->hdr + 8, &sector, 8);
	q->status = 0xff;
	c.seg[n++] = (struct gm_virtq_seg){ q->hdr, 0x1000, 16 };
	c.nout = 1;
	if (data && type == T_OUT) {
		c.seg[n++] = (struct gm_virtq_seg){ data, 0x2000, len };
		c.nout++;
	} else if (data) {
		c.seg[n++] = (struct gm_virtq_seg){ data, 0x2000, len };
		c.nin++;
	}
	c.seg[n++] = (struct gm_virtq_seg){ &q->status, 0x3000, 1 };
	c.nin++;
	return c;
}

/* Offer one request, kick, wait for its answer; its status. */
static uint8_t one(struct gm_virtio *v, uint32_t type, uint64_t sector, void *data, uint32_t len)
{
	struct req q;
	unsigned before = fake_pushed(v);
	struct fake_chain c = chain((uint16_t)before, &q, type, sector, data, len);

	fake_offer(v, &c);
	fake_kick(v);
	cr_assert(fake_wait_pushed(v, before + 1, 10), "request type %u not answered", type);
	cr_assert_eq(fake_push_head(v, before), before);
	return q.status;
}

static void file_bytes(off_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	cr_assert_eq(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static void roundtrip(const char *engine, const char *want_log)
{
	uint8_t wbuf[4096], rbuf[4096], fbuf[4096];

	make_disk(SECTORS * 512);
	setenv("GMVM_BLK_ENGINE", engine, 1);
	void *dev = up(false);
	unsetenv("GMVM_BLK_ENGINE");
	struct gm_virtio *v = fake_virtio_last();

	cr_assert_eq(nlogged, 1);
	cr_assert(strstr(logged[0], want_log), "log: %s", logged[0]);
	for (unsigned i = 0; i < sizeof(wbuf); i++)
		wbuf[i] = (uint8_t)(i * 7 + 3);
	cr_assert_eq(one(v, T_OUT, 8, wbuf, sizeof(wbuf)), S_OK);
	file_bytes(8 * 512, fbuf, sizeof(fbuf));
	cr_assert_arr_eq(fbuf, wbuf, sizeof(wbuf));
	memset(rbuf, 0, sizeof(rbuf));
	cr_assert_eq(one(v, T_IN, 8, rbuf, sizeof(rbuf)), S_OK);
	cr_assert_arr_eq(rbuf, wbuf, sizeof(wbuf));
	cr_assert_eq(fake_push_written(v, 1), sizeof(rbuf) + 1, "a read writes its data and the status");
	cr_assert_eq(one(v, T_FLUSH, 0, NULL, 0), S_OK);
	cr_assert_null(fake_broken(v));
	gm_dev_virtio_blk.destroy(dev);
	cleanup();
}

Test(virtio_blk, write_read_flush_io_uring)
{
	/* io_uring may be off here (sysctl, seccomp): then AUTO took the thread, say so */
	make_disk(512);
	void *dev = up(false);
	bool uring = strstr(logged[0], "io_uring") != NULL;
	gm_dev_virtio_blk.destroy(dev);
	cleanup();
	if (!uring)
		cr_skip_test("io_uring cannot be set up on this kernel; the thread engine is tested on its own");
	roundtrip("uring", "I/O by io_uring");
}

Test(virtio_blk, write_read_flush_thread)
{
	roundtrip("thread", "I/O by thread");
}

Test(virtio_blk, config_space)
{
	make_disk(SECTORS * 512);
	void *dev = up(false);
	struct gm_virtio *v = fake_virtio_last();
	const struct gm_virtio_ops *ops = fake_virtio_ops(v);
	uint8_t cfgb[36];
	uint64_t cap;
	uint32_t seg_max, blk_size;

	cr_assert_eq(ops->device_id, 2);
	cr_assert_eq(ops->nqueues, 1);
	cr_assert(ops->features & (1u << 9), "FLUSH offered");
	cr_assert_not(ops->features & (1u << 5), "RO not offered on a writable disk");
	cr_assert_geq(ops->config_len, 24);
	ops->config_read(fake_virtio_dev(v), 0, cfgb, 24);
	memcpy(&cap, cfgb, 8);
	memcpy(&seg_max, cfgb + 12, 4);
	memcpy(&blk_size, cfgb + 20, 4);
	cr_assert_eq(cap, SECTORS);
	cr_assert_eq(blk_size, 512);
	cr_assert_geq(seg_max, 1);
	gm_dev_virtio_blk.destroy(dev);
	cleanup();
}

Test(virtio_blk, get_id_and_unsupported)
{
	char id[20];

	make_disk(SECTORS * 512);
	void *dev = up(false);
	struct gm_virtio *v = fake_virtio_last();

	memset(id, 'x', sizeof(id));
	cr_assert_eq(one(v, T_GET_ID, 0, id, sizeof(id)), S_OK);
	cr_assert_str_eq(id, "gmvm-vda");
	cr_assert_eq(one(v, 99, 0, NULL, 0), S_UNSUPP);
	cr_assert_eq(one(v, 11 /* WRITE_ZEROES: not offered */, 0, NULL, 0), S_UNSUPP);
	cr_assert_null(fake_broken(v));
	gm_dev_virtio_blk.destroy(dev);
	cleanup();
}

Test(virtio_blk, out_of_range_is_ioerr_and_leaves_the_file)
{
	uint8_t buf[1024], f[512];

	make_disk(SECTORS * 512);
	void *dev = up(false);
	struct gm_virtio *v = fake_virtio_last();

	memset(buf, 0xab, sizeof(buf));
	/* the last sector is fine, one past it is not, a span over the end is not */
	cr_assert_eq(one(v, T_OUT, SECTORS - 1, buf, 512), S_OK);
	cr_assert_eq(one(v, T_OUT, SECTORS, buf, 512), S_IOERR);
	cr_assert_eq(one(v, T_OUT, SECTORS - 1, buf, 1024), S_IOERR);
	cr_assert_eq(one(v, T_IN, UINT64_MAX / 256, buf, 512), S_IOERR);
	cr_assert_eq(one(v, T_OUT, 0, buf, 100), S_IOERR, "not a whole sector");
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_size, SECTORS * 512, "the file did not grow");
	file_bytes(0, f, sizeof(f));
	for (unsigned i = 0; i < sizeof(f); i++)
		cr_assert_eq(f[i], 0);
	cr_assert_null(fake_broken(v));
	gm_dev_virtio_blk.destroy(dev);
	cleanup();
}

Test(virtio_blk, readonly_refuses_writes)
{
	uint8_t buf[512], f[512];

	make_disk(SECTORS * 512);
	void *dev = up(true);
	struct gm_virtio *v = fake_virtio_last();

	cr_assert(fake_virtio_ops(v)->features & (1u << 5), "RO offered");
	memset(buf, 0x5a, sizeof(buf));
	cr_assert_eq(one(v, T_OUT, 0, buf, sizeof(buf)), S_IOERR);
	cr_assert_eq(one(v, T_IN, 0, buf, sizeof(buf)), S_OK);
	cr_assert_eq(buf[0], 0);
	cr_assert_eq(one(v, T_FLUSH, 0, NULL, 0), S_OK);
	file_bytes(0, f, sizeof(f));
	cr_assert_eq(f[0], 0);
	gm_dev_virtio_blk.destroy(dev);
	cleanup();
}

Test(virtio_blk, bad_chains_break_the_device)
{
	uint8_t hdr[8] = { 0 }, status = 0xff;

	make_disk(SECTORS * 512);
	void *dev = up(false);
	struct gm_virtio *v = fake_virtio_last();
	struct fake_chain c = { .head = 0, .nout = 1, .nin = 1 };

	c.seg[0] = (struct gm_virtq_seg){ hdr, 0x1000, sizeof(hdr) };
	c.seg[1] = (struct gm_virtq_seg){ &status, 0x2000, 1 };
	fake_offer(v, &c);
	fake_kick(v);
	cr_assert_not_null(fake_broken(v));
	cr_assert(strstr(fake_broken(v), "header"), "%s", fake_broken(v));
	cr_assert_eq(fake_pushed(v), 0);
	cr_assert_eq(status, 0xff, "nothing written");
	gm_dev_virtio_blk.reset(dev);
	cr_assert_null(fake_broken(v));

	/* no status byte */
	uint8_t hdr16[16] = { 0 };
	struct fake_chain d = { .head = 1, .nout = 1, .nin = 0 };
	d.seg[0] = (struct gm_virtq_seg){ hdr16, 0x1000, 16 };
	fake_offer(v, &d);
	fake_kick(v);
	cr_assert_not_null(fake_broken(v));
	cr_assert(strstr(fake_broken(v), "status"), "%s", fake_broken(v));
	cr_assert_eq(fake_pushed(v), 0);
	gm_dev_virtio_blk.destroy(dev);
	cleanup();
}

Test(virtio_blk, many_in_flight_then_quiesce)
{
	enum { N = 100 };
	static struct req q[N];
	static uint8_t data[N][512];

	make_disk(SECTORS * 512);
	void *dev = up(false);
	struct gm_virtio *v = fake_virtio_last();

	for (unsigned i = 0; i < N; i++) {
		memset(data[i], (int)i + 1, 512);
		struct fake_chain c = chain((uint16_t)i, &q[i], T_OUT, i, data[i], 512);
		fake_offer(v, &c);
	}
	fake_kick(v);
	gm_dev_virtio_blk.quiesce(dev);
	/* quiesce returned: every request was answered */
	cr_assert_eq(fake_pushed(v), N);
	for (unsigned i = 0; i < N; i++) {
		uint8_t f[512];
		cr_assert_eq(q[i].status, S_OK);
		file_bytes((off_t)i * 512, f, 512);
		cr_assert_eq(f[0], i + 1);
		cr_assert_eq(f[511], i + 1);
	}
	cr_assert_null(fake_broken(v));
	gm_dev_virtio_blk.destroy(dev);
	cleanup();
}

Test(virtio_blk, state_checks_the_disk)
{
	uint8_t st[256];
	struct gm_error err;

	make_disk(SECTORS * 512);
	void *dev = up(false);
	size_t n = gm_dev_virtio_blk.save(dev, st, sizeof(st));
	cr_assert_gt(n, 0);
	gm_error_clear(&err);
	cr_assert_eq(gm_dev_virtio_blk.load(dev, st, n, 1, &err), 0, "%s", err.msg);
	gm_dev_virtio_blk.destroy(dev);

	/* the same state against a bigger disk: refused, naming both sizes */
	cr_assert_eq(truncate(path, 2 * SECTORS * 512), 0);
	dev = up(false);
	gm_error_clear(&err);
	cr_assert_lt(gm_dev_virtio_blk.load(dev, st, n, 1, &err), 0);
	cr_assert(strstr(err.msg, "256 sectors") && strstr(err.msg, "128"), "%s", err.msg);
	gm_error_clear(&err);
	cr_assert_lt(gm_dev_virtio_blk.load(dev, st, 3, 1, &err), 0, "a short state");
	gm_dev_virtio_blk.destroy(dev);
	cleanup();
}

static void expect_refused(bool readonly, bool direct, const char *want)
{
	struct gm_error err;
	void *dev = (void *)1;

	cr_assert_lt(create(readonly, direct, &dev, &err), 0);
	cr_assert_null(dev);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert(strstr(err.msg, want), "message: %s", err.msg);
	cr_assert(strstr(err.msg, "--disk"), "names the disk: %s", err.msg);
	cr_assert_null(strchr(err.msg, '\n'));
}

Test(virtio_blk, bad_disks_are_refused)
{
	make_disk(1000);
	expect_refused(false, false, "not a multiple of 512");
	cleanup();
	make_disk(512);
	unlink(path);
	expect_refused(false, false, "cannot open");
	cr_assert_eq(mkdir(path, 0700), 0);
	expect_refused(true, false, "a directory");
	rmdir(path);
	rmdir(dir);
}

Test(virtio_blk, direct_on_works_or_says_why)
{
	struct gm_error err;
	void *dev = NULL;

	make_disk(SECTORS * 512);
	if (create(false, true, &dev, &err) < 0) {
		cr_assert(strstr(err.msg, "direct=on"), "%s", err.msg);
		cleanup();
		cr_skip_test("%s has no O_DIRECT (tmpfs?): the refusal was checked", dir);
	}
	struct gm_virtio *v = fake_virtio_last();
	uint8_t *buf = aligned_alloc(4096, 4096);
	memset(buf, 0x11, 4096);
	cr_assert_eq(one(v, T_OUT, 0, buf, 4096), S_OK);
	memset(buf, 0, 4096);
	cr_assert_eq(one(v, T_IN, 0, buf, 4096), S_OK);
	cr_assert_eq(buf[4095], 0x11);
	free(buf);
	gm_dev_virtio_blk.destroy(dev);
	cleanup();
}

Test(virtio_blk, driver_reset_waits_out_io_in_flight)
{
	enum { N = 100 };
	static struct req q[N];
	static uint8_t data[N][4096];

	make_disk(SECTORS * 4096);
	void *dev = up(false);
	struct gm_virtio *v = fake_virtio_last();

	for (unsigned i = 0; i < N; i++) {
		struct fake_chain c = chain((uint16_t)i, &q[i], T_OUT, (uint64_t)i * 8, data[i], sizeof(data[i]));
		fake_offer(v, &c);
	}
	fake_kick(v);
	gm_virtio_reset(v);
	/* reset returned: nothing is in flight, and nothing is answered after it */
	unsigned pushed = fake_pushed(v);
	usleep(100 * 1000);
	cr_assert_eq(fake_pushed(v), pushed);
	cr_assert_eq(fake_resets(v), 1);
	/* and the device serves again */
	cr_assert_eq(one(v, T_FLUSH, 0, NULL, 0), S_OK);
	gm_dev_virtio_blk.destroy(dev);
	cleanup();
}
