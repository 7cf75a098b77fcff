/*
 * vmm/vcpu: vCPU creation and the thread that runs each one.  The loop is
 * KVM_RUN, dispatch the exit, repeat; a return with EINTR means somebody
 * kicked us to pause or stop.  Because a kick sets immediate_exit, KVM
 * first completes any pending I/O, so a parked vCPU's state is consistent.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "mem/dirty_ring.h"
#include "vmm/vmm.h"
#include "x86/x86.h"
#include "gmvm/thread.h"

#ifndef KVM_EXIT_MEMORY_FAULT
#define KVM_EXIT_MEMORY_FAULT 39
#endif

/* kvm_run's memory_fault exit, absent from older <linux/kvm.h>; it sits in
 * the same union as the mmio exit. */
struct memory_fault_exit {
	__u64 flags, gpa, size;
};

/*
 * The CPUID every vCPU starts from: KVM's, with the --cpu template (checked
 * by check_config already) and, where guest CPL0 is emulated, without what
 * the emulator cannot run.  The effective template becomes cfg.cpu, so the
 * state header carries exactly what was built.
 */
static struct kvm_cpuid2 *machine_cpuid(struct gm_machine *m, struct gm_error *err)
{
	struct gm_cpu_template t;
	struct kvm_cpuid2 *cpuid;

	if (gm_cpu_template_parse(m->cfg.cpu, &t, err))
		return NULL;
	if (m->caps.cpl0_emulated)
		gm_cpu_template_cpl0(&t, m->cpu_note, sizeof(m->cpu_note));
	cpuid = gm_x86_cpuid_build(m->kvm_fd, &t, err);
	if (!cpuid)
		return NULL;
	gm_cpu_template_format(&t, m->cpu_spec, sizeof(m->cpu_spec));
	m->cfg.cpu = m->cpu_spec;
	m->xcr0_allowed = gm_cpu_xcr0_allowed(cpuid);
	return cpuid;
}

int gm_vcpus_create(struct gm_machine *m, bool boot, enum gm_entry entry, uint64_t entry_addr, struct gm_error *err)
{
	struct kvm_cpuid2 *cpuid = machine_cpuid(m, err);
	int r = 0;

	if (!cpuid)
		return err && err->errnum ? -err->errnum : -EINVAL;
	for (unsigned i = 0; i < m->ncpus && !r; i++) {
		struct gm_vcpu *v = &m->vcpus[i];

		v->m = m;
		v->id = i;
		v->fd = gm_kvm_create_vcpu(m->vm_fd, i, err);
		if (v->fd < 0) {
			r = v->fd;
			break;
		}
		v->run = gm_kvm_map_run(m->kvm_fd, v->fd, err);
		if (!v->run) {
			r = -ENOMEM;
			break;
		}
		if (m->rings) {
			r = gm_dirty_rings_add_vcpu(m->rings, i, v->fd, err);
			if (r)
				break;
		}
		r = gm_x86_setup_vcpu(v->fd, cpuid, i, m->ncpus, err);
		/* APs stay in wait-for-SIPI, as the in-kernel LAPIC starts them. */
		if (!r && i == 0 && boot)
			r = gm_x86_setup_boot_regs(v->fd, entry, entry_addr, err);
	}
	free(cpuid);
	return r;
}

static void exit_io(struct gm_vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;

	/* rep ins/outs arrive as count accesses laid out one after another */
	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size)
		gm_iobus_pio(v->m->bus, run->io.port, data, run->io.size, is_write);
}

static const char *internal_error_name(uint32_t sub)
{
	switch (sub) {
	case KVM_INTERNAL_ERROR_EMULATION: return "instruction emulation failed";
	case KVM_INTERNAL_ERROR_SIMUL_EX: return "exception during exception delivery";
	case KVM_INTERNAL_ERROR_DELIVERY_EV: return "event delivery failed";
	default: return "internal error";
	}
}

static enum gm_exit_counter counter_of(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_IO: return GM_COUNT_IO;
	case KVM_EXIT_MMIO: return GM_COUNT_MMIO;
	case KVM_EXIT_IOAPIC_EOI: return GM_COUNT_EOI;
	default: return GM_COUNT_OTHER;
	}
}

