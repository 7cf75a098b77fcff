/*
 * cli/options: the command line of `gmvm run` turned into a gm_config.
 * Pure parsing: no files are opened and nothing is checked against the
 * kernel; that happens when the machine is built from the config.
 */
#ifndef GMVM_CLI_OPTIONS_H
#define GMVM_CLI_OPTIONS_H

#include <stdio.h>

#include "gmvm/config.h"
#include "gmvm/error.h"

/* The longest guest command line, in bytes without the NUL (boot-protocol.md). */
#define GM_CLI_CMDLINE_MAX 4095

/* The longest --timeout, in seconds, so later conversions cannot overflow. */
#define GM_CLI_TIMEOUT_MAX 1e9
/* The longest --incoming-timeout: a week, as the API's timeout_s; in ms it fits an int. */
#define GM_CLI_INCOMING_TIMEOUT_MAX 604800

/*
 * Parse `run [OPTIONS] GUEST.elf`: argv[0] is the subcommand name and is
 * skipped.  cfg is first reset to gm_config_defaults(); its strings
 * (kernel, cmdline, console_path) point into argv, which must outlive cfg.
 * Options may come before or after GUEST.elf; "--" ends the options.
 * Returns 0 when cfg is ready, 1 when --help printed the usage to stdout
 * (the caller exits 0), or -EINVAL/-ERANGE with err->status =
 * GM_STATUS_BAD_INPUT and a one-line message.  Reentrant: no global state,
 * so it may be called any number of times in one process.
 */
int gm_cli_parse_run(int argc, char **argv, struct gm_config *cfg, struct gm_error *err);

/* Print the usage of `gmvm run`: every option on one line with its default. */
void gm_cli_run_usage(FILE *f);

#endif
