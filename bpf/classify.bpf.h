/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Which connects cruise paces: TCP to a target, from a bound cgroup or its descendants. */
#ifndef CRUISE_CLASSIFY_BPF_H
#define CRUISE_CLASSIFY_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "cruise.h"
#include "maps.bpf.h"

#define CRUISE_NO_MEDIUM ((__u32)-1)

static __always_inline bool cruise_is_target(const struct cruise_target_key *key)
{
	return bpf_map_lookup_elem(&cruise_targets, key) != NULL;
}

/*
 * The medium of the current task's cgroup, or of its nearest bound ancestor, so that cgroups
 * created later under a bound one are paced with no agent action. The task that connects is, in
 * practice, the one that created the socket, whose cgroup the socket is charged to.
 */
static __always_inline __u32 cruise_classify(__u64 *cgroup_id)
{
	struct cruise_binding_key key = { .cgroup_id = bpf_get_current_cgroup_id() };
	struct cruise_binding *b;
	int level;

	*cgroup_id = key.cgroup_id;
	b = bpf_map_lookup_elem(&cruise_bindings, &key);
	if (b)
		return b->medium;
	for (level = CRUISE_MAX_CGROUP_DEPTH - 1; level >= 0; level--) {
		key.cgroup_id = bpf_get_current_ancestor_cgroup_id(level);
		/* 0 above the task's own level; the task's own id was looked up already */
		if (!key.cgroup_id || key.cgroup_id == *cgroup_id)
			continue;
		b = bpf_map_lookup_elem(&cruise_bindings, &key);
		if (b)
			return b->medium;
	}
	return CRUISE_NO_MEDIUM;
}

#endif /* CRUISE_CLASSIFY_BPF_H */
