/*
 * api/forward: after a live update, the old process may still hold a few
 * requests: ones on connections it accepted before it stopped accepting,
 * dispatched only after it handed the VM over.  They are not its to
 * answer, and their clients must not notice: each is sent on, as it came,
 * to the same socket path, where the new process now serves, and its
 * answer comes back as this request's.  One small HTTP/1.1 exchange with
 * "Connection: close", so the answer ends where the stream does.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "api/api_internal.h"

#define FORWARD_MS 10000                          /* the new process may be starting its server */
#define FORWARD_MAX (GM_API_MAX_BODY * 4 + 4096)  /* vm.info is the largest answer */

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Until fd is ready for events or the deadline passes. */
static bool wait_for(int fd, short events, uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	uint64_t now = now_ms();

	return now < deadline && poll(&p, 1, (int)(deadline - now)) == 1;
}

static int connect_path(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(a.sun_path))
		return -1;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static bool send_all(int fd, const char *p, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t w = wait_for(fd, POLLOUT, deadline) ? send(fd, p, n, MSG_NOSIGNAL) : -1;

		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* The whole answer, up to EOF; NULL on a timeout or one too large. */
static char *read_all(int fd, size_t *len, uint64_t deadline)
{
	char *buf = malloc(FORWARD_MAX + 1);
	size_t got = 0;

	while (buf && got < FORWARD_MAX && wait_for(fd, POLLIN, deadline)) {
		ssize_t n = recv(fd, buf + got, FORWARD_MAX - got, 0);

		if (n == 0) {
			buf[got] = '\0';
			*len = got;
			return buf;
		}
		if (n < 0 && errno != EINTR)
			break;
		got += n > 0 ? (size_t)n : 0;
	}
	free(buf);
	return NULL;
}

int gm_api_forward(const char *sock_path, const char *method, const char *url, const char *body, size_t body_len,
		   struct gm_api_reply *r)
{
	uint64_t deadline = now_ms() + FORWARD_MS;
	char head[512], *answer = NULL, *text;
	size_t len = 0;
	int fd = sock_path ? connect_path(sock_path) : -1, n, status;

	if (fd < 0)
		return -1;
	n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: gmvm\r\nConnection: close\r\nContent-Length: %zu\r\n%s\r\n",
		     method, url, body_len, body_len ? "Content-Type: application/json\r\n" : "");
	if (n > 0 && (size_t)n < sizeof(head) && send_all(fd, head, (size_t)n, deadline) &&
	    send_all(fd, body ? body : "", body_len, deadline))
		answer = read_all(fd, &len, deadline);
	close(fd);
	text = answer ? strstr(answer, "\r\n\r\n") : NULL;
	if (!text || sscanf(answer, "HTTP/1.%*d %d", &status) != 1 || status < 100 || status > 599) {
		free(answer);
		return -1;
	}
	json_t *obj = json_loads(text + 4, 0, NULL);

	free(answer);
	if (!obj)
		return -1;
	gm_reply_json(r, status, obj);
	return 0;
}
