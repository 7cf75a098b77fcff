/*
 * cli/run: `gmvm run`: parse options, probe the kernel, build the machine,
 * run it to its end and turn that end into an exit status.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "gmvm/api.h"
#include "gmvm/gmvm.h"
#include "gmvm/migration.h"
#include "sandbox/sandbox.h"

/* What the machine's hooks reach: the event monitor, if any. */
struct run_ctx {
	struct gm_events *events;
};

static void print_log(void *opaque, enum gm_log_level level, const char *line)
{
	(void)opaque;
	(void)level;
	fprintf(stderr, "gmvm: %s\n", line);
}

static void forward_event(void *opaque, const struct gm_event *ev)
{
	struct run_ctx *ctx = opaque;

	if (ctx->events)
		gm_events_machine_hook(ctx->events, ev);
}

static int finish(struct gm_machine *m, const struct gm_config *cfg, const struct gm_exit *ex,
		  struct gm_trace *trace)
{
	switch (ex->kind) {
	case GM_EXIT_CRASH:
		fprintf(stderr, "gmvm: guest crashed: %s\n", ex->reason);
		gm_machine_dump_vcpu(m, ex->cpu, stderr);
		break;
	case GM_EXIT_ERROR:
		fprintf(stderr, "gmvm: %s\n", ex->reason);
		break;
	case GM_EXIT_TIMEOUT:
		fprintf(stderr, "gmvm: %s; stopped it (--timeout %g)\n", ex->reason, cfg->timeout);
		break;
	default:
		break;
	}
	gm_machine_trace(m, trace);
	return ex->status;
}

/* The owner's side services, made before the VM so their refusals cost nothing. */
static int open_services(const struct gm_config *cfg, struct run_ctx *ctx, struct gm_api **api,
			 struct gm_error *err)
{
	int r = 0;

	if (cfg->event_monitor)
		r = gm_events_open(cfg->event_monitor, &ctx->events, err);
	if (!r && cfg->api_sock)
		r = gm_api_create(cfg->api_sock, ctx->events, api, err);
	return r;
}

/* A new guest from its image, or a snapshot's guest, left running. */
static int make_machine(const struct gm_config *cfg, const struct gm_caps *caps, const struct gm_snapshot *snap,
			struct run_ctx *ctx, struct gm_api *api, struct gm_machine **m, struct gm_incoming **inp,
			struct gm_error *err)
{
	struct gm_config rcfg;
	struct gm_incoming *in = NULL;
	int r;

	if (snap) {
		/* the snapshot's machine; --memory and --region move its regions onto other memory */
		r = gm_snapshot_restore_config(snap, cfg, &rcfg, err);
		if (!r)
			r = gm_machine_restore(&rcfg, caps, snap, (enum gm_restore_mode)cfg->restore_mode, m, err);
	} else if (cfg->incoming) {
		/* one sender, its header checked before anything is built */
		r = gm_incoming_open(cfg, &in, err);
		if (!r)
			r = gm_incoming_receive(in, cfg, caps, m, err);
	} else {
		r = gm_machine_create(cfg, caps, m, err);
	}
	*inp = in;
	if (r)
		return r;
	struct gm_hooks hooks = { .opaque = ctx, .log = print_log, .event = forward_event };
	gm_machine_set_hooks(*m, &hooks);
	if (api)
		gm_api_attach(api, *m);
	if (cfg->console == GM_CONSOLE_STDIO)
		gm_cli_terminal_raw();
	/* a restored or migrated machine stands started and paused, its state loaded */
	/* a migrated one runs as the source's did; postcopy's memory keeps coming meanwhile */
	if (in)
		return gm_incoming_finish(in, *m, err);
	return snap ? gm_machine_resume(*m, err) : gm_machine_start(*m, err);
}

/*
 * A live update's new process: the guest, its memory, identity, console and
 * sockets come from the old gmvm over --takeover FD.  The API starts only
 * once the guest is ours (before, the old process still answers on it).
 */
static int take_over(const struct gm_config *cfg, const struct gm_caps *caps, struct run_ctx *ctx,
		     struct gm_api **api, struct gm_machine **m, struct gm_error *err)
{
	struct gm_takeover *t = NULL;
	const char *path = NULL;
	int r = gm_takeover_open(cfg->takeover_fd, cfg, caps, &t, err);

