/*
 * vmm/state: the machine's state in the state stream (state/stream.h):
 * what each of its sections holds, writing them from a paused machine, and
 * reading them back as untrusted input into a plain image that is checked
 * whole before anything is applied.  Shared by vmm/ files only.
 */
#ifndef GM_VMM_STATE_H
#define GM_VMM_STATE_H

#include <jansson.h>

#include "state/buf.h"
#include "state/stream.h"
#include "vmm/vmm.h"

/* "state stream: section N (TYPE) at byte OFF: MESSAGE", GM_STATUS_BAD_INPUT. */
int gm_section_fail(struct gm_error *err, const struct gm_section *sec, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* state_codec.c: one section's payload each way */
void gm_encode_vcpu(struct gm_buf *b, const struct gm_vcpu_state *st);
int gm_decode_vcpu(const struct gm_section *sec, struct gm_vcpu_state *st, struct gm_error *err);
void gm_encode_clock(struct gm_buf *b, const struct kvm_clock_data *clock);
int gm_decode_clock(const struct gm_section *sec, struct kvm_clock_data *clock, struct gm_error *err);
void gm_encode_routes(struct gm_buf *b, const struct gm_msi_route *routes, unsigned n);
int gm_decode_routes(const struct gm_section *sec, struct gm_msi_route *routes, unsigned *n,
		     struct gm_error *err);
void gm_encode_device(struct gm_buf *b, const char *name, const uint8_t *state, size_t len);
/* A DEVICE section: its type's name (checked against the machine's when applied) and its state. */
#define GM_DEV_NAME_MAX 64
int gm_decode_device(const struct gm_section *sec, char name[GM_DEV_NAME_MAX], const uint8_t **state, size_t *len,
		     struct gm_error *err);

/* A REGION section: what one memory region is and where (instance = its index). */
struct gm_image_region {
	char name[GM_REGION_NAME_MAX + 1];
	uint64_t gpa, size, page_size;
	enum gm_backend backend;
};
void gm_encode_region(struct gm_buf *b, const struct gm_image_region *r);
int gm_decode_region(const struct gm_section *sec, struct gm_image_region *r, struct gm_error *err);

/* Everything a stream says about a machine, decoded and checked; nothing applied. */
struct gm_machine_image {
	unsigned ncpus;
	struct gm_vcpu_state *vcpus; /* ncpus of them */
	struct kvm_clock_data clock;
	struct gm_msi_route routes[GM_IOAPIC_PINS];
	unsigned nroutes;
	struct {
		char name[GM_DEV_NAME_MAX]; /* the device type's */
		const uint8_t *data; /* points into the stream, which must outlive the image */
		size_t len;
		uint32_t version;
	} devs[GM_MAX_DEVICES];
	unsigned ndevs;
	/* the REGION sections; none in a stream written before regions had them */
	struct gm_image_region regions[GM_MAX_REGIONS];
	unsigned nregions;
};

/* state_load.c */
int gm_image_decode(const struct gm_stream_in *s, unsigned ncpus, struct gm_machine_image *img,
		    struct gm_error *err);
void gm_image_free(struct gm_machine_image *img);
/* With op_lock held and every vCPU parked: vCPUs, clock, routes, devices (regions must match m's). */
int gm_image_apply(struct gm_machine *m, const struct gm_machine_image *img, struct gm_error *err);
/* 0 when the image names no regions or exactly m's (names, sizes, places); else why not. */
int gm_image_check_regions(const struct gm_machine_image *img, struct gm_machine *m, struct gm_error *err);

/* state_save.c: with op_lock held and a hold taken */
int gm_state_write_sections(struct gm_machine *m, struct gm_stream_out *w, struct gm_error *err);
/* A chain's last link rewritten as a full snapshot's state at path (merge). */
int gm_state_rewrite_full(const struct gm_stream_in *in, const char *path, struct gm_error *err);
/* The header every stream of this machine starts with; extra's members are added (may be NULL). */
char *gm_state_header(struct gm_machine *m, json_t *extra);

#endif
