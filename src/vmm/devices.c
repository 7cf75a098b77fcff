/*
 * vmm/devices: the machine's devices, made from the registry's table
 * (dev/builtin.c) without naming any of them.  The machine gives each a
 * gm_dev_host: interrupt lines go to whichever device offered itself as the
 * interrupt controller, MSIs and routes to KVM, exit requests to the
 * machine's end.
 */
#include <errno.h>
#include <string.h>

#include "vmm/vmm.h"

static void host_set_irq(void *opaque, unsigned gsi, bool level)
{
	struct gm_machine *m = opaque;

	if (m->chip_set_irq)
		m->chip_set_irq(m->chip, gsi, level);
}

static void host_signal_msi(void *opaque, struct gm_msi msi)
{
	struct gm_machine *m = opaque;

	/* an interrupt that cannot be delivered is not worth ending the guest for */
	(void)gm_kvm_signal_msi(m->vm_fd, msi.address, msi.data);
}

static void host_set_level_routes(void *opaque, const struct gm_msi_route *routes, unsigned n)
{
	struct gm_machine *m = opaque;
	unsigned gsi[GM_IOAPIC_PINS];
	uint32_t address[GM_IOAPIC_PINS], data[GM_IOAPIC_PINS];

	if (n > GM_IOAPIC_PINS)
		n = GM_IOAPIC_PINS;
	for (unsigned i = 0; i < n; i++) {
		gsi[i] = routes[i].gsi;
		address[i] = routes[i].msi.address;
		data[i] = routes[i].msi.data;
		m->routes[i] = routes[i];
	}
	m->nroutes = n;
	if (gm_kvm_set_msi_routes(m->vm_fd, n, gsi, address, data) < 0)
		gm_log(m, GM_LOG_ERROR, "KVM_SET_GSI_ROUTING failed; level-triggered interrupts may stall");
}

static void host_request_exit(void *opaque, int kind, int status, uint32_t value, const char *reason)
{
	gm_machine_end(opaque, (enum gm_exit_kind)kind, status, value, 0, "%s", reason);
}

static void host_set_irqchip(void *opaque, void (*set_irq)(void *chip, unsigned pin, bool level),
			     void (*eoi)(void *chip, uint8_t vector), void *chip)
{
	struct gm_machine *m = opaque;

	m->chip_set_irq = set_irq;
	m->chip_eoi = eoi;
	m->chip = chip;
}

static void *host_guest_ptr(void *opaque, uint64_t gpa, uint64_t len)
{
	struct gm_machine *m = opaque;

	for (unsigned i = 0; i < m->nmems; i++) {
		void *p = gm_memory_hva(m->mems[i], gpa, len);

		if (p)
			return p;
	}
	return NULL;
}

static void host_guest_written(void *opaque, uint64_t gpa, uint64_t len)
{
	struct gm_machine *m = opaque;

	for (unsigned i = 0; i < m->nmems; i++)
		gm_memory_dirty_mark_gpa(m->mems[i], gpa, len);
}

/* Devices' command-line entries go after the user's, space-separated. */
static int host_add_cmdline(void *opaque, const char *text, struct gm_error *err)
{
	struct gm_machine *m = opaque;
	size_t have = strlen(m->dev_cmdline), add = strlen(text);

	if (have + 1 + add >= sizeof(m->dev_cmdline))
		return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG, "the devices' kernel command-line entries exceed %zu bytes; use fewer devices",
			       sizeof(m->dev_cmdline) - 1);
	if (have)
		m->dev_cmdline[have++] = ' ';
	memcpy(m->dev_cmdline + have, text, add + 1);
	return 0;
}

static void host_log(void *opaque, const char *line)
{
	gm_log(opaque, GM_LOG_WARN, "%s", line);
}

static int host_discard(void *opaque, uint64_t gpa, uint64_t len, uint64_t *freed, struct gm_error *err)
{
	return gm_machine_give_back(opaque, gpa, len, freed, err);
}

