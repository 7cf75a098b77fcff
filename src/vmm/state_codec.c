/*
 * vmm/state_codec: the payloads of the machine's own sections, as plain
 * bytes (docs/state-stream.md) and back.  Decoding checks every length and
 * value before anything is applied, so a refused stream changes nothing.
 *
 * VCPU (version 1): blobs of the kernel's structs, each as u32 size + bytes,
 * in this order: kvm_regs, kvm_sregs, kvm_xcrs, kvm_lapic_state,
 * kvm_vcpu_events, kvm_mp_state, kvm_debugregs, kvm_xsave (its 4 KiB
 * region); then u32 nmsrs and nmsrs times (u32 index, u64 value).
 * CLOCK (version 1): u64 kvmclock nanoseconds, u32 flags.
 * GSI_ROUTES (version 1): u32 n, then n times (u32 gsi, u32 address, u32 data).
 * DEVICE (version = the type's state_version): u32 length + type name,
 * then the device's bytes.
 * REGION (version 1, instance = region index, 0 is "ram"): u32 length +
 * name, u64 gpa, u64 size, u64 page size, u32 backend (0 guest-memfd,
 * 1 memfd, 2 anon).
 */
#include <errno.h>
#include <string.h>

#include "vmm/state.h"

#define BLOB(b, field) \
	do { \
		gm_buf_u32(b, sizeof(field)); \
		gm_buf_bytes(b, &(field), sizeof(field)); \
	} while (0)

void gm_encode_vcpu(struct gm_buf *b, const struct gm_vcpu_state *st)
{
	BLOB(b, st->regs);
	BLOB(b, st->sregs);
	BLOB(b, st->xcrs);
	BLOB(b, st->lapic);
	BLOB(b, st->events);
	BLOB(b, st->mp_state);
	BLOB(b, st->debugregs);
	gm_buf_u32(b, sizeof(st->xsave.region));
	gm_buf_bytes(b, st->xsave.region, sizeof(st->xsave.region));
	gm_buf_u32(b, st->nmsrs);
	for (unsigned i = 0; i < st->nmsrs; i++) {
		gm_buf_u32(b, st->msrs[i].index);
		gm_buf_u64(b, st->msrs[i].data);
	}
}

static void take_blob(struct gm_cursor *c, void *field, size_t size)
{
	if (gm_cur_u32(c) != size) {
		c->bad = true;
		return;
	}
	const void *p = gm_cur_bytes(c, size);
	if (p)
		memcpy(field, p, size);
}

int gm_decode_vcpu(const struct gm_section *sec, struct gm_vcpu_state *st, struct gm_error *err)
{
	struct gm_cursor c = gm_cur_init(sec->data, sec->len);

	memset(st, 0, sizeof(*st));
	if (sec->version != 1)
		return gm_section_fail(err, sec, "vCPU state of version %u; this gmvm reads version 1", sec->version);
	take_blob(&c, &st->regs, sizeof(st->regs));
	take_blob(&c, &st->sregs, sizeof(st->sregs));
	take_blob(&c, &st->xcrs, sizeof(st->xcrs));
	take_blob(&c, &st->lapic, sizeof(st->lapic));
	take_blob(&c, &st->events, sizeof(st->events));
	take_blob(&c, &st->mp_state, sizeof(st->mp_state));
	take_blob(&c, &st->debugregs, sizeof(st->debugregs));
	take_blob(&c, st->xsave.region, sizeof(st->xsave.region));
	st->nmsrs = gm_cur_u32(&c);
	if (!c.bad && st->nmsrs > GM_MAX_SAVED_MSRS)
		return gm_section_fail(err, sec, "%u MSRs; this gmvm restores at most %d", st->nmsrs,
				       GM_MAX_SAVED_MSRS);
	for (unsigned i = 0; i < st->nmsrs && !c.bad; i++) {
		st->msrs[i].index = gm_cur_u32(&c);
		st->msrs[i].data = gm_cur_u64(&c);
	}
	if (c.bad || c.left)
		return gm_section_fail(err, sec, "the vCPU state is %s; the stream is corrupt",
				       c.bad ? "truncated or holds a struct of the wrong size" : "followed by extra bytes");
	if (st->xcrs.nr_xcrs > KVM_MAX_XCRS || st->mp_state.mp_state > KVM_MP_STATE_AP_RESET_HOLD)
		return gm_section_fail(err, sec, "the vCPU state holds values KVM never gives; the stream is corrupt");
	st->version = GM_VCPU_STATE_VERSION;
	return 0;
}

void gm_encode_clock(struct gm_buf *b, const struct kvm_clock_data *clock)
{
	gm_buf_u64(b, clock->clock);
	gm_buf_u32(b, clock->flags);
}

