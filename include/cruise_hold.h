/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * How a connect is held (DESIGN.md section 2): the first SYN is dropped at egress and TCP
 * retransmits it when the SYN timeout that sockops answered fires. Pure functions, shared by BPF and
 * the unit tests.
 *
 * Timing, measured here: a SYN timeout answered R jiffies fires R + 1 jiffies after it is armed
 * (the timer wheel rounds up by one), so the first fires R + 1 - phase after the connect, phase
 * being how far into its jiffy the connect came, and each retransmit's timer exactly R + 1 after
 * the previous one. n stages of R + 1 = s jiffies end n * s - phase after the connect: never early
 * when n * s >= ceil(wait) + 1. Timeouts under CRUISE_WHEEL_FINE_JIFFIES stay on the wheel's fine
 * level; longer ones are rounded to coarse steps (8 jiffies, then 64). So a longer wait is split
 * into up to linear + 1 equal fine stages, TCP keeping its SYN timeout flat for the first
 * tcp_syn_linear_timeouts retransmits; among the stage counts that fit, the one whose stages add up
 * closest to the wait wins.
 */
#ifndef CRUISE_HOLD_H
#define CRUISE_HOLD_H

#include "cruise_gcra.h"

#define CRUISE_WHEEL_FINE_JIFFIES 63
/* TCP_RTO_MAX in seconds: no SYN timeout grows past it */
#define CRUISE_TCP_RTO_MAX_SEC 120

struct cruise_hold_plan {
	__u32 stage_jiffies; /* what TIMEOUT_INIT answers for this socket, every time */
	__u32 stages;	     /* SYN transmissions dropped, including the first */
};

static __always_inline __u64 cruise_div_round_up(__u64 a, __u64 b)
{
	return a / b + (a % b != 0);
}

/*
 * Plan a hold of wait_ns. linear is the netns's tcp_syn_linear_timeouts: the first SYN plus that
 * many retransmits leave at equal intervals.
 */
static __always_inline struct cruise_hold_plan cruise_hold_plan(__u64 wait_ns, __u64 jiffy_ns,
								 __u32 linear)
{
	struct cruise_hold_plan p;
	__u64 w = cruise_div_round_up(wait_ns, jiffy_ns);
	__u64 target = w + 1; /* stage jiffies to add up to, see above */
	__u64 n, best_excess = CRUISE_U64_MAX;

	p.stage_jiffies = w > 0xffffffffULL ? 0xffffffffU : (__u32)w;
	p.stages = 1;
	if (target <= CRUISE_WHEEL_FINE_JIFFIES)
		return p;
	/* at most 6 candidates: linear is 4 by default */
	for (n = cruise_div_round_up(target, CRUISE_WHEEL_FINE_JIFFIES); n <= (__u64)linear + 1 && n <= 8;
	     n++) {
		__u64 s = cruise_div_round_up(target, n);

		if (n * s - target < best_excess) {
			best_excess = n * s - target;
			p.stages = (__u32)n;
			p.stage_jiffies = (__u32)(s - 1);
		}
	}
	return p; /* no fit: one coarse stage of w */
}

/* Position of the highest set bit, 1-based; 0 for 0. Loop-free for the verifier. */
static __always_inline __u32 cruise_fls64(__u64 x)
{
	__u32 n = 0;

	if (!x)
		return 0;
	if (x >> 32) {
		n += 32;
		x >>= 32;
	}
	if (x >> 16) {
		n += 16;
		x >>= 16;
	}
	if (x >> 8) {
		n += 8;
		x >>= 8;
	}
	if (x >> 4) {
		n += 4;
		x >>= 4;
	}
	if (x >> 2) {
		n += 2;
		x >>= 2;
	}
	if (x >> 1) {
		n += 1;
		x >>= 1;
	}
	return n + (__u32)x;
}

/*
 * TCP's SYN clock for a socket that gets no answer, in jiffies: the timeout after transmission k
 * (0 = the first SYN) is base for k <= linear, then base << (k - linear), capped at rto_max. The
 * socket gives up when the timeout after its last allowed retransmit, max_rtx, expires. Closed
 * forms: a loop over retransmits is too much for the verifier.
 */

