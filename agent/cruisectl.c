// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
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
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <hiredis/hiredis.h>

#include "config.h" /* CRUISE_DEFAULT_PIN_DIR, the limits of a medium */
#include "eventlog.h"
#include "fleet.h"  /* CRUISE_FLEET_TIMEOUT_MS */
#include "loader.h" /* cruise_cgroup2_root, cruise_now_ns */
#include "log.h"    /* cruise_json_escape */
#include "snapshot.h"
#include "units.h"

#define NSEC_PER_USEC 1000ULL
#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_SEC  1000000000ULL

#define LINE_LEN 8192
/* user input quoted in a message: escaped (one line whatever it holds) and cut */
#define QUOTED_LEN 160

enum out_fmt { OUT_TEXT, OUT_JSON };

struct command {
	const char *name;
	int (*run)(void);
	const struct argp *argp;
	unsigned int min_args, max_args;
};

static struct {
	const char *pin_dir;
	enum out_fmt out;
	__u64 count;	   /* top: refreshes, events: events; 0: until stopped */
	__u64 interval_ns; /* top */
	__u64 timeout_ns;  /* events; 0: none */
	const struct command *cmd;
	char **args;
	unsigned int n_args;
} opts = { .pin_dir = CRUISE_DEFAULT_PIN_DIR, .interval_ns = NSEC_PER_SEC };

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("cruisectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* s escaped as a JSON string body: safe to quote in a one-line message whatever it holds */
static const char *quoted(char *buf, size_t len, const char *s)
{
	buf[0] = '\0';
	cruise_json_escape(buf, len, s);
	return buf;
}

static void put_json_str(FILE *f, const char *s)
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

static int flush_out(void)
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

/* fleet: what the fleet store holds, read-only */

#define FLEET_DEFAULT_CONFIG "/etc/cruise/cruise.yaml"
#define FLEET_PASSWORD_MAX   4096
#define FLEET_SCAN_CALLS     1000 /* SCAN ... COUNT 1000: a million keys looked at, at most */
#define FLEET_SCAN_MEDIA     256

static struct {
	const char *config; /* NULL: FLEET_DEFAULT_CONFIG, unless --redis is given */
	const char *redis, *prefix, *password_file, *username;
} fleet_opts;

/* One node of one fleet medium, from the medium's five keys. */
struct fleet_node {
	char *name;
	bool record;  /* in the nodes hash */
	bool damaged; /* ... but not "want share fb small" */
	bool small;   /* wants no more than it is given: want is what it asked for */
	__u64 want, share, fb;
	bool has_rate;
	__u64 rate; /* the fleet rate in its config */
	bool leased, forgetting;
	double lease_end_ms, forget_ms; /* Redis clock */
};

struct fleet_medium {
	char name[CRUISE_NAME_LEN];
	char key[5][CRUISE_NAME_LEN + 96]; /* nodes, leases, forget, rates, agg */
	double now_ms;			   /* Redis TIME, when read */
	struct fleet_node *nodes;
	size_t n_nodes, cap;
	size_t records, leased;
	bool has_rate, has_claims;
	__u64 rate, claims, small_sum, small_n; /* milli-connections/s */
};

enum { FK_NODES, FK_LEASES, FK_FORGET, FK_RATES, FK_AGG };
static const char *const fleet_kinds[5] = { "nodes", "leases", "forget", "rates", "agg" };

struct fleet_store {
	redisContext *c;
	const char *addr;
	char qaddr[QUOTED_LEN];
};

/* Milli-connections/s as people read them: "50/s", "12.5/s", "0.016/s". */
static void fmt_milli(__u64 milli, char *buf, size_t len)
{
	char frac[8];
	int n;

	if (!(milli % 1000)) {
		snprintf(buf, len, "%llu/s", (unsigned long long)(milli / 1000));
		return;
	}
	n = snprintf(frac, sizeof(frac), "%03llu", (unsigned long long)(milli % 1000));
	while (n > 1 && frac[n - 1] == '0')
		frac[--n] = '\0';
	snprintf(buf, len, "%llu.%s/s", (unsigned long long)(milli / 1000), frac);
}

/* A key prefix as the config takes it (config.c): it goes between the braces of every key. */
static bool prefix_ok(const char *p)
{
	size_t n = strlen(p);

	if (!n || n > 64)
		return false;
	for (; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._:-", *p))
			return false;
	return true;
}

/* A medium's name as the config takes it: what SCAN finds must be one to be listed. */
static bool medium_name_ok(const char *s, size_t n)
{
	if (!n || n >= CRUISE_NAME_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return true;
}

/* The password: the first line of file without trailing whitespace, as the agent reads it. */
static int read_password_file(const char *file, char **out)
{
	char buf[FLEET_PASSWORD_MAX + 1], q[QUOTED_LEN];
	const char *nl;
	struct stat st;
	size_t n = 0, len;
	int fd, e = 0;

	quoted(q, sizeof(q), file);
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		fail("fleet: --password-file: cannot read \"%s\": %s", q, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st))
		e = errno;
	else if (!S_ISREG(st.st_mode))
		e = EINVAL;
	while (!e && n < sizeof(buf)) {
		ssize_t k = read(fd, buf + n, sizeof(buf) - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			e = errno;
		if (k <= 0)
			break;
		n += k;
	}
	close(fd);
	if (e) {
		fail("fleet: --password-file: cannot read \"%s\": %s", q,
		     e == EINVAL ? "not a regular file" : strerror(e));
		return -1;
	}
	nl = memchr(buf, '\n', n);
	len = nl ? (size_t)(nl - buf) : n;
	while (len && isspace((unsigned char)buf[len - 1]))
		len--;
	if (!nl && n == sizeof(buf))
		fail("fleet: --password-file: \"%s\": the first line is longer than %d bytes", q,
		     FLEET_PASSWORD_MAX);
	else if (!len)
		fail("fleet: --password-file: \"%s\": the first line is empty; expected the "
		     "password",
		     q);
	else if (memchr(buf, '\0', len))
		fail("fleet: --password-file: \"%s\": a NUL byte in the password", q);
	else if (!(*out = strndup(buf, len)))
		fail("out of memory");
	explicit_bzero(buf, sizeof(buf));
	return *out ? 0 : -1;
}

/* Why a command got no reply, or an error reply: one line naming the store or the key. */
static void store_fail(const struct fleet_store *st, const char *what, const redisReply *r)
{
	char q[QUOTED_LEN], qe[QUOTED_LEN * 2];

	quoted(q, sizeof(q), what);
	if (!r) {
		/* a blocking read past the timeout fails with EAGAIN */
		if (st->c->err == REDIS_ERR_IO && !strcmp(st->c->errstr, strerror(EAGAIN)))
			fail("fleet: the fleet store at %s did not answer %s within %dms",
			     st->qaddr, q, CRUISE_FLEET_TIMEOUT_MS);
		else if (st->c->err == REDIS_ERR_PROTOCOL)
			fail("fleet: %s answered %s with something else than Redis: %s (is it a "
			     "Redis server?)",
			     st->qaddr, q, quoted(qe, sizeof(qe), st->c->errstr));
		else
			fail("fleet: the fleet store at %s: %s: %s", st->qaddr, q,
			     quoted(qe, sizeof(qe), st->c->errstr[0] ? st->c->errstr : "no reply"));
		return;
	}
	quoted(qe, sizeof(qe), r->type == REDIS_REPLY_ERROR && r->str ? r->str : "");
	if (r->type != REDIS_REPLY_ERROR)
		fail("fleet: %s: a reply of the wrong shape (not one of cruise's fleet keys?)", q);
	else if (!strncmp(r->str, "NOAUTH", 6))
		fail("fleet: the fleet store at %s needs a password: %s (--password-file FILE, or "
		     "the config's fleet.password_file)",
		     st->qaddr, qe);
	else if (!strncmp(r->str, "WRONGTYPE", 9))
		fail("fleet: %s is not of the type cruise's fleet keeps there "
		     "(another --prefix?): %s",
		     q, qe);
	else
		fail("fleet: %s: %s", q, qe);
}

/* "host:port", "[v6]:port" or a unix socket path; AUTH when there is a password. */
static int store_connect(struct fleet_store *st, const char *addr, const char *user,
			 const char *password)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = CRUISE_FLEET_TIMEOUT_MS * 1000 };
	char host[256];
	const char *colon, *end;
	__u64 port;

	memset(st, 0, sizeof(*st));
	st->addr = addr;
	quoted(st->qaddr, sizeof(st->qaddr), addr);
	if (addr[0] == '/') {
		st->c = redisConnectUnixWithTimeout(addr, tv);
	} else {
		colon = strrchr(addr, ':');
		end = colon;
		if (colon && addr[0] == '[') {
			end = strchr(addr, ']');
			if (!end || end + 1 != colon)
				colon = NULL;
			addr++;
		}
		if (!colon || end == addr || (size_t)(end - addr) >= sizeof(host) ||
		    cruise_parse_count(colon + 1, 65535, &port, NULL, 0) || !port) {
			fail("fleet: \"%s\": expected HOST:PORT, [IPv6]:PORT or a unix socket path",
			     st->qaddr);
			return -1;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(end - addr), addr);
		st->c = redisConnectWithTimeout(host, (int)port, tv);
	}
	if (!st->c || st->c->err) {
		char qe[QUOTED_LEN];

		fail("fleet: cannot reach the fleet store at %s: %s", st->qaddr,
		     st->c ? quoted(qe, sizeof(qe), st->c->errstr) : "out of memory");
		return -1;
	}
	if (redisSetTimeout(st->c, tv) != REDIS_OK) {
		fail("fleet: the fleet store at %s: cannot set a timeout", st->qaddr);
		return -1;
	}
	if (password) {
		const char *argv[] = { "AUTH", user ? user : password, password };
		redisReply *r = redisCommandArgv(st->c, user ? 3 : 2, argv, NULL);

		if (!r || r->type == REDIS_REPLY_ERROR) {
			char qe[QUOTED_LEN];

			/* WRONGPASS, "invalid password", "AUTH called without any password ..." */
			if (r)
				fail("fleet: the fleet store at %s refused the password (AUTH): %s",
				     st->qaddr, quoted(qe, sizeof(qe), r->str));
			else
				store_fail(st, "AUTH", r);
			if (r)
				freeReplyObject(r);
			return -1;
		}
		freeReplyObject(r);
	}
	return 0;
}

static void store_close(struct fleet_store *st)
{
	if (st->c)
		redisFree(st->c);
	st->c = NULL;
}

static bool is_str(const redisReply *r)
{
	return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS;
}

static bool reply_u64(const redisReply *r, __u64 *v)
{
	char buf[32];

	if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
		*v = (__u64)r->integer;
		return true;
	}
	if (!is_str(r) || r->len >= sizeof(buf))
		return false;
	memcpy(buf, r->str, r->len);
	buf[r->len] = '\0';
	return !cruise_parse_count(buf, UINT64_MAX, v, NULL, 0);
}

