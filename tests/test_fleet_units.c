// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The fleet's pure functions (agent/fleet_demand.c) on their own: the demand a node reports
 * (cruise_fleet_want), the limits a fleet medium starts from (cruise_fleet_initial) and the
 * milli-connections/s the script takes (cruise_fleet_milli, cruise_fleet_interval). No Redis, no
 * kernel part: test_fleet runs the same code with three agents and a real store.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "fleet.h"

/* a node pacing at 50/s, measured over 2 s, nothing held back */
static struct cruise_fleet_demand calm(void)
{
	struct cruise_fleet_demand d = {
		.window_ns = 2 * NSEC_PER_SEC,
		.attempts = 100,
		.d_attempts = 5,
		.interval_ns = 20 * NSEC_PER_MSEC,
	};

	return d;
}

/* Held back now: the workers take whatever they are given, so their rate says nothing. */
static void test_want_held_back(void **state)
{
	struct cruise_fleet_demand d;

	(void)state;
	/* refusals past max_wait in the last refresh */
	d = calm();
	d.d_refused = 1;
	assert_int_equal(cruise_fleet_want(&d), CRUISE_FLEET_WANTS_MORE);
	/* ... also before anything is measured */
	d.window_ns = 0;
	assert_int_equal(cruise_fleet_want(&d), CRUISE_FLEET_WANTS_MORE);

	/* a backlog beyond one interval; one interval of it is not */
	d = calm();
	d.backlog_ns = d.interval_ns + 1;
	assert_int_equal(cruise_fleet_want(&d), CRUISE_FLEET_WANTS_MORE);
	d.backlog_ns = d.interval_ns;
	assert_int_equal(cruise_fleet_want(&d), 52700);
	/* no interval in force: not paced, a backlog says nothing */
	d.interval_ns = 0;
	d.backlog_ns = NSEC_PER_SEC;
	assert_int_equal(cruise_fleet_want(&d), 52700);

	/* more than a quarter of the last refresh's connects held; a quarter is not */
	d = calm();
	d.d_attempts = 100;
	d.d_delayed = 26;
	assert_int_equal(cruise_fleet_want(&d), CRUISE_FLEET_WANTS_MORE);
	d.d_delayed = 25;
	assert_int_equal(cruise_fleet_want(&d), 52700);
}

/* Nothing measured yet (the agent just started): the rate in force, in milli. */
static void test_want_no_window(void **state)
{
	struct cruise_fleet_demand d = calm();

	(void)state;
	d.window_ns = 0;
	assert_int_equal(cruise_fleet_want(&d), 50000);
	d.interval_ns = 3 * NSEC_PER_MSEC; /* 333.33/s */
	assert_int_equal(cruise_fleet_want(&d), 333333);
	d.interval_ns = 0;
	assert_int_equal(cruise_fleet_want(&d), 0);
}

/* Otherwise attempts / window, plus 5% and 0.2/s of headroom, in milli-connections/s. */
static void test_want_rate(void **state)
{
	struct cruise_fleet_demand d = calm();

	(void)state;
	/* 100 over 2 s: 50/s, 52.5/s with 5%, 52.7/s with 0.2/s */
	assert_int_equal(cruise_fleet_want(&d), 52700);
	/* idle: the 0.2/s alone, so that it starts */
	d.attempts = 0;
	assert_int_equal(cruise_fleet_want(&d), 200);
	/* 7 over 1.5 s: 4666/s milli, +233, +200 */
	d.attempts = 7;
	d.window_ns = 1500 * NSEC_PER_MSEC;
	assert_int_equal(cruise_fleet_want(&d), 4666 + 233 + 200);
	/* the rate measured, whatever is in force */
	d.interval_ns = 0;
	assert_int_equal(cruise_fleet_want(&d), 4666 + 233 + 200);
	/* 2000 over 2 s: 1000/s */
	d.attempts = 2000;
	d.window_ns = 2 * NSEC_PER_SEC;
	assert_int_equal(cruise_fleet_want(&d), 1000000 + 50000 + 200);
}

