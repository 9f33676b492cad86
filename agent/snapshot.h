/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One consistent read of every medium's limits, state and counters from the (pinned) maps: what
 * the agent's /metrics, cruisectl status/top and the tests all show. Read-only.
 */
#ifndef CRUISE_SNAPSHOT_H
#define CRUISE_SNAPSHOT_H

#include <stdbool.h>
#include <linux/types.h>

#include "cruise.h"

struct cruise_snapshot_medium {
	__u32 index;
	struct cruise_medium cfg; /* cfg.name is the medium's name */
	struct cruise_counters c; /* summed over CPUs */
	__s64 open_conns;
	__u64 backlog_ns; /* how far the next slot is ahead of now (0: a connect goes now) */
};

struct cruise_snapshot {
	__u64 taken_ns; /* CLOCK_MONOTONIC */
	struct cruise_snapshot_medium media[CRUISE_MAX_MEDIA];
	unsigned int n_media; /* active media only, in index order */
	/* agent health; zero when read by cruisectl */
	unsigned int progs_attached;
	__u64 config_generation;
	__u64 reload_failures;
	__u64 events_lost;    /* summed from the counters */
	__u64 log_suppressed; /* refusal log lines suppressed by the rate limit */
	/* pods selected by labels; exposed only when a medium selects pods */
	bool pods_configured;
	bool k8s_connected;    /* the API answered the last request */
	__u64 k8s_errors;      /* failed requests and rejected responses */
	__u64 pods_bound;      /* pods selected and bound by their cgroup */
	__u64 pods_unresolved; /* pods selected whose cgroup was not found (yet) */
};

/* Map fds, by the maps' names: from a loaded skeleton or from the pins (cruisectl). */
struct cruise_maps {
	int media;
	int state;
	int counters;
	int bindings;
	int targets;
	int events;
};

/* Open every pinned map under pin_dir (cruisectl, tests); close with cruise_maps_close. */
int cruise_maps_open_pinned(struct cruise_maps *m, const char *pin_dir);
void cruise_maps_close(struct cruise_maps *m);

int cruise_snapshot_read(const struct cruise_maps *m, struct cruise_snapshot *s);

#endif /* CRUISE_SNAPSHOT_H */
