/*
 * Booting the test guests with `gmvm run`, as a user would: every backend
 * and binding, both entries, large memory across the 32-bit hole, several
 * vCPUs.  Each test checks the guest's own output and gmvm's exit status.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define HELLO_LINUX64 "Hello from gmvm guest (entry=linux64)"

static void boot_hello(const char *memory, const char *expect_ram)
{
	struct run_result r;

	run_guest(&r, 60, "hello", "--memory", memory, NULL);
	expect_run(&r, 0, HELLO_LINUX64);
	expect_run(&r, 0, expect_ram);
	run_result_free(&r);
}

/* Run GUEST with ARGS and expect status 0 and want on its console. */
#define BOOT_OK(want, guest, ...)                                      \
	do {                                                           \
		struct run_result r_;                                  \
		run_guest(&r_, 90, guest, __VA_ARGS__, NULL);          \
		expect_run(&r_, 0, want);                              \
		run_result_free(&r_);                                  \
	} while (0)

/* e820 RAM of a 256 MiB guest: 256 MiB minus the 0x9fc00..1 MiB reserved area. */
#define RAM_256M "ram=255 MiB"

/* These two are about guest_memfd, so they name it: GMVM_TEST_BACKEND does not apply. */
Test(boot, hello_guest_memfd_gmem, .timeout = 90)
{
	require_guest_memfd();
	boot_hello("size=256M,backend=guest-memfd,bind=gmem", RAM_256M);
}

Test(boot, hello_guest_memfd_mapped, .timeout = 90)
{
	require_guest_memfd();
	boot_hello("size=256M,backend=guest-memfd,bind=mapped", RAM_256M);
}

Test(boot, hello_memfd, .timeout = 90)
{
	boot_hello("size=256M,backend=memfd", RAM_256M);
}

Test(boot, hello_anon, .timeout = 90)
{
	boot_hello("size=256M,backend=anon", RAM_256M);
}

Test(boot, hello_prealloc, .timeout = 90)
{
	boot_hello("size=256M,prealloc=on", RAM_256M);
}

Test(boot, hello_pvh_entry, .timeout = 90)
{
	BOOT_OK("Hello from gmvm guest (entry=pvh)", "hello", "--entry", "pvh");
}

static void memtest(const char *memory, unsigned long min_pages)
{
	struct run_result r;

	run_guest(&r, 240, "memtest", "--memory", memory, NULL);
	expect_run(&r, 0, "memtest: ok pages=");
	const char *ok = strstr(r.out, "memtest: ok pages=");
	unsigned long pages = strtoul(ok + strlen("memtest: ok pages="), NULL, 10);
	cr_assert_geq(pages, min_pages, "memtest checked %lu pages, expected at least %lu", pages, min_pages);
	run_result_free(&r);
}

Test(boot, memtest_256M, .timeout = 300)
{
	/* all RAM above the guest's own image: at least 250 MiB of 4K pages */
	memtest("size=256M", 250ul * 256);
}

Test(boot, memtest_5G_across_the_hole, .timeout = 300)
{
	/* 3 GiB below the hole and 2 GiB above 4 GiB, minus the first few MiB */
	require_host_ram(5ull << 30);
	memtest("size=5G", (5ul << 30) / 4096 - 4096);
}

Test(boot, two_vcpus_start_through_the_mp_table, .timeout = 120)
{
	BOOT_OK("smp: cpus=2 up=2", "smp", "--cpus", "2");
}

Test(boot, sixty_four_vcpus_all_come_up, .timeout = 120)
{
	BOOT_OK("smp: cpus=64 up=64", "smp", "--cpus", "64");
}

/* Device interrupts through gmvm's IOAPIC: edge, level with EOI, mask (guests/irq.c). */
Test(boot, uart_interrupts_reach_the_guest_through_the_ioapic, .timeout = 120)
{
	struct run_result r;

	run_guest(&r, 90, "irq", "--memory", "256M", NULL);
	expect_run(&r, 0, "irq: ok\n");
	cr_assert(strstr(r.out, "irq: edge ok count="), "%s", r.out);
	cr_assert(strstr(r.out, "irq: level ok count="), "%s", r.out);
	cr_assert(strstr(r.out, "irq: mask ok"), "%s", r.out);
	run_result_free(&r);
}

