/*
 * bench/api_client: requests to gmvm's control API (HTTP/1.1 on a UNIX
 * socket, /work/notes/api-spec.md) through one reused libcurl handle, so
 * that a round trip after the first is one request on an open connection,
 * as `gmvm ping` and any long-lived client see it.
 */
#ifndef BENCH_API_CLIENT_H
#define BENCH_API_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct api_client {
	void *curl;		/* CURL * */
	void *no_type;		/* struct curl_slist *: "Content-Type:" removed for the empty PUT bodies */
	char sock[108];
	char *body;		/* the last answer's body, NUL-terminated */
	size_t len, cap;
	char curl_err[256];
	long timeout_ms;	/* for a whole request; 10 s unless set */
};

/* libcurl's global set-up, once per process before any thread uses it; -1 on failure. */
int api_client_global_init(void);

int api_client_open(struct api_client *a, const char *sock, char *err, size_t errlen);
void api_client_close(struct api_client *a);
void api_client_set_timeout(struct api_client *a, long timeout_ms);

/*
 * method "GET" or "PUT" (with an empty body) on /api/v1/<endpoint>.  Returns
 * the HTTP status (body in a->body), or -1 with a reason when no answer came.
 */
long api_request(struct api_client *a, const char *method, const char *endpoint, char *err, size_t errlen);

/*
 * PUT /api/v1/<endpoint> with a JSON body, on the open connection, within
 * timeout_ms (this request only).  The HTTP status (body in a->body), or -1
 * with a reason.
 */
long api_put_json(struct api_client *a, const char *endpoint, const char *body, long timeout_ms, char *err,
		  size_t errlen);

/* As api_request, but anything but 200 is an error whose reason quotes the server's answer. */
int api_request_ok(struct api_client *a, const char *method, const char *endpoint, char *err, size_t errlen);

/*
 * GET vm.counters and read "paused_us" and "pauses" from it; -1 with a
 * reason when the request fails or a field is missing.
 */
int api_counters(struct api_client *a, uint64_t *paused_us, uint64_t *pauses, char *err, size_t errlen);

#endif
