/*
 * A snapshot is untrusted input: a foreign, truncated, corrupted,
 * newer-version or incomplete state file is refused with exit 2 and one
 * line naming what is wrong and where, before any VM exists.  No KVM is
 * needed: on a host without it these still end in 2, not in 3.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "state/stream.h"

#define RAM (UINT64_C(64) << 20)

static const char *header =
	"{\"gmvm_version\":\"0.1.0\",\"uuid\":\"6f1c2a3e-0d4b-4c8e-9a7f-2b5d1e3c4a6f\","
	"\"config\":{\"cpus\":1,\"cmdline\":\"\",\"memory\":{\"size\":67108864,\"backend\":\"memfd\","
	"\"hugepages\":\"4K\",\"prealloc\":false}},\"snapshot\":{\"id\":\"00000000-0000-4000-8000-000000000001\","
	"\"type\":\"full\"}}";

/* A snapshot directory whose state stream is well formed, with one section, then end. */
static char *make_snapshot(const char *tag, void (*spoil)(const char *state))
{
	char *dir = NULL, path[512];
	struct gm_stream_out *w = NULL;
	struct gm_error err = { 0 };

	cr_assert(asprintf(&dir, "/tmp/gmvm-refuse-%s-%d", tag, (int)getpid()) > 0);
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/ram.mem", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0 && ftruncate(fd, (off_t)RAM) == 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/state", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(gm_stream_out_open(fd, &w, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_stream_out_header(w, header, strlen(header), &err), 0, "%s", err.msg);
	cr_assert_eq(gm_stream_out_section(w, GM_SECTION_CLOCK, 0, 1, "\1\2\3\4\5\6\7\10\0\0\0\0", 12, false, &err), 0);
	cr_assert_eq(gm_stream_out_end(w, &err), 0, "%s", err.msg);
	gm_stream_out_free(w);
	close(fd);
	if (spoil)
		spoil(path);
	return dir;
}

static void expect_refusal(const char *dir, const char *want)
{
	struct run_result r;

	run_gmvm(&r, 30, "run", "--restore", dir, NULL);
	cr_assert_eq(r.status, 2, "status %d, stderr:\n%s", r.status, r.err);
	cr_assert(strstr(r.err, want), "expected '%s' in:\n%s", want, r.err);
	cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "not one line:\n%s", r.err);
	run_result_free(&r);
}

static void patch(const char *path, long off, const void *bytes, size_t n)
{
	int fd = open(path, O_RDWR);
	cr_assert(fd >= 0 && pwrite(fd, bytes, n, off) == (ssize_t)n);
	close(fd);
}

static void foreign(const char *path)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	cr_assert(fd >= 0 && write(fd, "#!/bin/sh\necho not a snapshot\n", 30) == 30);
	close(fd);
}

static void truncated(const char *path)
{
	struct stat st;
	cr_assert(stat(path, &st) == 0 && truncate(path, st.st_size - 20) == 0);
}

static void corrupted(const char *path)
{
	struct stat st;
	cr_assert(stat(path, &st) == 0);
	/* the clock section's payload sits just before the 32-byte END header */
	patch(path, st.st_size - 32 - 6, "\xff", 1);
}

static void newer_version(const char *path)
{
	patch(path, 8, "\x02\0\0\0", 4);
}

Test(restore_refusals, foreign_file)
{
	expect_refusal(make_snapshot("foreign", foreign), "state stream");
}

Test(restore_refusals, truncated_stream)
{
	expect_refusal(make_snapshot("truncated", truncated), "byte");
}

Test(restore_refusals, corrupted_section)
{
	expect_refusal(make_snapshot("corrupted", corrupted), "CLOCK");
}

Test(restore_refusals, newer_format_version)
{
	expect_refusal(make_snapshot("version", newer_version), "version");
}

Test(restore_refusals, stream_without_the_machine)
{
	expect_refusal(make_snapshot("incomplete", NULL), "no VCPU section 0");
}

Test(restore_refusals, missing_directory)
{
	expect_refusal("/nonexistent/snapshot", "/nonexistent/snapshot");
}
