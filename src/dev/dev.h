/*
 * dev/: the devices a guest talks to (8250 UART, the exit port, the i8042
 * reset line, the IOAPIC) and the bus that routes port I/O and MMIO exits to
 * them.  Devices see nothing of the machine but a gm_dev_host: ways to raise
 * an interrupt and a way to ask the machine to end.
 */
#ifndef GM_DEV_H
#define GM_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmvm/config.h"
#include "gmvm/error.h"
#include "util/guest_map.h"

/* A message-signalled interrupt: what a write of data to address tells the LAPICs. */
struct gm_msi {
	uint32_t address;
	uint32_t data;
};

struct gm_msi_route {
	unsigned gsi;
	struct gm_msi msi;
};

/* What a device may ask of the machine that owns it (unused members may be NULL). */
struct gm_dev_host {
	void *opaque;
	/* Drive an interrupt line (GSI = IOAPIC pin). */
	void (*set_irq)(void *opaque, unsigned gsi, bool level);
	/* Send an MSI to the in-kernel LAPICs. */
	void (*signal_msi)(void *opaque, struct gm_msi msi);
	/* Replace the level-triggered routes KVM watches for EOIs (the IOAPIC's). */
	void (*set_level_routes)(void *opaque, const struct gm_msi_route *routes, unsigned n);
	/* End the machine: kind is an enum gm_exit_kind, status the exit status. */
	void (*request_exit)(void *opaque, int kind, int status, uint32_t value, const char *reason);
	/* The interrupt controller offers itself: set_irq (pins) and EOIs of
	 * level-triggered vectors go to chip from then on. */
	void (*set_irqchip)(void *opaque, void (*set_irq)(void *chip, unsigned pin, bool level),
			    void (*eoi)(void *chip, uint8_t vector), void *chip);
	/*
	 * The one checked way a device reaches guest memory (a virtqueue, a
	 * buffer): a host pointer for [gpa, gpa+len) when it is RAM inside one
	 * region, else NULL.  Never keep it across a pause: the memory may be
	 * re-homed while the machine is held.
	 */
	void *(*guest_ptr)(void *opaque, uint64_t gpa, uint64_t len);
	/* After the device wrote [gpa, gpa+len) of guest memory: KVM logs only
	 * the guest's own writes, so a migration or diff snapshot needs this. */
	void (*guest_written)(void *opaque, uint64_t gpa, uint64_t len);
	/* Add text (e.g. "virtio_mmio.device=512@0xd0000000:16") to the guest's
	 * kernel command line; only during create.  -E2BIG when it is full. */
	int (*add_cmdline)(void *opaque, const char *text, struct gm_error *err);
	/* One line about the device for the machine's log (gm_log), e.g. a guest's bad request. */
	void (*log)(void *opaque, const char *line);
	/*
	 * The guest gave back guest RAM [gpa, gpa+len) (a balloon's inflate or
	 * free page report): free its backing in the memory plane (punch-hole
	 * for guest_memfd and memfd, MADV_DONTNEED for anon; hugetlb frees only
	 * the whole huge pages inside, rounding inward), and mark what was freed
	 * written so a migration or diff snapshot carries it as zero.  Callable
	 * on a vCPU thread (takes no machine-wide lock).  *freed: the bytes
	 * actually discarded.  -EINVAL (err filled) when [gpa, gpa+len) is not
	 * wholly guest RAM of one region.
	 */
	int (*discard)(void *opaque, uint64_t gpa, uint64_t len, uint64_t *freed, struct gm_error *err);
};

/*
 * A port I/O or MMIO handler.  data holds size bytes, little-endian: the
 * value written, or the place to put the value read.  Handlers run on vCPU
 * threads, possibly several at once; each device locks what it shares.
 */
typedef void (*gm_io_fn)(void *opaque, uint64_t addr, uint8_t *data, unsigned size, bool is_write);

struct gm_iobus;

struct gm_iobus *gm_iobus_new(void);
void gm_iobus_free(struct gm_iobus *bus);

/* Register [base, base+len) of port space or of MMIO space; set up before vCPUs run. */
int gm_iobus_add_pio(struct gm_iobus *bus, uint16_t base, uint16_t len, gm_io_fn fn, void *opaque,
		     const char *name, struct gm_error *err);
