/*
 * The API socket's file: what may already be at the path, and that
 * gm_api_destroy removes only what it made.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

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

TestSuite(socket, .init = setup, .fini = teardown, .timeout = 30);

/* A socket bound at path; listening or not. */
static int bound_socket(const char *path, bool listening)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path));
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind: %s", strerror(errno));
	if (listening)
		cr_assert_eq(listen(fd, 1), 0);
	return fd;
}

static void assert_pinged(void)
{
	struct curl_result r;

	test_curl(&dir, "GET", "vmm.ping", NULL, 0, NULL, &r);
	cr_assert_eq(r.status, 200, "curl %d, status %d", r.exit_code, r.status);
	curl_result_free(&r);
}

Test(socket, stale_socket_is_replaced)
{
	struct gm_api *api;

	/* what a crashed gmvm leaves behind: bound, closed, never unlinked */
	close(bound_socket(dir.sock, true));
	api = test_server_start(&dir, NULL);
	assert_pinged();
	gm_api_destroy(api);
}

Test(socket, live_socket_is_refused)
{
	struct gm_error err = { 0 };
	struct gm_api *api = NULL;
	int fd = bound_socket(dir.sock, true);

	cr_assert_eq(gm_api_create(dir.sock, NULL, &api, &err), -EADDRINUSE);
	cr_assert_null(api);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert_not_null(strstr(err.msg, dir.sock), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, "choose another API socket path"), "%s", err.msg);
	/* and it is left alone: the other process still serves it */
	cr_assert_geq(test_connect(dir.sock), 0);
	close(fd);
}

Test(socket, regular_file_is_refused_and_kept)
{
	struct gm_error err = { 0 };
	struct gm_api *api = NULL;
	struct stat st;
	int fd = open(dir.sock, O_CREAT | O_WRONLY, 0644);

	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(gm_api_create(dir.sock, NULL, &api, &err), -EEXIST);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert_not_null(strstr(err.msg, "is not a socket; remove it"), "%s", err.msg);
	cr_assert_eq(lstat(dir.sock, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
}

Test(socket, destroy_removes_the_socket)
{
	struct gm_api *api = test_server_start(&dir, NULL);
	struct stat st;

	cr_assert_eq(lstat(dir.sock, &st), 0);
	gm_api_destroy(api);
	cr_assert_eq(lstat(dir.sock, &st), -1);
	cr_assert_eq(errno, ENOENT);
}

/* Someone replaced the path meanwhile (a second gmvm): not ours to remove. */
Test(socket, destroy_leaves_a_replaced_path_alone)
{
	struct gm_api *api = test_server_start(&dir, NULL);
	struct stat st;
	int fd;

	cr_assert_eq(unlink(dir.sock), 0);
	fd = bound_socket(dir.sock, true);
	gm_api_destroy(api);
	cr_assert_eq(lstat(dir.sock, &st), 0);
	close(fd);
}

Test(socket, no_temporary_file_is_left_behind)
{
	struct gm_api *api = test_server_start(&dir, NULL);
	char listing[256] = "";
	FILE *p;

	char cmd[128];

	snprintf(cmd, sizeof(cmd), "ls -A %s", dir.path);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(listing, sizeof(listing), p));
	pclose(p);
	cr_assert_str_eq(listing, "api.sock\n");
	gm_api_destroy(api);
}

Test(socket, too_long_path_is_refused)
{
	char path[200];
	struct gm_error err = { 0 };
	struct gm_api *api = NULL;

	snprintf(path, sizeof(path), "%s/%0120d", dir.path, 0);
	cr_assert_eq(gm_api_create(path, NULL, &api, &err), -ENAMETOOLONG);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	cr_assert_not_null(strstr(err.msg, "choose a shorter path"), "%s", err.msg);
}

Test(socket, missing_directory_is_refused)
{
	char path[200];
	struct gm_error err = { 0 };
	struct gm_api *api = NULL;

	test_dir_file(&dir, "no/such/api.sock", path, sizeof(path));
	cr_assert_eq(gm_api_create(path, NULL, &api, &err), -ENOENT);
	cr_assert_not_null(strstr(err.msg, "directory exists"), "%s", err.msg);
}

/* The listening socket comes back from MHD on quiesce: it is ours to close. */
Test(socket, destroy_closes_every_descriptor)
{
	int before = test_open_fds();
	struct gm_api *api = test_server_start(&dir, NULL);

	assert_pinged();
	gm_api_destroy(api);
	cr_assert_eq(test_open_fds(), before);
}