/* Only this vCPU's thread writes its counters; readers load them relaxed. */
static void count(struct gm_vcpu *v, enum gm_exit_counter c)
{
	__atomic_store_n(&v->exits[c], v->exits[c] + 1, __ATOMIC_RELAXED);
}

/* Dispatch one exit; false when the vCPU must stop. */
static bool handle_exit(struct gm_vcpu *v)
{
	struct gm_machine *m = v->m;
	struct kvm_run *run = v->run;

	count(v, counter_of(run->exit_reason));
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		exit_io(v);
		return true;
	case KVM_EXIT_MMIO:
		gm_iobus_mmio(m->bus, run->mmio.phys_addr, run->mmio.data, run->mmio.len, run->mmio.is_write);
		return true;
	case KVM_EXIT_IOAPIC_EOI:
		if (m->chip_eoi)
			m->chip_eoi(m->chip, run->eoi.vector);
		return true;
	case KVM_EXIT_SHUTDOWN:
		gm_machine_end(m, GM_EXIT_CRASH, GM_STATUS_FAILURE, 0, v->id,
			       "vCPU %u triple-faulted (KVM_EXIT_SHUTDOWN)", v->id);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		gm_machine_end(m, GM_EXIT_CRASH, GM_STATUS_FAILURE, 0, v->id,
			       "vCPU %u: KVM %s (suberror %u)", v->id, internal_error_name(run->internal.suberror),
			       run->internal.suberror);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		gm_machine_end(m, GM_EXIT_CRASH, GM_STATUS_FAILURE, 0, v->id,
			       "vCPU %u: KVM could not enter the guest (hardware reason 0x%llx)", v->id,
			       (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_CRASH)
			gm_machine_end(m, GM_EXIT_CRASH, GM_STATUS_FAILURE, 0, v->id,
				       "vCPU %u: the guest reported a crash", v->id);
		else
			gm_machine_end(m, GM_EXIT_POWEROFF, GM_STATUS_OK, 0, v->id,
				       "the guest asked to %s", run->system_event.type == KVM_SYSTEM_EVENT_RESET ? "reset" : "power off");
		return false;
	case KVM_EXIT_DIRTY_RING_FULL: {
		/* KVM stops the vCPU until its ring has room: empty it, run on */
		struct gm_error err = { 0 };

		if (!gm_dirty_rings_harvest_vcpu(m->rings, v->id, &err))
			return true;
		gm_machine_end(m, GM_EXIT_ERROR, GM_STATUS_FAILURE, 0, v->id, "vCPU %u: %s", v->id, err.msg);
		return false;
	}
	case KVM_EXIT_HLT:
		/* only without an in-kernel LAPIC, which gmvm always has */
		gm_machine_end(m, GM_EXIT_HALTED, GM_STATUS_OK, 0, v->id, "vCPU %u halted", v->id);
		return false;
	case KVM_EXIT_MEMORY_FAULT: {
		const struct memory_fault_exit *f = (const void *)&run->mmio;
		gm_machine_end(m, GM_EXIT_CRASH, GM_STATUS_FAILURE, 0, v->id,
			       "vCPU %u: KVM could not fault in guest memory at 0x%llx (+0x%llx)", v->id,
			       (unsigned long long)f->gpa, (unsigned long long)f->size);
		return false;
	}
	default:
		gm_machine_end(m, GM_EXIT_CRASH, GM_STATUS_FAILURE, 0, v->id,
			       "vCPU %u: unexpected KVM exit reason %u", v->id, run->exit_reason);
		return false;
	}
}

static void *vcpu_main(void *arg)
{
	struct gm_vcpu *v = arg;
	struct gm_machine *m = v->m;
	struct gm_error err = { 0 };
	bool first = true;

	gm_thread_started(GM_THREAD_VCPU);
	if (gm_kick_setup_vcpu(v, &err)) {
		gm_machine_end(m, GM_EXIT_ERROR, GM_STATUS_FAILURE, 0, v->id, "%s", err.msg);
		goto done;
	}
	/* A pause asked for before start holds the vCPU before its first instruction. */
	if (gm_vcpu_park(v))
		goto done;
	if (v->id == 0)
		gm_trace_mark(&m->trace, GM_TRACE_FIRST_RUN);
	for (;;) {
		int r = ioctl(v->fd, KVM_RUN, 0);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				gm_kick_consume();
				count(v, GM_COUNT_INTERRUPTED);
				if (gm_vcpu_park(v))
					break;
				continue;
			}
			/* KVM reports a guest memory fault as EFAULT with the exit filled in */
			if (errno == EFAULT && v->run->exit_reason == KVM_EXIT_MEMORY_FAULT) {
				handle_exit(v);
				break;
			}
			gm_machine_end(m, GM_EXIT_ERROR, GM_STATUS_FAILURE, 0, v->id, "vCPU %u: KVM_RUN failed: %s",
				       v->id, strerror(errno));
			break;
		}
		if (v->id == 0 && first) {
			gm_trace_mark(&m->trace, GM_TRACE_FIRST_EXIT);
			first = false;
		}
		if (!handle_exit(v))
			break;
	}
