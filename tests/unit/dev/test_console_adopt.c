/*
 * dev/console: a live update's new process adopts the console file the old
 * one opened: its output continues where the old one's stopped (the same
 * open file, so the same offset), nothing is truncated, and a failed write
 * names the path.  gm_console_file_fd gives the fd to hand over, -1 where
 * there is no file.  No KVM.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev/dev.h"
#include "../fd_count.h"

static char dir[64], path[128];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/gm-console-adopt-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/console.log", dir);
}

static void remove_dir(void)
{
	unlink(path);
	rmdir(dir);
}

TestSuite(console_adopt, .init = make_dir, .fini = remove_dir, .timeout = 10);

static void assert_file_is(const char *want)
{
	char buf[256] = "";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert_geq(n, 0);
	cr_assert_str_eq(buf, want);
}

static void say(struct gm_console_io *c, const char *s)
{
	gm_console_write(c, s, strlen(s));
}

/* What machine.c does with the fd HELLO brought: its own duplicate, adopted. */
static struct gm_console_io *adopt_dup(int fd, const char *name)
{
	struct gm_console_io *c = NULL;
	struct gm_error err = { 0 };
	int mine = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	cr_assert_geq(mine, 0);
	cr_assert_eq(gm_console_adopt(mine, name, &c, &err), 0, "%s", err.msg);
	cr_assert_not_null(c);
	cr_assert_eq(gm_console_file_fd(c), mine);
	return c;
}

Test(console_adopt, output_continues_in_the_same_file)
{
	struct gm_console_io *old = NULL, *new;
	struct gm_error err = { 0 };
	int before = test_open_fds();

	cr_assert_eq(gm_console_open(GM_CONSOLE_FILE, path, &old, &err), 0, "%s", err.msg);
	say(old, "boot\nold process\n");
	cr_assert_geq(gm_console_file_fd(old), 0);
	new = adopt_dup(gm_console_file_fd(old), path);
	say(new, "new process\n");
	/* the old process exits; the new one goes on writing */
	gm_console_close(old);
	say(new, "still here\n");
	assert_file_is("boot\nold process\nnew process\nstill here\n");
	gm_console_close(new);
	cr_assert_eq(test_open_fds(), before, "fds leaked");
}

Test(console_adopt, writes_at_the_current_offset_without_truncating)
{
	struct gm_console_io *c;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "0123456789", 10), 10);
	cr_assert_eq(lseek(fd, 4, SEEK_SET), 4);
	c = adopt_dup(fd, path);
	assert_file_is("0123456789");
	say(c, "XY");
	assert_file_is("0123XY6789");
	/* the offset is shared with the old process's fd, as it is across processes */
	cr_assert_eq(lseek(fd, 0, SEEK_CUR), 6);
	close(fd);
	gm_console_close(c);
}

static char logged[512];

static void log_line(void *opaque, const char *line)
{
	(void)opaque;
	snprintf(logged, sizeof(logged), "%s", line);
}

Test(console_adopt, a_failed_write_names_the_file)
{
	struct gm_console_io *c;
	int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);

	/* an fd that cannot be written: the report names the path given */
	cr_assert_geq(fd, 0);
	c = adopt_dup(fd, path);
	close(fd);
	logged[0] = '\0';
	gm_console_set_log(c, log_line, NULL);
	say(c, "lost");
	cr_assert_not_null(strstr(logged, path), "no path in: '%s'", logged);
	cr_assert_not_null(strstr(logged, "the guest runs on"), "%s", logged);
	gm_console_close(c);
}

Test(console_adopt, without_a_path_the_report_still_says_what)
{
	struct gm_console_io *c;
	int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);

	cr_assert_geq(fd, 0);
	c = adopt_dup(fd, NULL);
	close(fd);
	logged[0] = '\0';
	gm_console_set_log(c, log_line, NULL);
	say(c, "lost");
	cr_assert_not_null(strstr(logged, "console output to the console file failed"), "%s", logged);
	gm_console_close(c);
}

Test(console_adopt, only_a_file_console_has_an_fd_to_hand_over)
{
	struct gm_console_io *c = NULL;
	struct gm_error err = { 0 };

	cr_assert_eq(gm_console_file_fd(NULL), -1);
	cr_assert_eq(gm_console_open(GM_CONSOLE_STDIO, NULL, &c, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_console_file_fd(c), -1, "stdout is not a file to hand over");
	gm_console_close(c);
	cr_assert_eq(gm_console_open(GM_CONSOLE_NONE, NULL, &c, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_console_file_fd(c), -1);
	gm_console_close(c);
	cr_assert_eq(gm_console_open(GM_CONSOLE_FILE, path, &c, &err), 0, "%s", err.msg);
	cr_assert_geq(gm_console_file_fd(c), 3);
	gm_console_close(c);
}
