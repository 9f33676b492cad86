// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the pacing math (cruise_gcra.h) and of the hold planning (cruise_hold.h), driven by
 * a fake clock: "now" is a u64 the tests advance. Expected values come from the rate and interval
 * (DESIGN.md sections 2 and 3), never from a run that merely passed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "cruise_gcra.h"
#include "cruise_hold.h"

#define NSEC CRUISE_NSEC_PER_SEC
#define MSEC (NSEC / 1000)
#define HZ 250
#define JIFFY_NS (NSEC / HZ) /* 4 ms, as on our machines */
#define LINEAR 4	     /* stock tcp_syn_linear_timeouts */
#define SYN_RETRIES 6	     /* stock tcp_syn_retries */
#define RTO_MAX (CRUISE_TCP_RTO_MAX_SEC * HZ)
/* the fake clock starts far from 0, so that a fresh state (tat 0) is a long idle */
#define T0 (1000 * NSEC)

/* Limits as the connect hook builds them (bpf/admit.bpf.h). */
static struct cruise_gcra_limits limits(__u64 interval_ns, __u64 burst, __u64 max_wait_ns)
{
	struct cruise_gcra_limits l = {
		.interval_ns = interval_ns,
		.burst = burst,
		.max_wait_ns = max_wait_ns,
		.credit_ns = cruise_gcra_credit(interval_ns, JIFFY_NS),
		.hold_min_ns = JIFFY_NS,
	};

	return l;
}

/* A state with known padding, so that byte-for-byte comparisons mean something. */
static void state_init(struct cruise_gcra_state *st, __u64 tat_ns, __u32 held_last)
{
	memset(st, 0x5a, sizeof(*st));
	st->tat_ns = tat_ns;
	st->held_last = held_last;
}

/*
 * Requests every interval / 7 (much faster than the rate, between slots), burst 0. Each admitted
 * request takes the next slot, so slot k is T0 + k * interval; slot k is taken as soon as an
 * arrival is within max_wait of it, so the admitted count is the number of slots up to the last
 * arrival plus max_wait.
 */
static void check_steady(__u64 interval, __u64 window, __u64 max_wait)
{
	struct cruise_gcra_limits l = limits(interval, 0, max_wait);
	struct cruise_gcra_state st;
	__u64 dt = interval / 7, now, last = T0, admitted = 0, refused = 0, in_window = 0;

	state_init(&st, 0, 0);
	for (now = T0; now < T0 + window; now += dt) {
		struct cruise_gcra_verdict v = cruise_gcra_reserve(&st, now, &l);

		last = now;
		if (!v.admit) {
			assert_true(v.wait_ns > max_wait);
			refused++;
			continue;
		}
		assert_true(v.wait_ns <= max_wait);
		assert_int_equal(v.slot_ns - now, v.wait_ns);
		/* exactly interval apart, starting at the first arrival */
		assert_int_equal(v.slot_ns, T0 + admitted * interval);
		admitted++;
		if (v.slot_ns < T0 + window)
			in_window++;
	}
	assert_int_equal(admitted, (last + max_wait - T0) / interval + 1);
	assert_int_equal(in_window, window / interval);
	assert_true(refused > 0);
}

static void test_steady_rate(void **state)
{
	(void)state;
	check_steady(NSEC / 20, 10 * NSEC, 500 * MSEC);
	check_steady(NSEC / 200, 10 * NSEC, 500 * MSEC);
	/* max_wait not a multiple of the interval */
	check_steady(NSEC / 200, 10 * NSEC, 123 * MSEC + 1);
}

/*
 * How late a held SYN leaves after its slot: TIMEOUT_INIT rounds the wait up to a whole jiffy and
 * the timer wheel fires up to a jiffy after that, so (0, 2 jiffies]. The prototype's 157/s at
 * 200/s without credit (DESIGN.md section 3) means its SYNs left close to two jiffies late.
 */
enum lateness {
	LATE_UP_TO_2J,	 /* J/4 .. 2J in eight steps */
	LATE_1J_TO_2J,	 /* 5J/4 .. 2J in four steps */
	LATE_2J,	 /* always two jiffies: the prototype's measurement */
};

