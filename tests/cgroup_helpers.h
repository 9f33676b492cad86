/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Cgroups a test makes under the cgroup2 mount, and moves processes into (cf. the BPF selftests).
 */
#ifndef CRUISE_TEST_CGROUP_HELPERS_H
#define CRUISE_TEST_CGROUP_HELPERS_H

#include <limits.h>
#include <linux/types.h>

struct th_cgroup {
	char path[PATH_MAX];
	__u64 id;
};

/* Create parent/name (parent NULL: the cgroup2 root). */
int th_cgroup_create(struct th_cgroup *cg, const struct th_cgroup *parent, const char *name);
/* Remove a cgroup created by th_cgroup_create; its processes must have exited. */
int th_cgroup_remove(struct th_cgroup *cg);
/* Move the calling process into the cgroup. */
int th_cgroup_enter(const char *path);
/* Remove path and every cgroup below it, children first (for trees a test made). */
void th_cgroup_remove_tree(const char *path);

#endif /* CRUISE_TEST_CGROUP_HELPERS_H */
