/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The adaptive controller in the agent (adaptive.h for the rule): at a config's apply, each
 * medium's entry in cruise_adaptive (ceiling, floor, the adapted rate kept across reloads and
 * restarts); at each sample of a signal, one round for the media that follow it, written as one
 * update of cruise_media (the pacing state kept), or for a fleet medium as the fleet rate this
 * node asks. Main loop only, except cruise_adaptive_snapshot (the metrics thread).
 */
#ifndef CRUISE_ADAPTIVE_RUN_H
#define CRUISE_ADAPTIVE_RUN_H

#include <linux/types.h>

#include "apply.h"
#include "config.h"
#include "fleet.h"
#include "maps.h"
#include "signals.h"
#include "snapshot.h"

/*
 * At apply (apply.c): cm's entry in cruise_adaptive[idx] (cleared when cm is not adaptive) and the
 * interval cruise_media[idx] gets: the adapted rate an earlier agent or config left, within the
 * new floor and ceiling, or the ceiling at first.
 */
__u64 cruise_adaptive_initial(const struct cruise_maps *m, __u32 idx,
			      const struct cruise_config *cfg, const struct cruise_cfg_medium *cm);

struct cruise_adaptive_run;

struct cruise_adaptive_run *cruise_adaptive_run_new(void);
/* Follow a newly applied config: signals by name keep their counts; fleet media ask their rate. */
void cruise_adaptive_configure(struct cruise_adaptive_run *r, const struct cruise_maps *m,
			       const struct cruise_config *cfg, const struct cruise_applied *a,
			       struct cruise_fleet *fleet);
/* One sample: the controller's round for its signal's media; logs what changed. */
void cruise_adaptive_sample(struct cruise_adaptive_run *r, const struct cruise_maps *m,
			    const struct cruise_config *cfg, const struct cruise_applied *a,
			    struct cruise_fleet *fleet, const struct cruise_signal_sample *x);
/* The signals' state and the decision counts, for /metrics. */
void cruise_adaptive_snapshot(struct cruise_adaptive_run *r, struct cruise_snapshot *s);
void cruise_adaptive_run_free(struct cruise_adaptive_run *r);

#endif /* CRUISE_ADAPTIVE_RUN_H */
