// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The media table of cruisectl status and top: one row a medium, totals or rates, fleet below. */
#include <stdio.h>
#include <string.h>

#include "cruisectl.h"
#include "units.h"

void fmt_approx(__u64 ns, char *buf, size_t len)
{
	__u64 unit = NSEC_PER_SEC;

	if (ns < NSEC_PER_MSEC)
		unit = NSEC_PER_USEC;
	else if (ns < 10 * NSEC_PER_SEC)
		unit = NSEC_PER_MSEC;

	cruise_format_duration((ns + unit / 2) / unit * unit, buf, len);
}

int name_width(const struct cruise_snapshot *s)
{
	char buf[CRUISE_NAME_LEN + 16];
	int w = 6;

	for (unsigned int i = 0; i < s->n_media; i++) {
		const struct cruise_snapshot_medium *m = &s->media[i];
		int n = (int)strlen(medium_label(&m->cfg, m->index, buf, sizeof(buf)));

		w = n > w ? n : w;
	}
	return w;
}

void print_row(FILE *f, const struct row *r, int name_w)
{
	if (r->time[0])
		fprintf(f, "%-8s  ", r->time);
	fprintf(f, "%-*s  %9s  %7s  %8s  %9s  %7s  %6s  %8s  %11s  %9s  %10s  %14s  %15s\n", name_w,
		r->name, r->rate, r->burst, r->max_wait, r->max_conns, r->dry_run, r->open,
		r->backlog, r->conns, r->delayed, r->mean, r->ref_wait, r->ref_conns);
}

void print_header(FILE *f, int name_w, bool rates, bool time_col)
{
	struct row h = {
		.name = "MEDIUM",
		.rate = "RATE",
		.burst = "BURST",
		.max_wait = "MAX_WAIT",
		.max_conns = "MAX_CONNS",
		.dry_run = "DRY_RUN",
		.open = "OPEN",
		.backlog = "BACKLOG",
		.mean = "MEAN_DELAY",
	};

	if (time_col)
		strcpy(h.time, "TIME");
	strcpy(h.conns, rates ? "CONN/S" : "CONNECTIONS");
	strcpy(h.delayed, rates ? "DELAYED/S" : "DELAYED");
	strcpy(h.ref_wait, rates ? "REF_MAX_WAIT/S" : "REF_MAX_WAIT");
	strcpy(h.ref_conns, rates ? "REF_MAX_CONNS/S" : "REF_MAX_CONNS");
	print_row(f, &h, name_w);
}

/* the rate in force: a fleet medium's share while leased, its fallback once the lease ended */
void fill_limits(struct row *r, const struct cruise_snapshot_medium *m)
{
	medium_label(&m->cfg, m->index, r->name, sizeof(r->name));
	cruise_format_rate(m->interval_ns, r->rate, sizeof(r->rate));
	snprintf(r->burst, sizeof(r->burst), "%llu", (unsigned long long)m->cfg.burst);
	cruise_format_duration(m->cfg.max_wait_ns, r->max_wait, sizeof(r->max_wait));
	if (m->cfg.max_conns)
		snprintf(r->max_conns, sizeof(r->max_conns), "%u", m->cfg.max_conns);
	else
		strcpy(r->max_conns, "-");
	strcpy(r->dry_run, m->cfg.flags & CRUISE_MEDIUM_DRY_RUN ? "on" : "off");
	snprintf(r->open, sizeof(r->open), "%lld", (long long)m->open_conns);
	fmt_approx(m->backlog_ns, r->backlog, sizeof(r->backlog));
}

void fill_mean(char *buf, size_t len, __u64 delay_ns, __u64 delayed)
{
	if (delayed)
		fmt_approx(delay_ns / delayed, buf, len);
	else
		snprintf(buf, len, "-");
}

/* A fleet medium's state: "leased, 1.85s left" or "fallback at 5/s". */
static void fleet_state(const struct cruise_snapshot_medium *m, char *buf, size_t len)
{
	char rate[32];

	if (m->fallback) {
		cruise_format_rate(m->interval_ns, rate, sizeof(rate));
		snprintf(buf, len, "fallback at %s", rate);
	} else {
		snprintf(buf, len, "leased, %.2fs left", (double)m->lease_left_ns / NSEC_PER_SEC);
	}
}

/* on a screen: the fleet media, their share, fallback and lease, after the table */
void print_fleet_media(FILE *f, const struct cruise_snapshot *s)
{
	char name[CRUISE_NAME_LEN + 16], share[32], fb[32], state[64];
	int w = 6;
	bool any = false;

	for (unsigned int i = 0; i < s->n_media; i++) {
		const struct cruise_snapshot_medium *m = &s->media[i];
		int n;

		if (!m->fleet)
			continue;
		any = true;
		n = (int)strlen(medium_label(&m->cfg, m->index, name, sizeof(name)));
		w = n > w ? n : w;
	}
	if (!any)
		return;
	fprintf(f, "\n%-*s  %9s  %9s  %s\n", w, "MEDIUM", "SHARE", "FALLBACK", "FLEET_STATE");
	for (unsigned int i = 0; i < s->n_media; i++) {
		const struct cruise_snapshot_medium *m = &s->media[i];

		if (!m->fleet)
			continue;
		cruise_format_rate(m->cfg.interval_ns, share, sizeof(share));
		cruise_format_rate(m->cfg.fallback_interval_ns, fb, sizeof(fb));
		fleet_state(m, state, sizeof(state));
		fprintf(f, "%-*s  %9s  %9s  %s\n", w,
			medium_label(&m->cfg, m->index, name, sizeof(name)), share, fb, state);
	}
}
