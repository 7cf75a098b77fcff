/*
 * The server end to end: a real socket, the real curl(1), no machine.
 * What only the HTTP side can show: headers, the 413s, the socket's mode,
 * the request events.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "api_test.h"

static struct test_dir dir;
static struct gm_api *api;
static struct curl_result res;
static json_t *obj;

static void setup(void)
{
	test_dir_make(&dir);
	api = test_server_start(&dir, NULL);
	memset(&res, 0, sizeof(res));
	obj = NULL;
}

static void teardown(void)
{
	json_decref(obj);
	curl_result_free(&res);
	gm_api_destroy(api);
	test_dir_remove(&dir);
}

TestSuite(server, .init = setup, .fini = teardown, .timeout = 60);

static void curl(const char *method, const char *name, const char *data, size_t len,
		 const char *const *headers)
{
	test_curl(&dir, method, name, data, len, headers, &res);
	cr_assert_eq(res.exit_code, 0, "curl failed (%d)", res.exit_code);
	obj = test_json(res.body);
}

Test(server, ping_over_the_socket)
{
	curl("GET", "vmm.ping", NULL, 0, NULL);
	cr_assert_eq(res.status, 200);
	cr_assert_str_eq(json_string_value(json_object_get(obj, "version")), GMVM_VERSION);
}

Test(server, replies_are_application_json)
{
	curl("GET", "vmm.ping", NULL, 0, NULL);
	cr_assert_not_null(strcasestr(res.headers, "Content-Type: application/json"), "%s", res.headers);
}

Test(server, unknown_path_is_404)
{
	curl("GET", "vm.nothing", NULL, 0, NULL);
	cr_assert_eq(res.status, 404);
	cr_assert_not_null(strstr(test_error_line(obj), "/api/v1/vm.nothing"));
}

Test(server, wrong_method_is_405_with_allow)
{
	curl("GET", "vm.pause", NULL, 0, NULL);
	cr_assert_eq(res.status, 405);
	cr_assert_not_null(strcasestr(res.headers, "\nAllow: PUT"), "%s", res.headers);
	cr_assert_str_eq(test_error_line(obj), "vm.pause takes PUT, not GET");
}

Test(server, bad_json_is_400)
{
	curl("PUT", "vm.memory-binding", "{mode", 5, NULL);
	cr_assert_eq(res.status, 400);
	cr_assert_not_null(strstr(test_error_line(obj), "bad JSON"));
}

Test(server, unknown_field_is_400)
{
	static const char body[] = "{\"mode\":\"gmem\",\"speed\":9}";

	curl("PUT", "vm.memory-binding", body, strlen(body), NULL);
	cr_assert_eq(res.status, 400);
	cr_assert_not_null(strstr(test_error_line(obj), "unknown field 'speed'"));
}

Test(server, pause_without_a_machine_is_409)
{
	curl("PUT", "vm.pause", NULL, 0, NULL);
	cr_assert_eq(res.status, 409);
	cr_assert_not_null(strstr(test_error_line(obj), "no VM is attached yet"));
}

static char *big_body(size_t len)
{
	char *b = malloc(len);

	cr_assert_not_null(b);
	memset(b, ' ', len);
	b[0] = '{';
	b[len - 1] = '}';
	return b;
}

/* The declared length is over the limit: the body is read and dropped, then 413 (the client sees it, whenever it sent). */
Test(server, body_over_64k_is_413)
{
	char *b = big_body(GM_API_MAX_BODY + 1);

	curl("PUT", "vm.pause", b, GM_API_MAX_BODY + 1, NULL);
	free(b);
	cr_assert_eq(res.status, 413);
	cr_assert_not_null(strstr(test_error_line(obj), "over 65536 bytes"));
}

/* A declared length past what the server would read and drop: 413 before any of the body is read. */
Test(server, a_huge_declared_length_is_413_unread)
{
	static const char *const huge[] = { "Content-Length: 100000000", NULL };

	curl("PUT", "vm.pause", "{}", 2, huge);
	cr_assert_eq(res.status, 413);
	cr_assert_not_null(strstr(test_error_line(obj), "over 65536 bytes"));
}

/* No length declared: the body is collected up to the limit, then 413. */
Test(server, chunked_body_over_64k_is_413)
{
	static const char *const chunked[] = { "Transfer-Encoding: chunked", NULL };
	char *b = big_body(GM_API_MAX_BODY + 4096);

	curl("PUT", "vm.pause", b, GM_API_MAX_BODY + 4096, chunked);
	free(b);
	cr_assert_eq(res.status, 413);
}

/* Exactly the limit is still read and parsed (and reaches the route: no machine). */
Test(server, body_of_exactly_64k_is_taken)
{
	char *b = big_body(GM_API_MAX_BODY);

	curl("PUT", "vm.pause", b, GM_API_MAX_BODY, NULL);
	free(b);
	cr_assert_eq(res.status, 409);
}

Test(server, socket_mode_is_0600)
{
	struct stat st;

	cr_assert_eq(lstat(dir.sock, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
}

Test(server, query_string_is_ignored)
{
	curl("GET", "vmm.ping?verbose=1", NULL, 0, NULL);
	cr_assert_eq(res.status, 200);
}

Test(server, vmm_shutdown_raises_the_flag)
{
	curl("PUT", "vmm.shutdown", "{}", 2, NULL);
	cr_assert_eq(res.status, 200);
	cr_assert_neq(gm_api_vmm_shutdown_requested(api), 0);
}