	if (!r)
		r = gm_takeover_receive(t, m, err);
	int efd = r ? -1 : gm_takeover_take_fd(t, "events", NULL);
	if (efd >= 0) {
		char spec[32];

		snprintf(spec, sizeof(spec), "fd=%d", efd);
		r = gm_events_open(spec, &ctx->events, err);
	}
	if (!r) {
		struct gm_hooks hooks = { .opaque = ctx, .log = print_log, .event = forward_event };

		gm_machine_set_hooks(*m, &hooks);
		r = gm_takeover_finish(t, *m, err);
	}
	int afd = r ? -1 : gm_takeover_take_fd(t, "api", &path);
	if (afd >= 0) {
		struct gm_error e = { 0 };

		/* the guest runs here already: without its API it runs on all the same */
		if (gm_api_adopt(afd, path, ctx->events, *m, api, &e) < 0)
			fprintf(stderr, "gmvm: the guest runs, but its API does not: %s\n", e.msg);
	}
	/* the ports and taps the old process lets go of, on this thread, with the API up */
	if (!r)
		gm_takeover_adopt_devices(*m);
	if (!r && gm_machine_config(*m)->console == GM_CONSOLE_STDIO)
		gm_cli_terminal_inherit_raw();
	gm_takeover_close(t);
	return r;
}

int gm_cli_run(int argc, char **argv)
{
	struct gm_error err = { 0 };
	struct gm_config cfg;
	struct gm_caps caps;
	struct gm_machine *m = NULL;
	struct gm_snapshot *snap = NULL;
	struct gm_incoming *in = NULL;
	struct gm_api *api = NULL;
	struct run_ctx ctx = { 0 };
	struct gm_exit ex;
	struct gm_trace trace = { 0 };

	gm_trace_mark(&trace, GM_TRACE_START);
	int r = gm_cli_parse_run(argc, argv, &cfg, &err);

	if (r == 1)
		return 0;
	if (r < 0)
		return gm_cli_report(&err);
	/* before any thread: each one gets its kind's allow-list as it starts, main the baseline now */
	r = gm_seccomp_setup((enum gm_seccomp_mode)cfg.seccomp, &err);
	if (r < 0)
		return gm_cli_report(&err);
	/* a snapshot is checked whole first: a bad one costs no VM, no socket */
	if (cfg.nrestore)
		r = gm_snapshot_open(cfg.restore, cfg.nrestore, &snap, &err);
	if (!r)
		r = open_services(&cfg, &ctx, &api, &err);
	if (!r)
		r = gm_caps_probe(&caps, GM_PROBE_FAST, &err);
	gm_trace_mark(&trace, GM_TRACE_PROBED);
	if (!r && cfg.takeover_fd >= 0)
		r = take_over(&cfg, &caps, &ctx, &api, &m, &err);
	else if (!r)
		r = make_machine(&cfg, &caps, snap, &ctx, api, &m, &in, &err);
	gm_snapshot_close(snap);
	/* set-up is done: main only waits for the end and tears down from here */
	if (!r)
		r = gm_seccomp_enter(GM_THREAD_MAIN, &err);
	if (r) {
		gm_api_destroy(api);
		gm_incoming_close(in);
		gm_machine_destroy(m);
		gm_cli_terminal_restore();
		gm_events_close(ctx.events);
		return gm_cli_report(&err);
	}
	if (gm_machine_wait(m, cfg.timeout, &ex) == -ETIMEDOUT)
		gm_machine_stop(m);
	int status = finish(m, &cfg, &ex, &trace);
	/* the API goes first, so no request reaches a machine being torn down;
	 * postcopy's threads before the memory they fill */
	gm_api_destroy(api);
	gm_incoming_close(in);
	gm_machine_destroy(m);
	/* after a live update the terminal is the new process's */
	if (ex.kind != GM_EXIT_UPDATED)
		gm_cli_terminal_restore();
	gm_events_close(ctx.events);
	if (cfg.trace_startup) {
		gm_trace_mark(&trace, GM_TRACE_EXIT);
		gm_trace_print(&trace, stderr);
	}
	return status;
}
