/*
 * movable=, direct-map= and private= (--memory and --region): movable=off
 * pins memfd and anon memory and the guest still boots; what was applied
 * shows in vm.info and on the mapping itself (/proc/self/smaps of the
 * process that holds the machine); every refusal comes before any VM exists,
 * with status 2 or 3 and one line naming cause and remedy; `gmvm probe`
 * shows the host settings and, per backend, what can act on it here.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <linux/capability.h>

#include <gmvm/api.h>

#include "harness.h"
#include "test_vm.h"

static void refused(int status, const char *memory, const char *expect)
{
	struct run_result r;

	run_guest(&r, 60, "hello", "--memory", memory, NULL);
	cr_assert_eq(r.status, status, "--memory %s: status %d, stderr:\n%s", memory, r.status, r.err);
	cr_assert(strstr(r.err, expect), "--memory %s: expected '%s' in stderr:\n%s", memory, expect, r.err);
	cr_assert_eq(count_substr(r.err, "\n"), 1, "one line expected, stderr:\n%s", r.err);
	cr_assert_str_empty(r.out, "the guest must not have run:\n%s", r.out);
	run_result_free(&r);
}

static void boots(const char *memory)
{
	struct run_result r;

	run_guest(&r, 120, "hello", "--memory", memory, NULL);
	expect_run(&r, 0, "Hello from gmvm guest");
	run_result_free(&r);
}

Test(memory_policy, memfd_pinned_boots_hello, .timeout = 300)
{
	boots("size=128M,backend=memfd,movable=off");
}

Test(memory_policy, anon_pinned_boots_hello, .timeout = 300)
{
	boots("size=128M,backend=anon,movable=off");
}

Test(memory_policy, anon_pinned_with_prealloc_boots_hello, .timeout = 300)
{
	boots("size=128M,backend=anon,movable=off,prealloc=on");
}

/* The VmFlags line of the mapping that starts at addr in /proc/self/smaps, into flags. */
static bool vm_flags_at(const void *addr, char *flags, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512], want[32];
	bool in = false, found = false;

	cr_assert_not_null(f);
	snprintf(want, sizeof(want), "%lx-", (unsigned long)addr);
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, ' ') && strchr(line, '-') < strchr(line, ' '))
			in = !strncmp(line, want, strlen(want));
		if (in && !strncmp(line, "VmFlags:", 8)) {
			size_t n = strlen(line + 8);

			n = n < len - 1 ? n : len - 1;
			memcpy(flags, line + 8, n);
			flags[n] = '\0';
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

static json_t *region_info(struct gm_api *api, unsigned i)
{
	char *text = NULL;
	int status = gm_api_handle(api, "GET", "/api/v1/vm.info", NULL, 0, &text);
	json_t *j = json_loads(text, 0, NULL);

	cr_assert_eq(status, 200, "%s", text);
	cr_assert_not_null(j, "not JSON: %s", text);
	free(text);
	json_t *r = json_incref(json_array_get(json_object_get(j, "regions"), i));
	json_decref(j);
	cr_assert_not_null(r);
	return r;
}

static bool has_string(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (!strcmp(json_string_value(v), s))
			return true;
	return false;
}

/*
 * An in-process machine with memory (as --memory takes it): vm.info's
 * region shows movable and pinning, and the mapping's flags agree.
 */
static void pinned_in_process(const char *memory, const char *const *applied, const char *const *vmflags)
{
	struct gm_api *api = NULL;
	struct vm vm;
	char flags[256];

	vm_create(&vm, "hello", memory, NULL);
	cr_assert_eq(gm_api_new_detached(&api, &vm.err), 0, "%s", vm.err.msg);
	gm_api_attach(api, vm.m);
	json_t *ram = region_info(api, 0);
	char *dump = json_dumps(ram, 0);

	cr_assert(json_is_false(json_object_get(ram, "movable")), "%s", dump);
	for (const char *const *a = applied; *a; a++)
		cr_assert(has_string(json_object_get(ram, "pinning"), *a), "%s lacks %s", dump, *a);
	cr_assert(strstr(json_string_value(json_object_get(ram, "movable_note")), "pinned"), "%s", dump);

	struct gm_memory *mem = gm_machine_region(vm.m, 0);
	void *host = gm_memory_hva(mem, 0, 4096);
	cr_assert(vm_flags_at(host, flags, sizeof(flags)), "no mapping at %p in /proc/self/smaps", host);
	for (const char *const *v = vmflags; *v; v++)
		cr_assert(strstr(flags, *v), "VmFlags '%s' lack '%s' (%s)", flags, *v, dump);
	free(dump);
	json_decref(ram);
	gm_api_destroy(api);
	gm_machine_destroy(vm.m);
	free((char *)vm.cfg.kernel);
}

Test(memory_policy, memfd_pinned_shows_in_vm_info_and_on_the_mapping, .timeout = 120)
{
	static const char *const applied[] = { "mlock2(MLOCK_ONFAULT)", "MADV_NOHUGEPAGE", "mbind(MPOL_LOCAL)", NULL };
	static const char *const flags[] = { " lo", " nh", NULL };

	pinned_in_process("size=128M,backend=memfd,movable=off", applied, flags);
}

Test(memory_policy, anon_pinned_shows_in_vm_info_and_on_the_mapping, .timeout = 120)
{
	static const char *const applied[] = { "mlock2(MLOCK_ONFAULT)", "MADV_NOHUGEPAGE", "MADV_UNMERGEABLE",
					       "mbind(MPOL_LOCAL)", NULL };
	static const char *const flags[] = { " lo", " nh", NULL };

	pinned_in_process("size=128M,backend=anon,movable=off", applied, flags);
}

Test(memory_policy, prealloc_locks_everything_at_once, .timeout = 120)
{
	static const char *const applied[] = { "mlock", "MADV_NOHUGEPAGE", NULL };
	static const char *const flags[] = { " lo", NULL };

	pinned_in_process("size=64M,backend=anon,movable=off,prealloc=on", applied, flags);
}

Test(memory_policy, movable_memory_is_left_alone, .timeout = 120)
{
	struct gm_api *api = NULL;
	struct vm vm;

	vm_create(&vm, "hello", test_memory("size=64M"), NULL);
	cr_assert_eq(gm_api_new_detached(&api, &vm.err), 0, "%s", vm.err.msg);
	gm_api_attach(api, vm.m);
	json_t *ram = region_info(api, 0);
	char *dump = json_dumps(ram, 0);
	bool gmem = vm.cfg.mem.backend == GM_BACKEND_GUEST_MEMFD;

	/* guest-memfd is unmovable by nature; memfd and anon move unless pinned */
	cr_assert_eq(json_is_true(json_object_get(ram, "movable")), !gmem, "%s", dump);
	cr_assert_eq(json_array_size(json_object_get(ram, "pinning")), 0, "%s", dump);
	if (gmem)
		cr_assert_str_eq(json_string_value(json_object_get(ram, "movable_note")),
				 "unmovable: guest_memfd folios cannot migrate on this kernel");
	free(dump);
	json_decref(ram);
	gm_api_destroy(api);
	gm_machine_destroy(vm.m);
	free((char *)vm.cfg.kernel);
}

/* A discard on pinned anonymous memory unlocks, drops and locks again. */
Test(memory_policy, discard_on_pinned_anon, .timeout = 120)
{
	struct gm_api *api = NULL;
	struct vm vm;
	char *text = NULL;

	vm_create(&vm, "hello", "size=64M,backend=anon,movable=off", NULL);
	cr_assert_eq(gm_api_new_detached(&api, &vm.err), 0, "%s", vm.err.msg);
	gm_api_attach(api, vm.m);
	const char *body = "{\"gpa\":16777216,\"length\":65536}";
	int status = gm_api_handle(api, "PUT", "/api/v1/vm.memory-discard", body, strlen(body), &text);
	cr_assert_eq(status, 200, "%s", text);
	free(text);
	gm_api_destroy(api);
	gm_machine_destroy(vm.m);
	free((char *)vm.cfg.kernel);
}

Test(memory_policy, memlock_too_low_is_refused_up_front, .timeout = 120)
{
	struct rlimit rl;

	require_kvm();
	/* this test's own process (Criterion runs each in its own): gmvm inherits a
	 * 1 MiB lock limit and, even as root, no CAP_IPC_LOCK after exec */
	cr_assert_eq(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
	rl.rlim_cur = UINT64_C(1) << 20;
	cr_assert_eq(setrlimit(RLIMIT_MEMLOCK, &rl), 0, "%s", strerror(errno));
	if (prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0) != 0 && errno != EPERM)
		cr_assert_fail("PR_CAPBSET_DROP: %s", strerror(errno));
	refused(2, "size=64M,backend=anon,movable=off", "RLIMIT_MEMLOCK is 1M; raise it to 64M or more (ulimit -l 65536");
	refused(2, "size=64M,backend=memfd,movable=off", "LimitMEMLOCK=64M");
	/* a region counts too */
	struct run_result r;
	run_guest(&r, 60, "hello", "--memory", "size=128M,backend=memfd", "--region", "name=pin,size=64M,backend=anon,movable=off",
		  NULL);
	cr_assert_eq(r.status, 2, "status %d, stderr:\n%s", r.status, r.err);
	cr_assert(strstr(r.err, "region pin: ") && strstr(r.err, "RLIMIT_MEMLOCK"), "%s", r.err);
	run_result_free(&r);
	/* unpinned memory needs no lock at all */
	boots("size=64M,backend=memfd");
}

Test(memory_policy, guest_memfd_movable_on_is_refused)
{
	struct gm_caps caps;

	test_caps(&caps);
	if (caps.gmem_movable)
		cr_skip_test("this kernel migrates guest_memfd folios: movable=on is allowed here");
	refused(3, "size=64M,backend=guest-memfd,movable=on", "movable=on needs guest_memfd folio migration");
}

Test(memory_policy, direct_map_off)
{
	struct gm_caps caps;

	test_caps(&caps);
	refused(2, "size=64M,backend=memfd,direct-map=off", "direct-map=off needs backend=guest-memfd");
	if (!(caps.gmem_flags & GM_GMEM_FLAG_NO_DIRECT_MAP)) {
		refused(3, "size=64M,backend=guest-memfd,direct-map=off",
			"GUEST_MEMFD_FLAG_NO_DIRECT_MAP, which this kernel does not list");
		return;
	}
	/* where the kernel lists the flag: the guest boots from memory out of the direct map */
	require_guest_memfd();
	boots("size=64M,backend=guest-memfd,direct-map=off");
}

Test(memory_policy, private_on)
{
	struct gm_caps caps;

	test_caps(&caps);
	refused(2, "size=64M,backend=memfd,private=on", "private=on needs backend=guest-memfd");
	refused(3, "size=64M,backend=guest-memfd,private=on", "drop private=on");
}

Test(memory_policy, probe_shows_settings_and_guarantees, .timeout = 120)
{
	struct run_result r;

	require_kvm();
	run_gmvm(&r, 60, "probe", "--json", NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	json_t *j = json_loads(r.out, 0, NULL);
	cr_assert_not_null(j, "%s", r.out);
	static const char *const keys[] = { "direct_map_removal", "private_memory", "guest_memfd_movable", "ksm_run",
					    "thp_enabled", "thp_shmem_enabled", "numa_balancing", "swap_total_bytes",
					    "compact_unevictable_allowed", "memlock_limit_bytes", "cap_ipc_lock", NULL };
	for (const char *const *k = keys; *k; k++)
		cr_assert_not_null(json_object_get(j, *k), "probe --json lacks %s", *k);
	json_t *g = json_object_get(j, "guarantees");
	const char *acts = json_string_value(json_object_get(json_object_get(json_object_get(g, "guest-memfd"), "swap"), "acts"));
	cr_assert_str_eq(acts ? acts : "", "no", "guest-memfd is never swapped");
	acts = json_string_value(json_object_get(json_object_get(json_object_get(g, "anon-pinned"), "swap"), "acts"));
	cr_assert_str_eq(acts ? acts : "", "blocked", "pinned anon is locked");
	json_decref(j);
	run_result_free(&r);

	run_gmvm(&r, 60, "probe", NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "acts on anon, movable=off"), "%s", r.out);
	cr_assert(strstr(r.out, "direct-map removal"), "%s", r.out);
	cr_assert(strstr(r.out, "RLIMIT_MEMLOCK"), "%s", r.out);
	run_result_free(&r);
}
