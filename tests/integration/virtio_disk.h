/*
 * tests/integration/virtio_disk: disk files for the virtio-blk tests and
 * the checks of what the vblk guest left in them (guests/vblk_pattern.h).
 */
#ifndef GM_TEST_VIRTIO_DISK_H
#define GM_TEST_VIRTIO_DISK_H

#include <stdint.h>

#include "harness.h"

/* A file of bytes zeros at path (made or truncated). */
void disk_make(const char *path, uint64_t bytes);
/* FNV-1a (vblk_pattern.h) of count sectors from start of the file. */
uint32_t disk_checksum(const char *path, uint64_t start, uint64_t count);
/*
 * The sectors [start, start+count) hold seed's pattern, and the guest's
 * last "vblk: checksum=" line in r's output agrees with the file's.
 */
void disk_expect(const char *path, const struct run_result *r, uint64_t seed, uint64_t start, uint64_t count);
/* The same from a console text rather than a run_result. */
void disk_expect_text(const char *path, const char *console, uint64_t seed, uint64_t start, uint64_t count);
/* The sectors are all zero. */
void disk_expect_zero(const char *path, uint64_t start, uint64_t count);

#endif
