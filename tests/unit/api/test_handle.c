/*
 * gm_api_handle on a detached api, no socket and no machine: routing,
 * strict bodies, the 409 before a machine is attached, and the shape of
 * every error.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "api_test.h"

TestSuite(handle, .init = test_detached_init, .fini = test_detached_fini);

static void assert_error(int status, int want, const char *needle)
{
	cr_assert_eq(status, want, "status %d, want %d", status, want);
	const char *line = test_error_line(test_obj);

	if (needle)
		cr_assert_not_null(strstr(line, needle), "'%s' not in: %s", needle, line);
}

Test(handle, ping_answers_version_build_id_and_features)
{
	cr_assert_eq(test_handle(test_api, "GET", "vmm.ping", NULL, &test_obj), 200);
	cr_assert_str_eq(json_string_value(json_object_get(test_obj, "version")), GMVM_VERSION);
	cr_assert_gt(strlen(json_string_value(json_object_get(test_obj, "build_id"))), 0);
	json_t *f = json_object_get(test_obj, "features");

	cr_assert_eq(json_array_size(f), 7);
	cr_assert_str_eq(json_string_value(json_array_get(f, 0)), "guest-memfd");
	cr_assert_str_eq(json_string_value(json_array_get(f, 1)), "api");
	cr_assert_str_eq(json_string_value(json_array_get(f, 2)), "events");
	cr_assert_str_eq(json_string_value(json_array_get(f, 3)), "snapshot");
	cr_assert_str_eq(json_string_value(json_array_get(f, 4)), "migration");
	cr_assert_str_eq(json_string_value(json_array_get(f, 5)), "rehome");
	cr_assert_str_eq(json_string_value(json_array_get(f, 6)), "live-update");
}

Test(handle, unknown_endpoint_is_404_and_lists_the_endpoints)
{
	assert_error(test_handle(test_api, "GET", "vm.nope", NULL, &test_obj), 404, "no endpoint /api/v1/vm.nope");
	cr_assert_not_null(strstr(test_error_line(test_obj), "GET vmm.ping"));
}

Test(handle, path_outside_the_prefix_is_404)
{
	assert_error(test_handle(test_api, "GET", "/vmm.ping", NULL, &test_obj), 404, "/vmm.ping");
}

Test(handle, wrong_method_is_405_naming_both)
{
	assert_error(test_handle(test_api, "GET", "vm.pause", NULL, &test_obj), 405, "vm.pause takes PUT, not GET");
}

Test(handle, bad_json_is_400)
{
	assert_error(test_handle(test_api, "PUT", "vm.memory-binding", "{\"mode\":", &test_obj), 400,
		     "bad JSON in the body of vm.memory-binding");
}

Test(handle, trailing_garbage_is_400)
{
	assert_error(test_handle(test_api, "PUT", "vm.pause", "{} x", &test_obj), 400, "bad JSON");
}

Test(handle, unknown_field_is_named_with_the_fields)
{
	assert_error(test_handle(test_api, "PUT", "vm.memory-binding", "{\"mode\":\"gmem\",\"foo\":1}", &test_obj), 400,
		     "unknown field 'foo' in vm.memory-binding; the fields are: mode, region (optional)");
}

Test(handle, field_on_a_bodyless_put_is_unknown)
{
	assert_error(test_handle(test_api, "PUT", "vm.pause", "{\"now\":true}", &test_obj), 400,
		     "unknown field 'now' in vm.pause; it takes no fields");
}

Test(handle, wrong_type_is_named)
{
	assert_error(test_handle(test_api, "PUT", "vm.memory-binding", "{\"mode\":1}", &test_obj), 400,
		     "field 'mode' in vm.memory-binding must be a string, not an integer");
}

Test(handle, fraction_is_not_an_integer)
{
	assert_error(test_handle(test_api, "PUT", "vm.memory-discard", "{\"gpa\":1.5,\"length\":4096}", &test_obj), 400,
		     "field 'gpa' in vm.memory-discard must be an integer, not a fraction");
}

Test(handle, missing_field_is_named)
{
	assert_error(test_handle(test_api, "PUT", "vm.memory-discard", "{\"gpa\":0}", &test_obj), 400,
		     "missing field 'length' in vm.memory-discard; the fields are: gpa, length, region (optional)");
}

Test(handle, negative_integer_is_400)
{
	assert_error(test_handle(test_api, "PUT", "vm.memory-discard", "{\"gpa\":-4096,\"length\":4096}", &test_obj), 400,
		     "field 'gpa' in vm.memory-discard is negative");
}

Test(handle, integer_beyond_64_bits_is_400)
{
	assert_error(test_handle(test_api, "PUT", "vm.memory-discard",
				 "{\"gpa\":99999999999999999999999,\"length\":1}", &test_obj),
		     400, "bad JSON");
}

Test(handle, unknown_binding_mode_is_400_with_the_choices)
{
	assert_error(test_handle(test_api, "PUT", "vm.memory-binding", "{\"mode\":\"fast\"}", &test_obj), 400,
		     "use \"gmem\" or \"mapped\"");
}

Test(handle, duplicate_field_is_400)
{
	assert_error(test_handle(test_api, "PUT", "vm.memory-binding", "{\"mode\":\"gmem\",\"mode\":\"mapped\"}", &test_obj),
		     400, "duplicate");
}

Test(handle, body_that_is_not_an_object_is_400)
{
	assert_error(test_handle(test_api, "PUT", "vm.pause", "[1]", &test_obj), 400, "must be a JSON object, not an array");
}

Test(handle, body_on_a_get_is_400)
{
	assert_error(test_handle(test_api, "GET", "vmm.ping", "{}", &test_obj), 400, "GET vmm.ping takes no body");
}

Test(handle, fields_route_without_body_is_400)
{
	assert_error(test_handle(test_api, "PUT", "vm.memory-binding", "", &test_obj), 400, "the fields are: mode");
}

/* No body, blank, and {} all mean "no fields" and reach the route (409: no machine). */
Test(handle, empty_blank_and_empty_object_bodies_are_accepted)
{
	const char *bodies[] = { NULL, "", " \r\n", "{}", " { } " };

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		json_decref(test_obj);
		assert_error(test_handle(test_api, "PUT", "vm.pause", bodies[i], &test_obj), 409, "no VM is attached yet");
	}
}

