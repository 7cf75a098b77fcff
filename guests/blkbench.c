/*
 * blkbench: a timed virtio-blk workload for `make bench` case 11, the same
 * in gmvm and QEMU.  4 KiB requests (8 sectors) kept blkbench.depth deep on
 * the first virtio-blk disk, for blkbench.ms milliseconds (or until
 * blkbench.ios requests) per mode, at CPL3, polling the used ring: the
 * driver asks for no interrupts (VRING_AVAIL_F_NO_INTERRUPT) and kicks only
 * when the device has not said it is already looking (VRING_USED_F_NO_NOTIFY),
 * as a polling Linux driver would.
 *
 *   blkbench.modes=seqread,randread,seqwrite,randwrite   (default: all four, in this order)
 *   blkbench.depth=16  requests in flight (1..32)
 *   blkbench.ms=1000   per mode; blkbench.ios=N stops a mode after N requests too
 *   blkbench.khz=N     the TSC rate, used before the runtime's (rt_tsc_khz): QEMU reports none
 *                      on a CPU without invtsc, so the bench measures the host's and gives it
 *                      to every side alike
 *
 * Per mode: "blkbench: mode=M depth=D ios=N ns=T iops=X mbps=Y" (MB/s =
 * 10^6 bytes/s), then "blkbench ok tsc_khz=N from SOURCE".  Timed with the TSC from the first
 * request to the last answer.  Every 4 KiB block of the disk is expected
 * to hold its own block number in its first 8 bytes (the bench fills the
 * file so); reads check it, writes keep it, so a read that never reached
 * the disk fails the run (exit status 33).
 *
 * Completions are taken from the used ring here rather than with
 * rt_virtq_get(), which also reads and acks the interrupt status: an MMIO
 * exit per request that would be measured as the device's cost.
 */
#include "rt.h"
#include "virtio.h"

#define T_IN 0
#define T_OUT 1
#define S_OK 0
#define BLOCK 4096u
#define QSIZE 128
#define MAX_DEPTH 32
#define WAIT_MS 60000
#define AVAIL_F_NO_INTERRUPT 1
#define USED_F_NO_NOTIFY 1

struct slot {
	uint32_t type, reserved;
	uint64_t sector;
	uint8_t status;
	uint64_t block;
};

enum mode { SEQREAD, RANDREAD, SEQWRITE, RANDWRITE, NMODES };
static const char *const mode_name[NMODES] = { "seqread", "randread", "seqwrite", "randwrite" };

static struct rt_virtio *dev;
static struct slot slots[MAX_DEPTH];
static int head_slot[QSIZE];
static uint8_t *data;		/* MAX_DEPTH blocks, one per slot */
static uint64_t nblocks, rng_state;

_Noreturn static void die(const char *what)
{
	rt_printf("blkbench: FAIL %s (device status 0x%x)\n", what, dev ? rt_virtio_status(dev) : 0);
	rt_exit(RT_EXIT_FAIL);
}

static uint64_t xorshift(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void submit(unsigned s, bool write, uint64_t block)
{
	uint8_t *buf = data + (uint64_t)s * BLOCK;
	struct rt_vbuf b[3] = {
		{ (uint64_t)&slots[s].type, 16, false },
		{ (uint64_t)buf, BLOCK, !write },
		{ (uint64_t)&slots[s].status, 1, true },
	};

	slots[s].type = write ? T_OUT : T_IN;
	slots[s].reserved = 0;
	slots[s].sector = block * (BLOCK / 512);
	slots[s].status = 0xff;
	slots[s].block = block;
	if (write)
		*(uint64_t *)buf = block;
	int h = rt_virtq_add(dev, 0, b, 3);
	if (h < 0)
		die("queue full");
	head_slot[h] = (int)s;
}

/* Kick unless the device said it is still taking requests (it then looks again before it stops). */
static void kick(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!(__atomic_load_n(&dev->q[0].used->flags, __ATOMIC_ACQUIRE) & USED_F_NO_NOTIFY))
		rt_virtq_kick(dev, 0);
}

/* One answered request's slot, or -1 when none is there yet (as rt_virtq_get, without the ISR read). */
static int take(void)
{
	struct rt_virtq *q = &dev->q[0];
	uint16_t idx = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);

	if (idx == q->last_used)
		return -1;
	uint16_t h = (uint16_t)q->used->ring[q->last_used & (q->size - 1)].id, i = h, n = 1;

	q->last_used++;
	if (h >= QSIZE || head_slot[h] < 0)
		die("an answer for a request never made");
	while (q->desc[i].flags & VRING_DESC_F_NEXT) {
		i = q->desc[i].next;
		n++;
	}
	q->desc[i].next = q->free_head;
	q->free_head = h;
	q->nfree = (uint16_t)(q->nfree + n);
	int s = head_slot[h];
	head_slot[h] = -1;
	return s;
}

