// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cruisectl status: every active medium's limits and counters since cruise was loaded, once. */
#include <stdio.h>
#include <string.h>

#include "adaptive.h"

#include "cruisectl.h"
#include "units.h"

static void fill_totals(struct row *r, const struct cruise_snapshot_medium *m)
{
	const struct cruise_counters *c = &m->c;

	snprintf(r->conns, sizeof(r->conns), "%llu", (unsigned long long)c->connections);
	snprintf(r->delayed, sizeof(r->delayed), "%llu", (unsigned long long)c->delayed);
	fill_mean(r->mean, sizeof(r->mean), c->delay_ns, c->delayed);
	snprintf(r->ref_wait, sizeof(r->ref_wait), "%llu", (unsigned long long)c->refused_max_wait);
	snprintf(r->ref_conns, sizeof(r->ref_conns), "%llu",
		 (unsigned long long)c->refused_max_conns);
}

static void json_adaptive(FILE *f, const struct cruise_adaptive *a)
{
	char rate[32], lo[32], hi[32], sig[CRUISE_NAME_LEN + 1];

	cruise_format_rate(a->rate_interval_ns, rate, sizeof(rate));
	cruise_format_rate(a->floor_interval_ns, lo, sizeof(lo));
	cruise_format_rate(a->ceiling_interval_ns, hi, sizeof(hi));
	snprintf(sig, sizeof(sig), "%.*s", (int)sizeof(a->signal), a->signal);
	fprintf(f, ",\"adaptive\":{\"signal\":");
	put_json_str(f, sig);
	fprintf(f,
		",\"rate\":\"%s\",\"rate_interval_ns\":%llu,\"min_rate\":\"%s\",\"ceiling\":\"%s\","
		"\"priority\":%u,\"value\":%.9g,\"target\":%.9g,\"decision\":\"%s\",\"why\":\"%s\","
		"\"failures\":%u}",
		rate, (unsigned long long)a->rate_interval_ns, lo, hi, a->priority,
		a->value_micro / 1e6, a->target_micro / 1e6,
		cruise_adapt_decision_name(a->decision), cruise_adapt_why_name(a->why),
		a->failures);
}

/* "rate" and "interval_ns" are in force; a fleet medium's share and fallback are under "fleet" */
static void json_medium(FILE *f, const struct cruise_snapshot_medium *m)
{
	const struct cruise_counters *c = &m->c;
	char name[CRUISE_NAME_LEN + 16], rate[32], wait[32], share[32], fb[32];

	cruise_format_rate(m->interval_ns, rate, sizeof(rate));
	cruise_format_duration(m->cfg.max_wait_ns, wait, sizeof(wait));
	fprintf(f, "{\"index\":%u,\"name\":", m->index);
	put_json_str(f, medium_label(&m->cfg, m->index, name, sizeof(name)));
	fprintf(f,
		",\"rate\":\"%s\",\"interval_ns\":%llu,\"burst\":%llu,\"max_wait\":\"%s\","
		"\"max_wait_ns\":%llu,\"max_conns\":%u,\"dry_run\":%s,\"open_conns\":%lld,"
		"\"backlog_ns\":%llu,\"connections\":%llu,\"admitted_now\":%llu,\"delayed\":%llu,"
		"\"delay_ns\":%llu,\"mean_delay_ns\":%llu,\"refused_max_wait\":%llu,"
		"\"refused_max_conns\":%llu,\"dry_run_passed\":%llu,\"closed\":%llu,"
		"\"events_lost\":%llu",
		rate, (unsigned long long)m->interval_ns, (unsigned long long)m->cfg.burst, wait,
		(unsigned long long)m->cfg.max_wait_ns, m->cfg.max_conns,
		m->cfg.flags & CRUISE_MEDIUM_DRY_RUN ? "true" : "false", (long long)m->open_conns,
		(unsigned long long)m->backlog_ns, (unsigned long long)c->connections,
		(unsigned long long)c->admitted_now, (unsigned long long)c->delayed,
		(unsigned long long)c->delay_ns,
		(unsigned long long)(c->delayed ? c->delay_ns / c->delayed : 0),
		(unsigned long long)c->refused_max_wait, (unsigned long long)c->refused_max_conns,
		(unsigned long long)c->dry_run_passed, (unsigned long long)c->closed,
		(unsigned long long)c->events_lost);
	if (m->fleet) {
		cruise_format_rate(m->cfg.interval_ns, share, sizeof(share));
		cruise_format_rate(m->cfg.fallback_interval_ns, fb, sizeof(fb));
		fprintf(f,
			",\"fleet\":{\"share\":\"%s\",\"share_interval_ns\":%llu,"
			"\"fallback\":\"%s\",\"fallback_interval_ns\":%llu,\"state\":\"%s\","
			"\"lease_left_ns\":%llu,\"connections_at_fallback\":%llu}",
			share, (unsigned long long)m->cfg.interval_ns, fb,
			(unsigned long long)m->cfg.fallback_interval_ns,
			m->fallback ? "fallback" : "leased", (unsigned long long)m->lease_left_ns,
			(unsigned long long)c->fallback);
	}
	if (m->adaptive)
		json_adaptive(f, &m->ad);
	fputc('}', f);
}

