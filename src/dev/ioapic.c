/*
 * dev/ioapic: an 82093AA-style I/O APIC in userspace, for KVM's split
 * irqchip (LAPICs in the kernel, no PIC, no PIT).  Why not KVM's own: the
 * in-kernel PIC, IOAPIC and PIT each unregister their I/O ranges when the VM
 * is destroyed, one SRCU grace period apiece, and on our hosts that made a
 * VM's teardown take 15-30 ms, longer than booting it.  A userspace IOAPIC is
 * also plain state gmvm can save and hand over.
 *
 * A pin's interrupt reaches the guest as the MSI its redirection entry
 * describes.  Level-triggered pins keep remote IRR set until the guest's EOI,
 * which KVM reports (KVM_EXIT_IOAPIC_EOI) only for vectors it finds in the
 * VM's MSI routes; so the level-triggered entries are mirrored there.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "util/le.h"

#define REG_SELECT  0x00 /* IOREGSEL */
#define REG_WINDOW  0x10 /* IOWIN */
#define REG_EOI     0x40 /* the version 0x20 EOI register; we model 0x11 but accept it */
#define IDX_ID      0x00
#define IDX_VERSION 0x01
#define IDX_ARB     0x02
#define IDX_REDIR   0x10

#define IOAPIC_VERSION 0x11

#define RTE_VECTOR     0xffull
#define RTE_DELIVERY   (7ull << 8)
#define RTE_DEST_LOG   (1ull << 11)
#define RTE_PENDING    (1ull << 12) /* delivery status; never set, delivery is immediate */
#define RTE_POLARITY   (1ull << 13)
#define RTE_REMOTE_IRR (1ull << 14)
#define RTE_LEVEL      (1ull << 15)
#define RTE_MASKED     (1ull << 16)
/* Bits the guest may write: everything but delivery status and remote IRR. */
#define RTE_WRITABLE   (~(RTE_PENDING | RTE_REMOTE_IRR) & (0xffull << 56 | 0x1ffffull))

#define MSI_ADDR_BASE  0xfee00000u

struct gm_ioapic {
	pthread_mutex_t lock;
	struct gm_dev_host host;
	uint32_t select;
	uint32_t id;
	uint64_t rte[GM_IOAPIC_PINS];
	bool line[GM_IOAPIC_PINS]; /* input level, as the device drives it */
};

static struct gm_msi rte_msi(uint64_t rte)
{
	struct gm_msi msi;

	msi.address = MSI_ADDR_BASE | (uint32_t)(rte >> 56) << 12 | ((rte & RTE_DEST_LOG) ? 1u << 2 : 0);
	msi.data = (uint32_t)(rte & (RTE_VECTOR | RTE_DELIVERY));
	if (rte & RTE_LEVEL)
		msi.data |= 1u << 15 | 1u << 14; /* level-triggered, asserted */
	return msi;
}

/*
 * Tell KVM which vectors need an EOI exit: those of every level entry,
 * masked or not.  A guest may mask a pin and EOI it afterwards (Linux does,
 * for threaded and disabled interrupts); without the route that EOI would
 * never reach us and the pin would stay dead with remote IRR set.  Keeping
 * masked entries also spares a KVM_SET_GSI_ROUTING on every mask toggle.
 */
static void publish_level_routes(struct gm_ioapic *io)
{
	struct gm_msi_route routes[GM_IOAPIC_PINS];
	unsigned n = 0;

	if (!io->host.set_level_routes)
		return;
	for (unsigned pin = 0; pin < GM_IOAPIC_PINS; pin++)
		if (io->rte[pin] & RTE_LEVEL)
			routes[n++] = (struct gm_msi_route){ .gsi = pin, .msi = rte_msi(io->rte[pin]) };
	io->host.set_level_routes(io->host.opaque, routes, n);
}

/* The routes KVM needs depend only on these bits of level entries. */
static uint64_t route_key(uint64_t rte)
{
	if (!(rte & RTE_LEVEL))
		return 0;
	return rte & (0xffull << 56 | RTE_DEST_LOG | RTE_DELIVERY | RTE_VECTOR | RTE_LEVEL);
}

static void deliver(struct gm_ioapic *io, unsigned pin)
{
	uint64_t *rte = &io->rte[pin];

	if (*rte & RTE_MASKED)
		return;
	if (*rte & RTE_LEVEL) {
		if (!io->line[pin] || (*rte & RTE_REMOTE_IRR))
			return;
		*rte |= RTE_REMOTE_IRR;
	}
	if (io->host.signal_msi)
		io->host.signal_msi(io->host.opaque, rte_msi(*rte));
}

