// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The fleet's demand and rates (fleet.h), pure functions of their arguments: what a node asks the
 * allocator for, from the datapath's counters; rates as the script takes them; the limits a fleet
 * medium starts from. No Redis, no thread: the unit tests call them as they are.
 */
#include <string.h>

#include "cruise_gcra.h"
#include "fleet_int.h"

#define WINDOW_NS	 (2 * NSEC) /* attempts/s are measured over at least this */
#define HEADROOM_PERCENT 5	    /* a node that wants less than its share gets this much more */
#define HEADROOM_MILLI	 200	    /* ... and 0.2 connections/s, so that an idle node starts */

__u64 cruise_fleet_milli(__u64 interval_ns)
{
	if (!interval_ns)
		return 0;
	return (1000 * NSEC + interval_ns / 2) / interval_ns;
}

__u64 cruise_fleet_interval(__u64 milli)
{
	if (!milli)
		return CRUISE_FLEET_NONE_INTERVAL_NS;
	return cruise_max((1000 * NSEC + milli / 2) / milli, 1);
}

__s64 cruise_fleet_want(const struct cruise_fleet_demand *d)
{
	__u64 rate;

	/*
	 * Held back now: a backlog beyond one interval, refusals past max_wait, or most connects
	 * held. Such workers take whatever they are given (closed loops: their attempts follow
	 * the share), so their rate says nothing of what they want.
	 */
	if (d->d_refused || (d->interval_ns && d->backlog_ns > d->interval_ns) ||
	    (d->d_delayed && 4 * d->d_delayed > d->d_attempts))
		return CRUISE_FLEET_WANTS_MORE;
	/* nothing measured yet (the agent just started): keep what is in force */
	if (!d->window_ns)
		return (__s64)cruise_fleet_milli(d->interval_ns);
	rate = cruise_sat_mul(d->attempts, 1000 * NSEC) / d->window_ns;
	return (__s64)(rate + rate * HEADROOM_PERCENT / 100 + HEADROOM_MILLI);
}

void cruise_fleet_initial(const struct cruise_cfg_fleet *fc, const struct cruise_cfg_medium *cm,
			  const struct cruise_medium *cur, struct cruise_fleet_lease *out)
{
	__u64 cold = cm->fallback_interval_ns;

	if (!cold)
		cold = cruise_sat_mul(cm->interval_ns,
				      fc && fc->expected_nodes ? fc->expected_nodes : 1);
	if (cur && cur->lease_end_ns && !strncmp(cur->name, cm->name, CRUISE_NAME_LEN)) {
		/* what this node learned before (also an earlier agent's), never above the rate */
		out->interval_ns = cruise_max(cur->interval_ns, cm->interval_ns);
		out->fallback_interval_ns =
			cm->fallback_interval_ns
				? cm->fallback_interval_ns
				: cruise_max(cur->fallback_interval_ns, cm->interval_ns);
		out->lease_end_ns = cur->lease_end_ns;
		return;
	}
	out->interval_ns = cold;
	out->fallback_interval_ns = cold;
	out->lease_end_ns = 1; /* ended: the fallback until the first allocation */
}

void fleet_sample(struct fleet_medium *m, const struct cruise_snapshot_medium *sm, __u64 now,
		  struct cruise_fleet_demand *d)
{
	unsigned int oldest = m->head, first, k;

	memset(d, 0, sizeof(*d));
	d->backlog_ns = sm->backlog_ns;
	d->interval_ns = sm->interval_ns;
	if (m->n_hist) {
		d->d_attempts = sm->c.connections - m->last_attempts;
		d->d_delayed = sm->c.delayed - m->last_delayed;
		d->d_refused = sm->c.refused_max_wait - m->last_refused;
		/* the newest sample at least WINDOW_NS old, else the oldest one */
		first = (m->head + HISTORY - m->n_hist) % HISTORY;
		oldest = first;
		for (unsigned int i = 0; i < m->n_hist; i++) {
			k = (first + i) % HISTORY;
			if (now - m->hist[k].t < WINDOW_NS)
				break;
			oldest = k;
		}
		d->window_ns = now - m->hist[oldest].t;
		d->attempts = sm->c.connections - m->hist[oldest].attempts;
	}
	m->hist[m->head].t = now;
	m->hist[m->head].attempts = sm->c.connections;
	m->head = (m->head + 1) % HISTORY;
	if (m->n_hist < HISTORY)
		m->n_hist++;
	m->last_attempts = sm->c.connections;
	m->last_delayed = sm->c.delayed;
	m->last_refused = sm->c.refused_max_wait;
	if (d->window_ns && d->window_ns < WINDOW_NS / 4)
		d->window_ns = 0; /* too short to say (the agent just started) */
}
