/*
 * dev/console: where the guest's serial console goes and comes from.
 * Output: stdout, a file, nowhere, or a library user's sink.  Input: stdin,
 * forwarded by a thread when stdin is a terminal (put in non-canonical mode,
 * restored on close) or a pipe, buffered until the UART reads it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "dev/dev.h"

#define INPUT_BUF 4096

struct gm_console_io {
	int out_fd;        /* -1: output dropped */
	bool own_out_fd;
	gm_console_out_fn sink;
	void *sink_opaque;

	pthread_mutex_t lock;
	char in[INPUT_BUF];
	size_t in_head, in_len;
	bool input_started;
	pthread_t input_thread;
	int wake[2];       /* closing the console wakes the input thread */
	void (*notify)(void *opaque);
	void *notify_opaque;
	bool tty_saved;
	struct termios saved_tio;
};

int gm_console_open(enum gm_console kind, const char *path, struct gm_console_io **out, struct gm_error *err)
{
	struct gm_console_io *c = calloc(1, sizeof(*c));

	if (!c)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the console");
	c->out_fd = -1;
	c->wake[0] = c->wake[1] = -1;
	pthread_mutex_init(&c->lock, NULL);
	if (kind == GM_CONSOLE_STDIO) {
		c->out_fd = STDOUT_FILENO;
	} else if (kind == GM_CONSOLE_FILE) {
		c->out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (c->out_fd < 0) {
			int e = errno;
			free(c);
			return gm_fail(err, GM_STATUS_BAD_INPUT, e, "cannot open console file %s: %s; check the path and its directory",
				       path, strerror(e));
		}
		c->own_out_fd = true;
	}
	*out = c;
	return 0;
}

void gm_console_set_sink(struct gm_console_io *c, gm_console_out_fn fn, void *opaque)
{
	c->sink = fn;
	c->sink_opaque = opaque;
}

void gm_console_write(struct gm_console_io *c, const char *buf, size_t len)
{
	if (c->sink) {
		c->sink(c->sink_opaque, buf, len);
		return;
	}
	while (c->out_fd >= 0 && len) {
		ssize_t n = write(c->out_fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* a closed stdout must not stop the guest */
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
	if (tty && tcgetattr(STDIN_FILENO, &c->saved_tio) == 0) {
		/* Characters go to the guest as typed; Ctrl-C still stops gmvm. */
		struct termios raw = c->saved_tio;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_iflag &= ~(tcflag_t)ICRNL;
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
			c->tty_saved = true;
	}
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
	if (c->tty_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &c->saved_tio);
	for (int i = 0; i < 2; i++)
		if (c->wake[i] >= 0)
			close(c->wake[i]);
	if (c->own_out_fd)
		close(c->out_fd);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
