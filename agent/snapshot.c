// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reading the maps: every medium's limits, state and per-CPU counters, summed, in one pass. The
 * maps are checked against this build's layouts when opened from pins, by their ABI version
 * (cruise_meta) and their sizes: maps pinned by another build of cruise would otherwise be misread
 * silently.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cruise_gcra.h"
#include "loader.h"
#include "snapshot.h"

struct pinned_map {
	const char *name;
	size_t off; /* of the fd in struct cruise_maps */
	__u32 type;
	__u32 key_size;
	__u32 value_size; /* 0: not checked (ring buffer) */
};

static const struct pinned_map pinned_maps[] = {
	{ "cruise_media", offsetof(struct cruise_maps, media), BPF_MAP_TYPE_ARRAY, sizeof(__u32),
	  sizeof(struct cruise_medium) },
	{ "cruise_state", offsetof(struct cruise_maps, state), BPF_MAP_TYPE_ARRAY, sizeof(__u32),
	  sizeof(struct cruise_medium_state) },
	{ "cruise_counters", offsetof(struct cruise_maps, counters), BPF_MAP_TYPE_PERCPU_ARRAY,
	  sizeof(__u32), sizeof(struct cruise_counters) },
	{ "cruise_bindings", offsetof(struct cruise_maps, bindings), BPF_MAP_TYPE_HASH,
	  sizeof(struct cruise_binding_key), sizeof(struct cruise_binding) },
	{ "cruise_targets", offsetof(struct cruise_maps, targets), BPF_MAP_TYPE_LPM_TRIE,
	  sizeof(struct cruise_target_key), sizeof(struct cruise_target) },
	{ "cruise_events", offsetof(struct cruise_maps, events), BPF_MAP_TYPE_RINGBUF, 0, 0 },
};

#define N_PINNED (sizeof(pinned_maps) / sizeof(pinned_maps[0]))

static int *fd_of(struct cruise_maps *m, const struct pinned_map *p)
{
	return (int *)((char *)m + p->off);
}

/* The pinned map is the one this build reads: same type and layout. */
static int check_map(int fd, const struct pinned_map *p)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.type != p->type)
		return -EPROTO;
	if (p->value_size && (info.key_size != p->key_size || info.value_size != p->value_size))
		return -EPROTO;
	return 0;
}

int cruise_maps_open_pinned(struct cruise_maps *m, const char *pin_dir)
{
	char path[PATH_MAX];
	__u32 abi;
	size_t i;
	int ret = 0;

	for (i = 0; i < N_PINNED; i++)
		*fd_of(m, &pinned_maps[i]) = -1;
	if (!pin_dir || !*pin_dir)
		return -EINVAL;
	for (i = 0; i < N_PINNED && !ret; i++) {
		const struct pinned_map *p = &pinned_maps[i];
		int n = snprintf(path, sizeof(path), "%s/%s", pin_dir, p->name);
		int fd;

		if (n < 0 || (size_t)n >= sizeof(path)) {
			ret = -ENAMETOOLONG;
			break;
		}
		fd = bpf_obj_get(path);
		if (fd < 0) {
			ret = -errno;
			break;
		}
		*fd_of(m, p) = fd;
		ret = check_map(fd, p);
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
	for (size_t i = 0; i < N_PINNED; i++) {
		int *fd = fd_of(m, &pinned_maps[i]);

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
}

static __u64 monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* The per-CPU values of one medium, summed field by field (every field is a __u64). */
static int read_counters(int fd, __u32 idx, struct cruise_counters *per, int ncpu,
			 struct cruise_counters *sum)
{
	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(fd, &idx, per))
		return -errno;
	for (int c = 0; c < ncpu; c++) {
		const __u64 *src = (const __u64 *)&per[c];
		__u64 *dst = (__u64 *)sum;

		for (size_t f = 0; f < sizeof(*sum) / sizeof(__u64); f++)
			dst[f] += src[f];
	}
	return 0;
}

/* The state under its spin lock, so that tat and open_conns are one moment's. */
static int read_state(int fd, __u32 idx, struct cruise_medium_state *st)
{
	memset(st, 0, sizeof(*st));
	if (!bpf_map_lookup_elem_flags(fd, &idx, st, BPF_F_LOCK))
		return 0;
	if (errno != EINVAL)
		return -errno;
	return bpf_map_lookup_elem(fd, &idx, st) ? -errno : 0;
}

_Static_assert(sizeof(struct cruise_counters) % sizeof(__u64) == 0,
	       "cruise_counters is summed as an array of __u64");

int cruise_snapshot_read(const struct cruise_maps *m, struct cruise_snapshot *s)
{
	int ncpu = libbpf_num_possible_cpus();
	struct cruise_counters *per;
	int err = 0;

	memset(s, 0, sizeof(*s));
	if (ncpu <= 0)
		return ncpu < 0 ? ncpu : -EINVAL;
	/* per-CPU values come at a stride of the value size rounded up to 8: ours already is */
	per = calloc(ncpu, sizeof(*per));
	if (!per)
		return -ENOMEM;
	s->taken_ns = monotonic_ns();
	for (__u32 i = 0; i < CRUISE_MAX_MEDIA; i++) {
		struct cruise_snapshot_medium *sm = &s->media[s->n_media];
		struct cruise_medium_state st;
		struct cruise_gcra_limits lim;
		struct cruise_gcra_state gs;
		struct cruise_counters sum;
		struct cruise_medium cfg;
		__u64 now;

		if (bpf_map_lookup_elem(m->media, &i, &cfg)) {
			err = -errno;
			break;
		}
		/* every medium's losses, so that the total never drops when a medium is retired */
		err = read_counters(m->counters, i, per, ncpu, &sum);
		if (err)
			break;
		s->events_lost += sum.events_lost;
		if (!(cfg.flags & CRUISE_MEDIUM_ACTIVE))
			continue;
		err = read_state(m->state, i, &st);
		if (err)
			break;
		memset(sm, 0, sizeof(*sm));
		sm->index = i;
		sm->cfg = cfg;
		sm->c = sum;
		sm->open_conns = st.open_conns;
		now = monotonic_ns();
		sm->interval_ns =
			cruise_lease_interval(cfg.interval_ns, cfg.lease_end_ns,
					      cfg.fallback_interval_ns, now, &sm->fallback);
		sm->fleet = cfg.lease_end_ns != 0;
		sm->lease_left_ns = cruise_sat_sub(cfg.lease_end_ns, now);
		memset(&lim, 0, sizeof(lim));
		lim.interval_ns = sm->interval_ns;
		lim.burst = cfg.burst;
		lim.max_wait_ns = cfg.max_wait_ns;
		gs.tat_ns = st.tat_ns;
		gs.interval_ns = st.interval_ns;
		gs.held_last = st.held_last;
		sm->backlog_ns = cruise_gcra_backlog(&gs, now, &lim);
		s->n_media++;
	}
	free(per);
	return err;
}
