/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The signals' probes, each in a thread of its own (docs/design.md, "Adaptive rates"): a probe
 * talks to the network with a deadline of its every, so nothing it waits for delays the main loop
 * (reloads, bindings, /healthz). A sample goes to the main loop through an eventfd; the main loop
 * runs the controller (adaptive_run.c) and writes the maps.
 *
 * Rounds are every apart on average: each one at its point of a grid of every, +-every/8 at random.
 * Nodes that follow one shared signal (one database) on fixed grids would see each other's steps in
 * the same order every cycle, and that order, not the controller, would set their split (a phase
 * effect: two nodes measured settling at 0.7:1 on a fixed grid); at random offsets it varies, and
 * AIMD's multiplicative cuts even the split out.
 *
 * After a failed connection a probe reconnects after every, doubling up to 8 x every (at most
 * 30 s), +-25% jitter; the rounds in between still report a failure, so the controller's count of
 * failed rounds goes on.
 */
#ifndef CRUISE_SIGNALS_H
#define CRUISE_SIGNALS_H

#include <stddef.h>
#include <linux/types.h>

#include "config.h"
#include "probe.h"

#define CRUISE_SIGNAL_BACKOFF_MAX_NS (30 * 1000000000ULL)

/* One sample, from a signal's thread to the main loop. */
struct cruise_signal_sample {
	unsigned int signal; /* index in the config of generation */
	__u64 generation;    /* samples of an older config are dropped */
	enum cruise_probe_error err;
	double value;
	__u64 took_ns; /* how long the probe ran */
	char msg[256]; /* the failure, one line */
};

struct cruise_signals;

/* The sample queue and its eventfd; NULL and err on failure. */
struct cruise_signals *cruise_signals_new(char *err, size_t errlen);
int cruise_signals_fd(struct cruise_signals *s);
/*
 * Follow cfg (applied as generation): a thread per signal. A signal configured as before keeps
 * its thread and its connection; the threads of the others are told to stop and end on their own
 * within a deadline (never waited for).
 */
void cruise_signals_configure(struct cruise_signals *s, const struct cruise_config *cfg,
			      __u64 generation);
/* Up to max waiting samples (main loop); drains the eventfd. */
size_t cruise_signals_take(struct cruise_signals *s, struct cruise_signal_sample *out, size_t max);
/* Stop every thread, waiting a second at most for them to end. */
void cruise_signals_stop(struct cruise_signals *s);

#endif /* CRUISE_SIGNALS_H */