static __u64 lateness(enum lateness kind, __u64 i)
{
	switch (kind) {
	case LATE_UP_TO_2J:
		return JIFFY_NS / 4 * (1 + i * 5 % 8);
	case LATE_1J_TO_2J:
		return JIFFY_NS + JIFFY_NS / 4 * (1 + i * 3 % 4);
	case LATE_2J:
	default:
		return 2 * JIFFY_NS;
	}
}

/*
 * One worker in a closed loop for 10 s, burst 0: it connects; a held connect completes at its slot
 * plus the lateness, an unheld one at once (its SYN leaves without waiting); then it connects
 * again. Returns the number of connects.
 */
static __u64 closed_loop(__u64 interval, __u64 credit_ns, enum lateness kind)
{
	struct cruise_gcra_limits l = limits(interval, 0, NSEC);
	struct cruise_gcra_state st;
	__u64 now = T0, n = 0, held = 0;

	l.credit_ns = credit_ns;
	state_init(&st, 0, 0);
	while (now < T0 + 10 * NSEC) {
		struct cruise_gcra_verdict v = cruise_gcra_reserve(&st, now, &l);

		assert_true(v.admit);
		n++;
		if (v.held) {
			__u64 late = lateness(kind, held++);

			assert_true(late > 0 && late <= 2 * JIFFY_NS);
			now = v.slot_ns + late;
		}
	}
	/* the loop must really be exercising holds, or it shows nothing about the credit */
	assert_true(held * 4 > n);
	return n;
}

static void test_closed_loop_credit(void **state)
{
	static const __u64 rates[] = { 100, 200 };
	static const enum lateness kinds[] = { LATE_UP_TO_2J, LATE_1J_TO_2J, LATE_2J };
	size_t r, k;

	(void)state;
	for (r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			__u64 interval = NSEC / rates[r];
			__u64 want = 10 * rates[r];
			__u64 n = closed_loop(interval, cruise_gcra_credit(interval, JIFFY_NS),
					      kinds[k]);

			/* within 0.5% of the configured rate */
			assert_true(n * 1000 >= want * 995);
			assert_true(n * 1000 <= want * 1005);
		}
	}
}

/* Without the credit, the lateness restarts the schedule from now: the rate is lost. */
static void test_closed_loop_no_credit(void **state)
{
	__u64 interval = NSEC / 200, want = 10 * 200;

	(void)state;
	assert_true(closed_loop(interval, 0, LATE_1J_TO_2J) * 10 < want * 9);
	assert_true(closed_loop(interval, 0, LATE_2J) * 10 < want * 9);
}

static void test_burst(void **state)
{
	static const __u64 bursts[] = { 0, 1, 5, 20 };
	__u64 interval = NSEC / 10;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bursts) / sizeof(bursts[0]); i++) {
		struct cruise_gcra_limits l = limits(interval, bursts[i], 10 * NSEC);
		struct cruise_gcra_state st;
		struct cruise_gcra_verdict v;
		__u64 k;

		/* idle: the last slot was long ago */
		state_init(&st, T0 - 60 * NSEC, 0);
		for (k = 0; k <= bursts[i]; k++) {
			v = cruise_gcra_reserve(&st, T0, &l);
			assert_true(v.admit);
			assert_int_equal(v.wait_ns, 0);
			assert_int_equal(v.slot_ns, T0);
			assert_false(v.held);
		}
		v = cruise_gcra_reserve(&st, T0, &l);
		assert_true(v.admit);
		assert_int_equal(v.wait_ns, interval);
		v = cruise_gcra_reserve(&st, T0, &l);
		assert_int_equal(v.wait_ns, 2 * interval);
	}
}

