/*
 * cli/client_balloon: `gmvm balloon --api-sock PATH [TARGET_MIB]
 * [--deflate-on-oom on|off]`, the balloon of a VM run with --balloon
 * (PUT vm.balloon): how many MiB its driver should hand back, and whether
 * it may take them back when the guest runs out of memory.  The answer is
 * the server's JSON, or its line on stderr.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/escape.h"

static int build(const char *cmd, const char *usage, int argc, char **argv, char **body, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];
	json_t *o = json_object();
	int r = 0;

	if (!o)
		return -ENOMEM;
	for (int i = 0; i < argc && !r; i++) {
		const char *a = argv[i];
		char *end;

		if (!strcmp(a, "--deflate-on-oom")) {
			const char *v = i + 1 < argc ? argv[++i] : "";

			if (strcmp(v, "on") && strcmp(v, "off"))
				r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: --deflate-on-oom takes on or off; usage: %s",
					    cmd, usage);
			else
				json_object_set_new(o, "deflate_on_oom", json_boolean(!strcmp(v, "on")));
			continue;
		}
		unsigned long long mib = strtoull(a, &end, 10);

		if (a[0] < '0' || a[0] > '9' || *end || mib > (unsigned long long)INT64_MAX || json_object_get(o, "target_mib"))
			r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: %s is not one target in MiB (a whole number); usage: %s",
				    cmd, gm_escape(a, q, sizeof(q)), usage);
		else
			json_object_set_new(o, "target_mib", json_integer((json_int_t)mib));
	}
	if (!r && !json_object_size(o))
		r = gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: give a target in MiB or --deflate-on-oom; usage: %s", cmd,
			    usage);
	if (!r && !(*body = json_dumps(o, JSON_COMPACT)))
		r = -ENOMEM;
	json_decref(o);
	return r;
}

const struct gm_cli_args gm_cli_balloon_args = {
	.usage = "[TARGET_MIB] [--deflate-on-oom on|off]",
	.help = "  TARGET_MIB       how much of the guest's RAM its balloon driver should hand\n"
		"                   back, in MiB (0 gives it all back to the guest)\n"
		"  --deflate-on-oom on|off\n"
		"                   whether the driver may take pages back when the guest runs\n"
		"                   out of memory (only before the guest's driver started)\n",
	.build = build,
};