/* Adaptive media again below the table: the controller's rate, bounds, signal and decision. */
static void print_adaptive_media(FILE *f, const struct cruise_snapshot *s)
{
	char name[CRUISE_NAME_LEN + 16], rate[32], lo[32], hi[32], why[64];
	bool any = false;
	int w = 6;

	for (unsigned int i = 0; i < s->n_media; i++) {
		int n = (int)strlen(
			medium_label(&s->media[i].cfg, s->media[i].index, name, sizeof(name)));

		any |= s->media[i].adaptive;
		w = s->media[i].adaptive && n > w ? n : w;
	}
	if (!any)
		return;
	fprintf(f, "\n%-*s  %9s  %9s  %9s  %-12s  %10s  %10s  %s\n", w, "MEDIUM", "ADAPTED",
		"FLOOR", "CEILING", "SIGNAL", "VALUE", "TARGET", "DECISION");
	for (unsigned int i = 0; i < s->n_media; i++) {
		const struct cruise_snapshot_medium *m = &s->media[i];
		const struct cruise_adaptive *a = &m->ad;

		if (!m->adaptive)
			continue;
		cruise_format_rate(a->rate_interval_ns, rate, sizeof(rate));
		cruise_format_rate(a->floor_interval_ns, lo, sizeof(lo));
		cruise_format_rate(a->ceiling_interval_ns, hi, sizeof(hi));
		snprintf(why, sizeof(why), "%s (%s)", cruise_adapt_decision_name(a->decision),
			 cruise_adapt_why_name(a->why));
		fprintf(f, "%-*s  %9s  %9s  %9s  %-12.*s  %10.4g  %10.4g  %s\n", w,
			medium_label(&m->cfg, m->index, name, sizeof(name)), rate, lo, hi,
			(int)sizeof(a->signal), a->signal, a->value_micro / 1e6,
			a->target_micro / 1e6, a->decision ? why : "none yet");
	}
}

int cmd_status(void)
{
	static struct cruise_snapshot s;
	struct cruise_maps m;
	int err;

	if (open_maps(&m))
		return 1;
	err = take_snapshot(&m, &s);
	cruise_maps_close(&m);
	if (err)
		return 1;
	if (opts.out == OUT_JSON) {
		printf("{\"pin_dir\":");
		put_json_str(stdout, opts.pin_dir);
		printf(",\"events_lost\":%llu,\"media\":[", (unsigned long long)s.events_lost);
		for (unsigned int i = 0; i < s.n_media; i++) {
			if (i)
				putchar(',');
			json_medium(stdout, &s.media[i]);
		}
		printf("]}\n");
		return flush_out() ? 1 : 0;
	}
	if (!s.n_media) {
		printf("no active media: the agent has configured none\n");
		return flush_out() ? 1 : 0;
	}
	print_header(stdout, name_width(&s), false, false);
	for (unsigned int i = 0; i < s.n_media; i++) {
		struct row r = {};

		fill_limits(&r, &s.media[i]);
		fill_totals(&r, &s.media[i]);
		print_row(stdout, &r, name_width(&s));
	}
	print_fleet_media(stdout, &s);
	print_adaptive_media(stdout, &s);
	if (s.events_lost)
		printf("refusal events lost (ring buffer full): %llu\n",
		       (unsigned long long)s.events_lost);
	return flush_out() ? 1 : 0;
}

static const struct argp_option status_options[] = {
	OUTPUT_OPTION("one JSON document"),
	{},
};

const struct argp status_argp = {
	status_options,
	parse_sub,
	NULL,
	"Show every active medium: its limits (rate, burst, max_wait, max_conns, dry-run), its "
	"open connections, its backlog (how far its next slot is ahead of now: a connect now "
	"would wait that long, less its burst) and its counters since cruise was loaded: "
	"connections, delayed connections and their mean delay, refusals by reason (max_wait, "
	"max_conns). RATE is the rate in force. Fleet media (a rate for all nodes together, "
	"shares leased from the fleet store) are listed again below the table: this node's "
	"share, its fallback and the lease: \"leased, 1.85s left\", or \"fallback at 5/s\" "
	"once the lease has ended (the agent is gone or cannot reach the store). Adaptive media "
	"(a rate moved between min_rate and rate by a health signal) are listed below too: the "
	"adapted rate, floor, ceiling, the signal's last value and target, and the last "
	"decision (up, down, hold) with its reason.\v"
	"EXAMPLES:\n"
	"  cruisectl status\n"
	"  cruisectl status -o json | jq '.media[] | {name, connections, refused_max_wait}'\n"
	"  cruisectl --pin-dir /sys/fs/bpf/cruise-staging status",
	common_children,
	NULL,
	NULL
};
