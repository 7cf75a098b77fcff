/* cli/messages: how the gmvm command reports a failure, in one place. */
#include <stdio.h>

#include "cli/cli.h"

int gm_cli_report(const struct gm_error *err)
{
	fprintf(stderr, "gmvm: %s\n", err->msg[0] ? err->msg : "failed (no reason given)");
	return err->status ? err->status : GM_STATUS_FAILURE;
}
