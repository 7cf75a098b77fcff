/*
 * cli/: the gmvm command.  One file per subcommand (run.c, probe.c), each
 * an entry point that takes its own argv (argv[0] is the subcommand's name)
 * and returns the process exit status.
 */
#ifndef GM_CLI_H
#define GM_CLI_H

#include "gmvm/error.h"

int gm_cli_run(int argc, char **argv);

/* Print "gmvm: MESSAGE" for err on stderr and return its exit status. */
int gm_cli_report(const struct gm_error *err);

#endif
