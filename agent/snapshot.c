// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * One consistent read of every medium's limits, state and counters (snapshot.h), through the map
 * module (maps.h), which checks pinned maps against this build's layouts and ABI version.
 */
#include <string.h>

#include "cruise_gcra.h"
#include "loader.h"
#include "snapshot.h"

int cruise_snapshot_read(const struct cruise_maps *m, struct cruise_snapshot *s)
{
	int err = 0;

	memset(s, 0, sizeof(*s));
	s->taken_ns = cruise_now_ns();
	for (__u32 i = 0; i < CRUISE_MAX_MEDIA; i++) {
		struct cruise_snapshot_medium *sm = &s->media[s->n_media];
		struct cruise_medium_state st;
		struct cruise_gcra_limits lim;
		struct cruise_gcra_state gs;
		struct cruise_counters sum;
		struct cruise_medium cfg;
		__u64 now;

		err = cruise_maps_get_medium(m, i, &cfg);
		if (err)
			break;
		/* every medium's losses, so that the total never drops when a medium is retired */
		err = cruise_maps_counters(m, i, &sum);
		if (err)
			break;
		s->events_lost += sum.events_lost;
		if (!(cfg.flags & CRUISE_MEDIUM_ACTIVE))
			continue;
		err = cruise_maps_state(m, i, &st);
		if (err)
			break;
		memset(sm, 0, sizeof(*sm));
		sm->index = i;
		sm->cfg = cfg;
		sm->c = sum;
		sm->open_conns = st.open_conns;
		now = cruise_now_ns();
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
		sm->adaptive = !cruise_maps_get_adaptive(m, i, &sm->ad) &&
			       (sm->ad.flags & CRUISE_ADAPT_ACTIVE);
		s->n_media++;
	}
	return err;
}
