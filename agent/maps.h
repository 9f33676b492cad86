/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The one way to the maps, for the agent, cruisectl, the tests and the benchmarks: the list of
 * cruise's maps (name, type, key and value layout), their fds from a loaded object or from the
 * pins, and every read and update of them. A medium's state is read under its spin lock, per-CPU
 * counters are summed here only.
 */
#ifndef CRUISE_MAPS_H
#define CRUISE_MAPS_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "cruise.h"

struct bpf_object;

/* Map fds by name; -1 when not open. */
struct cruise_maps {
	int targets;
	int bindings;
	int media;
	int state;
	int counters;
	int events;
	int socks; /* socket storage: only from a loaded object (a pin cannot be read) */
	int meta;
	int adaptive;	/* user space's own: -1 in pins made before adaptive rates */
	int target_src; /* user space's own: -1 in pins made before targets by name */
};

/* cruise's maps, in the order they are pinned and removed. */
struct cruise_map_def {
	const char *name;
	size_t off; /* of the fd in struct cruise_maps */
	__u32 type;
	__u32 key_size;
	__u32 value_size; /* 0: not checked (ring buffer, socket storage) */
	int pinned_read;  /* opened by cruise_maps_open_pinned: CRUISE_PIN_* */
};
#define CRUISE_PIN_NOT_READ    0
#define CRUISE_PIN_READ	       1
#define CRUISE_PIN_READ_IF_ANY 2 /* added after the first release: older pins have none */
extern const struct cruise_map_def cruise_map_defs[];
extern const size_t cruise_n_maps;

void cruise_maps_init(struct cruise_maps *m);
/* The fds of a loaded object's maps (owned by the object: not closed by cruise_maps_close). */
int cruise_maps_of_object(struct cruise_maps *m, struct bpf_object *obj);
/*
 * Open every readable pinned map under pin_dir (cruisectl, tests); close with cruise_maps_close.
 * -EPROTO: maps of another layout or ABI version.
 */
int cruise_maps_open_pinned(struct cruise_maps *m, const char *pin_dir);
void cruise_maps_close(struct cruise_maps *m);

/* Reads and updates; 0 or -errno. */
int cruise_maps_get_medium(const struct cruise_maps *m, __u32 idx, struct cruise_medium *v);
int cruise_maps_set_medium(const struct cruise_maps *m, __u32 idx, const struct cruise_medium *v);
/* The state zeroed: the medium's schedule and open count start over (a slot given anew). */
int cruise_maps_reset_state(const struct cruise_maps *m, __u32 idx);
/* The state under its spin lock, so that tat and open_conns are one moment's. */
int cruise_maps_state(const struct cruise_maps *m, __u32 idx, struct cruise_medium_state *st);
/* The per-CPU counters of one medium, summed field by field. */
int cruise_maps_counters(const struct cruise_maps *m, __u32 idx, struct cruise_counters *sum);
int cruise_maps_bind(const struct cruise_maps *m, __u64 cgroup_id, __u32 medium);
int cruise_maps_unbind(const struct cruise_maps *m, __u64 cgroup_id);
/* An adaptive medium's controller (cruise.h); -ENOENT in pins made before adaptive rates. */
int cruise_maps_get_adaptive(const struct cruise_maps *m, __u32 idx, struct cruise_adaptive *v);
int cruise_maps_set_adaptive(const struct cruise_maps *m, __u32 idx,
			     const struct cruise_adaptive *v);
/* Where a target key came from (cruise.h); -ENOENT in pins made before targets by name. */
int cruise_maps_set_target_src(const struct cruise_maps *m, const struct cruise_target_key *k,
			       const struct cruise_target_src *v);
int cruise_maps_get_target_src(const struct cruise_maps *m, const struct cruise_target_key *k,
			       struct cruise_target_src *v);
int cruise_maps_add_target(const struct cruise_maps *m, const struct cruise_target_key *k,
			   __u32 id);

#endif /* CRUISE_MAPS_H */
