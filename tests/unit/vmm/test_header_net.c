/*
 * The network interfaces and the balloon in a state header: written by
 * gm_state_header, read back as untrusted input (kinds, taps, hostfwds,
 * MACs, the balloon's flags), made the restored machine's config, and
 * merged with a user's --net (as many, the saved MACs kept) and --balloon
 * (only where the saved VM had one).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/restore.h"
#include "vmm/vmm.h"

#include "header_fixture.h"

#define NET_OK "{\"kind\":\"user\",\"tap\":\"\",\"hostfwd\":[],\"mac\":\"52:54:00:01:02:03\",\"mac_given\":false}"
#define BALLOON_OK "{\"on\":true,\"free_page_reporting\":true,\"deflate_on_oom\":false}"

Test(header_net, written_then_read_back)
{
	struct gm_machine *m = calloc(1, sizeof(*m));
	static const uint8_t mac[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };
	struct gm_error err;
	struct gm_config cfg;
	char *text;

	gm_config_defaults(&m->cfg);
	m->cfg.cpus = 1;
	m->cfg.mem.size = 256 << 20;
	m->cfg.nnets = 2;
	m->cfg.nets[0].kind = GM_NET_USER;
	m->cfg.nets[0].nfwd = 2;
	m->cfg.nets[0].fwd[0] = (struct gm_hostfwd){ true, htonl(0x7f000001), 5555, 7 };
	m->cfg.nets[0].fwd[1] = (struct gm_hostfwd){ false, 0, 8080, 80 };
	m->cfg.nets[1].kind = GM_NET_TAP;
	strcpy(m->cfg.nets[1].tap, "tap-gmvm0");
	memcpy(m->cfg.nets[1].mac, mac, 6);
	m->cfg.nets[1].mac_given = true;
	m->cfg.balloon = (struct gm_balloon_config){ true, true, true };
	text = gm_state_header(m, NULL);
	cr_assert_not_null(text);
	cr_assert_eq(parse(text, &err), 0, "%s", err.msg);
	cr_assert_eq(h.nnets, 2);
	cr_assert_eq(h.nets[0].kind, GM_NET_USER);
	cr_assert_eq(h.nets[0].nfwd, 2);
	cr_assert(h.nets[0].fwd[0].udp && !h.nets[0].fwd[1].udp);
	cr_assert_eq(h.nets[0].fwd[0].host_addr, htonl(0x7f000001));
	cr_assert_eq(h.nets[0].fwd[1].host_addr, 0);
	cr_assert_eq(h.nets[0].fwd[0].host_port, 5555);
	cr_assert_eq(h.nets[0].fwd[1].guest_port, 80);
	cr_assert_not(h.nets[0].mac_given);
	cr_assert_eq(h.nets[1].kind, GM_NET_TAP);
	cr_assert_str_eq(h.nets[1].tap, "tap-gmvm0");
	cr_assert_arr_eq(h.nets[1].mac, mac, 6);
	cr_assert(h.nets[1].mac_given);
	cr_assert(h.balloon.on && h.balloon.free_page_reporting && h.balloon.deflate_on_oom);

	gm_config_defaults(&cfg);
	gm_header_machine_config(&h, &cfg);
	cr_assert_eq(cfg.nnets, 2);
	cr_assert_str_eq(cfg.nets[1].tap, "tap-gmvm0");
	cr_assert(cfg.balloon.on && cfg.balloon.deflate_on_oom);
	cr_assert_eq(gm_header_machine_check(&h, &cfg, &err), 0, "%s", err.msg);
	cfg.nnets = 1;
	cr_assert_lt(gm_header_machine_check(&h, &cfg, &err), 0);
	cr_assert(strstr(err.msg, "2 network interfaces, a balloon"), "%s", err.msg);
	gm_header_machine_free(&h);
	free(text);
	free(m);
}

Test(header_net, an_old_header_has_none)
{
	struct gm_error err;
	struct gm_config cfg;

	cr_assert_eq(parse(HEAD ",\"devices\":{\"disks\":[]}}}", &err), 0, "%s", err.msg);
	cr_assert_eq(h.nnets, 0);
	cr_assert_not(h.balloon.on);
	gm_config_defaults(&cfg);
	cfg.nnets = 1; /* what a caller's config may hold: the header's wins */
	cfg.balloon.on = true;
	gm_header_machine_config(&h, &cfg);
	cr_assert_eq(cfg.nnets, 0);
	cr_assert_not(cfg.balloon.on);
	gm_header_machine_free(&h);
}

