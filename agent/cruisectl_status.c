// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cruisectl status: every active medium's limits and counters since cruise was loaded, once. */
#include <stdio.h>

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
	fputc('}', f);
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
	"once the lease has ended (the agent is gone or cannot reach the store).\v"
	"EXAMPLES:\n"
	"  cruisectl status\n"
	"  cruisectl status -o json | jq '.media[] | {name, connections, refused_max_wait}'\n"
	"  cruisectl --pin-dir /sys/fs/bpf/cruise-staging status",
	common_children,
	NULL,
	NULL
};
