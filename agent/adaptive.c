// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The adaptive-rate controller (adaptive.h): one round, pure. */
#include <math.h>

#include "adaptive.h"

/* a rate within this of its floor or ceiling is there (intervals are whole ns) */
#define AT_EDGE 1e-6

static bool at_or_below(double rate, double edge)
{
	return rate <= edge * (1 + AT_EDGE);
}

static bool at_or_above(double rate, double edge)
{
	return rate >= edge * (1 - AT_EDGE);
}

double cruise_adapt_down_factor(const struct cruise_adapt_signal *s, enum cruise_backoff b)
{
	double f;

	if (!s->ok || b == CRUISE_BACKOFF_HALVE || s->value <= 0)
		return CRUISE_ADAPT_DOWN_MIN;
	f = s->target / s->value;
	if (!(f >= CRUISE_ADAPT_DOWN_MIN)) /* NaN too */
		return CRUISE_ADAPT_DOWN_MIN;
	return f > CRUISE_ADAPT_DOWN_MAX ? CRUISE_ADAPT_DOWN_MAX : f;
}

static void set(struct cruise_adapt_medium *m, double next, enum cruise_adapt_decision d,
		enum cruise_adapt_why w)
{
	m->next = next;
	m->decision = d;
	m->why = w;
}

static void grow(struct cruise_adapt_medium *m)
{
	double next = m->rate + m->ceiling / CRUISE_ADAPT_STEPS;

	if (at_or_above(m->rate, m->ceiling))
		set(m, m->ceiling, CRUISE_ADAPT_HOLD, CRUISE_ADAPT_WHY_CEILING);
	else
		set(m, next > m->ceiling ? m->ceiling : next, CRUISE_ADAPT_UP,
		    CRUISE_ADAPT_WHY_HEALTHY);
}

void cruise_adapt_round(const struct cruise_adapt_signal *s, struct cruise_adapt_medium *m,
			unsigned int n)
{
	bool healthy = s->ok && s->value <= s->target;
	enum cruise_adapt_why why =
		s->ok ? CRUISE_ADAPT_WHY_UNHEALTHY : CRUISE_ADAPT_WHY_PROBE_FAILED;
	__u32 lowest = UINT32_MAX;
	unsigned int i;

	/* a ceiling or floor moved under the rate (cruisectl set, a reload) takes it along */
	for (i = 0; i < n; i++) {
		if (m[i].rate > m[i].ceiling)
			m[i].rate = m[i].ceiling;
		if (m[i].rate < m[i].floor)
			m[i].rate = m[i].floor;
	}
	if (!s->ok && s->failures > CRUISE_ADAPT_FAIL_ROUNDS) {
		for (i = 0; i < n; i++)
			set(&m[i], m[i].rate, CRUISE_ADAPT_HOLD, CRUISE_ADAPT_WHY_SIGNAL_LOST);
		return;
	}
	if (healthy) {
		for (i = 0; i < n; i++)
			grow(&m[i]);
		return;
	}
	/* unhealthy: the lowest priority that can still give way does */
	for (i = 0; i < n; i++)
		if (!at_or_below(m[i].rate, m[i].floor) && m[i].priority < lowest)
			lowest = m[i].priority;
	for (i = 0; i < n; i++) {
		double next = m[i].rate * cruise_adapt_down_factor(s, m[i].backoff);

		if (at_or_below(m[i].rate, m[i].floor))
			set(&m[i], m[i].floor, CRUISE_ADAPT_HOLD, CRUISE_ADAPT_WHY_FLOOR);
		else if (m[i].priority > lowest)
			set(&m[i], m[i].rate, CRUISE_ADAPT_HOLD, CRUISE_ADAPT_WHY_PRIORITY);
		else
			set(&m[i], next < m[i].floor ? m[i].floor : next, CRUISE_ADAPT_DOWN, why);
	}
}

const char *cruise_adapt_decision_name(enum cruise_adapt_decision d)
{
	static const char *const names[] = { "none", "up", "down", "hold" };

	return d < CRUISE_ADAPT_DECISION_COUNT ? names[d] : "unknown";
}

const char *cruise_adapt_why_name(enum cruise_adapt_why w)
{
	static const char *const names[] = {
		"none",	    "healthy",	"unhealthy",	"at_ceiling",
		"at_floor", "priority", "probe_failed", "signal_lost"
	};

	return w < CRUISE_ADAPT_WHY_COUNT ? names[w] : "unknown";
}

double cruise_adapt_rate(__u64 interval_ns)
{
	return interval_ns ? 1e9 / interval_ns : 0;
}

__u64 cruise_adapt_interval(double rate)
{
	double ns = 1e9 / rate;

	return ns < 1 ? 1 : (__u64)llround(ns);
}
