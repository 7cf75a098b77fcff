/*
 * PUT vm.balloon on a detached api: its fields are checked before any
 * machine is asked (unknown, wrong type, negative), and without a machine
 * it is the 409 every VM route gives.  With a machine: tests/integration/test_balloon.c.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "api_test.h"

TestSuite(balloon_route, .init = test_detached_init, .fini = test_detached_fini);

static void assert_error(int status, int want, const char *needle)
{
	cr_assert_eq(status, want, "status %d, want %d", status, want);
	const char *line = test_error_line(test_obj);

	cr_assert_not_null(strstr(line, needle), "'%s' not in: %s", needle, line);
}

Test(balloon_route, unknown_field_lists_the_fields)
{
	assert_error(test_handle(test_api, "PUT", "vm.balloon", "{\"size_mib\":1}", &test_obj), 400,
		     "target_mib (optional), deflate_on_oom (optional)");
}

Test(balloon_route, target_must_be_a_whole_non_negative_number)
{
	assert_error(test_handle(test_api, "PUT", "vm.balloon", "{\"target_mib\":-1}", &test_obj), 400, "negative");
	json_decref(test_obj);
	test_obj = NULL;
	assert_error(test_handle(test_api, "PUT", "vm.balloon", "{\"target_mib\":\"1G\"}", &test_obj), 400,
		     "target_mib");
}

Test(balloon_route, deflate_on_oom_is_a_boolean)
{
	assert_error(test_handle(test_api, "PUT", "vm.balloon", "{\"deflate_on_oom\":1}", &test_obj), 400,
		     "deflate_on_oom");
}

Test(balloon_route, without_a_machine_is_409)
{
	assert_error(test_handle(test_api, "PUT", "vm.balloon", "{\"target_mib\":16}", &test_obj), 409,
		     "no VM is attached yet");
	json_decref(test_obj);
	test_obj = NULL;
	assert_error(test_handle(test_api, "GET", "vm.balloon", NULL, &test_obj), 405, "PUT");
}
