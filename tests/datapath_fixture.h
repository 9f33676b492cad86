/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The datapath loaded by the test itself, without an agent: the real programs with their maps
 * pinned under a fresh directory of the real bpffs, attached to a fresh scope cgroup, loopback
 * listeners as targets. And lookups in the maps, for these tests and the agent's.
 */
#ifndef CRUISE_TEST_DATAPATH_FIXTURE_H
#define CRUISE_TEST_DATAPATH_FIXTURE_H

#include <limits.h>
#include <stddef.h>
#include <linux/types.h>

#include "cgroup_helpers.h"
#include "network_helpers.h"

struct cruise_handle;
struct cruise_target_key;

/*
 * One test environment: the real programs loaded with maps pinned under a fresh directory of the
 * real bpffs, attached to a fresh scope cgroup, loopback listeners on 127.0.0.1 and ::1 registered
 * as targets. th_env_teardown removes all of it, whatever state a failed test left.
 */
struct th_env {
	struct cruise_handle *h;
	struct th_cgroup scope;
	struct th_listener l4, l6;
	char pin_dir[PATH_MAX];
};

int th_env_setup(struct th_env *e);
void th_env_teardown(struct th_env *e);
/* For cmocka setups: a set-up environment (the error printed), or NULL; th_env_free tears down. */
struct th_env *th_env_new(void);
void th_env_free(struct th_env *e);
/* Create a worker cgroup under the scope (or under parent) and bind it to medium (-1: unbound). */
int th_env_worker_cgroup(struct th_env *e, struct th_cgroup *cg, const struct th_cgroup *parent,
			 int medium);
/* Configure a medium: rate per second (0: no pacing), burst, max_wait, max_conns, flags. */
int th_env_medium(struct th_env *e, __u32 medium, double rate, __u64 burst, __u64 max_wait_ns,
		  __u32 max_conns, int refuse_errno, __u32 extra_flags);

/* The key of addr ("127.0.0.1", "fd00::") / prefix at port in cruise_targets; -EINVAL. */
int th_target_key(struct cruise_target_key *k, const char *addr, unsigned int prefix, __u16 port);
/* Register addr/prefix at port as target id. */
int th_env_target(struct th_env *e, const char *addr, unsigned int prefix, __u16 port, __u32 id);

/* The medium the cgroup is bound to in cruise_bindings (by fd), or -1. */
int th_binding(int bindings_fd, __u64 cgroup_id);
#define TH_ANY_MEDIUM (-2)
/*
 * Poll until the cgroup's binding is want (-1: unbound; TH_ANY_MEDIUM: bound to any, stored in
 * *got); the time it took (at least 1 ns), or 0 after timeout_ms.
 */
__u64 th_wait_binding(int bindings_fd, __u64 cgroup_id, int want, int timeout_ms, int *got);
/* The index of the active medium name in cruise_media (by fd), or -1. */
int th_medium_index(int media_fd, const char *name);

#endif /* CRUISE_TEST_DATAPATH_FIXTURE_H */
