/*
 * state/json_header.c: the one thing the state room checks in the JSON
 * header; its contents are src/vmm's.  Writer and reader apply the same
 * test so a writer cannot produce a stream its own reader refuses.
 */
#include <jansson.h>
#include <string.h>

#include "state/state_internal.h"

const char *gm_stream_json_check(const char *json, size_t len)
{
	const char *why = NULL;
	json_t *root;

	if (len == 0 || len > GM_STREAM_MAX_JSON)
		return "the JSON header must be 1 byte to 1 MiB long";
	/* The header is handed out as a C string: a NUL would cut it short. */
	if (memchr(json, '\0', len))
		return "the JSON header holds a NUL byte";
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	if (!root)
		return "the JSON header is not valid JSON";
	if (!json_is_object(root))
		why = "the JSON header is not a JSON object";
	else if (!json_is_string(json_object_get(root, "gmvm_version")))
		why = "the JSON header lacks the string \"gmvm_version\"";
	else if (!json_is_string(json_object_get(root, "uuid")))
		why = "the JSON header lacks the string \"uuid\"";
	json_decref(root);
	return why;
}
