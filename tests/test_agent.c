// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cruise-agent end to end: the real binary, run on configs this test writes, against the real
 * kernel. Each test gets its own scope cgroup, pin_dir, metrics port, loopback listener (the
 * target) and temp dir; the teardown kills the agent, runs --uninstall on that pin_dir and removes
 * the cgroups (children first) and files, also when the test failed. Nothing else is touched.
 *
 * Rates are checked with th_run_rate over at least 2 s, within 2% of the configured rate; bursts in
 * 100 ms windows, against rate x 0.1 plus two for the window's alignment. Waits for the agent poll
 * its log or /healthz with a bound; no sleep stands in for an assertion.
 *
 * The agent is cruise-agent beside this program, or $CRUISE_AGENT (agent_fixture.h). Run as root.
 *
 * Over 600 lines: the agent's lifecycle end to end (bind, reload, restart, uninstall, metrics),
 * one fixture.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "agent_fixture.h"
#include "loader.h"
#include "snapshot.h"

#define RATE_TOL       0.02		     /* achieved vs configured rate */
#define MEASURE_MIN_NS (2 * NSEC_PER_SEC)    /* the span a rate is measured over, at least */
#define WINDOW_NS      (100 * NSEC_PER_MSEC) /* burst window */
#define WINDOW_SLACK   2		     /* connects a window may hold above rate x 0.1 */
#define START_MS       5000		     /* the agent attaches and serves within this */
#define WAIT_MS	       2000		     /* a reload or a refusal line shows within this */
#define WORKERS	       4
#define MAX_CGROUPS    8
#define RATE_LINE      11 /* the line of "rate:" in conf_text */
#define EXTRA_LINE     12 /* the first extra medium line */

static const char *agent_bin; /* th_agent_bin(): for the commands run to completion */

struct env {
	struct th_sandbox sb;		   /* name, temp dir, scope cgroup, target listener */
	struct th_agent a;		   /* pin dir, config, logs, metrics port, maps */
	struct th_cgroup cgs[MAX_CGROUPS]; /* created under the scope */
	int n_cgs;
	char etc[PATH_MAX];  /* the config's directory, which the agent watches */
	char data[PATH_MAX]; /* where a symlinked config points: outside etc */
	struct th_job bg;    /* clients run while the test drives the agent */
};

/* small utilities */

static __u64 now_ns(void)
{
	return cruise_now_ns();
}

static double ms(__u64 ns)
{
	return (double)ns / NSEC_PER_MSEC;
}

static double rel_err(double got, double want)
{
	return (got - want) / want;
}

/* Run a command to completion; its output in out (and err, if separate). Returns the exit code. */
static int run_cmd(const char *const argv[], const char *out, const char *err)
{
	return th_run_cmd(argv, out, err ? err : out, 10000);
}

/* the agent's log */

static int count_lines(const struct env *e, const char *n1, const char *n2)
{
	return th_agent_log_lines(&e->a, n1, n2);
}

/* Wait for the nth line holding n1 (and n2) in the running agent's log; its number or -1. */
static int wait_line(struct env *e, const char *n1, const char *n2, int nth, int timeout_ms,
		     char *out, size_t len)
{
	return th_agent_wait_line(&e->a, n1, n2, nth, timeout_ms, out, len);
}

/* The value of "key":"..." in a JSON line of ours (values without escapes but \" and \\). */
static bool jstr(const char *line, const char *key, char *out, size_t len)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(line, pat);
	if (!p)
		return false;
	for (p += strlen(pat); *p && *p != '"' && n + 1 < len; p++) {
		if (*p == '\\' && p[1])
			p++;
		out[n++] = *p;
	}
	out[n] = '\0';
	return *p == '"';
}

/* The value of "key":NUMBER */
static bool jnum(const char *line, const char *key, long long *v)
{
	char pat[64], *end;
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	if (!p)
		return false;
	p += strlen(pat);
	*v = strtoll(p, &end, 10);
	return end != p && (*end == ',' || *end == '}');
}

/* A log line's "ts" (wall clock, ms) on CLOCK_MONOTONIC, the clock of the clients' records. */
static __u64 line_mono_ns(const char *line)
{
	struct timespec wall, mono;
	int y, mo, d, h, mi, s, msec;
	char ts[48];
	struct tm tm;
	__u64 at;

	assert_true(jstr(line, "ts", ts, sizeof(ts)));
	assert_int_equal(sscanf(ts, "%d-%d-%dT%d:%d:%d.%dZ", &y, &mo, &d, &h, &mi, &s, &msec), 7);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	at = (__u64)timegm(&tm) * NSEC_PER_SEC + msec * NSEC_PER_MSEC;
	clock_gettime(CLOCK_REALTIME, &wall);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	return at - ((__u64)wall.tv_sec * NSEC_PER_SEC + wall.tv_nsec) +
	       ((__u64)mono.tv_sec * NSEC_PER_SEC + mono.tv_nsec);
}

/* HTTP, on a raw socket */

static double scrape(const struct env *e, const char *series)
{
	double v = -1;
	int err = th_agent_scrape(&e->a, series, &v);

	if (err)
		print_message("no %s in /metrics: %s\n", series, strerror(-err));
	assert_int_equal(err, 0);
	assert_true(v >= 0);
	return v;
}

/* configs */

/*
 * A config for this env: one target (the listener), one medium "push" at rate, paced for the
 * scope's "push-*" cgroups. extra: more medium lines ("    max_wait: 10ms\n"), from EXTRA_LINE.
 */