static bool reply_double(const redisReply *r, double *v)
{
	char buf[64], *end;

	if (!is_str(r) || !r->len || r->len >= sizeof(buf))
		return false;
	memcpy(buf, r->str, r->len);
	buf[r->len] = '\0';
	errno = 0;
	*v = strtod(buf, &end);
	return !*end && !errno;
}

static int fleet_node_cmp(const void *x, const void *y)
{
	const struct fleet_node *a = x, *b = y;

	return strcmp(a->name, b->name);
}

/* The node named by r (nodes sorted by name up to sorted), added when new; NULL: no memory. */
static struct fleet_node *fleet_node_at(struct fleet_medium *fm, const redisReply *r, size_t sorted)
{
	struct fleet_node key, *n;
	char *name;

	if (!is_str(r) || memchr(r->str, '\0', r->len))
		return NULL;
	name = strndup(r->str, r->len);
	if (!name)
		return NULL;
	key.name = name;
	n = sorted ? bsearch(&key, fm->nodes, sorted, sizeof(key), fleet_node_cmp) : NULL;
	for (size_t i = sorted; !n && i < fm->n_nodes; i++)
		if (!strcmp(fm->nodes[i].name, name))
			n = &fm->nodes[i];
	if (n) {
		free(name);
		return n;
	}
	if (fm->n_nodes == fm->cap) {
		size_t cap = fm->cap ? fm->cap * 2 : 16;
		struct fleet_node *grown = realloc(fm->nodes, cap * sizeof(*grown));

		if (!grown) {
			free(name);
			return NULL;
		}
		fm->nodes = grown;
		fm->cap = cap;
	}
	n = &fm->nodes[fm->n_nodes++];
	memset(n, 0, sizeof(*n));
	n->name = name;
	return n;
}

