/* tests/integration/harness: see harness.h. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

char *guest_path(const char *name)
{
	char *p = NULL;

	cr_assert(asprintf(&p, "%s/%s.elf", env_or("GMVM_GUESTS", "build/guests"), name) > 0);
	cr_assert(access(p, R_OK) == 0, "guest %s not built: %s", name, p);
	return p;
}

void require_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		cr_skip_test("no usable /dev/kvm (%s): KVM tests need a KVM host", strerror(errno));
	close(fd);
}

void test_caps(struct gm_caps *caps)
{
	struct gm_error err = { 0 };

	require_kvm();
	cr_assert_eq(gm_caps_probe(caps, GM_PROBE_FAST, &err), 0, "%s", err.msg);
}

void require_guest_memfd(void)
{
	const uint64_t needed = GM_GMEM_FLAG_MMAP | GM_GMEM_FLAG_INIT_SHARED;
	struct gm_caps caps;

	test_caps(&caps);
	if (!caps.guest_memfd)
		cr_skip_test("this kernel has no guest_memfd (KVM_CAP_GUEST_MEMFD is 0); the test needs backend=guest-memfd");
	if ((caps.gmem_flags & needed) != needed)
		cr_skip_test("this kernel's guest_memfd cannot be mapped by the host (flags 0x%" PRIx64
			     ", needs mmap and init-shared: Linux 6.18 or later); the test needs backend=guest-memfd",
			     caps.gmem_flags);
	if (!caps.user_memory2)
		cr_skip_test("this KVM has no KVM_CAP_USER_MEMORY2; the test needs backend=guest-memfd");
}

void require_host_ram(uint64_t bytes)
{
	struct gm_caps caps;

	test_caps(&caps);
	if (caps.host_ram < bytes)
		cr_skip_test("this machine has %" PRIu64 "M of RAM and the test needs %" PRIu64 "M",
			     caps.host_ram >> 20, bytes >> 20);
}

size_t count_substr(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct sink {
	char *buf;
	size_t len, cap;
};

static bool drain(int fd, struct sink *s)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n <= 0)
		return n < 0 && errno == EINTR;
	if (s->len + (size_t)n + 1 > s->cap) {
		s->cap = (s->len + (size_t)n + 1) * 2;
		s->buf = realloc(s->buf, s->cap);
		cr_assert(s->buf);
	}
	memcpy(s->buf + s->len, tmp, (size_t)n);
	s->len += (size_t)n;
	s->buf[s->len] = '\0';
	return true;
}

const char *test_memory(const char *spec)
{
	const char *backend = getenv("GMVM_TEST_BACKEND");
	static __thread char buf[4][256];
	static __thread int next;

	if (!backend || !*backend || strstr(spec, "backend="))
		return spec;
	char *out = buf[next++ % 4];
	snprintf(out, sizeof(buf[0]), "%s,backend=%s", spec, backend);
	return out;
}

void run_gmvm_argv(struct run_result *r, double limit, const char *const *args)
{
	int out[2], err[2];
	const char *bin = env_or("GMVM_BIN", "build/gmvm");
	const char *argv[66];
	size_t n = 0;
	bool is_run = args[0] && strcmp(args[0], "run") == 0, memory_given = false;

	for (size_t i = 1; is_run && args[i]; i++)
		memory_given |= !strcmp(args[i], "--memory") || !strcmp(args[i], "-m");
	argv[n++] = bin;
	for (size_t i = 0; args[i] && n < 62; i++) {
		bool memory_value = is_run && i > 1 && (!strcmp(args[i - 1], "--memory") || !strcmp(args[i - 1], "-m"));
		argv[n++] = memory_value ? test_memory(args[i]) : args[i];
		/* gmvm's default 256M, on the test backend when one is set */
		if (i == 0 && is_run && !memory_given && strcmp(test_memory("256M"), "256M")) {
			argv[n++] = "--memory";
			argv[n++] = test_memory("256M");
		}
	}
	argv[n] = NULL;
	cr_assert(pipe2(out, O_CLOEXEC) == 0 && pipe2(err, O_CLOEXEC) == 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	struct sink so = { 0 }, se = { 0 };
	struct pollfd p[2] = { { out[0], POLLIN, 0 }, { err[0], POLLIN, 0 } };
	bool open_out = true, open_err = true, killed = false;
	double end = now() + limit;
	while (open_out || open_err) {
		int left_ms = (int)((end - now()) * 1000);
		if (left_ms <= 0 && !killed) {
			kill(pid, SIGKILL);
			killed = true;
		}
		p[0].fd = open_out ? out[0] : -1;
		p[1].fd = open_err ? err[0] : -1;
		if (poll(p, 2, killed ? 1000 : left_ms) <= 0)
			continue;
		if (p[0].revents && !drain(out[0], &so))
			open_out = false;
		if (p[1].revents && !drain(err[0], &se))
			open_err = false;
	}
	close(out[0]);
	close(err[0]);
	int ws;
	while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
		;
	r->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
	r->out = so.buf ? so.buf : strdup("");
	r->err = se.buf ? se.buf : strdup("");
	cr_assert(!killed, "gmvm did not end within %g s; stdout:\n%s\nstderr:\n%s", limit, r->out, r->err);
}

