/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Adaptive rates (docs/design.md, "Adaptive rates"): every round of a signal (its probe's every),
 * the media that follow it move their rate between a floor (min_rate) and a ceiling (rate).
 *
 * The controller is AIMD, as TCP shares a bottleneck: healthy (the signal at or under its target)
 * adds ceiling / CRUISE_ADAPT_STEPS; unhealthy multiplies by target / value, bounded to
 * [CRUISE_ADAPT_DOWN_MIN, CRUISE_ADAPT_DOWN_MAX] (backoff: gradient), or by 1/2 (backoff: halve).
 * Both steps are bounded, so one wild sample moves a rate by at most half or by one step. Media
 * on one signal give way by priority: while unhealthy only the lowest priority still above its
 * floor backs off (equal ones by the same factor); healthy, all grow. A failed probe counts as
 * unhealthy (at the largest step down) for CRUISE_ADAPT_FAIL_ROUNDS rounds in a row, then every
 * rate holds until the probe answers again.
 *
 * adaptive.c is the controller alone (pure: unit-tested, and used by the tests to predict the
 * rounds); adaptive_run.c runs it in the agent's main loop on the signals' results.
 */
#ifndef CRUISE_ADAPTIVE_H
#define CRUISE_ADAPTIVE_H

#include <stdbool.h>
#include <linux/types.h>

#include "cruise.h"
#include "config.h"

#define CRUISE_ADAPT_STEPS	 20  /* healthy rounds from 0 to the ceiling */
#define CRUISE_ADAPT_DOWN_MIN	 0.5 /* an unhealthy round at most halves a rate */
#define CRUISE_ADAPT_DOWN_MAX	 0.9 /* and takes at least a tenth off */
#define CRUISE_ADAPT_FAIL_ROUNDS 3   /* failed probes counted as unhealthy, then hold */

/* What a round knows of its signal. */
struct cruise_adapt_signal {
	bool ok;      /* the probe answered with a number */
	double value; /* when ok */
	double target;
	unsigned int failures; /* probes failed in a row, this one included (0 when ok) */
};

/* One medium on the signal: rates in connections/s. */
struct cruise_adapt_medium {
	double rate, floor, ceiling;
	__u32 priority;
	enum cruise_backoff backoff;
	/* the round's outcome */
	double next;
	enum cruise_adapt_decision decision;
	enum cruise_adapt_why why;
};

/* The factor an unhealthy round multiplies a rate by. */
double cruise_adapt_down_factor(const struct cruise_adapt_signal *s, enum cruise_backoff b);
/* One round over the n media that follow one signal: next, decision and why of each. */
void cruise_adapt_round(const struct cruise_adapt_signal *s, struct cruise_adapt_medium *m,
			unsigned int n);
const char *cruise_adapt_decision_name(enum cruise_adapt_decision d);
const char *cruise_adapt_why_name(enum cruise_adapt_why w);

/* Rates and intervals, as the maps hold them (1 s / rate, rounded). */
double cruise_adapt_rate(__u64 interval_ns);
__u64 cruise_adapt_interval(double rate);

#endif /* CRUISE_ADAPTIVE_H */
