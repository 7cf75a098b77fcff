/*
 * vmm/machine: a machine's life.  create checks everything it can before a
 * VM exists (config, memory against caps, the guest image), then builds VM,
 * memory, boot tables, devices and vCPUs; start runs the vCPU threads; wait
 * returns when the guest ended or time ran out; destroy undoes it all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/image.h"
#include "mem/dirty_ring.h"
#include "mem/mem.h"
#include "util/escape.h"
#include "vmm/vmm.h"
#include "x86/x86.h"


static int copy_config(struct gm_machine *m, const struct gm_config *cfg, struct gm_error *err)
{
	m->cfg = *cfg;
	m->kernel = cfg->kernel ? strdup(cfg->kernel) : NULL;
	m->cmdline = strdup(cfg->cmdline ? cfg->cmdline : "");
	m->console_path = cfg->console_path ? strdup(cfg->console_path) : NULL;
	if ((cfg->kernel && !m->kernel) || !m->cmdline || (cfg->console_path && !m->console_path))
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory copying the configuration");
	m->cfg.kernel = m->kernel;
	m->cfg.cmdline = m->cmdline;
	m->cfg.console_path = m->console_path;
	/* the owner's settings; the machine keeps no pointer into its argv */
	m->cfg.api_sock = m->cfg.event_monitor = m->cfg.uuid = NULL;
	if (cfg->uuid)
		return gm_uuid_parse(cfg->uuid, m->uuid, err);
	return 0;
}

/*
 * --cpu: its words first (no KVM needed); then, only when it shows a
 * feature (+FEATURE, the one refusal that depends on the host), applied to
 * KVM's supported CPUID on the system fd, so it is refused before a VM exists.
 */
static int check_cpu(const struct gm_config *cfg, const struct gm_caps *caps, bool with_kvm, struct gm_error *err)
{
	struct gm_cpu_template t;
	char hidden[64];
	bool shows = false;
	int r = gm_cpu_template_parse(cfg->cpu, &t, err);

	for (unsigned i = 0; i < GM_CPU_FEATURE_WORDS; i++)
		shows |= t.show[i] != 0;
	if (r || !with_kvm || !shows)
		return r;
	if (caps->cpl0_emulated)
		gm_cpu_template_cpl0(&t, hidden, sizeof(hidden));
	int fd = gm_kvm_open(err);
	if (fd < 0)
		return fd;
	struct kvm_cpuid2 *c = gm_x86_cpuid_build(fd, &t, err);
	close(fd);
	free(c);
	return c ? 0 : -EINVAL;
}

/* Everything about the config that can be refused without a VM. */
static int check_config(const struct gm_config *cfg, const struct gm_caps *caps, struct gm_error *err)
{
	int r = check_cpu(cfg, caps, false, err);

	if (r)
		return r;
	if (!caps->kvm)
		return gm_fail(err, GM_STATUS_NO_KERNEL, ENODEV, "KVM is not available; run on a host with /dev/kvm");
	if (cfg->cpus < 1 || cfg->cpus > GM_MAX_CPUS)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--cpus %u: use 1 to %d", cfg->cpus, GM_MAX_CPUS);
	if (caps->max_vcpus && cfg->cpus > caps->max_vcpus)
		return gm_fail(err, GM_STATUS_NO_KERNEL, EINVAL, "--cpus %u: this kernel allows at most %u vCPUs per VM",
			       cfg->cpus, caps->max_vcpus);
	if (!caps->irqchip)
		return gm_fail(err, GM_STATUS_NO_KERNEL, ENOTSUP, "KVM has no in-kernel LAPIC here (KVM_CAP_SPLIT_IRQCHIP); use an x86 host kernel with it (Linux 4.5 or later)");
	if (cfg->cmdline && strlen(cfg->cmdline) >= GM_BOOT_CMDLINE_MAX)
		return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG, "guest command line is %zu bytes; shorten it to at most %u",
			       strlen(cfg->cmdline), GM_BOOT_CMDLINE_MAX - 1);
	bool ring;
	r = gm_dirty_log_use_ring(cfg->dirty_log, caps, &ring, err);
	if (!r)
		r = check_cpu(cfg, caps, true, err);
	if (r)
		return r;
	return gm_memory_check(&cfg->mem, caps, err);
}

