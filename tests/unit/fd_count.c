/* tests/unit/fd_count: see fd_count.h. */
#include <criterion/criterion.h>
#include <dirent.h>

#include "fd_count.h"

int test_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert_not_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}
