// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The bindings of the pods that media select by label (pod_bind.h). */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pod_bind.h"

static const struct cruise_pod_seen *seen_find(const struct cruise_pod_binds *b, const char *uid)
{
	for (size_t i = 0; b && i < b->n_seen; i++)
		if (!strcmp(b->seen[i].uid, uid))
			return &b->seen[i];
	return NULL;
}

/* Is the cgroup path (from the cgroup2 root, "/a/b") at or under scope ("/", "/a")? */
static bool path_in_scope(const char *scope, const char *path)
{
	size_t n = strlen(scope);

	while (n > 1 && scope[n - 1] == '/')
		n--;
	if (n <= 1)
		return true;
	return !strncmp(path, scope, n) && (path[n] == '\0' || path[n] == '/');
}

int cruise_pods_bind(const struct cruise_config *cfg, const __u32 *medium_index,
		     const char *cgroup_root, const struct cruise_pod *pods, size_t n_pods,
		     const struct cruise_pod_binds *prev, struct cruise_pod_binds *out)
{
	struct cruise_pod_seen *seen = calloc(n_pods ? n_pods : 1, sizeof(*seen));
	char base[PATH_MAX + 1100], rel[512], full[PATH_MAX + 600], id[24];
	size_t n_seen = 0;
	__u64 unresolved = 0;

	memset(out, 0, sizeof(*out));
	if (!seen)
		return -ENOMEM;
	/* kubelet's layouts under the scope (a --cgroup-root there), else from the cgroup2 root */
	snprintf(base, sizeof(base), "%s%s", cgroup_root,
		 strcmp(cfg->scope, "/") ? cfg->scope : "");
	for (size_t i = 0; i < n_pods; i++) {
		const struct cruise_pod *p = &pods[i];
		int c = cruise_pod_medium(cfg, p);
		const struct cruise_pod_seen *was = seen_find(prev, p->uid);
		struct cruise_pod_seen *now = &seen[n_seen];
		const char *medium;

		if (c < 0 || p->finished)
			continue;
		medium = cfg->media[c].name;
		snprintf(now->uid, sizeof(now->uid), "%s", p->uid);
		now->medium = medium_index[c];
		n_seen++;
		if (!cruise_pod_cgroup(base, p, rel, sizeof(rel), &now->cgroup_id)) {
			snprintf(full, sizeof(full), "%s/%s",
				 strcmp(cfg->scope, "/") ? cfg->scope : "", rel);
		} else if (strcmp(cfg->scope, "/") &&
			   !cruise_pod_cgroup(cgroup_root, p, rel, sizeof(rel), &now->cgroup_id)) {
			snprintf(full, sizeof(full), "/%s", rel);
		} else {
			unresolved++;
			if (!was || was->cgroup_id)
				cruise_log(CRUISE_LOG_WARN,
					   "pod cgroup not found; not paced until it appears",
					   "pod", p->name, "uid", p->uid, "medium", medium, "under",
					   base, NULL);
			continue;
		}
		if (!path_in_scope(cfg->scope, full)) {
			/* the programs attach at the scope: a binding outside it does nothing */
			unresolved++;
			if (!was || was->cgroup_id)
				cruise_log(CRUISE_LOG_WARN,
					   "pod cgroup outside the scope; not paced", "pod",
					   p->name, "cgroup", full, "scope", cfg->scope, NULL);
			now->cgroup_id = 0; /* said once: the pod's cgroup_id 0 means not bound */
			continue;
		}
		if (cruise_bind_add(&out->set, now->cgroup_id, now->medium, full))
			continue;
		if (!was || was->cgroup_id != now->cgroup_id || was->medium != now->medium) {
			int other = cruise_pod_medium_from(cfg, p, c + 1);

			snprintf(id, sizeof(id), "%llu", (unsigned long long)now->cgroup_id);
			cruise_log(CRUISE_LOG_INFO, "pod selected", "pod", p->name, "uid", p->uid,
				   "medium", medium, "cgroup", full, "cgroup_id", id, NULL);
			if (other >= 0)
				cruise_log(CRUISE_LOG_WARN,
					   "pod selected by two media; the first one paces it",
					   "pod", p->name, "medium", medium, "also",
					   cfg->media[other].name, NULL);
		}
	}
	for (size_t i = 0; prev && i < prev->n_seen; i++) {
		bool still = false;

		for (size_t j = 0; j < n_seen && !still; j++)
			still = !strcmp(seen[j].uid, prev->seen[i].uid);
		if (!still)
			cruise_log(CRUISE_LOG_INFO, "pod no longer selected", "uid",
				   prev->seen[i].uid, NULL);
	}
	out->seen = seen;
	out->n_seen = n_seen;
	out->unresolved = unresolved;
	return 0;
}

void cruise_pod_binds_free(struct cruise_pod_binds *b)
{
	cruise_bind_set_free(&b->set);
	free(b->seen);
	memset(b, 0, sizeof(*b));
}
