/*
 * cli/jail: `gmvm jail --root DIR --uid N --gid N [...] -- run ARGS...`:
 * its options, the paths gmvm run will open (from run's own parser, so
 * the jail and run agree on every option), the checks, then the jail
 * (sandbox/jail.c) running gm_cli_run in this process.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "sandbox/jail.h"
#include "util/escape.h"

#define JAIL_USAGE "usage: gmvm jail --root DIR --uid N --gid N [OPTIONS] -- run ARGS... (gmvm jail --help)"

void gm_cli_jail_usage(FILE *f)
{
	fputs("Usage: gmvm jail --root DIR --uid N --gid N [OPTIONS] -- run ARGS...\n"
	      "\n"
	      "Run `gmvm run ARGS...` confined: new mount, PID, IPC and UTS namespaces (and a\n"
	      "network namespace, see --netns), DIR as its whole filesystem, as uid N and gid N\n"
	      "without supplementary groups or any capability, with no_new_privs and rlimits.\n"
	      "Paths in ARGS are as the VM sees them: DIR is /, so DIR/vm.elf is /vm.elf.\n"
	      "The jail makes its own /dev (kvm, null, urandom, net/tun with --net tap),\n"
	      "/proc, a read-only /sys (memory facts only) and /run, in its own mount\n"
	      "namespace: the host sees at most empty directories dev, proc, sys and run in\n"
	      "DIR while it runs, removed at the end.  Needs root.\n"
	      "\n"
	      "Options:\n"
	      "      --root DIR      the VM's / (required): an absolute path to a directory\n"
	      "                      owned by uid N, holding the guest, initrd, disks,\n"
	      "                      snapshots; its sockets and snapshots are made there\n"
	      "      --uid N         the user gmvm runs as (required, not 0)\n"
	      "      --gid N         its group (required, not 0)\n"
	      "      --cgroup PATH   a cgroup v2 group to run in, made if missing, e.g.\n"
	      "                      /sys/fs/cgroup/gmvm/vm1 (default: stay in this one)\n"
	      "      --netns new|host  new: a network namespace of its own (loopback only);\n"
	      "                      host: the host's, for --net (slirp's sockets and taps\n"
	      "                      live there), --incoming tcp: and migrating out over\n"
	      "                      tcp: (default: host with --net or --incoming tcp:,\n"
	      "                      else new)\n"
	      "      --rlimit nofile=N,fsize=BYTES,nproc=N\n"
	      "                      any of the three (default: nofile=4096, fsize=the\n"
	      "                      host's RAM + 1G (a snapshot's memory file must fit),\n"
	      "                      nproc=512: RLIMIT_NPROC counts the threads of the\n"
	      "                      uid, one per vCPU plus API, migration and I/O ones;\n"
	      "                      give each jail its own uid)\n"
	      "  -h, --help          this text\n"
	      "\n"
	      "Exit status: gmvm run's (128+N when signal N ended it); 2 when a check\n"
	      "refuses (one line naming the fix), 3 when the host has no /dev/kvm.\n"
	      "\n"
	      "Example:\n"
	      "  mkdir /srv/vm1 && cp hello.elf /srv/vm1/ && chown -R 4242:4242 /srv/vm1\n"
	      "  gmvm jail --root /srv/vm1 --uid 4242 --gid 4242 -- run /hello.elf \\\n"
	      "      --api-sock /api.sock    # the host reaches it at /srv/vm1/api.sock\n",
	      f);
}

static int fail(const struct gm_error *err)
{
	fprintf(stderr, "gmvm jail: %s\n", err->msg[0] ? err->msg : "failed (no reason given)");
	return err->status ? err->status : GM_STATUS_FAILURE;
}

static int parse_id(const char *opt, const char *s, unsigned *out, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || v >= 0xffffffffUL)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s %s: give a number, e.g. %s 4242", opt,
			       gm_escape(s, q, sizeof(q)), opt);
	*out = (unsigned)v;
	return 0;
}

/* The jail's options, up to "run"; *run_at is the index of "run" in argv. */
int gm_cli_jail_parse(int argc, char **argv, struct gm_jail *j, int *run_at, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];

	gm_jail_defaults(j);
	*run_at = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		unsigned id;

		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return 1;
		if (!strcmp(a, "--")) {
			if (i + 1 < argc && !strcmp(argv[i + 1], "run"))
				*run_at = i + 1;
			break;
		}
		if (!strcmp(a, "run")) {
			*run_at = i;
			break;
		}
		static const char *const with_value[] = { "--root", "--uid", "--gid", "--cgroup", "--netns", "--rlimit" };
		bool known = false;
		for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
			known |= !strcmp(a, with_value[k]);
		if (!known)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "unknown option '%s'; " JAIL_USAGE,
				       gm_escape(a, q, sizeof(q)));
		if (i + 1 >= argc)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s needs a value; " JAIL_USAGE, a);
		const char *v = argv[++i];
		int r = 0;
		if (!strcmp(a, "--root")) {
			j->root = v;
		} else if (!strcmp(a, "--uid")) {
			r = parse_id(a, v, &id, err);
			j->uid = (uid_t)id;
		} else if (!strcmp(a, "--gid")) {
			r = parse_id(a, v, &id, err);
			j->gid = (gid_t)id;
		} else if (!strcmp(a, "--cgroup")) {
			j->cgroup = v;
		} else if (!strcmp(a, "--netns")) {
			if (!strcmp(v, "new"))
				j->netns = GM_JAIL_NETNS_NEW;
			else if (!strcmp(v, "host"))
				j->netns = GM_JAIL_NETNS_HOST;
			else
				r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--netns %s: use new or host",
					    gm_escape(v, q, sizeof(q)));
		} else {
			r = gm_jail_parse_rlimit(v, &j->rl, err);
		}
		if (r)
			return r;
	}
	if (*run_at < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "no gmvm run command to jail; " JAIL_USAGE);
	return 0;
}

