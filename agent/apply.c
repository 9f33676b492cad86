// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A validated config into the maps (apply.h): media by name, targets, bindings. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <bpf/bpf.h>

#include "adaptive_run.h"
#include "apply.h"
#include "fleet.h"
#include "log.h"

/* Stable index for each configured medium: its own by name, else a slot never named, else one
 * whose medium left the config (its state is reset then). */
static int assign_media(const struct cruise_maps *m, const struct cruise_config *cfg,
			struct cruise_applied *a, char *err, size_t errlen)
{
	struct cruise_medium cur[CRUISE_MAX_MEDIA];
	bool taken[CRUISE_MAX_MEDIA] = { false };

	for (__u32 i = 0; i < CRUISE_MAX_MEDIA; i++) {
		if (cruise_maps_get_medium(m, i, &cur[i])) {
			snprintf(err, errlen, "cannot read cruise_media: %s", strerror(errno));
			return -errno;
		}
	}
	for (unsigned int c = 0; c < cfg->n_media; c++) {
		a->medium_index[c] = CRUISE_MAX_MEDIA;
		for (__u32 i = 0; i < CRUISE_MAX_MEDIA; i++) {
			if (!taken[i] &&
			    !strncmp(cur[i].name, cfg->media[c].name, CRUISE_NAME_LEN)) {
				a->medium_index[c] = i;
				taken[i] = true;
				break;
			}
		}
	}
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned int c = 0; c < cfg->n_media; c++) {
			if (a->medium_index[c] != CRUISE_MAX_MEDIA)
				continue;
			for (__u32 i = 0; i < CRUISE_MAX_MEDIA; i++) {
				/* pass 0: never named; pass 1: any free one, state reset */
				if (taken[i] || (pass == 0 && cur[i].name[0]))
					continue;
				if (cruise_maps_reset_state(m, i)) {
					snprintf(err, errlen, "cannot reset cruise_state[%u]: %s",
						 i, strerror(errno));
					return -errno;
				}
				a->medium_index[c] = i;
				taken[i] = true;
				break;
			}
		}
	}
	for (unsigned int c = 0; c < cfg->n_media; c++) {
		if (a->medium_index[c] == CRUISE_MAX_MEDIA) {
			snprintf(err, errlen, "no free medium slot for %s (at most %d)",
				 cfg->media[c].name, CRUISE_MAX_MEDIA);
			return -ENOSPC;
		}
	}
	return 0;
}

static int write_media(const struct cruise_maps *m, const struct cruise_config *cfg,
		       const struct cruise_applied *a, char *err, size_t errlen)
{
	for (unsigned int c = 0; c < cfg->n_media; c++) {
		const struct cruise_cfg_medium *cm = &cfg->media[c];
		struct cruise_medium v;
		__u32 i = a->medium_index[c];

		memset(&v, 0, sizeof(v));
		v.interval_ns = cruise_adaptive_initial(m, i, cfg, cm);
		v.burst = cm->burst;
		v.max_wait_ns = cm->max_wait_ns;
		v.max_conns = cm->max_conns;
		v.refuse_errno = cm->refuse_errno;
		v.flags = CRUISE_MEDIUM_ACTIVE | (cm->dry_run ? CRUISE_MEDIUM_DRY_RUN : 0);
		snprintf(v.name, sizeof(v.name), "%s", cm->name);
		if (cm->fleet) {
			/* a fleet medium keeps the share it leased; never the whole fleet rate */
			struct cruise_medium cur;
			struct cruise_fleet_lease l;
			bool have = !cruise_maps_get_medium(m, i, &cur);

			cruise_fleet_initial(cfg->fleet, cm, have ? &cur : NULL, &l);
			v.interval_ns = l.interval_ns;
			v.fallback_interval_ns = l.fallback_interval_ns;
			v.lease_end_ns = l.lease_end_ns;
		}
		/* one update: the medium's state is kept, so no burst slips through */
		if (cruise_maps_set_medium(m, i, &v)) {
			snprintf(err, errlen, "cannot write cruise_media[%u] (%s): %s", i, cm->name,
				 strerror(errno));
			return -errno;
		}
	}
	return 0;
}

