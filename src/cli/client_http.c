/*
 * cli/client_http: the API client's one request, over the UNIX socket of a
 * running `gmvm run --api-sock PATH`, with libcurl.  It knows HTTP and the
 * socket, not the endpoints: client.c says what to ask, client_print.c how
 * to show the answer.  Every failure to get an answer becomes one line that
 * names the socket and what to do.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "cli/cli.h"
#include "gmvm/api.h"
#include "util/escape.h"

/* No answer of ours comes near this; a bigger one is not a gmvm API. */
#define MAX_REPLY (16u << 20)

struct sink {
	char *buf;
	size_t len;
	bool too_big;
};

static size_t collect(char *data, size_t size, size_t n, void *opaque)
{
	struct sink *s = opaque;
	size_t add = size * n;

	if (s->len + add > MAX_REPLY) {
		s->too_big = true;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	char *grown = realloc(s->buf, s->len + add + 1);
	if (!grown)
		return 0;
	memcpy(grown + s->len, data, add);
	s->buf = grown;
	s->len += add;
	s->buf[s->len] = '\0';
	return add;
}

/* Why no answer came, as one line with a remedy. */
static int transport_error(CURL *c, CURLcode rc, const char *sock, long timeout_s, const struct sink *s,
			   struct gm_error *err)
{
	char q[GM_ESCAPE_PATH];
	long os_errno = 0;

	gm_escape(sock, q, sizeof(q));
	if (s->too_big)
		return gm_fail(err, GM_STATUS_FAILURE, EMSGSIZE,
			       "the API at %s answered with more than %u MiB; is it a gmvm API socket?", q,
			       MAX_REPLY >> 20);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return gm_fail(err, GM_STATUS_FAILURE, ETIMEDOUT,
			       "the API at %s did not answer within %ld s; check that its gmvm process is not stopped (kill -CONT) or overloaded",
			       q, timeout_s);
	if (rc == CURLE_GOT_NOTHING || rc == CURLE_RECV_ERROR)
		return gm_fail(err, GM_STATUS_FAILURE, ECONNRESET,
			       "the API at %s closed the connection without an answer; it may be ending or serving %d clients already; retry",
			       q, GM_API_MAX_CONNS);
	/* connect()'s errno says more than curl's text: ENOENT (no such socket),
	 * ECONNREFUSED (a stale socket, or not a socket), EACCES (another user's) */
	curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
	return gm_fail(err, GM_STATUS_FAILURE, os_errno ? (int)os_errno : EIO,
		       "cannot reach the API at %s: %s; is gmvm run --api-sock %s running?", q,
		       os_errno ? strerror((int)os_errno) : curl_easy_strerror(rc), q);
}

int gm_cli_http(const char *sock, const char *method, const char *endpoint, const char *body,
		long timeout_s, struct gm_http_reply *out, struct gm_error *err)
{
	struct sink s = { 0 };
	struct curl_slist *headers = NULL;
	char url[256], q[GM_ESCAPE_PATH];
	CURLcode rc;
	int r = 0;

	/* A server that never answers must not hang a script for ever; the
	 * default is far above what most routes take (a pause waits for vCPUs,
	 * not for the guest), and a slow route (a snapshot) asks for more.  A
	 * migration without a timeout of its own may take any time at all. */
	timeout_s = timeout_s == 0 ? GM_CLI_HTTP_TIMEOUT : timeout_s;
	memset(out, 0, sizeof(*out));
	if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENAMETOOLONG,
			       "--api-sock %s: %zu bytes is too long for a UNIX socket path (at most %zu); use a shorter path",
			       gm_escape(sock, q, sizeof(q)), strlen(sock),
			       sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	CURL *c = curl_easy_init();
	if (!c)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "cannot start libcurl; the host is out of memory");
	snprintf(url, sizeof(url), "http://localhost" GM_API_PREFIX "%s", endpoint);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, url);
	/* an http_proxy in the environment must not divert a local socket */
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s > 0 ? timeout_s : 0L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	} else {
		/* POSTFIELDS sends the body with its Content-Length (0 for an
		 * action), CUSTOMREQUEST turns the POST into the method asked for */
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)(body ? strlen(body) : 0));
		headers = curl_slist_append(headers, "Content-Type: application/json");
		/* no 100-continue round trip: the server reads whole bodies */
		headers = curl_slist_append(headers, "Expect:");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	}
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		r = transport_error(c, rc, sock, timeout_s, &s, err);
		free(s.buf);
	} else {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
		out->body = s.buf ? s.buf : strdup("");
		out->len = s.len;
		if (!out->body)
			r = gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory reading the API's answer");
	}
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
	return r;
}

void gm_cli_http_free(struct gm_http_reply *r)
{
	free(r->body);
	r->body = NULL;
}
