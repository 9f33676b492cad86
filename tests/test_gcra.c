// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the pacing math (cruise_gcra.h) and of the hold planning (cruise_hold.h), driven by
 * a fake clock: "now" is a u64 the tests advance. Expected values come from the rate and interval
 * (docs/design.md sections 2 and 3), never from a run that merely passed.
 *
 * Over 600 lines: the pure pacing and hold math case by case, with a fake clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "cruise_gcra.h"
#include "cruise_hold.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NSEC	      CRUISE_NSEC_PER_SEC
#define MSEC	      (NSEC / 1000)
#define HZ	      250
#define JIFFY_NS      (NSEC / HZ) /* 4 ms, as on our machines */
#define LINEAR	      4		  /* stock tcp_syn_linear_timeouts */
#define SYN_RETRIES   6		  /* stock tcp_syn_retries */
#define RTO_MAX	      (CRUISE_TCP_RTO_MAX_SEC * HZ)
/* the fake clock starts far from 0, so that a fresh state (tat 0) is a long idle */
#define T0 (1000 * NSEC)

/* Limits as the connect hook builds them (bpf/gcra.bpf.h): every wait is held. */
static struct cruise_gcra_limits limits(__u64 interval_ns, __u64 burst, __u64 max_wait_ns)
{
	struct cruise_gcra_limits l = {
		.interval_ns = interval_ns,
		.burst = burst,
		.max_wait_ns = max_wait_ns,
		.credit_ns = cruise_gcra_credit(interval_ns, JIFFY_NS),
		.hold_min_ns = 0,
	};

	return l;
}

/* A state with known padding, so that byte-for-byte comparisons mean something. */
static void state_init(struct cruise_gcra_state *st, __u64 tat_ns, __u16 held_last)
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
 * the timer wheel fires up to a jiffy after that (cruise_hold.h), so (0, 2 jiffies]. The
 * prototype's 157/s at 200/s without credit (docs/design.md section 3) means its SYNs left close to
 * two jiffies late.
 */
enum lateness {
	LATE_UP_TO_2J, /* J/4 .. 2J in eight steps */
	LATE_1J_TO_2J, /* 5J/4 .. 2J in four steps */
	LATE_2J,       /* always two jiffies: the prototype's measurement */
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

#define MAX_SLOTS 20000

/*
 * Workers in a closed loop for 10 s, burst 0: a worker connects; a held connect's SYN leaves at its
 * slot plus the lateness, an unheld one's at once; the worker connects again as soon as its SYN
 * has left. The worker due first goes next. Returns the number of SYNs that left within the 10 s;
 * all the slots go to slots[] when given.
 */
static __u64 closed_loop(__u64 interval, __u64 credit_ns, enum lateness kind, unsigned int workers,
			 __u64 *slots)
{
	struct cruise_gcra_limits l = limits(interval, 0, 10 * NSEC);
	__u64 due[16], end = T0 + 10 * NSEC, n = 0, sent = 0, held = 0;
	struct cruise_gcra_state st;
	unsigned int w, first;

	assert_true(workers <= ARRAY_SIZE(due));
	l.credit_ns = credit_ns;
	state_init(&st, 0, 0);
	for (w = 0; w < workers; w++)
		due[w] = T0;
	for (;;) {
		struct cruise_gcra_verdict v;

		for (first = 0, w = 1; w < workers; w++)
			if (due[w] < due[first])
				first = w;
		if (due[first] >= end)
			break;
		v = cruise_gcra_reserve(&st, due[first], &l);
		assert_true(v.admit);
		if (slots) {
			assert_true(n < MAX_SLOTS);
			slots[n] = v.slot_ns;
		}
		n++;
		if (v.held) {
			__u64 late = lateness(kind, held++);

			assert_true(late > 0 && late <= 2 * JIFFY_NS);
			due[first] = v.slot_ns + late;
		}
		if (due[first] < end)
			sent++;
	}
	/*
	 * The loop must really be exercising holds, or it shows nothing about the credit: after a
	 * held connect, at most the credit's worth of slots (plus the one at now) go at once.
	 */
	assert_true(held * (credit_ns / interval + 2) >= n);
	return sent;
}

/* Within 0.5% of the configured rate over the 10 s. */
static void assert_rate(__u64 n, __u64 rate)
{
	assert_true(n * 1000 >= 10 * rate * 995);
	assert_true(n * 1000 <= 10 * rate * 1005);
}

static void test_closed_loop_credit(void **state)
{
	static const __u64 rates[] = { 100, 200, 1000 };
	static const enum lateness kinds[] = { LATE_UP_TO_2J, LATE_1J_TO_2J, LATE_2J };
	size_t r, k;

	(void)state;
	for (r = 0; r < ARRAY_SIZE(rates); r++) {
		for (k = 0; k < ARRAY_SIZE(kinds); k++) {
			__u64 interval = NSEC / rates[r];
			__u64 credit = cruise_gcra_credit(interval, JIFFY_NS);

			assert_rate(closed_loop(interval, credit, kinds[k], 1, NULL), rates[r]);
			assert_rate(closed_loop(interval, credit, kinds[k], 8, NULL), rates[r]);
		}
	}
}

/* Without the credit, the lateness restarts the schedule from now: the rate is lost. */
static void test_closed_loop_no_credit(void **state)
{
	__u64 interval = NSEC / 200, want = 10 * 200;

	(void)state;
	assert_true(closed_loop(interval, 0, LATE_1J_TO_2J, 1, NULL) * 10 < want * 9);
	assert_true(closed_loop(interval, 0, LATE_2J, 1, NULL) * 10 < want * 9);
}

static void test_burst(void **state)
{
	static const __u64 bursts[] = { 0, 1, 5, 20 };
	__u64 interval = NSEC / 10;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bursts); i++) {
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
		assert_true(v.held);
		v = cruise_gcra_reserve(&st, T0, &l);
		assert_int_equal(v.wait_ns, 2 * interval);
	}
}