static struct cruise_medium pinned(const char *name, __u64 interval_ns, __u64 fallback_ns,
				   __u64 lease_end_ns)
{
	struct cruise_medium v;

	memset(&v, 0, sizeof(v));
	strncpy(v.name, name, sizeof(v.name) - 1);
	v.interval_ns = interval_ns;
	v.fallback_interval_ns = fallback_ns;
	v.lease_end_ns = lease_end_ns;
	return v;
}

/* Before any allocation was seen: the fallback, with the lease ended already (lease_end 1). */
static void test_initial_cold(void **state)
{
	struct cruise_cfg_fleet fc = { .expected_nodes = 10 };
	struct cruise_cfg_medium cm = { .name = "email",
					.interval_ns = 10 * NSEC_PER_MSEC,
					.fleet = true };
	struct cruise_medium other = pinned("pg", 30 * NSEC_PER_MSEC, 80 * NSEC_PER_MSEC, 12345);
	struct cruise_medium unleased = pinned("email", 30 * NSEC_PER_MSEC, 80 * NSEC_PER_MSEC, 0);
	struct cruise_fleet_lease out;

	(void)state;
	/* no fallback_rate: rate / expected_nodes, 100/s over 10 nodes */
	cruise_fleet_initial(&fc, &cm, NULL, &out);
	assert_int_equal(out.interval_ns, 100 * NSEC_PER_MSEC);
	assert_int_equal(out.fallback_interval_ns, 100 * NSEC_PER_MSEC);
	assert_int_equal(out.lease_end_ns, 1);
	/* the entry pinned in the map is another medium's, or was never leased: cold too */
	memset(&out, 0, sizeof(out));
	cruise_fleet_initial(&fc, &cm, &other, &out);
	assert_int_equal(out.interval_ns, 100 * NSEC_PER_MSEC);
	assert_int_equal(out.lease_end_ns, 1);
	memset(&out, 0, sizeof(out));
	cruise_fleet_initial(&fc, &cm, &unleased, &out);
	assert_int_equal(out.interval_ns, 100 * NSEC_PER_MSEC);
	assert_int_equal(out.fallback_interval_ns, 100 * NSEC_PER_MSEC);
	assert_int_equal(out.lease_end_ns, 1);

	/* fallback_rate configured: that */
	cm.fallback_interval_ns = 50 * NSEC_PER_MSEC;
	cruise_fleet_initial(&fc, &cm, NULL, &out);
	assert_int_equal(out.interval_ns, 50 * NSEC_PER_MSEC);
	assert_int_equal(out.fallback_interval_ns, 50 * NSEC_PER_MSEC);
	assert_int_equal(out.lease_end_ns, 1);

	/* no fleet block, or expected_nodes 0: one node, the whole rate */
	cm.fallback_interval_ns = 0;
	cruise_fleet_initial(NULL, &cm, NULL, &out);
	assert_int_equal(out.interval_ns, 10 * NSEC_PER_MSEC);
	assert_int_equal(out.lease_end_ns, 1);
	fc.expected_nodes = 0;
	cruise_fleet_initial(&fc, &cm, NULL, &out);
	assert_int_equal(out.fallback_interval_ns, 10 * NSEC_PER_MSEC);
}

