/*
 * dev/serial: an 8250/16550-compatible UART, enough for a console: polled
 * or interrupt-driven transmit and receive, divisor latch, scratch
 * register, loopback not modelled.  Output is passed on at once (the
 * transmitter is always ready); input comes from the console's buffer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "dev/dev.h"
#include "util/le.h"

enum {
	REG_DATA = 0, /* RBR / THR, DLL when DLAB */
	REG_IER = 1,  /* DLM when DLAB */
	REG_IIR = 2,  /* FCR on write */
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
};

#define IER_RDI   0x01 /* received data available */
#define IER_THRI  0x02 /* transmitter holding register empty */
#define IIR_NONE  0x01
#define IIR_THRI  0x02
#define IIR_RDI   0x04
#define IIR_FIFO  0xc0
#define LCR_DLAB  0x80
#define LSR_DR    0x01
#define LSR_THRE  0x20
#define LSR_TEMT  0x40
#define MCR_OUT2  0x08
#define MSR_IDLE  0xb0 /* DCD, DSR, CTS: a terminal is attached and ready */

struct gm_serial {
	pthread_mutex_t lock;
	struct gm_dev_host host;
	struct gm_console_io *con;
	unsigned gsi;
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thr_irq_pending; /* THRE interrupt not yet acknowledged by reading IIR */
	int rx;               /* a byte fetched for RBR, -1 when none */
	bool no_input;        /* stdin is a virtio console's (dev/virtio/console.c) */
};

static bool rx_ready(struct gm_serial *s)
{
	if (s->rx < 0 && !s->no_input) {
		char c;
		if (gm_console_read(s->con, &c, 1) == 1)
			s->rx = (unsigned char)c;
	}
	return s->rx >= 0;
}

static uint8_t iir(struct gm_serial *s)
{
	if ((s->ier & IER_RDI) && rx_ready(s))
		return IIR_RDI | IIR_FIFO;
	if ((s->ier & IER_THRI) && s->thr_irq_pending)
		return IIR_THRI | IIR_FIFO;
	return IIR_NONE | IIR_FIFO;
}

/* Called with the lock held after every register access. */
static void update_irq(struct gm_serial *s)
{
	/* On PCs OUT2 gates the UART's interrupt onto the ISA line. */
	bool level = (s->mcr & MCR_OUT2) && !(iir(s) & IIR_NONE);

	if (s->host.set_irq)
		s->host.set_irq(s->host.opaque, s->gsi, level);
}

static uint8_t serial_read(struct gm_serial *s, unsigned reg)
{
	switch (reg) {
	case REG_DATA:
		if (s->lcr & LCR_DLAB)
			return s->dll;
		if (rx_ready(s)) {
			uint8_t v = (uint8_t)s->rx;
			s->rx = -1;
			return v;
		}
		return 0;
	case REG_IER:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case REG_IIR: {
		uint8_t v = iir(s);
		if ((v & 0x0f) == IIR_THRI)
			s->thr_irq_pending = false;
		return v;
	}
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		return LSR_THRE | LSR_TEMT | (rx_ready(s) ? LSR_DR : 0);
	case REG_MSR:
		return MSR_IDLE;
	default:
		return s->scr;
	}
}

static void serial_write(struct gm_serial *s, unsigned reg, uint8_t v)
{
	switch (reg) {
	case REG_DATA:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			return;
		}
		{
			char c = (char)v;
			gm_console_write(s->con, &c, 1);
		}
		s->thr_irq_pending = true;
		return;
	case REG_IER:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			return;
		}
		/* enabling THRI with an empty transmitter raises it at once */
		if ((v & IER_THRI) && !(s->ier & IER_THRI))
			s->thr_irq_pending = true;
		s->ier = v & 0x0f;
		return;
	case REG_IIR:
		s->fcr = v;
		return;
	case REG_LCR:
		s->lcr = v;
		return;
	case REG_MCR:
		s->mcr = v & 0x1f;
		return;
	case REG_SCR:
		s->scr = v;
		return;
	default:
		return; /* LSR and MSR are read-only */
	}
}

