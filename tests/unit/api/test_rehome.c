/*
 * vm.memory-rehome and vm.memory-rehome-cancel on a detached api, no
 * machine: every field of the body is checked (choices, types, ranges,
 * numa_node's -1) before the 409 that says no VM is attached; the rehome
 * event carries the progress record.  Re-homes themselves need KVM
 * (tests/integration/test_rehome.c).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gmvm/rehome.h>

#include "api/api_internal.h"
#include "api_test.h"

TestSuite(rehome, .init = test_detached_init, .fini = test_detached_fini);

Test(rehome, good_bodies_reach_the_machine_check)
{
	test_expect_put("vm.memory-rehome", "{}", 409, "no VM is attached yet");
	test_expect_put("vm.memory-rehome",
			"{\"region\":\"extra\",\"backend\":\"memfd\",\"hugepages\":\"2M\",\"numa_node\":0,\"prealloc\":true,"
			"\"movable\":false,\"downtime_ms\":1,\"timeout_s\":0}",
			409, "no VM is attached yet");
	test_expect_put("vm.memory-rehome", "{\"hugepages\":\"off\",\"numa_node\":-1}", 409, "no VM is attached yet");
	test_expect_put("vm.memory-rehome-cancel", NULL, 409, "no VM is attached yet");
}

Test(rehome, choices_types_and_ranges_are_400_naming_the_field)
{
	test_expect_put("vm.memory-rehome", "{\"backend\":\"tmpfs\"}", 400,
			"field 'backend' in vm.memory-rehome is 'tmpfs'; use \"guest-memfd\", \"memfd\" or \"anon\"");
	test_expect_put("vm.memory-rehome", "{\"hugepages\":\"4M\"}", 400, "\"1G\" or \"off\"");
	test_expect_put("vm.memory-rehome", "{\"prealloc\":\"on\"}", 400,
			"field 'prealloc' in vm.memory-rehome must be a boolean");
	test_expect_put("vm.memory-rehome", "{\"movable\":1}", 400, "must be a boolean, not an integer");
	test_expect_put("vm.memory-rehome", "{\"numa_node\":-2}", 400, "or -1 for no policy");
	test_expect_put("vm.memory-rehome", "{\"numa_node\":\"0\"}", 400, "must be an integer");
	test_expect_put("vm.memory-rehome", "{\"downtime_ms\":0}", 400, "1 to 60000");
	test_expect_put("vm.memory-rehome", "{\"downtime_ms\":-5}", 400, "1 to 60000");
	test_expect_put("vm.memory-rehome", "{\"timeout_s\":604801}", 400, "604800");
	test_expect_put("vm.memory-rehome", "{\"size\":\"1G\"}", 400, "unknown field 'size' in vm.memory-rehome");
	test_expect_put("vm.memory-rehome", "{\"region\":\"ram,size=1G\"}", 400, "not a region name");
	test_expect_put("vm.memory-rehome", "{\"region\":\"\"}", 400, "not a region name");
	test_expect_put("vm.memory-rehome", NULL, 400, "needs a JSON object as its body");
	test_expect_put("vm.memory-rehome-cancel", "{\"now\":true}", 400, "takes no fields");
}

Test(rehome, other_routes_still_refuse_negative_numbers)
{
	test_expect_put("vm.memory-discard", "{\"gpa\":-1,\"length\":4096}", 400, "is negative");
}

Test(rehome, progress_json_names_every_member_by_phase)
{
	struct gm_rehome_progress p = { .phase = GM_REHOME_NONE };
	json_t *j = gm_json_rehome(&p);

	cr_assert_str_eq(json_string_value(json_object_get(j, "phase")), "none");
	cr_assert_eq(json_object_size(j), 1);
	json_decref(j);

	p = (struct gm_rehome_progress){ .phase = GM_REHOME_COMPLETED, .region = "ram", .from = "memfd 4K",
					 .to = "memfd 2M", .round = 3, .pages_total = 65536, .pages_copied = 9000,
					 .pages_skipped = 56536, .pause_ms = 4.5, .resident_after = 1 << 20 };
	j = gm_json_rehome(&p);
	cr_assert_str_eq(json_string_value(json_object_get(j, "phase")), "completed");
	cr_assert_str_eq(json_string_value(json_object_get(j, "to")), "memfd 2M");
	cr_assert_eq(json_integer_value(json_object_get(j, "pages_skipped")), 56536);
	cr_assert_float_eq(json_number_value(json_object_get(j, "pause_ms")), 4.5, 1e-9);
	cr_assert_eq(json_integer_value(json_object_get(j, "resident_after")), 1 << 20);
	cr_assert_null(json_object_get(j, "error"));
	json_decref(j);

	p.phase = GM_REHOME_FAILED;
	snprintf(p.error, sizeof(p.error), "the 2M hugetlb pool ran dry");
	j = gm_json_rehome(&p);
	cr_assert_str_eq(json_string_value(json_object_get(j, "error")), "the 2M hugetlb pool ran dry");
	cr_assert_null(json_object_get(j, "pause_ms"));
	json_decref(j);
}

Test(rehome, the_rehome_event_carries_the_record)
{
	struct gm_rehome_progress p = { .phase = GM_REHOME_COPYING, .region = "extra", .round = 2,
					.pages_total = 100, .pages_left = 40 };
	struct gm_error err = { 0 };
	struct gm_events *ev = NULL;
	struct test_dir d;
	char file[192], spec[256], line[2048];

	test_dir_make(&d);
	test_dir_file(&d, "events.jsonl", file, sizeof(file));
	snprintf(spec, sizeof(spec), "path=%s", file);
	cr_assert_eq(gm_events_open(spec, &ev, &err), 0, "%s", err.msg);
	gm_events_machine_hook(ev, &(struct gm_event){ .kind = GM_EVENT_REHOME, .time_us = 7, .rehome = &p });
	gm_events_close(ev);
	FILE *f = fopen(file, "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f));
	fclose(f);
	test_dir_remove(&d);
	json_t *j = test_json(line);
	cr_assert_str_eq(json_string_value(json_object_get(j, "event")), "rehome");
	cr_assert_str_eq(json_string_value(json_object_get(j, "phase")), "copying");
	cr_assert_str_eq(json_string_value(json_object_get(j, "region")), "extra");
	cr_assert_eq(json_integer_value(json_object_get(j, "pages_left")), 40);
	cr_assert_eq(json_integer_value(json_object_get(j, "timestamp_us")), 7);
	json_decref(j);
}
