// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cruisectl's main: the command line, the shared helpers and the commands on the maps. */
/*
 * cruisectl: look at and adjust cruise straight from its pinned maps, with or without a running
 * agent. Everything it shows comes from the shared readers (snapshot.c for media and counters,
 * eventlog.c for events and cgroup paths, units.c for every figure), so that it says what the
 * agent's /metrics and logs say. The one thing it writes is one medium's limits (`set`), with one
 * map update after every argument has been checked.
 */
#define _GNU_SOURCE
#include <argp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "config.h" /* CRUISE_DEFAULT_PIN_DIR, the limits of a medium */
#include "cruisectl.h"
#include "eventlog.h"
#include "loader.h" /* cruise_cgroup2_root, cruise_now_ns */
#include "log.h"    /* cruise_json_escape */
#include "snapshot.h"
#include "units.h"

#define NSEC_PER_USEC 1000ULL
#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_SEC  1000000000ULL

#define LINE_LEN 8192

struct command {
	const char *name;
	int (*run)(void);
	const struct argp *argp;
	unsigned int min_args, max_args;
};

struct cruisectl_opts opts = { .pin_dir = CRUISE_DEFAULT_PIN_DIR, .interval_ns = NSEC_PER_SEC };

void fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("cruisectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *quoted(char *buf, size_t len, const char *s)
{
	buf[0] = '\0';
	cruise_json_escape(buf, len, s);
	return buf;
}

void put_json_str(FILE *f, const char *s)
{
	char buf[PATH_MAX * 2];

	fprintf(f, "\"%s\"", quoted(buf, sizeof(buf), s));
}

/* A measured duration as people read it: us below 1 ms, ms below 10 s, whole seconds above. */
static void fmt_approx(__u64 ns, char *buf, size_t len)
{
	__u64 unit = NSEC_PER_SEC;

	if (ns < NSEC_PER_MSEC)
		unit = NSEC_PER_USEC;
	else if (ns < 10 * NSEC_PER_SEC)
		unit = NSEC_PER_MSEC;

	cruise_format_duration((ns + unit / 2) / unit * unit, buf, len);
}

/* "5" is 5 s, as people write a timeout; anything else is a duration with its unit ("500ms"). */
static int parse_seconds(const char *s, __u64 *ns, char *err, size_t errlen)
{
	__u64 v;

	if (!cruise_parse_count(s, CRUISE_DURATION_MAX_NS / NSEC_PER_SEC, &v, NULL, 0)) {
		*ns = v * NSEC_PER_SEC;
		return 0;
	}
	return cruise_parse_duration(s, ns, err, errlen);
}

/* maps */

static int open_maps(struct cruise_maps *m)
{
	char q[QUOTED_LEN];
	int err;

	/* before touching a map: as another user every bpf() call would fail, less clearly */
	if (geteuid() != 0) {
		fail("must run as root (the maps are pinned mode 0600)");
		return -EPERM;
	}
	err = cruise_maps_open_pinned(m, opts.pin_dir);
	if (!err)
		return 0;
	quoted(q, sizeof(q), opts.pin_dir);
	if (err == -ENOENT || err == -ENOTDIR)
		fail("cruise is not loaded: no maps pinned under %s", q);
	else if (err == -EPROTO)
		fail("the maps pinned under %s are not the ones this cruisectl reads "
		     "(another version of cruise?)",
		     q);
	else
		fail("cannot open the maps pinned under %s: %s", q, strerror(-err));
	return err;
}

static int take_snapshot(const struct cruise_maps *m, struct cruise_snapshot *s)
{
	int err = cruise_snapshot_read(m, s);

	if (err)
		fail("cannot read the maps: %s", strerror(-err));
	return err;
}

/* A medium's name; one without a name goes by its index, as in /metrics. */
static const char *medium_label(const struct cruise_medium *cfg, __u32 index, char *buf, size_t len)
{
	size_t n = strnlen(cfg->name, sizeof(cfg->name));

	if (n)
		snprintf(buf, len, "%.*s", (int)n, cfg->name);
	else
		snprintf(buf, len, "%u", index);
	return buf;
}

static const struct cruise_snapshot_medium *find_index(const struct cruise_snapshot *s, __u32 i)
{
	for (unsigned int k = 0; k < s->n_media; k++)
		if (s->media[k].index == i)
			return &s->media[k];
	return NULL;
}

/* status and top: one table, totals or per-second rates */

struct row {
	char time[16], name[CRUISE_NAME_LEN + 16], rate[32], burst[24], max_wait[24], max_conns[24],
		dry_run[8], open[24], backlog[24], conns[32], delayed[32], mean[24], ref_wait[32],
		ref_conns[32];
};

static int name_width(const struct cruise_snapshot *s)
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

static void print_row(FILE *f, const struct row *r, int name_w)
{
	if (r->time[0])
		fprintf(f, "%-8s  ", r->time);
	fprintf(f, "%-*s  %9s  %7s  %8s  %9s  %7s  %6s  %8s  %11s  %9s  %10s  %14s  %15s\n", name_w,
		r->name, r->rate, r->burst, r->max_wait, r->max_conns, r->dry_run, r->open,
		r->backlog, r->conns, r->delayed, r->mean, r->ref_wait, r->ref_conns);
}

static void print_header(FILE *f, int name_w, bool rates, bool time_col)
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
static void fill_limits(struct row *r, const struct cruise_snapshot_medium *m)
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

static void fill_mean(char *buf, size_t len, __u64 delay_ns, __u64 delayed)
{
	if (delayed)
		fmt_approx(delay_ns / delayed, buf, len);
	else
		snprintf(buf, len, "-");
}

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

/* status and top on a screen: the fleet media, their share, fallback and lease, after the table */
static void print_fleet_media(FILE *f, const struct cruise_snapshot *s)
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

int flush_out(void)
{
	if (fflush(stdout) || ferror(stdout)) {
		/* a closed pipe (| head) is the reader's choice, not an error worth a line */
		if (errno != EPIPE)
			fail("cannot write the output: %s", strerror(errno));
		return -EIO;
	}
	return 0;
}

static int cmd_status(void)
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

/* signals and the terminal, for top and events */

static volatile sig_atomic_t stop_signal;
static struct termios saved_tio, raw_tio;
static volatile sig_atomic_t tio_raw;

static void on_stop(int sig)
{
	stop_signal = sig;
}

static void restore_terminal(void)
{
	if (tio_raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
		tio_raw = 0;
	}
}

/* Ctrl-Z: the shell gets its terminal back as it gave it, and raw mode comes back with fg. */
static void on_tstp(int sig)
{
	int saved_errno = errno;

	(void)sig;
	if (tio_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
	raise(SIGSTOP);
	if (tio_raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &raw_tio);
	errno = saved_errno;
}

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

/*
 * Die of the signal that stopped us, once the terminal is restored: a shell script running top
 * or events sees a Ctrl-C as one (and runs its trap) instead of a normal exit that it goes past.
 */
static void reraise(int sig)
{
	sigset_t set;

	fflush(NULL);
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
}

/*
 * The stop signals are blocked except inside ppoll(), which is where they end the wait: none is
 * lost between a check of stop_signal and the wait. SIGPIPE is ignored so that a closed pipe ends
 * the loop through the write error, the terminal restored on the way out.
 */
static void setup_signals(sigset_t *wait_mask)
{
	struct sigaction sa = { .sa_handler = on_stop };
	sigset_t block;

	sigemptyset(&sa.sa_mask);
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++) {
		sigaction(stop_signals[i], &sa, NULL);
		sigaddset(&block, stop_signals[i]);
	}
	sigprocmask(SIG_BLOCK, &block, wait_mask);
	for (size_t i = 0; i < sizeof(stop_signals) / sizeof(stop_signals[0]); i++)
		sigdelset(wait_mask, stop_signals[i]);
	signal(SIGPIPE, SIG_IGN);
}

/* Read single keys ('q') from stdin when it is our terminal and we are in its foreground. */
static bool enter_raw_mode(void)
{
	struct sigaction sa = { .sa_handler = on_tstp };

	if (!isatty(STDIN_FILENO) || tcgetpgrp(STDIN_FILENO) != getpgrp())
		return false;
	if (tcgetattr(STDIN_FILENO, &saved_tio))
		return false;
	raw_tio = saved_tio;
	raw_tio.c_lflag &= ~(ICANON | ECHO); /* ISIG stays: Ctrl-C is still SIGINT */
	raw_tio.c_cc[VMIN] = 1;
	raw_tio.c_cc[VTIME] = 0;
	atexit(restore_terminal); /* every exit() path, argp's and error paths included */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTSTP, &sa, NULL);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw_tio))
		return false;
	tio_raw = 1;
	return true;
}

