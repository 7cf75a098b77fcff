/*
 * bench/case_balloon: case 14 (`--case balloon`), how fast gmvm takes back
 * memory a guest gives up through virtio-balloon free page reporting, per
 * backend (guest-memfd, memfd, memfd on 2M pages, anon).  The `vballoon`
 * guest (vballoon.mode=bench) touches GMVM_BENCH_BALLOON_MIB (default
 * 1024) MiB, then reports all of it in 4 MiB ranges, 32 per request, as
 * many requests in flight as the queue holds, and prints the time from its
 * first kick to the last used buffer.  The bench then reads the device's
 * own numbers from vm.info (freed_bytes, discard_ns: the time inside the
 * memory plane's punch-hole or MADV_DONTNEED alone) and shuts gmvm down.
 *
 * Two figures per side: GB/s as the guest sees it (everything: exits,
 * descriptor checks, the discards) and GB/s of the discards alone.  The
 * target, >= 5 GB/s on guest_memfd as the guest sees it, is only
 * measurable on a host with a mappable guest_memfd; memfd's punch-hole is
 * the same shmem path.  gmvm only: QEMU's virtio-balloon-device is not run
 * beside it (it needs a PCI or a different transport set-up on microvm).
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api_client.h"
#include "background.h"
#include "bench.h"

#define START_TIMEOUT_MS 60000
#define END_TIMEOUT_MS 20000

enum { S_GMEM, S_MEMFD, S_HUGE, S_ANON, NSIDES };
enum { M_GUEST, M_DEVICE };

static long mib;
static char about[2048], cmdline[160], target_name[64];

/* The balloon's member key of vm.info's devices; NaN when missing. */
static double balloon_stat(json_t *info, const char *key)
{
	json_t *d;
	size_t i;

	json_array_foreach(json_object_get(info, "devices"), i, d)
		if (!strcmp(json_string_value(json_object_get(d, "type")) ?: "", "virtio-balloon")) {
			json_t *v = json_object_get(d, key);

			return json_is_integer(v) ? (double)json_integer_value(v) : NAN;
		}
	return NAN;
}

static int run_balloon(struct bench_case *c, int side, double *out, char *why, size_t whylen, char **output)
{
	const struct bench_side *s = &c->sides[side];
	struct bg_proc p = { .out = -1 };
	struct api_client a = { 0 };
	int scale = c->timeout_scale, r = -1;

	unlink(s->sock);
	if (bg_start(&p, s->argv, why, whylen) < 0 ||
	    /* the line after it: the reported one is then whole */
	    bg_wait_line(&p, "vballoon: holding ", START_TIMEOUT_MS * scale, why, whylen) < 0)
		goto out;
	char *text = bg_output(&p), *l = text ? strstr(text, "vballoon: reported ") : NULL;
	unsigned long got_mib = 0, us = 0;

	if (!l || sscanf(l, "vballoon: reported %lu MiB in %lu us", &got_mib, &us) != 2 || !us) {
		snprintf(why, whylen, "no 'vballoon: reported N MiB in U us' line with a time in its output");
		free(text);
		goto out;
	}
	free(text);
	out[M_GUEST] = (double)got_mib * 1048576.0 / ((double)us * 1000.0);
	int fd = bg_connect_unix(&p, s->sock, BG_POLL_US, START_TIMEOUT_MS * scale, why, whylen);

	if (fd < 0)
		goto out;
	close(fd);
	if (api_client_open(&a, s->sock, why, whylen) < 0 || api_request(&a, "GET", "vm.info", why, whylen) != 200)
		goto out;
	json_t *info = json_loads(a.body, 0, NULL);
	double freed = balloon_stat(info, "freed_bytes"), ns = balloon_stat(info, "discard_ns");

	json_decref(info);
	if (!(freed > 0) || !(ns > 0)) {
		snprintf(why, whylen, "vm.info has no virtio-balloon freed_bytes and discard_ns above 0");
		goto out;
	}
	out[M_DEVICE] = freed / ns;
	api_request_ok(&a, "PUT", "vm.shutdown", why, whylen);
	api_client_close(&a);
	a.curl = NULL;
	if (bg_wait_end(&p, END_TIMEOUT_MS * scale) < 0) {
		snprintf(why, whylen, "still running %d s after PUT vm.shutdown (killed)", END_TIMEOUT_MS * scale / 1000);
		goto out;
	}
	r = 0;
out:
	if (a.curl)
		api_client_close(&a);
	if (r < 0) {
		bg_alive(&p);
		*output = bg_output(&p);
	}
	bg_stop(&p);
	return r;
}

