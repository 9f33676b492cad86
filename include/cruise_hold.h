/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * How a connect is held (docs/design.md section 2): the first SYN is dropped at egress and TCP
 * retransmits it when the SYN timeout that sockops answered fires. Pure functions, shared by BPF
 * and the unit tests.
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
	for (n = cruise_div_round_up(target, CRUISE_WHEEL_FINE_JIFFIES);
	     n <= (__u64)linear + 1 && n <= 8; n++) {
		__u64 s = cruise_div_round_up(target, n);

		if (n * s - target < best_excess) {
			best_excess = n * s - target;
			p.stages = (__u32)n;
			p.stage_jiffies = (__u32)(s - 1);
		}
	}
	return p; /* no fit: one coarse stage of w */
}

/*
 * TCP's SYN clock for a socket that gets no answer, in jiffies after its first SYN, as measured on
 * our kernels. The retransmit timer answered R fires R + 1 jiffies after it is armed; it stays R
 * for the first linear + 1 fires, then doubles, capped at rto_max. At fire k (retransmits done: k -
 * 1) the socket gives up when k - 1 >= TCP_SYNCNT + linear, or when k >= 2 and the time since the
 * first SYN reaches tcp_model_timeout(TCP_SYNCNT, R): (2^(n+1) - 1) * R, the doubling stopping at
 * rto_max. With tcp_syn_retries 6 both rules give 131 s; with 1 the time rule gives 3 s. Closed
 * forms, no loops: the verifier could not follow loops over retransmits.
 */
#define CRUISE_SYNCNT_MAX 127

/*
 * In BPF each of these is a global function, which the verifier checks once, alone: inlined, the
 * states of one function's branches multiply through the next one past its budget.
 */
#ifdef __bpf__
#define CRUISE_SUBPROG __attribute__((noinline))
#else
#define CRUISE_SUBPROG static inline
#endif

