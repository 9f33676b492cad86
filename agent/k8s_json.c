// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The API's JSON envelopes and typed members (k8s_json.h), shared by every watched kind. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "k8s_json.h"

void cruise_k8s_one_line(char *s)
{
	for (char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

int cruise_k8s_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* one line whatever the API sent: its strings (names, label keys) go into the message */
	cruise_k8s_one_line(err);
	return -EINVAL;
}

int cruise_k8s_opt_string(json_t *obj, const char *key, const char **out)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EINVAL;
	*out = json_string_value(v);
	/* a NUL inside would cut the string where C reads it */
	return strlen(*out) == json_string_length(v) ? 0 : -EINVAL;
}

static int opt_kind(json_t *obj, const char *key, json_t **out, int (*is)(const json_t *))
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!is(v))
		return -EINVAL;
	*out = v;
	return 0;
}

static int is_object(const json_t *v)
{
	return json_is_object(v);
}

static int is_array(const json_t *v)
{
	return json_is_array(v);
}

int cruise_k8s_opt_object(json_t *obj, const char *key, json_t **out)
{
	return opt_kind(obj, key, out, is_object);
}

int cruise_k8s_opt_array(json_t *obj, const char *key, json_t **out)
{
	return opt_kind(obj, key, out, is_array);
}

int cruise_k8s_object_rv(json_t *obj, char *rv, size_t rvlen)
{
	json_t *meta = json_object_get(obj, "metadata");
	const char *v;

	if (!json_is_object(meta) || cruise_k8s_opt_string(meta, "resourceVersion", &v) || !v ||
	    !*v || strlen(v) >= rvlen)
		return -EINVAL;
	snprintf(rv, rvlen, "%s", v);
	return 0;
}

static json_t *load(const char *buf, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);

	if (!root)
		cruise_k8s_fail(err, errlen, "bad JSON at line %d column %d: %.100s", je.line,
				je.column, je.text);
	else if (!json_is_object(root)) {
		cruise_k8s_fail(err, errlen, "expected a JSON object");
		json_decref(root);
		root = NULL;
	}
	return root;
}

int cruise_k8s_list_open(const char *buf, size_t len, const char *kind, json_t **root,
			 json_t **items, char *rv, size_t rvlen, char *err, size_t errlen)
{
	json_t *r = load(buf, len, err, errlen), *it;
	const char *k;

	*root = *items = NULL;
	if (!r)
		return -EINVAL;
	if (cruise_k8s_opt_string(r, "kind", &k) || (k && strcmp(k, kind))) {
		cruise_k8s_fail(err, errlen, "not a %s", kind);
		goto bad;
	}
	if (cruise_k8s_object_rv(r, rv, rvlen)) {
		cruise_k8s_fail(err, errlen, "a %s without a good metadata.resourceVersion", kind);
		goto bad;
	}
	/* "items": null is how the API says "none" */
	if (cruise_k8s_opt_array(r, "items", &it)) {
		cruise_k8s_fail(err, errlen, "a %s whose items are not a list", kind);
		goto bad;
	}
	*root = r;
	*items = it && json_array_size(it) ? it : NULL;
	return 0;
bad:
	json_decref(r);
	return -EINVAL;
}

int cruise_k8s_event_open(const char *buf, size_t len, json_t **root, json_t **obj,
			  enum cruise_k8s_event_type *type, char *rv, size_t rvlen, char *err,
			  size_t errlen)
{
	json_t *r = load(buf, len, err, errlen), *o;
	const char *t;

	*root = *obj = NULL;
	rv[0] = '\0';
	if (!r)
		return -EINVAL;
	o = json_object_get(r, "object");
	if (cruise_k8s_opt_string(r, "type", &t) || !t || !json_is_object(o)) {
		cruise_k8s_fail(err, errlen, "a watch event without a type or an object");
		goto bad;
	}
	if (!strcmp(t, "ERROR")) {
		json_t *code = json_object_get(o, "code");
		const char *msg = NULL;

		cruise_k8s_opt_string(o, "message", &msg);
		*type = json_is_integer(code) && json_integer_value(code) == 410 ? CRUISE_K8S_GONE
										 : CRUISE_K8S_ERROR;
		cruise_k8s_fail(err, errlen, "the API server says: %.200s",
				msg ? msg : "(no message)");
		json_decref(r);
		return 0;
	}
	if (!strcmp(t, "BOOKMARK")) {
		if (cruise_k8s_object_rv(o, rv, rvlen)) {
			cruise_k8s_fail(err, errlen, "a bookmark without a good resourceVersion");
			goto bad;
		}
		*type = CRUISE_K8S_BOOKMARK;
		json_decref(r);
		return 0;
	}
	if (!strcmp(t, "ADDED"))
		*type = CRUISE_K8S_ADDED;
	else if (!strcmp(t, "MODIFIED"))
		*type = CRUISE_K8S_MODIFIED;
	else if (!strcmp(t, "DELETED"))
		*type = CRUISE_K8S_DELETED;
	else {
		cruise_k8s_fail(err, errlen, "unknown watch event type \"%.32s\"", t);
		goto bad;
	}
	*root = r;
	*obj = o;
	return 0;
bad:
	json_decref(r);
	return -EINVAL;
}
