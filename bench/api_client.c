/*
 * bench/api_client: gmvm API requests over libcurl (CURLOPT_UNIX_SOCKET_PATH,
 * URL host "localhost", as the spec's own client) and the one JSON answer
 * the bench reads, vm.counters, through jansson.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "api_client.h"

#define REQUEST_TIMEOUT_MS 10000L

int api_client_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static size_t collect(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct api_client *a = opaque;
	size_t n = size * nmemb;

	if (a->len + n + 1 > a->cap) {
		size_t cap = a->cap ? a->cap : 4096;

		while (cap < a->len + n + 1)
			cap *= 2;
		char *bigger = realloc(a->body, cap);

		if (!bigger)
			return 0; /* curl reports a write error */
		a->body = bigger;
		a->cap = cap;
	}
	memcpy(a->body + a->len, data, n);
	a->len += n;
	a->body[a->len] = '\0';
	return n;
}

int api_client_open(struct api_client *a, const char *sock, char *err, size_t errlen)
{
	memset(a, 0, sizeof(*a));
	if (strlen(sock) >= sizeof(a->sock)) {
		snprintf(err, errlen, "socket path %s is too long; set TMPDIR to a shorter directory", sock);
		return -1;
	}
	snprintf(a->sock, sizeof(a->sock), "%s", sock);
	CURL *h = curl_easy_init();

	a->no_type = curl_slist_append(NULL, "Content-Type:");
	if (!h || !a->no_type) {
		snprintf(err, errlen, "libcurl could not make a handle (out of memory?)");
		if (h)
			curl_easy_cleanup(h);
		curl_slist_free_all(a->no_type);
		a->no_type = NULL;
		return -1;
	}
	a->curl = h;
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, a->sock);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	a->timeout_ms = REQUEST_TIMEOUT_MS;
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, a->timeout_ms);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, a->curl_err);
	return 0;
}

void api_client_set_timeout(struct api_client *a, long timeout_ms)
{
	a->timeout_ms = timeout_ms;
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT_MS, timeout_ms);
}

void api_client_close(struct api_client *a)
{
	if (a->curl)
		curl_easy_cleanup(a->curl);
	curl_slist_free_all(a->no_type);
	free(a->body);
	memset(a, 0, sizeof(*a));
}

long api_request(struct api_client *a, const char *method, const char *endpoint, char *err, size_t errlen)
{
	CURL *h = a->curl;
	char url[256];
	long status = 0;

	snprintf(url, sizeof(url), "http://localhost/api/v1/%s", endpoint);
	curl_easy_setopt(h, CURLOPT_URL, url);
	if (!strcmp(method, "GET")) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		/* an empty body with Content-Length: 0, no form content type */
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, a->no_type);
	}
	a->len = 0;
	if (a->body)
		a->body[0] = '\0';
	a->curl_err[0] = '\0';
	CURLcode rc = curl_easy_perform(h);

	if (rc != CURLE_OK) {
		snprintf(err, errlen, "%s %s: no answer on %s: %s", method, endpoint, a->sock,
			 a->curl_err[0] ? a->curl_err : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (!a->body) /* no body at all: keep a->body a string */
		collect("", 1, 0, a);
	return status;
}

long api_put_json(struct api_client *a, const char *endpoint, const char *body, long timeout_ms, char *err,
		  size_t errlen)
{
	struct curl_slist *type = curl_slist_append(NULL, "Content-Type: application/json");
	CURL *h = a->curl;
	long status = 0;
	char url[256];

	if (!type) {
		snprintf(err, errlen, "PUT %s: out of memory", endpoint);
		return -1;
	}
	snprintf(url, sizeof(url), "http://localhost/api/v1/%s", endpoint);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, type);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
	a->len = 0;
	if (a->body)
		a->body[0] = '\0';
	a->curl_err[0] = '\0';
	CURLcode rc = curl_easy_perform(h);

	/* as api_request expects to find the handle */
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, 0L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, a->timeout_ms);
	curl_slist_free_all(type);
	if (rc != CURLE_OK) {
		snprintf(err, errlen, "PUT %s: no answer on %s: %s", endpoint, a->sock,
			 a->curl_err[0] ? a->curl_err : curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (!a->body)
		collect("", 1, 0, a);
	return status;
}

int api_request_ok(struct api_client *a, const char *method, const char *endpoint, char *err, size_t errlen)
{
	long status = api_request(a, method, endpoint, err, errlen);

	if (status < 0)
		return -1;
	if (status != 200) {
		snprintf(err, errlen, "%s %s answered %ld, expected 200: %.300s", method, endpoint, status,
			 a->body ? a->body : "");
		return -1;
	}
	return 0;
}

static int get_uint(json_t *root, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(root, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int api_counters(struct api_client *a, uint64_t *paused_us, uint64_t *pauses, char *err, size_t errlen)
{
	json_error_t jerr;

	if (api_request_ok(a, "GET", "vm.counters", err, errlen) < 0)
		return -1;
	json_t *root = json_loadb(a->body, a->len, 0, &jerr);

	if (!root) {
		snprintf(err, errlen, "GET vm.counters: not JSON (%s): %.200s", jerr.text, a->body);
		return -1;
	}
	int r = 0;

	if (get_uint(root, "paused_us", paused_us) < 0 || get_uint(root, "pauses", pauses) < 0) {
		snprintf(err, errlen, "GET vm.counters: no whole numbers \"paused_us\" and \"pauses\" in %.200s", a->body);
		r = -1;
	}
	json_decref(root);
	return r;
}