/* Doublings after which base reaches rto_max: the smallest d with base << d >= rto_max. */
static __always_inline __u32 cruise_syn_doublings(__u64 base, __u64 rto_max)
{
	__u32 d;

	if (base >= rto_max)
		return 0;
	d = cruise_fls64((rto_max - 1) / base); /* base << d > rto_max - 1 */
	return d;
}

static __always_inline __u64 cruise_syn_give_up(__u64 base, __u32 max_rtx, __u32 linear,
						 __u64 rto_max)
{
	__u64 t, j, d, doubling;

	if (!base)
		return 0;
	if (base > rto_max)
		base = rto_max;
	if (max_rtx <= linear)
		return cruise_sat_mul(max_rtx + 1, base);
	t = cruise_sat_mul(linear + 1, base);
	j = max_rtx - linear; /* timeouts that doubled, j = 1..max_rtx - linear */
	d = cruise_syn_doublings(base, rto_max);
	doubling = j < d ? j : (d ? d - 1 : 0); /* doubled but still under rto_max */
	t = cruise_sat_add(t, cruise_sat_mul(base, (2ULL << doubling) - 2));
	return cruise_sat_add(t, cruise_sat_mul(j - doubling, rto_max));
}

/* Most retransmits whose give-up time stays within budget (the inverse of the above). */
static __always_inline __u64 cruise_syn_max_rtx(__u64 base, __u64 budget, __u32 linear,
						__u64 rto_max)
{
	__u64 lin_t, next, d, x, j, t_d;

	if (!base)
		return 0;
	if (base > rto_max)
		base = rto_max;
	if (budget < base)
		return 0;
	lin_t = cruise_sat_mul(linear + 1, base);
	next = base * 2 < rto_max ? base * 2 : rto_max; /* the first doubled timeout */
	if (budget < lin_t || budget - lin_t < next)
		return budget < lin_t ? budget / base - 1 : linear;
	/* (linear + 1) * base + base * (2^(j + 1) - 2) <= budget, j doubled timeouts */
	x = (budget - lin_t) / base + 2;
	j = cruise_fls64(x) - 2;
	d = cruise_syn_doublings(base, rto_max);
	if (d && j < d - 1) /* a further doubled timeout would not fit */
		return linear + j;
	/* the rest of the budget in timeouts of rto_max */
	j = d ? d - 1 : 0;
	t_d = cruise_sat_add(lin_t, cruise_sat_mul(base, (2ULL << j) - 2));
	if (budget < t_d)
		return linear + j;
	return linear + j + (budget - t_d) / rto_max;
}

#define CRUISE_SYNCNT_MAX 127

/*
 * TCP_SYNCNT for a held socket, so that a held connect to a dead database gives up no later than an
 * unheld one would plus its hold (init_jiffies: an unheld socket's first SYN timeout, 1 s). The
 * kernel gives up a SYN_SENT socket after TCP_SYNCNT + linear retransmits; TCP_SYNCNT is 1..127, so
 * with a small budget the bound can exceed it (a held socket then retries like TCP_SYNCNT 1).
 */
static __always_inline __u32 cruise_hold_syncnt(const struct cruise_hold_plan *p, __u32 syn_retries,
						__u32 linear, __u64 init_jiffies, __u64 hz)
{
	__u64 rto_max = CRUISE_TCP_RTO_MAX_SEC * hz;
	__u64 budget = cruise_syn_give_up(init_jiffies, syn_retries + linear, linear, rto_max);
	__u64 best;

	/* no wait left: TIMEOUT_INIT is not answered and the socket runs the unheld clock */
	if (!p->stage_jiffies)
		return syn_retries;
	budget = cruise_sat_add(budget, (__u64)p->stage_jiffies * p->stages);
	best = cruise_syn_max_rtx(p->stage_jiffies, budget, linear, rto_max);
	if (best < p->stages) /* the released SYN must at least be sent */
		best = p->stages;
	if (best <= linear)
		return 1;
	return best - linear > CRUISE_SYNCNT_MAX ? CRUISE_SYNCNT_MAX : (__u32)(best - linear);
}

#endif /* CRUISE_HOLD_H */
