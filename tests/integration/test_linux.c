/*
 * A real Linux under gmvm: Debian's 6.1 cloud kernel and a busybox
 * initramfs (scripts/linux/: fetched once with apt-get download into
 * build/linux-cache, or $GMVM_LINUX_CACHE), booted with a virtio-blk disk
 * whose first sector holds a fresh marker, virtio-rng, virtio-console, a
 * balloon and --net user.  What a user sees: the marker read back by the
 * guest's userspace, entropy, hvc0, eth0's UDP exchange with the host, the
 * balloon's driver, and gmvm's clean exit.  scripts/linux/run.sh does the boot and
 * names each milestone; this test runs it.  Skips with one line without
 * KVM, or when there is no kernel cache and none can be fetched.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

Test(real_linux, a_debian_kernel_reaches_userspace_and_reads_its_disk, .timeout = 900)
{
	const char *src = getenv("GMVM_SRC") ? getenv("GMVM_SRC") : ".";
	const char *bin = getenv("GMVM_BIN") ? getenv("GMVM_BIN") : "build/gmvm";
	const char *backend = getenv("GMVM_TEST_BACKEND");
	char cache[4096], cmd[16384], line[4096];

	struct gm_caps caps;

	test_caps(&caps);
	/* KERNEL.md, docs/linux.md: there no distribution kernel gets past its
	 * early boot, in any VMM; make check-linux still boots it to say how far */
	if (caps.cpl0_emulated)
		cr_skip_test("guest CPL0 runs in KVM's instruction emulator here, which cannot run a distribution kernel's "
			     "boot (docs/linux.md); make check-linux boots it anyway to show how far it gets");
	if (getenv("GMVM_LINUX_SKIP"))
		cr_skip_test("%s", getenv("GMVM_LINUX_SKIP"));
	if (getenv("GMVM_LINUX_CACHE"))
		snprintf(cache, sizeof(cache), "%s", getenv("GMVM_LINUX_CACHE"));
	else
		snprintf(cache, sizeof(cache), "%s/build/linux-cache", src);
	snprintf(cmd, sizeof(cmd), "'%s/scripts/linux/fetch.sh' '%s' >/dev/null 2>&1", src, cache);
	if (system(cmd) != 0)
		cr_skip_test("no Linux kernel in %s and scripts/linux/fetch.sh cannot fetch one (apt-get download)", cache);

	snprintf(cmd, sizeof(cmd), "LINUX_CACHE='%s' LINUX_BACKEND='%s' LINUX_TIMEOUT=600 '%s/scripts/linux/run.sh' '%s' 2>&1",
		 cache, backend ? backend : "", src, bin);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	size_t cap = 1 << 20, used = 0;
	char *out = calloc(1, cap);
	while (fgets(line, sizeof(line), p)) {
		if (!strncmp(line, "linux: ", 7))
			cr_log_info("%s", line); /* the milestones and their times */
		size_t n = strlen(line);
		if (used + n + 1 < cap) {
			memcpy(out + used, line, n + 1);
			used += n;
		}
	}
	int st = pclose(p);
	cr_expect(strstr(out, "GMVM-LINUX-USERSPACE"), "the guest never reached userspace:\n%s", out);
	cr_expect(strstr(out, "GMVM-LINUX-DISK-OK gmvm-linux-marker-"), "the guest did not read its disk's marker:\n%s", out);
	cr_expect(strstr(out, "GMVM-LINUX-RNG-OK "), "no entropy from virtio-rng:\n%s", out);
	cr_expect(strstr(out, "GMVM-LINUX-HVC-OK"), "nothing came through hvc0:\n%s", out);
	cr_expect(strstr(out, "GMVM-LINUX-NET-OK gmvm-linux-net-"), "eth0 got no answer from the host through --net user:\n%s", out);
	cr_expect(strstr(out, "the host got the guest's datagram"), "the host got no datagram from eth0:\n%s", out);
	cr_expect(strstr(out, "GMVM-LINUX-BALLOON-OK"), "the guest's virtio_balloon driver did not probe:\n%s", out);
	cr_expect(strstr(out, "gmvm: exit status 0\n"), "gmvm did not end cleanly:\n%s", out);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "scripts/linux/run.sh: status %d:\n%s", st, out);
	free(out);
}