void bench_case_balloon(struct bench_case *c, const struct bench_opts *o)
{
	static const char *const names[NSIDES] = { "gmvm guest-memfd", "gmvm memfd", "gmvm memfd 2M", "gmvm anon" };
	static const char *const how[NSIDES] = { "backend=guest-memfd", "backend=memfd", "backend=memfd,hugepages=2M",
						 "backend=anon" };
	const char *env = getenv("GMVM_BENCH_BALLOON_MIB");

	mib = env && *env ? strtol(env, NULL, 10) : 1024;
	if (mib < 64 || mib > 65536 || mib % 4)
		mib = 1024;
	bench_init_case(c, o, 14, "virtio-balloon reclaim");
	c->run = run_balloon;
	c->n_metrics = 2;
	c->metrics[M_GUEST] = (struct bench_metric){ "guest GB/s", 2 };
	c->metrics[M_DEVICE] = (struct bench_metric){ "discard GB/s", 2 };
	snprintf(cmdline, sizeof(cmdline), "vballoon.mode=bench vballoon.mib=%ld vballoon.hold=60", mib);
	bg_kvm_unusable(c->skip, sizeof(c->skip));
	if (!o->sockdir && !c->skip[0])
		snprintf(c->skip, sizeof(c->skip), "no socket directory for gmvm's API (a gmvm-bench bug)");
	for (int i = 0; i < NSIDES; i++) {
		char spec[96];
		struct bench_side *s = bench_add_side(c, names[i], o->gmvm, (char *)NULL);

		snprintf(spec, sizeof(spec), "size=%ldM,%s", mib + 256, how[i]);
		snprintf(s->sock, sizeof(s->sock), "%s/balloon.sock", o->sockdir ? o->sockdir : "/nonexistent");
		bench_side_append(s, "run", "--cpus", "1", "--memory", spec, "--balloon", "--api-sock", s->sock,
				  "--cmdline", cmdline, bench_path_in(o->guests, "vballoon.elf"), (char *)NULL);
	}
	if (o->backend && strcmp(o->backend, "guest-memfd"))
		snprintf(c->sides[S_GMEM].skip, sizeof(c->sides[S_GMEM].skip),
			 "--gmvm-backend %s: the guest-memfd side is left out (a kernel without a guest_memfd gmvm can "
			 "use; memfd's punch-hole is the same shmem path)", o->backend);
	long f2 = bench_free_hugepages_2m(), need = (mib + 256) / 2;

	if (f2 < need)
		snprintf(c->sides[S_HUGE].skip, sizeof(c->sides[S_HUGE].skip),
			 "%ld free 2 MiB hugetlb pages, %ld needed; as root raise /proc/sys/vm/nr_hugepages", f2 < 0 ? 0 : f2,
			 need);
	c->n_targets = 1;
	snprintf(target_name, sizeof(target_name), "guest-memfd: guest GB/s >= 5");
	c->targets[0] = (struct bench_target){ target_name, -1, S_GMEM, M_GUEST, false, 5.0, " GB/s" };
	snprintf(about, sizeof(about),
		 "The `vballoon` guest (1 vCPU, %ld MiB + 256 MiB of RAM, `--balloon`) writes every 4 KiB page of "
		 "%ld MiB, then gives all of it back by virtio-balloon free page reporting: 4 MiB ranges, 32 per "
		 "request, as many requests in flight as its 256-entry queue holds, polling the used ring. "
		 "\"guest GB/s\" is %ld MiB over the guest's TSC time from its first kick to the last used buffer "
		 "(exits, descriptor checks, the discards); \"discard GB/s\" is the device's freed_bytes over its "
		 "discard_ns from vm.info: the memory plane's fallocate(PUNCH_HOLE) (guest-memfd, memfd) or "
		 "MADV_DONTNEED (anon) alone. The target (>= 5 GB/s on guest_memfd) needs a host whose guest_memfd "
		 "gmvm can map; memfd's punch-hole is the same shmem path. gmvm only: no QEMU side. GB/s = 10^9 "
		 "bytes/s.",
		 mib, mib, mib);
	c->about = about;
}
