/*
 * The devices in a state stream's header (config.devices): written by
 * gm_state_header, read back as untrusted input, turned into the restored
 * machine's config, and merged with a user's --disk and --device.  Old
 * headers without the member mean no devices.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/restore.h"
#include "vmm/vmm.h"

#include "header_fixture.h"

Test(header_devices, written_then_read_back)
{
	struct gm_machine *m = calloc(1, sizeof(*m));
	struct gm_error err;
	struct gm_config cfg;
	char *text;

	gm_config_defaults(&m->cfg);
	m->cfg.cpus = 1;
	m->cfg.mem.size = 256 << 20;
	m->cfg.ndisks = 2;
	strcpy(m->cfg.disks[0].path, "/var/lib/disk \"one\".img");
	m->cfg.disks[0].readonly = true;
	strcpy(m->cfg.disks[1].path, "/dev/vdb-backing");
	m->cfg.disks[1].direct = true;
	m->cfg.virtio_rng = true;
	text = gm_state_header(m, NULL);
	cr_assert_not_null(text);
	cr_assert_eq(parse(text, &err), 0, "%s", err.msg);
	cr_assert_eq(h.ndisks, 2);
	cr_assert_str_eq(h.disks[0].path, "/var/lib/disk \"one\".img");
	cr_assert(h.disks[0].readonly && !h.disks[0].direct);
	cr_assert(!h.disks[1].readonly && h.disks[1].direct);
	cr_assert(h.virtio_rng && !h.virtio_console);
	gm_config_defaults(&cfg);
	gm_header_machine_config(&h, &cfg);
	cr_assert_eq(cfg.ndisks, 2);
	cr_assert_str_eq(cfg.disks[1].path, "/dev/vdb-backing");
	cr_assert(cfg.virtio_rng && !cfg.virtio_console);
	cr_assert_eq(gm_header_machine_check(&h, &cfg, &err), 0, "%s", err.msg);
	cfg.virtio_console = true;
	cr_assert_lt(gm_header_machine_check(&h, &cfg, &err), 0);
	cr_assert(strstr(err.msg, "2 disks, a virtio rng"), "%s", err.msg);
	gm_header_machine_free(&h);
	free(text);
	free(m);
}

Test(header_devices, an_old_header_has_none)
{
	struct gm_error err;
	struct gm_config cfg;

	cr_assert_eq(parse(HEAD "}}", &err), 0, "%s", err.msg);
	cr_assert_eq(h.ndisks, 0);
	cr_assert_not(h.virtio_console || h.virtio_rng);
	gm_config_defaults(&cfg);
	cfg.virtio_rng = true; /* what a caller's config may hold: the header's wins */
	gm_header_machine_config(&h, &cfg);
	cr_assert_not(cfg.virtio_rng);
	gm_header_machine_free(&h);
}

Test(header_devices, untrusted_shapes_are_refused)
{
	char many[1024] = "{\"disks\":[";

	refused("[]", "wrong shape");
	refused("{\"disks\":{}}", "wrong shape");
	refused("{\"virtio_rng\":1}", "wrong shape");
	refused("{\"disks\":[{\"readonly\":false,\"direct\":false}]}", "without a path");
	refused("{\"disks\":[{\"path\":\"\",\"readonly\":false,\"direct\":false}]}", "without a path");
	refused("{\"disks\":[{\"path\":\"/x\",\"readonly\":\"no\",\"direct\":false}]}", "readonly and direct");
	refused("{\"disks\":[{\"path\":7,\"readonly\":false,\"direct\":false}]}", "without a path");
	for (int i = 0; i <= GM_MAX_DISKS; i++)
		strcat(many, i ? ",{\"path\":\"/x\",\"readonly\":false,\"direct\":false}"
			       : "{\"path\":\"/x\",\"readonly\":false,\"direct\":false}");
	strcat(many, "]}");
	refused(many, "more disks");

	/* a path as long as a path may not be */
	char *json = malloc(GM_DISK_PATH_MAX + 512);
	char *p = json + sprintf(json, HEAD ",\"devices\":{\"disks\":[{\"path\":\"");
	memset(p, 'a', GM_DISK_PATH_MAX);
	strcpy(p + GM_DISK_PATH_MAX, "\",\"readonly\":false,\"direct\":false}]}}}");
	struct gm_error err;
	cr_assert_lt(parse(json, &err), 0);
	free(json);
}

Test(header_devices, a_users_disks_replace_the_saved_files_only)
{
	struct gm_config user, out;
	struct gm_error err;

	cr_assert_eq(parse(HEAD ",\"devices\":{\"disks\":[{\"path\":\"/old/a\",\"readonly\":true,\"direct\":false},"
			   "{\"path\":\"/old/b\",\"readonly\":false,\"direct\":false}],\"virtio_console\":true}}}",
			   &err), 0, "%s", err.msg);
	gm_config_defaults(&user);
	cr_assert_eq(gm_header_machine_merge(&h, &user, &out, &err), 0, "%s", err.msg);
	cr_assert_eq(out.ndisks, 2);
	cr_assert_str_eq(out.disks[0].path, "/old/a");
	cr_assert(out.virtio_console);

	user.ndisks = 2;
	strcpy(user.disks[0].path, "/new/a");
	user.disks[0].readonly = true;
	strcpy(user.disks[1].path, "/new/b");
	user.disks[1].direct = true;
	cr_assert_eq(gm_header_machine_merge(&h, &user, &out, &err), 0, "%s", err.msg);
	cr_assert_str_eq(out.disks[0].path, "/new/a");
	cr_assert_str_eq(out.disks[1].path, "/new/b");
	cr_assert(out.disks[1].direct);

	user.disks[1].readonly = true;
	memset(&err, 0, sizeof(err));
	cr_assert_lt(gm_header_machine_merge(&h, &user, &out, &err), 0);
	cr_assert(strstr(err.msg, "--disk number 2: the saved VM's disk there was writable; give it readonly=off"),
		  "%s", err.msg);

	user.ndisks = 1;
	memset(&err, 0, sizeof(err));
	cr_assert_lt(gm_header_machine_merge(&h, &user, &out, &err), 0);
	cr_assert(strstr(err.msg, "the saved VM has 2 disks and 1 were given"), "%s", err.msg);

	user.ndisks = 0;
	user.virtio_rng = true;
	memset(&err, 0, sizeof(err));
	cr_assert_lt(gm_header_machine_merge(&h, &user, &out, &err), 0);
	cr_assert(strstr(err.msg, "--device virtio-rng: the saved VM has none"), "%s", err.msg);
	user.virtio_rng = false;
	user.virtio_console = true; /* it has one: fine */
	cr_assert_eq(gm_header_machine_merge(&h, &user, &out, &err), 0);
	gm_header_machine_free(&h);
}