/* Media no longer configured stop pacing; their name stays, so a return finds its state. */
static void deactivate_removed(const struct cruise_maps *m, const struct cruise_applied *a,
			       unsigned int n_media)
{
	for (__u32 i = 0; i < CRUISE_MAX_MEDIA; i++) {
		struct cruise_medium v;
		bool used = false;

		for (unsigned int c = 0; c < n_media; c++)
			used |= a->medium_index[c] == i;
		if (used || cruise_maps_get_medium(m, i, &v) || !(v.flags & CRUISE_MEDIUM_ACTIVE))
			continue;
		v.flags &= ~CRUISE_MEDIUM_ACTIVE;
		if (!cruise_maps_set_medium(m, i, &v))
			cruise_log(CRUISE_LOG_INFO, "medium removed", "medium", v.name, NULL);
	}
}

/* The keys wanted now: each target's addresses, then its hosts', then its Service's. */
struct want {
	struct cruise_target_key key[CRUISE_MAX_TARGETS];
	struct cruise_target_src src[CRUISE_MAX_TARGETS];
	size_t n;
	size_t dropped; /* over CRUISE_MAX_TARGETS */
};

static void want_add(struct want *w, const struct cruise_prefix *p, uint16_t port, __u32 t,
		     __u32 kind, const char *name, __u64 confirmed_ns)
{
	struct cruise_target_key k;

	cruise_prefix_key(&k, p, port);
	for (size_t i = 0; i < w->n; i++)
		if (!memcmp(&w->key[i], &k, sizeof(k)))
			return; /* configured, or named twice: the first says where it came from */
	if (w->n == CRUISE_MAX_TARGETS) {
		w->dropped++;
		return;
	}
	w->key[w->n] = k;
	memset(&w->src[w->n], 0, sizeof(w->src[w->n]));
	w->src[w->n].target = t;
	w->src[w->n].kind = kind;
	w->src[w->n].confirmed_ns = confirmed_ns;
	snprintf(w->src[w->n].name, sizeof(w->src[w->n].name), "%s", name);
	w->n++;
}

/* Every address at every port: the target's own ports, or (none configured) the source's. */
static void want_addrs(struct want *w, const struct cruise_cfg_target *ct, __u32 t,
		       const struct cruise_prefix *addrs, unsigned int n_addrs,
		       const __u16 *own_ports, unsigned int n_own, __u32 kind, const char *name,
		       __u64 confirmed_ns)
{
	const __u16 *ports = ct->n_ports ? ct->ports : own_ports;
	unsigned int n_ports = ct->n_ports ? ct->n_ports : n_own;

	for (unsigned int q = 0; q < n_ports; q++)
		for (unsigned int a = 0; a < n_addrs; a++)
			want_add(w, &addrs[a], ports[q], t, kind, name, confirmed_ns);
}

static void want_service(struct want *w, const struct cruise_cfg_target *ct, __u32 t,
			 const struct cruise_target_sources *src)
{
	char name[2 * CRUISE_SVC_LABEL_LEN];

	for (size_t i = 0; i < src->n_services; i++) {
		const struct cruise_service *s = &src->services[i];

		if (strcmp(s->ns, ct->service_ns) || strcmp(s->name, ct->service_name))
			continue;
		/* cut to CRUISE_HOST_LEN in cruise_target_src */
		snprintf(name, sizeof(name), "%s/%s", s->ns, s->name);
		want_addrs(w, ct, t, s->ep.addrs, s->ep.n_addrs, s->ep.ports, s->ep.n_ports,
			   CRUISE_TARGET_SERVICE, name, s->confirmed_ns);
	}
}