/*
 * Every region, made, named (VM UUID + region name), placed with memslots
 * of its own, bound and, if asked, tracked.  Before any vCPU exists, so a
 * switch to the mapped binding for tracking costs no pause.
 */
static int create_memories(struct gm_machine *m, const struct gm_caps *caps, const struct gm_handed *handed,
			   struct gm_error *err)
{
	for (unsigned i = 0; i < 1 + m->cfg.nregions; i++) {
		const struct gm_region_config *rc = i ? &m->cfg.regions[i - 1] : NULL;
		const struct gm_mem_config *mc = rc ? &rc->mem : &m->cfg.mem;
		struct gm_memory *mem = NULL;
		/* a live update's memory exists with the guest's pages in it: used, never made */
		int r = handed ? gm_memory_import(mc, caps, m->vm_fd, handed->region_fds[i], &mem, err)
			       : gm_memory_create(mc, caps, m->vm_fd, &mem, err);

		if (r)
			return r;
		m->mems[m->nmems++] = mem;
		/* before tracking can start: the VM's rings route its slots' pages to it */
		r = m->rings ? gm_dirty_rings_attach(m->rings, mem, err) : 0;
		if (!r)
			r = gm_memory_set_identity(mem, m->uuid, rc ? rc->name : GM_RAM_REGION, err);
		if (!r)
			r = gm_memory_place(mem, rc ? rc->gpa : 0, i * GM_MEM_MAX_REGIONS, err);
		if (!r)
			r = gm_memory_bind(mem, gm_memory_config(mem)->bind, err);
		if (!r && mc->track_dirty)
			r = gm_memory_dirty_start(mem, err);
		if (r)
			return r;
	}
	m->mem = m->mems[0];
	return 0;
}

/* The guest image (ELF or bzImage) and initrd, read, parsed and placed against the RAM size. */
struct boot_image {
	struct gm_boot_image img;
};

static int read_image(struct gm_machine *m, struct boot_image *bi, struct gm_error *err)
{
	const struct gm_config *cfg = &m->cfg;

	return gm_boot_image_read(cfg->kernel, cfg->initrd, cfg->entry, cfg->mem.size, &m->trace, &bi->img, err);
}

/* The user's command line, then the devices' entries (virtio_mmio.device=...). */
static int guest_cmdline(const struct gm_machine *m, char *out, size_t max, struct gm_error *err)
{
	const char *user = m->cfg.cmdline ? m->cfg.cmdline : "";
	int n = snprintf(out, max, "%s%s%s", user, *user && m->dev_cmdline[0] ? " " : "", m->dev_cmdline);

	if (n < 0 || (size_t)n >= max)
		return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG,
			       "the guest command line with the devices' entries is %d bytes, more than %zu; shorten --cmdline",
			       n, max - 1);
	return 0;
}

/* Boot tables, then the image: the guest's RAM as the entry expects it. */
static int load_guest(struct gm_machine *m, struct boot_image *bi, struct gm_error *err)
{
	char cmdline[GM_BOOT_CMDLINE_MAX];
	int r = guest_cmdline(m, cmdline, sizeof(cmdline), err);

	if (!r)
		r = gm_x86_write_boot_tables(m->mems, m->nmems, bi->img.entry, cmdline, m->ncpus, err);
	if (!r)
		r = gm_boot_image_load(&bi->img, m->mem, err);
	gm_boot_image_release(&bi->img);
	return r;
}

