/* tests/integration/virtio_disk: see virtio_disk.h. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio_disk.h"
#include "../../guests/vblk_pattern.h"

void disk_make(const char *path, uint64_t bytes)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	cr_assert_geq(fd, 0, "cannot make %s", path);
	cr_assert_eq(ftruncate(fd, (off_t)bytes), 0);
	close(fd);
}

static void read_sector(int fd, uint64_t sector, uint8_t *buf)
{
	cr_assert_eq(pread(fd, buf, 512, (off_t)(sector * 512)), 512, "sector %llu of the disk is missing",
		     (unsigned long long)sector);
}

uint32_t disk_checksum(const char *path, uint64_t start, uint64_t count)
{
	int fd = open(path, O_RDONLY);
	uint8_t buf[512];
	uint32_t h = VBLK_FNV_START;

	cr_assert_geq(fd, 0, "cannot open %s", path);
	for (uint64_t s = start; s < start + count; s++) {
		read_sector(fd, s, buf);
		h = vblk_fnv(h, buf, 512);
	}
	close(fd);
	return h;
}

void disk_expect_text(const char *path, const char *console, uint64_t seed, uint64_t start, uint64_t count)
{
	int fd = open(path, O_RDONLY);
	uint64_t want[64], got[64];

	cr_assert_geq(fd, 0, "cannot open %s", path);
	for (uint64_t s = start; s < start + count; s++) {
		read_sector(fd, s, (uint8_t *)got);
		vblk_fill(want, seed, s);
		cr_assert(!memcmp(got, want, 512), "sector %llu of the disk file does not hold seed %llu's pattern",
			  (unsigned long long)s, (unsigned long long)seed);
	}
	close(fd);

	const char *p = NULL, *q = console;
	while ((q = strstr(q, "vblk: checksum=")))
		p = q++;
	cr_assert_not_null(p, "no checksum line in:\n%s", console);
	unsigned long guest = strtoul(p + strlen("vblk: checksum="), NULL, 16);
	cr_assert_eq(guest, disk_checksum(path, start, count), "the guest's checksum is not the file's");
}

void disk_expect(const char *path, const struct run_result *r, uint64_t seed, uint64_t start, uint64_t count)
{
	disk_expect_text(path, r->out, seed, start, count);
}

void disk_expect_zero(const char *path, uint64_t start, uint64_t count)
{
	int fd = open(path, O_RDONLY);
	uint8_t buf[512], zero[512] = { 0 };

	cr_assert_geq(fd, 0, "cannot open %s", path);
	for (uint64_t s = start; s < start + count; s++) {
		read_sector(fd, s, buf);
		cr_assert(!memcmp(buf, zero, 512), "sector %llu was written", (unsigned long long)s);
	}
	close(fd);
}