/* Connects at the same instant now that go at once. */
static __u64 immediate_admits(struct cruise_gcra_state *st, __u64 now,
			      const struct cruise_gcra_limits *l)
{
	__u64 n = 0;

	while (cruise_gcra_reserve(st, now, l).wait_ns == 0)
		assert_true(++n < 100000);
	return n;
}

/* GCRA conformance: slots j > i are at least (j - i - burst) intervals apart, less slack. */
static void check_conforms(const __u64 *slots, __u64 n, __u64 interval, __u64 burst, __u64 slack)
{
	__u64 i, j;

	for (i = 0; i < n; i++) {
		for (j = i + burst + 1; j < n; j++) {
			assert_true(slots[j] >= slots[i]);
			assert_true(slots[j] - slots[i] + slack >= (j - i - burst) * interval);
		}
	}
}

static __u64 slots[MAX_SLOTS];

static void test_credit_only_after_hold(void **state)
{
	static const __u64 rates[] = { 10, 200, 1000, 10000 };
	struct cruise_gcra_limits l;
	struct cruise_gcra_state st;
	__u64 tat = T0, interval, credit_max, n;
	size_t r;

	(void)state;
	for (r = 0; r < ARRAY_SIZE(rates); r++) {
		interval = NSEC / rates[r];
		l = limits(interval, 0, NSEC);
		credit_max = CRUISE_CREDIT_JIFFIES * JIFFY_NS;
		assert_int_equal(l.credit_ns, cruise_max(interval, credit_max));

		/* held last, but idle for longer than the credit: one immediate admit, no extra */
		state_init(&st, tat, 1);
		assert_int_equal(immediate_admits(&st, tat + l.credit_ns + 1, &l), 1);
		assert_int_equal(st.tat_ns, tat + l.credit_ns + 1 + 2 * interval);

		/* not held last: even a moment past tat restarts the schedule from now */
		state_init(&st, tat, 0);
		assert_int_equal(immediate_admits(&st, tat + 1, &l), 1);
		assert_int_equal(st.tat_ns, tat + 1 + 2 * interval);

		/*
		 * Held last, credit past tat: the schedule goes on from tat, so the slots between
		 * tat and now go at once, at most max(1, CRUISE_CREDIT_JIFFIES x rate) above burst.
		 */
		state_init(&st, tat, 1);
		n = immediate_admits(&st, tat + l.credit_ns, &l);
		assert_int_equal(n, l.credit_ns / interval + 1);
		assert_true(n - 1 <= cruise_max(1, credit_max / interval));
		/* and the schedule continued from tat: nothing lost, nothing gained */
		assert_int_equal(st.tat_ns, tat + (n + 1) * interval);
	}

	/*
	 * Eight workers and every kind of lateness: whatever the credit admits, any run of slots
	 * conforms to the rate up to the credit (slot <= tat - T + credit, cruise_gcra.h).
	 */
	interval = NSEC / 200;
	n = closed_loop(interval, cruise_gcra_credit(interval, JIFFY_NS), LATE_UP_TO_2J, 8, slots);
	check_conforms(slots, n, interval, 0, cruise_gcra_credit(interval, JIFFY_NS));
}