static void test_credit_only_after_hold(void **state)
{
	__u64 interval = NSEC / 200;
	struct cruise_gcra_limits l = limits(interval, 0, NSEC);
	struct cruise_gcra_state st;
	struct cruise_gcra_verdict v;
	__u64 tat = T0;

	(void)state;
	assert_int_equal(l.credit_ns, 2 * JIFFY_NS); /* 8 ms > 5 ms */

	/* held last, but idle for longer than the credit: one immediate admit, no extra burst */
	state_init(&st, tat, 1);
	v = cruise_gcra_reserve(&st, tat + l.credit_ns + 1, &l);
	assert_int_equal(v.wait_ns, 0);
	assert_int_equal(st.tat_ns, tat + l.credit_ns + 1 + interval);
	v = cruise_gcra_reserve(&st, tat + l.credit_ns + 1, &l);
	assert_int_equal(v.wait_ns, interval);

	/* not held last: even a moment past tat restarts the schedule from now */
	state_init(&st, tat, 0);
	v = cruise_gcra_reserve(&st, tat + 1, &l);
	assert_int_equal(v.wait_ns, 0);
	assert_int_equal(st.tat_ns, tat + 1 + interval);
	v = cruise_gcra_reserve(&st, tat + 1, &l);
	assert_int_equal(v.wait_ns, interval);

	/* held last, exactly credit past tat: the schedule continues from tat */
	state_init(&st, tat, 1);
	v = cruise_gcra_reserve(&st, tat + l.credit_ns, &l);
	assert_int_equal(v.wait_ns, 0);
	assert_int_equal(st.tat_ns, tat + interval);
	/* ... which admits at most one connection above burst, then the schedule is from now */
	v = cruise_gcra_reserve(&st, tat + l.credit_ns, &l);
	assert_int_equal(v.wait_ns, 0);
	assert_false(st.held_last);
	v = cruise_gcra_reserve(&st, tat + l.credit_ns, &l);
	assert_int_equal(v.wait_ns, interval);
}

static void test_max_wait_refusal(void **state)
{
	__u64 interval = 10 * MSEC, max_wait = 25 * MSEC;
	struct cruise_gcra_limits l = limits(interval, 0, max_wait);
	struct cruise_gcra_state st, before, a, b;
	struct cruise_gcra_verdict v, w;
	__u64 now, k, n = 0, refused = 0, slots[200];

	(void)state;
	/* backlog of 3 intervals > max_wait: refused, state untouched, held_last included */
	state_init(&st, T0 + 3 * interval, 1);
	before = st;
	v = cruise_gcra_reserve(&st, T0, &l);
	assert_int_equal(v.admit, 0);
	assert_int_equal(v.slot_ns, T0 + 3 * interval);
	assert_int_equal(v.wait_ns, 3 * interval);
	assert_memory_equal(&st, &before, sizeof(st));
	/* the next request at the same time is quoted the same slot */
	w = cruise_gcra_reserve(&st, T0, &l);
	assert_int_equal(w.admit, 0);
	assert_int_equal(w.slot_ns, v.slot_ns);
	assert_memory_equal(&st, &before, sizeof(st));

	/* the bound is inclusive: a wait of exactly max_wait is admitted, one ns more is not */
	state_init(&st, T0 + max_wait, 0);
	v = cruise_gcra_reserve(&st, T0, &l);
	assert_true(v.admit);
	assert_int_equal(v.wait_ns, max_wait);
	state_init(&st, T0 + max_wait + 1, 0);
	before = st;
	v = cruise_gcra_reserve(&st, T0, &l);
	assert_false(v.admit);
	assert_memory_equal(&st, &before, sizeof(st));

	/*
	 * Refusals consume no budget: state a sees a stream with refusals, state b only the requests
	 * that a admitted; both give the same slots and end in the same state.
	 */
	state_init(&a, 0, 0);
	state_init(&b, 0, 0);
	for (k = 0; k < 200; k++) {
		now = T0 + k * MSEC;
		v = cruise_gcra_reserve(&a, now, &l);
		if (!v.admit) {
			refused++;
			continue;
		}
		w = cruise_gcra_reserve(&b, now, &l);
		assert_true(w.admit);
		assert_int_equal(w.slot_ns, v.slot_ns);
		assert_memory_equal(&a, &b, sizeof(a));
		slots[n++] = v.slot_ns;
	}
	assert_true(refused > 0);
	/* and the stream itself is paced: slots exactly interval apart from the first arrival */
	for (k = 0; k < n; k++)
		assert_int_equal(slots[k], T0 + k * interval);
}

/* GCRA conformance: any j - i + 1 consecutive slots span at least (j - i - burst) intervals. */
static void check_conforms(const __u64 *slots, __u64 n, __u64 interval, __u64 burst)
{
	__u64 i, j;

	for (i = 0; i < n; i++)
		for (j = i + burst + 1; j < n; j++)
			assert_true(slots[j] - slots[i] >= (j - i - burst) * interval);
}

