/*
 * bench/background: a VMM running in the background while the bench talks
 * to it.  Polling (1 ms steps) keeps this simple: the waits here are for
 * start-up and shutdown, never inside a measured interval.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "background.h"
#include "spawn.h"

#define POLL_US BG_POLL_US

double bg_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void __attribute__((noreturn)) child(char *const argv[], int out, int pass_fd, int as_fd, pid_t parent)
{
	int in = open("/dev/null", O_RDONLY);

	/* a bench stopped by Ctrl-C or a crash must not leave guests spinning */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(126);
	if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(126);
	if (in > 2 && in != as_fd)
		close(in);
	/* dup2 leaves the new descriptor open across exec; the same number needs its flag cleared */
	if (pass_fd >= 0 && (pass_fd == as_fd ? fcntl(as_fd, F_SETFD, 0) : dup2(pass_fd, as_fd)) < 0)
		_exit(126);
	execvp(argv[0], argv);
	dprintf(2, "background: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int bg_start(struct bg_proc *p, char *const argv[], char *err, size_t errlen)
{
	return bg_start_fd(p, argv, -1, -1, err, errlen);
}

int bg_start_fd(struct bg_proc *p, char *const argv[], int pass_fd, int as_fd, char *err, size_t errlen)
{
	pid_t parent = getpid();

	p->pid = 0;
	p->status = -1;
	p->out = spawn_output_fd();
	if (p->out < 0) {
		snprintf(err, errlen, "cannot create a temporary file for the output: %s; set TMPDIR to a writable directory",
			 strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();

	if (pid < 0) {
		snprintf(err, errlen, "fork failed: %s", strerror(errno));
		close(p->out);
		p->out = -1;
		return -1;
	}
	if (pid == 0)
		child(argv, p->out, pass_fd, as_fd, parent);
	p->pid = pid;
	return 0;
}

char *bg_output(const struct bg_proc *p)
{
	size_t size = 65536, n = 0;
	char *buf = malloc(size + 1);

	while (buf && p->out >= 0) {
		if (n == size) {
			if (size >= SPAWN_OUTPUT_CAP)
				break;
			char *bigger = realloc(buf, size * 2 + 1);

			if (!bigger) {
				free(buf);
				return NULL;
			}
			buf = bigger;
			size *= 2;
		}
		ssize_t got = pread(p->out, buf + n, size - n, (off_t)n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	if (buf)
		buf[n] = '\0';
	return buf;
}

static void set_status(struct bg_proc *p, int st)
{
	p->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	p->pid = 0;
}

bool bg_alive(struct bg_proc *p)
{
	int st;

	if (!p->pid)
		return false;
	pid_t w = waitpid(p->pid, &st, WNOHANG);

	if (w == p->pid && (WIFEXITED(st) || WIFSIGNALED(st)))
		set_status(p, st);
	else if (w < 0 && errno == ECHILD)
		p->pid = 0;
	return p->pid != 0;
}

static void ended(const struct bg_proc *p, const char *waiting_for, char *err, size_t errlen)
{
	snprintf(err, errlen, "it ended (exit status %d) before %s", p->status, waiting_for);
}

int bg_wait_line(struct bg_proc *p, const char *prefix, int timeout_ms, char *err, size_t errlen)
{
	double deadline = bg_now_us() + timeout_ms * 1e3;

	for (;;) {
		bool alive = bg_alive(p); /* before reading: a line printed just before exit still counts */
		char *out = bg_output(p);
		bool found = out && bench_has_line_starting(out, prefix);

		free(out);
		if (found)
			return 0;
		if (!alive) {
			char what[160];

			snprintf(what, sizeof(what), "printing a line starting '%s'", prefix);
			ended(p, what, err, errlen);
			return -1;
		}
		if (bg_now_us() > deadline) {
			snprintf(err, errlen, "no line starting '%s' in its output after %d ms", prefix, timeout_ms);
			return -1;
		}
		usleep(POLL_US);
	}
}

int bg_connect_unix(struct bg_proc *p, const char *path, int poll_us, int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	double deadline = bg_now_us() + timeout_ms * 1e3;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path %s is too long for a UNIX socket; set TMPDIR to a shorter directory",
			 path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			snprintf(err, errlen, "socket(AF_UNIX): %s", strerror(errno));
			return -1;
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		int e = errno;

		close(fd);
		if (e != ENOENT && e != ECONNREFUSED && e != EAGAIN) {
			snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(e));
			return -1;
		}
		if (!bg_alive(p)) {
			char what[160];

			snprintf(what, sizeof(what), "listening on %s", path);
			ended(p, what, err, errlen);
			return -1;
		}
		if (bg_now_us() > deadline) {
			snprintf(err, errlen, "nothing listens on %s after %d ms (%s)", path, timeout_ms, strerror(e));
			return -1;
		}
		usleep((useconds_t)poll_us);
	}
}

int bg_connect_unix_notified(struct bg_proc *p, const char *path, int timeout_ms, char *err, size_t errlen)
{
	char dir[4096];
	struct stat st;
	size_t n = strlen(path);
	int in = n < sizeof(dir) ? inotify_init1(IN_CLOEXEC | IN_NONBLOCK) : -1;

	if (in >= 0)
		memcpy(dir, path, n + 1);
	if (in < 0 || inotify_add_watch(in, dirname(dir), IN_CREATE | IN_MOVED_TO) < 0) {
		/* no inotify here: look every millisecond instead */
		if (in >= 0)
			close(in);
		return bg_connect_unix(p, path, POLL_US, timeout_ms, err, errlen);
	}
	double deadline = bg_now_us() + timeout_ms * 1e3;
	int fd;

	for (;;) {
		char ev[4096];
		int left_ms = (int)((deadline - bg_now_us()) / 1e3);

		if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			/* bound, and listening at once or within microseconds: a few quick tries */
			fd = bg_connect_unix(p, path, 100, left_ms > 0 ? left_ms : 0, err, errlen);
			break;
		}
		if (!bg_alive(p) || left_ms <= 0) {
			fd = bg_connect_unix(p, path, POLL_US, 0, err, errlen);
			break;
		}
		struct pollfd pfd = { .fd = in, .events = POLLIN };

		/* woken by the directory, or every 50 ms to see whether the process has ended */
		if (poll(&pfd, 1, left_ms < 50 ? left_ms + 1 : 50) > 0)
			while (read(in, ev, sizeof(ev)) > 0)
				;
	}
	close(in);
	return fd;
}

static void kill_and_reap(struct bg_proc *p)
{
	int st;

	if (p->pid) {
		kill(p->pid, SIGKILL);
		pid_t w;

		do
			w = waitpid(p->pid, &st, 0);
		while (w < 0 && errno == EINTR);
		if (w == p->pid)
			set_status(p, st);
		p->pid = 0;
	}
}

int bg_wait_end(struct bg_proc *p, int timeout_ms)
{
	double deadline = bg_now_us() + timeout_ms * 1e3;

	while (bg_alive(p)) {
		if (bg_now_us() > deadline) {
			kill_and_reap(p);
			return -1;
		}
		usleep(POLL_US);
	}
	return 0;
}

void bg_stop(struct bg_proc *p)
{
	kill_and_reap(p);
	if (p->out >= 0)
		close(p->out);
	p->out = -1;
}

bool bg_kvm_unusable(char *why, size_t len)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return false;
	}
	snprintf(why, len, "/dev/kvm cannot be opened (%s), so neither gmvm nor QEMU -accel kvm can run a guest here; "
		 "run on a KVM host", strerror(errno));
	return true;
}
