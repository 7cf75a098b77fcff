/*
 * vmm/restore: machines made from a state stream's header, the same way for
 * a snapshot's restore and for a migration's destination.  The header (the
 * JSON that gm_state_header wrote) says what machine the state is of: vCPUs,
 * command line, UUID and memory regions.  The user's options may change
 * what a restore may change (backends, binding, placement, identity), never
 * the vCPUs nor the regions' names, sizes and places.  Shared by vmm/ and
 * move/.
 */
#ifndef GM_VMM_RESTORE_H
#define GM_VMM_RESTORE_H

#include "vmm/state.h"

struct gm_header_region {
	char name[GM_REGION_NAME_MAX + 1];
	uint64_t size, page_size, gpa;
	enum gm_backend backend;
};

/* What a header says about its machine, checked. */
struct gm_header_machine {
	unsigned cpus;
	char uuid[37];
	char *cmdline;          /* owned */
	char *cpu;              /* owned: config.cpu, the --cpu template; NULL: none in the header (host) */
	unsigned nregions;      /* 1..GM_MAX_REGIONS; regions[0] is "ram" at 0 */
	struct gm_header_region regions[GM_MAX_REGIONS];
	/* config.devices (none in streams older than virtio) */
	struct gm_disk_config disks[GM_MAX_DISKS];
	unsigned ndisks;
	bool virtio_console, virtio_rng;
	struct gm_net_config nets[GM_MAX_NETS]; /* MACs included: the guest has read them */
	unsigned nnets;
	struct gm_balloon_config balloon;
};

/*
 * Parse and check header JSON (untrusted): the UUID, vCPUs, the RAM from
 * config.memory and the other regions from "regions" (a header without
 * them is a RAM-only machine).  Messages do not say where the header came
 * from; the caller adds that.
 */
int gm_header_machine_parse(const char *json, struct gm_header_machine *h, struct gm_error *err);
void gm_header_machine_free(struct gm_header_machine *h);
/* True when a and b are the same machine: UUID, vCPUs and regions (names, sizes, places). */
bool gm_header_machine_same(const struct gm_header_machine *a, const struct gm_header_machine *b);

/* h's machine as a config (no kernel; each region on its saved backend, bound as that backend binds by default;
 * h's disks and virtio devices). */
void gm_header_machine_config(const struct gm_header_machine *h, struct gm_config *cfg);

/*
 * The config a machine restored from h runs with: user's (console, API,
 * timeout...) with h's vCPUs, command line, UUID and regions; --memory
 * (user->mem.given) puts the RAM on other memory, a --region of a name h
 * has puts that region on other memory (sizes and places stay h's), a
 * --region h lacks is refused naming h's regions; --new-identity drops the
 * UUID, --uuid replaces it.  The devices are h's: --disk (as many as h
 * has, each as read-only as h's) gives the disks' files anew; a --device
 * h lacks is refused; --net (as many as h has) puts h's interfaces, with
 * their MACs, on other backends; a --balloon where h had none is refused.
 */
int gm_header_machine_merge(const struct gm_header_machine *h, const struct gm_config *user, struct gm_config *out,
			    struct gm_error *err);

/* cfg keeps h's vCPUs, regions (names, sizes, places) and devices (disks, read-only or not, virtio console
 * and rng, as many network interfaces, the balloon or none); else a one-line refusal. */
int gm_header_machine_check(const struct gm_header_machine *h, const struct gm_config *cfg, struct gm_error *err);

/*
 * The one way from a stream header to a machine: parse header_json,
 * merge user's options (gm_header_machine_merge), and build the machine
 * without a guest image: VM, every region (empty, bound), devices, vCPUs
 * without state.  Every refusal comes before the VM exists.  Then the
 * caller fills the regions (index i of the header is gm_machine_region(m,
 * i)) and calls gm_machine_load_image.
 */
int gm_machine_build_from_header(const char *header_json, const struct gm_config *user, const struct gm_caps *caps,
				 struct gm_machine **out, struct gm_error *err);

/*
 * Start a built machine paused (its vCPUs park before their first
 * instruction) and load img into it: vCPUs, clock, routes, devices, after
 * checking img's regions against the machine's.  Left paused.
 */
int gm_machine_load_image(struct gm_machine *m, const struct gm_machine_image *img, struct gm_error *err);
/* The same in two steps, the first before the state is known (a live update's, while the guest runs elsewhere):
 * the vCPU threads started and parked before their first instruction; then img checked and loaded. */
int gm_machine_start_parked(struct gm_machine *m, struct gm_error *err);
int gm_machine_apply_image(struct gm_machine *m, const struct gm_machine_image *img, struct gm_error *err);

#endif