int gm_decode_clock(const struct gm_section *sec, struct kvm_clock_data *clock, struct gm_error *err)
{
	struct gm_cursor c = gm_cur_init(sec->data, sec->len);

	memset(clock, 0, sizeof(*clock));
	clock->clock = gm_cur_u64(&c);
	gm_cur_u32(&c); /* the flags say how the clock was read; setting needs none */
	if (sec->version != 1 || c.bad || c.left)
		return gm_section_fail(err, sec, "the KVM clock is not 12 bytes of version 1; the stream is corrupt");
	return 0;
}

void gm_encode_routes(struct gm_buf *b, const struct gm_msi_route *routes, unsigned n)
{
	gm_buf_u32(b, n);
	for (unsigned i = 0; i < n; i++) {
		gm_buf_u32(b, routes[i].gsi);
		gm_buf_u32(b, routes[i].msi.address);
		gm_buf_u32(b, routes[i].msi.data);
	}
}

int gm_decode_routes(const struct gm_section *sec, struct gm_msi_route *routes, unsigned *n,
		     struct gm_error *err)
{
	struct gm_cursor c = gm_cur_init(sec->data, sec->len);
	uint32_t count = gm_cur_u32(&c);

	if (sec->version != 1 || c.bad || count > GM_IOAPIC_PINS)
		return gm_section_fail(err, sec, "%u interrupt routes of version %u; at most %d of version 1 fit",
				       count, sec->version, GM_IOAPIC_PINS);
	for (unsigned i = 0; i < count; i++) {
		routes[i].gsi = gm_cur_u32(&c);
		routes[i].msi.address = gm_cur_u32(&c);
		routes[i].msi.data = gm_cur_u32(&c);
		if (!c.bad && routes[i].gsi >= GM_IOAPIC_PINS)
			return gm_section_fail(err, sec, "a route for line %u, which does not exist",
					       routes[i].gsi);
	}
	if (c.bad || c.left)
		return gm_section_fail(err, sec, "the route table is truncated or too long; the stream is corrupt");
	*n = count;
	return 0;
}

void gm_encode_device(struct gm_buf *b, const char *name, const uint8_t *state, size_t len)
{
	gm_buf_str(b, name);
	gm_buf_bytes(b, state, len);
}

int gm_decode_device(const struct gm_section *sec, char name[GM_DEV_NAME_MAX], const uint8_t **state, size_t *len,
		     struct gm_error *err)
{
	struct gm_cursor c = gm_cur_init(sec->data, sec->len);

	gm_cur_str(&c, name, GM_DEV_NAME_MAX);
	if (c.bad || !name[0])
		return gm_section_fail(err, sec, "the device name is missing, truncated or too long; the stream is corrupt");
	*len = c.left;
	*state = *len ? gm_cur_bytes(&c, *len) : NULL;
	return 0;
}

void gm_encode_region(struct gm_buf *b, const struct gm_image_region *r)
{
	gm_buf_str(b, r->name);
	gm_buf_u64(b, r->gpa);
	gm_buf_u64(b, r->size);
	gm_buf_u64(b, r->page_size);
	gm_buf_u32(b, (uint32_t)r->backend);
}

int gm_decode_region(const struct gm_section *sec, struct gm_image_region *r, struct gm_error *err)
{
	struct gm_cursor c = gm_cur_init(sec->data, sec->len);
	struct gm_error e = { 0 };

	memset(r, 0, sizeof(*r));
	if (sec->version != 1)
		return gm_section_fail(err, sec, "region layout version %u; this gmvm reads version 1", sec->version);
	gm_cur_str(&c, r->name, sizeof(r->name));
	r->gpa = gm_cur_u64(&c);
	r->size = gm_cur_u64(&c);
	r->page_size = gm_cur_u64(&c);
	uint32_t backend = gm_cur_u32(&c);
	if (c.bad || c.left)
		return gm_section_fail(err, sec, "the region is truncated or too long; the stream is corrupt");
	if (gm_region_name_check(r->name, &e))
		return gm_section_fail(err, sec, "%s", e.msg);
	if ((sec->instance == 0) != !strcmp(r->name, GM_RAM_REGION) || (sec->instance == 0 && r->gpa))
		return gm_section_fail(err, sec, "region %u is '%s'; region 0, and only it, is the RAM at 0", sec->instance,
				       r->name);
	if (r->page_size != GM_PAGE_4K && r->page_size != GM_PAGE_2M && r->page_size != GM_PAGE_1G)
		return gm_section_fail(err, sec, "region %s has pages of %llu bytes; only 4K, 2M and 1G exist", r->name,
				       (unsigned long long)r->page_size);
	if (!r->size || r->size % r->page_size || r->gpa % r->page_size || backend > GM_BACKEND_ANON)
		return gm_section_fail(err, sec, "region %s has size 0x%llx at 0x%llx with backend %u, which no gmvm writes",
				       r->name, (unsigned long long)r->size, (unsigned long long)r->gpa, backend);
	r->backend = (enum gm_backend)backend;
	return 0;
}
