/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The pacing math: GCRA (virtual scheduling form of a leaky bucket), one theoretical arrival time
 * (tat) per medium. Pure functions on integers, compiled both into the BPF programs and into the
 * unit tests, which drive them with a fake clock. All arithmetic saturates: no input wraps a u64.
 *
 *	slot = max(now, tat - burst * T)	T = 1 s / rate
 *	wait = slot - now
 *	wait > max_wait: refuse, state unchanged (a refusal consumes no budget, as in nginx)
 *	else:            tat = max(tat, now) + T, hold the connect for wait
 *
 * Hold lateness credit: a held SYN leaves up to two jiffies after its slot. A worker that
 * reconnects right after finds now > tat, and "max(tat, now)" would restart the schedule from now,
 * losing the lateness as rate (a worker at 200/s reached only 157/s). So while the medium is
 * catching up after a hold (held_last) and now is at most credit_ns past tat, the schedule goes on
 * from tat. The credit is granted only after a hold (the lateness is ours, not idleness) and is
 * max(one interval, three jiffies): at most max(1, 3 jiffies x rate) connections above burst,
 * which matters only at rates above one per three jiffies (83/s at HZ 250).
 */
#ifndef CRUISE_GCRA_H
#define CRUISE_GCRA_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#include <stdbool.h>
#endif

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

#define CRUISE_U64_MAX	    (~(__u64)0)
#define CRUISE_NSEC_PER_SEC 1000000000ULL

struct cruise_gcra_limits {
	__u64 interval_ns; /* T; 0 means no pacing */
	__u64 burst;
	__u64 max_wait_ns;
	__u64 credit_ns;   /* how far behind tat a reservation may continue the schedule */
	__u64 hold_min_ns; /* waits above this are held; cruise holds every wait (0) */
};

struct cruise_gcra_state {
	__u64 tat_ns;
	__u64 interval_ns; /* the interval tat was scheduled with; 0 before the first reservation */
	__u16 held_last;   /* as in struct cruise_medium_state */
};

struct cruise_gcra_verdict {
	__u64 slot_ns;
	__u64 wait_ns;
	int admit; /* 1: admitted (held for wait_ns if held), 0: refused past max_wait */
	int held;  /* wait_ns > hold_min_ns: the SYN is held */
};

static __always_inline __u64 cruise_sat_add(__u64 a, __u64 b)
{
	return a + b < a ? CRUISE_U64_MAX : a + b;
}

static __always_inline __u64 cruise_sat_sub(__u64 a, __u64 b)
{
	return a > b ? a - b : 0;
}

/*
 * Saturates at 2^63 already (292 years in ns, far past any limit): the exact u64 test compiles to
 * a 128-bit multiply that BPF does not have.
 */
static __always_inline __u64 cruise_sat_mul(__u64 a, __u64 b)
{
	if (a && b > (CRUISE_U64_MAX >> 1) / a)
		return CRUISE_U64_MAX;
	return a * b;
}

static __always_inline __u64 cruise_max(__u64 a, __u64 b)
{
	return a > b ? a : b;
}

/*
 * Credit that covers hold lateness: a held SYN leaves less than two jiffies after its slot
 * (cruise_hold.h), and its worker needs a moment to connect again; three jiffies cover both.
 */
#define CRUISE_CREDIT_JIFFIES 3
static __always_inline __u64 cruise_gcra_credit(__u64 interval_ns, __u64 jiffy_ns)
{
	return cruise_max(interval_ns, CRUISE_CREDIT_JIFFIES * jiffy_ns);
}

/* Decide one connect at time now; updates st only when admitted. */
static __always_inline struct cruise_gcra_verdict
cruise_gcra_reserve(struct cruise_gcra_state *st, __u64 now, const struct cruise_gcra_limits *l)
{
	struct cruise_gcra_verdict v = { .slot_ns = now, .wait_ns = 0, .admit = 1, .held = 0 };
	__u64 tat = st->tat_ns;
	bool catching_up;
	__u64 start;

	if (!l->interval_ns)
		return v;

	v.slot_ns = cruise_max(now, cruise_sat_sub(tat, cruise_sat_mul(l->burst, l->interval_ns)));
	v.wait_ns = v.slot_ns - now;
	if (v.wait_ns > l->max_wait_ns) {
		v.admit = 0;
		return v;
	}
	catching_up = tat < now && st->held_last && now - tat <= l->credit_ns;
	start = tat >= now || catching_up ? tat : now;
	st->tat_ns = cruise_sat_add(start, l->interval_ns);
	v.held = v.wait_ns > l->hold_min_ns;
	st->held_last = v.held || catching_up;
	return v;
}

/*
 * part x to / from for part < from, within 2^-20 of to, with no 128-bit product (BPF has none):
 * part / from as a 20-bit fraction first. Intervals reach a day (2^47 ns).
 */
static __always_inline __u64 cruise_scale(__u64 part, __u64 from, __u64 to)
{
	__u64 frac = part >= (1ULL << 43) ? part / (from >> 20) : (part << 20) / from;

	return (to >> 20) * frac + (((to & ((1ULL << 20) - 1)) * frac) >> 20);
}

/*
 * A rate change keeps the state, so it lets no burst through: the backlog (tat - now) is rescaled
 * to keep the same number of connections queued, in both directions. Kept in time, a backlog
 * scheduled at a high rate would let the larger burst allowance of a lower one (burst x T) admit
 * at once what the old rate had queued; and one scheduled at a low rate would keep a grown rate
 * (a fleet share that grows from nearly nothing, an interval of an hour) waiting out the old,
 * long intervals. Connections already held keep their slots. Returns whether the state changed.
 */
static __always_inline bool cruise_gcra_retune(struct cruise_gcra_state *st, __u64 now,
					       const struct cruise_gcra_limits *l)
{
	__u64 old = st->interval_ns, backlog, queued;

	if (old == l->interval_ns)
		return false;
	st->interval_ns = l->interval_ns;
	if (old && l->interval_ns && st->tat_ns > now) {
		backlog = st->tat_ns - now;
		queued = backlog / old; /* whole intervals, then the rest */
		backlog = cruise_sat_add(cruise_sat_mul(queued, l->interval_ns),
					 cruise_scale(backlog % old, old, l->interval_ns));
		st->tat_ns = cruise_sat_add(now, backlog);
	}
	return true;
}

/*
 * The interval in force for a medium at now: a fleet medium's leased share until its lease ends,
 * then its fallback (lease_end_ns 0: no lease, always interval_ns).
 */
static __always_inline __u64 cruise_lease_interval(__u64 interval_ns, __u64 lease_end_ns,
						   __u64 fallback_interval_ns, __u64 now,
						   bool *fallback)
{
	*fallback = lease_end_ns && now >= lease_end_ns;
	return *fallback ? fallback_interval_ns : interval_ns;
}

/* How far the next slot is ahead of now: the medium's backlog (0 when it could go at once). */
static __always_inline __u64 cruise_gcra_backlog(const struct cruise_gcra_state *st, __u64 now,
						 const struct cruise_gcra_limits *l)
{
	__u64 allowance = cruise_sat_mul(l->burst, l->interval_ns);

	if (!l->interval_ns)
		return 0; /* not paced: nothing ever waits */
	return cruise_sat_sub(cruise_sat_sub(st->tat_ns, allowance), now);
}

#endif /* CRUISE_GCRA_H */