static void want_all(struct want *w, const struct cruise_config *cfg,
		     const struct cruise_target_sources *src)
{
	w->n = w->dropped = 0;
	for (unsigned int t = 0; t < cfg->n_targets; t++) {
		const struct cruise_cfg_target *ct = &cfg->targets[t];

		want_addrs(w, ct, t, ct->prefixes, ct->n_prefixes, NULL, 0,
			   CRUISE_TARGET_CONFIGURED, "", 0);
	}
	for (unsigned int t = 0; t < cfg->n_targets; t++) {
		const struct cruise_cfg_target *ct = &cfg->targets[t];

		for (unsigned int h = 0; h < ct->n_hosts; h++)
			for (size_t i = 0; i < src->n_hosts; i++) {
				if (strcasecmp(src->hosts[i].host, ct->hosts[h]))
					continue;
				want_addrs(w, ct, t, src->hosts[i].addrs, src->hosts[i].n_addrs,
					   NULL, 0, CRUISE_TARGET_HOST, ct->hosts[h],
					   src->hosts[i].confirmed_ns);
			}
	}
	for (unsigned int t = 0; t < cfg->n_targets; t++)
		if (cfg->targets[t].service_name)
			want_service(w, &cfg->targets[t], t, src);
}

int cruise_apply_targets(const struct cruise_maps *m, const struct cruise_config *cfg,
			 const struct cruise_target_sources *src, char *err, size_t errlen)
{
	static struct want w; /* main loop only; too large for its stack */
	struct cruise_target_key stale[CRUISE_MAX_TARGETS], key, next, *prev = NULL;
	size_t n_stale = 0;

	want_all(&w, cfg, src);
	if (w.dropped)
		cruise_log(CRUISE_LOG_WARN,
			   "more target addresses than cruise_targets holds (1024): some not paced",
			   NULL);
	/* every address in force first, then the ones gone: never a moment unpaced */
	for (size_t i = 0; i < w.n; i++) {
		if (cruise_maps_add_target(m, &w.key[i], w.src[i].target)) {
			snprintf(err, errlen, "cannot write target %s: %s",
				 cfg->targets[w.src[i].target].name, strerror(errno));
			return -errno;
		}
		cruise_maps_set_target_src(m, &w.key[i], &w.src[i]);
	}
	while (n_stale < CRUISE_MAX_TARGETS && !bpf_map_get_next_key(m->targets, prev, &next)) {
		bool wanted = false;

		key = next;
		prev = &key;
		for (size_t i = 0; i < w.n && !wanted; i++)
			wanted = !memcmp(&w.key[i], &next, sizeof(next));
		if (!wanted)
			stale[n_stale++] = next;
	}
	for (size_t i = 0; i < n_stale; i++) {
		bpf_map_delete_elem(m->targets, &stale[i]);
		if (m->target_src >= 0)
			bpf_map_delete_elem(m->target_src, &stale[i]);
	}
	return 0;
}

static int make_rules(const struct cruise_config *cfg, struct cruise_applied *a)
{
	size_t n = 0;

	for (unsigned int c = 0; c < cfg->n_media; c++)
		n += cfg->media[c].n_cgroups;
	a->rules = calloc(n ? n : 1, sizeof(*a->rules));
	if (!a->rules)
		return -ENOMEM;
	for (unsigned int c = 0; c < cfg->n_media; c++)
		for (unsigned int g = 0; g < cfg->media[c].n_cgroups; g++) {
			a->rules[a->n_rules].pattern = cfg->media[c].cgroups[g];
			a->rules[a->n_rules].medium = a->medium_index[c];
			a->n_rules++;
		}
	return 0;
}

int cruise_apply_config(const struct cruise_maps *m, const struct cruise_config *cfg,
			const struct cruise_target_sources *src, struct cruise_applied *a,
			char *err, size_t errlen)
{
	int ret;

	memset(a, 0, sizeof(*a));
	ret = assign_media(m, cfg, a, err, errlen);
	if (!ret)
		ret = write_media(m, cfg, a, err, errlen);
	if (!ret)
		ret = cruise_apply_targets(m, cfg, src, err, errlen);
	if (!ret)
		ret = make_rules(cfg, a);
	if (!ret)
		deactivate_removed(m, a, cfg->n_media);
	return ret;
}

