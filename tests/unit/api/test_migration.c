/*
 * vm.send-migration and vm.migration-cancel on a detached api, no machine:
 * every field of the body is checked (the URL's form, the ranges, the
 * choices) before the 409 that says no VM is attached.  Migrations
 * themselves need KVM (tests/integration/test_migrate.c).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "api_test.h"

TestSuite(migration, .init = test_detached_init, .fini = test_detached_fini);

Test(migration, good_bodies_reach_the_machine_check)
{
	test_expect_put("vm.send-migration", "{\"destination_url\":\"unix:/tmp/m.sock\"}", 409, "no VM is attached yet");
	test_expect_put("vm.send-migration",
			"{\"destination_url\":\"tcp:[::1]:4444\",\"downtime_ms\":1,\"timeout_s\":0,\"connections\":16,"
			"\"memory_mode\":\"postcopy\",\"compress\":\"zstd\"}",
			409, "no VM is attached yet");
	test_expect_put("vm.migration-cancel", NULL, 409, "no VM is attached yet");
}

Test(migration, a_bad_url_is_400_with_the_forms)
{
	test_expect_put("vm.send-migration", "{\"destination_url\":\"file:///tmp/x\"}", 400, "tcp:HOST:PORT");
	test_expect_put("vm.send-migration", "{\"destination_url\":\"tcp:host\"}", 400, "has no port");
	test_expect_put("vm.send-migration", "{\"destination_url\":\"unix:\"}", 400, "names no socket path");
}

Test(migration, ranges_are_400_naming_the_field_and_the_range)
{
	test_expect_put("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"connections\":0}", 400,
			"field 'connections' in vm.send-migration is 0; send 1 to 16");
	test_expect_put("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"connections\":17}", 400, "send 1 to 16");
	test_expect_put("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"downtime_ms\":0}", 400, "1 to 60000");
	test_expect_put("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"downtime_ms\":60001}", 400, "1 to 60000");
	test_expect_put("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"timeout_s\":604801}", 400, "604800");
}

Test(migration, choices_and_types_are_checked)
{
	test_expect_put("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"memory_mode\":\"later\"}", 400, "precopy");
	test_expect_put("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"compress\":\"gzip\"}", 400, "zstd");
	test_expect_put("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"connections\":\"4\"}", 400, "connections");
	test_expect_put("vm.send-migration", "{}", 400, "destination_url");
	test_expect_put("vm.send-migration", "{\"destination_url\":\"unix:/m\",\"speed\":1}", 400, "speed");
}
