// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The adaptive controller in the agent's main loop (adaptive_run.h). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adaptive.h"
#include "adaptive_run.h"
#include "loader.h" /* cruise_now_ns */
#include "log.h"

#define FAIL_LOG_NS 1000000000ULL /* a signal's failures are logged once a second at most */

struct run_signal {
	struct cruise_snapshot_signal s;
	__u64 logged_ns;  /* the last failure logged */
	__u64 suppressed; /* failures not logged since */
	enum cruise_probe_error last_err;
};

struct cruise_adaptive_run {
	pthread_mutex_t lock; /* the metrics thread reads */
	struct run_signal sig[CRUISE_MAX_SIGNALS];
	unsigned int n_sig;
	__u64 decisions[CRUISE_MAX_MEDIA][CRUISE_ADAPT_DECISION_COUNT];
};

static __s64 micro(double v)
{
	double m = v * 1e6;

	if (!(m > -9e18)) /* NaN too */
		return INT64_MIN;
	return m > 9e18 ? INT64_MAX : (__s64)llround(m);
}

__u64 cruise_adaptive_initial(const struct cruise_maps *m, __u32 idx,
			      const struct cruise_config *cfg, const struct cruise_cfg_medium *cm)
{
	const struct cruise_cfg_adaptive *ca = &cm->adaptive;
	struct cruise_adaptive cur, v;
	bool have = !cruise_maps_get_adaptive(m, idx, &cur) && (cur.flags & CRUISE_ADAPT_ACTIVE);

	memset(&v, 0, sizeof(v));
	if (!ca->on) {
		if (have)
			cruise_maps_set_adaptive(m, idx, &v);
		return cm->interval_ns;
	}
	v.ceiling_interval_ns = cm->interval_ns;
	v.floor_interval_ns = ca->floor_interval_ns;
	v.rate_interval_ns = cm->interval_ns;
	v.flags = CRUISE_ADAPT_ACTIVE;
	v.priority = ca->priority;
	v.target_micro = micro(cfg->signals[ca->signal].target);
	snprintf(v.signal, sizeof(v.signal), "%s", cfg->signals[ca->signal].name);
	/* what was learned stays: a reload or a restart is no reason to trust the database more */
	if (have && !strncmp(cur.signal, v.signal, sizeof(v.signal))) {
		v.rate_interval_ns = cur.rate_interval_ns;
		if (v.rate_interval_ns < v.ceiling_interval_ns)
			v.rate_interval_ns = v.ceiling_interval_ns;
		if (v.rate_interval_ns > v.floor_interval_ns)
			v.rate_interval_ns = v.floor_interval_ns;
		v.value_micro = cur.value_micro;
		v.decision = cur.decision;
		v.why = cur.why;
		v.failures = cur.failures;
		v.decided_ns = cur.decided_ns;
	}
	if (cruise_maps_set_adaptive(m, idx, &v))
		cruise_log(CRUISE_LOG_WARN, "cannot write cruise_adaptive", "medium", cm->name,
			   "error", strerror(errno), NULL);
	return cm->fleet ? cm->interval_ns : v.rate_interval_ns;
}

struct cruise_adaptive_run *cruise_adaptive_run_new(void)
{
	struct cruise_adaptive_run *r = calloc(1, sizeof(*r));

	if (r)
		pthread_mutex_init(&r->lock, NULL);
	return r;
}

void cruise_adaptive_configure(struct cruise_adaptive_run *r, const struct cruise_maps *m,
			       const struct cruise_config *cfg, const struct cruise_applied *a,
			       struct cruise_fleet *fleet)
{
	struct run_signal next[CRUISE_MAX_SIGNALS];