void gm_ioapic_set_irq(struct gm_ioapic *io, unsigned pin, bool level)
{
	if (pin >= GM_IOAPIC_PINS)
		return;
	pthread_mutex_lock(&io->lock);
	bool rising = level && !io->line[pin];
	io->line[pin] = level;
	/* An edge pin fires on the rising edge; a level pin while it is high. */
	if ((io->rte[pin] & RTE_LEVEL) ? level : rising)
		deliver(io, pin);
	pthread_mutex_unlock(&io->lock);
}

void gm_ioapic_eoi(struct gm_ioapic *io, uint8_t vector)
{
	pthread_mutex_lock(&io->lock);
	for (unsigned pin = 0; pin < GM_IOAPIC_PINS; pin++) {
		uint64_t *rte = &io->rte[pin];

		if ((*rte & (RTE_LEVEL | RTE_REMOTE_IRR)) != (RTE_LEVEL | RTE_REMOTE_IRR) ||
		    (uint8_t)(*rte & RTE_VECTOR) != vector)
			continue;
		*rte &= ~RTE_REMOTE_IRR;
		deliver(io, pin); /* still asserted: the device wants service again */
	}
	pthread_mutex_unlock(&io->lock);
}

static uint32_t read_index(struct gm_ioapic *io, uint32_t idx)
{
	switch (idx) {
	case IDX_ID:
	case IDX_ARB:
		return io->id << 24;
	case IDX_VERSION:
		return (GM_IOAPIC_PINS - 1) << 16 | IOAPIC_VERSION;
	default:
		if (idx >= IDX_REDIR && idx < IDX_REDIR + 2 * GM_IOAPIC_PINS) {
			uint64_t rte = io->rte[(idx - IDX_REDIR) / 2];
			return (idx & 1) ? (uint32_t)(rte >> 32) : (uint32_t)rte;
		}
		return 0;
	}
}

static void write_index(struct gm_ioapic *io, uint32_t idx, uint32_t val)
{
	if (idx == IDX_ID) {
		io->id = val >> 24 & 0xf;
		return;
	}
	if (idx < IDX_REDIR || idx >= IDX_REDIR + 2 * GM_IOAPIC_PINS)
		return; /* version and arbitration are read-only */
	unsigned pin = (idx - IDX_REDIR) / 2;
	uint64_t old = io->rte[pin], val64 = (idx & 1) ? (uint64_t)val << 32 | (uint32_t)old
						       : (old & ~0xffffffffull) | val;
	uint64_t rte = (val64 & RTE_WRITABLE) | (old & RTE_REMOTE_IRR);

	if (!(rte & RTE_LEVEL))
		rte &= ~RTE_REMOTE_IRR; /* an edge entry has no remote IRR */
	io->rte[pin] = rte;
	if (route_key(old) != route_key(rte))
		publish_level_routes(io);
	/* Unmasking a level pin that is still asserted delivers it now. */
	if ((rte & RTE_LEVEL) && io->line[pin])
		deliver(io, pin);
}

static void ioapic_mmio(void *opaque, uint64_t addr, uint8_t *data, unsigned size, bool is_write)
{
	struct gm_ioapic *io = opaque;
	uint64_t off = addr - GM_IOAPIC_MMIO_BASE;
	uint32_t val = 0;

	/* Registers are 32 bits wide; narrower or misaligned accesses read as
	 * zeros and are dropped, as on the real part. */
	if (size != 4 || (off & 3)) {
		if (!is_write)
			memset(data, 0, size);
		return;
	}
	if (is_write)
		val = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
		      (uint32_t)data[3] << 24;
	pthread_mutex_lock(&io->lock);
	switch (off) {
	case REG_SELECT:
		if (is_write)
			io->select = val & 0xff;
		else
			val = io->select;
		break;
	case REG_WINDOW:
		if (is_write)
			write_index(io, io->select, val);
		else
			val = read_index(io, io->select);
		break;
	case REG_EOI:
		if (is_write) {
			pthread_mutex_unlock(&io->lock);
			gm_ioapic_eoi(io, (uint8_t)val);
			return;
		}
		val = 0;
		break;
	default:
		val = 0;
		break;
	}
	pthread_mutex_unlock(&io->lock);
	if (!is_write)
		for (unsigned i = 0; i < 4; i++)
			data[i] = (uint8_t)(val >> (8 * i));
}

int gm_ioapic_new(struct gm_iobus *bus, const struct gm_dev_host *host, unsigned id, struct gm_ioapic **out,
		  struct gm_error *err)
{
	struct gm_ioapic *io = calloc(1, sizeof(*io));
	int r;

