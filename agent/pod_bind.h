/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The bindings of the pods that media select by label: each pod's medium by its labels, its
 * cgroup by its UID in kubelet's layouts (k8s_pods.h), which must lie under the scope. A pod whose
 * cgroup is not there yet is counted unresolved and retried, never guessed. Pure of the main
 * loop: the agent calls it with the API's table of pods, the tests with their own.
 */
#ifndef CRUISE_POD_BIND_H
#define CRUISE_POD_BIND_H

#include <stddef.h>
#include <linux/types.h>

#include "bind.h"
#include "config.h"
#include "k8s_pods.h"

/* A selected pod as last logged: bound (cgroup_id, medium) or not found (cgroup_id 0). */
struct cruise_pod_seen {
	char uid[CRUISE_POD_UID_LEN];
	__u64 cgroup_id;
	__u32 medium;
};

struct cruise_pod_binds {
	struct cruise_bind_set set;   /* the selected pods found under the scope */
	struct cruise_pod_seen *seen; /* every selected pod, bound or not */
	size_t n_seen;
	__u64 unresolved; /* selected, but no cgroup under the scope (yet) */
};

/*
 * The bindings of pods under cgroup_root (the cgroup2 mount) for cfg, medium_index mapping the
 * config's media to map indices. Logs what changed since prev (a pod selected, moved, gone; a
 * cgroup not found or outside the scope, said once). out is new (free it); prev is not changed.
 */
int cruise_pods_bind(const struct cruise_config *cfg, const __u32 *medium_index,
		     const char *cgroup_root, const struct cruise_pod *pods, size_t n_pods,
		     const struct cruise_pod_binds *prev, struct cruise_pod_binds *out);
void cruise_pod_binds_free(struct cruise_pod_binds *b);

#endif /* CRUISE_POD_BIND_H */