	if (!r)
		return;
	memset(next, 0, sizeof(next));
	pthread_mutex_lock(&r->lock);
	for (unsigned int i = 0; i < cfg->n_signals; i++) {
		for (unsigned int j = 0; j < r->n_sig; j++)
			if (!strcmp(r->sig[j].s.name, cfg->signals[i].name))
				next[i] = r->sig[j];
		snprintf(next[i].s.name, sizeof(next[i].s.name), "%s", cfg->signals[i].name);
		next[i].s.target = cfg->signals[i].target;
	}
	memcpy(r->sig, next, sizeof(next));
	r->n_sig = cfg->n_signals;
	pthread_mutex_unlock(&r->lock);
	/* the fleet thread took the config's rate: an adaptive fleet medium asks its own */
	for (unsigned int c = 0; c < cfg->n_media; c++) {
		struct cruise_adaptive ad;

		if (cfg->media[c].fleet && cfg->media[c].adaptive.on &&
		    !cruise_maps_get_adaptive(m, a->medium_index[c], &ad))
			cruise_fleet_set_rate(fleet, cfg->media[c].name, ad.rate_interval_ns);
	}
}

/* The signal's state after sample x; logs a failure (once a second at most) or a recovery. */
static void note_sample(struct cruise_adaptive_run *r, struct run_signal *rs,
			const struct cruise_signal_sample *x)
{
	__u64 now = cruise_now_ns();
	char n[24], took[24];

	pthread_mutex_lock(&r->lock);
	rs->s.sampled = true;
	rs->s.samples++;
	rs->s.took_ns = x->took_ns;
	rs->s.up = x->err == CRUISE_PROBE_OK;
	if (rs->s.up) {
		rs->s.value = x->value;
		rs->s.failures = 0;
	} else {
		rs->s.failures++;
		rs->s.errors[x->err]++;
	}
	pthread_mutex_unlock(&r->lock);

	if (rs->s.up) {
		if (rs->last_err != CRUISE_PROBE_OK)
			cruise_log(CRUISE_LOG_INFO, "signal answers again", "signal", rs->s.name,
				   NULL);
		rs->last_err = CRUISE_PROBE_OK;
		return;
	}
	if (rs->logged_ns && now - rs->logged_ns < FAIL_LOG_NS && x->err == rs->last_err) {
		rs->suppressed++;
		return;
	}
	snprintf(n, sizeof(n), "%u", rs->s.failures);
	snprintf(took, sizeof(took), "%llu", (unsigned long long)rs->suppressed);
	cruise_log(CRUISE_LOG_WARN, "signal probe failed", "signal", rs->s.name, "reason",
		   cruise_probe_error_name(x->err), "error", x->msg, "failures_in_a_row", n,
		   "not_logged_since", took, NULL);
	rs->logged_ns = now;
	rs->suppressed = 0;
	rs->last_err = x->err;
}

/* A medium's new rate into the maps: cruise_media (one update) or the fleet rate it asks. */
static void write_rate(const struct cruise_maps *m, const struct cruise_cfg_medium *cm, __u32 idx,
		       __u64 interval, struct cruise_fleet *fleet)
{
	struct cruise_medium v;

	if (cm->fleet) {
		cruise_fleet_set_rate(fleet, cm->name, interval);
		return;
	}
	if (cruise_maps_get_medium(m, idx, &v) || strncmp(v.name, cm->name, CRUISE_NAME_LEN) ||
	    v.interval_ns == interval)
		return;
	v.interval_ns = interval;
	if (cruise_maps_set_medium(m, idx, &v))
		cruise_log(CRUISE_LOG_ERROR, "cannot write an adapted rate", "medium", cm->name,
			   "error", strerror(errno), NULL);
}

void cruise_adaptive_sample(struct cruise_adaptive_run *r, const struct cruise_maps *m,
			    const struct cruise_config *cfg, const struct cruise_applied *a,
			    struct cruise_fleet *fleet, const struct cruise_signal_sample *x)
{
	struct cruise_adapt_medium am[CRUISE_MAX_MEDIA];
	struct cruise_adaptive ad[CRUISE_MAX_MEDIA];
	unsigned int cidx[CRUISE_MAX_MEDIA], n = 0;
	struct cruise_adapt_signal sig;
	struct run_signal *rs;
	__u64 now = cruise_now_ns();
	bool healthy;

	if (!r || x->signal >= r->n_sig || x->signal >= cfg->n_signals)
		return;
	rs = &r->sig[x->signal];
	note_sample(r, rs, x);
	sig.ok = rs->s.up;
	sig.value = rs->s.value;
	sig.target = cfg->signals[x->signal].target;
	sig.failures = rs->s.failures;
	healthy = sig.ok && sig.value <= sig.target;

