/*
 * dev/resources: who owns which interrupt line and MMIO window, so two
 * devices can never share one by accident and a new device needs no
 * address written into the core.  Port ranges are checked by the I/O bus
 * itself when they are registered.
 */
#include <errno.h>
#include <stdlib.h>

#include "dev/dev.h"

/* virtio-mmio windows go here: in the 32-bit hole, below the IOAPIC. */
#define MMIO_WINDOW_BASE UINT64_C(0xd0000000)
#define MMIO_WINDOW_END  UINT64_C(0xe0000000)
/* Lines 0-15 are the ISA ones; new devices get 16 and up. */
#define FIRST_FREE_GSI 16

struct gm_resources {
	const char *gsi_owner[GM_IOAPIC_PINS];
	uint64_t mmio_next;
};

struct gm_resources *gm_resources_new(void)
{
	struct gm_resources *res = calloc(1, sizeof(*res));

	if (res)
		res->mmio_next = MMIO_WINDOW_BASE;
	return res;
}

void gm_resources_free(struct gm_resources *res)
{
	free(res);
}

int gm_res_claim_gsi(struct gm_resources *res, unsigned gsi, const char *who, struct gm_error *err)
{
	if (gsi >= GM_IOAPIC_PINS)
		return gm_fail(err, GM_STATUS_FAILURE, EINVAL, "%s: interrupt line %u does not exist (the IOAPIC has %d)",
			       who, gsi, GM_IOAPIC_PINS);
	if (res->gsi_owner[gsi])
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY, "%s: interrupt line %u is already %s's", who, gsi,
			       res->gsi_owner[gsi]);
	res->gsi_owner[gsi] = who;
	return 0;
}

int gm_res_alloc_gsi(struct gm_resources *res, const char *who, unsigned *gsi, struct gm_error *err)
{
	for (unsigned g = FIRST_FREE_GSI; g < GM_IOAPIC_PINS; g++)
		if (!res->gsi_owner[g]) {
			res->gsi_owner[g] = who;
			*gsi = g;
			return 0;
		}
	return gm_fail(err, GM_STATUS_BAD_INPUT, ENOSPC, "%s: every interrupt line is taken; use fewer devices", who);
}

int gm_res_alloc_mmio(struct gm_resources *res, uint64_t len, const char *who, uint64_t *base,
		      struct gm_error *err)
{
	uint64_t size = (len + 0xfff) & ~UINT64_C(0xfff);

	if (!len || size > MMIO_WINDOW_END - res->mmio_next)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOSPC, "%s: no room left for a %llu-byte MMIO window; use fewer devices",
			       who, (unsigned long long)len);
	*base = res->mmio_next;
	res->mmio_next += size;
	return 0;
}