Test(boot, interrupts_work_on_every_vcpu_count, .timeout = 120)
{
	BOOT_OK("irq: ok\n", "irq", "--cpus", "4");
}

Test(boot, hello_with_16G, .timeout = 90)
{
	/* 3 GiB below the hole and 13 GiB above 4 GiB, minus the reserved 0x9fc00..1 MiB */
	require_host_ram(16ull << 30);
	boot_hello("size=16G", "ram=16383 MiB");
}

Test(boot, hello_sees_four_vcpus, .timeout = 120)
{
	BOOT_OK("cpus=4 ", "hello", "--cpus", "4");
}

/* The 2M hugetlb pool, raised for one test and put back as it was. */
#define NR_HUGEPAGES_2M "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"

static long saved_hugepages = -1;

static void hugetlb_setup(void)
{
	long want = 256 + 8; /* 512 MiB of guest RAM, and a little slack */

	require_kvm();
	if (geteuid() != 0)
		cr_skip_test("not root: cannot raise %s for the 2M hugetlb test", NR_HUGEPAGES_2M);
	saved_hugepages = read_long(NR_HUGEPAGES_2M);
	if (saved_hugepages < 0)
		cr_skip_test("this kernel has no 2M hugetlb pool (%s)", NR_HUGEPAGES_2M);
	cr_assert(write_long(NR_HUGEPAGES_2M, saved_hugepages + want));
	if (read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages") < 256)
		cr_skip_test("the kernel could not find 256 free 2M pages for the pool");
}

static void hugetlb_teardown(void)
{
	if (saved_hugepages >= 0)
		write_long(NR_HUGEPAGES_2M, saved_hugepages);
}

Test(boot, memtest_memfd_hugetlb_2M, .init = hugetlb_setup, .fini = hugetlb_teardown, .timeout = 300)
{
	memtest("size=512M,backend=memfd,hugepages=2M,prealloc=on", 500ul * 256);
	/* the guest's pages came from the pool: it was drawn down while the VM ran,
	 * and every page is back now that gmvm has exited */
	long free_after = read_long("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages");
	cr_assert_eq(free_after, read_long(NR_HUGEPAGES_2M), "hugetlb pages leaked: %ld free", free_after);
}

/* The same ELF boots in QEMU's microvm through its PVH note. */
Test(boot, hello_boots_in_qemu_microvm_too, .timeout = 120)
{
	char *guest = guest_path("hello");

	require_kvm();
	if (system("command -v qemu-system-x86_64 >/dev/null 2>&1") != 0)
		cr_skip_test("qemu-system-x86_64 is not installed (make bench installs it)");
	char *cmd = NULL;
	cr_assert(asprintf(&cmd, "timeout 60 qemu-system-x86_64 -accel kvm -M microvm,x-option-roms=off,rtc=off "
			   "-cpu qemu64,+invtsc -nodefaults -no-user-config -nographic -no-reboot -serial stdio "
			   "-device isa-debug-exit,iobase=0xf4,iosize=4 -m 256M -kernel %s </dev/null 2>&1", guest) > 0);
	FILE *p = popen(cmd, "r");
	char out[4096] = { 0 };
	size_t n = 0;
	cr_assert(p);
	while (n < sizeof(out) - 1) {
		size_t got = fread(out + n, 1, sizeof(out) - 1 - n, p);
		if (!got)
			break;
		n += got;
	}
	int status = pclose(p);
	cr_assert(strstr(out, "Hello from gmvm guest (entry=pvh)"), "QEMU output:\n%s", out);
	cr_assert(strstr(out, "ram=255 MiB"), "QEMU output:\n%s", out);
	/* QEMU ends through the guest's ACPI power-off (0) or the exit port (1) */
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) <= 1, "QEMU status 0x%x\n%s", status, out);
	free(cmd);
	free(guest);
}
