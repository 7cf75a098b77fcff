/*
 * dev/virtio/balloon: virtio-balloon (id 5, virtio 1.2 5.5).  Offers
 * STATS_VQ always, DEFLATE_ON_OOM and REPORTING as --balloon says, and
 * four queues whose roles are fixed at activation from what the driver
 * accepted: Linux numbers only the queues it uses (inflate, deflate, then
 * stats, then reporting when negotiated), so without STATS_VQ the
 * reporting queue is index 2.  The work is synchronous on the vCPU that
 * kicked (balloon_pages.c); nothing is in flight across a hold but the
 * driver's stats buffer, which quiesce gives back.
 *
 * Config space: num_pages (the target, 4 KiB pages) and actual (the
 * driver's answer), the rest zero.  The API sets the target (set
 * "target_mib") and reads the counters (stats).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dev/virtio/balloon.h"
#include "mem/mem.h"
#include "util/le.h"

#define MIB_PAGES 256u /* 4 KiB pages per MiB */

static void vb_config_read(void *dev, uint32_t off, uint8_t *out, unsigned len)
{
	struct vballoon *b = dev;
	uint8_t c[VB_CONFIG_LEN] = { 0 };

	pthread_mutex_lock(&b->lock);
	gm_put_le32(c, b->num_pages);
	gm_put_le32(c + 4, b->actual);
	pthread_mutex_unlock(&b->lock);
	memcpy(out, c + off, len);
}

/* Only actual is the driver's to write. */
static void vb_config_write(void *dev, uint32_t off, const uint8_t *data, unsigned len)
{
	struct vballoon *b = dev;
	uint8_t a[4];

	pthread_mutex_lock(&b->lock);
	gm_put_le32(a, b->actual);
	for (unsigned i = 0; i < len; i++)
		if (off + i >= 4 && off + i < 8)
			a[off + i - 4] = data[i];
	b->actual = gm_le32(a);
	pthread_mutex_unlock(&b->lock);
}

static int vb_activate(void *dev, uint64_t features)
{
	struct vballoon *b = dev;
	unsigned next = 2;

	pthread_mutex_lock(&b->lock);
	memset(b->role, 0, sizeof(b->role));
	b->role[0] = VB_INFLATE;
	b->role[1] = VB_DEFLATE;
	if (features & VB_F_STATS_VQ) {
		b->stats_q = next;
		b->role[next++] = VB_STATS;
	}
	if (features & VB_F_REPORTING)
		b->role[next++] = VB_REPORT;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static void vb_notify(void *dev, unsigned qi)
{
	struct vballoon *b = dev;

	pthread_mutex_lock(&b->lock);
	gm_vb_serve(b, qi);
	pthread_mutex_unlock(&b->lock);
}

/* The driver is gone (or the machine reset): its balloon is empty, all RAM is the guest's again. */
static void vb_reset_dev(void *dev)
{
	struct vballoon *b = dev;
	uint64_t pages = b->ram_end / VB_PAGE;

	pthread_mutex_lock(&b->lock);
	memset(b->role, 0, sizeof(b->role));
	b->stats_held = false;
	b->actual = 0;
	b->inflated_pages = 0;
	b->bitmap_lost = false;
	memset(b->inflated, 0, (pages + 63) / 64 * 8);
	if (b->huge_count)
		memset(b->huge_count, 0, (b->ram_end / b->page_size) * sizeof(*b->huge_count));
	pthread_mutex_unlock(&b->lock);
}

static void vb_quiesce(void *dev)
{
	struct vballoon *b = dev;

	/* the held stats buffer is the one thing in flight: a state could not carry it */
	pthread_mutex_lock(&b->lock);
	gm_vb_stats_request(b);
	pthread_mutex_unlock(&b->lock);
}

static const struct gm_virtio_ops vb_ops = {
	.name = "virtio-balloon",
	.device_id = GM_VIRTIO_ID_BALLOON,
	.features = VB_F_STATS_VQ | VB_F_DEFLATE_ON_OOM | VB_F_REPORTING, /* what the offer is chosen from */
	.nqueues = VB_NQUEUES,
	.queue_max = 256,
	.config_len = VB_CONFIG_LEN,
	.config_read = vb_config_read,
	.config_write = vb_config_write,
	.activate = vb_activate,
	.notify = vb_notify,
	.reset = vb_reset_dev,
	.quiesce = vb_quiesce,
};

static unsigned instances(const struct gm_config *cfg)
{
	return cfg->balloon.on;
}

static void destroy(void *dev)
{
	struct vballoon *b = dev;

	if (!b)
		return;
	gm_virtio_free(b->v);
	pthread_mutex_destroy(&b->lock);
	free(b->inflated);
	free(b->huge_count);
	free(b->pfns);
	free(b->e);
	free(b->stats_elem);
	free(b);
}

static int create(const struct gm_dev_ctx *ctx, void **dev, struct gm_error *err)
{
	struct vballoon *b = calloc(1, sizeof(*b));
	const struct gm_config *cfg = ctx->cfg;
	int ret;

	if (!b)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for virtio-balloon");
	pthread_mutex_init(&b->lock, NULL);
	b->host = ctx->host;
	b->ram_bytes = cfg->mem.size;
	b->ram_end = gm_layout_end(cfg->mem.size);
	b->page_size = cfg->mem.page_size > VB_PAGE ? cfg->mem.page_size : VB_PAGE;
	b->offer = VB_F_STATS_VQ | (cfg->balloon.deflate_on_oom ? VB_F_DEFLATE_ON_OOM : 0) |
		   (cfg->balloon.free_page_reporting ? VB_F_REPORTING : 0);
	b->inflated = calloc((b->ram_end / VB_PAGE + 63) / 64, 8);
	if (b->page_size > VB_PAGE)
		b->huge_count = calloc(b->ram_end / b->page_size + 1, sizeof(*b->huge_count));
	b->pfns = malloc(VB_MAX_PFNS * sizeof(*b->pfns));
	b->e = malloc(sizeof(*b->e));
	b->stats_elem = malloc(sizeof(*b->stats_elem));
	if (!b->inflated || (b->page_size > VB_PAGE && !b->huge_count) || !b->pfns || !b->e || !b->stats_elem) {
		destroy(b);
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for virtio-balloon's page bitmap");
	}
	ret = gm_virtio_new(ctx, &vb_ops, b, &b->v, err);
	if (ret) {
		destroy(b);
		return ret;
	}
	gm_virtio_set_offer(b->v, b->offer);
	if (b->page_size > VB_PAGE && b->host.log)
		b->host.log(b->host.opaque,
			    "virtio-balloon: huge-page RAM: an inflated huge page is freed only once all of its 4 KiB pages are in the balloon, reports are rounded inward to whole huge pages");
	*dev = b;
	return 0;
}

static void reset(void *dev)
{
	gm_virtio_reset(((struct vballoon *)dev)->v);
}

static int set_deflate(struct vballoon *b, int64_t value, struct gm_error *err)
{
	uint64_t want;

	if (value != 0 && value != 1)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "deflate_on_oom is true or false");
	pthread_mutex_lock(&b->lock);
	want = value ? b->offer | VB_F_DEFLATE_ON_OOM : b->offer & ~VB_F_DEFLATE_ON_OOM;
	pthread_mutex_unlock(&b->lock);
	if (want == b->offer)
		return 0;
	/* outside b->lock: the transport's lock comes first (a reset holds it and takes ours) */
	if (!gm_virtio_set_offer(b->v, want))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EBUSY,
			       "deflate_on_oom is fixed once the guest's driver started; restart with --balloon,deflate-on-oom=%s",
			       value ? "on" : "off");
	pthread_mutex_lock(&b->lock);
	b->offer = want;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static int set(void *dev, const char *key, int64_t value, struct gm_error *err)
{
	struct vballoon *b = dev;

	if (!strcmp(key, "deflate_on_oom"))
		return set_deflate(b, value, err);
	if (strcmp(key, "target_mib"))
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOENT, "virtio-balloon has no setting %s; use target_mib or deflate_on_oom",
			       key);
	if (value < 0 || (uint64_t)value > b->ram_bytes >> 20)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ERANGE, "target_mib %lld is outside 0..%llu (the guest's RAM in MiB)",
			       (long long)value, (unsigned long long)(b->ram_bytes >> 20));
	pthread_mutex_lock(&b->lock);
	b->num_pages = (uint32_t)value * MIB_PAGES;
	pthread_mutex_unlock(&b->lock);
	gm_virtio_config_changed(b->v);
	return 0;
}