	if (!io)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the IOAPIC");
	pthread_mutex_init(&io->lock, NULL);
	io->host = *host;
	io->id = id & 0xf;
	for (unsigned pin = 0; pin < GM_IOAPIC_PINS; pin++)
		io->rte[pin] = RTE_MASKED; /* every pin starts masked, as after reset */
	r = gm_iobus_add_mmio(bus, GM_IOAPIC_MMIO_BASE, GM_IOAPIC_MMIO_SIZE, ioapic_mmio, io, "ioapic", err);
	if (r) {
		gm_ioapic_free(io);
		return r;
	}
	*out = io;
	return 0;
}

void gm_ioapic_free(struct gm_ioapic *io)
{
	if (!io)
		return;
	pthread_mutex_destroy(&io->lock);
	free(io);
}

/* As a registered device ------------------------------------------------ */

#define IOAPIC_STATE_LEN (8 + GM_IOAPIC_PINS * 9)

static void chip_set_irq(void *chip, unsigned pin, bool level)
{
	if (pin < GM_IOAPIC_PINS)
		gm_ioapic_set_irq(chip, pin, level);
}

static void chip_eoi(void *chip, uint8_t vector)
{
	gm_ioapic_eoi(chip, vector);
}

static int ioapic_create(const struct gm_dev_ctx *ctx, void **dev, struct gm_error *err)
{
	struct gm_ioapic *io;
	/* The MP table gives the IOAPIC the APIC id after the last CPU's. */
	int r = gm_ioapic_new(ctx->bus, &ctx->host, ctx->ncpus, &io, err);

	if (r)
		return r;
	if (ctx->host.set_irqchip)
		ctx->host.set_irqchip(ctx->host.opaque, chip_set_irq, chip_eoi, io);
	*dev = io;
	return 0;
}

static void ioapic_reset(void *dev)
{
	struct gm_ioapic *io = dev;

	pthread_mutex_lock(&io->lock);
	io->select = 0;
	for (unsigned pin = 0; pin < GM_IOAPIC_PINS; pin++)
		io->rte[pin] = RTE_MASKED;
	publish_level_routes(io);
	pthread_mutex_unlock(&io->lock);
}

/* select, id, then per pin its redirection entry and its input level. */
static size_t ioapic_save(void *dev, uint8_t *out, size_t max)
{
	struct gm_ioapic *io = dev;

	if (max < IOAPIC_STATE_LEN)
		return 0;
	pthread_mutex_lock(&io->lock);
	gm_put_le32(out, io->select);
	gm_put_le32(out + 4, io->id);
	for (unsigned pin = 0; pin < GM_IOAPIC_PINS; pin++) {
		gm_put_le64(out + 8 + pin * 8, io->rte[pin]);
		out[8 + GM_IOAPIC_PINS * 8 + pin] = io->line[pin];
	}
	pthread_mutex_unlock(&io->lock);
	return IOAPIC_STATE_LEN;
}

static int ioapic_load(void *dev, const uint8_t *data, size_t len, uint32_t version, struct gm_error *err)
{
	struct gm_ioapic *io = dev;

	if (version != 1 || len != IOAPIC_STATE_LEN)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "IOAPIC state is %zu bytes of version %u; this gmvm reads %u bytes of version 1",
			       len, version, IOAPIC_STATE_LEN);
	for (unsigned pin = 0; pin < GM_IOAPIC_PINS; pin++) {
		uint64_t rte = gm_le64(data + 8 + pin * 8);
		if (rte & ~(RTE_WRITABLE | RTE_REMOTE_IRR) || data[8 + GM_IOAPIC_PINS * 8 + pin] > 1)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "IOAPIC state: pin %u holds bits no IOAPIC has; the state is corrupt", pin);
	}
	pthread_mutex_lock(&io->lock);
	io->select = gm_le32(data) & 0xff;
	io->id = gm_le32(data + 4) & 0xf;
	for (unsigned pin = 0; pin < GM_IOAPIC_PINS; pin++) {
		io->rte[pin] = gm_le64(data + 8 + pin * 8);
		io->line[pin] = data[8 + GM_IOAPIC_PINS * 8 + pin];
	}
	publish_level_routes(io);
	pthread_mutex_unlock(&io->lock);
	return 0;
}

static void ioapic_destroy(void *dev)
{
	gm_ioapic_free(dev);
}

const struct gm_device_type gm_dev_ioapic = {
	.name = "ioapic",
	.state_version = 1,
	.create = ioapic_create,
	.reset = ioapic_reset,
	.save = ioapic_save,
	.load = ioapic_load,
	.destroy = ioapic_destroy,
};
