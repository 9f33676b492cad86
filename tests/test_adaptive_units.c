// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The adaptive-rate controller (agent/adaptive.c) on its own: the steps and their bounds, the
 * priorities, failed probes, and that independent controllers on one signal converge (AIMD).
 * No probe, no kernel part: test_adaptive runs the same rule in the agent against PostgreSQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>

#include "adaptive.h"

static struct cruise_adapt_medium medium(double rate, double floor, double ceiling, __u32 prio)
{
	struct cruise_adapt_medium m = {
		.rate = rate, .floor = floor, .ceiling = ceiling, .priority = prio
	};

	return m;
}

static const struct cruise_adapt_signal healthy = { .ok = true, .value = 1, .target = 10 };
static const struct cruise_adapt_signal sick = { .ok = true, .value = 100, .target = 10 };

static void step(const struct cruise_adapt_signal *s, struct cruise_adapt_medium *m, unsigned n)
{
	cruise_adapt_round(s, m, n);
	for (unsigned int i = 0; i < n; i++)
		m[i].rate = m[i].next;
}

/* Far over target: at most half a rate a round, down to the floor and no further. */
static void test_down_to_floor(void **state)
{
	struct cruise_adapt_medium m = medium(200, 20, 200, 1);
	static const double want[] = { 100, 50, 25, 20 };

	(void)state;
	for (unsigned int r = 0; r < 4; r++) {
		step(&sick, &m, 1);
		assert_true(fabs(m.rate - want[r]) < 1e-9);
		assert_int_equal(m.decision, CRUISE_ADAPT_DOWN);
		assert_int_equal(m.why, CRUISE_ADAPT_WHY_UNHEALTHY);
	}
	step(&sick, &m, 1);
	assert_true(m.rate == 20);
	assert_int_equal(m.decision, CRUISE_ADAPT_HOLD);
	assert_int_equal(m.why, CRUISE_ADAPT_WHY_FLOOR);
}

/* Healthy: one step of ceiling / CRUISE_ADAPT_STEPS a round, then held at the ceiling. */
static void test_up_to_ceiling(void **state)
{
	struct cruise_adapt_medium m = medium(20, 20, 200, 1);
	unsigned int rounds = 0;

	(void)state;
	while (m.rate < 200 && rounds < 100) {
		double before = m.rate;

		step(&healthy, &m, 1);
		assert_int_equal(m.decision, CRUISE_ADAPT_UP);
		assert_true(m.rate - before <= 200.0 / CRUISE_ADAPT_STEPS + 1e-9);
		rounds++;
	}
	/* (200 - 20) / 10 a round */
	assert_int_equal(rounds, 18);
	step(&healthy, &m, 1);
	assert_int_equal(m.decision, CRUISE_ADAPT_HOLD);
	assert_int_equal(m.why, CRUISE_ADAPT_WHY_CEILING);
	assert_true(m.rate == 200);
}

/* The gradient: x target/value, never under 1/2 nor over 9/10; halve: always 1/2. */
static void test_down_factor_bounds(void **state)
{
	struct cruise_adapt_signal s = { .ok = true, .target = 10 };

	(void)state;
	s.value = 12.5;
	assert_true(fabs(cruise_adapt_down_factor(&s, CRUISE_BACKOFF_GRADIENT) - 0.8) < 1e-12);
	s.value = 10.5; /* barely over: still a tenth off */
	assert_true(cruise_adapt_down_factor(&s, CRUISE_BACKOFF_GRADIENT) == CRUISE_ADAPT_DOWN_MAX);
	s.value = 1e12; /* one wild sample: half at most */
	assert_true(cruise_adapt_down_factor(&s, CRUISE_BACKOFF_GRADIENT) == CRUISE_ADAPT_DOWN_MIN);
	s.value = NAN;
	assert_true(cruise_adapt_down_factor(&s, CRUISE_BACKOFF_GRADIENT) == CRUISE_ADAPT_DOWN_MIN);
	s.value = 12.5;
	assert_true(cruise_adapt_down_factor(&s, CRUISE_BACKOFF_HALVE) == 0.5);
	s.ok = false;
	assert_true(cruise_adapt_down_factor(&s, CRUISE_BACKOFF_GRADIENT) == CRUISE_ADAPT_DOWN_MIN);
}

