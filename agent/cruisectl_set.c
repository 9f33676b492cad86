// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cruisectl set: one medium's limits changed in one map update, every argument checked first. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>

#include "config.h" /* the limits of a medium */
#include "cruisectl.h"
#include "units.h"

enum set_key { SET_RATE, SET_BURST, SET_MAX_WAIT, SET_MAX_CONNS, SET_DRY_RUN, SET_MIN_RATE, SET_N };

static const char *const set_keys[SET_N] = {
	[SET_RATE] = "rate",	       [SET_BURST] = "burst",	  [SET_MAX_WAIT] = "max_wait",
	[SET_MAX_CONNS] = "max_conns", [SET_DRY_RUN] = "dry_run", [SET_MIN_RATE] = "min_rate",
};

struct set_values {
	bool given[SET_N];
	__u64 interval_ns, floor_interval_ns, burst, max_wait_ns;
	__u32 max_conns;
	bool dry_run;
};

/* Every KEY=VALUE, checked whole; nothing is written unless all of them are good. */
static int parse_set_args(char **args, unsigned int n, struct set_values *v)
{
	char err[512], q[QUOTED_LEN], q2[QUOTED_LEN];
	unsigned int i;
	int k;

	memset(v, 0, sizeof(*v));
	if (!n) {
		fail("set: nothing to set: give KEY=VALUE, KEY among rate, burst, max_wait, "
		     "max_conns, dry_run, min_rate");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		char *eq = strchr(args[i], '=');
		const char *val;
		__u64 u;

		if (!eq) {
			fail("set: \"%s\": expected KEY=VALUE", quoted(q, sizeof(q), args[i]));
			return -EINVAL;
		}
		*eq = '\0';
		val = eq + 1;
		for (k = 0; k < SET_N && strcmp(args[i], set_keys[k]); k++)
			;
		if (k == SET_N) {
			fail("set: unknown key \"%s\": expected rate, burst, max_wait, "
			     "max_conns, dry_run or min_rate",
			     quoted(q, sizeof(q), args[i]));
			return -EINVAL;
		}
		if (v->given[k]) {
			fail("set: %s given twice", set_keys[k]);
			return -EINVAL;
		}
		v->given[k] = true;
		err[0] = '\0';
		switch (k) {
		case SET_RATE:
			if (cruise_parse_rate(val, &v->interval_ns, err, sizeof(err)))
				goto bad;
			break;
		case SET_MIN_RATE:
			if (cruise_parse_rate(val, &v->floor_interval_ns, err, sizeof(err)))
				goto bad;
			break;
		case SET_BURST:
			if (cruise_parse_count(val, CRUISE_BURST_MAX, &v->burst, err, sizeof(err)))
				goto bad;
			break;
		case SET_MAX_WAIT:
			if (cruise_parse_duration(val, &v->max_wait_ns, err, sizeof(err)))
				goto bad;
			if (v->max_wait_ns > CRUISE_MAX_WAIT_MAX_NS) {
				fail("set: max_wait: \"%s\" is above the maximum, 120s (the kernel "
				     "caps a SYN timeout at 120 s)",
				     quoted(q2, sizeof(q2), val));
				return -ERANGE;
			}
			break;
		case SET_MAX_CONNS:
			if (cruise_parse_count(val, UINT32_MAX, &u, err, sizeof(err)))
				goto bad;
			v->max_conns = (__u32)u;
			break;
		case SET_DRY_RUN:
			if (cruise_parse_bool(val, &v->dry_run, err, sizeof(err)))
				goto bad;
			break;
		}
		continue;
	bad:
		fail("set: %s: %s", set_keys[k], err);
		return -EINVAL;
	}
	return 0;
}