/*
 * Build a machine: with bi, boot tables, the image and boot registers are
 * written (a new guest); without, memory and vCPUs are left for a restore
 * to fill.  Every refusal the config allows happens before the VM exists.
 */
int gm_machine_build(const struct gm_config *cfg, const struct gm_caps *caps, bool boot, const struct gm_handed *handed,
		     struct gm_machine **out, struct gm_error *err)
{
	struct gm_machine *m = calloc(1, sizeof(*m));
	struct boot_image bi = { 0 };
	int r;

	if (!m)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "out of memory for the machine");
	m->kvm_fd = m->vm_fd = m->lock_fd = -1;
	pthread_mutex_init(&m->op_lock, NULL);
	pthread_mutex_init(&m->migration.lock, NULL);
	pthread_mutex_init(&m->rehome.lock, NULL);
	pthread_mutex_init(&m->update.lock, NULL);
	pthread_mutex_init(&m->lock, NULL);
	/* gm_machine_wait's deadlines are CLOCK_MONOTONIC, immune to clock changes */
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	m->caps = *caps;
	m->ncpus = cfg->cpus;

	r = copy_config(m, cfg, err);
	if (!r)
		r = check_config(&m->cfg, caps, err);
	if (!r)
		r = gm_regions_prepare(m, caps, err);
	if (!r && boot)
		r = read_image(m, &bi, err);
	if (!r && !cfg->uuid)
		r = gm_uuid_generate(m->uuid, err);
	/* one owner per identity on this host, before anything of the VM exists;
	 * a migration's destination takes it over from the source at the end */
	if (!r && handed)
		r = gm_identity_adopt(m->uuid, handed->lock_fd, &m->lock_fd, err);
	else if (!r && !cfg->incoming)
		r = gm_identity_lock(m->uuid, &m->lock_fd, err);
	if (r)
		goto fail;
	gm_trace_mark(&m->trace, GM_TRACE_CHECKED);
	/* Only now, with every refusal behind us, does a VM come to exist. */
	m->kvm_fd = gm_kvm_open(err);
	if (m->kvm_fd < 0) {
		r = m->kvm_fd;
		goto fail;
	}
	m->vm_fd = gm_kvm_create_vm(m->kvm_fd, err);
	if (m->vm_fd < 0) {
		r = m->vm_fd;
		goto fail;
	}
	/* Intel VMX without unrestricted guest needs these pages to run real
	 * mode (an AP's SIPI trampoline); elsewhere the ioctls are no-ops. */
	uint64_t identity_map = GM_VMX_IDENTITY_MAP;
	gm_ioctl(m->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &identity_map);
	gm_ioctl(m->vm_fd, KVM_SET_TSS_ADDR, (void *)(uintptr_t)GM_VMX_TSS);
	r = gm_kvm_create_split_irqchip(m->vm_fd, GM_IOAPIC_PINS, err);
	/* the dirty ring only before any vCPU exists */
	if (!r)
		r = gm_dirty_rings_setup(m->cfg.dirty_log, m->vm_fd, caps, m->ncpus, &m->rings, err);
	if (r)
		goto fail;
	gm_trace_mark(&m->trace, GM_TRACE_VM);
	r = create_memories(m, caps, handed, err);
	if (r)
		goto fail;
	gm_trace_mark(&m->trace, GM_TRACE_MEMORY);
	if (handed && handed->console_fd >= 0) {
		int fd = fcntl(handed->console_fd, F_DUPFD_CLOEXEC, 0);

		r = fd < 0 ? gm_fail(err, GM_STATUS_FAILURE, errno, "cannot keep the console file handed over: %s; raise ulimit -n",
				     strerror(errno))
			   : gm_console_adopt(fd, handed->console_path, &m->console, err);
		if (r && fd >= 0)
			close(fd);
	} else {
		r = gm_console_open(m->cfg.console, m->cfg.console_path, &m->console, err);
	}
	/* devices before the boot tables: they add to the kernel command line */
	if (!r)
		r = gm_devices_create(m, err);
	if (!r && boot)
		r = load_guest(m, &bi, err);
	if (r)
		goto fail;
	gm_trace_mark(&m->trace, GM_TRACE_LOADED);
	r = gm_x86_saved_msrs(m->kvm_fd, m->saved_msrs, GM_MAX_SAVED_MSRS, err);
	if (r < 0)
		goto fail;
	m->nsaved_msrs = (unsigned)r;
	r = gm_vcpus_create(m, boot, bi.img.entry, bi.img.entry_addr, err);
	if (r)
		goto fail;
	gm_trace_mark(&m->trace, GM_TRACE_VCPUS);
	*out = m;
	return 0;