static void test_rate_change(void **state)
{
	__u64 slow = NSEC / 10, fast = NSEC / 100, max_wait = 300 * MSEC;
	struct cruise_gcra_limits l = limits(slow, 0, 10 * NSEC);
	struct cruise_gcra_state st;
	struct cruise_gcra_verdict v;
	__u64 slots[64], n = 0, k, now, last = T0;

	(void)state;
	/* 10/s with a backlog of 10: tat is T0 + 1 s */
	state_init(&st, 0, 0);
	for (k = 0; k < 10; k++) {
		v = cruise_gcra_reserve(&st, T0, &l);
		assert_int_equal(v.slot_ns, T0 + k * slow);
	}
	assert_int_equal(st.tat_ns, T0 + 10 * slow);
	/* switch to 100/s: slots continue from tat, spaced by the new interval, no burst */
	l = limits(fast, 0, 10 * NSEC);
	for (k = 0; k < 20; k++) {
		v = cruise_gcra_reserve(&st, T0 + k * MSEC, &l);
		assert_true(v.admit);
		assert_int_equal(v.slot_ns, T0 + 10 * slow + k * fast);
	}

	/* 100/s with a backlog of 5 (tat T0 + 50 ms), then 10/s under requests every ms for 2 s */
	l = limits(fast, 0, max_wait);
	state_init(&st, 0, 0);
	for (k = 0; k < 5; k++)
		cruise_gcra_reserve(&st, T0, &l);
	assert_int_equal(st.tat_ns, T0 + 5 * fast);
	l = limits(slow, 0, max_wait);
	for (now = T0; now < T0 + 2 * NSEC; now += MSEC) {
		v = cruise_gcra_reserve(&st, now, &l);
		last = now;
		if (!v.admit)
			continue;
		assert_true(n < sizeof(slots) / sizeof(slots[0]));
		slots[n++] = v.slot_ns;
	}
	/* the first new slot is the old tat; then exactly the new interval */
	assert_int_equal(slots[0], T0 + 5 * fast);
	for (k = 1; k < n; k++)
		assert_int_equal(slots[k] - slots[k - 1], slow);
	assert_int_equal(n, (last + max_wait - slots[0]) / slow + 1);
	check_conforms(slots, n, slow, 0);

	/* same with burst 4: what is admitted after the switch conforms to the new limits */
	l = limits(fast, 4, max_wait);
	state_init(&st, 0, 0);
	for (k = 0; k < 5; k++) {
		v = cruise_gcra_reserve(&st, T0, &l);
		assert_int_equal(v.wait_ns, 0);
	}
	l = limits(slow, 4, max_wait);
	n = 0;
	for (now = T0; now < T0 + 2 * NSEC; now += MSEC) {
		v = cruise_gcra_reserve(&st, now, &l);
		if (v.admit) {
			assert_true(n < sizeof(slots) / sizeof(slots[0]));
			slots[n++] = v.slot_ns;
		}
	}
	assert_true(n > 5);
	check_conforms(slots, n, slow, 4);
}

static void test_extreme_rates(void **state)
{
	(void)state;
	/* 1/min over an hour */
	check_steady(60 * NSEC, 3600 * NSEC, 300 * NSEC);
	/* 100k/s over a second */
	check_steady(NSEC / 100000, NSEC, MSEC);
	assert_int_equal(NSEC / 100000, 10000);
}