done:
	pthread_mutex_lock(&m->lock);
	v->thread_done = true;
	m->live--;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int gm_vcpus_start(struct gm_machine *m, struct gm_error *err)
{
	sigset_t kick, old;
	int r = 0;

	/* New threads inherit this mask: a kick can never reach a vCPU thread
	 * before it has blocked the signal itself. */
	if (m->cpu_note[0])
		gm_log(m, GM_LOG_INFO, "guest CPL0 runs in KVM's instruction emulator here: the vCPUs do not show %s (--cpu %s)",
		       m->cpu_note, m->cpu_spec);
	sigemptyset(&kick);
	sigaddset(&kick, GM_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &kick, &old);
	pthread_mutex_lock(&m->lock);
	m->started = true;
	for (unsigned i = 0; i < m->ncpus; i++) {
		struct gm_vcpu *v = &m->vcpus[i];

		r = pthread_create(&v->thread, NULL, vcpu_main, v);
		if (r)
			break;
		v->thread_started = true;
		m->live++;
	}
	/* With a pause pending, return only once every vCPU is parked, so the
	 * caller can set vCPU state right away (restore, incoming migration). */
	while (!r && m->pause_depth && m->parked < m->live && !m->stopping)
		pthread_cond_wait(&m->cond, &m->lock);
	pthread_mutex_unlock(&m->lock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		gm_machine_end(m, GM_EXIT_ERROR, GM_STATUS_FAILURE, 0, 0, "cannot start a vCPU thread");
		return gm_fail(err, GM_STATUS_FAILURE, r, "cannot start a vCPU thread: %s", strerror(r));
	}
	return 0;
}

void gm_vcpus_destroy(struct gm_machine *m)
{
	for (unsigned i = 0; i < m->ncpus; i++) {
		struct gm_vcpu *v = &m->vcpus[i];

		if (v->thread_started)
			pthread_join(v->thread, NULL);
		v->thread_started = false;
		if (v->run)
			gm_kvm_unmap_run(m->kvm_fd, v->run);
		v->run = NULL;
		if (v->fd > 0)
			close(v->fd);
		v->fd = -1;
	}
}

void gm_machine_dump_vcpu(struct gm_machine *m, unsigned cpu, FILE *out)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (cpu >= m->ncpus || gm_ioctl(m->vcpus[cpu].fd, KVM_GET_REGS, &r) < 0 ||
	    gm_ioctl(m->vcpus[cpu].fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(out, "gmvm: registers of vCPU %u unavailable\n", cpu);
		return;
	}
	fprintf(out, "gmvm: vCPU %u registers:\n", cpu);
	fprintf(out, "  RIP=%016llx RSP=%016llx RFLAGS=%08llx\n", r.rip, r.rsp, r.rflags);
	fprintf(out, "  RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n", r.rax, r.rbx, r.rcx, r.rdx);
	fprintf(out, "  RSI=%016llx RDI=%016llx RBP=%016llx\n", r.rsi, r.rdi, r.rbp);
	fprintf(out, "  R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n", r.r8, r.r9, r.r10, r.r11);
	fprintf(out, "  R12=%016llx R13=%016llx R14=%016llx R15=%016llx\n", r.r12, r.r13, r.r14, r.r15);
	fprintf(out, "  CS=%04x SS=%04x DS=%04x CR0=%08llx CR2=%016llx CR3=%016llx CR4=%08llx EFER=%llx\n",
		s.cs.selector, s.ss.selector, s.ds.selector, s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	fprintf(out, "  GDT=%016llx/%x IDT=%016llx/%x\n", s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit);
}