static const char *const guest_stat_key[VB_NSTATS] = {
	"guest_swap_in_bytes", "guest_swap_out_bytes", "guest_major_faults", "guest_minor_faults",
	"guest_memfree_bytes", "guest_memtotal_bytes", "guest_available_bytes", "guest_caches_bytes",
	"guest_hugetlb_allocations", "guest_hugetlb_failures",
};

static unsigned stats(void *dev, struct gm_dev_stat *out, unsigned max)
{
	struct vballoon *b = dev;
	unsigned n = 0;

#define PUT(k, val) do { if (n < max) out[n++] = (struct gm_dev_stat){ (k), (val) }; } while (0)
	pthread_mutex_lock(&b->lock);
	PUT("target_mib", b->num_pages / MIB_PAGES);
	PUT("actual_mib", b->actual / MIB_PAGES);
	PUT("inflated_bytes", b->inflated_pages * VB_PAGE);
	PUT("reported_bytes", b->reported_bytes);
	PUT("freed_bytes", b->freed_bytes);
	PUT("refused", b->refused);
	PUT("discard_ns", b->discard_ns);
	PUT("deflate_on_oom", !!(b->offer & VB_F_DEFLATE_ON_OOM));
	PUT("free_page_reporting", !!(b->offer & VB_F_REPORTING));
	for (unsigned t = 0; t < VB_NSTATS; t++)
		if (b->stat_have & (1u << t))
			PUT(guest_stat_key[t], b->guest_stat[t]);
	/* ask for fresh numbers for next time; the driver answers when it gets to it */
	gm_vb_stats_request(b);
	pthread_mutex_unlock(&b->lock);
#undef PUT
	return n;
}

const struct gm_device_type gm_dev_virtio_balloon = {
	.name = "virtio-balloon",
	.state_version = 1,
	.writes_guest = true,
	.instances = instances,
	.create = create,
	.quiesce = vb_quiesce,
	.reset = reset,
	.stats = stats,
	.set = set,
	.save = gm_vb_save,
	.load = gm_vb_load,
	.destroy = destroy,
};
