/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A connect's reservation on its medium: the GCRA of cruise_gcra.h (docs/design.md section 3) on
 * the medium's pacing state in cruise_state, under its spin lock, with the open-connection count
 * that max_conns reads taken under the same lock.
 */
#ifndef CRUISE_GCRA_BPF_H
#define CRUISE_GCRA_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "cruise.h"
#include "cruise_gcra.h"
#include "jiffy.bpf.h"

struct cruise_reservation {
	struct cruise_gcra_verdict v;
	bool over_conns; /* the medium had max_conns open connections: no slot was reserved */
	bool fallback;	 /* decided at the fallback interval: the fleet lease had ended */
};

/*
 * A dry run reserves as if enforcing, to count what would happen, and its connect is counted open
 * whatever the verdict: it goes through.
 */
static __always_inline struct cruise_reservation
cruise_reserve(const struct cruise_medium *m, struct cruise_medium_state *st, bool dry)
{
	struct cruise_gcra_verdict v = { .admit = 1 };
	struct cruise_gcra_limits lim;
	struct cruise_gcra_state gs;
	bool over_conns, fallback;
	__u64 now, jiffy;

	jiffy = cruise_jiffy_ns();
	now = bpf_ktime_get_ns();
	/* a fleet share holds until its lease ends; then this node's fallback, with no agent */
	lim.interval_ns = cruise_lease_interval(m->interval_ns, m->lease_end_ns,
						m->fallback_interval_ns, now, &fallback);
	lim.burst = m->burst;
	lim.max_wait_ns = m->max_wait_ns;
	lim.credit_ns = cruise_gcra_credit(lim.interval_ns, jiffy);
	lim.hold_min_ns = 0; /* hold every wait: a connect never leaves before its slot */

	bpf_spin_lock(&st->lock);
	over_conns = m->max_conns && st->open_conns >= (__s64)m->max_conns;
	/*
	 * A dry run lets every connect through, so the backlog it simulated was never served:
	 * enforcement starts from now, not from a queue nobody waited in.
	 */
	if (!dry && st->dry_last && st->tat_ns > now)
		st->tat_ns = now;
	st->dry_last = dry;
	if (!over_conns || dry) {
		gs.tat_ns = st->tat_ns;
		gs.interval_ns = st->interval_ns;
		gs.held_last = st->held_last;
		if (cruise_gcra_retune(&gs, now, &lim)) {
			st->tat_ns = gs.tat_ns;
			st->interval_ns = gs.interval_ns;
		}
		v = cruise_gcra_reserve(&gs, now, &lim);
		if (v.admit) {
			st->tat_ns = gs.tat_ns;
			st->held_last = gs.held_last;
		}
	}
	if ((!over_conns && v.admit) || dry)
		__sync_fetch_and_add(&st->open_conns, 1);
	bpf_spin_unlock(&st->lock);
	return (struct cruise_reservation){ .v = v,
					    .over_conns = over_conns,
					    .fallback = fallback };
}

#endif /* CRUISE_GCRA_BPF_H */
