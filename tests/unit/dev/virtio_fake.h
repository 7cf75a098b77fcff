/*
 * A fake machine for the virtio core's tests and fuzz target: guest memory
 * that is a heap or mmap'd buffer (with PROT_NONE guard pages around it, so
 * any access outside it crashes), a real I/O bus and resource allocator,
 * and a host that records interrupts, dirty marks, log lines and the
 * command line.  Plus a tiny driver that speaks the MMIO registers.
 */
#ifndef GM_TEST_VIRTIO_FAKE_H
#define GM_TEST_VIRTIO_FAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "dev/virtio/virtio.h"

#define FAKE_BASE UINT64_C(0xd0000000) /* the first window the allocator hands out */

struct fake {
	uint8_t *mem;          /* guest-physical 0 .. size */
	uint64_t size;
	bool guarded;          /* mem sits between PROT_NONE pages (fake_new), else malloc'd */
	struct gm_iobus *bus;
	struct gm_resources *res;
	struct gm_dev_ctx ctx;
	bool line;             /* the interrupt line as last driven */
	unsigned raises;       /* times it went high */
	unsigned nlog;
	char last_log[512];
	char cmdline[512];
	uint64_t written_lo, written_hi; /* the span of dirty marks */
	unsigned nwritten;
};

/* size bytes of guest memory (a multiple of 4096) between guard pages. */
struct fake *fake_new(uint64_t size);
/* Over an existing buffer (the fuzz target's malloc'd one: ASan watches it). */
struct fake *fake_over(uint8_t *mem, uint64_t size);
void fake_free(struct fake *f);

uint32_t fake_rd(struct fake *f, uint64_t base, unsigned off);
void fake_wr(struct fake *f, uint64_t base, unsigned off, uint32_t val);

/* The driver's side of a queue laid out at desc/avail/used in guest memory. */
struct fake_q {
	struct fake *f;
	uint64_t base;         /* the device's window */
	unsigned index;
	uint16_t num;
	uint64_t desc, avail, used;
	uint16_t avail_idx;    /* the next avail ring entry the driver fills */
};

/* Reset, ACK, DRIVER, features (accept & offered), FEATURES_OK; returns the status read back. */
uint32_t fake_negotiate(struct fake *f, uint64_t base, uint64_t accept);
/* Set up queue index with num entries at desc/avail/used (zeroed), QueueReady 1. */
void fake_queue(struct fake *f, uint64_t base, struct fake_q *q, unsigned index, uint16_t num, uint64_t desc,
		uint64_t avail, uint64_t used);
void fake_desc(struct fake *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
	       uint16_t next);
/* Put head in the avail ring and publish it (no kick). */
void fake_avail(struct fake_q *q, uint16_t head);
void fake_kick(struct fake_q *q);
uint16_t fake_used_idx(const struct fake_q *q);
void fake_used_elem(const struct fake_q *q, unsigned slot, uint32_t *id, uint32_t *len);

#endif