/* Position of the highest set bit, 1-based; 0 for 0. Loop-free for the verifier. */
static __always_inline __u32 cruise_fls64(__u64 x)
{
	__u32 n = 0;

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

/* Doublings after which r reaches rto_max: the smallest d with r << d >= rto_max. */
static __always_inline __u32 cruise_syn_doublings(__u64 r, __u64 rto_max)
{
	return r >= rto_max ? 0 : cruise_fls64((rto_max - 1) / r);
}

/* Sum of the first u doubled timeouts, r * 2 + ... + r * 2^u, each fire one jiffy later. */
static __always_inline __u64 cruise_syn_doubled_sum(__u64 r, __u32 u)
{
	if (u > 62)
		u = 62;
	return cruise_sat_add(cruise_sat_mul(r, (2ULL << u) - 2), u);
}

/* When fire k >= 1 happens. */
CRUISE_SUBPROG __u64 cruise_syn_fire_time(__u64 r, __u32 k, __u32 linear, __u64 rto_max)
{
	__u32 left, d, u;
	__u64 t;

	if (!r)
		return 0;
	if (r > rto_max)
		r = rto_max;
	if (k <= linear + 1)
		return (__u64)k * (r + 1);
	t = (__u64)(linear + 1) * (r + 1);
	left = k - linear - 1; /* fires after doubled timeouts */
	d = cruise_syn_doublings(r, rto_max);
	u = d && left > d - 1 ? d - 1 : (d ? left : 0); /* doubled and still under rto_max */
	t = cruise_sat_add(t, cruise_syn_doubled_sum(r, u));
	return cruise_sat_add(t, cruise_sat_mul(left - u, rto_max + 1));
}

/* The number of fires that happen at or before x (the largest k with fire_time(k) <= x). */
CRUISE_SUBPROG __u32 cruise_syn_fires_within(__u64 r, __u64 x, __u32 linear, __u64 rto_max)
{
	__u64 rem, more;
	__u32 d, j;

	if (!r)
		return 0;
	if (r > rto_max)
		r = rto_max;
	if (x / (r + 1) <= linear + 1)
		return (__u32)(x / (r + 1));
	rem = x - (__u64)(linear + 1) * (r + 1);
	d = cruise_syn_doublings(r, rto_max);
	/* r * (2^(j+1) - 2) <= rem bounds j from above; the fires' extra jiffies take at most 2 */
	j = cruise_fls64(rem / r + 2) - 2;
	if (d && j > d - 1)
		j = d - 1;
	if (!d)
		j = 0;
	if (j && cruise_syn_doubled_sum(r, j) > rem)
		j--;
	if (j && cruise_syn_doubled_sum(r, j) > rem)
		j--;
	if (d && j == d - 1) {
		/* every uncapped one fits: the rest at rto_max */
		more = (rem - cruise_syn_doubled_sum(r, j)) / (rto_max + 1);
		return linear + 1 + j + (more > 100000 ? 100000 : (__u32)more);
	}
	if (!d) {
		more = rem / (rto_max + 1);
		return linear + 1 + (more > 100000 ? 100000 : (__u32)more);
	}
	return linear + 1 + j;
}

/* tcp_model_timeout(): how long a socket with TCP_SYNCNT n may retransmit when its base is r. */
CRUISE_SUBPROG __u64 cruise_syn_model_timeout(__u64 r, __u32 n, __u64 rto_max)
{
	__u32 thresh;

	if (!r)
		return 0;
	thresh = r > rto_max ? 0 : cruise_fls64(rto_max / r) - 1; /* ilog2(rto_max / r) */
	if (thresh > 62)
		thresh = 62;
	if (n <= thresh)
		return cruise_sat_mul((2ULL << n) - 1, r);
	return cruise_sat_add(cruise_sat_mul((2ULL << thresh) - 1, r),
			      cruise_sat_mul(n - thresh, rto_max));
}

/* The largest TCP_SYNCNT whose model timeout is at most x; -1 when not even 0 fits. */
CRUISE_SUBPROG int cruise_syn_model_max_n(__u64 r, __u64 x, __u64 rto_max)
{
	__u32 thresh, n;
	__u64 more, t;

	if (!r || x < r)
		return -1;
	thresh = r > rto_max ? 0 : cruise_fls64(rto_max / r) - 1;
	if (thresh > 62)
		thresh = 62;
	/* (2^(n+1) - 1) * r <= x */
	n = cruise_fls64(x / r + 1) - 2;
	if (n < thresh)
		return (int)n;
	/* all the doubling ones fit: the rest at rto_max */
	t = cruise_sat_mul((2ULL << thresh) - 1, r);
	more = (x - t) / rto_max;
	return (int)thresh + (more > 100000 ? 100000 : (int)more);
}

/* When a socket answered r, with TCP_SYNCNT n, gives up. */
CRUISE_SUBPROG __u64 cruise_syn_give_up(__u64 r, __u32 n, __u32 linear, __u64 rto_max)
{
	__u64 model = cruise_syn_model_timeout(r, n, rto_max);
	__u32 k_count = n + linear + 1, k_time;

	/* the first fire at or after model; the time rule needs a retransmit done (k >= 2) */
	k_time = model ? cruise_syn_fires_within(r, model - 1, linear, rto_max) + 1 : 1;
	if (k_time < 2)
		k_time = 2;
	return cruise_syn_fire_time(r, k_time < k_count ? k_time : k_count, linear, rto_max);
}

/*
 * TCP_SYNCNT for a held socket, so that a held connect to a dead database gives up no later than an
 * unheld one would plus its hold, and never during its hold. syn_retries is the socket's TCP_SYNCNT
 * or the netns's tcp_syn_retries, hz the kernel's HZ (an unheld socket's base is 1 s).
 */
CRUISE_SUBPROG __u32 cruise_hold_syncnt(__u32 stage_jiffies, __u32 stages, __u32 syn_retries,
					__u32 linear, __u32 hz)
{
	__u64 rto_max = CRUISE_TCP_RTO_MAX_SEC * (__u64)hz, r = stage_jiffies, budget, t_hold;
	__u32 k_max;
	int best = 0, by_time, least;

	/* no wait left: TIMEOUT_INIT is not answered and the socket runs the unheld clock */
	if (!r)
		return syn_retries;
	if (r > rto_max)
		r = rto_max;
	budget = cruise_sat_add(cruise_syn_give_up(hz, syn_retries, linear, rto_max),
				(__u64)stages * (r + 1));
	/* the most retransmits whose give-up fire is within budget, by either rule */
	k_max = cruise_syn_fires_within(r, budget, linear, rto_max);
	if (k_max > linear + 1)
		best = k_max - linear - 1;
	if (k_max >= 2) {
		by_time = cruise_syn_model_max_n(r, cruise_syn_fire_time(r, k_max, linear, rto_max),
						 rto_max);
		if (by_time > best)
			best = by_time;
	}
	/* the fewest that let the hold's last fire, the release, retransmit */
	least = stages > linear ? (int)(stages - linear) : 1;
	if (stages >= 2) {
		t_hold = cruise_syn_fire_time(r, stages, linear, rto_max);
		by_time = cruise_syn_model_max_n(r, t_hold, rto_max) + 1;
		if (by_time > least)
			least = by_time;
	}
	if (best < least)
		best = least;
	return best > CRUISE_SYNCNT_MAX ? CRUISE_SYNCNT_MAX : (__u32)best;
}

/*
 * A long wait is one coarse stage (the most precise), unless a connect to a dead database would
 * then give up later than an unheld one plus the hold: a socket answered R gives up at the
 * earliest about 3 R after its first SYN (tcp_model_timeout with TCP_SYNCNT 1), so with a short
 * unheld give-up time (a low tcp_syn_retries) the hold is split into linear + 1 equal coarse
 * stages instead, which give up about 1.4 holds after the first SYN.
 */
static __always_inline struct cruise_hold_plan
cruise_hold_plan_bounded(__u64 wait_ns, __u64 jiffy_ns, __u32 linear, __u32 syn_retries, __u32 hz)
{
	struct cruise_hold_plan p = cruise_hold_plan(wait_ns, jiffy_ns, linear);
	__u64 rto_max = CRUISE_TCP_RTO_MAX_SEC * (__u64)hz, target = (__u64)p.stage_jiffies + 1;
	__u64 n = linear + 1 < 8 ? linear + 1 : 8, unheld, held;

	if (p.stages != 1 || target <= CRUISE_WHEEL_FINE_JIFFIES || !linear)
		return p;
	unheld = cruise_syn_give_up(hz, syn_retries, linear, rto_max);
	held = cruise_syn_give_up(p.stage_jiffies,
				  cruise_hold_syncnt(p.stage_jiffies, 1, syn_retries, linear, hz),
				  linear, rto_max);
	if (held <= unheld + target)
		return p;
	p.stages = (__u32)n;
	p.stage_jiffies = (__u32)(cruise_div_round_up(target, n) - 1);
	return p;
}

#endif /* CRUISE_HOLD_H */
