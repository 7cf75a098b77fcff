/*
 * dev/virtio/balloon.h: the virtio-balloon device's insides, shared by
 * balloon.c (the device type: config space, settings, stats, state) and
 * balloon_pages.c (the queues: inflate, deflate, stats, free page reports).
 */
#ifndef GM_DEV_VIRTIO_BALLOON_H
#define GM_DEV_VIRTIO_BALLOON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "dev/virtio/virtio.h"

/* Feature bits (virtio 1.2, 5.5.3) */
#define VB_F_STATS_VQ       (UINT64_C(1) << 1)
#define VB_F_DEFLATE_ON_OOM (UINT64_C(1) << 2)
#define VB_F_REPORTING      (UINT64_C(1) << 5)

#define VB_PAGE        UINT64_C(4096) /* the balloon's unit, whatever the backing */
#define VB_NQUEUES     4
#define VB_CONFIG_LEN  16             /* num_pages, actual, free_page_hint_cmd_id, poison_val */
#define VB_NSTATS      10             /* guest stat tags 0..9 */
/* The most PFNs one inflate or deflate chain may carry (Linux sends 256). */
#define VB_MAX_PFNS    65536

enum vb_role { VB_NONE, VB_INFLATE, VB_DEFLATE, VB_STATS, VB_REPORT };

/* What a guest may get wrong; each kind is logged once, every entry counted. */
enum vb_refusal {
	VB_BAD_PFN,        /* a PFN outside guest RAM */
	VB_BAD_ARRAY,      /* a PFN array not a whole number of u32s, or longer than VB_MAX_PFNS */
	VB_BAD_RANGE,      /* a report range not 4 KiB aligned */
	VB_BAD_REPORT_RANGE, /* a report range outside guest RAM */
	VB_BAD_REPORT_DIR, /* a report buffer the driver wrote (reports are device-writable) */
	VB_DISCARD_FAILED, /* the memory plane would not free a range */
	VB_NREFUSALS
};

struct vballoon {
	pthread_mutex_t lock;        /* queues' work, settings, counters */
	struct gm_virtio *v;
	struct gm_dev_host host;
	uint64_t offer;              /* VB_F_* offered now */
	uint64_t ram_bytes;          /* the target's upper bound */
	uint64_t ram_end;            /* guest-physical end of RAM: the bitmap's reach */
	uint64_t page_size;          /* the RAM backing's page size */
	uint64_t *inflated;          /* one bit per 4 KiB page below ram_end: in the balloon */
	uint32_t *huge_count;        /* inflated 4 KiB pages per huge page; NULL for 4 KiB backing */
	bool bitmap_lost;            /* a load could not bring the bitmap: deflates of unknown pages still count */
	enum vb_role role[VB_NQUEUES];
	uint32_t num_pages, actual;  /* config space: the target and the driver's answer */
	uint64_t inflated_pages;     /* 4 KiB pages in the balloon now */
	uint64_t reported_bytes, freed_bytes, refused, discard_ns;
	unsigned logged;             /* 1 << vb_refusal already logged */
	uint64_t guest_stat[VB_NSTATS];
	uint16_t stat_have;          /* 1 << tag the guest sent */
	bool stats_held;             /* stats_elem is the driver's buffer, waiting to be given back */
	unsigned stats_q;
	struct gm_virtq_elem *e, *stats_elem;
	uint32_t *pfns;              /* one chain's PFNs, copied before anything is freed */
	uint64_t run_gpa, run_len;   /* the discard being gathered */
};

/* balloon_pages.c: serve queue qi (a kick), with b->lock held. */
void gm_vb_serve(struct vballoon *b, unsigned qi);
/* Give the held stats buffer back (the driver then sends fresh numbers); with b->lock held. */
void gm_vb_stats_request(struct vballoon *b);
/* Count n refused entries of kind k and log the kind once; with b->lock held. */
void gm_vb_refuse(struct vballoon *b, enum vb_refusal k, uint64_t n, const char *detail);
/* Mark pfn inflated (true when it was not); keeps huge_count.  pfn below ram_end. */
bool gm_vb_mark(struct vballoon *b, uint64_t pfn, bool in);

/* balloon_state.c: the device type's save and load (state version 1). */
size_t gm_vb_save(void *dev, uint8_t *out, size_t max);
int gm_vb_load(void *dev, const uint8_t *data, size_t len, uint32_t version, struct gm_error *err);

#endif