/* Unhealthy: the lowest priority gives way to its floor before the next one moves. */
static void test_priorities(void **state)
{
	struct cruise_adapt_medium m[3] = { medium(100, 10, 100, 2), medium(100, 10, 100, 1),
					    medium(100, 10, 100, 1) };
	unsigned int r;

	(void)state;
	for (r = 0; r < 10 && m[1].rate > 10; r++) {
		step(&sick, m, 3);
		assert_true(m[0].rate == 100);
		assert_int_equal(m[0].why, CRUISE_ADAPT_WHY_PRIORITY);
		/* equal priorities by the same factor */
		assert_true(m[1].rate == m[2].rate);
	}
	assert_true(m[1].rate == 10 && m[2].rate == 10);
	step(&sick, m, 3);
	assert_true(m[0].rate == 50);
	assert_int_equal(m[1].why, CRUISE_ADAPT_WHY_FLOOR);
	/* healthy again: all grow together */
	step(&healthy, m, 3);
	assert_true(m[0].rate == 55 && m[1].rate == 15 && m[2].rate == 15);
}

/* Failed probes: unhealthy for CRUISE_ADAPT_FAIL_ROUNDS rounds, then every rate holds. */
static void test_probe_failures(void **state)
{
	struct cruise_adapt_medium m = medium(160, 1, 160, 1);
	struct cruise_adapt_signal s = { .ok = false, .target = 10 };

	(void)state;
	for (s.failures = 1; s.failures <= CRUISE_ADAPT_FAIL_ROUNDS; s.failures++) {
		step(&s, &m, 1);
		assert_int_equal(m.why, CRUISE_ADAPT_WHY_PROBE_FAILED);
	}
	assert_true(m.rate == 20);
	for (; s.failures < 20; s.failures++) {
		step(&s, &m, 1);
		assert_int_equal(m.decision, CRUISE_ADAPT_HOLD);
		assert_int_equal(m.why, CRUISE_ADAPT_WHY_SIGNAL_LOST);
		assert_true(m.rate == 20);
	}
}

/* A ceiling lowered under the rate (cruisectl set) takes it along at the next round. */
static void test_bounds_moved(void **state)
{
	struct cruise_adapt_medium m = medium(100, 10, 40, 1);

	(void)state;
	step(&healthy, &m, 1);
	assert_true(m.rate == 40);
	m.floor = 60;
	m.ceiling = 80;
	step(&sick, &m, 1);
	assert_true(m.rate == 60);
}

/*
 * Two nodes on one signal, each its own controller (Chiu and Jain: additive increase and
 * multiplicative decrease converge to fairness): from 10/s and 150/s, with the signal over target
 * when their sum is over 100/s, their rates end up within one additive step of each other.
 */
static void test_two_nodes_converge(void **state)
{
	struct cruise_adapt_medium a = medium(10, 1, 150, 1), b = medium(150, 1, 150, 1);
	double gap = 0;

	(void)state;
	for (int r = 0; r < 300; r++) {
		struct cruise_adapt_signal s = { .ok = true,
						 .value = a.rate + b.rate,
						 .target = 100 };

		step(&s, &a, 1);
		step(&s, &b, 1);
		if (r >= 200)
			gap = fmax(gap, fabs(a.rate - b.rate));
	}
	print_message("two nodes: %.1f/s and %.1f/s, largest gap over the last 100 rounds %.2f/s\n",
		      a.rate, b.rate, gap);
	assert_true(gap <= 150.0 / CRUISE_ADAPT_STEPS);
}

static void test_rates_and_intervals(void **state)
{
	(void)state;
	assert_true(cruise_adapt_interval(40) == 25000000);
	assert_true(cruise_adapt_rate(25000000) == 40);
	assert_true(cruise_adapt_interval(3e9) == 1); /* never 0: 0 means "not paced" */
	assert_string_equal(cruise_adapt_decision_name(CRUISE_ADAPT_DOWN), "down");
	assert_string_equal(cruise_adapt_why_name(CRUISE_ADAPT_WHY_SIGNAL_LOST), "signal_lost");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_down_to_floor),
		cmocka_unit_test(test_up_to_ceiling),
		cmocka_unit_test(test_down_factor_bounds),
		cmocka_unit_test(test_priorities),
		cmocka_unit_test(test_probe_failures),
		cmocka_unit_test(test_bounds_moved),
		cmocka_unit_test(test_two_nodes_converge),
		cmocka_unit_test(test_rates_and_intervals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