fail:
	gm_boot_image_release(&bi.img);
	gm_machine_destroy(m);
	return r;
}

int gm_machine_create(const struct gm_config *cfg, const struct gm_caps *caps,
		      struct gm_machine **out, struct gm_error *err)
{
	return gm_machine_build(cfg, caps, true, NULL, out, err);
}

void gm_machine_set_console_sink(struct gm_machine *m, gm_console_sink sink, void *opaque)
{
	gm_console_set_sink(m->console, sink, opaque);
}

int gm_machine_start(struct gm_machine *m, struct gm_error *err)
{
	int r;

	if (m->started)
		return gm_fail(err, GM_STATUS_FAILURE, EBUSY, "the machine is already started");
	r = gm_devices_start(m, err);
	if (!r)
		r = gm_vcpus_start(m, err);
	if (!r)
		gm_emit(m, (struct gm_event){ .kind = GM_EVENT_RUNNING });
	return r;
}

static struct timespec deadline_after(double seconds)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += (time_t)seconds;
	t.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

int gm_machine_wait(struct gm_machine *m, double timeout, struct gm_exit *out)
{
	struct timespec deadline = deadline_after(timeout > 0 ? timeout : 0);
	struct gm_halt_poll hp;

	gm_halt_poll_init(&hp);
	pthread_mutex_lock(&m->lock);
	for (;;) {
		if (m->exit.kind != GM_EXIT_NONE && m->live == 0)
			break;
		struct timespec now, next = deadline_after(hp.interval);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (timeout > 0 && !before(&now, &deadline)) {
			pthread_mutex_unlock(&m->lock);
			memset(out, 0, sizeof(*out));
			out->kind = GM_EXIT_TIMEOUT;
			out->status = GM_STATUS_TIMEOUT;
			snprintf(out->reason, sizeof(out->reason), "the guest was still running after %g s", timeout);
			return -ETIMEDOUT;
		}
		if (timeout > 0 && before(&deadline, &next))
			next = deadline;
		if (pthread_cond_timedwait(&m->cond, &m->lock, &next) == ETIMEDOUT) {
			pthread_mutex_unlock(&m->lock);
			gm_halt_poll(m, &hp);
			pthread_mutex_lock(&m->lock);
		}
	}
	*out = m->exit;
	pthread_mutex_unlock(&m->lock);
	gm_trace_mark(&m->trace, GM_TRACE_END);
	return 0;
}

void gm_machine_stop(struct gm_machine *m)
{
	gm_machine_end(m, GM_EXIT_STOPPED, GM_STATUS_FAILURE, 0, 0, "stopped by the VMM");
	pthread_mutex_lock(&m->lock);
	while (m->live)
		pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
}

int gm_machine_shutdown(struct gm_machine *m, const char *reason, struct gm_error *err)
{
	int r = 0;

	pthread_mutex_lock(&m->op_lock);
	pthread_mutex_lock(&m->lock);
	bool ended = m->exit.kind != GM_EXIT_NONE;
	pthread_mutex_unlock(&m->lock);
	if (ended)
		r = gm_fail(err, GM_STATUS_FAILURE, ESRCH, "the guest has already ended; nothing to shut down");
	else
		gm_machine_end(m, GM_EXIT_SHUTDOWN, GM_STATUS_OK, 0, 0, "%s", reason);
	pthread_mutex_unlock(&m->op_lock);
	return r;
}

