/*
 * The userspace IOAPIC, driven through its MMIO registers as a guest would,
 * with a host that records the MSIs it is asked to send and the routes it is
 * asked to publish.  End to end on real KVM: the `irq` guest
 * (tests/integration/test_boot.c).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "dev/dev.h"

#define BASE GM_IOAPIC_MMIO_BASE

struct recorder {
	struct gm_msi sent[64];
	unsigned nsent;
	struct gm_msi_route routes[GM_IOAPIC_PINS];
	unsigned nroutes, route_updates;
};

static struct recorder rec;
static struct gm_iobus *bus;
static struct gm_ioapic *io;

static void rec_msi(void *opaque, struct gm_msi msi)
{
	struct recorder *r = opaque;

	cr_assert_lt(r->nsent, 64);
	r->sent[r->nsent++] = msi;
}

static void rec_routes(void *opaque, const struct gm_msi_route *routes, unsigned n)
{
	struct recorder *r = opaque;

	memcpy(r->routes, routes, n * sizeof(*routes));
	r->nroutes = n;
	r->route_updates++;
}

static void setup(void)
{
	struct gm_dev_host host = { .opaque = &rec, .signal_msi = rec_msi, .set_level_routes = rec_routes };
	struct gm_error err = { 0 };

	memset(&rec, 0, sizeof(rec));
	bus = gm_iobus_new();
	cr_assert_not_null(bus);
	cr_assert_eq(gm_ioapic_new(bus, &host, 2, &io, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
	gm_ioapic_free(io);
	gm_iobus_free(bus);
}

static void wr32(uint64_t addr, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	gm_iobus_mmio(bus, addr, d, 4, true);
}

static uint32_t rd32(uint64_t addr)
{
	uint8_t d[4];

	gm_iobus_mmio(bus, addr, d, 4, false);
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static uint32_t reg_read(uint32_t idx)
{
	wr32(BASE, idx);
	return rd32(BASE + 0x10);
}

static void reg_write(uint32_t idx, uint32_t v)
{
	wr32(BASE, idx);
	wr32(BASE + 0x10, v);
}

static void program(unsigned pin, uint32_t low, uint8_t dest)
{
	reg_write(0x11 + 2 * pin, (uint32_t)dest << 24);
	reg_write(0x10 + 2 * pin, low);
}

#define LEVEL  (1u << 15)
#define MASKED (1u << 16)
#define IRR    (1u << 14)

TestSuite(ioapic, .init = setup, .fini = teardown);

Test(ioapic, identifies_as_a_24_pin_82093aa_with_the_given_id)
{
	cr_assert_eq(reg_read(0x01), 0x00170011u);
	cr_assert_eq(reg_read(0x00) >> 24, 2u);
	reg_write(0x01, 0); /* read-only */
	cr_assert_eq(reg_read(0x01), 0x00170011u);
}

Test(ioapic, pins_start_masked_and_deliver_nothing)
{
	for (unsigned pin = 0; pin < GM_IOAPIC_PINS; pin++)
		cr_assert(reg_read(0x10 + 2 * pin) & MASKED, "pin %u", pin);
	gm_ioapic_set_irq(io, 4, true);
	cr_assert_eq(rec.nsent, 0);
}

Test(ioapic, edge_pin_sends_its_msi_on_each_rising_edge_only)
{
	program(4, 0x40, 1);
	gm_ioapic_set_irq(io, 4, true);
	gm_ioapic_set_irq(io, 4, true); /* still high: no new edge */
	cr_assert_eq(rec.nsent, 1);
	cr_assert_eq(rec.sent[0].address, 0xfee01000u, "physical destination APIC 1");
	cr_assert_eq(rec.sent[0].data, 0x40u, "fixed, edge, vector 0x40");
	gm_ioapic_set_irq(io, 4, false);
	gm_ioapic_set_irq(io, 4, true);
	cr_assert_eq(rec.nsent, 2);
	cr_assert_eq(rec.route_updates, 0, "edge pins need no EOI routes");
}

Test(ioapic, entries_read_back_without_delivery_status_or_irr_written)
{
	program(7, 0x1ffff | IRR, 0xab);
	cr_assert_eq(reg_read(0x10 + 14), 0x1ffffu & ~(IRR | (1u << 12)));
	cr_assert_eq(reg_read(0x11 + 14), 0xab000000u);
}

