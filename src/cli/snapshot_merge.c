/*
 * cli/snapshot_merge: `gmvm snapshot-merge BASE [DIFF...] OUT`, a chain of
 * snapshot directories folded into one full snapshot, offline: no KVM, no
 * API, no running VM.  The library reads and checks the whole chain before
 * it writes anything, and OUT appears whole or not at all.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "gmvm/snapshot.h"
#include "util/escape.h"

#define USAGE "usage: gmvm snapshot-merge BASE [DIFF...] OUT"

static void print_help(void)
{
	puts(USAGE "\n"
	     "\n"
	     "Fold a snapshot chain (a full snapshot BASE and the diffs taken after it,\n"
	     "in the order they were taken) into one full snapshot, the new directory OUT.\n"
	     "Needs no KVM and no running VM; the inputs are only read.\n"
	     "\n"
	     "  -h, --help  print this help and exit\n"
	     "\n"
	     "Exit status: 0 on success, 2 when an input is not a snapshot of the chain\n"
	     "or OUT exists, 1 on a host failure (disk full, out of memory).");
}

static int usage_error(const char *what, const char *arg)
{
	char q[GM_ESCAPE_SHORT];

	if (arg)
		fprintf(stderr, "gmvm: snapshot-merge: %s '%s'; " USAGE "\n", what, gm_escape(arg, q, sizeof(q)));
	else
		fprintf(stderr, "gmvm: snapshot-merge: %s; " USAGE "\n", what);
	return GM_STATUS_BAD_INPUT;
}

/* A clearer line than the state file's "cannot open" for the usual slip, a mistyped directory. */
static int check_dir(const char *dir)
{
	char q[GM_ESCAPE_PATH];
	struct stat st;

	int e = stat(dir, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;

	if (!e)
		return 0;
	fprintf(stderr, "gmvm: snapshot-merge: %s is not a snapshot directory: %s; give a directory gmvm snapshot wrote\n",
		gm_escape(dir, q, sizeof(q)), strerror(e));
	return GM_STATUS_BAD_INPUT;
}

static int merge(const char *const *dirs, int n, const char *out)
{
	struct gm_error err = { 0 };
	struct gm_snapshot *s = NULL;
	char q[GM_ESCAPE_PATH];
	int r;

	for (int i = 0; i < n; i++)
		if ((r = check_dir(dirs[i])) != 0)
			return r;
	r = gm_snapshot_open(dirs, (unsigned)n, &s, &err);
	if (r == 0)
		r = gm_snapshot_merge(s, out, &err);
	gm_snapshot_close(s);
	if (r < 0)
		return gm_cli_report(&err);
	printf("merged %d snapshot%s into %s\n", n, n == 1 ? "" : "s", gm_escape(out, q, sizeof(q)));
	if (fflush(stdout) != 0) {
		fputs("gmvm: snapshot-merge: the merge is done, but stdout cannot be written; check where stdout goes\n",
		      stderr);
		return GM_STATUS_FAILURE;
	}
	return GM_STATUS_OK;
}

int gm_cli_snapshot_merge(int argc, char **argv)
{
	/* the chain, then OUT, in argv's order; "--" lets a directory start with '-' */
	const char **dirs = calloc((size_t)argc, sizeof(*dirs));
	bool options = true;
	int n = 0, r;

	if (!dirs) {
		fputs("gmvm: snapshot-merge: out of memory reading the command line\n", stderr);
		return GM_STATUS_FAILURE;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (options && strcmp(a, "--") == 0) {
			options = false;
		} else if (options && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
			print_help();
			free(dirs);
			return GM_STATUS_OK;
		} else if (options && a[0] == '-' && a[1]) {
			free(dirs);
			return usage_error("unknown option", a);
		} else {
			dirs[n++] = a;
		}
	}
	if (n < 2)
		r = usage_error("needs the snapshots to merge, then OUT, the directory to create", NULL);
	else
		r = merge(dirs, n - 1, dirs[n - 1]);
	free(dirs);
	return r;
}
