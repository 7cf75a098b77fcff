/*
 * dev/console: where the guest's serial console goes and comes from.
 * Output: stdout, a file, nowhere, or a library user's sink.  Input: stdin,
 * forwarded by a thread when stdin is a terminal or a pipe, buffered until
 * the UART reads it.  The terminal's mode is the caller's business (gmvm's
 * CLI puts it in raw mode), not the library's.
 * A failed write is reported once through the user's log callback (the
 * library prints nothing) and the guest runs on without its output.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev/dev.h"
#include "util/escape.h"
#include "gmvm/thread.h"

#define INPUT_BUF 4096

struct gm_console_io {
	int out_fd;        /* -1: output dropped */
	bool own_out_fd;
	gm_console_out_fn sink;
	void *sink_opaque;
	void (*log)(void *opaque, const char *line);
	void *log_opaque;
	bool out_failed;   /* a write failed: reported once, output dropped since */
	char out_name[GM_ESCAPE_PATH]; /* "stdout" or the file, for that report */

	pthread_mutex_t lock;
	char in[INPUT_BUF];
	size_t in_head, in_len;
	bool input_started;
	pthread_t input_thread;
	int wake[2];       /* closing the console wakes the input thread */
	void (*notify)(void *opaque);
	void *notify_opaque;
};

/*
 * Open a console file for writing.  O_NONBLOCK so that a FIFO nobody reads
 * fails at once (ENXIO) instead of hanging gmvm in open() for ever; cleared
 * again afterwards, so a slow reader slows the guest as a blocking write
 * would rather than losing its output.
 */
static int open_file(struct gm_console_io *c, const char *path, struct gm_error *err)
{
	char q[GM_ESCAPE_PATH];
	struct stat st;
	int fd, e, fl;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0644);
	if (fd < 0) {
		e = errno;
		if (e == ENXIO && stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
			return gm_fail(err, GM_STATUS_BAD_INPUT, e,
				       "console FIFO %s has no reader; start the reader first or use file:PATH to a regular file",
				       gm_escape(path, q, sizeof(q)));
		return gm_fail(err, GM_STATUS_BAD_INPUT, e, "cannot open console file %s: %s; check the path and its directory",
			       gm_escape(path, q, sizeof(q)), strerror(e));
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		e = errno;
		close(fd);
		return gm_fail(err, GM_STATUS_FAILURE, e, "cannot make console file %s blocking: %s; use another file",
			       gm_escape(path, q, sizeof(q)), strerror(e));
	}
	c->out_fd = fd;
	c->own_out_fd = true;
	gm_escape(path, c->out_name, sizeof(c->out_name));
	return 0;
}

int gm_console_open(enum gm_console kind, const char *path, struct gm_console_io **out, struct gm_error *err)
{
	struct gm_console_io *c = calloc(1, sizeof(*c));

	if (!c)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the console");
	c->out_fd = -1;
	c->wake[0] = c->wake[1] = -1;
	snprintf(c->out_name, sizeof(c->out_name), "stdout");
	if (kind == GM_CONSOLE_STDIO) {
		c->out_fd = STDOUT_FILENO;
	} else if (kind == GM_CONSOLE_FILE) {
		int r = open_file(c, path ? path : "", err);

		if (r) {
			free(c);
			return r;
		}
	}
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

int gm_console_adopt(int fd, const char *path, struct gm_console_io **out, struct gm_error *err)
{
	struct gm_console_io *c;
	int r = gm_console_open(GM_CONSOLE_NONE, NULL, &c, err);

	if (r)
		return r;
	/* the file the old process opened (and truncated) once: written on at its offset */
	c->out_fd = fd;
	c->own_out_fd = true;
	gm_escape(path ? path : "the console file", c->out_name, sizeof(c->out_name));
	*out = c;
	return 0;
}

int gm_console_file_fd(const struct gm_console_io *c)
{
	return c && c->own_out_fd ? c->out_fd : -1;
}

void gm_console_set_sink(struct gm_console_io *c, gm_console_out_fn fn, void *opaque)
{
	c->sink = fn;
	c->sink_opaque = opaque;
}

void gm_console_set_log(struct gm_console_io *c, void (*log)(void *, const char *), void *opaque)
{
	c->log = log;
	c->log_opaque = opaque;
}

/*
 * The first failed write is told to the log; later ones are not (a full disk
 * would otherwise report every byte the guest prints).  vCPU threads may
 * race here: the exchange lets exactly one of them report.
 */
static void write_failed(struct gm_console_io *c, int e)
{
	char line[GM_ESCAPE_PATH + 160];

	if (__atomic_exchange_n(&c->out_failed, true, __ATOMIC_RELAXED))
		return;
	if (!c->log)
		return;
	snprintf(line, sizeof(line),
		 "console output to %s failed: %s; the guest runs on, its further output is dropped",
		 c->out_name, e ? strerror(e) : "nothing was written");
	c->log(c->log_opaque, line);
}

static bool wait_writable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int r;

	while ((r = poll(&p, 1, -1)) < 0 && errno == EINTR)
		;
	return r > 0;
}

