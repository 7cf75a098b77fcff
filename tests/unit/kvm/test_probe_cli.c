/* Unit tests for cli/probe.c: `gmvm probe` output and exit statuses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "cli/probe.h"

/* Run gm_cli_probe with fd (1 or 2) redirected to a temp file; returns the
 * captured text (malloc'd) and the exit status in *rc. */
static char *run_probe(int fd, int argc, char **argv, int *rc)
{
	FILE *tmp = tmpfile();
	int saved;
	long len;
	char *text;

	cr_assert_not_null(tmp);
	fflush(stdout);
	fflush(stderr);
	saved = dup(fd);
	cr_assert_geq(dup2(fileno(tmp), fd), 0);
	*rc = gm_cli_probe(argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved, fd);
	close(saved);

	len = lseek(fileno(tmp), 0, SEEK_END);
	text = calloc(1, (size_t)len + 1);
	cr_assert_eq(pread(fileno(tmp), text, (size_t)len, 0), len);
	fclose(tmp);
	return text;
}

static void need_kvm(void)
{
	if (access("/dev/kvm", F_OK) != 0)
		cr_skip_test("/dev/kvm is missing on this machine");
}

Test(probe_cli, json_parses_and_has_every_key, .init = need_kvm)
{
	static const char *const keys[] = {
		"kvm", "kvm_api_version", "vm_types", "max_vcpus", "irqchip", "cpl0_emulated",
		"guest_memfd", "guest_memfd_flags", "user_memory2", "memory_attributes",
		"pre_fault_memory", "memory_fault_info", "readonly_mem", "dirty_log",
		"dirty_log_manual", "dirty_ring_bytes", "dirty_ring_acq_rel", "max_memslots", "hugetlb",
		"memfd_secret", "userfaultfd", "userfaultfd_on_guest_memfd",
		"userfaultfd_on_guest_memfd_error", "numa_nodes", "numa_node_list", "host_ram_bytes",
		"kernel_release", "direct_map_removal", "private_memory", "guest_memfd_movable",
		"guest_memfd_link", "ksm_run", "thp_enabled", "thp_defrag", "thp_shmem_enabled",
		"numa_balancing", "swap_total_bytes", "compact_unevictable_allowed",
		"memlock_limit_bytes", "cap_ipc_lock", "guarantees",
	};
	char *argv[] = { "probe", "--json", NULL };
	json_error_t jerr;
	json_t *root, *flags, *pool;
	size_t i;
	int rc;
	char *out = run_probe(1, 2, argv, &rc);

	cr_assert_eq(rc, 0);
	root = json_loads(out, 0, &jerr);
	cr_assert_not_null(root, "invalid JSON at line %d: %s\n%s", jerr.line, jerr.text, out);
	cr_assert(json_is_object(root));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		cr_assert_not_null(json_object_get(root, keys[i]), "missing key %s", keys[i]);
	cr_assert_eq(json_object_size(root), sizeof(keys) / sizeof(keys[0]), "unexpected extra keys");

	cr_assert_eq(json_integer_value(json_object_get(root, "kvm_api_version")), 12);
	cr_assert(json_is_true(json_object_get(root, "guest_memfd")));
	cr_assert(json_is_integer(json_object_get(root, "host_ram_bytes")));
	flags = json_object_get(root, "guest_memfd_flags");
	cr_assert(json_is_array(flags));
	cr_assert_str_eq(json_string_value(json_array_get(flags, 0)), "mmap");
	cr_assert_str_eq(json_string_value(json_array_get(flags, 1)), "init-shared");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(root, "vm_types"), 0)), "default");
	pool = json_array_get(json_object_get(root, "hugetlb"), 0);
	cr_assert(json_is_integer(json_object_get(pool, "page_size")));
	cr_assert(json_is_integer(json_object_get(pool, "free")));
	json_decref(root);
	free(out);
}

Test(probe_cli, table_decodes_guest_memfd_flags, .init = need_kvm)
{
	char *argv[] = { "probe", NULL };
	int rc;
	char *out = run_probe(1, 1, argv, &rc);

	cr_assert_eq(rc, 0);
	cr_assert(strstr(out, "KVM API version              12\n"), "%s", out);
	cr_assert(strstr(out, "guest_memfd flags            mmap, init-shared"), "%s", out);
	cr_assert(strstr(out, "kernel release"), "%s", out);
	free(out);
}

Test(probe_cli, unknown_option_exits_2_with_usage)
{
	char *argv[] = { "probe", "--bogus", NULL };
	int rc;
	char *err = run_probe(2, 2, argv, &rc);

	cr_assert_eq(rc, 2);
	cr_assert(strstr(err, "gmvm: probe: unknown option '--bogus'\n"), "%s", err);
	cr_assert(strstr(err, "usage: gmvm probe [--json]\n"), "%s", err);
	free(err);
}

/* Criterion runs each test in its own process: a private mount namespace
 * there hides the real /dev/kvm from this test alone. */
Test(probe_cli, unusable_kvm_exits_3_with_one_line, .init = need_kvm)
{
	char *argv[] = { "probe", NULL };
	int rc;
	char *err;

	if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		cr_skip_test("cannot make a private mount namespace (needs root)");
	cr_assert_eq(mount("/dev/null", "/dev/kvm", NULL, MS_BIND, NULL), 0);
	err = run_probe(2, 1, argv, &rc);
	cr_assert_eq(rc, 3);
	cr_assert_str_eq(err, "gmvm: KVM_GET_API_VERSION on /dev/kvm failed: Inappropriate ioctl for device; "
			 "this is not a usable KVM device\n");
	free(err);
}
