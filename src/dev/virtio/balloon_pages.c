/*
 * dev/virtio/balloon_pages: the balloon's queues.  Inflate chains carry
 * u32 PFNs of 4 KiB pages the guest gives up; deflate chains the pages it
 * takes back (they fault back in on use: nothing to do but count); free
 * page reports are device-writable {addr, len} buffers (Linux adds them as
 * in-buffers, QEMU frees each in_sg) of free memory; the stats queue holds
 * the driver's one stats buffer until we ask for fresh numbers.
 *
 * Freed ranges are gathered into runs and given to host->discard once per
 * run, not once per page.  A hugetlb backing frees a huge page only when
 * every 4 KiB page of it is inflated (rounding inward: half a huge page
 * cannot be freed); a report is rounded inward the same way by the host.
 * Every entry the guest gets wrong is refused and counted, never freed; the
 * chain still goes back and the device keeps working.
 */
#include <stdio.h>
#include <time.h>

#include "dev/virtio/balloon.h"
#include "util/le.h"

static const char *const refusal_what[VB_NREFUSALS] = {
	[VB_BAD_PFN] = "an inflate or deflate PFN outside guest RAM",
	[VB_BAD_ARRAY] = "a PFN array that is not whole u32s or holds more than 65536 PFNs",
	[VB_BAD_RANGE] = "a free page report range not aligned to 4 KiB",
	[VB_BAD_REPORT_RANGE] = "a free page report range outside guest RAM",
	[VB_BAD_REPORT_DIR] = "a free page report in a driver-written buffer (reports are device-writable)",
	[VB_DISCARD_FAILED] = "a range the host could not free",
};

void gm_vb_refuse(struct vballoon *b, enum vb_refusal k, uint64_t n, const char *detail)
{
	char line[512];

	b->refused += n;
	if (b->logged & (1u << k) || !b->host.log)
		return;
	b->logged |= 1u << k;
	snprintf(line, sizeof(line),
		 "virtio-balloon: the guest sent %s%s%s; refused, nothing freed for it (logged once, counted in vm.info's refused)",
		 refusal_what[k], detail ? ": " : "", detail ? detail : "");
	b->host.log(b->host.opaque, line);
}

bool gm_vb_mark(struct vballoon *b, uint64_t pfn, bool in)
{
	uint64_t bit = UINT64_C(1) << (pfn % 64);
	bool was = b->inflated[pfn / 64] & bit;

	if (was == in)
		return false;
	b->inflated[pfn / 64] ^= bit;
	if (b->huge_count) {
		uint64_t hp = pfn * VB_PAGE / b->page_size;

		b->huge_count[hp] += in ? 1 : (uint32_t)-1;
	}
	return true;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void flush(struct vballoon *b)
{
	struct gm_error err = { 0 };
	uint64_t freed = 0, t0;
	int r;

	if (!b->run_len)
		return;
	t0 = now_ns();
	r = b->host.discard ? b->host.discard(b->host.opaque, b->run_gpa, b->run_len, &freed, &err) : 0;
	b->discard_ns += now_ns() - t0;
	if (r)
		gm_vb_refuse(b, VB_DISCARD_FAILED, 1, err.msg);
	else
		b->freed_bytes += freed;
	b->run_len = 0;
}

/* Free [gpa, gpa+len) with the run gathered so far when it continues it inside one region. */
static void add(struct vballoon *b, uint64_t gpa, uint64_t len)
{
	if (b->run_len && gpa == b->run_gpa + b->run_len &&
	    b->host.guest_ptr(b->host.opaque, b->run_gpa, b->run_len + len)) {
		b->run_len += len;
		return;
	}
	flush(b);
	b->run_gpa = gpa;
	b->run_len = len;
}

static void inflate_one(struct vballoon *b, uint64_t gpa)
{
	if (gpa >= b->ram_end) { /* another region: not tracked, freed at once */
		b->inflated_pages++;
		add(b, gpa, VB_PAGE);
		return;
	}
	if (!gm_vb_mark(b, gpa / VB_PAGE, true))
		return; /* already in the balloon: already freed */
	b->inflated_pages++;
	if (!b->huge_count) {
		add(b, gpa, VB_PAGE);
		return;
	}
	uint64_t hp = gpa / b->page_size;

	if (b->huge_count[hp] == b->page_size / VB_PAGE)
		add(b, hp * b->page_size, b->page_size);
}

static void deflate_one(struct vballoon *b, uint64_t gpa)
{
	bool known = gpa < b->ram_end && gm_vb_mark(b, gpa / VB_PAGE, false);

	/* a page we do not know: another region's, or one inflated before a load that lost the bitmap */
	if ((known || gpa >= b->ram_end || b->bitmap_lost) && b->inflated_pages)
		b->inflated_pages--;
}

static void pfns(struct vballoon *b, bool inflate)
{
	const struct gm_virtq_elem *e = b->e;
	uint64_t n = e->out_bytes / 4;

	if (e->out_bytes % 4)
		gm_vb_refuse(b, VB_BAD_ARRAY, 1, NULL);
	if (n > VB_MAX_PFNS) {
		gm_vb_refuse(b, VB_BAD_ARRAY, n - VB_MAX_PFNS, NULL);
		n = VB_MAX_PFNS;
	}
	/* all of it first: the array's own page may be among those freed */
	n = gm_virtq_elem_read(e, 0, b->pfns, n * 4) / 4;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t gpa = (uint64_t)gm_le32((const uint8_t *)&b->pfns[i]) * VB_PAGE;

		if (!b->host.guest_ptr(b->host.opaque, gpa, VB_PAGE)) {
			char d[64];

			snprintf(d, sizeof(d), "PFN 0x%llx", (unsigned long long)(gpa / VB_PAGE));
			gm_vb_refuse(b, VB_BAD_PFN, 1, d);
			continue;
		}
		if (inflate)
			inflate_one(b, gpa);
		else
			deflate_one(b, gpa);
	}
	flush(b);
}