void gm_console_write(struct gm_console_io *c, const char *buf, size_t len)
{
	if (c->sink) {
		c->sink(c->sink_opaque, buf, len);
		return;
	}
	if (__atomic_load_n(&c->out_failed, __ATOMIC_RELAXED))
		return;
	while (c->out_fd >= 0 && len) {
		ssize_t n = write(c->out_fd, buf, len);

		if (n < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			/* stdout left non-blocking by another program sharing it:
			 * wait as a blocking write would, rather than lose output */
			if ((e == EAGAIN || e == EWOULDBLOCK) && wait_writable(c->out_fd))
				continue;
			write_failed(c, e); /* a closed stdout or a full disk must not stop the guest */
			return;
		}
		if (n == 0) {
			write_failed(c, 0);
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

size_t gm_console_read(struct gm_console_io *c, char *buf, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	while (n < max && c->in_len) {
		buf[n++] = c->in[c->in_head];
		c->in_head = (c->in_head + 1) % INPUT_BUF;
		c->in_len--;
	}
	pthread_mutex_unlock(&c->lock);
	return n;
}

static void *input_main(void *arg)
{
	struct gm_console_io *c = arg;
	struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = c->wake[0], .events = POLLIN } };
	char buf[256];

	gm_thread_started(GM_THREAD_CONSOLE);
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break; /* end of input: the guest simply gets no more */
		pthread_mutex_lock(&c->lock);
		for (ssize_t i = 0; i < n && c->in_len < INPUT_BUF; i++) {
			c->in[(c->in_head + c->in_len) % INPUT_BUF] = buf[i];
			c->in_len++;
		}
		pthread_mutex_unlock(&c->lock);
		if (c->notify)
			c->notify(c->notify_opaque);
	}
	return NULL;
}

int gm_console_start_input(struct gm_console_io *c, void (*notify)(void *opaque), void *opaque,
			   struct gm_error *err)
{
	struct stat st;
	bool tty = isatty(STDIN_FILENO);

	/* Input belongs with output: a console sent to a file, nowhere or a
	 * library's sink leaves the process's stdin alone. */
	if (c->out_fd != STDOUT_FILENO || c->sink)
		return 0;
	if (fstat(STDIN_FILENO, &st) < 0 || !(tty || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		return 0; /* /dev/null, a file or nothing: no input to forward */
	c->notify = notify;
	c->notify_opaque = opaque;
	if (pipe2(c->wake, O_CLOEXEC) < 0)
		return gm_fail(err, GM_STATUS_FAILURE, errno, "cannot create the console wake-up pipe: %s", strerror(errno));
	int r = pthread_create(&c->input_thread, NULL, input_main, c);
	if (r)
		return gm_fail(err, GM_STATUS_FAILURE, r, "cannot start the console input thread: %s", strerror(r));
	c->input_started = true;
	return 0;
}

void gm_console_close(struct gm_console_io *c)
{
	if (!c)
		return;
	if (c->input_started) {
		if (write(c->wake[1], "x", 1) < 0) {
			/* the thread also ends at end of input */
		}
		pthread_join(c->input_thread, NULL);
	}
	for (int i = 0; i < 2; i++)
		if (c->wake[i] >= 0)
			close(c->wake[i]);
	if (c->own_out_fd)
		close(c->out_fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
