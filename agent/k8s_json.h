/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The Kubernetes API's JSON as every watched kind shares it (pods: k8s_pods.c; Services and
 * EndpointSlices: k8s_services.c): a list's envelope (kind, metadata.resourceVersion, items), a
 * watch line's (type and object; ERROR, 410 Gone, BOOKMARK), typed members, one-line errors. The
 * API is outside input: jansson with duplicate keys rejected, every type checked, sizes bounded.
 * Nothing here talks to the network (k8s_api.h does).
 */
#ifndef CRUISE_K8S_JSON_H
#define CRUISE_K8S_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define CRUISE_K8S_RV_LEN 128

enum cruise_k8s_event_type {
	CRUISE_K8S_ADDED,
	CRUISE_K8S_MODIFIED,
	CRUISE_K8S_DELETED,
	CRUISE_K8S_BOOKMARK, /* only a resourceVersion */
	CRUISE_K8S_GONE,     /* ERROR with code 410: the resourceVersion is too old, list again */
	CRUISE_K8S_ERROR,    /* any other ERROR */
};

/* fmt into err, control characters (from the API's strings) made '?': one line. -EINVAL. */
int cruise_k8s_fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Control characters in s made '?' (an API string bound for a log line). */
void cruise_k8s_one_line(char *s);
/* A string member, or NULL when absent or null; -EINVAL when present with another type. */
int cruise_k8s_opt_string(json_t *obj, const char *key, const char **out);
/* An object, array or null member: NULL when absent or null; -EINVAL for another type. */
int cruise_k8s_opt_object(json_t *obj, const char *key, json_t **out);
int cruise_k8s_opt_array(json_t *obj, const char *key, json_t **out);
/* metadata.resourceVersion of an object, required and shorter than rvlen. */
int cruise_k8s_object_rv(json_t *obj, char *rv, size_t rvlen);

/*
 * A list's body: an object of kind (or with no kind), a good metadata.resourceVersion into rv,
 * items an array or null ("none"). *root to json_decref; *items borrowed from it, NULL for none.
 */
int cruise_k8s_list_open(const char *buf, size_t len, const char *kind, json_t **root,
			 json_t **items, char *rv, size_t rvlen, char *err, size_t errlen);
/*
 * One line of a watch stream, {"type": ..., "object": {...}}: *type; for ERROR and GONE the
 * server's message in err (and 0 returned); for BOOKMARK its resourceVersion in rv; for ADDED,
 * MODIFIED and DELETED *obj (borrowed from *root, to json_decref), whose resourceVersion the
 * caller reads with the object.
 */
int cruise_k8s_event_open(const char *buf, size_t len, json_t **root, json_t **obj,
			  enum cruise_k8s_event_type *type, char *rv, size_t rvlen, char *err,
			  size_t errlen);

#endif /* CRUISE_K8S_JSON_H */