static void test_max_wait_refusal(void **state)
{
	__u64 interval = 10 * MSEC, max_wait = 25 * MSEC;
	struct cruise_gcra_limits l = limits(interval, 0, max_wait);
	struct cruise_gcra_state st, before, a, b;
	struct cruise_gcra_verdict v, w;
	__u64 now, k, n = 0, refused = 0;

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
	 * Refusals consume no budget: state a sees a stream with refusals, state b only the
	 * requests that a admitted; both give the same slots and end in the same state.
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
		/* and the stream is paced: slots exactly interval apart from the first arrival */
		assert_int_equal(v.slot_ns, T0 + n * interval);
		n++;
	}
	assert_true(refused > 0);
}

static void test_rate_change(void **state)
{
	__u64 slow = NSEC / 10, fast = NSEC / 100, max_wait = 300 * MSEC;
	struct cruise_gcra_limits l = limits(slow, 0, 10 * NSEC);
	struct cruise_gcra_state st;
	struct cruise_gcra_verdict v;
	__u64 n = 0, k, now, last = T0;

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
		assert_true(n < MAX_SLOTS);
		slots[n++] = v.slot_ns;
	}
	/* the first new slot is the old tat; then exactly the new interval */
	assert_int_equal(slots[0], T0 + 5 * fast);
	for (k = 1; k < n; k++)
		assert_int_equal(slots[k] - slots[k - 1], slow);
	assert_int_equal(n, (last + max_wait - slots[0]) / slow + 1);
	check_conforms(slots, n, slow, 0, 0);

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
			assert_true(n < MAX_SLOTS);
			slots[n++] = v.slot_ns;
		}
	}
	assert_true(n > 5);
	check_conforms(slots, n, slow, 4, 0);
}

/* What the connect program does: retune the state to the current limits, then reserve. */
static struct cruise_gcra_verdict decide(struct cruise_gcra_state *st, __u64 now,
					 const struct cruise_gcra_limits *l)
{
	cruise_gcra_retune(st, now, l);
	return cruise_gcra_reserve(st, now, l);
}

