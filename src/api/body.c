/*
 * api/: reading a request body, strictly.  A client that misspells a field
 * must hear about it: a silently ignored "lenght" would discard nothing and
 * answer 200.  So every unknown, missing or mistyped field is a 400 that
 * names it and lists what the route takes.
 */
#include <stdio.h>
#include <string.h>

#include "api/api_internal.h"
#include "util/escape.h"

static bool is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

static const char *type_name(json_type t)
{
	switch (t) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a fraction";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "a value";
}

/* "the fields are: a, b" or "it takes no fields: send {} or no body" */
static const char *field_list(const struct gm_route *rt, char *buf, size_t len)
{
	size_t used;

	if (!rt->fields || !rt->fields[0].name) {
		snprintf(buf, len, "it takes no fields: send {} or no body");
		return buf;
	}
	used = (size_t)snprintf(buf, len, "the fields are: ");
	for (const struct gm_field *f = rt->fields; f->name && used < len; f++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s%s", f == rt->fields ? "" : ", ",
					 f->name, f->optional ? " (optional)" : "");
	return buf;
}

static const struct gm_field *find_field(const struct gm_route *rt, const char *name)
{
	for (const struct gm_field *f = rt->fields; f && f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* "\"gmem\" or \"mapped\"" */
static const char *choice_list(const char *const *choices, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; choices[i] && used < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s\"%s\"",
					 i == 0 ? "" : choices[i + 1] ? ", " : " or ", choices[i]);
	return buf;
}

/* Integers are addresses and sizes; strings may be one of a few words, or pass the field's check. */
static int check_value(const struct gm_route *rt, const struct gm_field *f, json_t *val,
		       struct gm_api_reply *r)
{
	char shown[GM_ESCAPE_SHORT], list[256];

	if (json_is_integer(val) && json_integer_value(val) < 0 && !f->check) {
		gm_reply_error(r, 400, "field '%s' in %s is negative (%lld); give a byte address or count, 0 or more",
			       f->name, rt->name, (long long)json_integer_value(val));
		return -1;
	}
	if (f->check && f->check(rt, f, val, r) < 0)
		return -1;
	if (!json_is_string(val) || !f->choices)
		return 0;
	for (const char *const *c = f->choices; *c; c++)
		if (strcmp(json_string_value(val), *c) == 0)
			return 0;
	gm_reply_error(r, 400, "field '%s' in %s is '%s'; use %s", f->name, rt->name,
		       gm_escape_n(json_string_value(val), json_string_length(val), shown, sizeof(shown)),
		       choice_list(f->choices, list, sizeof(list)));
	return -1;
}

static int check_fields(const struct gm_route *rt, json_t *obj, struct gm_api_reply *r)
{
	char list[256], shown[GM_ESCAPE_SHORT];
	const char *key;
	json_t *val;

	json_object_foreach(obj, key, val) {
		if (!find_field(rt, key)) {
			gm_reply_error(r, 400, "unknown field '%s' in %s; %s", gm_escape(key, shown, sizeof(shown)),
				       rt->name, field_list(rt, list, sizeof(list)));
			return -1;
		}
	}
	for (const struct gm_field *f = rt->fields; f && f->name; f++) {
		val = json_object_get(obj, f->name);
		if (!val && f->optional)
			continue;
		if (!val) {
			gm_reply_error(r, 400, "missing field '%s' in %s; %s", f->name, rt->name,
				       field_list(rt, list, sizeof(list)));
			return -1;
		}
		if (json_typeof(val) != f->type && !(f->type == JSON_TRUE && json_is_boolean(val))) {
			gm_reply_error(r, 400, "field '%s' in %s must be %s, not %s; %s", f->name, rt->name,
				       type_name(f->type), type_name(json_typeof(val)),
				       field_list(rt, list, sizeof(list)));
			return -1;
		}
		if (check_value(rt, f, val, r) < 0)
			return -1;
	}
	return 0;
}

int gm_body_parse(const struct gm_route *rt, const char *body, size_t len, json_t **out,
		  struct gm_api_reply *r)
{
	char list[256];
	json_error_t e;
	json_t *obj;

	*out = NULL;
	if (strcmp(rt->method, "GET") == 0) {
		if (len == 0)
			return 0;
		gm_reply_error(r, 400, "GET %s takes no body, but %zu bytes came; send it without one",
			       rt->name, len);
		return -1;
	}
	if (is_blank(body, len)) {
		if (!rt->fields)
			return 0;
		gm_reply_error(r, 400, "%s needs a JSON object as its body; %s", rt->name,
			       field_list(rt, list, sizeof(list)));
		return -1;
	}
	obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
	if (!obj) {
		gm_reply_error(r, 400, "bad JSON in the body of %s: %s (line %d, column %d); %s",
			       rt->name, e.text, e.line, e.column, field_list(rt, list, sizeof(list)));
		return -1;
	}
	if (!json_is_object(obj)) {
		gm_reply_error(r, 400, "the body of %s must be a JSON object, not %s; %s", rt->name,
			       type_name(json_typeof(obj)), field_list(rt, list, sizeof(list)));
		json_decref(obj);
		return -1;
	}
	if (check_fields(rt, obj, r) < 0) {
		json_decref(obj);
		return -1;
	}
	*out = obj;
	return 0;
}