static void test_clock_edges(void **state)
{
	__u64 interval = NSEC / 100, big = (__u64)1 << 32;
	struct cruise_gcra_limits l = limits(interval, 0, NSEC);
	struct cruise_gcra_state st, before;
	struct cruise_gcra_verdict v;
	__u64 k;

	(void)state;
	/* now far behind tat: refused with the true wait, no wrap */
	state_init(&st, CRUISE_U64_MAX - 1, 1);
	before = st;
	v = cruise_gcra_reserve(&st, T0, &l);
	assert_false(v.admit);
	assert_int_equal(v.slot_ns, CRUISE_U64_MAX - 1);
	assert_int_equal(v.wait_ns, CRUISE_U64_MAX - 1 - T0);
	assert_memory_equal(&st, &before, sizeof(st));

	/* now far ahead of tat: the schedule restarts from now, held last or not */
	for (k = 0; k < 2; k++) {
		state_init(&st, T0, (__u32)k);
		v = cruise_gcra_reserve(&st, CRUISE_U64_MAX / 2, &l);
		assert_true(v.admit);
		assert_int_equal(v.wait_ns, 0);
		assert_int_equal(st.tat_ns, CRUISE_U64_MAX / 2 + interval);
	}

	/* burst * interval = 2^64 would wrap to 0 (wait 10 s); it saturates: no wait */
	assert_int_equal(big * big, 0);
	assert_int_equal(cruise_sat_mul(big, big), CRUISE_U64_MAX);
	l = limits(big, big, CRUISE_U64_MAX);
	state_init(&st, T0 + 10 * NSEC, 0);
	v = cruise_gcra_reserve(&st, T0, &l);
	assert_true(v.admit);
	assert_int_equal(v.wait_ns, 0);
	assert_int_equal(cruise_gcra_backlog(&st, T0, &l), 0);
	/* exact below 2^63, saturated from it (see cruise_sat_mul) */
	assert_int_equal(cruise_sat_mul(3, (CRUISE_U64_MAX >> 1) / 3), (CRUISE_U64_MAX >> 1) / 3 * 3);
	assert_int_equal(cruise_sat_mul(3, (CRUISE_U64_MAX >> 1) / 3 + 1), CRUISE_U64_MAX);
	assert_int_equal(cruise_sat_mul(0, CRUISE_U64_MAX), 0);
	assert_int_equal(cruise_sat_mul(CRUISE_U64_MAX, 0), 0);
	assert_int_equal(cruise_sat_add(CRUISE_U64_MAX - 1, 2), CRUISE_U64_MAX);
	assert_int_equal(cruise_sat_sub(1, 2), 0);

	/* tat + interval past 2^64 saturates, and the saturated tat still paces (no wrap to 0) */
	l = limits(interval, 0, CRUISE_U64_MAX);
	state_init(&st, CRUISE_U64_MAX - interval / 2, 0);
	v = cruise_gcra_reserve(&st, T0, &l);
	assert_true(v.admit);
	assert_int_equal(st.tat_ns, CRUISE_U64_MAX);
	v = cruise_gcra_reserve(&st, T0, &l);
	assert_true(v.admit);
	assert_int_equal(v.slot_ns, CRUISE_U64_MAX);
	assert_int_equal(v.wait_ns, CRUISE_U64_MAX - T0);
	assert_int_equal(st.tat_ns, CRUISE_U64_MAX);
	/* now itself near the end of time */
	state_init(&st, 0, 0);
	v = cruise_gcra_reserve(&st, CRUISE_U64_MAX - 1, &l);
	assert_true(v.admit);
	assert_int_equal(st.tat_ns, CRUISE_U64_MAX);

	/* max_wait = U64_MAX never refuses, whatever the backlog */
	state_init(&st, 0, 0);
	for (k = 0; k < 1000; k++) {
		v = cruise_gcra_reserve(&st, T0, &l);
		assert_true(v.admit);
		assert_int_equal(v.wait_ns, k * interval);
	}
	state_init(&st, CRUISE_U64_MAX, 0);
	v = cruise_gcra_reserve(&st, 0, &l);
	assert_true(v.admit);
	assert_int_equal(v.wait_ns, CRUISE_U64_MAX);

	/* interval 0: no pacing; always admitted at once, the state is not touched */
	l = limits(0, 0, 0);
	state_init(&st, CRUISE_U64_MAX, 1);
	before = st;
	for (k = 0; k < 100; k++) {
		v = cruise_gcra_reserve(&st, T0 + k, &l);
		assert_true(v.admit);
		assert_int_equal(v.wait_ns, 0);
		assert_int_equal(v.slot_ns, T0 + k);
		assert_false(v.held);
	}
	assert_memory_equal(&st, &before, sizeof(st));
}

