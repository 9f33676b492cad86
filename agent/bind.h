/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Which cgroups the config's patterns name, and noticing when that changes: patterns are paths
 * relative to the cgroup2 mount, with fnmatch(3) globs per component ("workers/push-*").
 */
#ifndef CRUISE_BIND_H
#define CRUISE_BIND_H

#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>

struct cruise_bind_rule {
	const char *pattern;
	__u32 medium;
};

struct cruise_bound {
	__u64 cgroup_id;
	__u32 medium;
	char path[256]; /* relative to the cgroup2 mount, for logs */
};

struct cruise_bind_set {
	struct cruise_bound *v;
	size_t n, cap;
	size_t conflicts; /* cgroups matched by patterns of two media: the first rule won */
};

/* The cgroups under root matched by the rules (first matching rule wins). */
int cruise_bind_scan(const char *root, const struct cruise_bind_rule *rules, size_t n_rules,
		     struct cruise_bind_set *out);
void cruise_bind_set_free(struct cruise_bind_set *s);
/* Add one binding; rel is the path under the cgroup2 mount, with or without its leading '/'. */
int cruise_bind_add(struct cruise_bind_set *s, __u64 id, __u32 medium, const char *rel);
const struct cruise_bound *cruise_bind_find(const struct cruise_bind_set *s, __u64 cgroup_id);

/*
 * Walk the cgroup tree under root depth-first, at most CRUISE_CGROUP_WALK_DEPTH levels below it:
 * visit gets each cgroup's id and its path relative to root ("/" for root itself, first) and
 * returns false to stop. Directory entries give type and inode (the cgroup id), so no cgroup is
 * stat'ed. 0, or -errno when root cannot be opened.
 */
#define CRUISE_CGROUP_WALK_DEPTH 32
int cruise_cgroup_walk(const char *root, bool (*visit)(void *ctx, __u64 id, const char *rel),
		       void *ctx);

/*
 * An inotify instance watching the directories under root where a cgroup the rules could match may
 * appear or vanish (as deep as the longest pattern). cruise_bind_watch_refresh re-adds watches
 * after a rescan; cruise_bind_watch_drain empties the fd and says whether anything changed.
 */
struct cruise_bind_watch;
struct cruise_bind_watch *cruise_bind_watch_new(const char *root);
int cruise_bind_watch_fd(const struct cruise_bind_watch *w);
int cruise_bind_watch_refresh(struct cruise_bind_watch *w, const struct cruise_bind_rule *rules,
			      size_t n_rules);
int cruise_bind_watch_drain(struct cruise_bind_watch *w);
void cruise_bind_watch_free(struct cruise_bind_watch *w);

#endif /* CRUISE_BIND_H */