Test(ioapic, level_pin_holds_remote_irr_until_eoi_then_redelivers_if_still_high)
{
	program(4, LEVEL | 0x41, 0);
	cr_assert_eq(rec.nroutes, 1, "an unmasked level pin is routed for EOI exits");
	cr_assert_eq(rec.routes[0].gsi, 4u);
	cr_assert_eq(rec.routes[0].msi.data & 0xff, 0x41u);
	cr_assert(rec.routes[0].msi.data & (1u << 15), "the route is level-triggered");

	gm_ioapic_set_irq(io, 4, true);
	cr_assert_eq(rec.nsent, 1);
	cr_assert(reg_read(0x10 + 8) & IRR);
	gm_ioapic_set_irq(io, 4, true); /* no second MSI while IRR is set */
	cr_assert_eq(rec.nsent, 1);

	gm_ioapic_eoi(io, 0x41); /* line still high: serviced again */
	cr_assert_eq(rec.nsent, 2);
	gm_ioapic_set_irq(io, 4, false);
	gm_ioapic_eoi(io, 0x41);
	cr_assert_eq(reg_read(0x10 + 8) & IRR, 0u, "EOI of a low line clears IRR");
	cr_assert_eq(rec.nsent, 2);
}

Test(ioapic, eoi_of_another_vector_leaves_irr_set)
{
	program(4, LEVEL | 0x41, 0);
	gm_ioapic_set_irq(io, 4, true);
	gm_ioapic_eoi(io, 0x42);
	cr_assert(reg_read(0x10 + 8) & IRR);
}

Test(ioapic, unmasking_a_high_level_pin_delivers_it)
{
	program(9, LEVEL | MASKED | 0x50, 0);
	gm_ioapic_set_irq(io, 9, true);
	cr_assert_eq(rec.nsent, 0);
	reg_write(0x10 + 18, LEVEL | 0x50);
	cr_assert_eq(rec.nsent, 1);
	cr_assert_eq(rec.sent[0].data, 0xc050u, "level, asserted, vector 0x50");
}

Test(ioapic, routes_are_republished_only_when_they_change)
{
	program(4, LEVEL | 0x41, 0);
	unsigned updates = rec.route_updates;

	reg_write(0x10 + 8, LEVEL | 0x41 | (1u << 13)); /* polarity only */
	reg_write(0x10 + 8, LEVEL | MASKED | 0x41);     /* mask only */
	cr_assert_eq(rec.route_updates, updates);
	reg_write(0x10 + 8, LEVEL | MASKED | 0x42);
	cr_assert_eq(rec.route_updates, updates + 1);
	reg_write(0x10 + 8, MASKED | 0x42);
	cr_assert_eq(rec.nroutes, 0, "an edge pin is not routed");
}

/* Linux masks a threaded or disabled interrupt and EOIs it afterwards. */
Test(ioapic, level_pin_eoied_while_masked_fires_again_after_unmask)
{
	program(4, LEVEL | 0x41, 0);
	gm_ioapic_set_irq(io, 4, true);
	cr_assert_eq(rec.nsent, 1);
	reg_write(0x10 + 8, LEVEL | MASKED | 0x41);
	cr_assert_eq(rec.nroutes, 1, "a masked level pin keeps its route, so KVM still reports its EOI");
	gm_ioapic_set_irq(io, 4, false);
	gm_ioapic_eoi(io, 0x41);
	cr_assert_eq(reg_read(0x10 + 8) & IRR, 0u);
	reg_write(0x10 + 8, LEVEL | 0x41);
	gm_ioapic_set_irq(io, 4, true);
	cr_assert_eq(rec.nsent, 2, "the pin works again after unmask");
}

Test(ioapic, narrow_or_misaligned_accesses_read_zero_and_are_dropped)
{
	uint8_t d[2] = { 0xff, 0xff };

	gm_iobus_mmio(bus, BASE + 0x10, d, 2, false);
	cr_assert(d[0] == 0 && d[1] == 0);
	wr32(BASE, 0x10 + 8);
	gm_iobus_mmio(bus, BASE + 0x12, d, 2, true);
	cr_assert(reg_read(0x10 + 8) & MASKED, "the entry is unchanged");
}

Test(ioapic, pins_past_23_are_ignored)
{
	gm_ioapic_set_irq(io, 24, true);
	cr_assert_eq(reg_read(0x10 + 48), 0u, "index past the table reads zero");
	cr_assert_eq(rec.nsent, 0);
}
