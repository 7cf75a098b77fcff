/*
 * Helpers for the API's unit tests: a private directory per test, a server
 * on a socket in it, the real curl(1) as the client, and raw connections
 * for what curl will not do (idle or half-sent requests).  No machine is
 * ever attached: everything here runs without /dev/kvm.
 */
#ifndef GM_TEST_API_H
#define GM_TEST_API_H

#include <jansson.h>
#include <stddef.h>

#include <gmvm/api.h>

struct test_dir {
	char path[64];
	char sock[128]; /* path/api.sock */
};

/* mkdtemp under /tmp (asserts); test_dir_remove deletes it and what is in it. */
void test_dir_make(struct test_dir *d);
void test_dir_remove(struct test_dir *d);
/* d->path + "/" + name into out (asserts it fits). */
void test_dir_file(const struct test_dir *d, const char *name, char *out, size_t len);

/* A server on d->sock with no machine (asserts it starts). */
struct gm_api *test_server_start(struct test_dir *d, struct gm_events *events);

struct curl_result {
	int exit_code;  /* curl's own: 0 when it got an answer */
	int status;     /* HTTP status, 0 when none */
	char *body;     /* malloc'd, NUL-terminated, "" when none */
	char *headers;  /* malloc'd, NUL-terminated */
};

/*
 * Run curl --unix-socket d->sock -X method http://localhost/api/v1/<name>,
 * with data (len bytes, may be NULL) as the body and extra header lines
 * (NULL-terminated, may be NULL).
 */
void test_curl(struct test_dir *d, const char *method, const char *name, const char *data, size_t len,
	       const char *const *headers, struct curl_result *out);
void curl_result_free(struct curl_result *r);

/* Parse a reply body (asserts it is a JSON object). */
json_t *test_json(const char *body);
/* The "error" string of an error body (asserts there is one, on one line). */
const char *test_error_line(json_t *obj);

/* gm_api_handle on api with a NUL-terminated body (or NULL); the reply object in *obj. */
int test_handle(struct gm_api *api, const char *method, const char *name, const char *body,
		json_t **obj);

/*
 * The suites on a detached api (no socket, no machine):
 * TestSuite(name, .init = test_detached_init, .fini = test_detached_fini)
 * gives each test test_api, and test_obj for the reply (NULL at first,
 * freed after the test).
 */
extern struct gm_api *test_api;
extern json_t *test_obj;
void test_detached_init(void);
void test_detached_fini(void);
/* PUT endpoint with body (or NULL) on test_api: asserts status want and an error line holding needle. */
void test_expect_put(const char *endpoint, const char *body, int want, const char *needle);

/* A blocking connection to path, or -1 with errno. */
int test_connect(const char *path);
/* Microseconds on CLOCK_MONOTONIC. */
long long test_now_us(void);

#endif
