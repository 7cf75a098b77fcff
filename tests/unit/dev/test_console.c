/*
 * The console's output side: a FIFO without a reader is refused at once
 * instead of hanging open(), a FIFO with one is written blocking, a failed
 * write is reported once through the log callback, and a path with control
 * bytes is quoted escaped.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dev/dev.h"

static char dir[64];
static char fifo[128];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/gm-console-XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(fifo, sizeof(fifo), "%s/out.fifo", dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo: %s", strerror(errno));
}

static void remove_dir(void)
{
	unlink(fifo);
	rmdir(dir);
}

TestSuite(console, .init = make_dir, .fini = remove_dir, .timeout = 10);

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

Test(console, fifo_without_reader_fails_at_once)
{
	struct gm_console_io *c = NULL;
	struct gm_error err = { 0 };
	char want[256];
	double t0 = now();
	int r = gm_console_open(GM_CONSOLE_FILE, fifo, &c, &err);

	cr_assert_lt(now() - t0, 1.0, "gm_console_open took %.1f s", now() - t0);
	cr_assert_eq(r, -ENXIO, "rc %d (%s)", r, err.msg);
	cr_assert_null(c);
	cr_assert_eq(err.status, GM_STATUS_BAD_INPUT);
	snprintf(want, sizeof(want),
		 "console FIFO %s has no reader; start the reader first or use file:PATH to a regular file",
		 fifo);
	cr_assert_str_eq(err.msg, want);
}

/* The O_NONBLOCK used to open the fd, read from /proc/self/fdinfo of the fd open on path. */
static bool fd_nonblocking(const char *path)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	bool found = false, nonblock = false;

	cr_assert_not_null(d);
	while (!found && (de = readdir(d))) {
		char link[300], target[PATH_MAX], info[300], line[128];
		ssize_t n;
		FILE *f;

		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, path) != 0)
			continue;
		snprintf(info, sizeof(info), "/proc/self/fdinfo/%s", de->d_name);
		f = fopen(info, "r");
		cr_assert_not_null(f);
		while (fgets(line, sizeof(line), f)) {
			unsigned long flags;

			if (sscanf(line, "flags: %lo", &flags) == 1) {
				/* The reader opened O_RDONLY; ours is the writer. */
				if ((flags & O_ACCMODE) != O_WRONLY)
					break;
				found = true;
				nonblock = flags & O_NONBLOCK;
			}
		}
		fclose(f);
	}
	closedir(d);
	cr_assert(found, "no writer fd open on %s", path);
	return nonblock;
}

Test(console, fifo_with_reader_is_written_blocking)
{
	struct gm_console_io *c = NULL;
	struct gm_error err = { 0 };
	int rd = open(fifo, O_RDONLY | O_NONBLOCK);
	char buf[16] = { 0 };

	cr_assert_geq(rd, 0, "open reader: %s", strerror(errno));
	cr_assert_eq(gm_console_open(GM_CONSOLE_FILE, fifo, &c, &err), 0, "%s", err.msg);
	cr_assert_not(fd_nonblocking(fifo), "the console fd was left O_NONBLOCK");
	gm_console_write(c, "hello", 5);
	cr_assert_eq(read(rd, buf, sizeof(buf)), 5);
	cr_assert_str_eq(buf, "hello");
	gm_console_close(c);
	close(rd);
}

struct log_rec {
	int count;
	char first[512];
};

static void record(void *opaque, const char *line)
{
	struct log_rec *r = opaque;

	if (r->count++ == 0)
		snprintf(r->first, sizeof(r->first), "%s", line);
}

Test(console, write_error_reported_once)
{
	struct gm_console_io *c = NULL;
	struct gm_error err = { 0 };
	struct log_rec rec = { 0 };

	if (access("/dev/full", W_OK) != 0)
		cr_skip_test("no writable /dev/full here");
	cr_assert_eq(gm_console_open(GM_CONSOLE_FILE, "/dev/full", &c, &err), 0, "%s", err.msg);
	gm_console_set_log(c, record, &rec);
	for (int i = 0; i < 5; i++)
		gm_console_write(c, "guest output\n", 13);
	gm_console_close(c);
	cr_assert_eq(rec.count, 1, "log called %d times", rec.count);
	cr_assert_str_eq(rec.first, "console output to /dev/full failed: No space left on device; "
		"the guest runs on, its further output is dropped");
}

Test(console, write_error_without_log_is_silent)
{
	struct gm_console_io *c = NULL;
	struct gm_error err = { 0 };

	if (access("/dev/full", W_OK) != 0)
		cr_skip_test("no writable /dev/full here");
	cr_assert_eq(gm_console_open(GM_CONSOLE_FILE, "/dev/full", &c, &err), 0, "%s", err.msg);
	gm_console_write(c, "x", 1); /* must neither crash nor stop */
	gm_console_write(c, "y", 1);
	gm_console_close(c);
}

Test(console, closed_pipe_does_not_stop_the_guest)
{
	struct gm_console_io *c = NULL;
	struct gm_error err = { 0 };
	struct log_rec rec = { 0 };
	int rd = open(fifo, O_RDONLY | O_NONBLOCK);

	cr_assert_geq(rd, 0);
	cr_assert_eq(gm_console_open(GM_CONSOLE_FILE, fifo, &c, &err), 0, "%s", err.msg);
	gm_console_set_log(c, record, &rec);
	close(rd);
	signal(SIGPIPE, SIG_IGN); /* as gmvm does: EPIPE, not death */
	gm_console_write(c, "a", 1);
	gm_console_write(c, "b", 1);
	gm_console_close(c);
	cr_assert_eq(rec.count, 1);
	cr_assert(strstr(rec.first, "Broken pipe; the guest runs on"), "%s", rec.first);
}

Test(console, path_with_control_bytes_is_escaped)
{
	struct gm_console_io *c = NULL;
	struct gm_error err = { 0 };
	char path[128];

	snprintf(path, sizeof(path), "%s/missing/\x1b[31m\n", dir);
	cr_assert_lt(gm_console_open(GM_CONSOLE_FILE, path, &c, &err), 0);
	cr_assert_null(strchr(err.msg, '\n'), "raw newline in: %s", err.msg);
	cr_assert_null(strchr(err.msg, '\x1b'), "raw ESC in: %s", err.msg);
	cr_assert(strstr(err.msg, "/missing/\\x1b[31m\\n: No such file or directory; check the path"),
		  "%s", err.msg);
}
