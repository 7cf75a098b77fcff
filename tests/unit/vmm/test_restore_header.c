/*
 * vmm/restore_header and the REGION section: a state stream's header read
 * as untrusted input into the machine it describes (the RAM and the other
 * regions), the user's restore options over it, and the REGION payload
 * both ways.  No KVM: nothing here builds a VM.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/restore.h"

#define UUID "6f1c2a3e-0d4b-4c8e-9a7f-2b5d1e3c4a6f"
#define HEAD "{\"gmvm_version\":\"0.1.0\",\"uuid\":\"" UUID "\",\"config\":{\"cpus\":2,\"cmdline\":\"a=b\"," \
	     "\"memory\":{\"size\":268435456,\"backend\":\"memfd\",\"hugepages\":\"4K\",\"prealloc\":false}}"
#define RAM "{\"name\":\"ram\",\"size\":268435456,\"page_size\":4096,\"backend\":\"memfd\",\"gpa\":0}"
#define EXTRA "{\"name\":\"extra\",\"size\":67108864,\"page_size\":2097152,\"backend\":\"anon\",\"gpa\":1073741824}"

static void parse_ok(const char *json, struct gm_header_machine *h)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_header_machine_parse(json, h, &err), 0, "%s", err.msg);
}

static void parse_refused(const char *json, const char *want)
{
	struct gm_header_machine h;
	struct gm_error err = { 0 };

	cr_assert_lt(gm_header_machine_parse(json, &h, &err), 0, "accepted: %s", json);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert(strstr(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
}

Test(header, ram_only_without_regions_as_older_snapshots_are)
{
	struct gm_header_machine h;

	parse_ok(HEAD "}", &h);
	cr_assert_eq(h.cpus, 2);
	cr_assert_str_eq(h.uuid, UUID);
	cr_assert_str_eq(h.cmdline, "a=b");
	cr_assert_eq(h.nregions, 1);
	cr_assert_str_eq(h.regions[0].name, "ram");
	cr_assert_eq(h.regions[0].size, UINT64_C(256) << 20);
	cr_assert_eq(h.regions[0].backend, GM_BACKEND_MEMFD);
	gm_header_machine_free(&h);
}

Test(header, the_ram_and_another_region)
{
	struct gm_header_machine h;

	parse_ok(HEAD ",\"regions\":[" RAM "," EXTRA "]}", &h);
	cr_assert_eq(h.nregions, 2);
	cr_assert_str_eq(h.regions[1].name, "extra");
	cr_assert_eq(h.regions[1].size, UINT64_C(64) << 20);
	cr_assert_eq(h.regions[1].page_size, GM_PAGE_2M);
	cr_assert_eq(h.regions[1].backend, GM_BACKEND_ANON);
	cr_assert_eq(h.regions[1].gpa, UINT64_C(1) << 30);

	struct gm_config c;
	gm_config_defaults(&c);
	gm_header_machine_config(&h, &c);
	cr_assert_eq(c.cpus, 2);
	cr_assert_eq(c.nregions, 1);
	cr_assert_str_eq(c.regions[0].name, "extra");
	cr_assert_eq(c.regions[0].gpa, UINT64_C(1) << 30);
	cr_assert_eq(c.regions[0].mem.bind, GM_BIND_MAPPED);
	cr_assert_eq(c.mem.bind, GM_BIND_MAPPED, "memfd RAM binds mapped");
	struct gm_error err = { 0 };
	cr_assert_eq(gm_header_machine_check(&h, &c, &err), 0, "%s", err.msg);
	c.regions[0].gpa += GM_PAGE_1G;
	cr_assert_lt(gm_header_machine_check(&h, &c, &err), 0);
	cr_assert(strstr(err.msg, "the saved VM's regions are ram, extra"), "%s", err.msg);
	gm_header_machine_free(&h);
}

Test(header, refusals)
{
	parse_refused("{\"uuid\":\"x\"}", "lacks the VM's uuid or its config");
	parse_refused(HEAD ",\"regions\":{}}", "\"regions\" member that is not a list");
	parse_refused(HEAD ",\"regions\":[" EXTRA "]}", "a first region that is not the RAM");
	parse_refused(HEAD ",\"regions\":[" RAM ",{\"name\":\"../x\",\"size\":4096,\"page_size\":4096,\"backend\":\"anon\",\"gpa\":1073741824}]}",
		      "names a region badly: region name '../x' has '.'");
	parse_refused(HEAD ",\"regions\":[" RAM "," EXTRA "," EXTRA "]}", "lists region extra twice");
	parse_refused(HEAD ",\"regions\":[" RAM ",{\"name\":\"x\",\"size\":4096,\"page_size\":2097152,\"backend\":\"anon\",\"gpa\":1073741824}]}",
		      "region x lacks a size of whole pages");
	parse_refused(HEAD ",\"regions\":[" RAM ",{\"name\":\"x\",\"size\":4096,\"page_size\":4096,\"backend\":\"floppy\",\"gpa\":1073741824}]}",
		      "region x lacks");
}

Test(header, user_options_over_the_saved_machine)
{
	struct gm_header_machine h;
	struct gm_config user, out;
	struct gm_error err = { 0 };

	parse_ok(HEAD ",\"regions\":[" RAM "," EXTRA "]}", &h);
	gm_config_defaults(&user);
	user.console = GM_CONSOLE_NONE;
	cr_assert_eq(gm_region_config_parse("name=extra,backend=memfd,hugepages=4K,size=1G", &user.regions[0], &err), 0);
	user.nregions = 1;
	user.new_identity = true;
	cr_assert_eq(gm_header_machine_merge(&h, &user, &out, &err), 0, "%s", err.msg);
	cr_assert_eq(out.console, GM_CONSOLE_NONE, "the user's own settings stay");
	cr_assert_null(out.uuid, "a clone");
	cr_assert_eq(out.mem.backend, GM_BACKEND_MEMFD, "the RAM as saved");
	cr_assert_eq(out.regions[0].mem.backend, GM_BACKEND_MEMFD, "the region on other memory");
	cr_assert_eq(out.regions[0].mem.page_size, GM_PAGE_4K);
	cr_assert_eq(out.regions[0].mem.size, UINT64_C(64) << 20, "the saved size, whatever --region said");
	cr_assert_eq(out.regions[0].gpa, UINT64_C(1) << 30, "and the saved place");
	cr_assert_eq(gm_header_machine_check(&h, &out, &err), 0, "%s", err.msg);

	cr_assert_eq(gm_region_config_parse("name=other,backend=anon", &user.regions[0], &err), 0);
	cr_assert_eq(gm_header_machine_merge(&h, &user, &out, &err), -ENOENT);
	cr_assert(strstr(err.msg, "--region other: the saved VM has no region other (its regions: ram, extra)"), "%s",
		  err.msg);
	gm_header_machine_free(&h);
}

/* A REGION section as the reader gives it to its decoder. */
static struct gm_section section(uint32_t instance, const struct gm_buf *b)
{
	return (struct gm_section){ .type = GM_SECTION_REGION, .instance = instance, .version = 1, .data = b->data,
				    .len = b->len };
}

