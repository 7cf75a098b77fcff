/*
 * host-touch: the host baseline of the memory fault-in benchmark.  A plain
 * process first-touches fresh anonymous memory with exactly the memtest
 * guest's work (guests/memtest_pattern.h) and prints the guest's lines:
 *
 *   memtest: start pages=N
 *   memtest: ok pages=N checksum=0x<16 hex> MB/s=N
 *   memtest: FAIL at 0x<addr> expected 0x<16 hex> got 0x<16 hex>   (exit 16)
 *
 * No MAP_POPULATE, no madvise: the kernel's default first-touch path is the
 * limit a VMM's guest memory can reach on this machine.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../guests/memtest_pattern.h"

#define EXIT_MISMATCH 16

static const char usage[] = "usage: host-touch [--size SIZE]   (SIZE: bytes, or with K, M, G; default 1G)\n";

/* "1G", "64M", "4096": a whole number of 4 KiB pages, 0 when invalid */
static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t shift = 0;

	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);

	if (errno || end == s || *s == '-')
		return 0;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	}
	if (*end || v == 0 || v > (UINT64_C(1) << 44) >> shift)
		return 0;
	v <<= shift;
	return v % 4096 ? 0 : v;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint64_t bytes = UINT64_C(1) << 30;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc) {
			bytes = parse_size(argv[++i]);
			if (!bytes) {
				fprintf(stderr, "host-touch: bad size '%s'; give a whole number of 4 KiB pages, e.g. 1G or 64M\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "host-touch: unknown argument '%s'; %s", argv[i], usage);
			return 2;
		}
	}

	void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED) {
		fprintf(stderr, "host-touch: cannot map %" PRIu64 " bytes: %s; use a smaller --size\n", bytes, strerror(errno));
		return 1;
	}
	uint64_t start = (uint64_t)(uintptr_t)mem, end = start + bytes;

	printf("memtest: start pages=%" PRIu64 "\n", bytes / 4096);
	fflush(stdout);

	double t0 = now_s();
	uint64_t sum = fill(start, end, 0);

	__asm__ volatile("" ::: "memory");
	uint64_t bad = check(start, end);

	if (bad) {
		printf("memtest: FAIL at 0x%" PRIx64 " expected 0x%016" PRIx64 " got 0x%016" PRIx64 "\n", bad, pattern(bad),
		       *(volatile uint64_t *)(uintptr_t)bad);
		return EXIT_MISMATCH;
	}
	double secs = now_s() - t0;

	/* as the guest: RAM written once and read once, per second of both passes */
	uint64_t mbs = secs > 0 ? (uint64_t)((double)bytes / secs / 1e6) : 0;

	printf("memtest: ok pages=%" PRIu64 " checksum=0x%016" PRIx64 " MB/s=%" PRIu64 "\n", bytes / 4096, sum, mbs);
	return 0;
}