static void check(unsigned s, bool write)
{
	if (slots[s].status != S_OK)
		die(write ? "a write failed" : "a read failed");
	if (!write && *(uint64_t *)(data + (uint64_t)s * BLOCK) != slots[s].block) {
		rt_printf("blkbench: block %lu does not hold its number (the disk was not filled by the bench?)\n",
			  (unsigned long)slots[s].block);
		die("read check");
	}
}

static void run(enum mode m, unsigned depth, uint64_t ms, uint64_t max_ios, uint64_t khz)
{
	bool write = m == SEQWRITE || m == RANDWRITE, rnd = m == RANDREAD || m == RANDWRITE;
	uint64_t next = 0, issued = 0, done = 0, limit = ms * khz, stall = (uint64_t)WAIT_MS * khz;
	unsigned inflight = 0;
	bool stop = false;

	rng_state = 0x9e3779b97f4a7c15ull;
	uint64_t t0 = rt_rdtsc(), last = t0, now = t0;

	for (unsigned s = 0; s < depth; s++, issued++)
		submit(s, write, rnd ? xorshift() % nblocks : next++ % nblocks);
	inflight = depth;
	kick();
	while (inflight) {
		bool again = false;
		int s;

		while ((s = take()) >= 0) {
			check((unsigned)s, write);
			done++;
			now = last = rt_rdtsc();
			if (!stop && (now - t0 >= limit || (max_ios && issued >= max_ios)))
				stop = true;
			if (stop) {
				inflight--;
			} else {
				submit((unsigned)s, write, rnd ? xorshift() % nblocks : next++ % nblocks);
				issued++;
				again = true;
			}
		}
		if (again) {
			kick();
			continue;
		}
		now = rt_rdtsc();
		if (now - last > stall)
			die("no answer in time");
		if (rt_virtio_status(dev) & VIO_S_NEEDS_RESET)
			die("the device needs a reset");
		__asm__ volatile("pause");
	}
	uint64_t ns = (last - t0) * 1000000 / khz;

	if (!ns)
		ns = 1;
	rt_printf("blkbench: mode=%s depth=%u ios=%lu ns=%lu iops=%lu mbps=%lu.%02lu\n", mode_name[m], depth,
		  (unsigned long)done, (unsigned long)ns, (unsigned long)(done * 1000000000ull / ns),
		  (unsigned long)(done * BLOCK * 1000ull / ns), (unsigned long)(done * BLOCK * 100000ull / ns % 100));
}

int main(void)
{
	const char *modes = rt_param("blkbench.modes") ? rt_param("blkbench.modes") : "seqread,randread,seqwrite,randwrite";
	uint64_t depth = rt_param_u64("blkbench.depth", 16), ms = rt_param_u64("blkbench.ms", 1000);
	uint64_t max_ios = rt_param_u64("blkbench.ios", 0), khz = rt_param_u64("blkbench.khz", 0);
	const char *clock = "blkbench.khz";

	if (!khz) {
		khz = rt_tsc_khz();
		clock = rt_tsc_source();
	}
	if (!khz)
		die("no TSC rate (gmvm's CPUID 0x40000010, QEMU's -cpu ...,+invtsc, else blkbench.khz=)");
	if (!depth || depth > MAX_DEPTH)
		die("blkbench.depth must be 1..32");
	dev = rt_virtio_find(2, 0);
	if (!dev)
		die("no virtio-blk device on the command line (virtio_mmio.device=)");
	if (rt_virtio_init(dev, 0, 1, QSIZE))
		die("init");
	if (dev->q[0].size < 3 * depth)
		die("the queue is too small for that depth");
	dev->q[0].avail->flags = AVAIL_F_NO_INTERRUPT;
	nblocks = rt_virtio_cfg64(dev, 0) / (BLOCK / 512);
	if (!nblocks)
		die("the disk is smaller than 4 KiB");
	data = (uint8_t *)rt_ram_alloc(MAX_DEPTH * BLOCK, 4096);
	if (!data)
		die("no RAM for buffers");
	memset(data, 0, MAX_DEPTH * BLOCK);
	for (unsigned i = 0; i < QSIZE; i++)
		head_slot[i] = -1;

	for (const char *p = modes; *p;) {
		unsigned m, n = 0;

		while (p[n] && p[n] != ',')
			n++;
		for (m = 0; m < NMODES; m++)
			if (rt_strlen(mode_name[m]) == n && !memcmp(p, mode_name[m], n))
				break;
		if (m == NMODES)
			die("blkbench.modes: use seqread, randread, seqwrite, randwrite, comma separated");
		run((enum mode)m, (unsigned)depth, ms, max_ios, khz);
		p += n + (p[n] == ',');
	}
	rt_printf("blkbench ok tsc_khz=%lu from %s\n", (unsigned long)khz, clock);
	return 0;
}
