/*
 * bench/spawn: run one command and measure it from outside.  The child is
 * traced so that it stops at PTRACE_EVENT_EXIT, when its memory still
 * exists: VmHWM and smaps are read there.  wait4's ru_maxrss would not do:
 * it also counts what the forked child had before exec (the bench's own
 * pages).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawn.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int spawn_output_fd(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];

	if (!dir || !*dir)
		dir = "/tmp";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	/* a file system without O_TMPFILE: create, then unlink at once */
	snprintf(path, sizeof(path), "%s/gmvm-bench-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

/* Reads a whole file into a NUL-terminated malloc'd buffer, NULL on failure. */
static char *slurp(int fd, size_t cap, size_t *len)
{
	size_t size = 65536, n = 0;
	char *buf = malloc(size + 1);

	while (buf) {
		if (n == size) {
			if (size >= cap)
				break;
			size = size * 2 < cap ? size * 2 : cap;
			char *bigger = realloc(buf, size + 1);

			if (!bigger) {
				free(buf);
				return NULL;
			}
			buf = bigger;
		}
		ssize_t got = read(fd, buf + n, size - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
	}
	if (buf) {
		buf[n] = '\0';
		if (len)
			*len = n;
	}
	return buf;
}

static char *slurp_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	char *text = slurp(fd, 64u << 20, NULL);

	close(fd);
	return text;
}

uint64_t spawn_smaps_guest_rss(const char *smaps, uint64_t guest_bytes, int *vmas)
{
	uint64_t kib = 0;
	int count = 0;
	bool in_guest = false;

	for (const char *line = smaps; line && *line;) {
		unsigned long start, end;
		char perms[8];
		unsigned long long v;

		if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3 && strlen(perms) == 4) {
			/* a mapping's header line; its fields follow */
			in_guest = guest_bytes && perms[3] == 's' && end - start == guest_bytes;
			count += in_guest;
		} else if (in_guest && sscanf(line, "Rss: %llu kB", &v) == 1) {
			kib += v;
		}
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	if (vmas)
		*vmas = count;
	return kib;
}

/* At the exit stop: the memory figures, while the mm still exists. */
static void read_exit_memory(pid_t pid, uint64_t guest_bytes, struct spawn_result *r)
{
	char path[64];
	char *text;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	text = slurp_path(path);
	const char *hwm = text ? strstr(text, "\nVmHWM:") : NULL;
	unsigned long long v;

	if (hwm && sscanf(hwm + 1, "VmHWM: %llu kB", &v) == 1)
		r->hwm_kib = v;
	free(text);
	if (!guest_bytes)
		return;
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	text = slurp_path(path);
	if (text)
		r->guest_rss_kib = spawn_smaps_guest_rss(text, guest_bytes, &r->guest_vmas);
	free(text);
}

static void __attribute__((noreturn)) child(char *const argv[], int out)
{
	int in = open("/dev/null", O_RDONLY);

	if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(126);
	if (in > 2)
		close(in);
	/* LeakSanitizer cannot run in a traced process and would fail the run;
	 * this only matters for sanitized builds, which ignore nothing else here */
	char asan[1024];
	const char *prev = getenv("ASAN_OPTIONS");

	snprintf(asan, sizeof(asan), "%s%sdetect_leaks=0", prev ? prev : "", prev && *prev ? ":" : "");
	setenv("ASAN_OPTIONS", asan, 1);
	/* stop until the parent has set its options and started the clock */
	if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0 || raise(SIGSTOP) != 0)
		_exit(126);
	execvp(argv[0], argv);
	dprintf(2, "spawn: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Waits for pid, retrying on EINTR. */
static int wait_for(pid_t pid, int *st)
{
	pid_t w;

	do
		w = waitpid(pid, st, 0);
	while (w < 0 && errno == EINTR);
	return w == pid ? 0 : -1;
}

static int trace_to_end(pid_t pid, uint64_t guest_bytes, struct spawn_result *r, char *err, size_t errlen)
{
	int st;
	uint64_t t0, t_exit = 0, t_resume = 0;

	if (wait_for(pid, &st) < 0 || !WIFSTOPPED(st)) {
		snprintf(err, errlen, "the child did not stop before exec (%s); is ptrace allowed here?", strerror(errno));
		return -1;
	}
	long opts = PTRACE_O_TRACEEXIT | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;

	if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)opts) < 0) {
		snprintf(err, errlen, "PTRACE_SETOPTIONS failed: %s; run on a kernel with ptrace enabled", strerror(errno));
		kill(pid, SIGKILL);
		wait_for(pid, &st);
		return -1;
	}
	t0 = now_ns();
	ptrace(PTRACE_CONT, pid, NULL, NULL);
	for (;;) {
		if (wait_for(pid, &st) < 0) {
			snprintf(err, errlen, "lost the child: waitpid: %s", strerror(errno));
			return -1;
		}
		if (WIFEXITED(st) || WIFSIGNALED(st))
			break;
		if (!WIFSTOPPED(st))
			continue;
		int sig = WSTOPSIG(st), event = st >> 16;
		siginfo_t si;

		if (sig == SIGTRAP && event == PTRACE_EVENT_EXIT) {
			t_exit = now_ns();
			read_exit_memory(pid, guest_bytes, r);
			t_resume = now_ns();
			sig = 0;
		} else if (sig == SIGTRAP && event) {
			sig = 0; /* the exec event */
		} else if (ptrace(PTRACE_GETSIGINFO, pid, NULL, &si) < 0) {
			sig = 0; /* a group stop, not a signal to deliver */
		}
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
	}
	uint64_t t_end = now_ns();

	r->wall_ns = t_exit ? (t_exit - t0) + (t_end - t_resume) : t_end - t0;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return 0;
}

int spawn_run(char *const argv[], uint64_t guest_bytes, struct spawn_result *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	int out = spawn_output_fd();

	if (out < 0) {
		snprintf(err, errlen, "cannot create a temporary file for the output: %s; set TMPDIR to a writable directory",
			 strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t pid = fork();

	if (pid < 0) {
		snprintf(err, errlen, "fork failed: %s", strerror(errno));
		close(out);
		return -1;
	}
	if (pid == 0)
		child(argv, out);
	int rc = trace_to_end(pid, guest_bytes, r, err, errlen);

	if (rc == 0 && lseek(out, 0, SEEK_SET) == 0)
		r->output = slurp(out, SPAWN_OUTPUT_CAP, &r->output_len);
	close(out);
	if (rc == 0 && !r->output) {
		snprintf(err, errlen, "cannot read the command's output back: %s", strerror(errno));
		return -1;
	}
	return rc;
}

void spawn_result_free(struct spawn_result *r)
{
	free(r->output);
	r->output = NULL;
	r->output_len = 0;
}

/* True when a line of text starts with prefix (a guest's console, a VMM's output). */
bool bench_has_line_starting(const char *text, const char *prefix)
{
	size_t plen = strlen(prefix);

	for (const char *line = text; line && *line;) {
		if (!strncmp(line, prefix, plen))
			return true;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return false;
}