/* An adaptive medium's rate is the controller's: rate and min_rate are its ceiling and floor. */
static int set_adaptive(const struct cruise_maps *m, const char *medium, __u32 idx,
			const struct set_values *v, struct cruise_medium *med)
{
	struct cruise_adaptive old, new;
	char a[48], b[48];

	if (cruise_maps_get_adaptive(m, idx, &old) || !(old.flags & CRUISE_ADAPT_ACTIVE)) {
		fail("set: medium %s changed while being read (an agent reload?); try again",
		     medium);
		return -EAGAIN;
	}
	new = old;
	if (v->given[SET_RATE])
		new.ceiling_interval_ns = v->interval_ns;
	if (v->given[SET_MIN_RATE])
		new.floor_interval_ns = v->floor_interval_ns;
	if (new.floor_interval_ns < new.ceiling_interval_ns) {
		cruise_format_rate(new.floor_interval_ns, a, sizeof(a));
		cruise_format_rate(new.ceiling_interval_ns, b, sizeof(b));
		fail("set: min_rate %s would be above rate %s (the floor and the ceiling of %s)", a,
		     b, medium);
		return -ERANGE;
	}
	/* the adapted rate moves into the new bounds now, not at the next round */
	if (new.rate_interval_ns < new.ceiling_interval_ns)
		new.rate_interval_ns = new.ceiling_interval_ns;
	if (new.rate_interval_ns > new.floor_interval_ns)
		new.rate_interval_ns = new.floor_interval_ns;
	if (!med->lease_end_ns)
		med->interval_ns = new.rate_interval_ns;
	if (cruise_maps_set_adaptive(m, idx, &new)) {
		fail("set: cannot update medium %s: %s", medium, strerror(errno));
		return -errno;
	}
	printf("medium %s (index %u)\n", medium, idx);
	printf("  adaptive on signal %.*s\n", (int)sizeof(new.signal), new.signal);
	cruise_format_rate(old.ceiling_interval_ns, a, sizeof(a));
	cruise_format_rate(new.ceiling_interval_ns, b, sizeof(b));
	printf("  %-10s %s -> %s (the ceiling)\n", "rate", a, b);
	cruise_format_rate(old.floor_interval_ns, a, sizeof(a));
	cruise_format_rate(new.floor_interval_ns, b, sizeof(b));
	printf("  %-10s %s -> %s (the floor)\n", "min_rate", a, b);
	cruise_format_rate(new.rate_interval_ns, a, sizeof(a));
	printf("  %-10s %s, moved by the controller every round\n", "adapted", a);
	return 0;
}

static void set_apply(const struct set_values *v, struct cruise_medium *m)
{
	if (v->given[SET_RATE])
		m->interval_ns = v->interval_ns;
	if (v->given[SET_BURST])
		m->burst = v->burst;
	if (v->given[SET_MAX_WAIT])
		m->max_wait_ns = v->max_wait_ns;
	if (v->given[SET_MAX_CONNS])
		m->max_conns = v->max_conns;
	if (v->given[SET_DRY_RUN]) {
		if (v->dry_run)
			m->flags |= CRUISE_MEDIUM_DRY_RUN;
		else
			m->flags &= ~CRUISE_MEDIUM_DRY_RUN;
	}
}

static void set_value_str(const struct cruise_medium *m, int k, char *buf, size_t len)
{
	switch (k) {
	case SET_RATE:
		cruise_format_rate(m->interval_ns, buf, len);
		break;
	case SET_BURST:
		snprintf(buf, len, "%llu", (unsigned long long)m->burst);
		break;
	case SET_MAX_WAIT:
		cruise_format_duration(m->max_wait_ns, buf, len);
		break;
	case SET_MAX_CONNS:
		if (m->max_conns)
			snprintf(buf, len, "%u", m->max_conns);
		else
			snprintf(buf, len, "none");
		break;
	default:
		snprintf(buf, len, "%s", m->flags & CRUISE_MEDIUM_DRY_RUN ? "on" : "off");
		break;
	}
}

/* "push, email" for a message, cut to fit */
static void list_media(const struct cruise_snapshot *s, char *buf, size_t len)
{
	char name[CRUISE_NAME_LEN + 16];
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < s->n_media && n + 1 < len; i++) {
		int w = snprintf(
			buf + n, len - n, "%s%s", i ? ", " : "",
			medium_label(&s->media[i].cfg, s->media[i].index, name, sizeof(name)));

		n = w < 0 ? len : n + (size_t)w;
	}
}

