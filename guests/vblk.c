/*
 * vblk: drives the first virtio-blk disk (vblk.disk=N for another) through
 * rt/virtio.c.  Modes (vblk.mode=):
 *   rw      (default) write vblk.count sectors from vblk.start with the
 *           pattern of vblk.seed, flush, read them back and check
 *   verify  only read back and check (a disk written before)
 *   types   GET_ID, an unsupported type (UNSUPP), sectors past the end
 *           (IOERR), a flush, then rw
 *   ro      the disk is read-only: RO offered, a write gets IOERR, reads work
 *   loop    rw again and again with seed, seed+1, ... printing
 *           "vblk: round N ok" each time, vblk.rounds of them, or (with
 *           vblk.seconds=S) until S seconds passed and vblk.min-rounds
 *           were done; neither: forever.  The checksum line gives the
 *           last round's seed
 * vblk.req sectors per request (8), vblk.depth requests in flight (8),
 * vblk.order=seq|random.  At the end: "vblk: checksum=XXXXXXXX seed=S"
 * (FNV-1a of the sectors, vblk_pattern.h, which the host recomputes from
 * the disk file) and "vblk ok"; a failed check exits RT_EXIT_FAIL.
 */
#include "rt.h"
#include "virtio.h"
#include "vblk_pattern.h"

#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define S_OK 0
#define S_IOERR 1
#define S_UNSUPP 2
#define F_RO (1ull << 5)
#define F_BLK_SIZE (1ull << 6)
#define F_FLUSH (1ull << 9)
#define QSIZE 64
#define MAX_DEPTH 16
#define WAIT_MS 120000

struct slot {
	uint32_t type, reserved;
	uint64_t sector;
	uint8_t status;
	uint64_t first;     /* the request's first sector, for the check */
	bool busy;
};

static struct rt_virtio *dev;
static struct slot slots[MAX_DEPTH];
static int head_slot[QSIZE];
static uint8_t *data;           /* MAX_DEPTH requests' buffers */
static uint64_t start, count, req, depth, capacity;
static bool random_order;

_Noreturn static void die(const char *what)
{
	if (dev)
		rt_printf("vblk: FAIL %s (device status 0x%x)\n", what, rt_virtio_status(dev));
	else
		rt_printf("vblk: FAIL %s\n", what);
	rt_exit(RT_EXIT_FAIL);
}

/* Start one request on slot s: header, n bytes of data at buf (none when n is 0), status. */
static void submit(unsigned s, uint32_t type, uint64_t sector, void *buf, uint32_t n)
{
	struct rt_vbuf b[3];
	unsigned k = 0;

	slots[s].type = type;
	slots[s].reserved = 0;
	slots[s].sector = sector;
	slots[s].status = 0xff;
	slots[s].first = sector;
	slots[s].busy = true;
	b[k++] = (struct rt_vbuf){ (uint64_t)&slots[s].type, 16, false };
	if (n)
		b[k++] = (struct rt_vbuf){ (uint64_t)buf, n, type != T_OUT };
	b[k++] = (struct rt_vbuf){ (uint64_t)&slots[s].status, 1, true };
	int h = rt_virtq_add(dev, 0, b, k);
	if (h < 0)
		die("queue full");
	head_slot[h] = (int)s;
}

/* Wait for one answer; its slot. */
static unsigned reap(void)
{
	uint16_t head;
	uint32_t len;
	int r = rt_virtq_wait(dev, 0, &head, &len, WAIT_MS);

	if (r < 0)
		die("the device needs a reset");
	if (!r)
		die("no answer in time");
	if (head >= QSIZE || head_slot[head] < 0)
		die("an answer for a request never made");
	unsigned s = (unsigned)head_slot[head];
	head_slot[head] = -1;
	slots[s].busy = false;
	return s;
}

/* One request, waited for: its status. */
static uint8_t sync_req(uint32_t type, uint64_t sector, void *buf, uint32_t n)
{
	submit(0, type, sector, buf, n);
	rt_virtq_kick(dev, 0);
	return slots[reap()].status;
}

static uint64_t nth_request(uint64_t i, uint64_t nreqs)
{
	static const uint64_t stride = 40503; /* a prime: a permutation unless it divides nreqs */

	return random_order && nreqs % stride ? (i * stride) % nreqs : i;
}

static void check_read(unsigned s, uint64_t seed)
{
	uint64_t want[64];
	const uint8_t *buf = data + (uint64_t)s * req * 512;

	if (slots[s].status != S_OK)
		die("a read failed");
	for (uint64_t k = 0; k < req && slots[s].first + k < start + count; k++) {
		vblk_fill(want, seed, slots[s].first + k);
		if (memcmp(buf + k * 512, want, 512)) {
			rt_printf("vblk: sector %lu does not hold seed %lu's pattern\n",
				  (unsigned long)(slots[s].first + k), (unsigned long)seed);
			die("verify");
		}
	}
}

/* Every request of the range once, depth at a time: writes of seed's pattern, or reads checked against it. */
static void pass(bool write, uint64_t seed)
{
	uint64_t nreqs = (count + req - 1) / req, issued = 0, done = 0;

	while (done < nreqs) {
		bool kicked = false;
		for (unsigned s = 0; s < depth && issued < nreqs; s++) {
			if (slots[s].busy)
				continue;
			uint64_t first = start + nth_request(issued++, nreqs) * req;
			uint64_t n = start + count - first < req ? start + count - first : req;
			uint8_t *buf = data + (uint64_t)s * req * 512;
			if (write)
				for (uint64_t k = 0; k < n; k++)
					vblk_fill((uint64_t *)(buf + k * 512), seed, first + k);
			submit(s, write ? T_OUT : T_IN, first, buf, (uint32_t)(n * 512));
			kicked = true;
		}
		if (kicked)
			rt_virtq_kick(dev, 0);
		unsigned s = reap();
		if (write && slots[s].status != S_OK)
			die("a write failed");
		if (!write)
			check_read(s, seed);
		done++;
	}
}

