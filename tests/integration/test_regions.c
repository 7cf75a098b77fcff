/*
 * Memory regions beside the RAM (--region): the guest finds each in its
 * memory map and uses it as RAM; vm.info lists every region with its
 * place; snapshots keep one memory file per region, full and diff, and
 * every restore mode brings each region's contents back; a region can be
 * restored onto another backend.  The option refusals need no KVM.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gmvm/api.h>

#include "../../guests/memtest_pattern.h"
#include "harness.h"
#include "state/stream.h"
#include "test_vm.h"

/* 128M or 256M of RAM end below 1G: the first region goes to the first 1 GiB boundary. */
#define EXTRA_GPA  UINT64_C(0x40000000)
#define EXTRA_SIZE (UINT64_C(64) << 20)
#define EXTRA      "name=extra,size=64M"

static char *scratch(const char *name)
{
	return test_scratch("regions", name);
}

/* vm_create with one more region (spec as --region takes it, on the test backend). */
static void create_with_region(struct vm *vm, const char *guest, const char *memory, const char *region,
			       const char *cmdline)
{
	require_kvm();
	memset(vm, 0, sizeof(*vm));
	gm_config_defaults(&vm->cfg);
	vm->cfg.kernel = guest_path(guest);
	vm->cfg.cmdline = cmdline;
	cr_assert_eq(gm_mem_config_parse(test_memory(memory), &vm->cfg.mem, &vm->err), 0, "%s", vm->err.msg);
	cr_assert_eq(gm_region_config_parse(test_memory(region), &vm->cfg.regions[0], &vm->err), 0, "%s", vm->err.msg);
	vm->cfg.nregions = 1;
	cr_assert_eq(gm_caps_probe(&vm->caps, GM_PROBE_FAST, &vm->err), 0, "%s", vm->err.msg);
	cr_assert_eq(gm_machine_create(&vm->cfg, &vm->caps, &vm->m, &vm->err), 0, "%s", vm->err.msg);
	guest_console_init(&vm->con);
	gm_machine_set_console_sink(vm->m, guest_console_sink, &vm->con);
}

/* An API request on an in-process API: the status, the reply in *out (caller decrefs). */
static int request(struct gm_api *api, const char *method, const char *path, const char *body, json_t **out)
{
	char *text = NULL;
	int status = gm_api_handle(api, method, path, body, body ? strlen(body) : 0, &text);

	*out = json_loads(text, 0, NULL);
	cr_assert_not_null(*out, "not JSON: %s", text);
	free(text);
	return status;
}

