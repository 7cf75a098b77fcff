/*
 * vmm/header_net: the network interfaces and the balloon in a state
 * header's config.devices ("nets", "balloon"), both ways.  A restore, a
 * migration's destination and a live update's new process build the same
 * ones from it; the MACs travel too, since the guest has read them.
 */
#ifndef GM_VMM_HEADER_NET_H
#define GM_VMM_HEADER_NET_H

#include <jansson.h>

#include "vmm/restore.h"

/* Add "nets" and "balloon" of c to the devices object. */
void gm_header_net_json(const struct gm_config *c, json_t *devices);
/* Read them (untrusted) from the devices object into h; absent: none. */
int gm_header_net_read(json_t *devices, struct gm_header_machine *h, struct gm_error *err);
/* h's nets and balloon into cfg. */
void gm_header_net_config(const struct gm_header_machine *h, struct gm_config *cfg);
/*
 * The user's --net (all of them, as many as h has; kind, tap, hostfwds may
 * differ, the MACs stay h's) and --balloon (only when h has one) over out;
 * else a one-line refusal.
 */
int gm_header_net_merge(const struct gm_header_machine *h, const struct gm_config *user, struct gm_config *out,
			struct gm_error *err);
/* cfg has as many nets, with h's MACs, and h's balloon. */
bool gm_header_net_same(const struct gm_header_machine *h, const struct gm_config *cfg);

#endif