/* cruise_gcra_retune: a rate change keeps the number of queued connections. */
static void test_retune(void **state)
{
	__u64 slow = NSEC / 10, fast = NSEC / 100, max_wait = 2 * NSEC, k, at_once = 0;
	struct cruise_gcra_limits l = limits(fast, 4, max_wait);
	struct cruise_gcra_state st;
	struct cruise_gcra_verdict v;

	(void)state;
	/* the first reservation only records the interval */
	state_init(&st, 0, 0);
	assert_true(cruise_gcra_retune(&st, T0, &l));
	assert_int_equal(st.interval_ns, fast);
	assert_int_equal(st.tat_ns, 0);
	assert_false(cruise_gcra_retune(&st, T0, &l));

	/* 100/s burst 4: 5 at once, then a drop to 10/s at the same instant admits none at once */
	for (k = 0; k < 10; k++)
		at_once += decide(&st, T0, &l).wait_ns == 0;
	assert_int_equal(at_once, 5);
	l = limits(slow, 4, max_wait);
	for (k = 0; k < 10; k++) {
		v = decide(&st, T0, &l);
		assert_true(!v.admit || v.wait_ns > 0);
	}
	/* 10 queued at 100/s (tat T0 + 100 ms) are 10 queued at 10/s: tat T0 + 1 s, before the
	 * connects just made at 10/s */
	state_init(&st, 0, 0);
	l = limits(fast, 0, max_wait);
	for (k = 0; k < 10; k++)
		decide(&st, T0, &l);
	assert_int_equal(st.tat_ns, T0 + 10 * fast);
	l = limits(slow, 0, max_wait);
	assert_true(cruise_gcra_retune(&st, T0, &l));
	assert_int_equal(st.tat_ns, T0 + 10 * slow);
	/* a fraction of an interval is rescaled too: 15 ms at 100/s is 150 ms at 10/s */
	state_init(&st, T0 + 15 * MSEC, 0);
	st.interval_ns = fast;
	cruise_gcra_retune(&st, T0, &l);
	assert_int_equal(st.tat_ns, T0 + 150 * MSEC);

	/* a rise keeps the number queued too: 5 queued at 10/s are 5 queued at 100/s */
	state_init(&st, T0 + 500 * MSEC, 0);
	st.interval_ns = slow;
	l = limits(fast, 0, max_wait);
	assert_true(cruise_gcra_retune(&st, T0, &l));
	assert_int_equal(st.tat_ns, T0 + 5 * fast);
	/* a share of nearly nothing (one an hour) that grows: about one interval of the new rate
	 * to wait, not an hour */
	state_init(&st, T0 + 3600 * NSEC - 5 * MSEC, 0);
	st.interval_ns = 3600 * NSEC;
	assert_true(cruise_gcra_retune(&st, T0, &l));
	assert_true(st.tat_ns > T0 + fast - MSEC && st.tat_ns <= T0 + fast);
	/* three admitted at once by a burst of 2 at one per 5 s (tat 15 s ahead), then 20/s: the
	 * next slot is 3 intervals of 50 ms ahead less the burst, not 10 s */
	state_init(&st, T0 + 15 * NSEC, 0);
	st.interval_ns = 5 * NSEC;
	l = limits(NSEC / 20, 2, max_wait);
	assert_int_equal(decide(&st, T0, &l).wait_ns, 50 * MSEC);
	/* no backlog: nothing to rescale */
	state_init(&st, T0 - 5 * MSEC, 0);
	st.interval_ns = fast;
	l = limits(slow, 0, max_wait);
	cruise_gcra_retune(&st, T0, &l);
	assert_int_equal(st.tat_ns, T0 - 5 * MSEC);

	/* huge values saturate instead of wrapping */
	state_init(&st, CRUISE_U64_MAX - 1, 0);
	st.interval_ns = 1;
	l = limits(CRUISE_U64_MAX / 2, 0, max_wait);
	cruise_gcra_retune(&st, T0, &l);
	assert_true(st.tat_ns >= CRUISE_U64_MAX - 1);
}

static void test_extreme_rates(void **state)
{
	(void)state;
	/* 1/min over an hour */
	check_steady(60 * NSEC, 3600 * NSEC, 300 * NSEC);
	/* 100k/s over a second */
	assert_int_equal(NSEC / 100000, 10000);
	check_steady(NSEC / 100000, NSEC, MSEC);
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
	k = (CRUISE_U64_MAX >> 1) / 3;
	assert_int_equal(cruise_sat_mul(3, k), k * 3);
	assert_int_equal(cruise_sat_mul(3, k + 1), CRUISE_U64_MAX);
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
	static const __u64 hold_mins[] = { 0, JIFFY_NS };
	__u64 interval = 10 * MSEC;
	struct cruise_gcra_limits l = limits(interval, 0, NSEC);
	struct cruise_gcra_state st;
	struct cruise_gcra_verdict v;
	size_t i, h;

	(void)state;
	for (h = 0; h < ARRAY_SIZE(hold_mins); h++) {
		l.hold_min_ns = hold_mins[h];
		for (i = 0; i < ARRAY_SIZE(waits); i++) {
			/* held_last starts opposite to what the verdict must set */
			state_init(&st, T0 + waits[i], !(waits[i] > hold_mins[h]));
			v = cruise_gcra_reserve(&st, T0, &l);
			assert_true(v.admit);
			assert_int_equal(v.wait_ns, waits[i]);
			assert_int_equal(v.held, waits[i] > hold_mins[h]);
			assert_int_equal(st.held_last, (__u32)v.held);
		}
	}
	/* catching up after a hold: not held itself, but the medium is still catching up */
	l.hold_min_ns = 0;
	state_init(&st, T0, 1);
	v = cruise_gcra_reserve(&st, T0 + 1, &l);
	assert_int_equal(v.wait_ns, 0);
	assert_false(v.held);
	assert_int_equal(st.held_last, 1);
	assert_int_equal(st.tat_ns, T0 + interval);
}