/*
 * Wait until deadline (CLOCK_MONOTONIC); true when the user asked to stop: a stop signal, 'q' on
 * the terminal. fd, when >= 0, is polled too and ends the wait early when readable.
 */
static bool wait_until(__u64 deadline, bool keys, int fd, const sigset_t *mask)
{
	struct pollfd p[2];
	nfds_t n = 0;
	int key_slot = -1, fd_slot = -1;

	if (keys) {
		p[n] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
		key_slot = (int)n++;
	}
	if (fd >= 0) {
		p[n] = (struct pollfd){ .fd = fd, .events = POLLIN };
		fd_slot = (int)n++;
	}
	while (!stop_signal) {
		__u64 now = cruise_now_ns();
		struct timespec ts;
		char buf[64];
		ssize_t len;
		int r;

		if (now >= deadline)
			return false;
		ts.tv_sec = (deadline - now) / NSEC_PER_SEC;
		ts.tv_nsec = (deadline - now) % NSEC_PER_SEC;
		r = ppoll(p, n, &ts, mask);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return true;
		if (fd_slot >= 0 && p[fd_slot].revents)
			return false;
		if (key_slot < 0 || !p[key_slot].revents)
			continue;
		len = read(STDIN_FILENO, buf, sizeof(buf));
		if (len <= 0) {
			p[key_slot].fd = -1; /* the terminal went away: stop reading it */
			continue;
		}
		if (memchr(buf, 'q', len) || memchr(buf, 'Q', len))
			return true;
	}
	return true;
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

static int cmd_top(void)
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

/* set */

enum set_key { SET_RATE, SET_BURST, SET_MAX_WAIT, SET_MAX_CONNS, SET_DRY_RUN, SET_N };

static const char *const set_keys[SET_N] = {
	[SET_RATE] = "rate",	       [SET_BURST] = "burst",	  [SET_MAX_WAIT] = "max_wait",
	[SET_MAX_CONNS] = "max_conns", [SET_DRY_RUN] = "dry_run",
};

struct set_values {
	bool given[SET_N];
	__u64 interval_ns, burst, max_wait_ns;
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
		     "max_conns, dry_run");
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
			     "max_conns or dry_run",
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

static int cmd_set(void)
{
	static struct cruise_snapshot s;
	const struct cruise_snapshot_medium *sm = NULL;
	char name[CRUISE_NAME_LEN + 16], q[QUOTED_LEN], known[512], a[48], b[48];
	struct cruise_medium old, new;
	struct set_values v;
	struct cruise_maps m;
	int ret = 1;

	if (parse_set_args(opts.args + 1, opts.n_args - 1, &v))
		return 1;
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
	/*
	 * A fleet medium's interval is this node's leased share, rewritten by the agent every
	 * refresh: a rate written here would last until then, outside the fleet's budget.
	 */
	if (v.given[SET_RATE] && old.lease_end_ns) {
		fail("set: %s is a fleet medium: its rate is the fleet's, set in the "
		     "agent's config; this node's share comes from the fleet store",
		     opts.args[0]);
		goto out;
	}
	/* the whole entry as read, the given fields changed: a fleet lease stays as it is */
	new = old;
	set_apply(&v, &new);
	/* one update of the limits; the pacing state in cruise_state is not touched */
	if (bpf_map_update_elem(m.media, &sm->index, &new, BPF_EXIST)) {
		fail("set: cannot update medium %s: %s", opts.args[0], strerror(errno));
		goto out;
	}
	printf("medium %s (index %u)\n", opts.args[0], sm->index);
	for (int k = 0; k < SET_N; k++) {
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

/* bindings */

struct binding_row {
	__u64 cgroup_id;
	__u32 medium;
	int path_err; /* 0: path is the cgroup's; -ENOENT: it is gone; else unknown */
	char *path;   /* relative to the cgroup2 mount */
	char label[CRUISE_NAME_LEN + 32];
	bool active; /* bound to an active medium */
};

static int binding_cmp(const void *x, const void *y)
{
	const struct binding_row *a = x, *b = y;

	if (a->medium != b->medium)
		return a->medium < b->medium ? -1 : 1;
	if (!a->path || !b->path)
		return !a->path - !b->path; /* the gone ones last */
	return strcmp(a->path, b->path);
}

static int read_bindings(const struct cruise_maps *m, const struct cruise_snapshot *s,
			 struct binding_row **out, size_t *n_out)
{
	struct cruise_binding_key key, next;
	struct binding_row *rows = NULL;
	char root[PATH_MAX], path[PATH_MAX];
	size_t n = 0, cap = 0;
	bool have_root;

	have_root = !cruise_cgroup2_root(root, sizeof(root));
	if (!have_root)
		fail("warning: no cgroup2 mount found: cgroup paths are not shown");
	/* bounded: an iteration restarts at the first key when its key is deleted meanwhile */
	for (size_t it = 0; it <= CRUISE_MAX_BINDINGS; it++) {
		const struct cruise_snapshot_medium *sm;
		struct cruise_binding val;
		struct binding_row *r;

		if (bpf_map_get_next_key(m->bindings, it ? &key : NULL, &next))
			break;
		key = next;
		if (bpf_map_lookup_elem(m->bindings, &key, &val))
			continue; /* unbound meanwhile */
		if (n == cap) {
			size_t more = cap ? cap * 2 : 64;
			struct binding_row *grown = realloc(rows, more * sizeof(*rows));

			if (!grown) {
				free(rows);
				return -ENOMEM;
			}
			rows = grown;
			cap = more;
		}
		r = &rows[n++];
		memset(r, 0, sizeof(*r));
		r->cgroup_id = key.cgroup_id;
		r->medium = val.medium;
		r->path_err = -EHOSTDOWN; /* no cgroup2 mount: no path */
		if (have_root)
			r->path_err = cruise_cgroup_path(root, key.cgroup_id, path, sizeof(path));
		if (!r->path_err && !(r->path = strdup(path)))
			r->path_err = -ENOMEM;
		sm = find_index(s, val.medium);
		r->active = sm;
		if (sm)
			medium_label(&sm->cfg, sm->index, r->label, sizeof(r->label));
		else
			snprintf(r->label, sizeof(r->label), "#%u (inactive)", val.medium);
	}
	if (n)
		qsort(rows, n, sizeof(*rows), binding_cmp);
	*out = rows;
	*n_out = n;
	return 0;
}

static int cmd_bindings(void)
{
	static struct cruise_snapshot s;
	struct binding_row *rows = NULL;
	int id_w = 9, name_w = 6, ret = 1, err;
	struct cruise_maps m;
	char id[24];
	size_t n = 0;

	if (open_maps(&m))
		return 1;
	if (take_snapshot(&m, &s))
		goto out;
	err = read_bindings(&m, &s, &rows, &n);
	if (err) {
		fail("cannot read the bindings: %s", strerror(-err));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(id, sizeof(id), "%llu", (unsigned long long)rows[i].cgroup_id);

		id_w = w > id_w ? w : id_w;
		w = (int)strlen(rows[i].label);
		name_w = w > name_w ? w : name_w;
	}
	if (opts.out == OUT_JSON)
		printf("{\"bindings\":[");
	else if (n)
		printf("%-*s  %-*s  %s\n", id_w, "CGROUP_ID", name_w, "MEDIUM", "PATH");
	else
		printf("no bindings\n");
	for (size_t i = 0; i < n; i++) {
		const struct binding_row *r = &rows[i];

		if (opts.out == OUT_JSON) {
			printf("%s{\"cgroup_id\":%llu,\"medium_index\":%u,\"medium\":",
			       i ? "," : "", (unsigned long long)r->cgroup_id, r->medium);
			if (r->active)
				put_json_str(stdout, r->label);
			else
				printf("null");
			printf(",\"path\":");
			if (r->path)
				put_json_str(stdout, r->path);
			else
				printf("null");
			printf(",\"gone\":%s}", r->path_err == -ENOENT ? "true" : "false");
			continue;
		}
		printf("%-*llu  %-*s  %s\n", id_w, (unsigned long long)r->cgroup_id, name_w,
		       r->label,
		       r->path			? r->path
		       : r->path_err == -ENOENT ? "(gone)"
						: "?");
	}
	if (opts.out == OUT_JSON)
		printf("]}\n");
	ret = flush_out() ? 1 : 0;
out:
	for (size_t i = 0; i < n; i++)
		free(rows[i].path);
	free(rows);
	cruise_maps_close(&m);
	return ret;
}

/* targets */

struct target_row {
	struct cruise_target_key key;
	__u32 id;
};

static int target_cmp(const void *x, const void *y)
{
	const struct target_row *a = x, *b = y;

	if (a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return memcmp(&a->key, &b->key, sizeof(a->key));
}

/* IPv4 targets are stored as ::ffff:a.b.c.d/(96 + n) after the port (cruise.h): shown as IPv4. */
static void fmt_target(const struct cruise_target_key *k, bool *v4, char *addr, size_t len,
		       unsigned int *prefix)
{
	static const __u8 v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	unsigned int bits = k->prefixlen > 16 ? k->prefixlen - 16 : 0;

	*v4 = bits >= 96 && !memcmp(k->addr, v4mapped, sizeof(v4mapped));
	if (*v4) {
		inet_ntop(AF_INET, &k->addr[12], addr, len);
		*prefix = bits - 96;
	} else {
		inet_ntop(AF_INET6, k->addr, addr, len);
		*prefix = bits;
	}
}

static int cmd_targets(void)
{
	struct target_row *rows = NULL;
	struct cruise_target_key key, next;
	struct cruise_maps m;
	size_t n = 0, cap = 0;
	int ret = 1;

	if (open_maps(&m))
		return 1;
	for (size_t it = 0; it <= CRUISE_MAX_TARGETS; it++) {
		struct cruise_target val;

		if (bpf_map_get_next_key(m.targets, it ? &key : NULL, &next))
			break;
		key = next;
		if (bpf_map_lookup_elem(m.targets, &key, &val))
			continue;
		if (n == cap) {
			struct target_row *grown;

			cap = cap ? cap * 2 : 16;
			grown = realloc(rows, cap * sizeof(*rows));
			if (!grown) {
				fail("out of memory");
				goto out;
			}
			rows = grown;
		}
		rows[n].key = key;
		rows[n++].id = val.id;
	}
	if (n)
		qsort(rows, n, sizeof(*rows), target_cmp);
	if (opts.out == OUT_JSON)
		printf("{\"targets\":[");
	else if (n)
		printf("%-6s  %-44s  %s\n", "TARGET", "ADDRESS", "PORT");
	else
		printf("no targets\n");
	for (size_t i = 0; i < n; i++) {
		char addr[INET6_ADDRSTRLEN], pfx[INET6_ADDRSTRLEN + 16];
		unsigned int prefix;
		bool v4;

		fmt_target(&rows[i].key, &v4, addr, sizeof(addr), &prefix);
		if (opts.out == OUT_JSON) {
			printf("%s{\"target\":%u,\"family\":\"%s\",\"address\":\"%s\","
			       "\"prefix_len\":%u,\"port\":%u}",
			       i ? "," : "", rows[i].id, v4 ? "ipv4" : "ipv6", addr, prefix,
			       rows[i].key.port);
			continue;
		}
		snprintf(pfx, sizeof(pfx), "%s/%u", addr, prefix);
		printf("%-6u  %-44s  %u\n", rows[i].id, pfx, rows[i].key.port);
	}
	if (opts.out == OUT_JSON)
		printf("]}\n");
	ret = flush_out() ? 1 : 0;
out:
	free(rows);
	cruise_maps_close(&m);
	return ret;
}

/* events */

/* returned by the ring buffer callback to stop consuming right after the last wanted event */
#define EVENTS_ENOUGH (-ECANCELED)

struct events_ctx {
	const struct cruise_maps *maps;
	struct cruise_snapshot *names; /* media names, refreshed at most once a second */
	bool have_root;
	char root[PATH_MAX];
	__u64 seen;
	bool write_failed;
};

static int on_event(void *ctx, void *data, size_t size)
{
	struct events_ctx *c = ctx;
	char line[LINE_LEN], path[PATH_MAX], name[CRUISE_NAME_LEN + 16];
	const struct cruise_snapshot_medium *sm;
	struct cruise_event e;

	if (size < sizeof(e)) /* not ours; longer ones are from newer programs: read their start */
		return 0;
	memcpy(&e, data, sizeof(e));
	sm = find_index(c->names, e.medium);
	if ((!sm || cruise_now_ns() - c->names->taken_ns > NSEC_PER_SEC) &&
	    !cruise_snapshot_read(c->maps, c->names))
		sm = find_index(c->names, e.medium);
	cruise_event_format(
		&e, opts.out == OUT_JSON ? CRUISE_LOG_JSON : CRUISE_LOG_TEXT,
		sm ? medium_label(&sm->cfg, sm->index, name, sizeof(name)) : NULL,
		c->have_root && !cruise_cgroup_path(c->root, e.cgroup_id, path, sizeof(path))
			? path
			: NULL,
		line, sizeof(line));
	printf("%s\n", line);
	if (flush_out()) {
		c->write_failed = true;
		return EVENTS_ENOUGH;
	}
	c->seen++;
	return opts.count && c->seen >= opts.count ? EVENTS_ENOUGH : 0;
}

static int cmd_events(void)
{
	static struct cruise_snapshot names;
	struct events_ctx c = { .names = &names };
	struct ring_buffer *rb = NULL;
	__u64 deadline = opts.timeout_ns ? cruise_now_ns() + opts.timeout_ns : UINT64_MAX;
	struct cruise_maps m;
	sigset_t wait_mask;
	char iv[32];
	int ret = 1, err;

	if (open_maps(&m))
		return 1;
	c.maps = &m;
	c.have_root = !cruise_cgroup2_root(c.root, sizeof(c.root));
	if (take_snapshot(&m, &names))
		goto out;
	setup_signals(&wait_mask);
	rb = ring_buffer__new(m.events, on_event, &c, NULL);
	if (!rb) {
		fail("cannot read the events ring buffer: %s", strerror(errno));
		goto out;
	}
	/* events already waiting first, then as they come */
	for (;;) {
		err = ring_buffer__consume(rb);
		if (err == EVENTS_ENOUGH || stop_signal)
			break;
		if (err < 0) {
			fail("cannot read the events ring buffer: %s", strerror(-err));
			goto out;
		}
		if (wait_until(deadline, false, ring_buffer__epoll_fd(rb), &wait_mask) ||
		    cruise_now_ns() >= deadline)
			break;
	}
	ret = c.write_failed ? 1 : 0;
	if (opts.count && c.seen < opts.count && !stop_signal && !c.write_failed) {
		cruise_format_duration(opts.timeout_ns, iv, sizeof(iv));
		fail("events: %llu of %llu events before the timeout (%s)",
		     (unsigned long long)c.seen, (unsigned long long)opts.count, iv);
		ret = 1;
	}
out:
	ring_buffer__free(rb);
	cruise_maps_close(&m);
	return ret;
}

/* command line */

static error_t parse_common(int key, char *arg, struct argp_state *state)
{
	char err[512];

	switch (key) {
	case OPT_PIN_DIR:
		opts.pin_dir = arg;
		break;
	case OPT_OUTPUT:
		if (!strcmp(arg, "json"))
			opts.out = OUT_JSON;
		else if (!strcmp(arg, "text"))
			opts.out = OUT_TEXT;
		else
			argp_error(state, "unknown output format \"%s\": json or text", arg);
		break;
	case OPT_COUNT:
		if (cruise_parse_count(arg, UINT64_MAX, &opts.count, err, sizeof(err)))
			argp_error(state, "--count: %s", err);
		if (!opts.count)
			argp_error(state, "--count: must be at least 1");
		break;
	case OPT_INTERVAL:
		if (parse_seconds(arg, &opts.interval_ns, err, sizeof(err)))
			argp_error(state, "--interval: %s", err);
		/* below a jiffy or two, the rates would be mostly noise */
		if (opts.interval_ns < 100 * NSEC_PER_MSEC)
			argp_error(state, "--interval: at least 100ms");
		break;
	case OPT_TIMEOUT:
		if (parse_seconds(arg, &opts.timeout_ns, err, sizeof(err)))
			argp_error(state, "--timeout: %s", err);
		if (!opts.timeout_ns)
			argp_error(state, "--timeout: must be above 0");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static const struct argp_option common_options[] = {
	{ "pin-dir", OPT_PIN_DIR, "DIR", 0,
	  "Where cruise's maps are pinned (default " CRUISE_DEFAULT_PIN_DIR ")", 0 },
	{},
};

static const struct argp common_argp = {
	common_options, parse_common, NULL, NULL, NULL, NULL, NULL
};

static const struct argp_child common_children[] = {
	{ &common_argp, 0, NULL, 0 },
	{},
};

error_t parse_sub(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case ARGP_KEY_ARG:
		if (opts.n_args >= opts.cmd->max_args)
			argp_error(state, "unexpected argument \"%s\"", arg);
		opts.args[opts.n_args++] = arg;
		return 0;
	case ARGP_KEY_END:
		if (opts.n_args < opts.cmd->min_args)
			argp_error(state, "missing argument");
		return 0;
	default:
		return parse_common(key, arg, state);
	}
}

static const struct argp_option status_options[] = {
	OUTPUT_OPTION("one JSON document"),
	{},
};

static const struct argp status_argp = {
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

static const struct argp_option top_options[] = {
	{ "count", OPT_COUNT, "N", 0, "Stop after N refreshes", 0 },
	{ "interval", OPT_INTERVAL, "DURATION", 0,
	  "Refresh this often (default 1s; \"2\" is 2 seconds, or 500ms, ...)", 0 },
	{},
};

static const struct argp top_argp = {
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

static const struct argp set_argp = {
	NULL,
	parse_sub,
	"MEDIUM KEY=VALUE...",
	"Change a medium's limits now, in one map update: the medium keeps its pacing state, so "
	"no burst slips through. Prints the old and the new values. Every KEY=VALUE is checked "
	"before anything is written:\n"
	"  rate=COUNT/UNIT    connections per s, m, h or d (200/s, 30/m); not on a fleet medium, "
	"whose rate is the fleet's (the agent's config) and whose share is leased from the "
	"fleet store\n"
	"  burst=N            connections at once above the rate, at most 1000000\n"
	"  max_wait=DURATION  longest hold before a refusal (250ms, 2s), at most 120s\n"
	"  max_conns=N        open connections at most, 0 for no limit\n"
	"  dry_run=on|off     count what would be delayed or refused, enforce nothing\n"
	"The change lasts until the agent next loads its config (SIGHUP, a change of the file, a "
	"restart), which restores the file's values: make lasting changes in the config file.\v"
	"EXAMPLES:\n"
	"  cruisectl set push rate=100/s\n"
	"  cruisectl set email rate=20/s burst=5 max_wait=2s\n"
	"  cruisectl set push dry_run=on",
	common_children,
	NULL,
	NULL
};

static const struct argp_option list_options[] = {
	OUTPUT_OPTION("one JSON document"),
	{},
};

static const struct argp bindings_argp = {
	list_options,
	parse_sub,
	NULL,
	"Show the cgroups bound to media, by cgroup id, with their paths under the cgroup2 mount. "
	"A cgroup that no longer exists is marked (gone): the agent unbinds it at its next scan.\v"
	"EXAMPLES:\n"
	"  cruisectl bindings\n"
	"  cruisectl bindings -o json",
	common_children,
	NULL,
	NULL
};

static const struct argp targets_argp = {
	list_options,
	parse_sub,
	NULL,
	"Show the database addresses (with prefix length) and ports whose connections are paced. "
	"IPv4 targets also match IPv4-mapped IPv6 destinations (::ffff:a.b.c.d).\v"
	"EXAMPLES:\n"
	"  cruisectl targets\n"
	"  cruisectl targets -o json",
	common_children,
	NULL,
	NULL
};

static const struct argp_option events_options[] = {
	OUTPUT_OPTION("JSON lines"),
	{ "count", OPT_COUNT, "N", 0, "Stop after N events", 0 },
	{ "timeout", OPT_TIMEOUT, "SECONDS", 0,
	  "Stop after this long (\"5\" or a duration: 500ms, 2m); with --count, fewer than N "
	  "events by then is an error",
	  0 },
	{},
};

static const struct argp events_argp = {
	events_options,
	parse_sub,
	NULL,
	"Follow refusal events live, one line each (the agent's log format), until Ctrl-C, "
	"--count or --timeout. Events that wait in the ring buffer come first.\n"
	"\n"
	"A ring buffer has one consumer: while cruise-agent runs, it consumes the events and "
	"they are in its log (journalctl -u cruise-agent, kubectl logs); cruisectl events would "
	"only take some of them away from it. Use it when no agent runs.\v"
	"EXAMPLES:\n"
	"  cruisectl events\n"
	"  cruisectl events -o json --count 10\n"
	"  cruisectl events --count 1 --timeout 5",
	common_children,
	NULL,
	NULL
};

static const struct command commands[] = {
	{ "status", cmd_status, &status_argp, 0, 0 },
	{ "top", cmd_top, &top_argp, 0, 0 },
	{ "set", cmd_set, &set_argp, 1, UINT_MAX },
	{ "bindings", cmd_bindings, &bindings_argp, 0, 0 },
	{ "targets", cmd_targets, &targets_argp, 0, 0 },
	{ "events", cmd_events, &events_argp, 0, 0 },
	{ "fleet", cmd_fleet, &fleet_argp, 0, 0 },
};

static int cmd_index = -1; /* of the command word in argv */

/* The command word ends the tool's own options: the rest goes to the command's argp. */
static error_t parse_top(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case ARGP_KEY_ARG:
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (!strcmp(arg, commands[i].name))
				opts.cmd = &commands[i];
		if (!opts.cmd)
			argp_error(state, "unknown command \"%s\"", arg);
		cmd_index = state->next - 1;
		state->next = state->argc;
		return 0;
	case ARGP_KEY_NO_ARGS:
		argp_error(state, "a command is needed");
		return 0;
	default:
		return parse_common(key, arg, state);
	}
}

static const struct argp top_level_argp = {
	common_options,
	parse_top,
	"COMMAND [ARGS...]",
	"cruisectl: look at and adjust cruise's connection pacing, straight from the maps pinned "
	"under " CRUISE_DEFAULT_PIN_DIR " (--pin-dir), with or without a running cruise-agent. "
	"Run it as root.\v"
	"COMMANDS:\n"
	"  status     every medium's limits, open connections, backlog and counters\n"
	"  top        the same, refreshed every second, with rates per second\n"
	"  set        change a medium's limits until the agent's next config reload\n"
	"  bindings   the cgroups bound to media, with their paths\n"
	"  targets    the database addresses and ports that are paced\n"
	"  events     follow refusals live (when no agent runs)\n"
	"  fleet      the fleet store: each fleet medium's rate, nodes, shares and leases\n"
	"\n"
	"EXAMPLES:\n"
	"  cruisectl status\n"
	"  cruisectl top\n"
	"  cruisectl set push rate=100/s max_wait=2s\n"
	"  cruisectl bindings\n"
	"  cruisectl events --count 10\n"
	"  cruisectl fleet --redis 127.0.0.1:6379\n"
	"  cruisectl set --help         what a command takes",
	NULL,
	NULL,
	NULL
};

int main(int argc, char **argv)
{
	char name[64];
	char **sub;
	int n, ret;

	/* the tool's errors are one line each; libbpf's own messages would add more */
	libbpf_set_print(NULL);
	if (argp_parse(&top_level_argp, argc, argv, ARGP_IN_ORDER, NULL, NULL))
		return 1;
	/* argv[0] names the command, so that its usage and errors read "cruisectl set" */
	n = argc - cmd_index;
	sub = calloc(n + 1, sizeof(*sub));
	opts.args = calloc(n, sizeof(*opts.args));
	if (!sub || !opts.args) {
		fail("out of memory");
		return 1;
	}
	snprintf(name, sizeof(name), "cruisectl %s", opts.cmd->name);
	sub[0] = name;
	for (int i = 1; i < n; i++)
		sub[i] = argv[cmd_index + i];
	ret = argp_parse(opts.cmd->argp, n, sub, 0, NULL, NULL) ? 1 : opts.cmd->run();
	free(opts.args);
	free(sub);
	if (stop_signal)
		reraise(stop_signal);
	return ret;
}
