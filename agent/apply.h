/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Putting a validated config into the maps: media by name into stable indices (a medium keeps its
 * index, so its pacing state, across reloads and agent restarts), targets, and cgroup bindings.
 * Every step is an update of the live maps in an order that never opens the gates: limits first,
 * then targets and bindings, removals last.
 */
#ifndef CRUISE_APPLY_H
#define CRUISE_APPLY_H

#include "bind.h"
#include "config.h"
#include "k8s_services.h"
#include "resolve.h"
#include "snapshot.h"

struct cruise_applied {
	__u32 medium_index[CRUISE_MAX_MEDIA]; /* config medium i -> map index */
	struct cruise_bind_rule *rules;	      /* every cgroup pattern with its map index */
	size_t n_rules;
};

/* Where targets' addresses come from besides the config, as the main loop last learned it. */
struct cruise_target_sources {
	const struct cruise_resolved *hosts; /* the resolver's table; NULL: none */
	size_t n_hosts;
	const struct cruise_service *services; /* the Services' table; NULL: none */
	size_t n_services;
};

/* Media and targets; fills a (free with cruise_applied_free). err: one line. */
int cruise_apply_config(const struct cruise_maps *m, const struct cruise_config *cfg,
			const struct cruise_target_sources *src, struct cruise_applied *a,
			char *err, size_t errlen);
/*
 * cruise_targets equal to the config's addresses, its hosts' and its Services' last good ones
 * (with the configured ports, or a Service's own), each key's source in cruise_target_src: every
 * new key written before any old one is removed.
 */
int cruise_apply_targets(const struct cruise_maps *m, const struct cruise_config *cfg,
			 const struct cruise_target_sources *src, char *err, size_t errlen);
/*
 * Make the bindings map equal to the cgroups the rules match now plus pods (the cgroups of the
 * pods selected by labels, NULL for none); logs each change, or with log_all every binding (at
 * start-up). Bindings of both kinds are computed whole each time, so a change of one never drops
 * the other. keep_stale: add and change only (the pods are not known yet, and what a previous
 * agent bound for them must keep pacing meanwhile).
 */
int cruise_apply_bindings(const struct cruise_maps *m, const char *cgroup_root,
			  const struct cruise_applied *a, const struct cruise_config *cfg,
			  const struct cruise_bind_set *pods, bool keep_stale, bool log_all);
void cruise_applied_free(struct cruise_applied *a);

#endif /* CRUISE_APPLY_H */