/* "want share fb small", as fleet.lua writes it */
static bool parse_record(const redisReply *r, struct fleet_node *n)
{
	unsigned long long w, s, f;
	char buf[96], sm, extra;

	if (!is_str(r) || r->len >= sizeof(buf))
		return false;
	memcpy(buf, r->str, r->len);
	buf[r->len] = '\0';
	for (size_t i = 0; i < r->len; i++)
		if (!isdigit((unsigned char)buf[i]) && buf[i] != ' ')
			return false;
	if (sscanf(buf, "%llu %llu %llu %c%c", &w, &s, &f, &sm, &extra) != 4 ||
	    (sm != '0' && sm != '1'))
		return false;
	n->want = w;
	n->share = s;
	n->fb = f;
	n->small = sm == '1';
	return true;
}

static void fleet_medium_free(struct fleet_medium *fm)
{
	for (size_t i = 0; i < fm->n_nodes; i++)
		free(fm->nodes[i].name);
	free(fm->nodes);
	fm->nodes = NULL;
	fm->n_nodes = fm->cap = 0;
}

/* A zset's members and scores (ZRANGE ... WITHSCORES), each given to the node it names. */
static int take_zset(struct fleet_medium *fm, const redisReply *r, size_t sorted, int kind)
{
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2)
		return -EPROTO;
	for (size_t i = 0; i < r->elements; i += 2) {
		struct fleet_node *n;
		double score;

		if (!reply_double(r->element[i + 1], &score))
			return -EPROTO;
		n = fleet_node_at(fm, r->element[i], sorted);
		if (!n)
			return is_str(r->element[i]) ? -ENOMEM : -EPROTO;
		if (kind == FK_LEASES) {
			n->leased = true;
			n->lease_end_ms = score;
		} else if (kind == FK_FORGET) {
			n->forgetting = true;
			n->forget_ms = score;
		} else if (score >= 0) {
			n->has_rate = true;
			n->rate = (__u64)score;
		}
	}
	return 0;
}