static void serial_io(void *opaque, uint64_t addr, uint8_t *data, unsigned size, bool is_write)
{
	struct gm_serial *s = opaque;
	unsigned reg = (unsigned)(addr & 7);

	pthread_mutex_lock(&s->lock);
	/* Wider accesses are treated as byte accesses to the first register. */
	if (is_write) {
		serial_write(s, reg, data[0]);
	} else {
		data[0] = serial_read(s, reg);
		for (unsigned i = 1; i < size; i++)
			data[i] = 0;
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

/* Input arrived on the console: raise the receive interrupt if enabled. */
static void serial_input(void *opaque)
{
	struct gm_serial *s = opaque;

	pthread_mutex_lock(&s->lock);
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

int gm_serial_new(struct gm_iobus *bus, const struct gm_dev_host *host, struct gm_console_io *con,
		  uint16_t base, unsigned gsi, struct gm_serial **out, struct gm_error *err)
{
	struct gm_serial *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the serial port");
	pthread_mutex_init(&s->lock, NULL);
	s->host = *host;
	s->con = con;
	s->gsi = gsi;
	s->rx = -1;
	s->dll = 12; /* 9600 baud, as firmware leaves it */
	r = gm_iobus_add_pio(bus, base, 8, serial_io, s, "serial", err);
	if (r) {
		gm_serial_free(s);
		return r;
	}
	*out = s;
	return 0;
}

void gm_serial_free(struct gm_serial *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/* As a registered device: COM1 ------------------------------------------ */

#define SERIAL_STATE_LEN 10

static int serial_create(const struct gm_dev_ctx *ctx, void **dev, struct gm_error *err)
{
	int r = gm_res_claim_gsi(ctx->res, GM_SERIAL_COM1_GSI, "serial", err);

	if (!r)
		r = gm_serial_new(ctx->bus, &ctx->host, ctx->console, GM_SERIAL_COM1_BASE, GM_SERIAL_COM1_GSI,
				  (struct gm_serial **)dev, err);
	/* one reader of stdin: a virtio console, when there is one, takes it */
	if (!r && ctx->cfg && ctx->cfg->virtio_console)
		((struct gm_serial *)*dev)->no_input = true;
	return r;
}

/* The UART takes stdin only when the vCPUs start, so a machine that is
 * merely created does not take the terminal. */
static int serial_start(void *dev, struct gm_error *err)
{
	struct gm_serial *s = dev;

	if (s->no_input)
		return 0;
	return gm_console_start_input(s->con, serial_input, s, err);
}

static void serial_reset(void *dev)
{
	struct gm_serial *s = dev;

	pthread_mutex_lock(&s->lock);
	s->ier = s->lcr = s->mcr = s->scr = s->fcr = s->dlm = 0;
	s->dll = 12;
	s->thr_irq_pending = false;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

/* The registers, the THRE interrupt flag and a byte fetched but not read
 * (so typed input is not lost across a snapshot). */
static size_t serial_save(void *dev, uint8_t *out, size_t max)
{
	struct gm_serial *s = dev;

	if (max < SERIAL_STATE_LEN)
		return 0;
	pthread_mutex_lock(&s->lock);
	out[0] = s->ier;
	out[1] = s->lcr;
	out[2] = s->mcr;
	out[3] = s->scr;
	out[4] = s->fcr;
	out[5] = s->dll;
	out[6] = s->dlm;
	out[7] = s->thr_irq_pending;
	gm_put_le16(out + 8, (uint16_t)(s->rx < 0 ? 0xffff : s->rx));
	pthread_mutex_unlock(&s->lock);
	return SERIAL_STATE_LEN;
}

static int serial_load(void *dev, const uint8_t *data, size_t len, uint32_t version, struct gm_error *err)
{
	struct gm_serial *s = dev;
	uint16_t rx = len == SERIAL_STATE_LEN ? gm_le16(data + 8) : 0;

	if (version != 1 || len != SERIAL_STATE_LEN)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "serial state is %zu bytes of version %u; this gmvm reads %u bytes of version 1", len,
			       version, SERIAL_STATE_LEN);
	if (data[0] & 0xf0 || data[2] & 0xe0 || data[7] > 1 || (rx > 0xff && rx != 0xffff))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "serial state holds register values no 8250 has; the state is corrupt");
	pthread_mutex_lock(&s->lock);
	s->ier = data[0];
	s->lcr = data[1];
	s->mcr = data[2];
	s->scr = data[3];
	s->fcr = data[4];
	s->dll = data[5];
	s->dlm = data[6];
	s->thr_irq_pending = data[7];
	s->rx = rx == 0xffff ? -1 : rx;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void serial_destroy(void *dev)
{
	gm_serial_free(dev);
}

const struct gm_device_type gm_dev_serial = {
	.name = "serial",
	.state_version = 1,
	.create = serial_create,
	.start = serial_start,
	.reset = serial_reset,
	.save = serial_save,
	.load = serial_load,
	.destroy = serial_destroy,
};