static void test_held_flag(void **state)
{
	static const __u64 waits[] = { 0, 1, JIFFY_NS - 1, JIFFY_NS, JIFFY_NS + 1, 2 * JIFFY_NS };
	__u64 interval = 10 * MSEC;
	struct cruise_gcra_limits l = limits(interval, 0, NSEC);
	struct cruise_gcra_state st;
	struct cruise_gcra_verdict v;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(waits) / sizeof(waits[0]); i++) {
		state_init(&st, T0 + waits[i], !(waits[i] > JIFFY_NS));
		v = cruise_gcra_reserve(&st, T0, &l);
		assert_true(v.admit);
		assert_int_equal(v.wait_ns, waits[i]);
		assert_int_equal(v.held, waits[i] > l.hold_min_ns);
		assert_int_equal(st.held_last, (__u32)v.held);
	}
	/* hold_min 0: any wait is held, no wait is not */
	l.hold_min_ns = 0;
	state_init(&st, T0 + 1, 0);
	v = cruise_gcra_reserve(&st, T0, &l);
	assert_true(v.held);
	state_init(&st, T0, 1);
	v = cruise_gcra_reserve(&st, T0, &l);
	assert_int_equal(v.wait_ns, 0);
	assert_false(v.held);
	assert_int_equal(st.held_last, 0);
}

static void test_backlog(void **state)
{
	__u64 interval = 10 * MSEC, burst, k, now;
	struct cruise_gcra_limits l;
	struct cruise_gcra_state st, copy;
	struct cruise_gcra_verdict v;

	(void)state;
	for (burst = 0; burst <= 3; burst++) {
		l = limits(interval, burst, CRUISE_U64_MAX);
		for (k = 0; k <= 8; k++) {
			__u64 tat = T0 + k * interval / 2;
			__u64 allowance = burst * interval;
			__u64 want = tat > allowance + T0 ? tat - allowance - T0 : 0;

			state_init(&st, tat, 0);
			assert_int_equal(cruise_gcra_backlog(&st, T0, &l), want);
			/* the backlog is the wait the next connect would get */
			copy = st;
			v = cruise_gcra_reserve(&copy, T0, &l);
			assert_int_equal(v.wait_ns, want);
		}
	}
	/* tat in the past, or an allowance past tat: 0, no wrap */
	l = limits(interval, 2, NSEC);
	state_init(&st, T0 - 1, 0);
	assert_int_equal(cruise_gcra_backlog(&st, T0, &l), 0);
	state_init(&st, interval, 0);
	assert_int_equal(cruise_gcra_backlog(&st, 0, &l), 0);
	/* a stream of connects: the backlog grows by one interval per connect past the burst */
	l = limits(interval, 2, NSEC);
	state_init(&st, 0, 0);
	for (k = 0; k < 10; k++) {
		now = T0;
		cruise_gcra_reserve(&st, now, &l);
		assert_int_equal(cruise_gcra_backlog(&st, now, &l),
				 k + 1 > 2 ? (k + 1 - 2) * interval : 0);
	}
}