static uint64_t jint(const json_t *o, const char *key)
{
	return (uint64_t)json_integer_value(json_object_get(o, key));
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

Test(regions, memtest_uses_the_region_and_vm_info_shows_both, .timeout = 300)
{
	struct gm_api *api = NULL;
	struct vm vm;
	json_t *j;

	create_with_region(&vm, "memtest", "size=128M", EXTRA, "memtest.ranges");
	cr_assert_eq(gm_api_new_detached(&api, &vm.err), 0, "%s", vm.err.msg);
	gm_api_attach(api, vm.m);

	cr_assert_eq(request(api, "GET", "/api/v1/vm.info", NULL, &j), 200);
	json_t *regions = json_object_get(j, "regions");
	cr_assert_eq(json_array_size(regions), 2, "%s", json_dumps(j, 0));
	json_t *ram = json_array_get(regions, 0), *extra = json_array_get(regions, 1);
	cr_assert_str_eq(jstr(ram, "name"), "ram");
	cr_assert_eq(jint(ram, "gpa"), 0);
	cr_assert_eq(jint(ram, "size"), UINT64_C(128) << 20);
	cr_assert_str_eq(jstr(extra, "name"), "extra");
	cr_assert_eq(jint(extra, "gpa"), EXTRA_GPA);
	cr_assert_eq(jint(extra, "size"), EXTRA_SIZE);
	cr_assert_str_eq(jstr(extra, "backend"), gm_backend_name(vm.cfg.regions[0].mem.backend));
	cr_assert_str_eq(jstr(extra, "binding"), gm_bind_name(vm.cfg.regions[0].mem.bind));
	char uuid[37], identity[64];
	gm_machine_uuid(vm.m, uuid);
	snprintf(identity, sizeof(identity), "%s/extra", uuid);
	cr_assert_str_eq(jstr(extra, "identity"), identity);
	json_decref(j);

	/* an unknown region is a 400 that names the ones there are */
	cr_assert_eq(request(api, "PUT", "/api/v1/vm.memory-binding", "{\"mode\":\"mapped\",\"region\":\"nope\"}", &j), 400);
	cr_assert(strstr(jstr(j, "error"), "no region 'nope' in this VM; its regions are: ram, extra"), "%s", jstr(j, "error"));
	json_decref(j);
	/* discard names its region, "ram" unless told */
	char body[128];
	snprintf(body, sizeof(body), "{\"gpa\":%llu,\"length\":4096}", (unsigned long long)EXTRA_GPA);
	cr_assert_eq(request(api, "PUT", "/api/v1/vm.memory-discard", body, &j), 400);
	json_decref(j);
	snprintf(body, sizeof(body), "{\"gpa\":%llu,\"length\":4096,\"region\":\"extra\"}", (unsigned long long)EXTRA_GPA);
	cr_assert_eq(request(api, "PUT", "/api/v1/vm.memory-discard", body, &j), 200, "%s", jstr(j, "error"));
	cr_assert_str_eq(jstr(j, "region"), "extra");
	json_decref(j);

	cr_assert_eq(gm_machine_start(vm.m, &vm.err), 0, "%s", vm.err.msg);
	struct gm_exit ex;
	cr_assert_eq(gm_machine_wait(vm.m, 240, &ex), 0, "console:\n%s", vm.con.buf);
	cr_assert_eq(ex.status, 0, "%s\n%s", ex.reason, vm.con.buf);
	cr_assert(strstr(vm.con.buf, "memtest: range 0x0000000040000000 size 0x0000000004000000"),
		  "the guest did not see the region:\n%s", vm.con.buf);
	cr_assert(strstr(vm.con.buf, "memtest: ok"), "%s", vm.con.buf);
	/* what the guest wrote at the region's addresses is in the region's memory */
	const uint64_t *first = gm_machine_hva(vm.m, EXTRA_GPA, 8);
	const uint64_t *last = gm_machine_hva(vm.m, EXTRA_GPA + EXTRA_SIZE - 8, 8);
	cr_assert(first && last);
	cr_assert_eq((const void *)first, gm_memory_hva(gm_machine_region_named(vm.m, "extra"), EXTRA_GPA, 8));
	cr_assert_eq(*first, pattern(EXTRA_GPA));
	cr_assert_eq(*last, pattern(EXTRA_GPA + EXTRA_SIZE - 8));
	cr_assert_null(gm_machine_hva(vm.m, EXTRA_GPA + EXTRA_SIZE, 8), "past the region");
	gm_api_destroy(api);
	gm_machine_destroy(vm.m);
	free((char *)vm.cfg.kernel);
}

Test(regions, gmvm_run_with_a_region, .timeout = 300)
{
	struct run_result r;

	run_guest(&r, 240, "memtest", "--memory", "128M", "--region", test_memory(EXTRA), "--cmdline", "memtest.ranges",
		  NULL);
	expect_run(&r, 0, "memtest: range 0x0000000040000000 size 0x0000000004000000");
	cr_assert(strstr(r.out, "memtest: ok"), "%s", r.out);
	run_result_free(&r);
}

static void snapshot(struct vm *vm, const char *dir, enum gm_snapshot_kind kind)
{
	char path[512];

	cr_assert_eq(gm_machine_snapshot(vm->m, dir, kind, NULL, &vm->err), 0, "%s", vm->err.msg);
	snprintf(path, sizeof(path), "%s/ram.mem", dir);
	cr_assert_eq(access(path, F_OK), 0, "no %s", path);
	snprintf(path, sizeof(path), "%s/extra.mem", dir);
	cr_assert_eq(access(path, F_OK), 0, "no %s: one memory file per region", path);
}

/*
 * A restore of the chain with user's options (a config as `gmvm run
 * --restore` has it: only what was given), left paused.
 */
static void restore_paused(struct vm *vm, const char *const *dirs, unsigned n, const struct gm_config *user,
			   enum gm_restore_mode mode)
{
	struct gm_snapshot *s = NULL;

	require_kvm();
	memset(vm, 0, sizeof(*vm));
	cr_assert_eq(gm_snapshot_open(dirs, n, &s, &vm->err), 0, "%s", vm->err.msg);
	cr_assert_eq(gm_snapshot_restore_config(s, user, &vm->cfg, &vm->err), 0, "%s", vm->err.msg);
	cr_assert_eq(gm_caps_probe(&vm->caps, GM_PROBE_FAST, &vm->err), 0, "%s", vm->err.msg);
	cr_assert_eq(gm_machine_restore(&vm->cfg, &vm->caps, s, mode, &vm->m, &vm->err), 0, "%s", vm->err.msg);
	gm_snapshot_close(s);
	guest_console_init(&vm->con);
	gm_machine_set_console_sink(vm->m, guest_console_sink, &vm->con);
	cr_assert_eq(gm_machine_state(vm->m), GM_STATE_PAUSED);
}

static void restore_and_finish(const char *const *dirs, unsigned n, enum gm_restore_mode mode, const char *expect)
{
	struct gm_config user;
	struct vm vm;

	gm_config_defaults(&user);
	restore_paused(&vm, dirs, n, &user, mode);
	cr_assert_eq(gm_machine_regions(vm.m), 2);
	cr_assert_eq(gm_memory_gpa(gm_machine_region(vm.m, 1)), EXTRA_GPA, "the region keeps its place");
	cr_assert_eq(gm_machine_resume(vm.m, &vm.err), 0, "%s", vm.err.msg);
	vm_finish(&vm, 0, expect);
}

/* The restored region holds exactly what its memory file holds, and that is the guest's work. */
static void expect_region_is_file(struct vm *vm, const char *dir)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/extra.mem", dir);
	int fd = open(path, O_RDONLY);
	cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
	void *file = mmap(NULL, EXTRA_SIZE, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	cr_assert_neq(file, MAP_FAILED);
	const uint64_t *page0 = file;
	cr_assert_eq(page0[0], 0, "page 0 of dirty's working set: index 0");
	cr_assert_geq(page0[1], 1, "and a generation: the guest wrote the region before the snapshot");
	cr_assert_eq(memcmp(gm_machine_hva(vm->m, EXTRA_GPA, EXTRA_SIZE), file, EXTRA_SIZE), 0,
		     "the restored region differs from extra.mem");
	munmap(file, EXTRA_SIZE);
}

/* dirty's working set in the region: full and diff snapshots, every restore mode, the merge. */
Test(regions, dirty_in_a_region_survives_full_diff_and_every_restore_mode, .timeout = 900)
{
	char *base = scratch("dirty-base"), *d1 = scratch("dirty-d1"), *merged = scratch("dirty-merged");
	const char *const chain[] = { base, d1 };
	struct gm_snapshot *s = NULL;
	struct gm_config user;
	struct vm vm;

	/* memfd, both: map and ondemand restores need memory a file can back (not guest_memfd) */
	create_with_region(&vm, "dirty", "size=256M,backend=memfd", EXTRA ",backend=memfd",
			   "dirty.mb=32 dirty.at=0x40000000 dirty.seconds=6 dirty.rounds=1500");
	cr_assert_eq(gm_machine_start(vm.m, &vm.err), 0, "%s", vm.err.msg);
	cr_assert(guest_console_wait(&vm.con, "dirty: start", 60), "console:\n%s", vm.con.buf);
	sleep_ms(500);
	snapshot(&vm, base, GM_SNAPSHOT_FULL);
	sleep_ms(300);
	snapshot(&vm, d1, GM_SNAPSHOT_DIFF);
	vm_kill(&vm);

	/* the full one alone: the region comes back byte for byte */
	gm_config_defaults(&user);
	restore_paused(&vm, (const char *const[]){ base }, 1, &user, GM_RESTORE_COPY);
	expect_region_is_file(&vm, base);
	cr_assert_eq(gm_machine_resume(vm.m, &vm.err), 0, "%s", vm.err.msg);
	vm_finish(&vm, 0, "dirty: ok pages=");

	restore_and_finish(chain, 2, GM_RESTORE_COPY, "dirty: ok pages=");
	restore_and_finish(chain, 2, GM_RESTORE_MAP, "dirty: ok pages=");
	restore_and_finish(chain, 2, GM_RESTORE_ONDEMAND, "dirty: ok pages=");

	cr_assert_eq(gm_snapshot_open(chain, 2, &s, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_snapshot_merge(s, merged, &vm.err), 0, "%s", vm.err.msg);
	gm_snapshot_close(s);
	char path[512];
	snprintf(path, sizeof(path), "%s/extra.mem", merged);
	cr_assert_eq(access(path, F_OK), 0, "the merge has no %s", path);
	restore_and_finish((const char *const[]){ merged }, 1, GM_RESTORE_COPY, "dirty: ok pages=");
	free(base), free(d1), free(merged);
}

static char *checksum_of(const char *console)
{
	const char *p = strstr(console, "checksum=");

	cr_assert(p, "no checksum in:\n%s", console);
	return strndup(p, strcspn(p, " \n"));
}

/* memtest's checksum covers the region; restored with the region on another backend it is the same. */
Test(regions, memtest_checksum_survives_with_the_region_on_another_backend, .timeout = 600)
{
	char *dir = scratch("memtest");
	struct gm_snapshot *s = NULL;
	struct gm_config user;
	struct vm vm;

	create_with_region(&vm, "memtest", "size=128M", EXTRA, NULL);
	cr_assert_eq(gm_machine_start(vm.m, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_machine_wait(vm.m, 300, &(struct gm_exit){ 0 }), 0);
	char *want = checksum_of(vm.con.buf);
	gm_machine_destroy(vm.m);
	free((char *)vm.cfg.kernel);

	create_with_region(&vm, "memtest", "size=128M", EXTRA, NULL);
	cr_assert_eq(gm_machine_start(vm.m, &vm.err), 0, "%s", vm.err.msg);
	cr_assert(guest_console_wait(&vm.con, "memtest: start", 60), "console:\n%s", vm.con.buf);
	snapshot(&vm, dir, GM_SNAPSHOT_FULL);
	vm_kill(&vm);

	/* --region of a region the snapshot lacks: refused, naming those it has */
	gm_config_defaults(&user);
	cr_assert_eq(gm_region_config_parse("name=nope,backend=anon", &user.regions[0], &vm.err), 0);
	user.nregions = 1;
	struct gm_config out;
	cr_assert_eq(gm_snapshot_open((const char *const[]){ dir }, 1, &s, &vm.err), 0, "%s", vm.err.msg);
	cr_assert_eq(gm_snapshot_restore_config(s, &user, &out, &vm.err), -ENOENT);
	cr_assert(strstr(vm.err.msg, "--region nope: the saved VM has no region nope (its regions: ram, extra)"), "%s",
		  vm.err.msg);
	gm_snapshot_close(s);

	/* --region name=extra,backend=anon: that region onto anonymous memory, the RAM as snapshotted */
	cr_assert_eq(gm_region_config_parse("name=extra,backend=anon", &user.regions[0], &vm.err), 0);
	restore_paused(&vm, (const char *const[]){ dir }, 1, &user, GM_RESTORE_COPY);
	cr_assert_eq(gm_memory_config(gm_machine_region_named(vm.m, "extra"))->backend, GM_BACKEND_ANON);
	cr_assert_eq(gm_memory_size(gm_machine_region_named(vm.m, "extra")), EXTRA_SIZE, "the snapshot's size");
	cr_assert_eq(gm_memory_config(gm_machine_memory(vm.m))->backend, vm.cfg.mem.backend);
	cr_assert_eq(gm_machine_resume(vm.m, &vm.err), 0, "%s", vm.err.msg);
	struct gm_exit ex;
	cr_assert_eq(gm_machine_wait(vm.m, 300, &ex), 0);
	cr_assert_eq(ex.status, 0, "%s\n%s", ex.reason, vm.con.buf);
	char *got = checksum_of(vm.con.buf);
	cr_assert_str_eq(got, want, "the restored guest computed another checksum");
	gm_machine_destroy(vm.m);
	free(want);
	free(got);
	free(dir);
}

/* ---- refusals: before any VM, so no KVM is needed ---- */

static void expect_refusal(const char *want, const char *const *args)
{
	struct run_result r;

	run_gmvm_argv(&r, 30, args);
	cr_assert_eq(r.status, 2, "status %d, stderr:\n%s", r.status, r.err);
	cr_assert(strstr(r.err, want), "expected '%s' in:\n%s", want, r.err);
	cr_assert_eq(strchr(r.err, '\n'), r.err + strlen(r.err) - 1, "not one line:\n%s", r.err);
	run_result_free(&r);
}

Test(region_refusals, duplicate_name)
{
	expect_refusal("gmvm: --region extra: given twice; give each region a name of its own",
		       (const char *const[]){ "run", "--region", "name=extra,size=64M", "--region", "name=extra,size=1G",
					      "g.elf", NULL });
}

Test(region_refusals, the_name_ram)
{
	expect_refusal("--region ram: the region ram is the RAM that --memory gives",
		       (const char *const[]){ "run", "--region", "name=ram,size=64M", "g.elf", NULL });
}

Test(region_refusals, bad_names)
{
	expect_refusal("--region name=Extra,size=64M: region name 'Extra' has 'E'",
		       (const char *const[]){ "run", "--region", "name=Extra,size=64M", "g.elf", NULL });
	expect_refusal("region name 'a-very-long-region' is 18 characters",
		       (const char *const[]){ "run", "--region", "name=a-very-long-region,size=64M", "g.elf", NULL });
	expect_refusal("names no region; add name=NAME",
		       (const char *const[]){ "run", "--region", "size=64M", "g.elf", NULL });
}

Test(region_refusals, too_many_regions)
{
	expect_refusal("--region name=r8,size=2M: too many regions; a VM has at most 8 in all (ram and 7 --region)",
		       (const char *const[]){ "run", "--region", "name=r1,size=2M", "--region", "name=r2,size=2M",
					      "--region", "name=r3,size=2M", "--region", "name=r4,size=2M", "--region",
					      "name=r5,size=2M", "--region", "name=r6,size=2M", "--region",
					      "name=r7,size=2M", "--region", "name=r8,size=2M", "g.elf", NULL });
}

Test(region_refusals, no_size)
{
	expect_refusal("--region extra: no size; add size=SIZE",
		       (const char *const[]){ "run", "--region", "name=extra,backend=memfd", "g.elf", NULL });
}

/* A snapshot directory whose header lists the regions given (as JSON), with the memory files named. */
static char *snapshot_with(const char *tag, const char *regions_json, const char *const *files)
{
	char *dir = NULL, path[512], header[1024];
	struct gm_stream_out *w = NULL;
	struct gm_error err = { 0 };

	cr_assert(asprintf(&dir, "/tmp/gmvm-region-refuse-%s-%d", tag, (int)getpid()) > 0);
	mkdir(dir, 0700);
	for (; *files; files++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *files);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		cr_assert(fd >= 0 && ftruncate(fd, (off_t)EXTRA_SIZE) == 0);
		close(fd);
	}
	snprintf(header, sizeof(header),
		 "{\"gmvm_version\":\"0.1.0\",\"uuid\":\"6f1c2a3e-0d4b-4c8e-9a7f-2b5d1e3c4a6f\","
		 "\"config\":{\"cpus\":1,\"cmdline\":\"\",\"memory\":{\"size\":67108864,\"backend\":\"memfd\","
		 "\"hugepages\":\"4K\",\"prealloc\":false}},\"regions\":%s,"
		 "\"snapshot\":{\"id\":\"00000000-0000-4000-8000-000000000001\",\"type\":\"full\"}}",
		 regions_json);
	snprintf(path, sizeof(path), "%s/state", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(gm_stream_out_open(fd, &w, &err), 0, "%s", err.msg);
	cr_assert_eq(gm_stream_out_header(w, header, strlen(header), &err), 0, "%s", err.msg);
	cr_assert_eq(gm_stream_out_end(w, &err), 0, "%s", err.msg);
	gm_stream_out_free(w);
	close(fd);
	return dir;
}

#define RAM_JSON "{\"name\":\"ram\",\"size\":67108864,\"page_size\":4096}"

Test(region_refusals, a_snapshot_without_a_regions_memory_file)
{
	char *dir = snapshot_with("nofile",
				  "[" RAM_JSON ",{\"name\":\"extra\",\"size\":67108864,\"page_size\":4096,"
				  "\"backend\":\"memfd\",\"gpa\":1073741824}]",
				  (const char *const[]){ "ram.mem", NULL });

	expect_refusal("has no extra.mem; the snapshot is incomplete",
		       (const char *const[]){ "run", "--restore", dir, NULL });
	free(dir);
}

Test(region_refusals, a_snapshot_with_a_bad_region_name)
{
	char *dir = snapshot_with("badname",
				  "[" RAM_JSON ",{\"name\":\"../etc\",\"size\":67108864,\"page_size\":4096,"
				  "\"backend\":\"memfd\",\"gpa\":1073741824}]",
				  (const char *const[]){ "ram.mem", NULL });

	expect_refusal("names a region badly: region name '../etc' has '.'",
		       (const char *const[]){ "run", "--restore", dir, NULL });
	free(dir);
}
