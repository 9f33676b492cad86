// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cruisectl top: the status table refreshed, with the counters as rates per second. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cruisectl.h"
#include "loader.h" /* cruise_now_ns */
#include "units.h"

static void per_sec(char *buf, size_t len, __u64 cur, __u64 prev, __u64 dt_ns)
{
	snprintf(buf, len, "%.1f", (double)(cur - prev) * NSEC_PER_SEC / dt_ns);
}

/* Rates since prev; "-" where there is no earlier sample of the same medium to compare with. */
static void fill_rates(struct row *r, const struct cruise_snapshot_medium *m,
		       const struct cruise_snapshot *prev, __u64 now)
{
	const struct cruise_snapshot_medium *p = prev ? find_index(prev, m->index) : NULL;
	const struct cruise_counters *c = &m->c, *pc = p ? &p->c : NULL;
	__u64 dt = prev ? now - prev->taken_ns : 0;

	/* a slot retired and reused, or maps pinned anew: no rate across that */
	if (!p || !dt || strncmp(p->cfg.name, m->cfg.name, sizeof(m->cfg.name)) ||
	    c->connections < pc->connections || c->delayed < pc->delayed ||
	    c->delay_ns < pc->delay_ns || c->refused_max_wait < pc->refused_max_wait ||
	    c->refused_max_conns < pc->refused_max_conns) {
		strcpy(r->conns, "-");
		strcpy(r->delayed, "-");
		strcpy(r->mean, "-");
		strcpy(r->ref_wait, "-");
		strcpy(r->ref_conns, "-");
		return;
	}
	per_sec(r->conns, sizeof(r->conns), c->connections, pc->connections, dt);
	per_sec(r->delayed, sizeof(r->delayed), c->delayed, pc->delayed, dt);
	fill_mean(r->mean, sizeof(r->mean), c->delay_ns - pc->delay_ns, c->delayed - pc->delayed);
	per_sec(r->ref_wait, sizeof(r->ref_wait), c->refused_max_wait, pc->refused_max_wait, dt);
	per_sec(r->ref_conns, sizeof(r->ref_conns), c->refused_max_conns, pc->refused_max_conns,
		dt);
}

static void local_time(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%H:%M:%S", &tm);
}

/*
 * One refresh. On a terminal: the screen cleared and redrawn. Otherwise plain lines, a TIME
 * column first, the header only once, so that the output can be read by a program or a log.
 */
static void top_frame(const struct cruise_snapshot *cur, const struct cruise_snapshot *prev,
		      bool screen, bool header)
{
	char when[16], iv[32];
	int w = name_width(cur);

	local_time(when, sizeof(when));
	if (screen) {
		cruise_format_duration(opts.interval_ns, iv, sizeof(iv));
		printf("\033[H\033[2J");
		printf("cruise top  %s  every %s  %s  (q or Ctrl-C to quit)\n\n", when, iv,
		       opts.pin_dir);
		print_header(stdout, w, true, false);
	} else if (header) {
		print_header(stdout, w, true, true);
	}
	if (screen && !cur->n_media)
		printf("no active media: the agent has configured none\n");
	for (unsigned int i = 0; i < cur->n_media; i++) {
		struct row r = {};

		if (!screen)
			strcpy(r.time, when);
		fill_limits(&r, &cur->media[i]);
		fill_rates(&r, &cur->media[i], prev, cur->taken_ns);
		print_row(stdout, &r, w);
	}
	if (screen)
		print_fleet_media(stdout, cur);
	if (screen && cur->events_lost)
		printf("\nrefusal events lost (ring buffer full): %llu\n",
		       (unsigned long long)cur->events_lost);
}

int cmd_top(void)
{
	static struct cruise_snapshot snaps[2];
	struct cruise_snapshot *cur = &snaps[0], *prev = &snaps[1], *t;
	bool screen = isatty(STDOUT_FILENO), keys, header = true;
	struct cruise_maps m;
	sigset_t wait_mask;
	__u64 frames = 0, deadline;
	int ret = 0;

	if (open_maps(&m))
		return 1;
	setup_signals(&wait_mask);
	keys = enter_raw_mode();
	if (take_snapshot(&m, prev)) {
		ret = 1;
		goto out;
	}
	/* a screen shows the limits at once; the rates need a second sample */
	if (screen) {
		top_frame(prev, NULL, true, false);
		if (flush_out())
			goto out;
	}
	deadline = prev->taken_ns + opts.interval_ns;
	while (!wait_until(deadline, keys, -1, &wait_mask)) {
		if (take_snapshot(&m, cur)) {
			ret = 1;
			break;
		}
		top_frame(cur, prev, screen, header);
		header = false;
		if (flush_out())
			break;
		if (opts.count && ++frames >= opts.count)
			break;
		t = prev;
		prev = cur;
		cur = t;
		deadline += opts.interval_ns;
		/* stopped (Ctrl-Z) or slow: go on from now, no catching up */
		if (deadline < cruise_now_ns())
			deadline = cruise_now_ns() + opts.interval_ns;
	}
out:
	restore_terminal();
	cruise_maps_close(&m);
	return ret;
}

static const struct argp_option top_options[] = {
	{ "count", OPT_COUNT, "N", 0, "Stop after N refreshes", 0 },
	{ "interval", OPT_INTERVAL, "DURATION", 0,
	  "Refresh this often (default 1s; \"2\" is 2 seconds, or 500ms, ...)", 0 },
	{},
};

const struct argp top_argp = {
	top_options,
	parse_sub,
	NULL,
	"The status table refreshed every second, with the counters as rates per second over the "
	"last interval, until q or Ctrl-C. When stdout is not a terminal, prints plain lines "
	"(a TIME column, the header once, no escape codes) for logs and scripts.\v"
	"EXAMPLES:\n"
	"  cruisectl top\n"
	"  cruisectl top --interval 5\n"
	"  cruisectl top -n 60 > pacing.log   one minute of plain lines",
	common_children,
	NULL,
	NULL
};
