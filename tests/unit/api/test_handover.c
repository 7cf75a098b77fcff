/*
 * The API socket through a live update, without KVM: quiesced, the server
 * accepts no one but a client that connects waits in the backlog (it is
 * not refused); a second api adopting the same listening socket answers
 * that client; the first one, told the path is handed over, leaves the
 * path to the second at destroy.  An aborted update (unquiesce) serves
 * again on the same socket, and destroy after it leaks nothing.  The two
 * processes of a real update are two api objects of this one here.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "api_test.h"
#include "../fd_count.h"

static struct test_dir dir;

static void setup(void)
{
	test_dir_make(&dir);
}

static void teardown(void)
{
	test_dir_remove(&dir);
}

TestSuite(handover, .init = setup, .fini = teardown, .timeout = 60);

static const char ping_request[] = "GET /api/v1/vmm.ping HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/* A client that connected and sent a whole ping: it waits for an answer. */
static int waiting_client(void)
{
	int fd = test_connect(dir.sock);

	cr_assert_geq(fd, 0, "connect while quiesced: %s (a client must wait, not be refused)", strerror(errno));
	cr_assert_eq(write(fd, ping_request, sizeof(ping_request) - 1), (ssize_t)sizeof(ping_request) - 1);
	return fd;
}

/* True when fd has something to read (an answer, or the server closing it) within ms. */
static bool readable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* fd's client gets a 200 within 5 s; fd is closed. */
static void assert_answered(int fd)
{
	char buf[1024] = "";
	size_t got = 0;
	ssize_t n;

	cr_assert(readable_within(fd, 5000), "the waiting client got no answer");
	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	cr_assert_eq(strncmp(buf, "HTTP/1.1 200", 12), 0, "got: %s", buf);
	cr_assert_not_null(strstr(buf, "\r\n\r\n{"), "no JSON body: %s", buf);
}

static void assert_pinged(void)
{
	struct curl_result r;

	test_curl(&dir, "GET", "vmm.ping", NULL, 0, NULL, &r);
	cr_assert_eq(r.status, 200, "curl %d, status %d: %s", r.exit_code, r.status, r.body);
	curl_result_free(&r);
}