/* A pinned entry of the same name: what was learned is kept, never above the config's rate. */
static void test_initial_pinned(void **state)
{
	struct cruise_cfg_fleet fc = { .expected_nodes = 10 };
	struct cruise_cfg_medium cm = { .name = "email",
					.interval_ns = 10 * NSEC_PER_MSEC,
					.fleet = true };
	struct cruise_medium cur = pinned("email", 30 * NSEC_PER_MSEC, 80 * NSEC_PER_MSEC, 12345);
	struct cruise_fleet_lease out;

	(void)state;
	cruise_fleet_initial(&fc, &cm, &cur, &out);
	assert_int_equal(out.interval_ns, 30 * NSEC_PER_MSEC);
	assert_int_equal(out.fallback_interval_ns, 80 * NSEC_PER_MSEC);
	assert_int_equal(out.lease_end_ns, 12345);

	/* the config's rate lowered below the share and the fallback: the rate caps both */
	cm.interval_ns = 100 * NSEC_PER_MSEC;
	cruise_fleet_initial(&fc, &cm, &cur, &out);
	assert_int_equal(out.interval_ns, 100 * NSEC_PER_MSEC);
	assert_int_equal(out.fallback_interval_ns, 100 * NSEC_PER_MSEC);
	assert_int_equal(out.lease_end_ns, 12345);

	/* a configured fallback_rate replaces the learned fallback; the share stays */
	cm.interval_ns = 10 * NSEC_PER_MSEC;
	cm.fallback_interval_ns = 40 * NSEC_PER_MSEC;
	cruise_fleet_initial(&fc, &cm, &cur, &out);
	assert_int_equal(out.interval_ns, 30 * NSEC_PER_MSEC);
	assert_int_equal(out.fallback_interval_ns, 40 * NSEC_PER_MSEC);
	assert_int_equal(out.lease_end_ns, 12345);

	/* a lease that has ended is kept as it is: the datapath paces at the fallback */
	cur.lease_end_ns = 1;
	cruise_fleet_initial(&fc, &cm, &cur, &out);
	assert_int_equal(out.interval_ns, 30 * NSEC_PER_MSEC);
	assert_int_equal(out.lease_end_ns, 1);
}

/* Rates go to the script in milli-connections/s: the nearest, and back again. */
static void test_milli_interval(void **state)
{
	static const __u64 whole[] = { 2500,
				       8000,
				       20 * NSEC_PER_MSEC,
				       125 * NSEC_PER_MSEC,
				       4 * NSEC_PER_SEC,
				       250 * NSEC_PER_SEC };

	(void)state;
	assert_int_equal(cruise_fleet_milli(NSEC_PER_SEC), 1000);
	assert_int_equal(cruise_fleet_milli(20 * NSEC_PER_MSEC), 50000);
	assert_int_equal(cruise_fleet_milli(3 * NSEC_PER_MSEC), 333333); /* 333333.33 */
	assert_int_equal(cruise_fleet_milli(600000), 1666667);		 /* 1666666.67 */
	assert_int_equal(cruise_fleet_interval(1000), NSEC_PER_SEC);
	assert_int_equal(cruise_fleet_interval(50000), 20 * NSEC_PER_MSEC);
	assert_int_equal(cruise_fleet_interval(333), 3003003003ULL); /* 3003003003.5, down */
	assert_int_equal(cruise_fleet_interval(3), 333333333333ULL);

	/* a share of nothing: one connection an hour, never 0 ("not paced"); and back to nothing */
	assert_int_equal(cruise_fleet_milli(0), 0);
	assert_int_equal(cruise_fleet_interval(0), CRUISE_FLEET_NONE_INTERVAL_NS);
	assert_int_equal(cruise_fleet_milli(CRUISE_FLEET_NONE_INTERVAL_NS), 0);
	/* faster than 1 ns apart: 1 ns, never 0 */
	assert_int_equal(cruise_fleet_interval(1000000000000ULL), 1);
	assert_int_equal(cruise_fleet_interval(UINT64_MAX), 1);

	/* every rate from 0.001/s to 1000/s comes back as it went */
	for (__u64 m = 1; m <= 1000000; m++)
		if (cruise_fleet_milli(cruise_fleet_interval(m)) != m)
			fail_msg("milli %llu came back as %llu", (unsigned long long)m,
				 (unsigned long long)cruise_fleet_milli(cruise_fleet_interval(m)));
	/* ... and so does every interval that is a whole number of milli-connections/s */
	for (__u64 ns = 1000; ns <= 1000 * NSEC_PER_SEC; ns *= 10)
		assert_int_equal(cruise_fleet_interval(cruise_fleet_milli(ns)), ns);
	for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++)
		assert_int_equal(cruise_fleet_interval(cruise_fleet_milli(whole[i])), whole[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_want_held_back), cmocka_unit_test(test_want_no_window),
		cmocka_unit_test(test_want_rate),      cmocka_unit_test(test_initial_cold),
		cmocka_unit_test(test_initial_pinned), cmocka_unit_test(test_milli_interval),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