Test(handle, every_vm_route_is_409_without_a_machine)
{
	static const struct { const char *method, *name, *body; } r[] = {
		{ "GET", "vm.info", NULL },
		{ "GET", "vm.counters", NULL },
		{ "PUT", "vm.pause", NULL },
		{ "PUT", "vm.resume", "{}" },
		{ "PUT", "vm.shutdown", NULL },
		{ "PUT", "vm.memory-binding", "{\"mode\":\"mapped\"}" },
		{ "PUT", "vm.memory-discard", "{\"gpa\":0,\"length\":4096}" },
		{ "PUT", "vm.snapshot", "{\"destination_url\":\"file:///tmp/snap\"}" },
	};

	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		json_decref(test_obj);
		assert_error(test_handle(test_api, r[i].method, r[i].name, r[i].body, &test_obj), 409,
			     "no VM is attached yet");
		cr_assert_not_null(strstr(test_error_line(test_obj), r[i].name));
	}
}

Test(handle, vmm_shutdown_raises_the_flag)
{
	cr_assert_eq(gm_api_vmm_shutdown_requested(test_api), 0);
	cr_assert_eq(test_handle(test_api, "PUT", "vmm.shutdown", NULL, &test_obj), 200);
	cr_assert_str_eq(json_string_value(json_object_get(test_obj, "state")), "shutdown");
	cr_assert_neq(gm_api_vmm_shutdown_requested(test_api), 0);
}

Test(handle, newline_in_a_path_stays_off_the_error_line)
{
	assert_error(test_handle(test_api, "GET", "/api/v1/a\nb\r\x1b[2J", NULL, &test_obj), 404, "a\\nb\\r\\x1b[2J");
}

Test(handle, invalid_utf8_in_a_path_still_gives_json)
{
	assert_error(test_handle(test_api, "GET", "/api/v1/\xff\xfe", NULL, &test_obj), 404, "\\xff\\xfe");
}

Test(handle, null_method_and_path_are_404)
{
	char *out = NULL;

	cr_assert_eq(gm_api_handle(test_api, NULL, NULL, NULL, 0, &out), 404);
	test_obj = test_json(out);
	free(out);
	test_error_line(test_obj);
}
