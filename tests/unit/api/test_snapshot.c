/*
 * vm.snapshot on a detached api, no machine: its body is checked in full
 * (the URL's form, the optional type) before the 409 that says no VM is
 * attached, so a client learns about a bad body without a running guest.
 * Nothing here writes a snapshot: that needs KVM (tests/integration).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "api_test.h"

TestSuite(snapshot, .init = test_detached_init, .fini = test_detached_fini);

static void expect(const char *body, int want, const char *needle)
{
	test_expect_put("vm.snapshot", body, want, needle);
}

Test(snapshot, good_bodies_reach_the_machine_check)
{
	expect("{\"destination_url\":\"file:///tmp/snap\"}", 409, "no VM is attached yet; retry vm.snapshot");
	expect("{\"destination_url\":\"file:///tmp/snap\",\"type\":\"full\"}", 409, "no VM is attached yet");
	expect("{\"type\":\"diff\",\"destination_url\":\"file:///var/lib/a b/snap 2\"}", 409, "no VM is attached yet");
}

Test(snapshot, is_a_put)
{
	json_decref(test_obj);
	cr_assert_eq(test_handle(test_api, "GET", "vm.snapshot", NULL, &test_obj), 405);
	cr_assert_not_null(strstr(test_error_line(test_obj), "vm.snapshot takes PUT, not GET"));
}

Test(snapshot, listed_among_the_endpoints)
{
	json_decref(test_obj);
	cr_assert_eq(test_handle(test_api, "GET", "vm.snapshots", NULL, &test_obj), 404);
	cr_assert_not_null(strstr(test_error_line(test_obj), "PUT vm.snapshot"), "%s", test_error_line(test_obj));
}

Test(snapshot, no_body_names_the_fields)
{
	expect(NULL, 400, "vm.snapshot needs a JSON object as its body; the fields are: destination_url, type (optional)");
	expect("{}", 400, "missing field 'destination_url' in vm.snapshot; the fields are: destination_url, type (optional)");
}

Test(snapshot, unknown_field_is_named)
{
	expect("{\"destination_url\":\"file:///tmp/s\",\"kind\":\"diff\"}", 400,
	       "unknown field 'kind' in vm.snapshot; the fields are: destination_url, type (optional)");
}

Test(snapshot, mistyped_fields_are_named)
{
	expect("{\"destination_url\":7}", 400, "field 'destination_url' in vm.snapshot must be a string, not an integer");
	expect("{\"destination_url\":\"file:///tmp/s\",\"type\":null}", 400,
	       "field 'type' in vm.snapshot must be a string, not null");
	expect("{\"destination_url\":\"file:///tmp/s\",\"type\":true}", 400,
	       "field 'type' in vm.snapshot must be a string, not a boolean");
}

Test(snapshot, unknown_type_gives_the_choices)
{
	expect("{\"destination_url\":\"file:///tmp/s\",\"type\":\"incremental\"}", 400,
	       "field 'type' in vm.snapshot is 'incremental'; use \"full\" or \"diff\"");
	expect("{\"destination_url\":\"file:///tmp/s\",\"type\":\"\"}", 400, "use \"full\" or \"diff\"");
}

Test(snapshot, destination_must_be_a_file_url)
{
	expect("{\"destination_url\":\"/tmp/snap\"}", 400,
	       "field 'destination_url' in vm.snapshot is '/tmp/snap'; only local directories are supported: send file:///ABSOLUTE/DIR");
	expect("{\"destination_url\":\"http://host/snap\"}", 400, "send file:///ABSOLUTE/DIR");
	expect("{\"destination_url\":\"FILE:///tmp/snap\"}", 400, "send file:///ABSOLUTE/DIR");
	expect("{\"destination_url\":\"\"}", 400, "send file:///ABSOLUTE/DIR");
}

Test(snapshot, destination_must_be_absolute)
{
	expect("{\"destination_url\":\"file://snap\"}", 400,
	       "is 'file://snap', which is not an absolute path (or names a host); write file:// and then the absolute path");
	expect("{\"destination_url\":\"file://host/tmp/snap\"}", 400, "not an absolute path (or names a host)");
	expect("{\"destination_url\":\"file://\"}", 400, "not an absolute path");
}

Test(snapshot, percent_escapes_are_refused_with_a_remedy)
{
	expect("{\"destination_url\":\"file:///tmp/a%20b\"}", 400,
	       "percent-escapes are not supported; write the path as it is");
}

/* a path cannot hold one, and the URL's check relies on never seeing one */
Test(snapshot, nul_in_the_url_is_bad_json)
{
	expect("{\"destination_url\":\"file:///tmp/a\\u0000b\"}", 400, "bad JSON in the body of vm.snapshot");
}

Test(snapshot, control_characters_stay_off_the_error_line)
{
	expect("{\"destination_url\":\"file:/tmp/a\\nb\"}", 400, "'file:/tmp/a\\nb'");
}

Test(snapshot, overlong_path_is_refused)
{
	static char body[5000];
	int n = snprintf(body, sizeof(body), "{\"destination_url\":\"file:///");

	memset(body + n, 'a', 4200);
	strcpy(body + n + 4200, "\"}");
	expect(body, 400, "more than the 4095 a path may have; use a shorter one");
}
