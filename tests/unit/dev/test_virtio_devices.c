/*
 * virtio-console end to end over fake guest memory (virtio_fake.c): output
 * to the machine's console, input from stdin into the guest's buffers and
 * kept across a save, held back while the machine is held; and the transport's interrupt line on our real
 * IOAPIC with the pin edge- or level-triggered, as Linux handles it.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "virtio_fake.h"
#include "util/le.h"

#define MEM   (UINT64_C(1) << 20)
#define DESC  0x1000
#define AVAIL 0x2000
#define USED  0x3000
#define BUF   0x10000

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8

static struct fake *f;
static void *dev;
static const struct gm_device_type *type;

static void setup(void)
{
	f = fake_new(MEM);
	dev = NULL;
	type = NULL;
}

static void teardown(void)
{
	if (type && dev)
		type->destroy(dev);
	fake_free(f);
}

TestSuite(virtio_devices, .init = setup, .fini = teardown);

static void make(const struct gm_device_type *t)
{
	struct gm_error err = { 0 };

	type = t;
	cr_assert_eq(t->create(&f->ctx, &dev, &err), 0, "%s", err.msg);
}

static void start_rng(struct fake_q *q, uint64_t features)
{
	make(&gm_dev_virtio_rng);
	cr_assert(fake_negotiate(f, FAKE_BASE, GM_VIRTIO_F_VERSION_1 | features) & S_FEATURES_OK);
	fake_queue(f, FAKE_BASE, q, 0, 16, DESC, AVAIL, USED);
	fake_wr(f, FAKE_BASE, 0x70, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

/* virtio-console ---------------------------------------------------------- */

static char out_buf[256];
static size_t out_len;

static void sink(void *opaque, const char *buf, size_t len)
{
	(void)opaque;
	memcpy(out_buf + out_len, buf, len);
	out_len += len;
}