static void conf_text(const struct env *e, char *buf, size_t len, const char *rate,
		      const char *extra)
{
	int n = snprintf(buf, len, "# cruise-agent end-to-end test config\n");

	assert_true(n > 0 && (size_t)n < len);
	n += th_agent_conf_head(&e->sb, &e->a, buf + n, len - n);
	assert_true((size_t)n < len);
	n += snprintf(buf + n, len - n,
		      "media:\n"
		      "  - name: push\n"
		      "    rate: %s\n"
		      "%s"
		      "    cgroups: [\"%s/push-*\"]\n",
		      rate, extra ? extra : "", e->sb.name);
	assert_true((size_t)n < len);
}

/* Write dir/name as an editor does: a temp file in the same directory, renamed over. */
static void install(const char *dir, const char *name, const char *text)
{
	char tmp[PATH_MAX + 16], path[PATH_MAX + 16];

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(th_write_file(tmp, text), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static void conf_install(const struct env *e, const char *text)
{
	install(e->etc, "cruise.yaml", text);
}

/*
 * The config as a symlink etc/cruise.yaml -> data/cruise.yaml: rewriting the data file makes no
 * event in the directory the agent watches, so that only SIGHUP can make it reload.
 */
static void conf_link(const struct env *e, const char *text)
{
	char target[PATH_MAX + 16];

	install(e->data, "cruise.yaml", text);
	snprintf(target, sizeof(target), "%s/cruise.yaml", e->data);
	assert_int_equal(symlink(target, e->a.conf), 0);
}

static void conf_data(const struct env *e, const char *text)
{
	install(e->data, "cruise.yaml", text);
}

/* the agent */

static void agent_start_args(struct env *e, const char *log_format)
{
	const char *args[] = { "--log-format", log_format, NULL };

	if (th_agent_start(&e->a, args, START_MS))
		fail_msg("cruise-agent did not attach and serve /healthz within %d ms", START_MS);
	print_message("  agent %d ready in %.1f ms\n", (int)e->a.pid,
		      ms(e->a.ready_ns - e->a.started_ns));
}

static void agent_start(struct env *e)
{
	agent_start_args(e, "json");
}

/* Index of the medium by its name in the pinned cruise_media. */
static __u32 medium_index(const struct env *e, const char *name)
{
	int i = th_medium_index(e->a.maps.media, name);

	if (i < 0)
		fail_msg("no active medium %s in cruise_media", name);
	return i;
}

/* The medium's counters (summed over CPUs) and state, from the pinned maps. */
static void read_medium(const struct env *e, const char *name, struct cruise_counters *c,
			struct cruise_medium_state *st)
{
	struct cruise_snapshot_medium m;

	assert_int_equal(th_agent_medium(&e->a, name, &m), 0);
	if (c)
		*c = m.c;
	if (st)
		assert_int_equal(bpf_map_lookup_elem(e->a.maps.state, &m.index, st), 0);
}

/* Poll cruise_bindings for the cgroup; the time it took, or 0 after timeout_ms. */
static __u64 wait_bound(const struct env *e, __u64 cgroup_id, __u32 *medium, int timeout_ms)
{
	int got = -1;
	__u64 took =
		th_wait_binding(e->a.maps.bindings, cgroup_id, TH_ANY_MEDIUM, timeout_ms, &got);

	if (took && medium)
		*medium = got;
	return took;
}

static bool is_bound(const struct env *e, __u64 cgroup_id)
{
	return th_binding(e->a.maps.bindings, cgroup_id) >= 0;
}

/* A cgroup under the scope, removed by the teardown. */
static struct th_cgroup *env_cgroup(struct env *e, const char *name)
{
	struct th_cgroup *cg = &e->cgs[e->n_cgs];

	assert_true(e->n_cgs < MAX_CGROUPS);
	assert_int_equal(th_cgroup_create(cg, &e->sb.scope, name), 0);
	e->n_cgs++;
	return cg;
}

/* A worker cgroup the config's glob matches, bound by the running agent. */
static struct th_cgroup *bound_worker(struct env *e)
{
	struct th_cgroup *w = env_cgroup(e, "push-1");

	assert_true(wait_bound(e, w->id, NULL, 1000) > 0);
	return w;
}

/* clients */

static void run_opts(struct th_run_opts *o, const struct env *e, const char *cgroup, int workers,
		     __u64 duration_ns, double max_rate)
{
	memset(o, 0, sizeof(*o));
	o->cgroup = cgroup;
	o->addr = "127.0.0.1";
	o->port = e->sb.target.port;
	o->workers = workers;
	o->duration_ns = duration_ns;
	/* bounded by count too: twice what the rate allows, plus slack */
	o->max_per_worker = (int)(2 * max_rate * duration_ns / NSEC_PER_SEC / workers) + 8;
}

/* Rate of the successful connects that completed in [from, to), their count and span. */
static double rate_in(const struct th_run *r, __u64 from, __u64 to, int *n, __u64 *span)
{
	struct th_run sub;
	double rate;

	memset(&sub, 0, sizeof(sub));
	sub.conns = calloc(r->n ? r->n : 1, sizeof(*sub.conns));
	assert_non_null(sub.conns);
	for (int i = 0; i < r->n; i++) {
		const struct th_conn *c = &r->conns[i];

		if (c->err || c->end_ns < from || c->end_ns >= to)
			continue;
		sub.conns[sub.n++] = *c;
		sub.ok++;
		if (!sub.first_end_ns || c->end_ns < sub.first_end_ns)
			sub.first_end_ns = c->end_ns;
		if (c->end_ns > sub.last_end_ns)
			sub.last_end_ns = c->end_ns;
	}
	rate = th_run_rate(&sub);
	*n = sub.ok;
	*span = sub.ok ? sub.last_end_ns - sub.first_end_ns : 0;
	free(sub.conns);
	return rate;
}

/* Assert the rate over [from, to) is within RATE_TOL of want, measured over >= 2 s. */
static void assert_rate(const struct th_run *r, __u64 from, __u64 to, double want, const char *what)
{
	__u64 span;
	double got;
	int n;

	got = rate_in(r, from, to, &n, &span);
	print_message("  %s: %.2f/s (configured %.0f/s, %+.2f%%) over %d connects, %.2f s\n", what,
		      got, want, 100 * rel_err(got, want), n, (double)span / NSEC_PER_SEC);
	assert_true(span >= MEASURE_MIN_NS);
	assert_true(fabs(rel_err(got, want)) <= RATE_TOL);
}

/* Successful connects completed in [from, to) */
static int ends_in(const struct th_run *r, __u64 from, __u64 to)
{
	int n = 0;

	for (int i = 0; i < r->n; i++)
		n += !r->conns[i].err && r->conns[i].end_ns >= from && r->conns[i].end_ns < to;
	return n;
}

/* The most successful connects completed in any window of win ns starting at or after from. */
static int max_in_window(const struct th_run *r, __u64 from, __u64 win)
{
	__u64 *ends = calloc(r->n ? r->n : 1, sizeof(*ends));
	int n = 0, best = 0;

	assert_non_null(ends);
	for (int i = 0; i < r->n; i++)
		if (!r->conns[i].err && r->conns[i].end_ns >= from)
			ends[n++] = r->conns[i].end_ns;
	qsort(ends, n, sizeof(*ends), th_u64_compare);
	for (int i = 0, j = 0; i < n; i++) {
		while (ends[i] - ends[j] >= win)
			j++;
		if (i - j + 1 > best)
			best = i - j + 1;
	}
	free(ends);
	return best;
}

static void print_errors(const struct th_run *r)
{
	int shown = 0;

	for (int i = 0; i < r->n && shown < 10; i++)
		if (r->conns[i].err && ++shown)
			print_message("    connect %d (worker %d): %s\n", i, r->conns[i].worker,
				      strerror(r->conns[i].err));
}

/* fixture */

static int env_teardown(void **state);

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	*state = e;
	if (th_agent_sandbox_setup(&e->sb, &e->a, "cruise-agent-test", "agent")) {
		free(e);
		*state = NULL;
		return -1;
	}
	snprintf(e->etc, sizeof(e->etc), "%s/etc", e->sb.tmp);
	snprintf(e->data, sizeof(e->data), "%s/data", e->sb.tmp);
	if (mkdir(e->etc, 0700) || mkdir(e->data, 0700)) {
		env_teardown(state);
		return -1;
	}
	snprintf(e->a.conf, sizeof(e->a.conf), "%s/etc/cruise.yaml", e->sb.tmp);
	return 0;
}

/* Runs when the test failed too: clients, agent, pins and links, cgroups, files. */
static int env_teardown(void **state)
{
	struct env *e = *state;

	if (!e)
		return 0;
	th_job_join(&e->bg);
	th_run_free(&e->bg.r);
	th_agent_sandbox_teardown(&e->sb, &e->a);
	free(e);
	*state = NULL;
	return 0;
}

/* tests */

/*
 * A worker cgroup created after the agent started is found through inotify and bound within a
 * second (measured on the pinned map), a cgroup the glob does not match is not, and the bound one
 * is paced at the configured rate.
 */
static void test_bind_new_cgroup(void **state)
{
	struct env *e = *state;
	struct th_cgroup *other, *w;
	struct th_run_opts o;
	struct th_run r;
	char text[2048], line[8192], rel[PATH_MAX];
	__u32 medium = ~0u;
	__u64 t0, took;

	conf_text(e, text, sizeof(text), "40/s", NULL);
	conf_install(e, text);
	agent_start(e);

	other = env_cgroup(e, "other-1");
	t0 = now_ns();
	w = env_cgroup(e, "push-1");
	took = wait_bound(e, w->id, &medium, 2000);
	print_message("  %s bound %.2f ms after mkdir\n", w->path, ms(took ? took : now_ns() - t0));
	assert_true(took > 0);
	assert_true(took < NSEC_PER_SEC);
	assert_int_equal(medium, medium_index(e, "push"));
	/* it existed before push-1, so the scan that bound push-1 saw it */
	assert_false(is_bound(e, other->id));
	/* logged with its path relative to the cgroup2 mount */
	snprintf(rel, sizeof(rel), "\"cgroup\":\"/%s/push-1\"", e->sb.name);
	assert_true(wait_line(e, "\"msg\":\"bound cgroup\"", rel, 1, WAIT_MS, line, sizeof(line)) >=
		    0);

	run_opts(&o, e, w->path, WORKERS, 2200 * NSEC_PER_MSEC, 40);
	assert_int_equal(th_run_clients(&o, &r), 0);
	print_errors(&r);
	assert_int_equal(r.failed, 0);
	assert_rate(&r, 0, ~0ULL, 40, "bound worker");
	th_run_free(&r);
}

/*
 * A reload changes the rate from the next connect on, with no burst: the medium keeps its state.
 * Clients run at 40/s; the config changes to 80/s; the first 100 ms after the reload is logged
 * hold at most 80 x 0.1 + 2 connects, and the rest is paced at 80/s.
 */
static void reload_check(struct env *e, bool sighup)
{
	__u64 start, t_change, t_reload, t_end;
	struct th_job *b = &e->bg;
	char text[2048], line[8192];
	struct th_cgroup *w;
	int burst, n_before, at, hup_at;

	conf_text(e, text, sizeof(text), "40/s", NULL);
	if (sighup)
		conf_link(e, text);
	else
		conf_install(e, text);
	agent_start(e);
	w = bound_worker(e);

	run_opts(&b->o, e, w->path, WORKERS, 3000 * NSEC_PER_MSEC, 80);
	start = now_ns() + 100 * NSEC_PER_MSEC;
	b->o.start_at_ns = start;
	assert_int_equal(th_job_start(b), 0);

	th_sleep_until(start + 600 * NSEC_PER_MSEC);
	conf_text(e, text, sizeof(text), "80/s", NULL);
	t_change = now_ns();
	if (sighup) {
		/* the data file is outside the watched directory: only the signal tells */
		conf_data(e, text);
		assert_int_equal(kill(e->a.pid, SIGHUP), 0);
	} else {
		conf_install(e, text);
	}
	at = wait_line(e, "\"msg\":\"config applied\"", "\"generation\":\"2\"", 1, WAIT_MS, line,
		       sizeof(line));
	if (at < 0 && !th_agent_alive(&e->a)) {
		char why[96];

		th_describe_status(e->a.status, why, sizeof(why));
		fail_msg("cruise-agent %s after %s", why, sighup ? "SIGHUP" : "the config rename");
	}
	assert_true(at >= 0);
	t_reload = line_mono_ns(line);
	if (sighup) {
		/* reloaded by the signal, not by the directory watch */
		hup_at = wait_line(e, "\"msg\":\"SIGHUP: reloading\"", NULL, 1, 0, NULL, 0);
		assert_true(hup_at >= 0 && hup_at < at);
	}
	/* the log's ts is cut to the millisecond: it may read up to 1 ms before t_change */
	print_message("  reload logged %.1f ms after the %s\n",
		      (double)(__s64)(t_reload - t_change) / NSEC_PER_MSEC,
		      sighup ? "SIGHUP" : "rename");
	assert_true(t_reload + NSEC_PER_MSEC >= t_change);
	assert_true(t_reload < t_change + NSEC_PER_SEC);
	assert_true(th_agent_alive(&e->a));

	th_job_join(b);
	assert_int_equal(b->err, 0);
	print_errors(&b->r);
	assert_int_equal(b->r.failed, 0);
	t_end = b->r.last_end_ns + 1;
	n_before = ends_in(&b->r, 0, t_reload);
	burst = ends_in(&b->r, t_reload, t_reload + WINDOW_NS);
	print_message("  %d connects before the reload; %d in the 100 ms after it (at most %d)\n",
		      n_before, burst, (int)(80 * 0.1) + WINDOW_SLACK);
	assert_true(burst <= (int)(80 * 0.1) + WINDOW_SLACK);
	assert_true(n_before > 0);
	assert_rate(&b->r, t_reload + WINDOW_NS, t_end, 80, "after the reload");
	assert_int_equal(count_lines(e, "\"level\":\"error\"", NULL), 0);
}

static void test_reload_on_rename(void **state)
{
	reload_check(*state, false);
}

static void test_reload_on_sighup(void **state)
{
	reload_check(*state, true);
}

/*
 * Enforcement outlives the agent: SIGKILLed while clients connect at 50/s, the pinned programs
 * keep pacing at the same rate with no burst; a new agent on the same config reuses the maps, so
 * the counters carry on from where they were.
 */
static void test_sigkill_keeps_pacing(void **state)
{
	struct env *e = *state;
	struct th_job *b = &e->bg;
	struct cruise_counters c;
	char text[2048], path[PATH_MAX + 32], series[128];
	__u64 start, t_kill;
	struct th_cgroup *w;
	int worst;

	conf_text(e, text, sizeof(text), "50/s", NULL);
	conf_install(e, text);
	agent_start(e);
	w = bound_worker(e);

	run_opts(&b->o, e, w->path, WORKERS, 3000 * NSEC_PER_MSEC, 50);
	start = now_ns() + 100 * NSEC_PER_MSEC;
	b->o.start_at_ns = start;
	assert_int_equal(th_job_start(b), 0);
	th_sleep_until(start + 1000 * NSEC_PER_MSEC);
	assert_int_equal(kill(e->a.pid, SIGKILL), 0);
	assert_true(waitpid(e->a.pid, NULL, 0) == e->a.pid);
	t_kill = now_ns();
	e->a.pid = 0;
	/* what enforces now: the pinned links */
	snprintf(path, sizeof(path), "%s/links/cruise_connect4", e->a.pin_dir);
	assert_int_equal(access(path, F_OK), 0);

	th_job_join(b);
	assert_int_equal(b->err, 0);
	print_errors(&b->r);
	assert_int_equal(b->r.failed, 0);
	assert_rate(&b->r, 0, ~0ULL, 50, "whole run, agent SIGKILLed at 1 s");
	assert_rate(&b->r, t_kill, ~0ULL, 50, "after the SIGKILL");
	worst = max_in_window(&b->r, t_kill, WINDOW_NS);
	print_message("  most connects in a 100 ms window after the kill: %d (at most %d)\n", worst,
		      5 + WINDOW_SLACK);
	assert_true(worst <= 5 + WINDOW_SLACK);

	/* the maps are reused: every connect of the run counted, none reset */
	agent_start(e);
	read_medium(e, "push", &c, NULL);
	print_message("  after restart: connections %llu (clients made %d)\n",
		      (unsigned long long)c.connections, b->r.n);
	assert_int_equal(c.connections, b->r.n);
	snprintf(series, sizeof(series), "cruise_connections_total{medium=\"push\"}");
	assert_int_equal((long long)scrape(e, series), b->r.n);
}

/*
 * A restarted agent keeps the medium's schedule: at 40/m (1.5 s apart), a connect right after the
 * restart still waits for the slot the first connect left (tat in cruise_state, not reset), and
 * never less. A reset schedule would let it through at once.
 */
static void test_restart_keeps_state(void **state)
{
	struct env *e = *state;
	struct cruise_medium_state st1, st2;
	struct cruise_counters c1, c2;
	__u64 jiffy = th_jiffy_ns(), expected, latency;
	struct th_run_opts o;
	struct th_run r1, r2;
	char text[2048];
	struct th_cgroup *w;

	conf_text(e, text, sizeof(text), "40/m", "    max_wait: 2s\n");
	conf_install(e, text);
	agent_start(e);
	w = bound_worker(e);

	run_opts(&o, e, w->path, 1, NSEC_PER_SEC, 1);
	o.max_per_worker = 1;
	assert_int_equal(th_run_clients(&o, &r1), 0);
	assert_int_equal(r1.ok, 1);
	read_medium(e, "push", &c1, &st1);
	assert_int_equal(c1.connections, 1);
	assert_true(st1.tat_ns > now_ns());

	th_agent_kill(&e->a, SIGKILL);
	agent_start(e);
	read_medium(e, "push", &c2, &st2);
	assert_int_equal(st2.tat_ns, st1.tat_ns);
	assert_int_equal(c2.connections, 1);

	assert_int_equal(th_run_clients(&o, &r2), 0);
	assert_int_equal(r2.ok, 1);
	expected = st1.tat_ns > r2.conns[0].start_ns ? st1.tat_ns - r2.conns[0].start_ns : 0;
	latency = r2.conns[0].end_ns - r2.conns[0].start_ns;
	print_message("  connect after restart: waited %.1f ms for a slot %.1f ms away\n",
		      ms(latency), ms(expected));
	/* the restart left enough of the interval for the wait to show */
	assert_true(expected > 300 * NSEC_PER_MSEC);
	assert_true(r2.conns[0].end_ns >= st1.tat_ns);
	/* late by the timer wheel's steps at most (cruise_hold.h: 32 ms below 2 s), plus noise */
	assert_true(latency <= expected + 32 * NSEC_PER_MSEC + 2 * jiffy + 5 * NSEC_PER_MSEC);
	read_medium(e, "push", &c2, NULL);
	assert_int_equal(c2.connections, 2);
	assert_int_equal(c2.delayed, 1);
	th_run_free(&r1);
	th_run_free(&r2);
}

/* bpftool cgroup show on the scope: exit code, and whether any cruise program is attached. */
static int cruise_progs_shown(const struct env *e, bool *shown)
{
	const char *argv[] = { "bpftool", "cgroup", "show", e->sb.scope.path, NULL };
	char out[PATH_MAX + 32], *text;
	int rc;

	snprintf(out, sizeof(out), "%s/bpftool-%d.out", e->sb.tmp, e->a.n_logs);
	unlink(out);
	rc = run_cmd(argv, out, NULL);
	text = th_slurp(out);
	*shown = strstr(text, "cruise_");
	free(text);
	return rc;
}

/*
 * --uninstall removes what cruise pinned and attached: the pin_dir is gone, bpftool shows no
 * cruise program on the scope, and the worker's connects are no longer paced.
 */
static void test_uninstall(void **state)
{
	struct env *e = *state;
	char text[2048];
	struct th_run_opts o;
	struct th_run r;
	struct th_cgroup *w;
	struct stat st;
	bool shown;

	conf_text(e, text, sizeof(text), "10/s", NULL);
	conf_install(e, text);
	agent_start(e);
	w = bound_worker(e);
	assert_int_equal(cruise_progs_shown(e, &shown), 0);
	assert_true(shown);

	/* paced while installed: 0.5 s at 10/s */
	run_opts(&o, e, w->path, 2, 500 * NSEC_PER_MSEC, 10);
	assert_int_equal(th_run_clients(&o, &r), 0);
	print_message("  installed: %d connects in 0.5 s\n", r.ok);
	/* the slots in 0.5 s, plus one in flight per worker at the deadline */
	assert_true(r.ok <= 5 + 1 + o.workers);
	th_run_free(&r);

	th_agent_kill(&e->a, SIGTERM);
	cruise_maps_close(&e->a.maps);
	e->a.maps_open = false;
	/* its output is printed when it fails */
	assert_int_equal(th_agent_uninstall(&e->a), 0);
	assert_int_equal(stat(e->a.pin_dir, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(cruise_progs_shown(e, &shown), 0);
	assert_false(shown);

	run_opts(&o, e, w->path, 2, 500 * NSEC_PER_MSEC, 10000);
	assert_int_equal(th_run_clients(&o, &r), 0);
	print_message("  uninstalled: %d connects in 0.5 s (%.0f/s; configured 10/s)\n", r.ok,
		      r.ok / 0.5);
	assert_int_equal(r.failed, 0);
	assert_true(r.ok / 0.5 > 20 * 10);
	th_run_free(&r);
}

/*
 * /metrics counts what the clients saw: connections and max_wait refusals equal the clients' own
 * counts (a tiny max_wait makes most fail); /healthz is 200.
 */
static void test_metrics(void **state)
{
	struct env *e = *state;
	char text[2048], series[160], *body = NULL;
	struct th_run_opts o;
	struct th_run r;
	struct th_cgroup *w;
	int refused_other = 0;

	conf_text(e, text, sizeof(text), "20/s", "    max_wait: 10ms\n");
	conf_install(e, text);
	agent_start(e);
	w = bound_worker(e);

	/* bounded by time: refusals take microseconds, admitted connects come at 20/s */
	run_opts(&o, e, w->path, 2, 500 * NSEC_PER_MSEC, 20);
	o.max_per_worker = 60000;
	assert_int_equal(th_run_clients(&o, &r), 0);
	for (int i = 0; i < r.n; i++)
		refused_other += r.conns[i].err && r.conns[i].err != ECONNREFUSED;
	print_message("  clients: %d connects, %d ok, %d refused\n", r.n, r.ok, r.failed);
	assert_int_equal(refused_other, 0);
	assert_true(r.ok >= 3);
	assert_true(r.failed >= 100);

	snprintf(series, sizeof(series), "cruise_connections_total{medium=\"push\"}");
	assert_int_equal((long long)scrape(e, series), r.n);
	snprintf(series, sizeof(series),
		 "cruise_refused_total{medium=\"push\",reason=\"max_wait\"}");
	assert_int_equal((long long)scrape(e, series), r.failed);
	snprintf(series, sizeof(series),
		 "cruise_refused_total{medium=\"push\",reason=\"max_conns\"}");
	assert_int_equal((long long)scrape(e, series), 0);
	snprintf(series, sizeof(series), "cruise_rate_limit{medium=\"push\"}");
	assert_true(scrape(e, series) == 20);
	assert_int_equal((long long)scrape(e, "cruise_programs_attached"), CRUISE_PROG_COUNT);
	assert_int_equal((long long)scrape(e, "cruise_config_generation"), 1);

	assert_int_equal(th_http_get(e->a.metrics_port, "/healthz", &body), 200);
	assert_string_equal(body, "ok\n");
	free(body);
	th_run_free(&r);
}

/*
 * One JSON line per refusal, up to the log's rate limit (bursts of 20), then "refusal log lines
 * suppressed" lines with counts: lines + suppressed == refusals. Each line names the medium, the
 * worker's cgroup (relative to the mount), pid, comm, destination, reason and errno.
 */
static void test_refusal_log(void **state)
{
	struct env *e = *state;
	char text[2048], line[8192], s[256], want[256], comm[32] = "";
	struct cruise_counters c;
	struct th_run_opts o;
	long long pid = 0, v;
	struct th_run r;
	struct th_cgroup *w;
	int lines = 0, reports = 0;
	long long suppressed = 0;
	__u64 deadline;
	FILE *f;

	conf_text(e, text, sizeof(text), "5/s",
		  "    max_wait: 1ms\n"
		  "    refuse_errno: ETIMEDOUT\n");
	conf_install(e, text);
	agent_start_args(e, "json");
	w = bound_worker(e);

	/* one worker in a tight loop: one admitted, then refusals within milliseconds */
	run_opts(&o, e, w->path, 1, 2 * NSEC_PER_SEC, 5);
	o.max_per_worker = 120;
	assert_int_equal(th_run_clients(&o, &r), 0);
	for (int i = 0; i < r.n; i++)
		if (r.conns[i].err)
			assert_int_equal(r.conns[i].err, ETIMEDOUT);
	print_message("  clients: %d ok, %d refused\n", r.ok, r.failed);
	assert_true(r.failed > 20);
	read_medium(e, "push", &c, NULL);
	assert_int_equal(c.refused_max_wait, r.failed);
	assert_int_equal(c.events_lost, 0);

	/* the suppressed count is reported at most once a second per medium */
	deadline = now_ns() + 4 * NSEC_PER_SEC;
	do {
		char *log = th_slurp(e->a.log);

		lines = th_find_line(log, "\"msg\":\"connect refused\"", NULL, 0, NULL, 0);
		reports = th_find_line(log, "\"msg\":\"refusal log lines suppressed\"", NULL, 0,
				       NULL, 0);
		suppressed = 0;
		for (int i = 1; i <= reports; i++) {
			th_find_line(log, "\"msg\":\"refusal log lines suppressed\"", NULL, i, line,
				     sizeof(line));
			assert_true(jnum(line, "suppressed", &v));
			suppressed += v;
		}
		free(log);
		if (lines + suppressed >= r.failed)
			break;
		usleep(5000);
	} while (now_ns() < deadline);
	print_message("  %d refusal lines + %lld suppressed (in %d reports) for %d refusals\n",
		      lines, suppressed, reports, r.failed);
	if (lines + suppressed != r.failed)
		th_agent_print_log(&e->a, 6000);
	assert_int_equal(lines + suppressed, r.failed);
	/* the refusals came within milliseconds: the burst, and at most a token more */
	assert_true(lines >= 20 && lines <= 21);
	assert_true(reports >= 1);
	assert_int_equal((long long)scrape(e, "cruise_log_suppressed_total"), suppressed);

	f = fopen("/proc/self/comm", "r");
	assert_non_null(f);
	assert_non_null(fgets(comm, sizeof(comm), f));
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';
	for (int i = 1; i <= lines; i++) {
		char *log = th_slurp(e->a.log);

		assert_true(th_find_line(log, "\"msg\":\"connect refused\"", NULL, i, line,
					 sizeof(line)) >= 0);
		free(log);
		assert_true(jstr(line, "level", s, sizeof(s)));
		assert_string_equal(s, "warn");
		assert_true(jstr(line, "medium", s, sizeof(s)));
		assert_string_equal(s, "push");
		snprintf(want, sizeof(want), "/%s/push-1", e->sb.name);
		assert_true(jstr(line, "cgroup", s, sizeof(s)));
		assert_string_equal(s, want);
		/* the worker: a fork of this process, one for all the refusals */
		assert_true(jnum(line, "pid", &v));
		assert_true(v > 0 && v != getpid());
		assert_true(!pid || v == pid);
		pid = v;
		assert_true(jstr(line, "comm", s, sizeof(s)));
		assert_string_equal(s, comm);
		snprintf(want, sizeof(want), "127.0.0.1:%u", e->sb.target.port);
		assert_true(jstr(line, "dest", s, sizeof(s)));
		assert_string_equal(s, want);
		assert_true(jstr(line, "reason", s, sizeof(s)));
		assert_string_equal(s, "max_wait");
		assert_true(jstr(line, "errno", s, sizeof(s)));
		assert_string_equal(s, "ETIMEDOUT");
		assert_non_null(strstr(line, "\"dry_run\":false"));
	}
	for (int i = 1; i <= reports; i++) {
		char *log = th_slurp(e->a.log);

		th_find_line(log, "\"msg\":\"refusal log lines suppressed\"", NULL, i, line,
			     sizeof(line));
		free(log);
		assert_true(jstr(line, "medium", s, sizeof(s)));
		assert_string_equal(s, "push");
	}
	th_run_free(&r);
}

/* The agent runs on, still enforcing 40/s, its health and generation unchanged. */
static void assert_old_config_enforced(struct env *e, struct th_cgroup *w)
{
	struct th_run_opts o;
	struct th_run r;

	assert_true(th_agent_alive(&e->a));
	assert_int_equal(th_agent_healthz(&e->a), 200);
	assert_int_equal((long long)scrape(e, "cruise_config_generation"), 1);
	run_opts(&o, e, w->path, WORKERS, 2200 * NSEC_PER_MSEC, 40);
	assert_int_equal(th_run_clients(&o, &r), 0);
	print_errors(&r);
	assert_int_equal(r.failed, 0);
	assert_rate(&r, 0, ~0ULL, 40, "old config still enforced");
	th_run_free(&r);
}

/*
 * A bad config at SIGHUP is rejected whole: one error line naming the file, the line and the
 * field; the agent runs on; cruise_reload_failures_total is 1; the old rate is still enforced.
 */
static void test_bad_config_sighup(void **state)
{
	struct env *e = *state;
	char text[2048], line[8192], err[1024], want[PATH_MAX + 64];
	struct th_cgroup *w;
	int at;

	conf_text(e, text, sizeof(text), "40/s", NULL);
	conf_link(e, text);
	agent_start(e);
	w = bound_worker(e);

	conf_text(e, text, sizeof(text), "0/s", NULL);
	conf_data(e, text);
	assert_int_equal(kill(e->a.pid, SIGHUP), 0);
	at = wait_line(e, "\"level\":\"error\"", NULL, 1, WAIT_MS, line, sizeof(line));
	if (at < 0 && !th_agent_alive(&e->a)) {
		char why[96];

		th_describe_status(e->a.status, why, sizeof(why));
		fail_msg("cruise-agent %s after SIGHUP", why);
	}
	assert_true(at >= 0);
	assert_true(jstr(line, "error", err, sizeof(err)));
	print_message("  logged: %s\n", err);
	snprintf(want, sizeof(want), "%s:%d: media[0].rate: ", e->a.conf, RATE_LINE);
	assert_memory_equal(err, want, strlen(want));
	assert_int_equal((long long)scrape(e, "cruise_reload_failures_total"), 1);
	assert_old_config_enforced(e, w);
}

/*
 * A bad config saved into the watched directory is rejected once, as a change: an editor's swap
 * file appearing next to it, or the temp file of the next save, are no new failures. The good
 * config saved after it applies.
 */
static void test_bad_config_rename(void **state)
{
	struct env *e = *state;
	char text[2048], line[8192], err[1024], want[PATH_MAX + 64], swp[PATH_MAX + 32];
	struct th_cgroup *w;
	int rejected;

	conf_text(e, text, sizeof(text), "40/s", NULL);
	conf_install(e, text);
	agent_start(e);
	w = bound_worker(e);

	conf_text(e, text, sizeof(text), "40/s", "    colour: blue\n");
	conf_install(e, text);
	assert_true(wait_line(e, "\"level\":\"error\"", NULL, 1, WAIT_MS, line, sizeof(line)) >= 0);
	assert_true(jstr(line, "error", err, sizeof(err)));
	print_message("  logged: %s\n", err);
	snprintf(want, sizeof(want), "%s:%d: media[0].colour: unknown key", e->a.conf, EXTRA_LINE);
	assert_memory_equal(err, want, strlen(want));
	/*
	 * An event in the directory that changes nothing (an editor's swap file): the agent has
	 * long handled it when the 2.2 s of clients are done, and must not count it as a failure.
	 */
	snprintf(swp, sizeof(swp), "%s/.cruise.yaml.swp", e->etc);
	assert_int_equal(th_write_file(swp, "swap"), 0);
	assert_old_config_enforced(e, w);
	rejected = count_lines(e, "\"msg\":\"config rejected", NULL);
	print_message("  after the swap file: rejections logged %d, cruise_reload_failures_total "
		      "%.0f\n",
		      rejected, scrape(e, "cruise_reload_failures_total"));
	assert_int_equal(rejected, 1);
	assert_int_equal((long long)scrape(e, "cruise_reload_failures_total"), 1);

	/* then a good config applies (its temp file no new failure either) */
	conf_text(e, text, sizeof(text), "50/s", NULL);
	conf_install(e, text);
	assert_true(wait_line(e, "\"msg\":\"config applied\"", "\"generation\":\"2\"", 1, WAIT_MS,
			      NULL, 0) >= 0);
	rejected = count_lines(e, "\"msg\":\"config rejected", NULL);
	print_message("  rejections logged: %d; cruise_reload_failures_total %.0f\n", rejected,
		      scrape(e, "cruise_reload_failures_total"));
	assert_int_equal(rejected, 1);
	assert_int_equal((long long)scrape(e, "cruise_reload_failures_total"), 1);
}

/* The first line of a file, and whether it is the only one. */
static bool one_line(const char *path, char *buf, size_t len)
{
	char *text = th_slurp(path);
	char *nl = strchr(text, '\n');
	bool one = nl && !nl[1];

	snprintf(buf, len, "%.*s", nl ? (int)(nl - text) : (int)strlen(text), text);
	free(text);
	return one;
}

/*
 * --check: 0 on a good file; 1 and one "FILE:LINE: FIELD: problem" line on stderr for a bad one;
 * 1 and one clear line for a missing one. Starting with a bad config fails without creating the
 * pin_dir.
 */
static void test_check(void **state)
{
	struct env *e = *state;
	char text[2048], good[PATH_MAX + 16], bad[PATH_MAX + 16], missing[PATH_MAX + 16];
	char out[PATH_MAX + 16], err[PATH_MAX + 16], line[1024], want[PATH_MAX + 64];
	const char *check_good[] = { agent_bin, "--check", good, NULL };
	const char *check_bad[] = { agent_bin, "--check", bad, NULL };
	const char *check_missing[] = { agent_bin, "--check", missing, NULL };
	const char *start_bad[] = { agent_bin, "--config", bad, NULL };
	struct stat st;
	pid_t pid;
	int status;

	snprintf(good, sizeof(good), "%s/good.yaml", e->etc);
	snprintf(bad, sizeof(bad), "%s/bad.yaml", e->etc);
	snprintf(missing, sizeof(missing), "%s/missing.yaml", e->etc);
	snprintf(out, sizeof(out), "%s/check.out", e->sb.tmp);
	snprintf(err, sizeof(err), "%s/check.err", e->sb.tmp);
	conf_text(e, text, sizeof(text), "40/s", NULL);
	assert_int_equal(th_write_file(good, text), 0);
	conf_text(e, text, sizeof(text), "0/s", NULL);
	assert_int_equal(th_write_file(bad, text), 0);

	assert_int_equal(run_cmd(check_good, out, err), 0);

	unlink(err);
	assert_int_equal(run_cmd(check_bad, out, err), 1);
	assert_true(one_line(err, line, sizeof(line)));
	print_message("  bad: %s\n", line);
	snprintf(want, sizeof(want), "%s:%d: media[0].rate: ", bad, RATE_LINE);
	assert_memory_equal(line, want, strlen(want));
	assert_true(strlen(line) > strlen(want));

	unlink(err);
	assert_int_equal(run_cmd(check_missing, out, err), 1);
	assert_true(one_line(err, line, sizeof(line)));
	print_message("  missing: %s\n", line);
	assert_non_null(strstr(line, missing));
	assert_non_null(strstr(line, strerror(ENOENT)));

	/* a bad config at start: non-zero exit, the same line, and nothing pinned */
	unlink(err);
	pid = th_spawn(start_bad, out, err);
	assert_true(pid > 0);
	status = th_wait_exit(pid, START_MS);
	assert_true(status != -1);
	assert_true(!WIFEXITED(status) || WEXITSTATUS(status) != 0);
	assert_true(one_line(err, line, sizeof(line)));
	snprintf(want, sizeof(want), "%s:%d: media[0].rate: ", bad, RATE_LINE);
	assert_memory_equal(line, want, strlen(want));
	assert_int_equal(stat(e->a.pin_dir, &st), -1);
	assert_int_equal(errno, ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bind_new_cgroup, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_reload_on_rename, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_reload_on_sighup, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_keeps_pacing, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_restart_keeps_state, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_uninstall, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_metrics, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_refusal_log, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_bad_config_sighup, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_bad_config_rename, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_check, env_setup, env_teardown),
	};

	if (geteuid()) {
		fprintf(stderr, "test_agent: run as root (BPF programs, cgroups, bpffs)\n");
		return 1;
	}
	agent_bin = th_agent_bin();
	if (!agent_bin)
		return 1;
	printf("cruise-agent: %s\n", agent_bin);
	return cmocka_run_group_tests_name("cruise-agent end to end (root)", tests, NULL, NULL);
}
