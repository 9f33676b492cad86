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
#include "config.h" /* CRUISE_MAX_SIGNALS */
#include "maps.h"
#include "probe.h"

/* What the agent's fleet thread last learned of a fleet medium; zero when read by cruisectl. */
struct cruise_snapshot_fleet {
	bool known;	  /* an allocation was seen since the agent started */
	bool wants_more;  /* this node's workers want more than its share */
	__u64 rate_milli; /* the fleet rate in force (the lowest of the nodes' configs), per 1000 s
			   */
	__u64 demand_milli; /* connection attempts per 1000 s on this node */
	__u64 nodes;	    /* nodes in the last allocation */
};

struct cruise_snapshot_medium {
	__u32 index;
	struct cruise_medium cfg; /* cfg.name is the medium's name */
	struct cruise_counters c; /* summed over CPUs */
	__s64 open_conns;
	__u64 backlog_ns;  /* how far the next slot is ahead of now (0: a connect goes now) */
	__u64 interval_ns; /* in force now: cfg.interval_ns, or a fleet medium's fallback */
	bool fleet;	   /* a fleet medium: cfg.interval_ns is this node's leased share */
	bool fallback;	   /* a fleet medium whose lease has ended: it paces at its fallback */
	__u64 lease_left_ns;
	struct cruise_snapshot_fleet f;
	bool adaptive; /* ad holds its controller (cruise_adaptive) */
	struct cruise_adaptive ad;
	__u64 decisions[CRUISE_ADAPT_DECISION_COUNT]; /* rounds by decision; zero by cruisectl */
};

/* A signal as the agent last saw it (adaptive_run.c). */
struct cruise_snapshot_signal {
	char name[CRUISE_NAME_LEN];
	bool sampled; /* a probe has ended since the agent started */
	bool up;      /* the last probe answered with a number */
	double value; /* the last good value */
	double target;
	__u64 took_ns;	/* the last probe's time */
	__u32 failures; /* in a row */
	__u64 samples;
	__u64 errors[CRUISE_PROBE_ERROR_COUNT];
};

#define CRUISE_SNAPSHOT_HOSTS	 64 /* host names shown in /metrics */
#define CRUISE_SNAPSHOT_SERVICES 64 /* Kubernetes Services shown in /metrics */

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
	/* the fleet store; exposed only with a fleet block */
	bool fleet_configured;
	bool fleet_store_up;	     /* the last refresh got its replies */
	__u64 fleet_store_errors;    /* failed connects, commands and rejected replies */
	__u64 fleet_nodes_forgotten; /* nodes this agent saw forgotten after forget_after */
	/* targets by host name (resolve.h); agent only */
	struct cruise_snapshot_host {
		char name[CRUISE_HOST_LEN];
		__u32 n_addrs; /* the last good answer's */
		bool failing;  /* the last lookup failed */
		__u64 lookups, failures, changes;
		__u64 confirmed_ns; /* the last good answer, CLOCK_MONOTONIC; 0: none */
	} hosts[CRUISE_SNAPSHOT_HOSTS];
	unsigned int n_hosts;
	/* targets by Kubernetes Service (k8s_services.h); agent only */
	struct cruise_snapshot_service {
		char name[128]; /* "namespace/name" */
		__u32 n_addrs;	/* the last good answer's */
		bool up;	/* its watches' last requests got good answers */
		bool gone;	/* deleted, or not there: its last addresses stay */
		__u64 errors, changes;
		__u64 confirmed_ns; /* the last good answer, CLOCK_MONOTONIC; 0: none */
	} services[CRUISE_SNAPSHOT_SERVICES];
	unsigned int n_services;
	/* the signals of adaptive rates; agent only */
	struct cruise_snapshot_signal signals[CRUISE_MAX_SIGNALS];
	unsigned int n_signals;
};

int cruise_snapshot_read(const struct cruise_maps *m, struct cruise_snapshot *s);

#endif /* CRUISE_SNAPSHOT_H */