static void start_console(struct gm_console_io *con, struct fake_q *rx, struct fake_q *tx)
{
	f->ctx.console = con;
	make(&gm_dev_virtio_console);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x08), GM_VIRTIO_ID_CONSOLE);
	fake_wr(f, FAKE_BASE, 0x14, 0);
	cr_assert_eq(fake_rd(f, FAKE_BASE, 0x10) & 0xffffff, 0, "no size, no multiport");
	cr_assert(fake_negotiate(f, FAKE_BASE, GM_VIRTIO_F_VERSION_1) & S_FEATURES_OK);
	fake_queue(f, FAKE_BASE, rx, 0, 8, DESC, AVAIL, USED);
	fake_queue(f, FAKE_BASE, tx, 1, 8, DESC + 0x800, AVAIL + 0x800, USED + 0x800);
	fake_wr(f, FAKE_BASE, 0x70, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

Test(virtio_devices, console_output_reaches_the_console)
{
	struct gm_console_io *con;
	struct gm_error err = { 0 };
	struct fake_q rx, tx;
	uint32_t id, len;

	cr_assert_eq(gm_console_open(GM_CONSOLE_NONE, NULL, &con, &err), 0);
	gm_console_set_sink(con, sink, NULL);
	out_len = 0;
	start_console(con, &rx, &tx);
	memcpy(f->mem + BUF, "hello ", 6);
	memcpy(f->mem + BUF + 0x100, "hvc0\n", 5);
	fake_desc(f, DESC + 0x800, 0, BUF, 6, 1, 1);
	fake_desc(f, DESC + 0x800, 1, BUF + 0x100, 5, 0, 0);
	fake_avail(&tx, 0);
	fake_kick(&tx);
	cr_assert_eq(out_len, 11);
	cr_assert_eq(memcmp(out_buf, "hello hvc0\n", 11), 0);
	cr_assert_eq(fake_used_idx(&tx), 1);
	fake_used_elem(&tx, 0, &id, &len);
	cr_assert_eq(len, 0);
	type->destroy(dev);
	dev = NULL;
	gm_console_close(con);
}

Test(virtio_devices, console_input_reaches_the_guest_and_survives_a_save)
{
	struct gm_console_io *con;
	struct gm_error err = { 0 };
	struct fake_q rx, tx;
	uint32_t id, len;
	int p[2];

	/* stdin is a pipe we write to; output goes to stdout, as with --console stdio */
	cr_assert_eq(pipe(p), 0);
	cr_assert_geq(dup2(p[0], STDIN_FILENO), 0);
	cr_assert_eq(gm_console_open(GM_CONSOLE_STDIO, NULL, &con, &err), 0);
	start_console(con, &rx, &tx);
	cr_assert_eq(type->start(dev, &err), 0, "%s", err.msg);
	fake_desc(f, DESC, 0, BUF, 4, 2, 0);
	fake_avail(&rx, 0);
	fake_kick(&rx);
	cr_assert_eq(fake_used_idx(&rx), 0, "no input yet");
	cr_assert_eq(write(p[1], "typed!", 6), 6);
	for (int i = 0; i < 200 && fake_used_idx(&rx) == 0; i++)
		poll(NULL, 0, 10);
	cr_assert_eq(fake_used_idx(&rx), 1);
	fake_used_elem(&rx, 0, &id, &len);
	cr_assert_eq(len, 4);
	cr_assert_eq(memcmp(f->mem + BUF, "type", 4), 0);
	cr_assert(f->line);

	/* "d!" waits for a buffer: it goes with the device's state */
	uint8_t state[GM_DEV_STATE_MAX];
	size_t n = type->save(dev, state, sizeof(state));
	cr_assert_gt(n, 2);
	cr_assert_eq(memcmp(state + n - 2, "d!", 2), 0);
	type->destroy(dev);
	dev = NULL;
	gm_console_close(con);

	cr_assert_eq(gm_console_open(GM_CONSOLE_NONE, NULL, &con, &err), 0);
	gm_resources_free(f->res);
	gm_iobus_free(f->bus);
	f->ctx.res = f->res = gm_resources_new();
	f->ctx.bus = f->bus = gm_iobus_new();
	f->ctx.console = con;
	make(&gm_dev_virtio_console);
	cr_assert_eq(type->load(dev, state, n, 1, &err), 0, "%s", err.msg);
	fake_desc(f, DESC, 1, BUF + 0x100, 16, 2, 0);
	fake_avail(&rx, 1);
	fake_kick(&rx);
	cr_assert_eq(fake_used_idx(&rx), 2);
	fake_used_elem(&rx, 1, &id, &len);
	cr_assert_eq(len, 2);
	cr_assert_eq(memcmp(f->mem + BUF + 0x100, "d!", 2), 0);
	cr_assert_neq(type->load(dev, state, n - 1, 1, &err), 0, "a truncated pending input is refused");
	type->destroy(dev);
	dev = NULL;
	gm_console_close(con);
}

/* Until the input thread took everything written to the pipe, and a while for its notify. */
static void wait_input_taken(int rd)
{
	int left = 1;

	for (int i = 0; i < 200 && left; i++) {
		cr_assert_eq(ioctl(rd, FIONREAD, &left), 0);
		if (left)
			poll(NULL, 0, 10);
	}
	cr_assert_eq(left, 0, "the console's input thread never read stdin");
	poll(NULL, 0, 100);
}

Test(virtio_devices, console_input_waits_out_a_hold)
{
	struct gm_console_io *con;
	struct gm_error err = { 0 };
	struct fake_q rx, tx;
	uint32_t id, len;
	int p[2];

	cr_assert_eq(pipe(p), 0);
	cr_assert_geq(dup2(p[0], STDIN_FILENO), 0);
	cr_assert_eq(gm_console_open(GM_CONSOLE_STDIO, NULL, &con, &err), 0);
	start_console(con, &rx, &tx);
	cr_assert_not_null(type->quiesce);
	cr_assert_not_null(type->resume);
	cr_assert_eq(type->start(dev, &err), 0, "%s", err.msg);
	memset(f->mem + BUF, '.', 16);
	fake_desc(f, DESC, 0, BUF, 16, 2, 0);
	fake_avail(&rx, 0);
	fake_kick(&rx);

	/* the machine is held (a snapshot being saved): typed input must not land */
	type->quiesce(dev);
	unsigned written = f->nwritten;
	cr_assert_eq(write(p[1], "ls\n", 3), 3);
	wait_input_taken(STDIN_FILENO);
	cr_assert_eq(fake_used_idx(&rx), 0, "input reached the guest while held");
	cr_assert_eq(memcmp(f->mem + BUF, "................", 16), 0, "guest memory changed while held");
	cr_assert_eq(f->nwritten, written, "dirty marks while held");
	uint8_t state[GM_DEV_STATE_MAX];
	size_t n = type->save(dev, state, sizeof(state));
	cr_assert_gt(n, 2);
	cr_assert_eq(gm_le16(state + n - 2), 0, "the state saved while held took input it cannot keep consistent");

	/* the hold ends: the input that waited in the console goes in at once */
	type->resume(dev);
	cr_assert_eq(fake_used_idx(&rx), 1, "held-back input not delivered on resume");
	fake_used_elem(&rx, 0, &id, &len);
	cr_assert_eq(id, 0);
	cr_assert_eq(len, 3);
	cr_assert_eq(memcmp(f->mem + BUF, "ls\n.", 4), 0);

	/* and input flows as before afterwards */
	fake_desc(f, DESC, 1, BUF + 0x100, 16, 2, 0);
	fake_avail(&rx, 1);
	fake_kick(&rx);
	cr_assert_eq(write(p[1], "pwd", 3), 3);
	for (int i = 0; i < 200 && fake_used_idx(&rx) == 1; i++)
		poll(NULL, 0, 10);
	cr_assert_eq(fake_used_idx(&rx), 2);
	cr_assert_eq(memcmp(f->mem + BUF + 0x100, "pwd", 3), 0);
	type->destroy(dev);
	dev = NULL;
	gm_console_close(con);
	close(p[1]);
}

/* The line on our IOAPIC, either trigger mode ------------------------------ */

static struct gm_ioapic *ioapic;
static unsigned msis;

static void count_msi(void *opaque, struct gm_msi msi)
{
	(void)opaque;
	(void)msi;
	msis++;
}

static void to_ioapic(void *opaque, unsigned gsi, bool level)
{
	(void)opaque;
	gm_ioapic_set_irq(ioapic, gsi, level);
}

static void ioapic_wr(uint32_t index, uint32_t val)
{
	uint8_t d[4];

	gm_put_le32(d, index);
	gm_iobus_mmio(f->bus, GM_IOAPIC_MMIO_BASE, d, 4, true);
	gm_put_le32(d, val);
	gm_iobus_mmio(f->bus, GM_IOAPIC_MMIO_BASE + 0x10, d, 4, true);
}

/* rng on pin 16 of a real IOAPIC whose entry is edge or level, active high, vector 0x40. */
static void rng_on_ioapic(struct fake_q *q, bool level)
{
	struct gm_dev_host host = { .signal_msi = count_msi };
	struct gm_error err = { 0 };

	cr_assert_eq(gm_ioapic_new(f->bus, &host, 1, &ioapic, &err), 0, "%s", err.msg);
	f->ctx.host.set_irq = to_ioapic;
	msis = 0;
	start_rng(q, 0);
	cr_assert(strstr(f->cmdline, ":16"), "%s", f->cmdline);
	ioapic_wr(0x10 + 2 * 16 + 1, 0);
	ioapic_wr(0x10 + 2 * 16, 0x40 | (level ? 1u << 15 : 0));
	for (unsigned i = 0; i < 4; i++)
		fake_desc(f, DESC, i, BUF + 0x100 * i, 8, 2, 0);
}

static void request(struct fake_q *q, uint16_t head)
{
	fake_avail(q, head);
	fake_kick(q);
}

/* Linux's handler: read InterruptStatus, acknowledge it, then (level) EOI. */
static void handle(bool level)
{
	fake_wr(f, FAKE_BASE, 0x64, fake_rd(f, FAKE_BASE, 0x60));
	if (level)
		gm_ioapic_eoi(ioapic, 0x40);
}

Test(virtio_devices, edge_pin_every_new_status_is_one_interrupt)
{
	struct fake_q q;

	rng_on_ioapic(&q, false);
	request(&q, 0);
	cr_assert_eq(msis, 1);
	request(&q, 1); /* before the driver handled the first: no second edge, its handler sees both */
	cr_assert_eq(msis, 1);
	handle(false);
	cr_assert_eq(msis, 1);
	request(&q, 2);
	cr_assert_eq(msis, 2, "after the ack a new status is a new edge");
	handle(false);
	gm_ioapic_free(ioapic);
}

Test(virtio_devices, level_pin_is_delivered_again_until_acknowledged)
{
	struct fake_q q;

	rng_on_ioapic(&q, true);
	request(&q, 0);
	cr_assert_eq(msis, 1);
	gm_ioapic_eoi(ioapic, 0x40); /* EOI without an ack: still asserted */
	cr_assert_eq(msis, 2);
	handle(true);
	cr_assert_eq(msis, 2, "acknowledged, then EOI: quiet");
	request(&q, 1);
	cr_assert_eq(msis, 3);
	handle(true);
	gm_ioapic_free(ioapic);
}