Test(header_net, untrusted_shapes_are_refused)
{
	accepted("{\"nets\":[" NET_OK "],\"balloon\":" BALLOON_OK "}");
	gm_header_machine_free(&h);
	refused("{\"nets\":{}}", "\"nets\" member");
	refused("{\"nets\":[" NET_OK "," NET_OK "," NET_OK "," NET_OK "," NET_OK "]}", "at most 4");
	refused("{\"nets\":[{\"kind\":\"vde\",\"tap\":\"\",\"hostfwd\":[],\"mac\":\"52:54:00:01:02:03\",\"mac_given\":false}]}",
		"network interface");
	refused("{\"nets\":[{\"kind\":\"tap\",\"tap\":\"\",\"hostfwd\":[],\"mac\":\"52:54:00:01:02:03\",\"mac_given\":false}]}",
		"network interface");
	refused("{\"nets\":[{\"kind\":\"tap\",\"tap\":\"a-name-too-long-for-linux\",\"hostfwd\":[],\"mac\":\"52:54:00:01:02:03\",\"mac_given\":false}]}",
		"network interface");
	refused("{\"nets\":[{\"kind\":\"user\",\"tap\":\"\",\"hostfwd\":[],\"mac\":\"52:54:00:01:02\",\"mac_given\":false}]}",
		"network interface");
	refused("{\"nets\":[{\"kind\":\"user\",\"tap\":\"\",\"hostfwd\":[],\"mac\":\"52:54:00:01:02:03:04\",\"mac_given\":false}]}",
		"network interface");
	refused("{\"nets\":[{\"kind\":\"user\",\"tap\":\"\",\"hostfwd\":[],\"mac\":\"52:54:00:01:02:03\"}]}",
		"network interface");
	refused("{\"nets\":[{\"kind\":\"user\",\"tap\":\"\",\"hostfwd\":[{\"proto\":\"sctp\",\"addr\":\"127.0.0.1\",\"host_port\":1,\"guest_port\":7}],"
		"\"mac\":\"52:54:00:01:02:03\",\"mac_given\":false}]}", "hostfwds");
	refused("{\"nets\":[{\"kind\":\"user\",\"tap\":\"\",\"hostfwd\":[{\"proto\":\"udp\",\"addr\":\"localhost\",\"host_port\":1,\"guest_port\":7}],"
		"\"mac\":\"52:54:00:01:02:03\",\"mac_given\":false}]}", "hostfwds");
	refused("{\"nets\":[{\"kind\":\"user\",\"tap\":\"\",\"hostfwd\":[{\"proto\":\"udp\",\"addr\":\"127.0.0.1\",\"host_port\":65536,\"guest_port\":7}],"
		"\"mac\":\"52:54:00:01:02:03\",\"mac_given\":false}]}", "hostfwds");
	refused("{\"nets\":[{\"kind\":\"user\",\"tap\":\"\",\"hostfwd\":[{\"proto\":\"udp\",\"addr\":\"127.0.0.1\",\"host_port\":5,\"guest_port\":0}],"
		"\"mac\":\"52:54:00:01:02:03\",\"mac_given\":false}]}", "hostfwds");
	refused("{\"balloon\":{\"on\":true}}", "\"balloon\" member");
	refused("{\"balloon\":{\"on\":1,\"free_page_reporting\":true,\"deflate_on_oom\":false}}", "\"balloon\" member");
}

Test(header_net, a_users_nets_replace_the_backends_and_keep_the_macs)
{
	struct gm_config user, out;
	struct gm_error err;

	accepted("{\"nets\":[" NET_OK "],\"balloon\":{\"on\":false,\"free_page_reporting\":true,\"deflate_on_oom\":false}}");
	gm_config_defaults(&user);
	cr_assert_eq(gm_header_machine_merge(&h, &user, &out, &err), 0, "%s", err.msg);
	cr_assert_eq(out.nnets, 1);
	cr_assert_eq(out.nets[0].mac[5], 3);

	/* another kind is fine: the MAC is the saved one, whatever the option says */
	user.nnets = 1;
	user.nets[0].kind = GM_NET_TAP;
	strcpy(user.nets[0].tap, "tap7");
	user.nets[0].mac_given = true;
	memset(user.nets[0].mac, 0x42, 6);
	cr_assert_eq(gm_header_machine_merge(&h, &user, &out, &err), 0, "%s", err.msg);
	cr_assert_eq(out.nets[0].kind, GM_NET_TAP);
	cr_assert_str_eq(out.nets[0].tap, "tap7");
	cr_assert_eq(out.nets[0].mac[0], 0x52);
	cr_assert_eq(out.nets[0].mac[5], 3);
	cr_assert_not(out.nets[0].mac_given);

	user.nnets = 2;
	memset(&err, 0, sizeof(err));
	cr_assert_lt(gm_header_machine_merge(&h, &user, &out, &err), 0);
	cr_assert(strstr(err.msg, "--net: the saved VM has 1 network interfaces and 2 were given"), "%s", err.msg);

	user.nnets = 0;
	user.balloon.on = true;
	memset(&err, 0, sizeof(err));
	cr_assert_lt(gm_header_machine_merge(&h, &user, &out, &err), 0);
	cr_assert(strstr(err.msg, "--balloon: the saved VM has none"), "%s", err.msg);
	gm_header_machine_free(&h);

	/* a saved balloon: --balloon may be given again, or not */
	accepted("{\"balloon\":" BALLOON_OK "}");
	cr_assert_eq(gm_header_machine_merge(&h, &user, &out, &err), 0, "%s", err.msg);
	cr_assert(out.balloon.on && out.balloon.free_page_reporting);
	user.balloon.on = false;
	cr_assert_eq(gm_header_machine_merge(&h, &user, &out, &err), 0, "%s", err.msg);
	cr_assert(out.balloon.on);
	gm_header_machine_free(&h);
}
