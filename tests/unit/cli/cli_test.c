/* tests/unit/cli/cli_test: see cli_test.h. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_test.h"

char dir[64], real[PATH_MAX], sock[128];
struct gm_api *api;

void make_dir(void)
{
	strcpy(dir, "/tmp/gmvm-cli-XXXXXX");
	cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	cr_assert(realpath(dir, real), "realpath: %s", strerror(errno));
	snprintf(sock, sizeof(sock), "%s/api.sock", dir);
}

void remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

void start_server(void)
{
	struct gm_error err = { 0 };

	make_dir();
	cr_assert_eq(gm_api_create(sock, NULL, &api, &err), 0, "gm_api_create: %s", err.msg);
}

void stop_server(void)
{
	gm_api_destroy(api);
	api = NULL;
	remove_dir();
}