static void test_backlog(void **state)
{
	__u64 interval = 10 * MSEC, burst, k;
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
	state_init(&st, 0, 0);
	for (k = 1; k <= 10; k++) {
		cruise_gcra_reserve(&st, T0, &l);
		assert_int_equal(cruise_gcra_backlog(&st, T0, &l), k > 2 ? (k - 2) * interval : 0);
	}
}

/*
 * A plan, as cruise_hold.h times it: an answer of R jiffies fires R + 1 jiffies after it is armed,
 * the first one up to a jiffy early (the connect's phase in its jiffy). So stages of R + 1 must add
 * up to at least ceil(wait) + 1 jiffies, never early; a chain's answers stay under the fine wheel
 * level; there are at most linear + 1 of them (and at most 8); and of the stage counts that fit,
 * the one that adds up closest to the wait wins (the fewest stages on a tie).
 */
static void check_plan(__u64 wait_ns, __u32 linear)
{
	struct cruise_hold_plan p = cruise_hold_plan(wait_ns, JIFFY_NS, linear);
	__u64 w = (wait_ns + JIFFY_NS - 1) / JIFFY_NS, target = w + 1, n, s, lo, hi;
	__u64 best_n = 0, best_excess = CRUISE_U64_MAX;

	hi = (__u64)linear + 1 < 8 ? (__u64)linear + 1 : 8;
	lo = (target + CRUISE_WHEEL_FINE_JIFFIES - 1) / CRUISE_WHEEL_FINE_JIFFIES;
	for (n = lo; n <= hi; n++) {
		s = (target + n - 1) / n;
		if (n * s - target < best_excess) {
			best_excess = n * s - target;
			best_n = n;
		}
	}
	if (target <= CRUISE_WHEEL_FINE_JIFFIES || !best_n) {
		/* one stage of the whole wait: fine if it is short, coarse if no chain fits */
		assert_int_equal(p.stages, 1);
		assert_int_equal(p.stage_jiffies, w > 0xffffffffULL ? 0xffffffffULL : w);
		return;
	}
	assert_int_equal(p.stages, best_n);
	assert_true(p.stage_jiffies < CRUISE_WHEEL_FINE_JIFFIES);
	assert_true((__u64)p.stages * (p.stage_jiffies + 1) >= target);
	assert_int_equal((__u64)p.stages * (p.stage_jiffies + 1) - target, best_excess);
	/* equal stages cannot miss the target by a whole stage count */
	assert_true(best_excess < p.stages);
}