int gm_iobus_add_mmio(struct gm_iobus *bus, uint64_t base, uint64_t len, gm_io_fn fn, void *opaque,
		      const char *name, struct gm_error *err);

/* Where the bus reports unclaimed accesses (one line each); NULL: nowhere. */
void gm_iobus_set_log(struct gm_iobus *bus, void (*log)(void *opaque, const char *line), void *opaque);

/*
 * Route one access.  An access nobody claims reads as all ones, writes are
 * dropped, and the first one at each address is reported once to the log.
 */
void gm_iobus_pio(struct gm_iobus *bus, uint16_t port, uint8_t *data, unsigned size, bool is_write);
void gm_iobus_mmio(struct gm_iobus *bus, uint64_t addr, uint8_t *data, unsigned size, bool is_write);

/* Where console output goes: the configured console, or a library user's sink. */
struct gm_console_io;
typedef void (*gm_console_out_fn)(void *opaque, const char *buf, size_t len);

int gm_console_open(enum gm_console kind, const char *path, struct gm_console_io **out, struct gm_error *err);
/* A file console over fd (ours from now on), another process's console file: a live update's. */
int gm_console_adopt(int fd, const char *path, struct gm_console_io **out, struct gm_error *err);
/* The console file's fd (a live update hands it over), -1 for stdio or none. */
int gm_console_file_fd(const struct gm_console_io *c);
void gm_console_set_sink(struct gm_console_io *c, gm_console_out_fn fn, void *opaque);
/* Where the console reports, once, that writing its output failed: one line,
 * no newline (NULL: nowhere).  The guest runs on; its further output is dropped. */
void gm_console_set_log(struct gm_console_io *c, void (*log)(void *, const char *), void *opaque);
void gm_console_write(struct gm_console_io *c, const char *buf, size_t len);
/* Read guest input into buf; returns bytes (0 when none is pending). */
size_t gm_console_read(struct gm_console_io *c, char *buf, size_t max);
/* Start forwarding stdin (when it is a terminal or a pipe); notify is called when input arrives. */
int gm_console_start_input(struct gm_console_io *c, void (*notify)(void *opaque), void *opaque,
			   struct gm_error *err);
void gm_console_close(struct gm_console_io *c);

/* The 8250 UART at port base with interrupt gsi (COM1: 0x3f8, 4). */
struct gm_serial;
int gm_serial_new(struct gm_iobus *bus, const struct gm_dev_host *host, struct gm_console_io *con,
		  uint16_t base, unsigned gsi, struct gm_serial **out, struct gm_error *err);
void gm_serial_free(struct gm_serial *s);

/* QEMU's isa-debug-exit at 0xf4 and the i8042 reset line at 0x64. */
struct gm_exit_port;
int gm_exit_port_new(struct gm_iobus *bus, const struct gm_dev_host *host, struct gm_exit_port **out,
		     struct gm_error *err);
void gm_exit_port_free(struct gm_exit_port *e);

/*
 * The IOAPIC at GM_IOAPIC_MMIO_BASE with APIC id `id`.  set_irq drives a pin
 * (devices call it through their host's set_irq); eoi is the guest's EOI of
 * vector (KVM_EXIT_IOAPIC_EOI), which re-delivers a level pin still high.
 */
struct gm_ioapic;
int gm_ioapic_new(struct gm_iobus *bus, const struct gm_dev_host *host, unsigned id, struct gm_ioapic **out,
		  struct gm_error *err);
void gm_ioapic_set_irq(struct gm_ioapic *io, unsigned pin, bool level);
void gm_ioapic_eoi(struct gm_ioapic *io, uint8_t vector);
void gm_ioapic_free(struct gm_ioapic *io);


/*
 * Resources a device claims at creation: interrupt lines (IOAPIC pins) and
 * MMIO windows.  Fixed legacy devices claim what the PC gives them; newer
 * ones (virtio-mmio) take the next free window and line.
 */
struct gm_resources;
struct gm_resources *gm_resources_new(void);
void gm_resources_free(struct gm_resources *res);
int gm_res_claim_gsi(struct gm_resources *res, unsigned gsi, const char *who, struct gm_error *err);
int gm_res_alloc_gsi(struct gm_resources *res, const char *who, unsigned *gsi, struct gm_error *err);
int gm_res_alloc_mmio(struct gm_resources *res, uint64_t len, const char *who, uint64_t *base,
		      struct gm_error *err);