static bool path_is_socket(void)
{
	struct stat st;

	return lstat(dir.sock, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void quiesce(struct gm_api *api)
{
	struct gm_error err = { 0 };

	cr_assert_eq(gm_api_server_quiesce(api, &err), 0, "%s", err.msg);
}

Test(handover, the_listen_fd_and_its_path)
{
	struct gm_api *api = test_server_start(&dir, NULL), *det = NULL;
	struct gm_error err = { 0 };
	const char *path = NULL;
	int fd = gm_api_server_listen_fd(api, &path);

	cr_assert_geq(fd, 0);
	cr_assert_str_eq(path, dir.sock);
	/* a detached api (no socket) has nothing to hand over, and nothing to quiesce */
	cr_assert_eq(gm_api_new_detached(&det, &err), 0, "%s", err.msg);
	path = "unset";
	cr_assert_eq(gm_api_server_listen_fd(det, &path), -1);
	cr_assert_null(path);
	cr_assert_eq(gm_api_server_quiesce(det, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_api_server_unquiesce(det, &err), 0, "%s", err.msg);
	gm_api_destroy(det);
	gm_api_destroy(api);
}

Test(handover, a_client_waits_while_quiesced_and_the_adopter_answers_it)
{
	int before = test_open_fds();
	struct gm_api *old = test_server_start(&dir, NULL), *new = NULL;
	struct gm_error err = { 0 };
	const char *path = NULL;
	int lfd, fd;

	assert_pinged();
	quiesce(old);
	fd = waiting_client();
	cr_assert_not(readable_within(fd, 300), "a quiesced server answered or dropped the client");
	/* what the new process gets: its own fd on the same listening socket, and the path */
	lfd = gm_api_server_listen_fd(old, &path);
	cr_assert_geq(lfd, 0);
	cr_assert_eq(gm_api_adopt(fcntl(lfd, F_DUPFD_CLOEXEC, 0), path, NULL, NULL, &new, &err), 0, "%s", err.msg);
	cr_assert_not_null(new);
	assert_answered(fd);
	/* the update committed: the old process, still quiesced, lets the path be and exits */
	gm_api_destroy(old);
	cr_assert(path_is_socket(), "the old api removed the path it handed over");
	assert_pinged();
	/* the new one made no socket file, but it is the one at the path now: it removes it at the end */
	gm_api_destroy(new);
	cr_assert_not(path_is_socket(), "the adopter left the socket file behind");
	cr_assert_eq(test_open_fds(), before, "fds leaked");
}

Test(handover, an_adopter_leaves_a_path_someone_replaced)
{
	struct gm_api *old = test_server_start(&dir, NULL), *new = NULL, *third = NULL;
	struct gm_error err = { 0 };
	const char *path = NULL;
	int lfd;

	quiesce(old);
	lfd = gm_api_server_listen_fd(old, &path);
	cr_assert_eq(gm_api_adopt(fcntl(lfd, F_DUPFD_CLOEXEC, 0), path, NULL, NULL, &new, &err), 0, "%s", err.msg);
	gm_api_destroy(old);
	/* someone removed the path and another gmvm serves it now */
	cr_assert_eq(unlink(dir.sock), 0);
	third = test_server_start(&dir, NULL);
	gm_api_destroy(new);
	cr_assert(path_is_socket(), "the adopter removed a socket it did not make");
	assert_pinged();
	gm_api_destroy(third);
}

Test(handover, adopting_no_fd_is_refused)
{
	struct gm_error err = { 0 };
	struct gm_api *api = NULL;

	cr_assert_eq(gm_api_adopt(-1, dir.sock, NULL, NULL, &api, &err), -EBADF);
	cr_assert_null(api);
	cr_assert_not_null(strstr(err.msg, "no API socket was handed over"), "%s", err.msg);
}

Test(handover, unquiesce_serves_again_on_the_same_socket)
{
	struct gm_api *api = test_server_start(&dir, NULL);
	struct gm_error err = { 0 };
	int fd, lfd = gm_api_server_listen_fd(api, NULL);

	quiesce(api);
	fd = waiting_client();
	cr_assert_not(readable_within(fd, 300), "a quiesced server answered or dropped the client");
	/* the update aborted: the client that waited is answered, and the next ones */
	cr_assert_eq(gm_api_server_unquiesce(api, &err), 0, "%s", err.msg);
	assert_answered(fd);
	assert_pinged();
	cr_assert_eq(gm_api_server_listen_fd(api, NULL), lfd, "not the same listening socket");
	/* unquiesce of a server that is not quiesced changes nothing */
	cr_assert_eq(gm_api_server_unquiesce(api, &err), 0, "%s", err.msg);
	assert_pinged();
	gm_api_destroy(api);
}

Test(handover, destroy_after_quiesce_cycles_leaks_nothing_and_unlinks)
{
	int before = test_open_fds();
	struct gm_api *api = test_server_start(&dir, NULL);
	struct gm_error err = { 0 };

	for (int i = 0; i < 3; i++) {
		quiesce(api);
		cr_assert_eq(gm_api_server_unquiesce(api, &err), 0, "%s", err.msg);
		assert_pinged();
	}
	gm_api_destroy(api);
	cr_assert_not(path_is_socket(), "the socket file stayed after destroy");
	cr_assert_eq(test_open_fds(), before, "fds leaked");
}

Test(handover, destroy_while_quiesced_leaks_nothing_and_leaves_the_path)
{
	int before = test_open_fds();
	struct gm_api *api = test_server_start(&dir, NULL);
	int fd;

	quiesce(api);
	fd = waiting_client();
	/* quiesced, the socket may be a new process's already: the path stays */
	gm_api_destroy(api);
	cr_assert(path_is_socket(), "a quiesced server removed the path it may have handed over");
	/* the client in the backlog is let go, not left hanging */
	cr_assert(readable_within(fd, 2000), "the waiting client was left hanging");
	close(fd);
	cr_assert_eq(test_open_fds(), before, "fds leaked");
}

Test(handover, too_many_aborted_updates_are_refused_with_one_line)
{
	int before = test_open_fds();
	struct gm_api *api = test_server_start(&dir, NULL);
	struct gm_error err = { 0 };
	int r = 0, n;

	for (n = 0; n < 64 && r == 0; n++) {
		r = gm_api_server_quiesce(api, &err);
		if (r == 0)
			cr_assert_eq(gm_api_server_unquiesce(api, &err), 0, "%s", err.msg);
	}
	cr_assert_eq(r, -EMFILE, "quiesce %d times: %d %s", n, r, err.msg);
	cr_assert_gt(n, 1);
	cr_assert_not_null(strstr(err.msg, "migrate the VM, or snapshot and restore it, to update it"), "%s", err.msg);
	cr_assert_null(strchr(err.msg, '\n'));
	/* the refusal left the server serving */
	assert_pinged();
	gm_api_destroy(api);
	cr_assert_eq(test_open_fds(), before, "fds leaked");
}