static void report(struct vballoon *b)
{
	const struct gm_virtq_elem *e = b->e;

	if (e->nout)
		gm_vb_refuse(b, VB_BAD_REPORT_DIR, e->nout, NULL);
	for (unsigned i = e->nout; i < e->nout + e->nin; i++) {
		const struct gm_virtq_seg *s = &e->seg[i];

		/* popped as ranges: hva NULL is a range outside guest RAM; a zero length never gets here */
		if (!s->hva) {
			char d[64];

			snprintf(d, sizeof(d), "0x%llx+0x%x", (unsigned long long)s->gpa, s->len);
			gm_vb_refuse(b, VB_BAD_REPORT_RANGE, 1, d);
			continue;
		}
		if (s->gpa % VB_PAGE || s->len % VB_PAGE) {
			char d[64];

			snprintf(d, sizeof(d), "0x%llx+0x%x", (unsigned long long)s->gpa, s->len);
			gm_vb_refuse(b, VB_BAD_RANGE, 1, d);
			continue;
		}
		b->reported_bytes += s->len;
		add(b, s->gpa, s->len);
	}
	flush(b);
}

static void stats(struct vballoon *b, struct gm_virtq *q)
{
	struct gm_virtq_elem *t;
	uint64_t n = b->e->out_bytes / 10;

	for (uint64_t i = 0; i < n && i < 64; i++) {
		uint8_t s[10];

		if (gm_virtq_elem_read(b->e, i * 10, s, sizeof(s)) != sizeof(s))
			break;
		if (gm_le16(s) < VB_NSTATS) { /* unknown tags are the driver's business (5.5.6.3) */
			b->guest_stat[gm_le16(s)] = gm_le64(s + 2);
			b->stat_have |= (uint16_t)(1u << gm_le16(s));
		}
	}
	/* a driver sends one buffer at a time; a second one replaces the first */
	if (b->stats_held) {
		gm_virtq_push(q, b->stats_elem, 0);
		gm_virtq_notify(q);
	}
	t = b->stats_elem;
	b->stats_elem = b->e;
	b->e = t;
	b->stats_held = true;
}

void gm_vb_stats_request(struct vballoon *b)
{
	struct gm_virtq *q = gm_virtio_queue(b->v, b->stats_q);

	if (!b->stats_held || !q || !gm_virtio_active(b->v))
		return;
	b->stats_held = false;
	gm_virtq_push(q, b->stats_elem, 0);
	gm_virtq_notify(q);
}

void gm_vb_serve(struct vballoon *b, unsigned qi)
{
	struct gm_virtq *q = gm_virtio_queue(b->v, qi);
	enum vb_role role = qi < VB_NQUEUES ? b->role[qi] : VB_NONE;
	unsigned done = 0;

	if (!q || role == VB_NONE)
		return;
	/* reports are ranges, not buffers: one outside RAM is refused alone, the queue goes on */
	while ((role == VB_REPORT ? gm_virtq_pop_ranges(q, b->e) : gm_virtq_pop(q, b->e)) == 1) {
		switch (role) {
		case VB_INFLATE:
		case VB_DEFLATE:
			pfns(b, role == VB_INFLATE);
			break;
		case VB_REPORT:
			report(b);
			break;
		case VB_STATS:
			stats(b, q);
			continue; /* held, not given back */
		case VB_NONE:
			break;
		}
		gm_virtq_push(q, b->e, 0);
		done++;
	}
	if (done)
		gm_virtq_notify(q);
}
