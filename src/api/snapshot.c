/*
 * api/: vm.snapshot, the machine's state and memory written to a directory
 * named by a file:// URL.  Only local absolute paths, written out plainly:
 * the server makes the directory itself, so a relative path would depend
 * on gmvm run's working directory, and percent-escapes would be a second
 * spelling of a path to get wrong.  A snapshot may take seconds; it runs
 * on the connection's own thread, so pings are still answered meanwhile.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "api/api_internal.h"
#include "gmvm/snapshot.h"
#include "util/escape.h"

#define FILE_SCHEME "file://"

int gm_check_file_url(const struct gm_route *rt, const struct gm_field *f, json_t *val,
		      struct gm_api_reply *r)
{
	/* no NUL inside: the body parser refuses \u0000 */
	const char *url = json_string_value(val), *path;
	char shown[GM_ESCAPE_PATH];

	gm_escape(url, shown, sizeof(shown));
	if (strncmp(url, FILE_SCHEME, strlen(FILE_SCHEME)) != 0) {
		gm_reply_error(r, 400, "field '%s' in %s is '%s'; only local directories are supported: send file:///ABSOLUTE/DIR",
			       f->name, rt->name, shown);
		return -1;
	}
	path = url + strlen(FILE_SCHEME);
	if (path[0] != '/') {
		/* file://tmp/snap names the host "tmp": the usual slip for a relative path */
		gm_reply_error(r, 400, "field '%s' in %s is '%s', which is not an absolute path (or names a host); write file:// and then the absolute path, e.g. file:///var/lib/gmvm/snap1",
			       f->name, rt->name, shown);
		return -1;
	}
	if (strchr(path, '%')) {
		gm_reply_error(r, 400, "field '%s' in %s is '%s': percent-escapes are not supported; write the path as it is, spaces and all, after file://",
			       f->name, rt->name, shown);
		return -1;
	}
	if (strlen(path) >= PATH_MAX) {
		gm_reply_error(r, 400, "field '%s' in %s names a path of %zu bytes, more than the %d a path may have; use a shorter one",
			       f->name, rt->name, strlen(path), PATH_MAX - 1);
		return -1;
	}
	return 0;
}

static bool parent_is_dir(const char *dir)
{
	char copy[PATH_MAX];
	struct stat st;

	snprintf(copy, sizeof(copy), "%s", dir);
	return stat(dirname(copy), &st) == 0 && S_ISDIR(st.st_mode);
}

/* The body checker vouched for the URL (file:///...) and the type ("full" or "diff", or none). */
void gm_route_snapshot(struct gm_api *api, struct gm_machine *m, json_t *body,
		       struct gm_api_reply *r)
{
	const char *url = json_string_value(json_object_get(body, "destination_url"));
	const char *type = json_string_value(json_object_get(body, "type"));
	const char *dir = url + strlen(FILE_SCHEME);
	enum gm_snapshot_kind kind = type && strcmp(type, "diff") == 0 ? GM_SNAPSHOT_DIFF : GM_SNAPSHOT_FULL;
	struct gm_snapshot_stats st = { 0 };
	struct gm_error err = { 0 };
	int rc;

	(void)api;
	rc = gm_machine_snapshot(m, dir, kind, &st, &err);
	/*
	 * A diff with no snapshot before it is the machine's state, not the
	 * input: 409.  The library refuses that (ENOENT) before it touches the
	 * directory, so an ENOENT with the parent in place is that refusal and
	 * not a missing parent (which stays a 400).
	 */
	if (rc == -ENOENT && kind == GM_SNAPSHOT_DIFF && parent_is_dir(dir))
		gm_reply_error(r, 409, "%s", err.msg[0] ? err.msg : "no snapshot was taken yet; take a full one first");
	else if (rc < 0)
		gm_reply_machine_error(r, rc, &err, "take the snapshot");
	else
		gm_reply_json(r, 200, json_pack("{s:o, s:s, s:o, s:o, s:o}",
						"destination_url", gm_json_text(url),
						"type", kind == GM_SNAPSHOT_DIFF ? "diff" : "full",
						"paused_us", gm_json_u64(st.paused_us),
						"state_bytes", gm_json_u64(st.state_bytes),
						"memory_bytes", gm_json_u64(st.memory_bytes)));
}
