/*
 * cli/client_snapshot: `gmvm snapshot --api-sock PATH DIR [--diff]`, the
 * body of vm.snapshot.  The server makes the directory, in its own working
 * directory, so DIR goes as an absolute path: the real path of its parent
 * (where the user's shell would find it) and its last name.  The API takes
 * the path in a file:// URL as it is, without percent-escapes.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "util/escape.h"

/* A snapshot writes all guest RAM: 63 GiB at a slow disk's 200 MB/s is about 6 minutes. */
#define SNAPSHOT_TIMEOUT_SECONDS 600L

/* dir as an absolute path into out (PATH_MAX): realpath(parent) + "/" + name. */
static int absolute(const char *cmd, const char *dir, char *out, struct gm_error *err)
{
	char copy[PATH_MAX], real[PATH_MAX], q[GM_ESCAPE_PATH];
	const char *parent = ".", *name = copy;
	size_t n = strlen(dir);
	struct stat st;

	gm_escape(dir, q, sizeof(q));
	if (n == 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "%s: the directory is empty; name the snapshot directory to create, e.g. snap1", cmd);
	if (n >= sizeof(copy))
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENAMETOOLONG, "%s: the path '%s' is too long; use a shorter one",
			       cmd, q);
	memcpy(copy, dir, n + 1);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	char *slash = strrchr(copy, '/');
	if (slash == copy) {
		parent = "/";
		name = copy + 1;
	} else if (slash) {
		*slash = '\0';
		parent = copy;
		name = slash + 1;
	}
	if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "%s: '%s' does not name a new directory; give the path of one to create, e.g. /var/lib/gmvm/snap1",
			       cmd, q);
	if (!realpath(parent, real) || stat(real, &st) < 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, errno,
			       "%s: cannot find the parent directory of '%s': %s; create it first", cmd, q,
			       strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENOTDIR,
			       "%s: the parent of '%s' is not a directory; give a path inside a directory", cmd, q);
	if ((size_t)snprintf(out, PATH_MAX, "%s%s%s", real, strcmp(real, "/") ? "/" : "", name) >= PATH_MAX)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENAMETOOLONG, "%s: the path '%s' is too long; use a shorter one",
			       cmd, q);
	if (lstat(out, &st) == 0)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EEXIST,
			       "%s: %s already exists; name a new directory (snapshots are never overwritten)", cmd, q);
	if (strchr(out, '%'))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "%s: the path '%s' holds a '%%', which the API's file:// URLs do not take (no percent-escapes); choose a name without it",
			       cmd, gm_escape(out, q, sizeof(q)));
	return 0;
}

static int build(const char *cmd, const char *usage, int argc, char **argv, char **body, struct gm_error *err)
{
	char abs[PATH_MAX], url[PATH_MAX + 8], q[GM_ESCAPE_PATH], q2[GM_ESCAPE_PATH];
	const char *dir = NULL;
	bool diff = false;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--diff") == 0)
			diff = true;
		else if (a[0] == '-' && a[1])
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "%s: unexpected '%s'; usage: %s", cmd,
				       gm_escape(a, q, sizeof(q)), usage);
		else if (dir)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "%s: two directories, '%s' and '%s'; give one DIR; usage: %s", cmd,
				       gm_escape(dir, q, sizeof(q)), gm_escape(a, q2, sizeof(q2)), usage);
		else
			dir = a;
	}
	if (!dir)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "%s: needs DIR, the snapshot directory to create; usage: %s", cmd, usage);
	int r = absolute(cmd, dir, abs, err);
	if (r < 0)
		return r;
	snprintf(url, sizeof(url), "file://%s", abs);
	/* json_string refuses text that is not UTF-8: a JSON body cannot carry it */
	json_t *j = json_string(url);
	json_t *o = j ? json_pack("{s:o, s:s}", "destination_url", j, "type", diff ? "diff" : "full") : NULL;
	if (!j)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EILSEQ,
			       "%s: the path '%s' is not UTF-8, which the API's JSON cannot carry; choose a UTF-8 name",
			       cmd, gm_escape(abs, q, sizeof(q)));
	*body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!*body)
		return gm_fail(err, GM_STATUS_FAILURE, ENOMEM, "%s: out of memory for the request", cmd);
	return 0;
}

const struct gm_cli_args gm_cli_snapshot_args = {
	.usage = "DIR [--diff]",
	.help = "  DIR              the directory to create (it must not exist yet); its parent\n"
		"                   must exist and be writable by gmvm run\n"
		"  --diff           only the pages written since the last snapshot (a full one\n"
		"                   first); gmvm snapshot-merge folds a chain into one\n",
	.timeout_s = SNAPSHOT_TIMEOUT_SECONDS,
	.build = build,
};