int gm_devices_create(struct gm_machine *m, struct gm_error *err)
{
	struct gm_dev_ctx ctx = {
		.host = {
			.opaque = m,
			.set_irq = host_set_irq,
			.signal_msi = host_signal_msi,
			.set_level_routes = host_set_level_routes,
			.request_exit = host_request_exit,
			.set_irqchip = host_set_irqchip,
			.guest_ptr = host_guest_ptr,
			.guest_written = host_guest_written,
			.add_cmdline = host_add_cmdline,
			.log = host_log,
			.discard = host_discard,
		},
		.console = m->console,
		.ncpus = m->ncpus,
		.cfg = &m->cfg,
	};

	m->bus = gm_iobus_new();
	m->res = gm_resources_new();
	if (!m->bus || !m->res)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the I/O bus");
	memcpy(ctx.uuid, m->uuid, sizeof(ctx.uuid));
	ctx.bus = m->bus;
	ctx.res = m->res;
	m->dev_cmdline[0] = '\0';
	for (const struct gm_device_type *const *t = gm_builtin_devices; *t; t++) {
		unsigned n = (*t)->instances ? (*t)->instances(&m->cfg) : 1;

		for (ctx.instance = 0; ctx.instance < n; ctx.instance++) {
			struct gm_device *d = &m->devs[m->ndevs];

			if (m->ndevs == GM_MAX_DEVICES)
				return gm_fail(err, GM_STATUS_BAD_INPUT, ENOSPC, "more than %d devices; use fewer",
					       GM_MAX_DEVICES);
			int r = (*t)->create(&ctx, &d->dev, err);
			if (r)
				return r;
			d->type = *t;
			m->ndevs++;
		}
	}
	return 0;
}

bool gm_devices_write_guest(const struct gm_machine *m)
{
	for (unsigned i = 0; i < m->ndevs; i++)
		if (m->devs[i].type->writes_guest)
			return true;
	return false;
}

void gm_devices_quiesce(struct gm_machine *m)
{
	for (unsigned i = 0; i < m->ndevs; i++)
		if (m->devs[i].type->quiesce)
			m->devs[i].type->quiesce(m->devs[i].dev);
}

void gm_devices_resume(struct gm_machine *m)
{
	for (unsigned i = 0; i < m->ndevs; i++)
		if (m->devs[i].type->resume)
			m->devs[i].type->resume(m->devs[i].dev);
}

int gm_devices_start(struct gm_machine *m, struct gm_error *err)
{
	for (unsigned i = 0; i < m->ndevs; i++) {
		const struct gm_device *d = &m->devs[i];
		int r = d->type->start ? d->type->start(d->dev, err) : 0;

		if (r)
			return r;
	}
	return 0;
}

void gm_devices_release(struct gm_machine *m)
{
	for (unsigned i = 0; i < m->ndevs; i++)
		if (m->devs[i].type->release)
			m->devs[i].type->release(m->devs[i].dev);
}

void gm_devices_adopt(struct gm_machine *m)
{
	for (unsigned i = 0; i < m->ndevs; i++)
		if (m->devs[i].type->adopt)
			m->devs[i].type->adopt(m->devs[i].dev);
}

int gm_machine_device_set(struct gm_machine *m, const char *type, const char *key, int64_t value,
			  struct gm_error *err)
{
	int r = -ENODEV;

	pthread_mutex_lock(&m->op_lock);
	for (unsigned i = 0; i < m->ndevs && r == -ENODEV; i++) {
		const struct gm_device *d = &m->devs[i];

		if (strcmp(d->type->name, type))
			continue;
		r = d->type->set ? d->type->set(d->dev, key, value, err)
				 : gm_fail(err, GM_STATUS_BAD_INPUT, ENOENT, "%s has no setting %s", type, key);
	}
	pthread_mutex_unlock(&m->op_lock);
	if (r == -ENODEV)
		r = gm_fail(err, GM_STATUS_BAD_INPUT, ENODEV, "the VM has no %s; start it with the option that adds one",
			    type);
	return r;
}

void gm_machine_device_stats(struct gm_machine *m,
			     void (*fn)(void *opaque, const char *type, unsigned index,
					const struct gm_dev_stat *stats, unsigned n),
			     void *opaque)
{
	struct gm_dev_stat st[GM_DEV_STATS_MAX];

	/* no op_lock: a migration holds it for its whole length, and stats are any thread's */
	for (unsigned i = 0; i < m->ndevs; i++) {
		const struct gm_device *d = &m->devs[i];
		unsigned index = 0;

		for (unsigned j = 0; j < i; j++)
			index += m->devs[j].type == d->type;
		if (d->type->stats)
			fn(opaque, d->type->name, index, st, d->type->stats(d->dev, st, GM_DEV_STATS_MAX));
	}
}

/* Last made, first gone: a device may still raise a line on the controller. */
void gm_devices_destroy(struct gm_machine *m)
{
	while (m->ndevs) {
		struct gm_device *d = &m->devs[--m->ndevs];

		d->type->destroy(d->dev);
		memset(d, 0, sizeof(*d));
	}
	m->chip_set_irq = NULL;
	m->chip_eoi = NULL;
	gm_resources_free(m->res);
	m->res = NULL;
	gm_iobus_free(m->bus);
	m->bus = NULL;
}
