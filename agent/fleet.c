// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The fleet thread (fleet.h): demand from the counters (fleet_demand.c), one pipelined round trip
 * of the allocator script to Redis per refresh (fleet_store.c), leases handed to the main loop
 * through an eventfd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "cruise_gcra.h"
#include "fleet_int.h"
#include "loader.h"
#include "log.h"

static void settings_free(struct fleet_settings *s)
{
	free(s->redis);
	free(s->node);
	free(s->prefix);
	free(s->username);
	if (s->password)
		memset(s->password, 0, strlen(s->password));
	free(s->password);
	memset(s, 0, sizeof(*s));
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

struct fleet_medium *fleet_find_medium(struct cruise_fleet *f, const char *name)
{
	for (unsigned int i = 0; i < f->n_media; i++)
		if (!strncmp(f->media[i].name, name, CRUISE_NAME_LEN))
			return &f->media[i];
	return NULL;
}

void fleet_take_lease(struct cruise_fleet *f, const struct fleet_settings *s,
		      const struct fleet_call *c, const long long v[5], __u64 sent_ns)
{
	char q[32], mine[32], low[32];
	struct fleet_medium *m;

	pthread_mutex_lock(&f->lock);
	m = fleet_find_medium(f, c->name);
	if (!m) {
		pthread_mutex_unlock(&f->lock);
		return; /* no longer a fleet medium */
	}
	if ((__u64)v[2] < cruise_fleet_milli(m->interval_ns) && (__u64)v[2] != m->lowest_said) {
		cruise_format_rate(m->interval_ns, mine, sizeof(mine));
		cruise_format_rate(cruise_fleet_interval(v[2]), low, sizeof(low));
		cruise_log(CRUISE_LOG_WARN,
			   "fleet rate differs between nodes' configs: the lowest is in force",
			   "medium", m->name, "ours", mine, "in_force", low, NULL);
		m->lowest_said = v[2];
	} else if ((__u64)v[2] >= cruise_fleet_milli(m->interval_ns)) {
		m->lowest_said = 0;
	}
	m->lease.interval_ns = cruise_max(cruise_fleet_interval(v[0]), m->interval_ns);
	m->lease.fallback_interval_ns = cruise_max(cruise_fleet_interval(v[1]), m->interval_ns);
	m->lease.lease_end_ns = sent_ns + s->lease_ns - CRUISE_FLEET_LEASE_MARGIN_NS;
	m->pending = true;
	if (!m->seen.known || m->lease_said) {
		cruise_format_rate(m->lease.interval_ns, q, sizeof(q));
		cruise_log(CRUISE_LOG_INFO, "fleet lease taken", "medium", m->name, "share", q,
			   "node", s->node, NULL);
	}
	m->lease_said = false;
	m->seen.known = true;
	m->seen.rate_milli = v[2];
	m->seen.nodes = v[3];
	m->seen.wants_more = c->want_milli == CRUISE_FLEET_WANTS_MORE;
	m->seen.demand_milli = c->demand_milli;
	pthread_mutex_unlock(&f->lock);
}

/* One refresh: sample every fleet medium, one pipelined round trip, leases to the main loop. */
static void refresh(struct cruise_fleet *f, const struct fleet_settings *s)
{
	struct cruise_snapshot *snap = calloc(1, sizeof(*snap));
	struct fleet_call *calls = calloc(CRUISE_MAX_MEDIA, sizeof(*calls));
	unsigned int n = 0;
	__u64 now;

	for (unsigned int i = 0; i < f->n_media; i++)
		if (f->media[i].conn >= CONNS || !f->conn[f->media[i].conn].addr[0])
			f->media[i].conn = 0;

	if (!snap || !calls || cruise_snapshot_read(&f->maps, snap))
		goto out;
	now = cruise_now_ns();
	pthread_mutex_lock(&f->lock);
	for (unsigned int i = 0; i < f->n_media; i++) {
		struct fleet_medium *m = &f->media[i];
		struct cruise_fleet_demand d;
		struct fleet_call *c = &calls[n];

		for (unsigned int k = 0; k < snap->n_media && m->live; k++) {
			const struct cruise_snapshot_medium *sm = &snap->media[k];

			if (sm->index != m->index ||
			    strncmp(sm->cfg.name, m->name, CRUISE_NAME_LEN))
				continue;
			fleet_sample(m, sm, now, &d);
			snprintf(c->name, sizeof(c->name), "%s", m->name);
			c->conn = m->conn;
			c->want_milli = cruise_fleet_want(&d);
			c->demand_milli =
				d.window_ns ? cruise_sat_mul(d.attempts, 1000 * NSEC) / d.window_ns
					    : 0;
			snprintf(c->rate, sizeof(c->rate), "%llu",
				 (unsigned long long)cruise_fleet_milli(m->interval_ns));
			snprintf(c->want, sizeof(c->want), "%lld", (long long)c->want_milli);
			snprintf(c->fb, sizeof(c->fb), "%llu",
				 (unsigned long long)cruise_fleet_milli(m->fallback_interval_ns));
			snprintf(c->fb_now, sizeof(c->fb_now), "%llu",
				 (unsigned long long)cruise_fleet_milli(
					 sm->cfg.fallback_interval_ns));
			if (sm->fallback && m->seen.known && !m->lease_said) {
				char fb[32];

				cruise_format_rate(sm->interval_ns, fb, sizeof(fb));
				cruise_log(CRUISE_LOG_WARN,
					   "fleet lease ended: the datapath paces at the fallback",
					   "medium", m->name, "fallback", fb, NULL);
				m->lease_said = true;
			}
			n++;
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
	if (!n)
		goto out;
	for (unsigned int i = 0; i < n; i++) {
		snprintf(calls[i].lease, sizeof(calls[i].lease), "%llu",
			 (unsigned long long)(s->lease_ns / MSEC));
		snprintf(calls[i].forget, sizeof(calls[i].forget), "%llu",
			 (unsigned long long)(s->forget_ns / MSEC));
	}
	if (fleet_round_trip(f, s, calls, n)) {
		__u64 one = 1;

		pthread_mutex_lock(&f->lock);
		if (!f->store_up && f->errors)
			cruise_log(CRUISE_LOG_INFO, "fleet store answers again", "redis", s->redis,
				   NULL);
		f->store_up = true;
		pthread_mutex_unlock(&f->lock);
		if (write(f->efd, &one, sizeof(one)) < 0)
			cruise_log(CRUISE_LOG_ERROR, "fleet: eventfd", "error", strerror(errno),
				   NULL);
	}
out:
	free(calls);
	free(snap);
}

static void *fleet_main(void *arg)
{
	struct cruise_fleet *f = arg;
	struct fleet_settings s = { 0 };
	__u64 next = cruise_now_ns(), gen = 0;

	srandom((unsigned int)(cruise_now_ns() ^ (__u64)getpid()));
	pthread_mutex_lock(&f->lock);
	while (!f->stop) {
		struct timespec ts;
		__u64 at = next;

		/* away from the store: try again when the backoff ends, not at the next tick */
		if (!f->conn[0].rc && f->conn[0].retry_at_ns && f->conn[0].retry_at_ns < at)
			at = f->conn[0].retry_at_ns;
		if (f->set_generation == 0 || cruise_now_ns() < at) {
			if (!f->set_generation)
				at = cruise_now_ns() + NSEC;
			ts.tv_sec = at / NSEC;
			ts.tv_nsec = at % NSEC;
			pthread_cond_timedwait(&f->wake, &f->lock, &ts);
			continue;
		}
		if (gen != f->set_generation) {
			bool reconnect = !same(s.redis, f->set.redis) ||
					 !same(s.username, f->set.username) ||
					 !same(s.password, f->set.password);

			settings_free(&s);
			s.redis = dup_or_null(f->set.redis);
			s.node = dup_or_null(f->set.node);
			s.prefix = dup_or_null(f->set.prefix);
			s.username = dup_or_null(f->set.username);
			s.password = dup_or_null(f->set.password);
			s.refresh_ns = f->set.refresh_ns;
			s.lease_ns = f->set.lease_ns;
			s.forget_ns = f->set.forget_ns;
			gen = f->set_generation;
			if (reconnect) {
				/* another store: forget every connection and cluster node */
				for (int k = 0; k < CONNS; k++) {
					fleet_disconnect(&f->conn[k]);
					memset(&f->conn[k], 0, sizeof(f->conn[k]));
				}
				snprintf(f->conn[0].addr, sizeof(f->conn[0].addr), "%s",
					 s.redis ? s.redis : "");
				for (unsigned int i = 0; i < f->n_media; i++)
					f->media[i].conn = 0;
			}
		}
		pthread_mutex_unlock(&f->lock);
		if (s.redis)
			refresh(f, &s);
		pthread_mutex_lock(&f->lock);
		if (cruise_now_ns() < next)
			continue; /* a reconnect between ticks */
		next += s.refresh_ns ? s.refresh_ns : NSEC;
		if (next < cruise_now_ns())
			next = cruise_now_ns() + (s.refresh_ns ? s.refresh_ns : NSEC);
	}
	pthread_mutex_unlock(&f->lock);
	for (int k = 0; k < CONNS; k++)
		fleet_disconnect(&f->conn[k]);
	settings_free(&s);
	return NULL;
}

struct cruise_fleet *cruise_fleet_start(const struct cruise_maps *maps, char *err, size_t errlen)
{
	struct cruise_fleet *f = calloc(1, sizeof(*f));
	pthread_condattr_t ca;
	int ret;

	if (!f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	f->maps = *maps;
	f->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (f->efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		free(f);
		return NULL;
	}
	ret = pthread_create(&f->thread, NULL, fleet_main, f);
	if (ret) {
		snprintf(err, errlen, "thread: %s", strerror(ret));
		close(f->efd);
		free(f);
		return NULL;
	}
	return f;
}

void cruise_fleet_configure(struct cruise_fleet *f, const struct cruise_config *cfg,
			    const struct cruise_applied *a)
{
	const struct cruise_cfg_fleet *fc = cfg->fleet;
	struct fleet_medium *old;
	unsigned int n_old;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	settings_free(&f->set);
	if (fc) {
		f->set.redis = dup_or_null(fc->redis);
		f->set.node = dup_or_null(fc->node);
		f->set.prefix = dup_or_null(fc->key_prefix);
		f->set.username = dup_or_null(fc->username);
		f->set.password = dup_or_null(fc->password);
		f->set.refresh_ns = fc->refresh_ns;
		f->set.lease_ns = fc->lease_ns;
		f->set.forget_ns = fc->forget_after_ns;
	}
	/* media by name keep what was learned of them (demand history, last allocation) */
	old = malloc(sizeof(f->media));
	n_old = f->n_media;
	if (old)
		memcpy(old, f->media, sizeof(f->media));
	memset(f->media, 0, sizeof(f->media));
	f->n_media = 0;
	for (unsigned int c = 0; fc && c < cfg->n_media; c++) {
		const struct cruise_cfg_medium *cm = &cfg->media[c];
		struct fleet_medium *m = &f->media[f->n_media];

		if (!cm->fleet)
			continue;
		for (unsigned int i = 0; old && i < n_old; i++)
			if (!strncmp(old[i].name, cm->name, CRUISE_NAME_LEN))
				*m = old[i];
		snprintf(m->name, sizeof(m->name), "%s", cm->name);
		if (m->index != a->medium_index[c])
			m->n_hist = 0;
		m->index = a->medium_index[c];
		m->interval_ns = cm->interval_ns;
		m->fallback_interval_ns = cm->fallback_interval_ns;
		m->live = true;
		m->pending = false;
		f->n_media++;
	}
	free(old);
	f->set_generation++;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
}

void cruise_fleet_set_rate(struct cruise_fleet *f, const char *medium, __u64 interval_ns)
{
	struct fleet_medium *m;

	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	m = fleet_find_medium(f, medium);
	if (m)
		m->interval_ns = interval_ns;
	pthread_mutex_unlock(&f->lock);
}

__u64 cruise_fleet_rate_in_force(struct cruise_fleet *f, const char *medium)
{
	struct fleet_medium *m;
	__u64 milli = 0;

	if (!f)
		return 0;
	pthread_mutex_lock(&f->lock);
	m = fleet_find_medium(f, medium);
	if (m && m->seen.known)
		milli = m->seen.rate_milli;
	pthread_mutex_unlock(&f->lock);
	return milli ? cruise_fleet_interval(milli) : 0;
}

int cruise_fleet_fd(struct cruise_fleet *f)
{
	return f ? f->efd : -1;
}

void cruise_fleet_apply(struct cruise_fleet *f, const struct cruise_maps *maps,
			const struct cruise_config *cfg, const struct cruise_applied *a)
{
	__u64 n;

	if (!f)
		return;
	if (read(f->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&f->lock);
	for (unsigned int i = 0; i < f->n_media; i++) {
		struct fleet_medium *m = &f->media[i];
		struct cruise_medium v;

		if (!m->pending)
			continue;
		m->pending = false;
		for (unsigned int c = 0; c < cfg->n_media; c++) {
			if (!cfg->media[c].fleet || a->medium_index[c] != m->index ||
			    strcmp(cfg->media[c].name, m->name))
				continue;
			if (cruise_maps_get_medium(maps, m->index, &v) ||
			    strncmp(v.name, m->name, CRUISE_NAME_LEN))
				break;
			/* one update, the pacing state kept: the share moves, nothing else */
			v.interval_ns = m->lease.interval_ns;
			v.fallback_interval_ns = m->lease.fallback_interval_ns;
			v.lease_end_ns = m->lease.lease_end_ns;
			if (cruise_maps_set_medium(maps, m->index, &v))
				cruise_log(CRUISE_LOG_ERROR, "fleet: cannot write the share",
					   "medium", m->name, "error", strerror(errno), NULL);
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
}

void cruise_fleet_snapshot(struct cruise_fleet *f, struct cruise_snapshot *s)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	s->fleet_configured = f->set.redis != NULL;
	s->fleet_store_up = f->store_up;
	s->fleet_store_errors = f->errors;
	s->fleet_nodes_forgotten = f->forgotten;
	for (unsigned int i = 0; i < f->n_media; i++)
		for (unsigned int k = 0; k < s->n_media; k++)
			if (s->media[k].index == f->media[i].index && s->media[k].fleet)
				s->media[k].f = f->media[i].seen;
	pthread_mutex_unlock(&f->lock);
}

void cruise_fleet_stop(struct cruise_fleet *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stop = true;
	pthread_cond_signal(&f->wake);
	pthread_mutex_unlock(&f->lock);
	pthread_join(f->thread, NULL);
	settings_free(&f->set);
	close(f->efd);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->wake);
	free(f);
}
