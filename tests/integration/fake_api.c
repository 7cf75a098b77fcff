/* tests/integration/fake_api: see fake_api.h. */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fake_api.h"

struct conn {
	struct fake *f;
	int fd;
};

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 409: return "Conflict";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	default: return "Other";
	}
}

static void answer(int fd, int status, const char *body)
{
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, reason(status), strlen(body));

	if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
		perror("fake API: write");
}

/* One request: the headers, then Content-Length bytes of body. */
static void read_request(int fd, char *req, size_t cap)
{
	size_t got = 0, want = 0;

	req[0] = '\0';
	while (got < cap - 1) {
		ssize_t n = read(fd, req + got, cap - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		char *end = strstr(req, "\r\n\r\n");
		char *cl = strcasestr(req, "Content-Length:");
		if (end && !want)
			want = (size_t)(end + 4 - req) + (cl ? strtoul(cl + 15, NULL, 10) : 0);
		if (end && got >= want)
			break;
	}
}

static void *serve_conn(void *opaque)
{
	struct conn *c = opaque;
	struct fake *f = c->f;
	char req[8192];

	read_request(c->fd, req, sizeof(req));
	if (strncmp(req, "GET /api/v1/vm.info ", 20) == 0) {
		pthread_mutex_lock(&f->lock);
		f->gets++;
		pthread_mutex_unlock(&f->lock);
		answer(c->fd, 200, f->info_body ? f->info_body : "{\"state\":\"running\"}");
	} else {
		pthread_mutex_lock(&f->lock);
		f->puts++;
		snprintf(f->put_request, sizeof(f->put_request), "%s", req);
		pthread_mutex_unlock(&f->lock);
		usleep((useconds_t)f->delay_ms * 1000);
		answer(c->fd, f->put_status, f->put_body);
	}
	close(c->fd);
	free(c);
	return NULL;
}

static void *serve(void *opaque)
{
	struct fake *f = opaque;

	while (!f->stop) {
		struct pollfd p = { .fd = f->lfd, .events = POLLIN };
		if (poll(&p, 1, 50) <= 0)
			continue;
		struct conn *c = malloc(sizeof(*c));
		cr_assert_not_null(c);
		c->f = f;
		c->fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c->fd < 0 || f->nconns == FAKE_MAX_CONNS) {
			if (c->fd >= 0)
				close(c->fd);
			free(c);
			continue;
		}
		cr_assert_eq(pthread_create(&f->conns[f->nconns++], NULL, serve_conn, c), 0);
	}
	return NULL;
}

void fake_start(struct fake *f, const char *sock, int status, const char *body, int delay_ms)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	memset(f, 0, sizeof(*f));
	f->put_status = status;
	f->put_body = body;
	f->delay_ms = delay_ms;
	snprintf(f->path, sizeof(f->path), "%s", sock);
	pthread_mutex_init(&f->lock, NULL);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	strcpy(a.sun_path, f->path);
	cr_assert(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(f->lfd, 16) == 0, "%s",
		  strerror(errno));
	cr_assert_eq(pthread_create(&f->thread, NULL, serve, f), 0);
}

void fake_stop(struct fake *f)
{
	f->stop = 1;
	pthread_join(f->thread, NULL);
	for (int i = 0; i < f->nconns; i++)
		pthread_join(f->conns[i], NULL);
	close(f->lfd);
	unlink(f->path);
	pthread_mutex_destroy(&f->lock);
}

json_t *fake_put_body(const struct fake *f)
{
	const char *body = strstr(f->put_request, "\r\n\r\n");
	json_error_t e;

	cr_assert(body, "no request recorded:\n%s", f->put_request);
	json_t *j = json_loads(body + 4, 0, &e);
	cr_assert(json_is_object(j), "body is not a JSON object (%s):\n%s", e.text, f->put_request);
	return j;
}

void fake_stop_one_put(struct fake *f)
{
	fake_stop(f);
	cr_assert(f->puts == 1 && f->gets == 0, "the client sent %d PUTs and %d GETs, not the one PUT", f->puts, f->gets);
}
