// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The maps (maps.h). Pinned maps are checked against this build's layouts when opened: maps
 * pinned by another build with other value sizes would otherwise be misread silently.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h" /* cruise_pinned_abi */
#include "maps.h"

#define MAP(field, t, k, v, read)                                                                  \
	{                                                                                          \
		"cruise_" #field, offsetof(struct cruise_maps, field), t, k, v, read               \
	}

const struct cruise_map_def cruise_map_defs[] = {
	MAP(targets, BPF_MAP_TYPE_LPM_TRIE, sizeof(struct cruise_target_key),
	    sizeof(struct cruise_target), 1),
	MAP(bindings, BPF_MAP_TYPE_HASH, sizeof(struct cruise_binding_key),
	    sizeof(struct cruise_binding), 1),
	MAP(media, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct cruise_medium), 1),
	MAP(state, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct cruise_medium_state), 1),
	MAP(counters, BPF_MAP_TYPE_PERCPU_ARRAY, sizeof(__u32), sizeof(struct cruise_counters), 1),
	MAP(events, BPF_MAP_TYPE_RINGBUF, 0, 0, 1),
	MAP(socks, BPF_MAP_TYPE_SK_STORAGE, 0, 0, 0),
	MAP(adaptive, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct cruise_adaptive),
	    CRUISE_PIN_READ_IF_ANY),
	MAP(target_src, BPF_MAP_TYPE_HASH, sizeof(struct cruise_target_key),
	    sizeof(struct cruise_target_src), CRUISE_PIN_READ_IF_ANY),
	MAP(meta, BPF_MAP_TYPE_ARRAY, sizeof(__u32), sizeof(struct cruise_meta), 0),
};
const size_t cruise_n_maps = sizeof(cruise_map_defs) / sizeof(cruise_map_defs[0]);

_Static_assert(sizeof(struct cruise_counters) % sizeof(__u64) == 0,
	       "cruise_counters is summed as an array of __u64");

static int *fd_of(struct cruise_maps *m, const struct cruise_map_def *d)
{
	return (int *)((char *)m + d->off);
}

void cruise_maps_init(struct cruise_maps *m)
{
	for (size_t i = 0; i < cruise_n_maps; i++)
		*fd_of(m, &cruise_map_defs[i]) = -1;
}

int cruise_maps_of_object(struct cruise_maps *m, struct bpf_object *obj)
{
	cruise_maps_init(m);
	for (size_t i = 0; i < cruise_n_maps; i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(obj, cruise_map_defs[i].name);

		if (!map)
			return -ENOENT;
		*fd_of(m, &cruise_map_defs[i]) = bpf_map__fd(map);
	}
	return 0;
}

/* The pinned map is the one this build reads: same type and layout. */
static int check_map(int fd, const struct cruise_map_def *d)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.type != d->type)
		return -EPROTO;
	if (d->value_size && (info.key_size != d->key_size || info.value_size != d->value_size))
		return -EPROTO;
	return 0;
}

int cruise_maps_open_pinned(struct cruise_maps *m, const char *pin_dir)
{
	char path[PATH_MAX];
	__u32 abi;
	int ret = 0;

	cruise_maps_init(m);
	if (!pin_dir || !*pin_dir)
		return -EINVAL;
	for (size_t i = 0; i < cruise_n_maps && !ret; i++) {
		const struct cruise_map_def *d = &cruise_map_defs[i];
		int n, fd;

		if (!d->pinned_read)
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", pin_dir, d->name);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			ret = -ENAMETOOLONG;
			break;
		}
		fd = bpf_obj_get(path);
		if (fd < 0 && errno == ENOENT && d->pinned_read == CRUISE_PIN_READ_IF_ANY)
			continue;
		if (fd < 0) {
			ret = -errno;
			break;
		}
		*fd_of(m, d) = fd;
		ret = check_map(fd, d);
	}
	/* pins of a build before cruise_meta have none (0): their sizes were checked above */
	if (!ret && !(ret = cruise_pinned_abi(pin_dir, &abi)) && abi && abi != CRUISE_ABI_VERSION)
		ret = -EPROTO;
	if (ret)
		cruise_maps_close(m);
	return ret;
}

void cruise_maps_close(struct cruise_maps *m)
{
	for (size_t i = 0; i < cruise_n_maps; i++) {
		int *fd = fd_of(m, &cruise_map_defs[i]);

		if (*fd >= 0 && cruise_map_defs[i].pinned_read)
			close(*fd);
		*fd = -1;
	}
}