/* What a device gets when it is created. */
struct gm_dev_ctx {
	struct gm_iobus *bus;
	struct gm_resources *res;
	struct gm_dev_host host;
	struct gm_console_io *console;
	unsigned ncpus;
	const struct gm_config *cfg; /* the machine's: which disks, which devices */
	unsigned instance;           /* 0..instances(cfg)-1: which of this type's (e.g. cfg->disks[instance]) */
	uint8_t uuid[16];            /* the VM's identity (a default MAC is made from it) */
};

/* One number a device shows in vm.info ("target_mib", "freed_bytes", "rx_packets"). */
struct gm_dev_stat {
	const char *key;             /* static string, [a-z0-9_] */
	uint64_t value;
};
#define GM_DEV_STATS_MAX 32

/* The most state bytes one device saves. */
#define GM_DEV_STATE_MAX 4096

/*
 * A device type: the machine walks a table of these and names none of them.
 * In the state stream each instance is one DEVICE section under the type's
 * name, in creation order.  save writes the device's state (at most max bytes, this type's layout at
 * state_version) and returns its length; load checks all of data before it
 * changes anything.  start, reset, save and load run with every vCPU parked.
 */
struct gm_device_type {
	const char *name;
	uint32_t state_version;
	/* It writes guest memory itself (virtio buffers): dirty tracking then
	 * starts and stops only while the machine is held. */
	bool writes_guest;
	/* How many of this type cfg asks for (NULL: exactly one, every machine has it). */
	unsigned (*instances)(const struct gm_config *cfg);
	int (*create)(const struct gm_dev_ctx *ctx, void **dev, struct gm_error *err);
	int (*start)(void *dev, struct gm_error *err); /* when vCPUs start; may be NULL */
	/*
	 * With every vCPU parked (a hold): return once the device will not touch
	 * guest memory or raise an interrupt until a vCPU runs again (finish or
	 * wait out I/O in flight).  May be NULL: a device that works only on
	 * vCPU threads is quiet whenever they are parked.
	 */
	void (*quiesce)(void *dev);
	/*
	 * quiesce's pair: the machine's last hold ended (the vCPUs run again,
	 * perhaps already), so work the device held back may go on (input
	 * that arrived meanwhile).  Called only after a quiesce, never on a
	 * machine that is stopping or was handed over.  May be NULL.
	 */
	void (*resume)(void *dev);
	void (*reset)(void *dev);
	/*
	 * The guest went to another process for good (a migration completed, a
	 * live update committed): let go at once of host resources that process
	 * needs (bound ports, a tap queue).  The device never runs here again.
	 * May be NULL.
	 */
	void (*release)(void *dev);
	/*
	 * release's pair in a live update's new process: the old one COMMITted,
	 * so the guest is this process's for good and the host resources the
	 * old one lets go of (ports, a tap queue) may be taken now, waiting
	 * for them if need be.  The owner's thread, under op_lock; the guest
	 * may already run (vCPUs may send meanwhile) or be resumed from an API
	 * thread, which could not open them.  Too late to refuse: a failure is
	 * the device's to log.  May be NULL.
	 */
	void (*adopt)(void *dev);
	/* Numbers for vm.info: fill at most max of out, return how many.  Any thread.  May be NULL. */
	unsigned (*stats)(void *dev, struct gm_dev_stat *out, unsigned max);
	/*
	 * A run-time setting from the API (e.g. the balloon's "target_mib"):
	 * check value, then apply it.  -ENOENT for a key the device does not
	 * have.  API thread, vCPUs running.  May be NULL (no settings).
	 */
	int (*set)(void *dev, const char *key, int64_t value, struct gm_error *err);
	size_t (*save)(void *dev, uint8_t *out, size_t max);
	int (*load)(void *dev, const uint8_t *data, size_t len, uint32_t version, struct gm_error *err);
	void (*destroy)(void *dev);
};

extern const struct gm_device_type gm_dev_ioapic, gm_dev_serial, gm_dev_exit_port;
/* The built-in devices in creation order (the interrupt controller first), NULL-terminated. */
extern const struct gm_device_type *const gm_builtin_devices[];

#endif