int gm_machine_switch_binding(struct gm_machine *m, enum gm_bind mode, struct gm_error *err)
{
	return gm_machine_switch_region_binding(m, GM_RAM_REGION, mode, err);
}

int gm_machine_discard(struct gm_machine *m, uint64_t gpa, uint64_t len, struct gm_error *err)
{
	return gm_machine_discard_region(m, NULL, gpa, len, err);
}

enum gm_machine_state gm_machine_state(struct gm_machine *m)
{
	enum gm_machine_state s;

	pthread_mutex_lock(&m->lock);
	if (m->exit.kind != GM_EXIT_NONE)
		s = GM_STATE_SHUTDOWN;
	else if (m->user_paused)
		s = GM_STATE_PAUSED;
	else if (!m->started)
		s = GM_STATE_CREATED;
	else
		s = GM_STATE_RUNNING;
	pthread_mutex_unlock(&m->lock);
	return s;
}

const struct gm_config *gm_machine_config(const struct gm_machine *m)
{
	return &m->cfg;
}

void gm_machine_uuid(const struct gm_machine *m, char out[37])
{
	gm_uuid_format(m->uuid, out);
}

int gm_machine_exit(struct gm_machine *m, struct gm_exit *out)
{
	pthread_mutex_lock(&m->lock);
	bool ended = m->exit.kind != GM_EXIT_NONE;
	if (ended)
		*out = m->exit;
	pthread_mutex_unlock(&m->lock);
	return ended ? 0 : -EAGAIN;
}

void gm_machine_counters(struct gm_machine *m, struct gm_counters *out)
{
	memset(out, 0, sizeof(*out));
	out->ncpus = m->ncpus;
	for (unsigned i = 0; i < m->ncpus; i++)
		for (unsigned k = 0; k < GM_COUNT_KINDS; k++)
			out->exits[i][k] = __atomic_load_n(&m->vcpus[i].exits[k], __ATOMIC_RELAXED);
	pthread_mutex_lock(&m->lock);
	out->pauses = m->pauses;
	out->paused_ns = m->paused_ns + (m->pause_depth ? gm_ns_since(&m->held_since) : 0);
	out->halt_checks = m->halt_checks;
	pthread_mutex_unlock(&m->lock);
}

unsigned gm_machine_cpus(const struct gm_machine *m)
{
	return m->ncpus;
}

struct gm_memory *gm_machine_memory(struct gm_machine *m)
{
	return m->mems[0];
}

void gm_machine_trace(const struct gm_machine *m, struct gm_trace *into)
{
	gm_trace_merge(into, &m->trace);
}

void gm_machine_destroy(struct gm_machine *m)
{
	if (!m)
		return;
	if (m->started)
		gm_machine_stop(m);
	gm_vcpus_destroy(m);
	/* no vCPU can fault any more: the page server may go before the memory */
	gm_ondemand_stop(m->ondemand);
	gm_devices_destroy(m);
	gm_console_close(m->console);
	while (m->nmems)
		gm_memory_destroy(m->mems[--m->nmems]);
	m->mem = NULL;
	gm_dirty_rings_destroy(m->rings);
	if (m->vm_fd >= 0)
		close(m->vm_fd);
	if (m->kvm_fd >= 0)
		close(m->kvm_fd);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->op_lock);
	pthread_mutex_destroy(&m->migration.lock);
	pthread_mutex_destroy(&m->rehome.lock);
	pthread_mutex_destroy(&m->update.lock);
	gm_identity_unlock(m->uuid, m->lock_fd);
	free(m->kernel);
	free(m->cmdline);
	free(m->console_path);
	free(m);
}
