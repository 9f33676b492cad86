// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Pods from the API's JSON, and their cgroups (k8s_pods.h). The API is outside input: every field
 * is type-checked, sizes are bounded, a UID must look like one before it becomes part of a path,
 * and anything unexpected rejects the whole document rather than being half-applied.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "k8s_pods.h"

#define LABEL_MAX 320 /* a key is at most 253 + 1 + 63 characters, a value 63 */

void cruise_pod_free(struct cruise_pod *p)
{
	for (unsigned int i = 0; i < p->n_labels; i++) {
		free(p->labels[i].key);
		free(p->labels[i].value);
	}
	free(p->labels);
	p->labels = NULL;
	p->n_labels = 0;
}

void cruise_pods_free(struct cruise_pod *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cruise_pod_free(&v[i]);
	free(v);
}

static int pod_copy(const struct cruise_pod *src, struct cruise_pod *dst)
{
	*dst = *src;
	dst->labels = NULL;
	dst->n_labels = 0;
	if (!src->n_labels)
		return 0;
	dst->labels = calloc(src->n_labels, sizeof(*dst->labels));
	if (!dst->labels)
		return -ENOMEM;
	for (unsigned int i = 0; i < src->n_labels; i++) {
		dst->labels[i].key = strdup(src->labels[i].key);
		dst->labels[i].value = strdup(src->labels[i].value);
		dst->n_labels++;
		if (!dst->labels[i].key || !dst->labels[i].value) {
			cruise_pod_free(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

int cruise_pods_copy(const struct cruise_pod *v, size_t n, struct cruise_pod **out)
{
	struct cruise_pod *c = calloc(n ? n : 1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (pod_copy(&v[i], &c[i])) {
			cruise_pods_free(c, i);
			return -ENOMEM;
		}
	}
	*out = c;
	return 0;
}

/* UUIDs, and a static pod's hex config hash: letters, digits and '-' only (it becomes a path). */
static bool uid_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= CRUISE_POD_UID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-'))
			return false;
	return true;
}

static int parse_labels(json_t *labels, struct cruise_pod *p, char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	size_t n = json_object_size(labels);

	/*
	 * Kubernetes does not bound the count: such a pod is kept unbound (and said so) rather
	 * than failing the whole list, which would stop every pod update on the node.
	 */
	if (n > CRUISE_POD_MAX_LABELS) {
		_Static_assert(CRUISE_POD_MAX_LABELS == 256, "the message below says 256");
		p->skip = "more than 256 labels";
		return 0;
	}
	if (!n)
		return 0;
	p->labels = calloc(n, sizeof(*p->labels));
	if (!p->labels)
		return -ENOMEM;
	json_object_foreach(labels, key, v)
	{
		if (!json_is_string(v))
			return cruise_k8s_fail(err, errlen, "pod %s: label %.64s is not a string",
					       p->name, key);
		if (strlen(key) > LABEL_MAX || json_string_length(v) > LABEL_MAX ||
		    strlen(json_string_value(v)) != json_string_length(v))
			return cruise_k8s_fail(err, errlen,
					       "pod %s: label %.64s too long or with a NUL",
					       p->name, key);
		p->labels[p->n_labels].key = strdup(key);
		p->labels[p->n_labels].value = strdup(json_string_value(v));
		p->n_labels++;
		if (!p->labels[p->n_labels - 1].key || !p->labels[p->n_labels - 1].value)
			return -ENOMEM;
	}
	return 0;
}

/* kubelet's hash of a static pod's config: 32 lowercase hex digits */
static bool config_hash_ok(const char *s)
{
	size_t n = strlen(s);

	if (n != 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Is the pod owned by a Node? Mirror pods are, so a user's pod cannot pose as one. */
static bool owned_by_node(json_t *meta)
{
	json_t *refs = json_object_get(meta, "ownerReferences"), *ref;
	size_t i;

	json_array_foreach(refs, i, ref)
	{
		json_t *kind = json_object_get(ref, "kind");

		if (json_is_string(kind) && !strcmp(json_string_value(kind), "Node"))
			return true;
	}
	return false;
}

/* One Pod object; on error p is freed. */
static int parse_pod(json_t *obj, struct cruise_pod *p, char *rv, size_t rvlen, char *err,
		     size_t errlen)
{
	const char *uid, *ns, *name, *qos = NULL, *phase = NULL, *mirror = NULL, *v;
	json_t *meta, *labels, *status, *ann;
	int ret = -EINVAL;

	memset(p, 0, sizeof(*p));
	meta = json_object_get(obj, "metadata");
	if (!json_is_object(obj) || !json_is_object(meta))
		return cruise_k8s_fail(err, errlen, "a pod without metadata");
	if (cruise_k8s_opt_string(meta, "uid", &uid) ||
	    cruise_k8s_opt_string(meta, "namespace", &ns) ||
	    cruise_k8s_opt_string(meta, "name", &name) ||
	    cruise_k8s_opt_string(meta, "resourceVersion", &v))
		return cruise_k8s_fail(err, errlen,
				       "a pod's metadata with a field of the wrong type");
	if (rv) {
		if (v && strlen(v) >= rvlen)
			return cruise_k8s_fail(err, errlen, "a resourceVersion longer than %zu",
					       rvlen - 1);
		snprintf(rv, rvlen, "%s", v ? v : "");
	}
	snprintf(p->name, sizeof(p->name), "%.150s/%.150s", ns ? ns : "?", name ? name : "?");
	/* the name goes into one-line messages and logs: no control characters from the API */
	cruise_k8s_one_line(p->name);
	if (!uid || !uid_ok(uid))
		return cruise_k8s_fail(err, errlen, "pod %s: missing or malformed metadata.uid",
				       p->name);
	snprintf(p->uid, sizeof(p->uid), "%s", uid);
	snprintf(p->cg_uid, sizeof(p->cg_uid), "%s", uid);
	/* a static pod's API object is a mirror; kubelet names its cgroup by the config hash */
	ann = json_object_get(meta, "annotations");
	if (ann && !json_is_null(ann)) {
		if (!json_is_object(ann) ||
		    cruise_k8s_opt_string(ann, "kubernetes.io/config.mirror", &mirror))
			return cruise_k8s_fail(err, errlen, "pod %s: malformed annotations",
					       p->name);
		/* anything else is an ordinary pod with an odd annotation: its own UID names it */
		if (mirror && config_hash_ok(mirror) && owned_by_node(meta))
			snprintf(p->cg_uid, sizeof(p->cg_uid), "%s", mirror);
	}
	labels = json_object_get(meta, "labels");
	if (labels && !json_is_null(labels)) {
		if (!json_is_object(labels))
			return cruise_k8s_fail(err, errlen, "pod %s: labels are not an object",
					       p->name);
		ret = parse_labels(labels, p, err, errlen);
		if (ret)
			goto bad;
	}
	status = json_object_get(obj, "status");
	if (status && !json_is_null(status) &&
	    (!json_is_object(status) || cruise_k8s_opt_string(status, "qosClass", &qos) ||
	     cruise_k8s_opt_string(status, "phase", &phase))) {
		ret = cruise_k8s_fail(err, errlen, "pod %s: malformed status", p->name);
		goto bad;
	}
	if (qos && !strcmp(qos, "Guaranteed"))
		p->qos = CRUISE_QOS_GUARANTEED;
	else if (qos && !strcmp(qos, "Burstable"))
		p->qos = CRUISE_QOS_BURSTABLE;
	else if (qos && !strcmp(qos, "BestEffort"))
		p->qos = CRUISE_QOS_BESTEFFORT;
	p->finished = phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"));
	return 0;
bad:
	cruise_pod_free(p);
	return ret;
}

int cruise_k8s_parse_list(const char *buf, size_t len, struct cruise_pod **pods, size_t *n,
			  char *rv, size_t rvlen, char *err, size_t errlen)
{
	json_t *root, *items;
	struct cruise_pod *out;
	size_t i, count = 0;
	int ret;

	ret = cruise_k8s_list_open(buf, len, "PodList", &root, &items, rv, rvlen, err, errlen);
	if (ret)
		return ret;
	out = calloc(json_array_size(items) ? json_array_size(items) : 1, sizeof(*out));
	if (!out) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < json_array_size(items); i++) {
		ret = parse_pod(json_array_get(items, i), &out[count], NULL, 0, err, errlen);
		if (ret)
			goto out;
		count++;
	}
	*pods = out;
	*n = count;
	out = NULL;
out:
	if (out)
		cruise_pods_free(out, count);
	if (ret)
		rv[0] = '\0';
	json_decref(root);
	return ret;
}

int cruise_k8s_parse_event(const char *buf, size_t len, struct cruise_k8s_event *ev, char *err,
			   size_t errlen)
{
	json_t *root, *obj;
	int ret;

	memset(ev, 0, sizeof(*ev));
	ret = cruise_k8s_event_open(buf, len, &root, &obj, &ev->type, ev->rv, sizeof(ev->rv), err,
				    errlen);
	if (ret || !obj)
		return ret;
	ret = parse_pod(obj, &ev->pod, ev->rv, sizeof(ev->rv), err, errlen);
	if (!ret && !ev->rv[0])
		ret = cruise_k8s_fail(err, errlen, "pod %s: no resourceVersion", ev->pod.name);
	if (ret)
		cruise_pod_free(&ev->pod);
	json_decref(root);
	return ret;
}

static const char *label_of(const struct cruise_pod *p, const char *key)
{
	for (unsigned int i = 0; i < p->n_labels; i++)
		if (!strcmp(p->labels[i].key, key))
			return p->labels[i].value;
	return NULL;
}

int cruise_pod_medium(const struct cruise_config *cfg, const struct cruise_pod *p)
{
	return cruise_pod_medium_from(cfg, p, 0);
}

int cruise_pod_medium_from(const struct cruise_config *cfg, const struct cruise_pod *p,
			   unsigned int first)
{
	for (unsigned int m = first; m < cfg->n_media; m++) {
		const struct cruise_cfg_medium *cm = &cfg->media[m];
		unsigned int i;

		for (i = 0; i < cm->n_labels; i++) {
			const char *v = label_of(p, cm->labels[i].key);

			if (!v || strcmp(v, cm->labels[i].value))
				break;
		}
		if (cm->n_labels && i == cm->n_labels)
			return m;
	}
	return -1;
}

int cruise_pod_cgroup(const char *base, const struct cruise_pod *p, char *rel, size_t rellen,
		      __u64 *cgroup_id)
{
	/* QoS levels, Guaranteed first (no level of its own); the pod's own class leads */
	static const char *const fs_qos[] = { "", "burstable/", "besteffort/" };
	static const char *const sd_qos[] = { "", "-burstable", "-besteffort" };
	char uid_[CRUISE_POD_UID_LEN], path[4096];
	int first = p->qos == CRUISE_QOS_BURSTABLE ? 1 : p->qos == CRUISE_QOS_BESTEFFORT ? 2 : 0;
	struct stat st;

	snprintf(uid_, sizeof(uid_), "%s", p->cg_uid);
	for (char *c = uid_; *c; c++)
		if (*c == '-')
			*c = '_';
	for (int k = 0; k < 3; k++) {
		int q = (first + k) % 3;

		for (int driver = 0; driver < 2; driver++) {
			if (driver == 0)
				snprintf(rel, rellen, "kubepods/%spod%s", fs_qos[q], p->cg_uid);
			else if (q == 0)
				snprintf(rel, rellen, "kubepods.slice/kubepods-pod%s.slice", uid_);
			else
				snprintf(rel, rellen,
					 "kubepods.slice/kubepods%s.slice/kubepods%s-pod%s.slice",
					 sd_qos[q], sd_qos[q], uid_);
			snprintf(path, sizeof(path), "%s/%s", base, rel);
			if (!stat(path, &st) && S_ISDIR(st.st_mode)) {
				*cgroup_id = st.st_ino;
				return 0;
			}
		}
	}
	rel[0] = '\0';
	return -ENOENT;
}
