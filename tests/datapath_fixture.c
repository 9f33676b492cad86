// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "cruise_target.h"
#include "helpers.h"
#include "loader.h"

#define TH_BPFFS "/sys/fs/bpf"

int th_env_setup(struct th_env *e)
{
	char name[64], msg[512];
	int err;

	memset(e, 0, sizeof(*e));
	e->l4.fd = e->l6.fd = -1;
	err = cruise_ensure_bpffs(TH_BPFFS);
	if (err)
		return err;
	th_unique_name(name, sizeof(name), "cruise-test");
	snprintf(e->pin_dir, sizeof(e->pin_dir), "%s/%s", TH_BPFFS, name);
	err = cruise_load(&e->h, e->pin_dir, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "th_env_setup: %s\n", msg);
		goto fail;
	}
	err = th_cgroup_create(&e->scope, NULL, name);
	if (err)
		goto fail;
	/* as the agent attaches: links pinned under pin_dir, removed by cruise_uninstall */
	err = cruise_attach_pinned(e->h, e->scope.path, msg, sizeof(msg));
	if (err) {
		fprintf(stderr, "th_env_setup: %s\n", msg);
		goto fail;
	}
	err = th_listener_start(&e->l4, "127.0.0.1", true, 4096);
	if (!err)
		err = th_listener_start(&e->l6, "::1", true, 4096);
	if (!err)
		err = th_env_target(e, "127.0.0.1", 32, e->l4.port, 0);
	if (!err)
		err = th_env_target(e, "::1", 128, e->l6.port, 1);
	if (err)
		goto fail;
	return 0;
fail:
	th_env_teardown(e);
	return err;
}

void th_env_teardown(struct th_env *e)
{
	char msg[512];

	th_listener_stop(&e->l4);
	th_listener_stop(&e->l6);
	if (e->h) {
		if (cruise_uninstall(e->pin_dir, msg, sizeof(msg)))
			fprintf(stderr, "th_env_teardown: %s\n", msg);
		cruise_destroy(e->h);
		e->h = NULL;
	}
	if (e->scope.path[0])
		th_cgroup_remove_tree(e->scope.path);
	e->scope.path[0] = '\0';
	if (e->pin_dir[0])
		rmdir(e->pin_dir);
}

struct th_env *th_env_new(void)
{
	struct th_env *e = calloc(1, sizeof(*e));
	int err;

	if (!e)
		return NULL;
	err = th_env_setup(e);
	if (err) {
		fprintf(stderr, "th_env_setup: %s\n", strerror(-err));
		free(e);
		return NULL;
	}
	return e;
}

void th_env_free(struct th_env *e)
{
	if (e)
		th_env_teardown(e);
	free(e);
}

int th_env_worker_cgroup(struct th_env *e, struct th_cgroup *cg, const struct th_cgroup *parent,
			 int medium)
{
	char name[64];
	int err;

	th_unique_name(name, sizeof(name), "w");
	err = th_cgroup_create(cg, parent ? parent : &e->scope, name);
	if (err || medium < 0)
		return err;
	return cruise_maps_bind(&e->h->maps, cg->id, medium);
}

int th_env_medium(struct th_env *e, __u32 medium, double rate, __u64 burst, __u64 max_wait_ns,
		  __u32 max_conns, int refuse_errno, __u32 extra_flags)
{
	struct cruise_medium m = {
		.interval_ns = rate > 0 ? (__u64)(1e9 / rate + 0.5) : 0,
		.burst = burst,
		.max_wait_ns = max_wait_ns,
		.max_conns = max_conns,
		.refuse_errno = refuse_errno,
		.flags = CRUISE_MEDIUM_ACTIVE | extra_flags,
	};

	snprintf(m.name, sizeof(m.name), "medium%u", medium);
	return cruise_maps_set_medium(&e->h->maps, medium, &m);
}

int th_target_key(struct cruise_target_key *k, const char *addr, unsigned int prefix, __u16 port)
{
	__u8 a6[16];
	__u32 a4;

	if (inet_pton(AF_INET6, addr, a6) == 1 && prefix <= CRUISE_TARGET_V6_BITS)
		cruise_target_key_v6(k, a6, port, prefix);
	else if (inet_pton(AF_INET, addr, &a4) == 1 && prefix <= CRUISE_TARGET_V4_BITS)
		cruise_target_key_v4(k, a4, port, prefix);
	else
		return -EINVAL;
	return 0;
}

int th_env_target(struct th_env *e, const char *addr, unsigned int prefix, __u16 port, __u32 id)
{
	struct cruise_target_key k;

	return th_target_key(&k, addr, prefix, port) ?: cruise_maps_add_target(&e->h->maps, &k, id);
}

int th_binding(int bindings_fd, __u64 cgroup_id)
{
	struct cruise_binding_key k = { .cgroup_id = cgroup_id };
	struct cruise_binding v;

	return bpf_map_lookup_elem(bindings_fd, &k, &v) ? -1 : (int)v.medium;
}

__u64 th_wait_binding(int bindings_fd, __u64 cgroup_id, int want, int timeout_ms, int *got)
{
	__u64 t0 = cruise_now_ns(), deadline = t0 + timeout_ms * 1000000ULL;

	do {
		int m = th_binding(bindings_fd, cgroup_id);

		if (m == want || (want == TH_ANY_MEDIUM && m >= 0)) {
			if (got)
				*got = m;
			return cruise_now_ns() - t0 ?: 1;
		}
		usleep(500);
	} while (cruise_now_ns() < deadline);
	return 0;
}

int th_medium_index(int media_fd, const char *name)
{
	for (__u32 i = 0; i < CRUISE_MAX_MEDIA; i++) {
		struct cruise_medium m;

		if (bpf_map_lookup_elem(media_fd, &i, &m))
			return -1;
		if ((m.flags & CRUISE_MEDIUM_ACTIVE) && !strncmp(m.name, name, sizeof(m.name)))
			return i;
	}
	return -1;
}