Test(region_section, both_ways_and_refusals)
{
	struct gm_image_region in = { .name = "extra", .gpa = UINT64_C(1) << 30, .size = UINT64_C(64) << 20,
				      .page_size = GM_PAGE_4K, .backend = GM_BACKEND_ANON }, out;
	struct gm_buf b = { 0 };
	struct gm_error err = { 0 };

	gm_encode_region(&b, &in);
	struct gm_section sec = section(1, &b);
	cr_assert_eq(gm_decode_region(&sec, &out, &err), 0, "%s", err.msg);
	cr_assert_str_eq(out.name, "extra");
	cr_assert_eq(out.gpa, in.gpa);
	cr_assert_eq(out.size, in.size);
	cr_assert_eq(out.page_size, in.page_size);
	cr_assert_eq(out.backend, in.backend);
	sec.instance = 0;
	cr_assert_lt(gm_decode_region(&sec, &out, &err), 0);
	cr_assert(strstr(err.msg, "region 0, and only it, is the RAM at 0"), "%s", err.msg);
	gm_error_clear(&err);
	sec = section(1, &b);
	sec.len--;
	cr_assert_lt(gm_decode_region(&sec, &out, &err), 0);
	cr_assert(strstr(err.msg, "truncated"), "%s", err.msg);
	gm_buf_free(&b);
}