static const char *medium_name(const struct cruise_config *cfg, const struct cruise_applied *a,
			       __u32 index)
{
	for (unsigned int c = 0; c < cfg->n_media; c++)
		if (a->medium_index[c] == index)
			return cfg->media[c].name;
	return "?";
}

int cruise_apply_bindings(const struct cruise_maps *m, const char *cgroup_root,
			  const struct cruise_applied *a, const struct cruise_config *cfg,
			  const struct cruise_bind_set *pods, bool keep_stale, bool log_all)
{
	struct cruise_binding_key key, next, *prev = NULL;
	struct cruise_bind_set want;
	struct cruise_binding cur;
	__u64 *stale = NULL;
	size_t n_stale = 0, cap = 0;
	char id[24];
	int ret;

	ret = cruise_bind_scan(cgroup_root, a->rules, a->n_rules, &want);
	if (ret) {
		cruise_log(CRUISE_LOG_WARN, "cgroup scan failed", "error", strerror(-ret), NULL);
		cruise_bind_set_free(&want);
		return ret;
	}
	/* pods' cgroups join the patterns' (a cgroup named by a pattern stays with its medium) */
	for (size_t i = 0; pods && i < pods->n; i++) {
		const struct cruise_bound *b = &pods->v[i];

		if (cruise_bind_find(&want, b->cgroup_id)) {
			if (cruise_bind_find(&want, b->cgroup_id)->medium != b->medium)
				want.conflicts++;
			continue;
		}
		ret = cruise_bind_add(&want, b->cgroup_id, b->medium, b->path);
		if (ret) {
			cruise_bind_set_free(&want);
			return ret;
		}
	}
	/* add and change first: a cgroup moving between media is never unbound meanwhile */
	for (size_t i = 0; i < want.n; i++) {
		struct cruise_binding v = { .medium = want.v[i].medium };

		key.cgroup_id = want.v[i].cgroup_id;
		if (!bpf_map_lookup_elem(m->bindings, &key, &cur) && cur.medium == v.medium) {
			if (!log_all)
				continue;
		} else if (cruise_maps_bind(m, key.cgroup_id, v.medium)) {
			cruise_log(CRUISE_LOG_ERROR, "cannot bind cgroup", "cgroup", want.v[i].path,
				   "error", strerror(errno), NULL);
			continue;
		}
		snprintf(id, sizeof(id), "%llu", (unsigned long long)key.cgroup_id);
		cruise_log(CRUISE_LOG_INFO, "bound cgroup", "cgroup", want.v[i].path, "cgroup_id",
			   id, "medium", medium_name(cfg, a, v.medium), NULL);
	}
	/* pods not known yet (no list since start): what a previous agent bound stays */
	while (!keep_stale && !bpf_map_get_next_key(m->bindings, prev, &next)) {
		key = next;
		prev = &key;
		if (cruise_bind_find(&want, next.cgroup_id))
			continue;
		if (n_stale == cap) {
			__u64 *s = realloc(stale, (cap = cap ? cap * 2 : 64) * sizeof(*s));

			if (!s)
				break;
			stale = s;
		}
		stale[n_stale++] = next.cgroup_id;
	}
	for (size_t i = 0; i < n_stale; i++) {
		if (cruise_maps_unbind(m, stale[i]))
			continue;
		snprintf(id, sizeof(id), "%llu", (unsigned long long)stale[i]);
		cruise_log(CRUISE_LOG_INFO, "unbound cgroup", "cgroup_id", id, NULL);
	}
	if (want.conflicts) {
		snprintf(id, sizeof(id), "%zu", want.conflicts);
		cruise_log(CRUISE_LOG_WARN,
			   "cgroups matched by patterns of two media; the first wins", "count", id,
			   NULL);
	}
	free(stale);
	cruise_bind_set_free(&want);
	return 0;
}

void cruise_applied_free(struct cruise_applied *a)
{
	free(a->rules);
	memset(a, 0, sizeof(*a));
}
