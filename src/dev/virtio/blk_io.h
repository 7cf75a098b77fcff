/*
 * dev/virtio/blk_io: the block device's I/O engine.  Requests are queued
 * on the caller's thread (a vCPU's, in a virtqueue notify) and completed on
 * the engine's own thread, which calls done for each.  Two engines do the
 * same: io_uring (liburing) with a completion thread, and a worker thread
 * with preadv/pwritev/fdatasync where io_uring cannot be set up (seccomp,
 * old kernels, io_uring disabled by sysctl).  The choice is made by a probe
 * at create; GMVM_BLK_ENGINE=thread|uring forces one (for measurements).
 */
#ifndef GM_DEV_VIRTIO_BLK_IO_H
#define GM_DEV_VIRTIO_BLK_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "gmvm/error.h"

enum gm_blk_op {
	GM_BLK_READ,
	GM_BLK_WRITE,
	GM_BLK_FLUSH,
};

enum gm_blk_engine {
	GM_BLK_ENGINE_AUTO,   /* io_uring when it works, else the thread */
	GM_BLK_ENGINE_URING,
	GM_BLK_ENGINE_THREAD,
};

/*
 * One request, owned by the caller until done runs for it.  iov points at
 * host memory that must stay valid until then (guest buffers: the caller
 * keeps the machine from being paused past done, see quiesce in blk.c).
 */
struct gm_blk_req {
	enum gm_blk_op op;
	uint64_t off;             /* bytes into the file */
	const struct iovec *iov;
	unsigned niov;
	uint64_t len;             /* sum of iov lengths: anything else is an error */
	struct gm_blk_req *next;  /* the engine's */
};

/* res: 0 when the whole request was done, else a negative errno (-EIO for a short transfer). */
typedef void (*gm_blk_done_fn)(void *opaque, struct gm_blk_req *req, int res);

struct gm_blk_io;

/*
 * An engine over fd for at most depth requests in flight at once.  which:
 * AUTO probes io_uring and falls back to the thread.  Errors name who (the
 * disk) in err.
 */
int gm_blk_io_new(int fd, unsigned depth, enum gm_blk_engine which, gm_blk_done_fn done, void *opaque,
		  const char *who, struct gm_blk_io **out, struct gm_error *err);
/* Stop the thread after every queued request is done; then free. */
void gm_blk_io_free(struct gm_blk_io *io);

/* "io_uring" or "thread". */
const char *gm_blk_io_engine_name(const struct gm_blk_io *io);

/*
 * Queue req; it starts at the latest at gm_blk_io_kick.  Never fails: at
 * most depth requests may be queued and not done (the caller counts).
 */
void gm_blk_io_queue(struct gm_blk_io *io, struct gm_blk_req *req);
/* Start what was queued (one io_uring_submit for a batch). */
void gm_blk_io_kick(struct gm_blk_io *io);

/*
 * Open d's file (O_RDONLY for readonly, O_DIRECT for direct) into *fd and
 * its size in bytes into *bytes: a regular file or a block device whose
 * size is a multiple of 512.  Every refusal is GM_STATUS_BAD_INPUT with
 * one line naming the --disk and the fix.
 */
struct gm_disk_config;
int gm_blk_disk_open(const struct gm_disk_config *d, int *fd, uint64_t *bytes, struct gm_error *err);

/* GMVM_BLK_ENGINE from the environment: AUTO unless "uring" or "thread". */
enum gm_blk_engine gm_blk_engine_from_env(void);

#endif
