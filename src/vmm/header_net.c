/*
 * vmm/header_net: nets and balloon in a state header (see header_net.h).
 * Read as untrusted input: every member typed and bounded before any of it
 * reaches a config.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/header_net.h"

static int bad(struct gm_error *err, const char *what)
{
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "the state header %s; it was not written by gmvm", what);
}

static json_t *net_json(const struct gm_net_config *n)
{
	json_t *fwds = json_array();
	char mac[18], addr[INET_ADDRSTRLEN];

	for (unsigned i = 0; i < n->nfwd; i++) {
		const struct gm_hostfwd *f = &n->fwd[i];

		inet_ntop(AF_INET, &f->host_addr, addr, sizeof(addr));
		json_array_append_new(fwds, json_pack("{s:s, s:s, s:i, s:i}", "proto", f->udp ? "udp" : "tcp", "addr",
						      addr, "host_port", (int)f->host_port, "guest_port",
						      (int)f->guest_port));
	}
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2], n->mac[3],
		 n->mac[4], n->mac[5]);
	return json_pack("{s:s, s:s, s:o, s:s, s:b}", "kind", n->kind == GM_NET_TAP ? "tap" : "user", "tap", n->tap,
			 "hostfwd", fwds, "mac", mac, "mac_given", n->mac_given);
}

void gm_header_net_json(const struct gm_config *c, json_t *devices)
{
	json_t *nets = json_array();

	for (unsigned i = 0; i < c->nnets; i++)
		json_array_append_new(nets, net_json(&c->nets[i]));
	json_object_set_new(devices, "nets", nets);
	json_object_set_new(devices, "balloon",
			    json_pack("{s:b, s:b, s:b}", "on", c->balloon.on, "free_page_reporting",
				      c->balloon.free_page_reporting, "deflate_on_oom", c->balloon.deflate_on_oom));
}

static int port_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= 65535
		       ? (int)json_integer_value(v) : -1;
}

static int read_fwd(json_t *o, struct gm_hostfwd *f)
{
	const char *proto = json_string_value(json_object_get(o, "proto"));
	const char *addr = json_string_value(json_object_get(o, "addr"));
	int hp = port_of(o, "host_port"), gp = port_of(o, "guest_port");

	if (!proto || (strcmp(proto, "udp") && strcmp(proto, "tcp")) || !addr ||
	    inet_pton(AF_INET, addr, &f->host_addr) != 1 || hp < 0 || gp < 0)
		return -1;
	f->udp = !strcmp(proto, "udp");
	f->host_port = (uint16_t)hp;
	f->guest_port = (uint16_t)gp;
	return 0;
}

static int read_net(json_t *o, struct gm_net_config *n)
{
	const char *kind = json_string_value(json_object_get(o, "kind"));
	const char *tap = json_string_value(json_object_get(o, "tap"));
	const char *mac = json_string_value(json_object_get(o, "mac"));
	json_t *fwds = json_object_get(o, "hostfwd"), *given = json_object_get(o, "mac_given");
	unsigned m[6];
	char end;

	memset(n, 0, sizeof(*n));
	if (!kind || (strcmp(kind, "user") && strcmp(kind, "tap")) || !tap || strlen(tap) > GM_TAP_NAME_MAX ||
	    !json_is_array(fwds) || json_array_size(fwds) > GM_MAX_HOSTFWD || !json_is_boolean(given) || !mac ||
	    sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &end) != 6)
		return -1;
	n->kind = !strcmp(kind, "tap") ? GM_NET_TAP : GM_NET_USER;
	if (n->kind == GM_NET_TAP && !*tap)
		return -1;
	strcpy(n->tap, tap);
	for (size_t i = 0; i < json_array_size(fwds); i++)
		if (read_fwd(json_array_get(fwds, i), &n->fwd[i]))
			return -1;
	n->nfwd = (unsigned)json_array_size(fwds);
	for (int i = 0; i < 6; i++)
		n->mac[i] = (uint8_t)m[i];
	n->mac_given = json_is_true(given);
	return 0;
}

int gm_header_net_read(json_t *devices, struct gm_header_machine *h, struct gm_error *err)
{
	json_t *nets = json_object_get(devices, "nets"), *b = json_object_get(devices, "balloon");
	json_t *on = json_object_get(b, "on"), *fpr = json_object_get(b, "free_page_reporting"),
	       *oom = json_object_get(b, "deflate_on_oom");

	if ((nets && !json_is_array(nets)) || json_array_size(nets) > GM_MAX_NETS)
		return bad(err, "has a \"nets\" member that is not a list of at most 4 interfaces");
	for (size_t i = 0; i < json_array_size(nets); i++)
		if (read_net(json_array_get(nets, i), &h->nets[i]))
			return bad(err, "lists a network interface without a kind, tap name, MAC or well-formed hostfwds");
	h->nnets = (unsigned)json_array_size(nets);
	memset(&h->balloon, 0, sizeof(h->balloon));
	if (!b)
		return 0;
	if (!json_is_boolean(on) || !json_is_boolean(fpr) || !json_is_boolean(oom))
		return bad(err, "has a \"balloon\" member without its on, free_page_reporting and deflate_on_oom flags");
	h->balloon.on = json_is_true(on);
	h->balloon.free_page_reporting = json_is_true(fpr);
	h->balloon.deflate_on_oom = json_is_true(oom);
	return 0;
}

void gm_header_net_config(const struct gm_header_machine *h, struct gm_config *cfg)
{
	memcpy(cfg->nets, h->nets, sizeof(cfg->nets));
	cfg->nnets = h->nnets;
	cfg->balloon = h->balloon;
}

int gm_header_net_merge(const struct gm_header_machine *h, const struct gm_config *user, struct gm_config *out,
			struct gm_error *err)
{
	if (user->nnets && user->nnets != h->nnets)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--net: the saved VM has %u network interfaces and %u were given; give as many, in its order, or none to keep its own",
			       h->nnets, user->nnets);
	if (user->balloon.on && !h->balloon.on)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--balloon: the saved VM has none; a restore keeps the devices it had, drop the option");
	/* another backend (a port free here, another tap) under the same interface: the guest keeps its MAC */
	for (unsigned i = 0; i < user->nnets; i++) {
		out->nets[i] = user->nets[i];
		memcpy(out->nets[i].mac, h->nets[i].mac, sizeof(out->nets[i].mac));
		out->nets[i].mac_given = h->nets[i].mac_given;
	}
	return 0;
}

bool gm_header_net_same(const struct gm_header_machine *h, const struct gm_config *cfg)
{
	return cfg->nnets == h->nnets && cfg->balloon.on == h->balloon.on;
}
