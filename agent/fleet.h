/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The fleet: one rate per medium for all agents together (docs/design.md, "Fleet"). A thread of
 * its own reports this node's demand for each fleet medium to Redis every refresh and takes a
 * share, in one round trip (one EVALSHA of agent/fleet.lua per medium, pipelined). The share, its
 * lease end and the fallback go to the main loop, which writes them into cruise_media: the
 * kernel decides every connection alone and falls back by itself when the lease ends. Redis is
 * never talked to from the main loop, so a hung store delays no reload, binding or scrape.
 */
#ifndef CRUISE_FLEET_H
#define CRUISE_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "apply.h"
#include "config.h"
#include "snapshot.h"

/* connect and command timeouts towards Redis */
#define CRUISE_FLEET_TIMEOUT_MS 200
/* reconnect after 100 ms, doubling to 5 s (or a lease if shorter), with +-25% jitter */
#define CRUISE_FLEET_BACKOFF_MIN_MS 100
#define CRUISE_FLEET_BACKOFF_MAX_MS 5000
/* a share of nothing: one connection an hour (an interval of 0 would mean "not paced") */
#define CRUISE_FLEET_NONE_INTERVAL_NS (3600ULL * 1000000000ULL)
/* the kernel's lease ends this much before the store's, for the time the request takes to leave */
#define CRUISE_FLEET_LEASE_MARGIN_NS (5 * 1000000ULL)

/* Rates go to the script in milli-connections per second (integers: exact sums in Lua). */
__u64 cruise_fleet_milli(__u64 interval_ns);
__u64 cruise_fleet_interval(__u64 milli);

/*
 * What a node's workers asked for, from the datapath's counters. The attempts over the last
 * window (at least two seconds) give the rate; the last refresh's holds, refusals past max_wait
 * and the backlog say whether they want more than the share in force.
 */
struct cruise_fleet_demand {
	__u64 window_ns;
	__u64 attempts; /* connects over the window, held and refused ones included */
	__u64 d_attempts, d_delayed, d_refused; /* over the last refresh */
	__u64 backlog_ns;
	__u64 interval_ns; /* in force */
};
#define CRUISE_FLEET_WANTS_MORE (-1)
/* milli-connections/s the node asks for (with headroom), or CRUISE_FLEET_WANTS_MORE */
__s64 cruise_fleet_want(const struct cruise_fleet_demand *d);

/* A fleet medium's new limits, for the map (filled from a reply). */
struct cruise_fleet_lease {
	__u64 interval_ns;	    /* the share */
	__u64 fallback_interval_ns; /* after lease_end_ns */
	__u64 lease_end_ns;	    /* bpf_ktime_get_ns clock */
};

/*
 * The limits a fleet medium gets in cruise_media when the config is applied: what the map holds
 * for it already (a lease and fallback learned by this or an earlier agent), within the config's
 * rate; else, before any allocation was ever seen, the cold-start fallback: fallback_rate, or
 * rate / fleet.expected_nodes, with the lease ended already.
 */
void cruise_fleet_initial(const struct cruise_cfg_fleet *fc, const struct cruise_cfg_medium *cm,
			  const struct cruise_medium *cur, struct cruise_fleet_lease *out);

struct cruise_fleet;

/* Start the thread; maps are read for demand (read-only). err: one line. */
struct cruise_fleet *cruise_fleet_start(const struct cruise_maps *maps, char *err, size_t errlen);
/* Follow a newly applied config: the fleet block and the fleet media with their map indices. */
void cruise_fleet_configure(struct cruise_fleet *f, const struct cruise_config *cfg,
			    const struct cruise_applied *a);
/* An adaptive fleet medium: the fleet rate this node asks from now on (its controller's). */
void cruise_fleet_set_rate(struct cruise_fleet *f, const char *medium, __u64 interval_ns);
/* The fleet rate in force for medium (the lowest the nodes ask) as an interval; 0: not known. */
__u64 cruise_fleet_rate_in_force(struct cruise_fleet *f, const char *medium);
/* Readable when leases wait for cruise_fleet_apply. */
int cruise_fleet_fd(struct cruise_fleet *f);
/* Main loop: write the waiting leases into cruise_media (only media still fleet by cfg). */
void cruise_fleet_apply(struct cruise_fleet *f, const struct cruise_maps *maps,
			const struct cruise_config *cfg, const struct cruise_applied *a);
/* For /metrics: the store's health and each fleet medium's last allocation (by map index). */
void cruise_fleet_snapshot(struct cruise_fleet *f, struct cruise_snapshot *s);
void cruise_fleet_stop(struct cruise_fleet *f);

#endif /* CRUISE_FLEET_H */
