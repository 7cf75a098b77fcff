/*
 * dev/virtio/console: virtio-console (id 3) with one port and no
 * multiport: queue 0 receives (host -> guest), queue 1 transmits (guest ->
 * host).  Linux names it hvc0.  Output goes to the machine's console, the
 * same sink as the 8250's.
 *
 * Input: stdin has one reader.  With a virtio console on the machine, it
 * is the console's: the 8250 keeps printing (early boot messages) but reads
 * nothing (dev/serial.c), so typed bytes are never split between two
 * ttys.  Bytes taken from the console but not yet placed in a guest buffer
 * are kept here and saved with the device.  While the machine is held (a
 * snapshot, a migration's last round) input is not taken from the console
 * at all: it waits there until the hold ends, so the guest's buffers and
 * the state saved meanwhile do not change under the saver.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dev/virtio/virtio.h"
#include "util/le.h"

#define RX_Q 0
#define TX_Q 1
#define PENDING_MAX 256
#define CONFIG_LEN 12 /* cols, rows, max_nr_ports, emerg_wr: zeros, none offered */

struct vcon {
	pthread_mutex_t lock; /* the queues' work against a reset */
	struct gm_virtio *v;
	struct gm_console_io *con;
	bool running;         /* between activate and reset */
	bool held;            /* between quiesce and resume: guest memory is not ours to write */
	uint8_t pending[PENDING_MAX];
	size_t npending;
	struct gm_virtq_elem e;
};

/* With c->lock held: hand input to the guest while it has buffers for it. */
static void deliver_input(struct vcon *c)
{
	struct gm_virtq *q = gm_virtio_queue(c->v, RX_Q);
	bool pushed = false;

	if (!c->running || c->held)
		return;
	for (;;) {
		if (!c->npending && c->con)
			c->npending = gm_console_read(c->con, (char *)c->pending, sizeof(c->pending));
		if (!c->npending || gm_virtq_pop(q, &c->e) != 1)
			break;
		size_t n = gm_virtq_elem_write(&c->e, 0, c->pending, c->npending);

		gm_virtq_push(q, &c->e, (uint32_t)n);
		pushed = true;
		memmove(c->pending, c->pending + n, c->npending - n);
		c->npending -= n;
	}
	if (pushed)
		gm_virtq_notify(q);
}

/* With c->lock held: everything the guest wrote goes out, then its buffers back. */
static void drain_output(struct vcon *c)
{
	struct gm_virtq *q = gm_virtio_queue(c->v, TX_Q);
	bool pushed = false;

	while (gm_virtq_pop(q, &c->e) == 1) {
		for (unsigned i = 0; i < c->e.nout; i++)
			if (c->con)
				gm_console_write(c->con, (const char *)c->e.seg[i].hva, c->e.seg[i].len);
		gm_virtq_push(q, &c->e, 0);
		pushed = true;
	}
	if (pushed)
		gm_virtq_notify(q);
}

static void con_notify(void *dev, unsigned q)
{
	struct vcon *c = dev;

	pthread_mutex_lock(&c->lock);
	if (q == TX_Q)
		drain_output(c);
	else
		deliver_input(c); /* new receive buffers: input may be waiting for them */
	pthread_mutex_unlock(&c->lock);
}

/* The console's input thread: bytes arrived. */
static void con_input(void *opaque)
{
	struct vcon *c = opaque;

	pthread_mutex_lock(&c->lock);
	deliver_input(c);
	pthread_mutex_unlock(&c->lock);
}

static int con_activate(void *dev, uint64_t features)
{
	struct vcon *c = dev;

	(void)features;
	pthread_mutex_lock(&c->lock);
	c->running = true;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static void con_reset_dev(void *dev)
{
	struct vcon *c = dev;

	pthread_mutex_lock(&c->lock);
	c->running = false; /* pending input stays: it is the user's, not the driver's */
	pthread_mutex_unlock(&c->lock);
}

static void con_config_read(void *dev, uint32_t off, uint8_t *out, unsigned len)
{
	(void)dev;
	(void)off;
	memset(out, 0, len);
}

static const struct gm_virtio_ops con_ops = {
	.name = "virtio-console",
	.device_id = GM_VIRTIO_ID_CONSOLE,
	.nqueues = 2,
	.queue_max = 128,
	.config_len = CONFIG_LEN,
	.config_read = con_config_read,
	.activate = con_activate,
	.notify = con_notify,
	.reset = con_reset_dev,
};

static unsigned instances(const struct gm_config *cfg)
{
	return cfg->virtio_console;
}

static void destroy(void *dev)
{
	struct vcon *c = dev;

	if (!c)
		return;
	gm_virtio_free(c->v);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static int create(const struct gm_dev_ctx *ctx, void **dev, struct gm_error *err)
{
	struct vcon *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for virtio-console");
	pthread_mutex_init(&c->lock, NULL);
	c->con = ctx->console;
	r = gm_virtio_new(ctx, &con_ops, c, &c->v, err);
	if (r) {
		destroy(c);
		return r;
	}
	*dev = c;
	return 0;
}

/* stdin is taken only when the vCPUs start, as the 8250 does when it has it. */
static int start(void *dev, struct gm_error *err)
{
	struct vcon *c = dev;

	return c->con ? gm_console_start_input(c->con, con_input, c, err) : 0;
}

/* The machine is held: input arriving from now on stays in the console. */
static void quiesce(void *dev)
{
	struct vcon *c = dev;

	pthread_mutex_lock(&c->lock);
	c->held = true; /* an input thread inside deliver_input has left it: we have the lock */
	pthread_mutex_unlock(&c->lock);
}

/* The hold ended: what arrived meanwhile goes to the guest as if it came now. */
static void resume(void *dev)
{
	struct vcon *c = dev;

	pthread_mutex_lock(&c->lock);
	c->held = false;
	deliver_input(c);
	pthread_mutex_unlock(&c->lock);
}

static void reset(void *dev)
{
	gm_virtio_reset(((struct vcon *)dev)->v);
}

/* The transport's state, then u16 bytes of input pending and those bytes. */
static size_t save(void *dev, uint8_t *out, size_t max)
{
	struct vcon *c = dev;
	size_t n = gm_virtio_save(c->v, out, max);

	if (!n)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (max - n < 2 + c->npending) {
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	gm_put_le16(out + n, (uint16_t)c->npending);
	memcpy(out + n + 2, c->pending, c->npending);
	n += 2 + c->npending;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static int load(void *dev, const uint8_t *data, size_t len, uint32_t version, struct gm_error *err)
{
	struct vcon *c = dev;
	size_t tlen = len >= 2 ? gm_le16(data) : 0, npending;
	int r;

	if (version != 1)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "virtio-console state is of version %u; this gmvm reads version 1", version);
	if (!tlen || tlen > len || len - tlen < 2 || (npending = gm_le16(data + tlen)) > PENDING_MAX ||
	    len - tlen - 2 != npending)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "virtio-console state of %zu bytes does not hold what it says; the state is corrupt", len);
	r = gm_virtio_load(c->v, data, tlen, NULL, err);
	if (r)
		return r;
	pthread_mutex_lock(&c->lock);
	memcpy(c->pending, data + tlen + 2, npending);
	c->npending = npending;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

const struct gm_device_type gm_dev_virtio_console = {
	.name = "virtio-console",
	.state_version = 1,
	.writes_guest = true,
	.instances = instances,
	.create = create,
	.start = start,
	.quiesce = quiesce,
	.resume = resume,
	.reset = reset,
	.save = save,
	.load = load,
	.destroy = destroy,
};
