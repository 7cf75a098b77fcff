/*
 * gmvm: a micro-VMM whose guest memory is guest_memfd by default.
 * main() only picks the subcommand; each lives in its own file.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/probe.h"

static void usage(FILE *f)
{
	fputs("Usage: gmvm COMMAND [OPTIONS]\n"
	      "\n"
	      "Commands:\n"
	      "  run GUEST.elf   boot a guest (gmvm run --help for options)\n"
	      "  jail --root DIR --uid N --gid N [...] -- run ARGS...\n"
	      "                  gmvm run confined: namespaces, DIR as /, an unprivileged\n"
	      "                  user, no capabilities (gmvm jail --help)\n"
	      "  probe [--json]  what this kernel offers for guest memory\n"
	      "  snapshot-merge BASE [DIFF...] OUT\n"
	      "                  fold a snapshot chain into one full snapshot (offline)\n"
	      "  help            this text\n"
	      "  version         the gmvm version\n"
	      "\n"
	      "API client commands (gmvm COMMAND --api-sock PATH [--json]), for a\n"
	      "guest started with gmvm run --api-sock PATH:\n",
	      f);
	gm_cli_client_usage(f);
}

int main(int argc, char **argv)
{
	/* A closed stdout or API peer is an error to report, never a reason to
	 * die: `gmvm run ... | head -n1` keeps the guest running. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "run"))
		return gm_cli_run(argc - 1, argv + 1);
	if (!strcmp(cmd, "jail"))
		return gm_cli_jail(argc - 1, argv + 1);
	if (!strcmp(cmd, "probe"))
		return gm_cli_probe(argc - 1, argv + 1);
	if (!strcmp(cmd, "snapshot-merge"))
		return gm_cli_snapshot_merge(argc - 1, argv + 1);
	if (gm_cli_client_has(cmd))
		return gm_cli_client(argc - 1, argv + 1);
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		puts("gmvm " GMVM_VERSION);
		return 0;
	}
	fprintf(stderr, "gmvm: unknown command '%s'; gmvm help lists the commands\n", cmd);
	return 2;
}