static uint32_t checksum(void)
{
	uint32_t h = VBLK_FNV_START;

	for (uint64_t sec = start; sec < start + count; sec++) {
		if (sync_req(T_IN, sec, data, 512) != S_OK)
			die("a checksum read failed");
		h = vblk_fnv(h, data, 512);
	}
	return h;
}

static void flush(void)
{
	if (sync_req(T_FLUSH, 0, NULL, 0) != S_OK)
		die("flush");
}

static void types(void)
{
	char id[21];

	memset(id, 0, sizeof(id));
	if (sync_req(T_GET_ID, 0, id, 20) != S_OK)
		die("GET_ID");
	rt_printf("vblk: id=%s\n", id);
	if (sync_req(99, 0, data, 512) != S_UNSUPP)
		die("type 99 was not UNSUPP");
	rt_printf("vblk: type 99 -> UNSUPP\n");
	if (sync_req(T_IN, capacity, data, 512) != S_IOERR || sync_req(T_OUT, capacity - 1, data, 1024) != S_IOERR)
		die("past the end was not IOERR");
	rt_printf("vblk: past the end -> IOERR\n");
	flush();
	rt_printf("vblk: flush ok\n");
}

static void readonly(void)
{
	if (!(dev->features & F_RO))
		die("RO not offered on a read-only disk");
	memset(data, 0x5a, 512);
	if (sync_req(T_OUT, start, data, 512) != S_IOERR)
		die("a write to a read-only disk was not IOERR");
	if (sync_req(T_IN, start, data, 512) != S_OK)
		die("a read of a read-only disk failed");
	rt_printf("vblk: readonly ok\n");
}

int main(void)
{
	const char *mode = rt_param("vblk.mode") ? rt_param("vblk.mode") : "rw";
	uint64_t seed = rt_param_u64("vblk.seed", 1), rounds = rt_param_u64("vblk.rounds", 0);
	uint64_t seconds = rt_param_u64("vblk.seconds", 0), min_rounds = rt_param_u64("vblk.min-rounds", 0);

	dev = rt_virtio_find(2, (unsigned)rt_param_u64("vblk.disk", 0));
	if (!dev)
		die("no virtio-blk device on the command line");
	if (rt_virtio_init(dev, F_RO | F_BLK_SIZE | F_FLUSH, 1, QSIZE))
		die("init");
	capacity = rt_virtio_cfg64(dev, 0);
	start = rt_param_u64("vblk.start", 0);
	count = rt_param_u64("vblk.count", 256);
	req = rt_param_u64("vblk.req", 8);
	depth = rt_param_u64("vblk.depth", 8);
	random_order = rt_param("vblk.order") && !rt_strcmp(rt_param("vblk.order"), "random");
	if (!req || req > 64 || !depth || depth > MAX_DEPTH)
		die("vblk.req must be 1..64 and vblk.depth 1..16");
	if (start > capacity || count > capacity - start)
		die("vblk.start/vblk.count go past the disk");
	data = (uint8_t *)rt_ram_alloc(MAX_DEPTH * req * 512, 4096);
	if (!data)
		die("no RAM for buffers");
	for (unsigned i = 0; i < QSIZE; i++)
		head_slot[i] = -1;
	rt_printf("vblk: disk of %lu sectors, features 0x%lx\n", (unsigned long)capacity, (unsigned long)dev->features);

	if (!rt_strcmp(mode, "ro")) {
		readonly();
	} else if (!rt_strcmp(mode, "verify")) {
		pass(false, seed);
	} else if (!rt_strcmp(mode, "loop")) {
		uint64_t khz = rt_tsc_khz(), t0 = rt_rdtsc(), r = 0;
		for (;; r++) {
			pass(true, seed + r);
			flush();
			pass(false, seed + r);
			rt_printf("vblk: round %lu ok\n", (unsigned long)r);
			if (rounds && r + 1 >= rounds)
				break;
			if (seconds && khz && r + 1 >= min_rounds && (rt_rdtsc() - t0) / khz >= seconds * 1000)
				break;
		}
		seed += r;
	} else {
		if (!rt_strcmp(mode, "types"))
			types();
		uint64_t t0 = rt_rdtsc();
		pass(true, seed);
		flush();
		uint64_t t1 = rt_rdtsc();
		pass(false, seed);
		uint64_t t2 = rt_rdtsc(), khz = rt_tsc_khz();
		if (khz && t1 > t0 && t2 > t1)
			rt_printf("vblk: write %lu KiB/s read %lu KiB/s\n",
				  (unsigned long)(count / 2 * khz * 1000 / ((t1 - t0) ? (t1 - t0) : 1)),
				  (unsigned long)(count / 2 * khz * 1000 / ((t2 - t1) ? (t2 - t1) : 1)));
	}
	if (rt_strcmp(mode, "ro"))
		rt_printf("vblk: checksum=%08x seed=%lu\n", checksum(), (unsigned long)seed);
	rt_printf("vblk ok\n");
	return 0;
}