	/* the media on this signal, with their floor and ceiling as the map holds them now */
	for (unsigned int c = 0; c < cfg->n_media; c++) {
		const struct cruise_cfg_medium *cm = &cfg->media[c];
		__u32 idx = a->medium_index[c];
		__u64 in_force;

		if (!cm->adaptive.on || cm->adaptive.signal != x->signal ||
		    cruise_maps_get_adaptive(m, idx, &ad[n]) ||
		    !(ad[n].flags & CRUISE_ADAPT_ACTIVE))
			continue;
		memset(&am[n], 0, sizeof(am[n]));
		am[n].rate = cruise_adapt_rate(ad[n].rate_interval_ns);
		am[n].ceiling = cruise_adapt_rate(ad[n].ceiling_interval_ns);
		am[n].floor = cruise_adapt_rate(ad[n].floor_interval_ns);
		am[n].priority = ad[n].priority;
		am[n].backoff = cm->adaptive.backoff;
		/*
		 * The nodes' lowest ask wins. Down, every node steps from the fleet rate in force,
		 * so their asks stay together; up, from its own last ask: the rate in force is
		 * learned once a refresh, and stepping from it would climb once a refresh.
		 */
		in_force = cm->fleet && !healthy ? cruise_fleet_rate_in_force(fleet, cm->name) : 0;
		if (in_force > ad[n].rate_interval_ns)
			am[n].rate = cruise_adapt_rate(in_force);
		cidx[n++] = c;
	}
	cruise_adapt_round(&sig, am, n);

	for (unsigned int k = 0; k < n; k++) {
		const struct cruise_cfg_medium *cm = &cfg->media[cidx[k]];
		__u32 idx = a->medium_index[cidx[k]];
		struct cruise_adaptive v = ad[k];
		bool changed = v.decision != am[k].decision || v.why != am[k].why;

		v.rate_interval_ns = cruise_adapt_interval(am[k].next);
		if (v.rate_interval_ns < v.ceiling_interval_ns)
			v.rate_interval_ns = v.ceiling_interval_ns;
		if (v.rate_interval_ns > v.floor_interval_ns)
			v.rate_interval_ns = v.floor_interval_ns;
		if (sig.ok)
			v.value_micro = micro(sig.value);
		v.target_micro = micro(sig.target);
		v.decision = am[k].decision;
		v.why = am[k].why;
		v.failures = sig.failures;
		v.decided_ns = now;
		write_rate(m, cm, idx, v.rate_interval_ns, fleet);
		if (cruise_maps_set_adaptive(m, idx, &v))
			continue;
		pthread_mutex_lock(&r->lock);
		r->decisions[idx][v.decision]++;
		pthread_mutex_unlock(&r->lock);
		if (changed) {
			char rate[32], value[32], target[32];

			cruise_format_rate(v.rate_interval_ns, rate, sizeof(rate));
			snprintf(value, sizeof(value), "%g", sig.value);
			snprintf(target, sizeof(target), "%g", sig.target);
			cruise_log(v.why == CRUISE_ADAPT_WHY_SIGNAL_LOST ? CRUISE_LOG_WARN
									 : CRUISE_LOG_INFO,
				   "adaptive rate", "medium", cm->name, "decision",
				   cruise_adapt_decision_name(v.decision), "why",
				   cruise_adapt_why_name(v.why), "rate", rate, "signal",
				   cfg->signals[x->signal].name, "value", sig.ok ? value : "none",
				   "target", target, NULL);
		}
	}
}

void cruise_adaptive_snapshot(struct cruise_adaptive_run *r, struct cruise_snapshot *s)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	s->n_signals = r->n_sig;
	for (unsigned int i = 0; i < r->n_sig; i++)
		s->signals[i] = r->sig[i].s;
	for (unsigned int k = 0; k < s->n_media; k++)
		memcpy(s->media[k].decisions, r->decisions[s->media[k].index],
		       sizeof(s->media[k].decisions));
	pthread_mutex_unlock(&r->lock);
}

void cruise_adaptive_run_free(struct cruise_adaptive_run *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}