static int ret_of(int err)
{
	return err ? -errno : 0;
}

int cruise_maps_get_medium(const struct cruise_maps *m, __u32 idx, struct cruise_medium *v)
{
	return ret_of(bpf_map_lookup_elem(m->media, &idx, v));
}

int cruise_maps_set_medium(const struct cruise_maps *m, __u32 idx, const struct cruise_medium *v)
{
	return ret_of(bpf_map_update_elem(m->media, &idx, v, BPF_ANY));
}

int cruise_maps_state(const struct cruise_maps *m, __u32 idx, struct cruise_medium_state *st)
{
	memset(st, 0, sizeof(*st));
	if (!bpf_map_lookup_elem_flags(m->state, &idx, st, BPF_F_LOCK))
		return 0;
	if (errno != EINVAL)
		return -errno;
	/* a kernel without BPF_F_LOCK for lookups: a plain read */
	return ret_of(bpf_map_lookup_elem(m->state, &idx, st));
}

int cruise_maps_reset_state(const struct cruise_maps *m, __u32 idx)
{
	struct cruise_medium_state zero;

	memset(&zero, 0, sizeof(zero));
	return ret_of(bpf_map_update_elem(m->state, &idx, &zero, BPF_ANY));
}

int cruise_maps_counters(const struct cruise_maps *m, __u32 idx, struct cruise_counters *sum)
{
	/*
	 * The per-CPU values go to a buffer of the calling thread's, kept for its next read: no
	 * allocation per medium and snapshot. Not one in struct cruise_maps: copies of it are read
	 * from several threads (the agent's main loop, its HTTP and fleet threads). They come at a
	 * stride of the value size rounded up to 8: ours already is.
	 */
	static __thread struct cruise_counters *per;
	static __thread int n_per;
	int ncpu = libbpf_num_possible_cpus();

	memset(sum, 0, sizeof(*sum));
	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	if (ncpu > n_per) {
		free(per);
		per = calloc(ncpu, sizeof(*per));
		n_per = per ? ncpu : 0;
		if (!per)
			return -ENOMEM;
	}
	if (bpf_map_lookup_elem(m->counters, &idx, per))
		return -errno;
	for (int c = 0; c < ncpu; c++) {
		const __u64 *src = (const __u64 *)&per[c];
		__u64 *dst = (__u64 *)sum;

		for (size_t f = 0; f < sizeof(*sum) / sizeof(__u64); f++)
			dst[f] += src[f];
	}
	return 0;
}

int cruise_maps_bind(const struct cruise_maps *m, __u64 cgroup_id, __u32 medium)
{
	struct cruise_binding_key key = { .cgroup_id = cgroup_id };
	struct cruise_binding val = { .medium = medium };

	return ret_of(bpf_map_update_elem(m->bindings, &key, &val, BPF_ANY));
}

int cruise_maps_unbind(const struct cruise_maps *m, __u64 cgroup_id)
{
	struct cruise_binding_key key = { .cgroup_id = cgroup_id };

	return ret_of(bpf_map_delete_elem(m->bindings, &key));
}

int cruise_maps_get_adaptive(const struct cruise_maps *m, __u32 idx, struct cruise_adaptive *v)
{
	if (m->adaptive < 0)
		return -ENOENT;
	return ret_of(bpf_map_lookup_elem(m->adaptive, &idx, v));
}

int cruise_maps_set_adaptive(const struct cruise_maps *m, __u32 idx,
			     const struct cruise_adaptive *v)
{
	if (m->adaptive < 0)
		return -ENOENT;
	return ret_of(bpf_map_update_elem(m->adaptive, &idx, v, BPF_ANY));
}

int cruise_maps_set_target_src(const struct cruise_maps *m, const struct cruise_target_key *k,
			       const struct cruise_target_src *v)
{
	if (m->target_src < 0)
		return -ENOENT;
	return ret_of(bpf_map_update_elem(m->target_src, k, v, BPF_ANY));
}

int cruise_maps_get_target_src(const struct cruise_maps *m, const struct cruise_target_key *k,
			       struct cruise_target_src *v)
{
	if (m->target_src < 0)
		return -ENOENT;
	return ret_of(bpf_map_lookup_elem(m->target_src, k, v));
}

int cruise_maps_add_target(const struct cruise_maps *m, const struct cruise_target_key *k, __u32 id)
{
	struct cruise_target val = { .id = id };

	return ret_of(bpf_map_update_elem(m->targets, k, &val, BPF_ANY));
}
