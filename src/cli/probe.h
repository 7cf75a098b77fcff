/* cli/probe.h: the `gmvm probe [--json]` subcommand. */
#ifndef GM_CLI_PROBE_H
#define GM_CLI_PROBE_H

/*
 * Run `gmvm probe` (argv[0] == "probe"): print what this kernel can do for
 * guest memory, as a table or (--json) a JSON object, on stdout.  Returns the
 * process exit status: 0, 2 for a bad option, 3 when /dev/kvm is unusable.
 */
int gm_cli_probe(int argc, char **argv);

#endif