/*
 * One medium's five keys and the store's clock, in one pipelined round trip (each command sees
 * one state: the allocator runs whole, but one may run between two of them).
 */
static int fleet_read(struct fleet_store *st, const char *prefix, struct fleet_medium *fm)
{
	const char *argv[5][6];
	int argc[6] = { 1, 2, 5, 5, 5, 5 };
	redisReply *r[6] = {};
	const char *what[6];
	size_t sorted;
	int ret = -1, err;

	for (int k = 0; k < 5; k++)
		snprintf(fm->key[k], sizeof(fm->key[k]), "{%s:%s}:%s", prefix, fm->name,
			 fleet_kinds[k]);
	what[0] = "TIME";
	redisAppendCommand(st->c, "TIME");
	for (int k = 0; k < 5; k++) {
		what[k + 1] = fm->key[k];
		argv[k][1] = fm->key[k];
		switch (k) {
		case FK_NODES:
			argv[k][0] = "HGETALL";
			break;
		case FK_AGG:
			argv[k][0] = "HMGET";
			argv[k][2] = "claims";
			argv[k][3] = "small_sum";
			argv[k][4] = "small_n";
			argc[k + 1] = 5;
			break;
		default:
			argv[k][0] = "ZRANGE";
			argv[k][2] = "0";
			argv[k][3] = "-1";
			argv[k][4] = "WITHSCORES";
			break;
		}
		redisAppendCommandArgv(st->c, argc[k + 1], argv[k], NULL);
	}
	for (int i = 0; i < 6; i++) {
		if (redisGetReply(st->c, (void **)&r[i]) != REDIS_OK || !r[i]) {
			store_fail(st, what[i], NULL);
			goto out;
		}
	}
	for (int i = 0; i < 6; i++)
		if (r[i]->type == REDIS_REPLY_ERROR) {
			store_fail(st, what[i], r[i]);
			goto out;
		}

	/* TIME: seconds and microseconds */
	{
		__u64 sec, usec;

		if (r[0]->type != REDIS_REPLY_ARRAY || r[0]->elements != 2 ||
		    !reply_u64(r[0]->element[0], &sec) || !reply_u64(r[0]->element[1], &usec)) {
			store_fail(st, "TIME", r[0]);
			goto out;
		}
		fm->now_ms = (double)sec * 1000 + (double)usec / 1000;
	}

	/* the records first, sorted by node: the zsets' members are looked up among them */
	if (r[1]->type != REDIS_REPLY_ARRAY || r[1]->elements % 2) {
		store_fail(st, what[1], r[1]);
		goto out;
	}
	for (size_t i = 0; i < r[1]->elements; i += 2) {
		struct fleet_node *n = fleet_node_at(fm, r[1]->element[i], 0);

		if (!n) {
			if (is_str(r[1]->element[i]))
				fail("out of memory");
			else
				store_fail(st, what[1], r[1]);
			goto out;
		}
		n->record = true;
		n->damaged = !parse_record(r[1]->element[i + 1], n);
	}
	fm->records = fm->n_nodes;
	if (fm->n_nodes)
		qsort(fm->nodes, fm->n_nodes, sizeof(*fm->nodes), fleet_node_cmp);
	sorted = fm->n_nodes;
	for (int k = FK_LEASES; k <= FK_RATES; k++) {
		err = take_zset(fm, r[k + 1], sorted, k);
		if (err == -ENOMEM) {
			fail("out of memory");
			goto out;
		}
		if (err) {
			store_fail(st, what[k + 1], r[k + 1]);
			goto out;
		}
	}
	if (fm->n_nodes)
		qsort(fm->nodes, fm->n_nodes, sizeof(*fm->nodes), fleet_node_cmp);
	for (size_t i = 0; i < fm->n_nodes; i++) {
		const struct fleet_node *n = &fm->nodes[i];

		fm->leased += n->leased && n->lease_end_ms > fm->now_ms;
		if (n->has_rate && (!fm->has_rate || n->rate < fm->rate)) {
			fm->has_rate = true;
			fm->rate = n->rate;
		}
	}

	/* agg: absent fields (a store the allocator has not run on) leave it unknown */
	if (r[5]->type != REDIS_REPLY_ARRAY || r[5]->elements != 3) {
		store_fail(st, what[5], r[5]);
		goto out;
	}
	fm->has_claims = reply_u64(r[5]->element[0], &fm->claims) &&
			 reply_u64(r[5]->element[1], &fm->small_sum) &&
			 reply_u64(r[5]->element[2], &fm->small_n);
	ret = 0;
out:
	for (int i = 0; i < 6; i++)
		if (r[i])
			freeReplyObject(r[i]);
	return ret;
}

