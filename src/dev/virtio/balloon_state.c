/*
 * dev/virtio/balloon_state: virtio-balloon's state, version 1: the
 * transport's part, then (LE) u32 num_pages, u32 actual, u64
 * inflated_pages, reported_bytes, freed_bytes, refused, discard_ns, u16
 * stat_have, u64 guest_stat[10], u8 flags (bit 0: the runs are complete, bit 1: DEFLATE_ON_OOM was offered), u16 nruns, nruns x {u32 pfn,
 * u32 pages}: the inflated pages as runs.
 *
 * The runs must fit GM_DEV_STATE_MAX with the rest.  When the balloon is
 * too scattered for that they are dropped (flags bit 0 clear): the
 * destination then does not know which pages are in the balloon, which
 * only means a huge page inflated in part before the move is freed later
 * (never, until the guest inflates it again) and deflates of pages it does
 * not know still count down inflated_bytes.  Nothing is freed wrongly.
 */
#include <errno.h>
#include <string.h>

#include "dev/virtio/balloon.h"
#include "util/le.h"

#define FIXED (4 + 4 + 5 * 8 + 2 + VB_NSTATS * 8 + 1 + 2)
#define RUN 8
#define F_RUNS_COMPLETE 1
#define F_DEFLATE_OFFERED 0x02 /* the offer had DEFLATE_ON_OOM: PUT vm.balloon may have changed it from --balloon's */

/* Write the runs of the bitmap at p (at most max of them); how many, or max + 1 when they do not fit. */
static size_t runs(const struct vballoon *b, uint8_t *p, size_t max)
{
	uint64_t pages = b->ram_end / VB_PAGE, n = 0;

	for (uint64_t i = 0; i < pages;) {
		if (!b->inflated[i / 64]) {
			i = (i / 64 + 1) * 64;
			continue;
		}
		if (!(b->inflated[i / 64] & (UINT64_C(1) << (i % 64)))) {
			i++;
			continue;
		}
		uint64_t start = i;

		while (i < pages && i - start < UINT32_MAX && (b->inflated[i / 64] & (UINT64_C(1) << (i % 64))))
			i++;
		if (n == max)
			return max + 1;
		gm_put_le32(p + n * RUN, (uint32_t)start);
		gm_put_le32(p + n * RUN + 4, (uint32_t)(i - start));
		n++;
	}
	return n;
}

size_t gm_vb_save(void *dev, uint8_t *out, size_t max)
{
	struct vballoon *b = dev;
	size_t t = gm_virtio_save(b->v, out, max), nruns;
	uint8_t *p = out + t;

	if (!t || max - t < FIXED)
		return 0;
	pthread_mutex_lock(&b->lock);
	gm_put_le32(p, b->num_pages);
	gm_put_le32(p + 4, b->actual);
	gm_put_le64(p + 8, b->inflated_pages);
	gm_put_le64(p + 16, b->reported_bytes);
	gm_put_le64(p + 24, b->freed_bytes);
	gm_put_le64(p + 32, b->refused);
	gm_put_le64(p + 40, b->discard_ns);
	gm_put_le16(p + 48, b->stat_have);
	for (unsigned i = 0; i < VB_NSTATS; i++)
		gm_put_le64(p + 50 + i * 8, b->guest_stat[i]);
	nruns = b->bitmap_lost ? (size_t)-1 : runs(b, p + FIXED, (max - t - FIXED) / RUN);
	p[FIXED - 3] = F_RUNS_COMPLETE;
	if (nruns > (max - t - FIXED) / RUN || nruns > UINT16_MAX) {
		nruns = 0;
		p[FIXED - 3] = 0;
	}
	if (b->offer & VB_F_DEFLATE_ON_OOM)
		p[FIXED - 3] |= F_DEFLATE_OFFERED;
	gm_put_le16(p + FIXED - 2, (uint16_t)nruns);
	pthread_mutex_unlock(&b->lock);
	return t + FIXED + nruns * RUN;
}

static int bad(struct gm_error *err, const char *why)
{
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "virtio-balloon state: %s; the state is corrupt", why);
}

int gm_vb_load(void *dev, const uint8_t *data, size_t len, uint32_t version, struct gm_error *err)
{
	struct vballoon *b = dev;
	const uint8_t *p;
	size_t t, used, nruns;
	uint64_t sum = 0, inflated;
	int r;

	if (version != 1)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "virtio-balloon state is of version %u; this gmvm reads version 1", version);
	if (len < 2 || (t = gm_le16(data)) > len || len - t < FIXED)
		return bad(err, "shorter than its parts");
	p = data + t;
	nruns = gm_le16(p + FIXED - 2);
	if (len - t - FIXED != nruns * RUN)
		return bad(err, "its length does not match its runs");
	if ((p[FIXED - 3] & ~(F_RUNS_COMPLETE | F_DEFLATE_OFFERED)) || (nruns && !(p[FIXED - 3] & F_RUNS_COMPLETE)))
		return bad(err, "unknown flags");
	if ((uint64_t)gm_le32(p) * VB_PAGE > b->ram_bytes)
		return bad(err, "a target above the guest's RAM");
	inflated = gm_le64(p + 8);
	for (size_t i = 0; i < nruns; i++) {
		uint64_t pfn = gm_le32(p + FIXED + i * RUN), n = gm_le32(p + FIXED + i * RUN + 4);

		if (!n || pfn + n > b->ram_end / VB_PAGE ||
		    !b->host.guest_ptr(b->host.opaque, pfn * VB_PAGE, n * VB_PAGE))
			return bad(err, "an inflated run outside guest RAM");
		sum += n;
	}
	if (sum > inflated)
		return bad(err, "more pages in its runs than inflated");
	/* the guest negotiated against the saved offer, which the API may have changed from the command line's */
	uint64_t offer = p[FIXED - 3] & F_DEFLATE_OFFERED ? b->offer | VB_F_DEFLATE_ON_OOM : b->offer & ~VB_F_DEFLATE_ON_OOM;

	gm_virtio_set_offer(b->v, offer);
	r = gm_virtio_load(b->v, data, len, &used, err);
	if (r) {
		gm_virtio_set_offer(b->v, b->offer);
		return r;
	}
	pthread_mutex_lock(&b->lock);
	b->offer = offer;
	b->num_pages = gm_le32(p);
	b->actual = gm_le32(p + 4);
	b->inflated_pages = inflated;
	b->reported_bytes = gm_le64(p + 16);
	b->freed_bytes = gm_le64(p + 24);
	b->refused = gm_le64(p + 32);
	b->discard_ns = gm_le64(p + 40);
	b->stat_have = gm_le16(p + 48) & ((1u << VB_NSTATS) - 1);
	for (unsigned i = 0; i < VB_NSTATS; i++)
		b->guest_stat[i] = gm_le64(p + 50 + i * 8);
	b->stats_held = false; /* quiesce gave it back before the save */
	memset(b->inflated, 0, (b->ram_end / VB_PAGE + 63) / 64 * 8);
	if (b->huge_count)
		memset(b->huge_count, 0, (b->ram_end / b->page_size + 1) * sizeof(*b->huge_count));
	for (size_t i = 0; i < nruns; i++) {
		uint64_t pfn = gm_le32(p + FIXED + i * RUN), n = gm_le32(p + FIXED + i * RUN + 4);

		for (uint64_t k = 0; k < n; k++)
			gm_vb_mark(b, pfn + k, true);
	}
	b->bitmap_lost = !(p[FIXED - 3] & F_RUNS_COMPLETE);
	pthread_mutex_unlock(&b->lock);
	return 0;
}