int cmd_set(void)
{
	static struct cruise_snapshot s;
	const struct cruise_snapshot_medium *sm = NULL;
	char name[CRUISE_NAME_LEN + 16], q[QUOTED_LEN], known[512], a[48], b[48];
	struct cruise_medium old, new;
	struct set_values v, vr;
	struct cruise_maps m;
	bool adaptive;
	int ret = 1;

	if (parse_set_args(opts.args + 1, opts.n_args - 1, &v))
		return 1;
	vr = v;
	if (open_maps(&m))
		return 1;
	if (take_snapshot(&m, &s))
		goto out;
	for (unsigned int i = 0; i < s.n_media && !sm; i++)
		if (!strcmp(opts.args[0],
			    medium_label(&s.media[i].cfg, s.media[i].index, name, sizeof(name))))
			sm = &s.media[i];
	if (!sm) {
		list_media(&s, known, sizeof(known));
		fail("set: unknown medium \"%s\" (active media: %s)",
		     quoted(q, sizeof(q), opts.args[0]), s.n_media ? known : "none");
		goto out;
	}
	/* the latest value, right before the write: the agent may have written meanwhile */
	if (bpf_map_lookup_elem(m.media, &sm->index, &old)) {
		fail("set: cannot read medium %s: %s", opts.args[0], strerror(errno));
		goto out;
	}
	if (!(old.flags & CRUISE_MEDIUM_ACTIVE) ||
	    strncmp(old.name, sm->cfg.name, sizeof(old.name))) {
		fail("set: medium %s changed while being read (an agent reload?); try again",
		     opts.args[0]);
		goto out;
	}
	if (v.given[SET_MIN_RATE] && !sm->adaptive) {
		fail("set: min_rate: %s is not adaptive (min_rate is an adaptive medium's floor)",
		     opts.args[0]);
		goto out;
	}
	/*
	 * A fleet medium's interval is this node's leased share, rewritten by the agent every
	 * refresh: a rate written here would last until then, outside the fleet's budget.
	 */
	if (v.given[SET_RATE] && old.lease_end_ns && !sm->adaptive) {
		fail("set: %s is a fleet medium: its rate is the fleet's, set in the "
		     "agent's config; this node's share comes from the fleet store",
		     opts.args[0]);
		goto out;
	}
	/* the whole entry as read, the given fields changed: a fleet lease stays as it is */
	new = old;
	adaptive = sm->adaptive && (v.given[SET_RATE] || v.given[SET_MIN_RATE]);
	if (adaptive) {
		/* the ceiling and the floor; the rate in force follows them */
		v.given[SET_RATE] = false;
		if (set_adaptive(&m, opts.args[0], sm->index, &vr, &new))
			goto out;
	}
	set_apply(&v, &new);
	/* one update of the limits; the pacing state in cruise_state is not touched */
	if (bpf_map_update_elem(m.media, &sm->index, &new, BPF_EXIST)) {
		fail("set: cannot update medium %s: %s", opts.args[0], strerror(errno));
		goto out;
	}
	if (!adaptive)
		printf("medium %s (index %u)\n", opts.args[0], sm->index);
	for (int k = 0; k < SET_N; k++) {
		if (k == SET_MIN_RATE || (k == SET_RATE && adaptive))
			continue;
		set_value_str(&old, k, a, sizeof(a));
		set_value_str(&new, k, b, sizeof(b));
		if (k == SET_RATE && old.lease_end_ns) {
			cruise_format_rate(old.fallback_interval_ns, b, sizeof(b));
			printf("  %-10s fleet medium: this node's share %s, fallback %s "
			       "(unchanged)\n",
			       set_keys[k], a, b);
			continue;
		}
		if (v.given[k])
			printf("  %-10s %s -> %s\n", set_keys[k], a, b);
		else
			printf("  %-10s %s (unchanged)\n", set_keys[k], a);
	}
	ret = flush_out() ? 1 : 0;
	fprintf(stderr, "cruisectl: warning: this changed the maps only: the next agent reload "
			"(SIGHUP, config change, restart) restores the config file's values\n");
out:
	cruise_maps_close(&m);
	return ret;
}

const struct argp set_argp = {
	NULL,
	parse_sub,
	"MEDIUM KEY=VALUE...",
	"Change a medium's limits now, in one map update: the medium keeps its pacing state, so "
	"no burst slips through. Prints the old and the new values. Every KEY=VALUE is checked "
	"before anything is written:\n"
	"  rate=COUNT/UNIT    connections per s, m, h or d (200/s, 30/m); not on a fleet medium, "
	"whose rate is the fleet's (the agent's config) and whose share is leased from the "
	"fleet store; on an adaptive medium, its ceiling\n"
	"  min_rate=COUNT/UNIT  an adaptive medium's floor\n"
	"  burst=N            connections at once above the rate, at most 1000000\n"
	"  max_wait=DURATION  longest hold before a refusal (250ms, 2s), at most 120s\n"
	"  max_conns=N        open connections at most, 0 for no limit\n"
	"  dry_run=on|off     count what would be delayed or refused, enforce nothing\n"
	"The change lasts until the agent next loads its config (SIGHUP, a change of the file, a "
	"restart), which restores the file's values: make lasting changes in the config file.\v"
	"EXAMPLES:\n"
	"  cruisectl set push rate=100/s\n"
	"  cruisectl set email rate=20/s burst=5 max_wait=2s\n"
	"  cruisectl set push dry_run=on\n"
	"  cruisectl set email rate=300/s min_rate=10/s   (adaptive: ceiling and floor)",
	common_children,
	NULL,
	NULL
};