static void test_hold_plan(void **state)
{
	static const struct {
		__u64 w;
		__u32 stage_jiffies, stages;
	} cases[] = {
		/* ceil(wait) + 1 <= 63: one fine stage answering the wait in jiffies */
		{ 1, 1, 1 },
		{ 62, 62, 1 },
		/* 64 = 2 x 32: two stages answering 31 */
		{ 63, 31, 2 },
		/* 101: 2 x 51 (1 over) ties with 3 x 34 (1 over); fewer stages win */
		{ 100, 50, 2 },
		/* 250: 4 x 63 is 2 over, 5 x 50 is exact */
		{ 249, 49, 5 },
		/* 315 = 5 x 63: the longest chain with stock linear 4 */
		{ 314, 62, 5 },
		/* 316 needs 6 fine stages: one coarse stage */
		{ 315, 315, 1 },
	};
	struct cruise_hold_plan p;
	__u64 w;
	__u32 linear;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		p = cruise_hold_plan(cases[i].w * JIFFY_NS, JIFFY_NS, LINEAR);
		assert_int_equal(p.stage_jiffies, cases[i].stage_jiffies);
		assert_int_equal(p.stages, cases[i].stages);
		/* a wait not on a jiffy is rounded up */
		p = cruise_hold_plan((cases[i].w - 1) * JIFFY_NS + 1, JIFFY_NS, LINEAR);
		assert_int_equal(p.stage_jiffies, cases[i].stage_jiffies);
		assert_int_equal(p.stages, cases[i].stages);
	}
	/* no wait, or 1 ns: one stage, never more than a jiffy */
	p = cruise_hold_plan(0, JIFFY_NS, LINEAR);
	assert_int_equal(p.stages, 1);
	assert_true(p.stage_jiffies <= 1);
	p = cruise_hold_plan(1, JIFFY_NS, LINEAR);
	assert_int_equal(p.stages, 1);
	assert_int_equal(p.stage_jiffies, 1);

	/* every wait to 20 s, on and off the jiffy, for linear 0 (never a chain) to 10 */
	for (linear = 0; linear <= 10; linear++) {
		for (w = 0; w <= 5000; w++) {
			check_plan(w * JIFFY_NS, linear);
			check_plan(w * JIFFY_NS + 1, linear);
			check_plan(w * JIFFY_NS + JIFFY_NS / 2, linear);
		}
		p = cruise_hold_plan(1000 * JIFFY_NS, JIFFY_NS, linear);
		assert_int_equal(p.stages, 1);
	}
	p = cruise_hold_plan(63 * JIFFY_NS, JIFFY_NS, 0);
	assert_int_equal(p.stages, 1);
	assert_int_equal(p.stage_jiffies, 63);
	/* 8 stages at most, even if linear allows more: 504 = 8 x 63 still chains, 505 does not */
	p = cruise_hold_plan(503 * JIFFY_NS, JIFFY_NS, 10);
	assert_int_equal(p.stages, 8);
	assert_int_equal(p.stage_jiffies, 62);
	p = cruise_hold_plan(504 * JIFFY_NS, JIFFY_NS, 10);
	assert_int_equal(p.stages, 1);

	/* a wait beyond 2^32 jiffies clamps instead of wrapping */
	p = cruise_hold_plan(CRUISE_U64_MAX, JIFFY_NS, LINEAR);
	assert_int_equal(p.stages, 1);
	assert_int_equal(p.stage_jiffies, 0xffffffffU);
}

/*
 * The SYN clock one fire at a time, as measured on our kernels (cruise_hold.h): a timeout answered
 * R fires R + 1 jiffies after it is armed, flat for linear + 1 fires, then doubling up to rto_max;
 * at fire k the socket gives up after TCP_SYNCNT + linear retransmits, or once k >= 2 and the time
 * since the first SYN reaches the kernel's tcp_model_timeout().
 */
static __u64 ref_model(__u64 r, __u32 n, __u64 rto_max)
{
	__u32 thresh = 0;

	while (r <= rto_max && thresh < 62 && (r << (thresh + 1)) <= rto_max)
		thresh++; /* ilog2(rto_max / r) */
	if (n <= thresh)
		return ((2ULL << n) - 1) * r;
	return ((2ULL << thresh) - 1) * r + (n - thresh) * rto_max;
}

static __u64 ref_fire(__u64 r, __u32 k, __u32 linear, __u64 rto_max)
{
	__u64 t = 0, rto = r > rto_max ? rto_max : r;

	for (__u32 i = 1; i <= k; i++) {
		t += rto + 1;
		if (i >= linear + 1)
			rto = rto * 2 < rto_max ? rto * 2 : rto_max;
	}
	return t;
}

static __u64 ref_give_up(__u64 r, __u32 n, __u32 linear, __u64 rto_max)
{
	for (__u32 k = 1;; k++) {
		__u64 t = ref_fire(r, k, linear, rto_max);

		if (k - 1 >= n + linear || (k >= 2 && t >= ref_model(r, n, rto_max)))
			return t;
	}
}

/* SYN timeouts: tiny, the chain's, around the unheld base, around rto_max / 2 and rto_max */
static const __u64 syn_bases[] = { 1,	2,   3,	   7,	  37,	 59,	62,    100,   249,
				   250, 251, 1000, 14999, 15000, 15001, 29999, 30000, 30001 };