void run_gmvm(struct run_result *r, double limit, const char *arg, ...)
{
	const char *argv[64];
	size_t n = 0;
	va_list ap;

	va_start(ap, arg);
	for (const char *a = arg; a && n < 63; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	run_gmvm_argv(r, limit, argv);
}

void run_guest(struct run_result *r, double limit, const char *guest, ...)
{
	const char *argv[64];
	size_t n = 0;
	va_list ap;

	require_kvm();
	argv[n++] = "run";
	va_start(ap, guest);
	for (const char *a = va_arg(ap, const char *); a && n < 62; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	char *path = guest_path(guest);
	argv[n++] = path;
	argv[n] = NULL;
	run_gmvm_argv(r, limit, argv);
	free(path);
}

void expect_run(const struct run_result *r, int status, const char *want)
{
	cr_assert_eq(r->status, status, "status %d, expected %d\nstdout:\n%s\nstderr:\n%s", r->status, status,
		     r->out, r->err);
	cr_assert(strstr(r->out, want), "expected '%s' in stdout:\n%s\nstderr:\n%s", want, r->out, r->err);
}

void run_result_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
}

char *test_scratch(const char *tag, const char *name)
{
	static char base[64];
	char *p = NULL;

	if (!base[0]) {
		snprintf(base, sizeof(base), "/tmp/gmvm-%s-XXXXXX", tag);
		cr_assert(mkdtemp(base));
		char run[96];
		snprintf(run, sizeof(run), "%s/run", base);
		setenv("GMVM_RUN_DIR", run, 1);
	}
	cr_assert(asprintf(&p, "%s/%s", base, name) > 0);
	return p;
}

long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

bool write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	bool ok = f && fprintf(f, "%ld\n", v) > 0;

	if (f && fclose(f) != 0)
		ok = false;
	return ok;
}

#define HUGETLB_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/"
#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"

/* The pool's size before hugetlb_2m raised it; -1: left alone. */
static long saved_nr_hugepages = -1;

void lock_hugetlb(void)
{
	static int fd = -1;

	/* flock is per open file: a second open of the same process would wait on itself */
	if (fd >= 0)
		return;
	fd = open("/tmp/gmvm-test-hugetlb.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	cr_assert_geq(fd, 0);
	cr_assert_eq(flock(fd, LOCK_EX), 0);
}

bool hugetlb_2m(long pages, char *why, size_t len)
{
	lock_hugetlb();
	long nr = read_long(HUGETLB_2M "nr_hugepages"), free_now = read_long(HUGETLB_2M "free_hugepages");

	if (nr < 0) {
		snprintf(why, len, "this kernel has no 2M hugetlb pool (%s)", HUGETLB_2M);
		return false;
	}
	if (free_now >= pages)
		return true;
	if (geteuid() != 0) {
		snprintf(why, len, "the 2M hugetlb pool has %ld free pages, the test needs %ld: as root it sets %s itself",
			 free_now, pages, NR_HUGEPAGES);
		return false;
	}
	if (saved_nr_hugepages < 0)
		saved_nr_hugepages = read_long(NR_HUGEPAGES);
	write_long(NR_HUGEPAGES, nr + (pages - free_now));
	free_now = read_long(HUGETLB_2M "free_hugepages");
	if (free_now < pages) {
		snprintf(why, len, "the 2M hugetlb pool could grow to only %ld free pages of the %ld needed (memory fragmented?)",
			 free_now, pages);
		return false;
	}
	return true;
}

void hugetlb_2m_restore(void)
{
	if (saved_nr_hugepages >= 0 && !write_long(NR_HUGEPAGES, saved_nr_hugepages))
		fprintf(stderr, "cannot restore %s to %ld\n", NR_HUGEPAGES, saved_nr_hugepages);
	saved_nr_hugepages = -1;
}

void expect_error_line(const struct run_result *r, int status, const char *want)
{
	cr_assert_eq(r->status, status, "status %d, expected %d\nstdout:\n%s\nstderr:\n%s", r->status, status,
		     r->out, r->err);
	cr_assert_eq(strncmp(r->err, "gmvm: ", 6), 0, "stderr:\n%s", r->err);
	cr_assert_eq(count_substr(r->err, "\n"), 1, "not one line:\n%s", r->err);
	cr_assert(strstr(r->err, want), "expected '%s' in stderr:\n%s", want, r->err);
	cr_assert_str_empty(r->out);
}

/* Copy the NULL-terminated list into argv from n on; the new count. */
static size_t add_args(const char **argv, size_t n, size_t cap, const char *const *list)
{
	for (; *list; list++) {
		cr_assert_lt(n, cap - 1, "more than %zu arguments for gmvm", cap - 1);
		argv[n++] = *list;
	}
	return n;
}

void expect_usage_error(const char *const *head, const char *const *args, const char *want)
{
	const char *argv[64];
	struct run_result r;
	size_t n = add_args(argv, 0, 64, head);

	argv[add_args(argv, n, 64, args)] = NULL;
	run_gmvm_argv(&r, 30, argv);
	expect_error_line(&r, 2, want);
	run_result_free(&r);
}