static void test_hold_plan(void **state)
{
	struct cruise_hold_plan p;
	__u64 w, n, linear;

	(void)state;
	/* under the fine wheel level: one stage, the wait rounded up to whole jiffies */
	p = cruise_hold_plan(0, JIFFY_NS, LINEAR);
	assert_int_equal(p.stage_jiffies, 1);
	assert_int_equal(p.stages, 1);
	p = cruise_hold_plan(1, JIFFY_NS, LINEAR);
	assert_int_equal(p.stage_jiffies, 1);
	assert_int_equal(p.stages, 1);
	for (w = 1; w < CRUISE_WHEEL_FINE_JIFFIES; w++) {
		p = cruise_hold_plan(w * JIFFY_NS, JIFFY_NS, LINEAR);
		assert_int_equal(p.stage_jiffies, w);
		assert_int_equal(p.stages, 1);
		p = cruise_hold_plan((w - 1) * JIFFY_NS + 1, JIFFY_NS, LINEAR);
		assert_int_equal(p.stage_jiffies, w);
		assert_int_equal(p.stages, 1);
	}

	/* 63 .. 5 * 62 jiffies: ceil(W / 62) equal stages on the fine level, covering W */
	for (w = CRUISE_WHEEL_FINE_JIFFIES; w <= (LINEAR + 1) * 62; w++) {
		n = (w + 61) / 62;
		p = cruise_hold_plan((w - 1) * JIFFY_NS + 1, JIFFY_NS, LINEAR);
		assert_int_equal(p.stages, n);
		assert_true(p.stage_jiffies < CRUISE_WHEEL_FINE_JIFFIES);
		assert_true((__u64)p.stages * p.stage_jiffies >= w);
		assert_true((__u64)p.stages * p.stage_jiffies - w < n);
		p = cruise_hold_plan(w * JIFFY_NS, JIFFY_NS, LINEAR);
		assert_int_equal(p.stages, n);
		assert_true((__u64)p.stages * p.stage_jiffies >= w);
		assert_true((__u64)p.stages * p.stage_jiffies - w < n);
	}
	p = cruise_hold_plan(63 * JIFFY_NS, JIFFY_NS, LINEAR);
	assert_int_equal(p.stages, 2);
	assert_int_equal(p.stage_jiffies, 32);
	p = cruise_hold_plan(310 * JIFFY_NS, JIFFY_NS, LINEAR);
	assert_int_equal(p.stages, 5);
	assert_int_equal(p.stage_jiffies, 62);

	/* longer than the flat chain: one coarse stage of the whole wait */
	for (w = (LINEAR + 1) * 62 + 1; w < 5000; w++) {
		p = cruise_hold_plan(w * JIFFY_NS, JIFFY_NS, LINEAR);
		assert_int_equal(p.stages, 1);
		assert_int_equal(p.stage_jiffies, w);
	}
	/* a wait beyond 2^32 jiffies clamps instead of wrapping */
	p = cruise_hold_plan(CRUISE_U64_MAX, JIFFY_NS, LINEAR);
	assert_int_equal(p.stages, 1);
	assert_int_equal(p.stage_jiffies, 0xffffffffU);

	/* linear 0: no flat retransmit, never a chain */
	for (w = 1; w < 2000; w++) {
		p = cruise_hold_plan(w * JIFFY_NS, JIFFY_NS, 0);
		assert_int_equal(p.stages, 1);
		assert_int_equal(p.stage_jiffies, w);
	}
	/* a larger linear allows longer chains, never more than linear + 1 stages */
	for (linear = 1; linear <= 10; linear++) {
		for (w = 1; w < 1000; w++) {
			p = cruise_hold_plan(w * JIFFY_NS, JIFFY_NS, (__u32)linear);
			if (w < CRUISE_WHEEL_FINE_JIFFIES || w > (linear + 1) * 62) {
				assert_int_equal(p.stages, 1);
				assert_int_equal(p.stage_jiffies, w);
			} else {
				assert_int_equal(p.stages, (w + 61) / 62);
				assert_true(p.stages <= linear + 1);
				assert_true(p.stage_jiffies < CRUISE_WHEEL_FINE_JIFFIES);
			}
		}
	}
}

static void test_syn_give_up(void **state)
{
	(void)state;
	/* stock: 1 s for the SYN and 4 flat retransmits, then 2, 4, 8, 16, 32, 64 s */
	assert_int_equal(cruise_syn_give_up(HZ, SYN_RETRIES + LINEAR, LINEAR, RTO_MAX),
			 (5 + 2 + 4 + 8 + 16 + 32 + 64) * HZ);
	/* rto_max 8 s caps the 16, 32 and 64 s timeouts */
	assert_int_equal(cruise_syn_give_up(HZ, 10, 4, 8 * HZ), (5 + 2 + 4 + 8 * 4) * HZ);
	/* 120 s caps from the 128 s timeout on, and stays capped */
	assert_int_equal(cruise_syn_give_up(HZ, 14, 4, RTO_MAX),
			 (5 + 2 + 4 + 8 + 16 + 32 + 64) * HZ + 4 * RTO_MAX);
	/* linear 0 is the kernel's tcp_model_timeout(): ((2 << n) - 1) * base, then rto_max steps */
	assert_int_equal(cruise_syn_give_up(HZ, 6, 0, RTO_MAX), ((2 << 6) - 1) * HZ);
	assert_int_equal(cruise_syn_give_up(HZ, 8, 0, RTO_MAX), ((2 << 6) - 1) * HZ + 2 * RTO_MAX);
	/* one transmission: one timeout; a base above rto_max is capped */
	assert_int_equal(cruise_syn_give_up(HZ, 0, LINEAR, RTO_MAX), HZ);
	assert_int_equal(cruise_syn_give_up(2 * RTO_MAX, 3, LINEAR, RTO_MAX), 4 * RTO_MAX);
}

