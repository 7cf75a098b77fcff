/*
 * Connections that misbehave: idle, half-sent, too many.  The server has
 * GM_API_MAX_CONNS slots and closes a silent connection after
 * GM_API_IDLE_SECONDS; a stuck client must never stop the API for good.
 * Some of these wait out the idle timeout (about 10 s).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "api_test.h"

#define IDLE_US ((long long)GM_API_IDLE_SECONDS * 1000000)
#define NIDLE 20

static struct test_dir dir;
static struct gm_api *api;

static void setup(void)
{
	test_dir_make(&dir);
	api = test_server_start(&dir, NULL);
}

static void teardown(void)
{
	gm_api_destroy(api);
	test_dir_remove(&dir);
}

TestSuite(conns, .init = setup, .fini = teardown, .timeout = 60);

static const char half_request[] = "GET /api/v1/vmm.ping HTTP/1.1\r\nHost: localhost\r\n";

static int half_connection(void)
{
	int fd = test_connect(dir.sock);

	cr_assert_geq(fd, 0, "connect: %s", strerror(errno));
	cr_assert_eq(write(fd, half_request, sizeof(half_request) - 1), (ssize_t)sizeof(half_request) - 1);
	return fd;
}

/* True when the server closed fd (EOF or reset) within timeout_ms. */
static bool closed_within(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[256];

	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf));

	return n == 0 || (n < 0 && errno == ECONNRESET);
}

static int ping_status(void)
{
	struct curl_result r;
	int status;

	test_curl(&dir, "GET", "vmm.ping", NULL, 0, NULL, &r);
	status = r.status;
	curl_result_free(&r);
	return status;
}

Test(conns, half_sent_request_does_not_block_a_ping)
{
	int fd = half_connection();
	long long t0 = test_now_us();

	cr_assert_eq(ping_status(), 200);
	cr_assert_lt(test_now_us() - t0, IDLE_US / 2, "the ping waited for the idle connection");
	close(fd);
}

Test(conns, half_sent_request_is_closed_after_the_idle_timeout)
{
	int fd = half_connection();
	long long t0 = test_now_us();

	cr_assert(closed_within(fd, (GM_API_IDLE_SECONDS + 5) * 1000), "still open after the idle timeout");
	long long waited = test_now_us() - t0;

	cr_assert_geq(waited, IDLE_US - 1000000, "closed after %lld us, before the idle timeout", waited);
	close(fd);
}

/* Beyond the limit, a connection is closed at once rather than holding a thread. */
Test(conns, connections_over_the_limit_are_closed_at_accept)
{
	int fds[NIDLE], closed = 0;

	for (int i = 0; i < NIDLE; i++)
		fds[i] = half_connection();
	for (int i = 0; i < NIDLE; i++)
		closed += closed_within(fds[i], i < GM_API_MAX_CONNS ? 0 : 2000);
	cr_assert_eq(closed, NIDLE - GM_API_MAX_CONNS);
	for (int i = 0; i < NIDLE; i++)
		close(fds[i]);
}

/* Every slot held by a silent client: a ping gets through once they time out. */
Test(conns, ping_is_answered_despite_twenty_idle_connections)
{
	int fds[NIDLE], status = 0;
	long long t0;

	for (int i = 0; i < NIDLE; i++)
		fds[i] = half_connection();
	t0 = test_now_us();
	while (test_now_us() - t0 < IDLE_US + 8000000 && (status = ping_status()) != 200)
		usleep(200000);
	cr_assert_eq(status, 200, "no answer within the idle timeout");
	for (int i = 0; i < NIDLE; i++)
		close(fds[i]);
}

/* Idle keep-alive connections hold nothing up when the server stops. */
Test(conns, destroy_is_prompt_with_idle_connections)
{
	int fds[4];
	long long t0;

	for (int i = 0; i < 4; i++)
		fds[i] = half_connection();
	usleep(100000);
	t0 = test_now_us();
	gm_api_destroy(api);
	api = NULL;
	cr_assert_lt(test_now_us() - t0, 2000000, "destroy took %lld us", test_now_us() - t0);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

static const char put_headers[] = "PUT /api/v1/vm.pause HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n";

/* A connection whose request has begun (headers in, body awaited): it is in flight. */
static int request_in_flight(void)
{
	int fd = test_connect(dir.sock);

	cr_assert_geq(fd, 0, "connect: %s", strerror(errno));
	cr_assert_eq(write(fd, put_headers, sizeof(put_headers) - 1), (ssize_t)sizeof(put_headers) - 1);
	usleep(200000);
	return fd;
}

static void *destroy_thread(void *a)
{
	gm_api_destroy(a);
	return NULL;
}

/* What vm.shutdown needs: the owner's destroy lets the answer in flight out first. */
Test(conns, destroy_finishes_a_request_in_flight)
{
	int fd = request_in_flight();
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[512] = "";
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, destroy_thread, api), 0);
	api = NULL;
	usleep(300000);
	cr_assert_eq(write(fd, "{}", 2), 2);
	cr_assert_eq(poll(&p, 1, 3000), 1);
	cr_assert_gt(read(fd, buf, sizeof(buf) - 1), 0);
	cr_assert_eq(strncmp(buf, "HTTP/1.1 409", 12), 0, "got: %s", buf);
	pthread_join(t, NULL);
	close(fd);
}

/* A client that never finishes its request holds the owner up for about a second, no more. */
Test(conns, destroy_waits_a_bounded_time_for_a_stuck_request)
{
	int fd = request_in_flight();
	long long t0 = test_now_us(), waited;

	gm_api_destroy(api);
	api = NULL;
	waited = test_now_us() - t0;
	cr_assert_geq(waited, 800000, "destroy did not wait for the request (%lld us)", waited);
	cr_assert_lt(waited, 3000000, "destroy waited %lld us", waited);
	close(fd);
}