static void test_syn_clock(void **state)
{
	__u32 linear, k, n;
	size_t b;
	__u64 x;
	int want;

	(void)state;
	/* stock settings: 1 s base, 4 linear, tcp_syn_retries 6 gives up at 131 s (both rules) */
	assert_int_equal(cruise_syn_give_up(HZ, SYN_RETRIES, LINEAR, RTO_MAX),
			 ref_fire(HZ, 11, LINEAR, RTO_MAX));
	assert_true(cruise_syn_give_up(HZ, SYN_RETRIES, LINEAR, RTO_MAX) / HZ == 131);
	/* tcp_syn_retries 1 gives up at 3 s by the time rule (measured: 3.05 s), not at 7 s */
	assert_int_equal(cruise_syn_give_up(HZ, 1, LINEAR, RTO_MAX) / HZ, 3);
	/* TCP_SYNCNT 3 at 19 s by the count rule (measured: 19.37 s) */
	assert_int_equal(cruise_syn_give_up(HZ, 3, LINEAR, RTO_MAX) / HZ, 19);
	/* the kernel's tcp_model_timeout: 1, 3, 7 ... then rto_max steps */
	assert_int_equal(cruise_syn_model_timeout(HZ, 6, RTO_MAX), 127 * HZ);
	assert_int_equal(cruise_syn_model_timeout(HZ, 8, RTO_MAX), 127 * HZ + 2 * RTO_MAX);

	for (b = 0; b < ARRAY_SIZE(syn_bases); b++) {
		__u64 r = syn_bases[b];

		for (linear = 0; linear <= 6; linear++) {
			for (k = 0; k <= 40; k++)
				assert_int_equal(cruise_syn_fire_time(r, k, linear, RTO_MAX),
						 ref_fire(r, k, linear, RTO_MAX));
			for (x = 0; x < ref_fire(r, 30, linear, RTO_MAX); x += r / 3 + 1) {
				k = 0;
				while (ref_fire(r, k + 1, linear, RTO_MAX) <= x)
					k++;
				assert_int_equal(cruise_syn_fires_within(r, x, linear, RTO_MAX), k);
			}
			for (n = 0; n <= 30; n++)
				assert_int_equal(cruise_syn_give_up(r, n, linear, RTO_MAX),
						 ref_give_up(r, n, linear, RTO_MAX));
		}
		for (n = 0; n <= 40; n++)
			assert_int_equal(cruise_syn_model_timeout(r, n, RTO_MAX),
					 ref_model(r, n, RTO_MAX));
		for (x = 0; x < ref_model(r, 25, RTO_MAX); x += r / 2 + 1) {
			want = -1;
			while (want < 200 && ref_model(r, want + 1, RTO_MAX) <= x)
				want++;
			assert_int_equal(cruise_syn_model_max_n(r, x, RTO_MAX), want);
		}
	}
}

/*
 * cruise_hold_syncnt's promises, checked on the fire-by-fire clock: a held connect to a dead
 * database gives up after its release (the last stage's retransmit is sent); no later than an
 * unheld one would plus the hold whenever some TCP_SYNCNT allows both; and not needlessly early:
 * one more retransmit would break the bound. Some TCP_SYNCNT allows both for every hold up to 2.5
 * unheld give-up times with the stock 4 flat timeouts (cruise_hold_plan_bounded): with the stock
 * tcp_syn_retries (131 s), for every max_wait cruise accepts (120 s).
 */
static void check_syncnt(__u64 wait_ns, __u32 retries, __u32 linear)
{
	struct cruise_hold_plan p =
		cruise_hold_plan_bounded(wait_ns, JIFFY_NS, linear, retries, HZ);
	__u32 n = cruise_hold_syncnt(p.stage_jiffies, p.stages, retries, linear, HZ), least = 1;
	__u64 unheld = ref_give_up(HZ, retries, linear, RTO_MAX);
	__u64 budget = unheld + (__u64)p.stages * (p.stage_jiffies + 1);
	__u64 hold = ref_fire(p.stage_jiffies, p.stages, linear, RTO_MAX);
	__u64 held = ref_give_up(p.stage_jiffies, n, linear, RTO_MAX);

	assert_true(n >= 1 && n <= CRUISE_SYNCNT_MAX);
	assert_true(held > hold);
	while (ref_give_up(p.stage_jiffies, least, linear, RTO_MAX) <= hold)
		least++;
	if (linear == LINEAR && hold * 2 <= unheld * 5)
		assert_true(ref_give_up(p.stage_jiffies, least, linear, RTO_MAX) <= budget);
	if (ref_give_up(p.stage_jiffies, least, linear, RTO_MAX) <= budget && held > budget)
		fail_msg("wait %llu ns, retries %u, linear %u: plan %ux%u, TCP_SYNCNT %u: held "
			 "gives up "
			 "at %llu, unheld %llu + hold %u",
			 (unsigned long long)wait_ns, retries, linear, p.stages, p.stage_jiffies, n,
			 (unsigned long long)held, (unsigned long long)unheld,
			 p.stages * (p.stage_jiffies + 1));
	if (n < CRUISE_SYNCNT_MAX && held <= budget &&
	    ref_give_up(p.stage_jiffies, n + 1, linear, RTO_MAX) > held)
		assert_true(ref_give_up(p.stage_jiffies, n + 1, linear, RTO_MAX) > budget);
}