/* What gmvm run will open, as the jail must hold it, and which namespaces it needs. */
int gm_cli_jail_from_run(const struct gm_config *cfg, struct gm_jail *j, struct gm_error *err)
{
	static char sockpath[PATH_MAX];
	int r = 0;

	if (cfg->takeover_fd >= 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--takeover in a jail: a live update's new process is started by the old gmvm, not by gmvm jail");
	if (cfg->kernel)
		r = gm_jail_add_path(j, "the guest", cfg->kernel, GM_JAIL_PATH_FILE, err);
	if (!r && cfg->initrd)
		r = gm_jail_add_path(j, "--initrd", cfg->initrd, GM_JAIL_PATH_FILE, err);
	for (unsigned i = 0; !r && i < cfg->ndisks; i++)
		r = gm_jail_add_path(j, "--disk", cfg->disks[i].path, GM_JAIL_PATH_FILE, err);
	for (unsigned i = 0; !r && i < cfg->nrestore; i++)
		r = gm_jail_add_path(j, "--restore", cfg->restore[i], GM_JAIL_PATH_DIR, err);
	if (!r && cfg->console == GM_CONSOLE_FILE && cfg->console_path)
		r = gm_jail_add_path(j, "--console file:", cfg->console_path, GM_JAIL_PATH_CREATE, err);
	if (!r && cfg->api_sock)
		r = gm_jail_add_path(j, "--api-sock", cfg->api_sock, GM_JAIL_PATH_CREATE, err);
	if (!r && cfg->event_monitor && !strncmp(cfg->event_monitor, "path=", 5))
		r = gm_jail_add_path(j, "--event-monitor path=", cfg->event_monitor + 5, GM_JAIL_PATH_CREATE, err);
	/* the one inherited fd the jail keeps open for gmvm (it closes every other above 2) */
	if (cfg->event_monitor && !strncmp(cfg->event_monitor, "fd=", 3))
		j->keep_fd = atoi(cfg->event_monitor + 3);
	if (!r && cfg->incoming && !strncmp(cfg->incoming, "unix:", 5)) {
		snprintf(sockpath, sizeof(sockpath), "%s", cfg->incoming + 5);
		r = gm_jail_add_path(j, "--incoming unix:", sockpath, GM_JAIL_PATH_CREATE, err);
	}
	for (unsigned i = 0; i < cfg->nnets; i++)
		j->tun |= cfg->nets[i].kind == GM_NET_TAP;
	/* slirp's sockets and the taps live in the host's namespace, and so does a tcp: sender */
	if (j->netns == GM_JAIL_NETNS_AUTO)
		j->netns = cfg->nnets || (cfg->incoming && !strncmp(cfg->incoming, "tcp:", 4)) ? GM_JAIL_NETNS_HOST
											: GM_JAIL_NETNS_NEW;
	return r;
}

int gm_cli_jail(int argc, char **argv)
{
	static struct gm_jail j;
	static char root[PATH_MAX];
	struct gm_error err = { 0 };
	struct gm_config cfg;
	int run_at;
	int r = gm_cli_jail_parse(argc, argv, &j, &run_at, &err);

	if (r == 1) {
		gm_cli_jail_usage(stdout);
		return 0;
	}
	if (r)
		return fail(&err);
	int rargc = argc - run_at;
	char **rargv = argv + run_at;
	r = gm_cli_parse_run(rargc, rargv, &cfg, &err);
	if (r == 1)
		return 0; /* run --help: printed, nothing to jail */
	if (!r)
		r = gm_cli_jail_from_run(&cfg, &j, &err);
	/* DIR as the kernel names it, so "inside the jail DIR is /" messages match what users typed or not */
	if (!r && j.root && j.root[0] == '/' && realpath(j.root, root))
		j.root = root;
	if (!r)
		r = gm_jail_check(&j, &err);
	if (r)
		return fail(&err);
	r = gm_jail_run(&j, gm_cli_run, rargc, rargv, &err);
	return r < 0 ? fail(&err) : r;
}
