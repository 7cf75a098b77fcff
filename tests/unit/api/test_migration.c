/*
 * vm.send-migration and vm.migration-cancel on a detached api, no machine:
 * every field of the body is checked (the URL's form, the ranges, the
 * choices) before the 409 that says no VM is attached.  Migrations
 * themselves need KVM (tests/integration/test_migrate.c).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "api_test.h"

static struct gm_api *api;
static json_t *obj;

static void setup(void)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_api_new_detached(&api, &err), 0, "%s", err.msg);
	obj = NULL;
}

static void teardown(void)
{
	json_decref(obj);
	gm_api_destroy(api);
}

TestSuite(migration, .init = setup, .fini = teardown);

static void expect(const char *endpoint, const char *body, int want, const char *needle)
{
	json_decref(obj);
	int status = test_handle(api, "PUT", endpoint, body, &obj);
	const char *line = test_error_line(obj);

	cr_assert_eq(status, want, "status %d, want %d for %s: %s", status, want, body, line);
	cr_assert_not_null(strstr(line, needle), "'%s' not in: %s", needle, line);
	cr_assert_null(strchr(line, '\n'), "more than one line: %s", line);
}

Test(migration, good_bodies_reach_the_machine_check)
{
	expect("vm.send-migration", "{\"destination_url\":\"unix:/tmp/m.sock\"}", 409, "no VM is attached yet");
	expect("vm.send-migration",
	       "{\"destination_url\":\"tcp:[::1]:4444\",\"downtime_ms\":1,\"timeout_s\":0,\"connections\":16,"
	       "\"memory_mode\":\"postcopy\",\"compress\":\"zstd\"}",
	       409, "no VM is attached yet");
	expect("vm.migration-cancel", NULL, 409, "no VM is attached yet");
}

Test(migration, a_bad_url_is_400_with_the_forms)
{
	expect("vm.send-migration", "{\"destination_url\":\"file:///tmp/x\"}", 400, "tcp:HOST:PORT");
	expect("vm.send-migration", "{\"destination_url\":\"tcp:host\"}", 400, "has no port");
	expect("vm.send-migration", "{\"destination_url\":\"unix:\"}", 400, "names no socket path");
}

Test(migration, ranges_are_400_naming_the_field_and_the_range)
{
	expect("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"connections\":0}", 400,
	       "field 'connections' in vm.send-migration is 0; send 1 to 16");
	expect("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"connections\":17}", 400, "send 1 to 16");
	expect("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"downtime_ms\":0}", 400, "1 to 60000");
	expect("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"downtime_ms\":60001}", 400, "1 to 60000");
	expect("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"timeout_s\":604801}", 400, "604800");
}

Test(migration, choices_and_types_are_checked)
{
	expect("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"memory_mode\":\"later\"}", 400, "precopy");
	expect("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"compress\":\"gzip\"}", 400, "zstd");
	expect("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"connections\":\"4\"}", 400, "connections");
	expect("vm.send-migration", "{}", 400, "destination_url");
	expect("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"speed\":1}", 400, "speed");
}