static void test_hold_syncnt(void **state)
{
	__u32 retries, linear;
	__u64 w;

	(void)state;
	/* the dead-destination test's case: tcp_syn_retries 1, 300 ms hold: 2 stages of 37 */
	assert_int_equal(cruise_hold_syncnt(37, 2, 1, LINEAR, HZ), 3);
	for (linear = 0; linear <= 6; linear++)
		for (retries = 1; retries <= 8; retries++)
			for (w = 1; w <= 120 * HZ; w = w * 5 / 4 + 1)
				check_syncnt(w * JIFFY_NS, retries, linear);
	/* stock settings, every wait up to 120 s in 7 ms steps */
	for (w = 0; w <= 120 * NSEC; w += 7 * MSEC)
		check_syncnt(w, SYN_RETRIES, LINEAR);
}

/*
 * A plan answering 0 (the wait was gone by the time sockops planned it) leaves TIMEOUT_INIT alone,
 * so TCP keeps its own 1 s base: the socket runs the unheld clock, and keeps its TCP_SYNCNT.
 */
static void test_hold_syncnt_no_hold(void **state)
{
	__u32 retries, linear;

	(void)state;
	for (linear = 0; linear <= 6; linear++)
		for (retries = 1; retries <= 15; retries++)
			assert_int_equal(cruise_hold_syncnt(0, 1, retries, linear, HZ), retries);
}

/* A long hold splits into linear + 1 stages only when one stage would give up too late. */
static void test_hold_plan_bounded(void **state)
{
	struct cruise_hold_plan p;

	(void)state;
	/* 4 s with the stock 131 s unheld give-up: one coarse stage */
	p = cruise_hold_plan_bounded(4 * NSEC, JIFFY_NS, LINEAR, SYN_RETRIES, HZ);
	assert_int_equal(p.stages, 1);
	assert_int_equal(p.stage_jiffies, 4 * HZ);
	/* 4 s with tcp_syn_retries 1 (3 s): five equal stages covering the hold, never early */
	p = cruise_hold_plan_bounded(4 * NSEC, JIFFY_NS, LINEAR, 1, HZ);
	assert_int_equal(p.stages, LINEAR + 1);
	assert_true((__u64)p.stages * (p.stage_jiffies + 1) >= 4 * HZ + 1);
	assert_true((__u64)p.stages * (p.stage_jiffies + 1) < 4 * HZ + 1 + p.stages);
	/* fine plans are left alone */
	p = cruise_hold_plan_bounded(500 * MSEC, JIFFY_NS, LINEAR, 1, HZ);
	assert_true(p.stage_jiffies < CRUISE_WHEEL_FINE_JIFFIES);
	/* without flat timeouts there are no equal stages: one stage */
	p = cruise_hold_plan_bounded(4 * NSEC, JIFFY_NS, 0, 1, HZ);
	assert_int_equal(p.stages, 1);
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
		cmocka_unit_test(test_retune),
		cmocka_unit_test(test_extreme_rates),
		cmocka_unit_test(test_clock_edges),
		cmocka_unit_test(test_held_flag),
		cmocka_unit_test(test_backlog),
		cmocka_unit_test(test_hold_plan),
		cmocka_unit_test(test_hold_plan_bounded),
		cmocka_unit_test(test_syn_clock),
		cmocka_unit_test(test_hold_syncnt),
		cmocka_unit_test(test_hold_syncnt_no_hold),
	};

	return cmocka_run_group_tests(gcra, NULL, NULL);
}