static int fleet_name_cmp(const void *x, const void *y)
{
	return strcmp(((const struct fleet_medium *)x)->name,
		      ((const struct fleet_medium *)y)->name);
}

/* Without a config: the media whose "{prefix:MEDIUM}:nodes" key exists, found with SCAN. */
static int fleet_scan(struct fleet_store *st, const char *prefix, struct fleet_medium **out,
		      size_t *n_out)
{
	struct fleet_medium *media = NULL;
	char pattern[128], cursor[32] = "0", head[96];
	size_t n = 0, head_len;
	unsigned int calls = 0;
	bool cut = false;

	/* the prefix holds no glob characters (prefix_ok): only the medium is matched by '*' */
	snprintf(pattern, sizeof(pattern), "{%s:*}:nodes", prefix);
	head_len = (size_t)snprintf(head, sizeof(head), "{%s:", prefix);
	do {
		const char *argv[] = { "SCAN", cursor, "MATCH", pattern, "COUNT", "1000" };
		redisReply *r = redisCommandArgv(st->c, 6, argv, NULL);
		const redisReply *keys;

		if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    !is_str(r->element[0]) || r->element[0]->len >= sizeof(cursor) ||
		    r->element[1]->type != REDIS_REPLY_ARRAY) {
			store_fail(st, "SCAN", r);
			if (r)
				freeReplyObject(r);
			free(media);
			return -1;
		}
		memcpy(cursor, r->element[0]->str, r->element[0]->len);
		cursor[r->element[0]->len] = '\0';
		keys = r->element[1];
		for (size_t i = 0; i < keys->elements; i++) {
			const redisReply *k = keys->element[i];
			const char *name;
			size_t len;
			bool seen = false;

			/* "{prefix:" NAME "}:nodes", NAME a medium's name (no ':', unlike prefixes)
			 */
			if (!is_str(k) || k->len <= head_len + 7 ||
			    memcmp(k->str, head, head_len) ||
			    memcmp(k->str + k->len - 7, "}:nodes", 7))
				continue;
			name = k->str + head_len;
			len = k->len - head_len - 7;
			if (!medium_name_ok(name, len))
				continue;
			for (size_t j = 0; j < n && !seen; j++)
				seen = strlen(media[j].name) == len &&
				       !memcmp(media[j].name, name, len);
			if (seen)
				continue;
			if (n == FLEET_SCAN_MEDIA) {
				cut = true;
				continue;
			}
			if (!(n % 16)) {
				struct fleet_medium *grown =
					realloc(media, (n + 16) * sizeof(*media));

				if (!grown) {
					freeReplyObject(r);
					free(media);
					fail("out of memory");
					return -1;
				}
				media = grown;
			}
			memset(&media[n], 0, sizeof(media[n]));
			memcpy(media[n].name, name, len);
			n++;
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") && ++calls < FLEET_SCAN_CALLS);
	if (strcmp(cursor, "0") || cut)
		fprintf(stderr,
			"cruisectl: warning: fleet: the store holds too many keys to look at all: "
			"some fleet media may be missing (name them in a config: --config)\n");
	if (n)
		qsort(media, n, sizeof(*media), fleet_name_cmp);
	*out = media;
	*n_out = n;
	return 0;
}

/* A node's lease: "leased, 1.85s left", "ended, forgotten in 42.10s", ... */
static const char *fleet_lease_state(const struct fleet_medium *fm, const struct fleet_node *n,
				     char *buf, size_t len, double *ms)
{
	if (n->leased && n->lease_end_ms > fm->now_ms) {
		*ms = n->lease_end_ms - fm->now_ms;
		snprintf(buf, len, "leased, %.2fs left", *ms / 1000);
		return "leased";
	}
	if (n->leased) {
		/* the allocator moves it to forget at the next refresh of any node */
		*ms = fm->now_ms - n->lease_end_ms;
		snprintf(buf, len, "ended %.2fs ago, counted at its share until the next refresh",
			 *ms / 1000);
		return "expired";
	}
	if (n->forgetting && n->forget_ms > fm->now_ms) {
		*ms = n->forget_ms - fm->now_ms;
		snprintf(buf, len, "ended, forgotten in %.2fs", *ms / 1000);
		return "ended";
	}
	if (n->forgetting) {
		*ms = 0;
		snprintf(buf, len, "ended, forgotten at the next refresh");
		return "ended";
	}
	*ms = 0;
	snprintf(buf, len, "no lease");
	return "none";
}

static void fleet_node_figures(const struct fleet_node *n, char *want, char *share, char *fb,
			       char *rate, size_t len)
{
	if (!n->record || n->damaged) {
		snprintf(want, len, "-");
		snprintf(share, len, "-");
		snprintf(fb, len, "-");
	} else {
		if (n->small)
			fmt_milli(n->want, want, len);
		else
			snprintf(want, len, "more than its share");
		fmt_milli(n->share, share, len);
		fmt_milli(n->fb, fb, len);
	}
	if (n->has_rate)
		fmt_milli(n->rate, rate, len);
	else
		snprintf(rate, len, "-");
}

static void fleet_text(const struct fleet_medium *media, size_t n_media)
{
	char want[48], share[48], fb[48], rate[48], claims[48], state[96], nodes[24], leased[24];
	int mw = 6, nw = 4, ww = 4;
	bool any_nodes = false;
	double ms;

	for (size_t i = 0; i < n_media; i++) {
		int l = (int)strlen(media[i].name);

		mw = l > mw ? l : mw;
		for (size_t j = 0; j < media[i].n_nodes; j++) {
			const struct fleet_node *n = &media[i].nodes[j];

			l = (int)strlen(n->name);
			nw = l > nw ? l : nw;
			fleet_node_figures(n, want, share, fb, rate, sizeof(want));
			l = (int)strlen(want);
			ww = l > ww ? l : ww;
			any_nodes = true;
		}
	}
	printf("%-*s  %9s  %5s  %6s  %9s\n", mw, "MEDIUM", "RATE", "NODES", "LEASED", "CLAIMS");
	for (size_t i = 0; i < n_media; i++) {
		const struct fleet_medium *fm = &media[i];

		if (fm->has_rate)
			fmt_milli(fm->rate, rate, sizeof(rate));
		else
			snprintf(rate, sizeof(rate), "-");
		if (fm->has_claims)
			fmt_milli(fm->claims, claims, sizeof(claims));
		else
			snprintf(claims, sizeof(claims), "-");
		snprintf(nodes, sizeof(nodes), "%zu", fm->records);
		snprintf(leased, sizeof(leased), "%zu", fm->leased);
		printf("%-*s  %9s  %5s  %6s  %9s\n", mw, fm->name, rate, nodes, leased, claims);
	}
	if (any_nodes) {
		printf("\n%-*s  %-*s  %-*s  %9s  %9s  %11s  %s\n", mw, "MEDIUM", nw, "NODE", ww,
		       "WANT", "SHARE", "FALLBACK", "CONFIG_RATE", "LEASE");
		for (size_t i = 0; i < n_media; i++) {
			const struct fleet_medium *fm = &media[i];

			for (size_t j = 0; j < fm->n_nodes; j++) {
				const struct fleet_node *n = &fm->nodes[j];

				fleet_node_figures(n, want, share, fb, rate, sizeof(want));
				fleet_lease_state(fm, n, state, sizeof(state), &ms);
				printf("%-*s  %-*s  %-*s  %9s  %9s  %11s  %s%s\n", mw, fm->name, nw,
				       n->name, ww, want, share, fb, rate, state,
				       !n->record   ? " (no record)"
				       : n->damaged ? " (damaged record)"
						    : "");
			}
		}
	}
	/* what the figures do not say by themselves */
	for (size_t i = 0; i < n_media; i++) {
		const struct fleet_medium *fm = &media[i];

		if (!fm->n_nodes) {
			printf("%s: no node in the store (no agent has refreshed it lately, or "
			       "another key prefix)\n",
			       fm->name);
			continue;
		}
		if (fm->has_rate && fm->has_claims && fm->claims > fm->rate) {
			fmt_milli(fm->claims, claims, sizeof(claims));
			fmt_milli(fm->rate, rate, sizeof(rate));
			printf("%s: claims %s above the rate %s (a lower rate or a returning node: "
			       "shares shrink at the next refreshes)\n",
			       fm->name, claims, rate);
		}
		for (size_t j = 0; j < fm->n_nodes; j++)
			if (fm->has_rate && fm->nodes[j].has_rate &&
			    fm->nodes[j].rate != fm->rate) {
				fmt_milli(fm->rate, rate, sizeof(rate));
				printf("%s: the nodes' configs give different rates: the lowest, "
				       "%s, is in force\n",
				       fm->name, rate);
				break;
			}
	}
}

static void put_json_milli(const char *key, bool known, __u64 milli)
{
	char buf[48];

	if (!known) {
		printf(",\"%s\":null,\"%s_milli\":null", key, key);
		return;
	}
	fmt_milli(milli, buf, sizeof(buf));
	printf(",\"%s\":\"%s\",\"%s_milli\":%llu", key, buf, key, (unsigned long long)milli);
}

static void fleet_json(const struct fleet_store *st, const char *prefix, bool from_config,
		       const struct fleet_medium *media, size_t n_media)
{
	char state[96], tag[CRUISE_NAME_LEN + 80];
	double ms;

	printf("{\"redis\":");
	put_json_str(stdout, st->addr);
	printf(",\"prefix\":");
	put_json_str(stdout, prefix);
	printf(",\"media_from\":\"%s\",\"media\":[", from_config ? "config" : "scan");
	for (size_t i = 0; i < n_media; i++) {
		const struct fleet_medium *fm = &media[i];

		printf("%s{\"name\":", i ? "," : "");
		put_json_str(stdout, fm->name);
		/* the medium's hash tag: its keys are {prefix:medium}:nodes, leases, ... */
		snprintf(tag, sizeof(tag), "{%s:%s}", prefix, fm->name);
		printf(",\"keys\":");
		put_json_str(stdout, tag);
		printf(",\"time_ms\":%.0f", fm->now_ms);
		put_json_milli("rate", fm->has_rate, fm->rate);
		printf(",\"node_count\":%zu,\"leased\":%zu", fm->records, fm->leased);
		put_json_milli("claims", fm->has_claims, fm->claims);
		put_json_milli("small_sum", fm->has_claims, fm->small_sum);
		if (fm->has_claims)
			printf(",\"small_n\":%llu", (unsigned long long)fm->small_n);
		else
			printf(",\"small_n\":null");
		printf(",\"nodes\":[");
		for (size_t j = 0; j < fm->n_nodes; j++) {
			const struct fleet_node *n = &fm->nodes[j];
			bool ok = n->record && !n->damaged;
			const char *s = fleet_lease_state(fm, n, state, sizeof(state), &ms);

			printf("%s{\"node\":", j ? "," : "");
			put_json_str(stdout, n->name);
			printf(",\"record\":%s", !n->record ? "\"none\""
						 : ok	    ? "\"ok\""
							    : "\"damaged\"");
			printf(",\"wants_more\":%s", ok && !n->small ? "true" : "false");
			put_json_milli("want", ok && n->small, n->want);
			put_json_milli("share", ok, n->share);
			put_json_milli("fallback", ok, n->fb);
			put_json_milli("config_rate", n->has_rate, n->rate);
			printf(",\"state\":\"%s\"", s);
			if (!strcmp(s, "leased"))
				printf(",\"lease_left_ms\":%.0f", ms);
			else if (!strcmp(s, "expired"))
				printf(",\"lease_ended_ms_ago\":%.0f", ms);
			else if (!strcmp(s, "ended"))
				printf(",\"forget_in_ms\":%.0f", ms);
			printf(",\"text\":");
			put_json_str(stdout, state);
			putchar('}');
		}
		printf("]}");
	}
	printf("]}\n");
}

static int cmd_fleet(void)
{
	struct cruise_config *cfg = NULL;
	struct fleet_medium *media = NULL;
	struct fleet_store st = {};
	const char *addr = fleet_opts.redis, *prefix = fleet_opts.prefix, *user = NULL;
	const char *path = fleet_opts.config;
	char *password = NULL, err[1024], q[QUOTED_LEN];
	size_t n_media = 0;
	bool from_config = false;
	int ret = 1;

	/* the config, unless a store is named on the command line without one */
	if (path || !addr) {
		if (!path)
			path = FLEET_DEFAULT_CONFIG;
		if (cruise_config_load(path, &cfg, err, sizeof(err))) {
			if (!fleet_opts.config && access(path, F_OK))
				fail("fleet: no config at %s: give --config FILE, or --redis ADDR "
				     "(and --prefix) to look at a store",
				     path);
			else
				fail("fleet: %s", err);
			return 1;
		}
		if (!cfg->fleet && !addr) {
			fail("fleet: %s has no fleet: block: no medium is a fleet medium there "
			     "(--redis ADDR to look at a store)",
			     quoted(q, sizeof(q), path));
			goto out;
		}
		if (cfg->fleet) {
			from_config = true;
			if (!addr)
				addr = cfg->fleet->redis;
			if (!prefix)
				prefix = cfg->fleet->key_prefix;
			user = cfg->fleet->username;
			if (cfg->fleet->password && !(password = strdup(cfg->fleet->password))) {
				fail("out of memory");
				goto out;
			}
		}
	}
	if (!prefix)
		prefix = CRUISE_FLEET_DEFAULT_PREFIX;
	if (!prefix_ok(prefix)) {
		fail("fleet: --prefix \"%s\": expected 1 to 64 letters, digits, "
		     "'.', '_', ':' and '-'",
		     quoted(q, sizeof(q), prefix));
		goto out;
	}
	if (fleet_opts.password_file) {
		if (password)
			explicit_bzero(password, strlen(password));
		free(password);
		password = NULL;
		if (read_password_file(fleet_opts.password_file, &password))
			goto out;
	}
	if (fleet_opts.username)
		user = fleet_opts.username;
	if (user && !password) {
		fail("fleet: a username needs a password (--password-file): Redis AUTH takes both");
		goto out;
	}
	if (store_connect(&st, addr, user, password))
		goto out;

	if (from_config) {
		for (unsigned int i = 0; i < cfg->n_media; i++)
			n_media += cfg->media[i].fleet;
		media = calloc(n_media ? n_media : 1, sizeof(*media));
		if (!media) {
			fail("out of memory");
			goto out;
		}
		n_media = 0;
		for (unsigned int i = 0; i < cfg->n_media; i++)
			if (cfg->media[i].fleet)
				snprintf(media[n_media++].name, sizeof(media->name), "%s",
					 cfg->media[i].name);
	} else if (fleet_scan(&st, prefix, &media, &n_media)) {
		goto out;
	}
	for (size_t i = 0; i < n_media; i++)
		if (fleet_read(&st, prefix, &media[i]))
			goto out;

	if (opts.out == OUT_JSON)
		fleet_json(&st, prefix, from_config, media, n_media);
	else if (!n_media && from_config)
		printf("no fleet media in %s\n", path);
	else if (!n_media)
		printf("no fleet media in the store at %s under the key prefix %s\n", st.qaddr,
		       prefix);
	else
		fleet_text(media, n_media);
	ret = flush_out() ? 1 : 0;
out:
	store_close(&st);
	for (size_t i = 0; i < n_media; i++)
		fleet_medium_free(&media[i]);
	free(media);
	if (password)
		explicit_bzero(password, strlen(password));
	free(password);
	cruise_config_free(cfg);
	return ret;
}

/* command line */

enum {
	OPT_CONFIG = 'c',
	OPT_INTERVAL = 'i',
	OPT_COUNT = 'n',
	OPT_OUTPUT = 'o',
	OPT_PIN_DIR = 'p',
	OPT_TIMEOUT = 't',
	OPT_REDIS = 0x100, /* long options only */
	OPT_PREFIX,
	OPT_PASSWORD_FILE,
	OPT_USERNAME,
};

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

static error_t parse_sub(int key, char *arg, struct argp_state *state)
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

#define OUTPUT_OPTION(what)                                                                        \
	{                                                                                          \
		"output", OPT_OUTPUT, "FORMAT", 0, "text (default) or json: " what, 0              \
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

static error_t parse_fleet_opt(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case OPT_CONFIG:
		fleet_opts.config = arg;
		return 0;
	case OPT_REDIS:
		if (!*arg)
			argp_error(state,
				   "--redis: empty: expected HOST:PORT, [IPv6]:PORT or a unix "
				   "socket path");
		fleet_opts.redis = arg;
		return 0;
	case OPT_PREFIX:
		fleet_opts.prefix = arg;
		return 0;
	case OPT_PASSWORD_FILE:
		fleet_opts.password_file = arg;
		return 0;
	case OPT_USERNAME:
		if (!*arg)
			argp_error(state, "--username: empty");
		fleet_opts.username = arg;
		return 0;
	default:
		return parse_sub(key, arg, state);
	}
}

static const struct argp_option fleet_options[] = {
	{ "config", OPT_CONFIG, "FILE", 0,
	  "The agent's config: the store, key prefix, credentials and fleet media of its fleet: "
	  "block (default " FLEET_DEFAULT_CONFIG ", unless --redis is given)",
	  0 },
	{ "redis", OPT_REDIS, "ADDR", 0,
	  "The store: HOST:PORT, [IPv6]:PORT or a unix socket path (instead of the config's); "
	  "without a config, the fleet media are found with SCAN",
	  0 },
	{ "prefix", OPT_PREFIX, "PREFIX", 0,
	  "Key prefix: keys are {PREFIX:MEDIUM}:... (default the config's, else cruise)", 0 },
	{ "password-file", OPT_PASSWORD_FILE, "FILE", 0,
	  "Redis AUTH with the first line of FILE (instead of the config's)", 0 },
	{ "username", OPT_USERNAME, "USER", 0, "Redis ACL user for AUTH (needs a password)", 0 },
	OUTPUT_OPTION("one JSON document"),
	{},
};

static const struct argp fleet_argp = {
	fleet_options,
	parse_fleet_opt,
	NULL,
	"Show what the fleet store (Redis) holds for each fleet medium, read-only: the fleet "
	"rate in force (the lowest of the nodes' configs), the nodes, how many hold a lease, and "
	"the claims (the sum of what every counted node may use now) against the rate; then "
	"every node: what it asked for (\"more than its share\" when its workers take whatever "
	"they are given), its share, its fallback, the rate in its config and its lease: "
	"\"leased, 1.85s left\", or \"ended, forgotten in 42.10s\" (its fallback counts until "
	"then). Rates are connections per second. Needs no maps and no root, only the store: "
	"connect and command timeouts of 200ms; never writes to it.\n"
	"\n"
	"The media are the config's fleet media; with --redis and no --config, every medium "
	"with keys under the prefix (SCAN: on Redis Cluster, point it at the node that holds "
	"them).\v"
	"EXAMPLES:\n"
	"  cruisectl fleet\n"
	"  cruisectl fleet --config /etc/cruise/cruise.yaml -o json | jq '.media[].nodes[]'\n"
	"  cruisectl fleet --redis 10.0.0.5:6379 --prefix prod:cruise --password-file "
	"/run/secrets/redis",
	NULL,
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