/* Check cruise_hold_syncnt's promises for one plan. */
static void check_syncnt(const struct cruise_hold_plan *p, __u32 retries, __u32 linear, __u64 hz)
{
	__u64 rto_max = CRUISE_TCP_RTO_MAX_SEC * hz;
	__u64 unheld = cruise_syn_give_up(hz, retries + linear, linear, rto_max);
	__u64 budget = unheld + (__u64)p->stages * p->stage_jiffies;
	__u32 syncnt = cruise_hold_syncnt(p, retries, linear, hz, hz);

	assert_in_range(syncnt, 1, 127);
	/* a held connect to a dead database gives up no later than unheld plus the hold */
	if (syncnt > 1)
		assert_true(cruise_syn_give_up(p->stage_jiffies, syncnt + linear, linear, rto_max) <=
			    budget);
	/* and no earlier than needed: one more retransmit would overrun */
	if (syncnt > 1 && syncnt < 127)
		assert_true(cruise_syn_give_up(p->stage_jiffies, syncnt + linear + 1, linear,
					       rto_max) > budget);
	/* the released SYN (retransmit number stages) is sent when the budget allows it */
	if (cruise_syn_give_up(p->stage_jiffies, p->stages, linear, rto_max) <= budget)
		assert_true(syncnt + linear >= p->stages);
}

static void test_hold_syncnt(void **state)
{
	static const __u64 hzs[] = { 100, 250, 300, 1000 };
	static const __u32 stage_jiffies[] = { 0, 1, 7, 62, 250, 1000, 30000, 0xffffffffU };
	struct cruise_hold_plan p = { .stage_jiffies = 62, .stages = 5 };
	__u32 retries, linear, s;
	size_t h, i;
	__u64 w;

	(void)state;
	/*
	 * Stock, 5 stages of 62 jiffies: budget 32750 + 310. Held timeouts: 5 * 62, then 124, 248,
	 * ... 15872 (retransmit 12) sum to 31930; retransmit 13 adds 30000. So 12 retransmits,
	 * TCP_SYNCNT 12 - 4.
	 */
	assert_int_equal(cruise_hold_syncnt(&p, SYN_RETRIES, LINEAR, HZ, HZ), 8);
	/* a "hold" of one stage at the unheld base changes nothing */
	p.stage_jiffies = HZ;
	p.stages = 1;
	for (retries = 1; retries <= 15; retries++)
		assert_int_equal(cruise_hold_syncnt(&p, retries, LINEAR, HZ, HZ), retries);

	/* plans as the sockops hook makes them, over waits up to 40 s */
	for (h = 0; h < sizeof(hzs) / sizeof(hzs[0]); h++) {
		for (linear = 0; linear <= 6; linear++) {
			for (retries = 1; retries <= 15; retries++) {
				for (w = 0; w < 40 * hzs[h]; w += 1 + w / 16) {
					p = cruise_hold_plan(w * (NSEC / hzs[h]), NSEC / hzs[h],
							     linear);
					check_syncnt(&p, retries, linear, hzs[h]);
					/* such plans always send the released SYN */
					assert_true(cruise_hold_syncnt(&p, retries, linear, hzs[h],
								       hzs[h]) + linear >=
						    p.stages);
				}
			}
		}
	}
	/* arbitrary plans, including ones no wait produces: still 1..127 and within budget */
	for (i = 0; i < sizeof(stage_jiffies) / sizeof(stage_jiffies[0]); i++) {
		for (s = 0; s <= 12; s++) {
			for (linear = 0; linear <= 6; linear++) {
				p.stage_jiffies = stage_jiffies[i];
				p.stages = s;
				check_syncnt(&p, SYN_RETRIES, linear, HZ);
				check_syncnt(&p, 1, linear, HZ);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest gcra[] = {
		cmocka_unit_test(test_steady_rate),
		cmocka_unit_test(test_closed_loop_credit),
		cmocka_unit_test(test_closed_loop_no_credit),
		cmocka_unit_test(test_burst),
		cmocka_unit_test(test_credit_only_after_hold),
		cmocka_unit_test(test_max_wait_refusal),
		cmocka_unit_test(test_rate_change),
		cmocka_unit_test(test_extreme_rates),
		cmocka_unit_test(test_clock_edges),
		cmocka_unit_test(test_held_flag),
		cmocka_unit_test(test_backlog),
		cmocka_unit_test(test_hold_plan),
		cmocka_unit_test(test_syn_give_up),
		cmocka_unit_test(test_hold_syncnt),
	};

	return cmocka_run_group_tests(gcra, NULL, NULL);
}
