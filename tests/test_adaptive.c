// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Adaptive rates end to end: the real cruise-agent on a config this test writes, a real
 * PostgreSQL (Debian's, started here on loopback through scripts/pg.sh) that the agent's probe
 * reads the signal from (SELECT v FROM health, a one-row table this test writes with libpq), a
 * real Prometheus for the Prometheus probe, real cgroups and hungry workers whose connects go to a
 * loopback listener (cheap for the machine, paced by the real datapath). Nothing is mocked.
 *
 * The rounds are predicted, not guessed: the controller's own code (cruise_adapt_round, linked
 * in) is run here on the rounds' signal, with the agent's rounding of rates to whole-ns intervals,
 * and the rounds the agent wrote into the pinned cruise_adaptive map (polled every 2 ms by a
 * thread, each round told by its decided_ns) must be those, interval for interval.
 *
 * Tolerances come from the design:
 * - rounds are on the probe thread's grid of every, each at a random offset within +-every/8
 *   (signals.h), written after its probe and a wake of the main loop; a probe never takes longer
 *   than every (its deadline), so N rounds span (N - 1) x every within +-every;
 * - admitted connections (connections less refusals, counted by the datapath when the connect is
 *   decided) of hungry workers over a window W at rate R are R x W within one connection at each
 *   edge, one per worker between its completed connect and its next (the decision, not the
 *   completion, is counted) and the hold's lateness at the edges (a jiffy, R x 4 ms): windows are
 *   long enough that 5% of R x W is above that (4 s at 20/s: 80 connections, 5% = 4);
 * - "once a second at most" for a failure log line: a run of D seconds logs at most D + 2 lines
 *   (the first failure, one per elapsed second, and one more for a change of reason);
 * - the convergence of two nodes (test_converge) is argued at the test.
 *
 * The teardown stops the workers, the recorder, the agents (SIGKILL, --uninstall of their pin
 * dirs), Prometheus and its exporter, and removes the cgroups and files, also when a test failed;
 * the PostgreSQL server is the group's, stopped and removed after the last test. Run as root; the
 * agent and cruisectl are the binaries beside this program.
 *
 * Over 600 lines: one end-to-end program for adaptive rates; every case needs the same server,
 * agents, recorder of rounds and predictions.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "adaptive.h"
#include "agent_fixture.h"
#include "loader.h"
#include "pg_fixture.h"
#include "prom_fixture.h"

#define MSEC	   1000000ULL
#define SEC	   1000000000ULL
#define EVERY_MS   200
#define EVERY	   (EVERY_MS * MSEC)
#define START_MS   10000
#define HUNGRY	   6	/* workers of a hungry medium */
#define MAX_WAIT   "3s" /* above HUNGRY / the lowest floor: hungry workers are held, not refused */
#define RATE_TOL   0.05
#define POLL_US	   2000 /* the recorder's period: a round every EVERY is never missed */
#define REC_MAX	   16384
#define MAX_NODES  2
#define MAX_MEDIA  4
#define MAX_WATCH  (MAX_NODES * MAX_MEDIA)
#define TARGET	   10.0
#define HEALTHY	   5.0	/* under TARGET */
#define UNHEALTHY  12.5 /* TARGET / 0.8: the gradient backoff multiplies by 0.8 */
#define FAIL_LINES "signal probe failed"

/* the group: one PostgreSQL for every case, and what the forked workers share */
struct grp {
	struct th_sandbox sb; /* a name and a temp dir: the server's, the DSN file */
	struct th_pg pg;
	char dsn_file[PATH_MAX];
	char conninfo[256];
	PGconn *conn;
	bool halted;	    /* test_outage stopped the server: the teardown starts it again */
	volatile int *stop; /* MAP_SHARED: the workers stop at their next connect */
	char ctl[PATH_MAX]; /* cruisectl beside this program */
};

static struct grp *G;

struct medium_def {
	const char *name;
	double ceil, floor; /* floor 0: not adaptive */
	unsigned int prio;
	const char *signal;
};

struct node {
	char id[96]; /* the scope cgroup's and the pin dir's name */
	struct th_cgroup scope, cg[MAX_MEDIA];
	struct th_agent a;
	struct medium_def m[MAX_MEDIA];
	int n_m;
	__u32 idx[MAX_MEDIA];
	int watch[MAX_MEDIA]; /* the recorder's, -1: not adaptive */
	struct th_job job[MAX_MEDIA];
};

/* One round of one adaptive medium as the agent wrote it. */
struct round {
	__u64 seen_ns; /* when the recorder saw it */
	int watch;
	struct cruise_adaptive ad;
};

struct recorder {
	pthread_t thread;
	bool running;
	volatile bool stop;
	pthread_mutex_t lock;
	const struct cruise_maps *maps[MAX_WATCH];
	__u32 idx[MAX_WATCH];
	__u64 last[MAX_WATCH];
	int n_watch;
	struct round *r;
	int n;
};

struct env {
	struct th_sandbox
		sb; /* a name, a temp dir, the loopback listener every worker connects to */
	struct node n[MAX_NODES];
	int n_nodes;
	struct recorder rec;
	struct th_prom prom;
	bool prom_started;
};

static __u64 now_ns(void)
{
	return cruise_now_ns();
}

/* the test's own SQL on the signal's table */

static void no_notice(void *arg, const char *message)
{
	(void)arg, (void)message; /* "terminating connection due to immediate shutdown": expected */
}

static int sql(const char *fmt, ...)
{
	char q[512], err[1024] = "";
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	/* a session from before test_outage's restart fails once: then a new one */
	for (int attempt = 0; attempt < 2; attempt++) {
		PGresult *r;
		bool ok;

		if (!G->conn || PQstatus(G->conn) != CONNECTION_OK) {
			PQfinish(G->conn);
			G->conn = PQconnectdb(G->conninfo);
			PQsetNoticeProcessor(G->conn, no_notice, NULL);
			if (PQstatus(G->conn) != CONNECTION_OK) {
				snprintf(err, sizeof(err), "connect: %s", PQerrorMessage(G->conn));
				continue;
			}
		}
		r = PQexec(G->conn, q);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
		if (!ok)
			snprintf(err, sizeof(err), "%s: %s", q, PQresultErrorMessage(r));
		PQclear(r);
		if (ok)
			return 0;
		PQfinish(G->conn);
		G->conn = NULL;
	}
	print_message("%s", err);
	return -1;
}

static void set_v(double v)
{
	assert_int_equal(sql("UPDATE health SET v = %.17g", v), 0);
}

/* the recorder of rounds */

static void *rec_main(void *arg)
{
	struct recorder *rc = arg;

	while (!rc->stop) {
		for (int w = 0; w < rc->n_watch; w++) {
			struct cruise_adaptive ad;

			if (cruise_maps_get_adaptive(rc->maps[w], rc->idx[w], &ad) ||
			    !(ad.flags & CRUISE_ADAPT_ACTIVE) || !ad.decided_ns ||
			    ad.decided_ns == rc->last[w])
				continue;
			rc->last[w] = ad.decided_ns;
			pthread_mutex_lock(&rc->lock);
			if (rc->n < REC_MAX)
				rc->r[rc->n++] = (struct round){ now_ns(), w, ad };
			pthread_mutex_unlock(&rc->lock);
		}
		usleep(POLL_US);
	}
	return NULL;
}

static int rec_watch(struct recorder *rc, const struct cruise_maps *m, __u32 idx)
{
	assert_false(rc->running);
	assert_true(rc->n_watch < MAX_WATCH);
	rc->maps[rc->n_watch] = m;
	rc->idx[rc->n_watch] = idx;
	return rc->n_watch++;
}

static void rec_start(struct recorder *rc)
{
	rc->r = calloc(REC_MAX, sizeof(*rc->r));
	assert_non_null(rc->r);
	pthread_mutex_init(&rc->lock, NULL);
	assert_int_equal(pthread_create(&rc->thread, NULL, rec_main, rc), 0);
	rc->running = true;
}

static void rec_stop(struct recorder *rc)
{
	if (rc->running) {
		rc->stop = true;
		pthread_join(rc->thread, NULL);
		pthread_mutex_destroy(&rc->lock);
	}
	rc->running = false;
	free(rc->r);
	rc->r = NULL;
}

static int rec_count(struct recorder *rc)
{
	int n;

	pthread_mutex_lock(&rc->lock);
	n = rc->n;
	pthread_mutex_unlock(&rc->lock);
	return n;
}

/* The rounds of watch w recorded at or after index from, in order; their count. */
static int rec_rounds(struct recorder *rc, int w, int from, struct round *out, int max)
{
	int n = 0;

	pthread_mutex_lock(&rc->lock);
	for (int i = from; i < rc->n && n < max; i++)
		if (rc->r[i].watch == w)
			out[n++] = rc->r[i];
	pthread_mutex_unlock(&rc->lock);
	return n;
}

/* Poll until watch w has a round at or after index from with this why; its index, or -1. */
static int rec_wait_why(struct recorder *rc, int w, int from, enum cruise_adapt_why why,
			int timeout_ms)
{
	__u64 deadline = now_ns() + timeout_ms * MSEC;

	for (;;) {
		int found = -1;

		pthread_mutex_lock(&rc->lock);
		for (int i = from; i < rc->n && found < 0; i++)
			if (rc->r[i].watch == w && rc->r[i].ad.why == why)
				found = i;
		pthread_mutex_unlock(&rc->lock);
		if (found >= 0 || now_ns() > deadline)
			return found;
		usleep(5000);
	}
}

static double rate_of(__u64 interval_ns)
{
	return cruise_adapt_rate(interval_ns);
}

static void print_round(const char *what, const struct round *r, __u64 t0)
{
	print_message("    %s %6.0f ms  %8.3f/s  %-4s %-12s value %g failures %u\n", what,
		      (double)(r->ad.decided_ns - t0) / MSEC, rate_of(r->ad.rate_interval_ns),
		      cruise_adapt_decision_name(r->ad.decision), cruise_adapt_why_name(r->ad.why),
		      r->ad.value_micro / 1e6, r->ad.failures);
}

/* predictions: the agent's rounds (adaptive_run.c) run here */

struct sim {
	__u64 rate, ceil, floor; /* intervals, as the map holds them */
	__u32 prio;
	__u32 decision, why;
};

static void sim_round(const struct cruise_adapt_signal *s, struct sim *m, unsigned int n)
{
	struct cruise_adapt_medium am[MAX_MEDIA];

	memset(am, 0, sizeof(am));
	for (unsigned int k = 0; k < n; k++) {
		am[k].rate = rate_of(m[k].rate);
		am[k].ceiling = rate_of(m[k].ceil);
		am[k].floor = rate_of(m[k].floor);
		am[k].priority = m[k].prio;
		am[k].backoff = CRUISE_BACKOFF_GRADIENT;
	}
	cruise_adapt_round(s, am, n);
	for (unsigned int k = 0; k < n; k++) {
		__u64 iv = cruise_adapt_interval(am[k].next);

		m[k].rate = iv < m[k].ceil ? m[k].ceil : iv > m[k].floor ? m[k].floor : iv;
		m[k].decision = am[k].decision;
		m[k].why = am[k].why;
	}
}

static struct sim sim_of(struct cruise_adaptive ad)
{
	struct sim m = { ad.rate_interval_ns,  ad.ceiling_interval_ns,
			 ad.floor_interval_ns, ad.priority,
			 ad.decision,	       ad.why };

	return m;
}

/*
 * The observed rounds r[0..n) against the prediction from start on a constant signal s, round by
 * round: the interval (to the ns: the same arithmetic), the decision and why. Printed.
 */
static void assert_predicted(const char *what, const struct cruise_adapt_signal *s,
			     struct sim start, const struct round *r, int n)
{
	struct sim m = start;

	print_message("  %s: %d rounds as predicted (the last one holds)\n", what, n);
	for (int i = 0; i < n; i++) {
		sim_round(s, &m, 1);
		print_round("", &r[i], r[0].ad.decided_ns);
		if (m.rate != r[i].ad.rate_interval_ns || m.decision != r[i].ad.decision ||
		    m.why != r[i].ad.why)
			fail_msg("%s, round %d: predicted %.3f/s (%llu ns) %s %s, got %.3f/s (%llu "
				 "ns) %s %s",
				 what, i, rate_of(m.rate), (unsigned long long)m.rate,
				 cruise_adapt_decision_name(m.decision),
				 cruise_adapt_why_name(m.why), rate_of(r[i].ad.rate_interval_ns),
				 (unsigned long long)r[i].ad.rate_interval_ns,
				 cruise_adapt_decision_name(r[i].ad.decision),
				 cruise_adapt_why_name(r[i].ad.why));
	}
}

/* How many rounds the prediction takes from start until a round with this why (included). */
static int predicted_rounds(const struct cruise_adapt_signal *s, struct sim start,
			    enum cruise_adapt_why why)
{
	struct sim m = start;

	for (int i = 1; i <= 1000; i++) {
		sim_round(s, &m, 1);
		if (m.why == why)
			return i;
	}
	fail_msg("the prediction never reaches %s", cruise_adapt_why_name(why));
	return -1;
}

/* N rounds on the probe's grid span (N - 1) x every, within one probe's deadline (every). */
static void assert_grid(const char *what, const struct round *first, const struct round *last,
			int n)
{
	double span = (double)(last->ad.decided_ns - first->ad.decided_ns);
	double want = (double)(n - 1) * EVERY;

	print_message("  %s: %d rounds over %.0f ms (grid %.0f ms)\n", what, n, span / MSEC,
		      want / MSEC);
	assert_true(fabs(span - want) <= EVERY);
}

/* the agents */

static const char *const no_args[] = { NULL };

static void pg_signal(char *buf, size_t len, const char *name, const char *query, double target)
{
	int n = snprintf(buf, len,
			 "  - name: %s\n"
			 "    postgres: {dsn_file: %s, query: \"%s\", value: true}\n"
			 "    every: %dms\n"
			 "    target: %g\n",
			 name, G->dsn_file, query, EVERY_MS, target);

	assert_true(n > 0 && (size_t)n < len);
}

/* Node i of the test: its scope, a cgroup per medium, its agent on signals and media. */
static void node_start(struct env *e, int i, const char *signals, const struct medium_def *defs,
		       int n)
{
	struct node *nd = &e->n[i];
	char media[4096], target[sizeof(nd->id)];
	size_t off = 0;
	FILE *f;

	assert_true(n <= MAX_MEDIA && i < MAX_NODES);
	if (i >= e->n_nodes)
		e->n_nodes = i + 1;
	snprintf(target, sizeof(target), "%s-%c", e->sb.name, 'a' + i);
	memcpy(nd->id, target, sizeof(target));
	snprintf(target, sizeof(target), "node%c", 'a' + i);
	assert_int_equal(th_agent_init(&nd->a, nd->id, e->sb.tmp, target, true), 0);
	if (th_cgroup_create(&nd->scope, NULL, nd->id)) {
		nd->scope.path[0] = '\0'; /* not ours */
		fail_msg("cannot create the scope cgroup %s", nd->id);
	}
	nd->n_m = n;
	for (int k = 0; k < n; k++) {
		const struct medium_def *d = &defs[k];

		nd->m[k] = *d;
		assert_int_equal(th_cgroup_create(&nd->cg[k], &nd->scope, d->name), 0);
		off += snprintf(media + off, sizeof(media) - off,
				"  - name: %s\n"
				"    rate: %g/s\n"
				"    max_wait: " MAX_WAIT "\n"
				"    cgroups: [/%s/%s]\n",
				d->name, d->ceil, nd->id, d->name);
		if (d->floor)
			off += snprintf(
				media + off, sizeof(media) - off,
				"    adaptive: {signal: %s, min_rate: %g/s, priority: %u}\n",
				d->signal, d->floor, d->prio);
		assert_true(off < sizeof(media));
	}
	f = fopen(nd->a.conf, "w");
	assert_non_null(f);
	fprintf(f,
		"scope: /%s\n"
		"pin_dir: %s\n"
		"metrics: 127.0.0.1:%u\n"
		"signals:\n%s"
		"targets:\n"
		"  - name: listener\n"
		"    addresses: [127.0.0.1]\n"
		"    ports: [%u]\n"
		"media:\n%s",
		nd->id, nd->a.pin_dir, nd->a.metrics_port, signals, e->sb.target.port, media);
	assert_int_equal(fclose(f), 0);
	if (th_agent_start(&nd->a, no_args, START_MS))
		fail_msg("agent %s did not start", nd->id);
	for (int k = 0; k < n; k++) {
		int idx = th_medium_index(nd->a.maps.media, defs[k].name);

		assert_true(idx >= 0);
		nd->idx[k] = idx;
		nd->watch[k] = defs[k].floor ? rec_watch(&e->rec, &nd->a.maps, idx) : -1;
		if (!th_wait_binding(nd->a.maps.bindings, nd->cg[k].id, idx, START_MS, NULL))
			fail_msg("%s/%s is not bound to its medium", nd->id, defs[k].name);
	}
}

static struct cruise_adaptive adaptive(const struct node *nd, int k)
{
	struct cruise_adaptive ad;

	assert_int_equal(cruise_maps_get_adaptive(&nd->a.maps, nd->idx[k], &ad), 0);
	return ad;
}

/* connections admitted by the datapath: all of them less the refusals */
static __u64 admitted(const struct node *nd, int k)
{
	struct cruise_counters c;

	assert_int_equal(cruise_maps_counters(&nd->a.maps, nd->idx[k], &c), 0);
	return c.connections - c.refused_max_wait - c.refused_max_conns;
}

static int stop_check(const struct th_run_opts *o, int worker, int i, __u64 deadline_ns)
{
	(void)worker, (void)i, (void)deadline_ns;
	return *(volatile int *)o->arg ? -1 : 0;
}

/* HUNGRY workers back to back from medium k's cgroup, until the teardown or duration. */
static void hungry(struct node *nd, int k, uint16_t port, __u64 duration)
{
	struct th_run_opts *o = &nd->job[k].o;

	memset(&nd->job[k], 0, sizeof(nd->job[k]));
	o->cgroup = nd->cg[k].path;
	o->addr = "127.0.0.1";
	o->port = port;
	o->workers = HUNGRY;
	o->duration_ns = duration;
	o->max_per_worker = 20000;
	o->fail_pause_ns = 20 * MSEC;
	o->before = stop_check;
	o->arg = (void *)G->stop;
	assert_int_equal(th_job_start(&nd->job[k]), 0);
}

/*
 * The achieved rate of medium k's hungry workers over window_ns, from the datapath's counters,
 * against the rate in force (the adapted one), within RATE_TOL. Returns it.
 */
static double assert_achieved(const struct node *nd, int k, __u64 window_ns, const char *what)
{
	__u64 a0, a1, t0, t1, iv = adaptive(nd, k).rate_interval_ns;
	double want = rate_of(iv), got;

	t0 = now_ns();
	a0 = admitted(nd, k);
	th_sleep_until(t0 + window_ns);
	a1 = admitted(nd, k);
	t1 = now_ns();
	got = (double)(a1 - a0) / ((double)(t1 - t0) / SEC);
	print_message("  %s: %llu admitted in %.3f s: %.2f/s against %.2f/s (%+.2f%%)\n", what,
		      (unsigned long long)(a1 - a0), (double)(t1 - t0) / SEC, got, want,
		      100 * (got - want) / want);
	assert_int_equal(adaptive(nd, k).rate_interval_ns, iv); /* a plateau all along */
	assert_true(fabs(got - want) <= RATE_TOL * want);
	return got;
}

/* "signal probe failed" lines of one signal in a node's log */
static int fail_lines(const struct node *nd, const char *signal)
{
	char s[96];

	snprintf(s, sizeof(s), "\"signal\":\"%s\"", signal);
	return th_agent_log_lines(&nd->a, FAIL_LINES, s);
}

static double scrape(const struct node *nd, const char *series)
{
	double v = -1;

	assert_int_equal(th_agent_scrape(&nd->a, series, &v), 0);
	return v;
}

/* fixture */

static int env_teardown(void **state)
{
	struct env *e = *state;

	if (!e)
		return 0;
	*G->stop = 1;
	for (int i = 0; i < MAX_NODES; i++)
		for (int k = 0; k < MAX_MEDIA; k++) {
			th_job_join(&e->n[i].job[k]);
			th_run_free(&e->n[i].job[k].r);
		}
	rec_stop(&e->rec);
	for (int i = 0; i < MAX_NODES; i++) {
		struct node *nd = &e->n[i];

		if (nd->a.pin_dir[0])
			th_agent_cleanup(&nd->a);
		if (nd->scope.path[0])
			th_cgroup_remove_tree(nd->scope.path);
	}
	if (e->prom_started)
		th_prom_stop(&e->prom);
	if (G->halted) {
		char log[PATH_MAX + 16];

		snprintf(log, sizeof(log), "%s/pg-restart.log", G->sb.tmp);
		if (!th_pg_restart(&G->pg, log))
			G->halted = false;
	}
	th_sandbox_teardown(&e->sb);
	free(e);
	*state = NULL;
	return 0;
}

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	*G->stop = 0;
	if (th_sandbox_setup(&e->sb, "cruise-adapt", TH_SANDBOX_TARGET)) {
		free(e);
		return -1;
	}
	*state = e;
	if (sql("UPDATE health SET v = %g", HEALTHY)) {
		env_teardown(state);
		return -1;
	}
	return 0;
}

static int grp_teardown(void **state)
{
	char log[PATH_MAX + 16];

	(void)state;
	if (!G)
		return 0;
	PQfinish(G->conn);
	snprintf(log, sizeof(log), "%s/pg-stop.log", G->sb.tmp);
	th_pg_stop(&G->pg, log);
	th_sandbox_teardown(&G->sb);
	if (G->stop)
		munmap((void *)G->stop, sizeof(*G->stop));
	free(G);
	G = NULL;
	return 0;
}

static int grp_setup(void **state)
{
	char pgdir[PATH_MAX], log[PATH_MAX + 16], dsn[512];
	void *shared;

	(void)state;
	G = calloc(1, sizeof(*G));
	if (!G)
		return -1;
	if (th_sandbox_setup(&G->sb, "cruise-adapt-pg", 0)) {
		free(G);
		G = NULL;
		return -1;
	}
	shared = mmap(NULL, sizeof(*G->stop), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
	if (shared == MAP_FAILED)
		goto fail;
	G->stop = shared;
	if (th_find_beside("CRUISECTL", "cruisectl", G->ctl, sizeof(G->ctl))) {
		print_message("no cruisectl beside this program (run make)\n");
		goto fail;
	}
	snprintf(pgdir, sizeof(pgdir), "%s/pg", G->sb.tmp);
	snprintf(log, sizeof(log), "%s/pg-start.log", G->sb.tmp);
	if (th_pg_start(&G->pg, pgdir, NULL, log))
		goto fail;
	snprintf(G->conninfo, sizeof(G->conninfo),
		 "host=127.0.0.1 port=%u user=postgres dbname=postgres sslmode=disable "
		 "gssencmode=disable connect_timeout=5",
		 G->pg.port);
	/* the probe's own, in a file as the config wants it */
	snprintf(dsn, sizeof(dsn), "%s application_name=cruise-probe-test\n", G->conninfo);
	snprintf(G->dsn_file, sizeof(G->dsn_file), "%s/dsn", G->sb.tmp);
	if (th_write_file(G->dsn_file, dsn))
		goto fail;
	if (sql("CREATE TABLE health (v float8)") || sql("INSERT INTO health VALUES (%g)", HEALTHY))
		goto fail;
	return 0;
fail:
	print_message("group setup failed\n");
	grp_teardown(state);
	return -1;
}

/* the cases */

static const struct cruise_adapt_signal sig_unhealthy = { true, UNHEALTHY, TARGET, 0 };
static const struct cruise_adapt_signal sig_healthy = { true, HEALTHY, TARGET, 0 };

/*
 * The rounds of watch w from index from on that follow a change of the signal: the first is the
 * first round whose why is not skip_why (rounds that still read the old value); up to the first
 * round with why until (included). Their count, or a failure.
 */
static int rounds_after(struct recorder *rc, int w, int from, enum cruise_adapt_why skip_why,
			enum cruise_adapt_why until, struct round *out, int max)
{
	int n = rec_rounds(rc, w, from, out, max), first = 0, end = -1;

	while (first < n && out[first].ad.why == skip_why)
		first++;
	for (int i = first; i < n && end < 0; i++)
		if (out[i].ad.why == until)
			end = i;
	if (end < 0)
		fail_msg("no round with why %s after the change", cruise_adapt_why_name(until));
	memmove(out, out + first, (end - first + 1) * sizeof(*out));
	return end - first + 1;
}

/*
 * Wait (timeout_ms at most) for the first round of watch w after from whose why is until (its
 * index in *at), then its rounds_after: the walk from one plateau to the next.
 */
static int walk(struct recorder *rc, int w, int from, enum cruise_adapt_why skip_why,
		enum cruise_adapt_why until, int timeout_ms, struct round *out, int *at)
{
	*at = rec_wait_why(rc, w, from, until, timeout_ms);
	assert_true(*at >= 0);
	return rounds_after(rc, w, from, skip_why, until, out, 512);
}

/*
 * Case 1: one medium, 200/s down to 20/s and back, the rounds exactly as predicted, the hungry
 * workers' achieved rate at each plateau within 5% of it.
 */
static void test_dynamics(void **state)
{
	const struct medium_def defs[] = { { "batch", 200, 20, 1, "health" } };
	struct env *e = *state;
	struct node *nd = &e->n[0];
	struct round *r = calloc(512, sizeof(*r));
	char sig[1024];
	struct sim top, bottom;
	int from, at, n, want;

	assert_non_null(r);
	pg_signal(sig, sizeof(sig), "health", "SELECT v FROM health", TARGET);
	node_start(e, 0, sig, defs, 1);
	rec_start(&e->rec);
	hungry(nd, 0, e->sb.target.port, 40 * SEC);

	/* healthy: at the ceiling */
	at = rec_wait_why(&e->rec, nd->watch[0], 0, CRUISE_ADAPT_WHY_CEILING, 3000);
	assert_true(at >= 0);
	top = sim_of(e->rec.r[at].ad);
	assert_int_equal(top.rate, top.ceil);
	assert_achieved(nd, 0, 3 * SEC, "at the ceiling, 200/s");

	/* unhealthy: down to the floor, x 0.8 a round */
	from = rec_count(&e->rec);
	set_v(UNHEALTHY);
	want = predicted_rounds(&sig_unhealthy, top, CRUISE_ADAPT_WHY_FLOOR);
	n = walk(&e->rec, nd->watch[0], from, CRUISE_ADAPT_WHY_CEILING, CRUISE_ADAPT_WHY_FLOOR,
		 (want + 3) * EVERY_MS + 1000, r, &at);
	assert_int_equal(n, want);
	assert_predicted("down, value 12.5 over target 10", &sig_unhealthy, top, r, n);
	assert_grid("down", &r[0], &r[n - 1], n);
	bottom = sim_of(r[n - 1].ad);
	assert_int_equal(bottom.rate, bottom.floor);

	/* the backlog of the old rate is gone within HUNGRY intervals of the floor (200 ms) */
	usleep(500 * 1000);
	assert_achieved(nd, 0, 4 * SEC, "at the floor, 20/s");

	/* healthy again: up to the ceiling, + 10/s a round */
	from = rec_count(&e->rec);
	set_v(HEALTHY);
	want = predicted_rounds(&sig_healthy, bottom, CRUISE_ADAPT_WHY_CEILING);
	n = walk(&e->rec, nd->watch[0], from, CRUISE_ADAPT_WHY_FLOOR, CRUISE_ADAPT_WHY_CEILING,
		 (want + 3) * EVERY_MS + 1000, r, &at);
	assert_int_equal(n, want);
	assert_predicted("up, value 5 under target 10", &sig_healthy, bottom, r, n);
	assert_grid("up", &r[0], &r[n - 1], n);
	usleep(300 * 1000);
	assert_achieved(nd, 0, 3 * SEC, "at the ceiling again, 200/s");
	free(r);
}

/*
 * Case 2: two media on one signal. While unhealthy, the priority-1 medium reaches its floor
 * before the priority-2 one moves: every round until then holds the priority-2 medium at its
 * ceiling, why "priority".
 */
static void test_priority(void **state)
{
	const struct medium_def defs[] = { { "batch", 200, 20, 1, "health" },
					   { "web", 100, 50, 2, "health" } };
	struct env *e = *state;
	struct node *nd = &e->n[0];
	struct round *b = calloc(512, sizeof(*b)), *w = calloc(512, sizeof(*w));
	struct sim m[2];
	char sig[1024];
	int from, at, nb, nw, k, floor_round = -1, web_down = -1;

	assert_non_null(b);
	assert_non_null(w);
	pg_signal(sig, sizeof(sig), "health", "SELECT v FROM health", TARGET);
	node_start(e, 0, sig, defs, 2);
	rec_start(&e->rec);
	for (k = 0; k < 2; k++)
		assert_true(rec_wait_why(&e->rec, nd->watch[k], 0, CRUISE_ADAPT_WHY_CEILING,
					 3000) >= 0);
	m[0] = sim_of(adaptive(nd, 0));
	m[1] = sim_of(adaptive(nd, 1));

	from = rec_count(&e->rec);
	set_v(UNHEALTHY);
	at = rec_wait_why(&e->rec, nd->watch[1], from, CRUISE_ADAPT_WHY_FLOOR,
			  30 * EVERY_MS + 2000);
	assert_true(at >= 0);
	nb = rounds_after(&e->rec, nd->watch[0], from, CRUISE_ADAPT_WHY_CEILING,
			  CRUISE_ADAPT_WHY_FLOOR, b, 512);
	/* web's rounds from the same first round as batch's, until its own floor */
	nw = rec_rounds(&e->rec, nd->watch[1], from, w, 512);
	for (k = 0; k < nw && w[k].ad.decided_ns != b[0].ad.decided_ns; k++)
		;
	assert_true(k < nw);
	memmove(w, w + k, (nw - k) * sizeof(*w));
	nw -= k;
	for (k = 0; k < nw && w[k].ad.why != CRUISE_ADAPT_WHY_FLOOR; k++)
		;
	assert_true(k < nw);
	nw = k + 1;

	/* both media, one round at a time, against the prediction of the two together */
	print_message("  batch (priority 1) and web (priority 2), value 12.5 over 10:\n");
	for (k = 0; k < nw; k++) {
		const struct round *rb = k < nb ? &b[k] : NULL;

		sim_round(&sig_unhealthy, m, 2);
		print_message("    %5.0f ms  batch %8.3f/s %-12s  web %8.3f/s %s\n",
			      (double)(w[k].ad.decided_ns - w[0].ad.decided_ns) / MSEC,
			      rate_of(m[0].rate), cruise_adapt_why_name(m[0].why),
			      rate_of(w[k].ad.rate_interval_ns),
			      cruise_adapt_why_name(w[k].ad.why));
		assert_int_equal(w[k].ad.rate_interval_ns, m[1].rate);
		assert_int_equal(w[k].ad.why, m[1].why);
		if (rb) {
			assert_int_equal(rb->ad.decided_ns, w[k].ad.decided_ns);
			assert_int_equal(rb->ad.rate_interval_ns, m[0].rate);
			assert_int_equal(rb->ad.why, m[0].why);
		}
		if (m[0].why == CRUISE_ADAPT_WHY_FLOOR && floor_round < 0)
			floor_round = k;
		if (w[k].ad.decision == CRUISE_ADAPT_DOWN && web_down < 0)
			web_down = k;
		/* the rule: web holds at its ceiling, why priority, while batch is above its floor
		 */
		if (web_down < 0) {
			assert_int_equal(w[k].ad.rate_interval_ns, w[k].ad.ceiling_interval_ns);
			assert_int_equal(w[k].ad.why, CRUISE_ADAPT_WHY_PRIORITY);
		}
	}
	assert_int_equal(nb, floor_round + 1);
	print_message("  batch reaches its floor in round %d and holds there from round %d; web's "
		      "first step down in round %d, its floor in round %d\n",
		      floor_round, floor_round + 1, web_down + 1, nw - 1);
	/* web moves in the round batch holds at its floor, not before */
	assert_int_equal(web_down, floor_round);
	free(b);
	free(w);
}

/*
 * Case 3: the probe's database stops, then starts again on the same port. Errors are counted by
 * reason, logged once a second at most; the rate goes down for 3 rounds (x 0.5, a failed probe
 * counted as unhealthy) and then holds (signal_lost); the signal answers again after the restart
 * and the rate climbs.
 */
static void test_outage(void **state)
{
	const struct medium_def defs[] = { { "batch", 200, 20, 1, "health" } };
	const struct cruise_adapt_signal failed = { false, 0, TARGET, 1 };
	struct env *e = *state;
	struct node *nd = &e->n[0];
	struct round *r = calloc(512, sizeof(*r));
	char sig[1024], log[PATH_MAX + 16];
	double c0, c1, outage;
	__u64 t_halt, t_answer;
	int from, at, n, lines;
	struct sim m;

	assert_non_null(r);
	snprintf(log, sizeof(log), "%s/pg-outage.log", e->sb.tmp);
	pg_signal(sig, sizeof(sig), "health", "SELECT v FROM health", TARGET);
	node_start(e, 0, sig, defs, 1);
	rec_start(&e->rec);
	assert_true(rec_wait_why(&e->rec, nd->watch[0], 0, CRUISE_ADAPT_WHY_CEILING, 3000) >= 0);
	m = sim_of(adaptive(nd, 0));
	c0 = scrape(nd, "cruise_signal_errors_total{signal=\"health\",reason=\"connect\"}");
	assert_int_equal(fail_lines(nd, "health"), 0);

	from = rec_count(&e->rec);
	t_halt = now_ns();
	G->halted = true;
	assert_int_equal(th_pg_halt(&G->pg, log), 0);
	/* 3 rounds down at x 0.5, then the hold: the failures of the prediction count up */
	n = walk(&e->rec, nd->watch[0], from, CRUISE_ADAPT_WHY_CEILING,
		 CRUISE_ADAPT_WHY_SIGNAL_LOST, 8 * EVERY_MS + 1000, r, &at);
	assert_int_equal(n, CRUISE_ADAPT_FAIL_ROUNDS + 1);
	print_message("  the database stopped: %d rounds down, then the rate holds\n",
		      CRUISE_ADAPT_FAIL_ROUNDS);
	for (int i = 0; i < n; i++) {
		struct cruise_adapt_signal s = failed;

		s.failures = i + 1;
		print_round("", &r[i], r[0].ad.decided_ns);
		sim_round(&s, &m, 1);
		assert_int_equal(r[i].ad.rate_interval_ns, m.rate);
		assert_int_equal(r[i].ad.why, m.why);
		assert_int_equal(r[i].ad.failures, i + 1);
	}
	assert_int_equal(r[0].ad.why, CRUISE_ADAPT_WHY_PROBE_FAILED);

	/* the outage goes on: the rate holds, every round */
	usleep(3 * SEC / 1000);
	n = rec_rounds(&e->rec, nd->watch[0], at, r, 512);
	for (int i = 0; i < n; i++) {
		assert_int_equal(r[i].ad.why, CRUISE_ADAPT_WHY_SIGNAL_LOST);
		assert_int_equal(r[i].ad.decision, CRUISE_ADAPT_HOLD);
		assert_int_equal(r[i].ad.rate_interval_ns, m.rate);
	}
	print_message("  %d rounds held at %.3f/s (signal_lost)\n", n, rate_of(m.rate));
	c1 = scrape(nd, "cruise_signal_errors_total{signal=\"health\",reason=\"connect\"}");
	print_message("  cruise_signal_errors_total{reason=\"connect\"}: %.0f -> %.0f\n", c0, c1);
	assert_true(c1 > c0);
	assert_true(c1 - c0 >= n); /* a failed probe every round (backing off: "not connected") */
	assert_true(th_agent_healthz(&nd->a) == 200);

	/* the server back on the same port: the probe reconnects (backing off at most 8 x every,
	 * +25%), the rate climbs */
	from = rec_count(&e->rec);
	assert_int_equal(th_pg_restart(&G->pg, log), 0);
	G->halted = false;
	assert_true(th_agent_wait_line(&nd->a, "signal answers again", "\"signal\":\"health\"", 1,
				       8 * EVERY_MS * 5 / 4 + 2 * EVERY_MS + 5000, NULL, 0) >= 0);
	t_answer = now_ns();
	outage = (double)(t_answer - t_halt) / SEC;
	lines = fail_lines(nd, "health");
	print_message("  the signal answers again after %.2f s; \"%s\" logged %d times (at most "
		      "%.0f)\n",
		      outage, FAIL_LINES, lines, floor(outage) + 2);
	assert_true(lines >= 1);
	assert_true(lines <= floor(outage) + 2);
	assert_int_equal(th_agent_log_lines(&nd->a, FAIL_LINES, "\"reason\":\"connect\""), lines);
	n = walk(&e->rec, nd->watch[0], from, CRUISE_ADAPT_WHY_SIGNAL_LOST,
		 CRUISE_ADAPT_WHY_HEALTHY, 3 * EVERY_MS + 1000, r, &at);
	assert_int_equal(n, 1);
	sim_round(&sig_healthy, &m, 1);
	assert_int_equal(r[0].ad.rate_interval_ns, m.rate);
	assert_int_equal(r[0].ad.decision, CRUISE_ADAPT_UP);
	/* and on */
	at = rec_wait_why(&e->rec, nd->watch[0], at + 1, CRUISE_ADAPT_WHY_HEALTHY,
			  2 * EVERY_MS + 1000);
	assert_true(at >= 0);
	sim_round(&sig_healthy, &m, 1);
	assert_int_equal(e->rec.r[at].ad.rate_interval_ns, m.rate);
	print_message("  climbing: %.3f/s\n", rate_of(m.rate));
	free(r);
}

/*
 * Case 4: a Prometheus signal. Debian's Prometheus scrapes the test's exporter every second; the
 * exporter's value over the target brings the rate down to the floor, under it back up.
 */
static void test_prometheus(void **state)
{
	const struct medium_def defs[] = { { "batch", 200, 20, 1, "prom" } };
	struct env *e = *state;
	struct node *nd = &e->n[0];
	struct round *r = calloc(512, sizeof(*r));
	char sig[1024];
	int from, at, n;
	struct sim m;
	__u64 t0;
	int err;

	assert_non_null(r);
	if (!th_prom_bin()) {
		free(r);
		skip(); /* "no Prometheus": th_prom_bin printed why */
	}
	err = th_prom_start(&e->prom, 1);
	if (err == -ENOENT) {
		free(r);
		print_message("no /usr/bin/prometheus: skipped\n");
		skip();
	}
	assert_int_equal(err, 0);
	e->prom_started = true;
	snprintf(sig, sizeof(sig),
		 "  - name: prom\n"
		 "    prometheus: {url: \"%s\", query: cruise_test_value}\n"
		 "    every: %dms\n"
		 "    target: 5\n",
		 e->prom.url, EVERY_MS);
	node_start(e, 0, sig, defs, 1);
	rec_start(&e->rec);
	assert_true(rec_wait_why(&e->rec, nd->watch[0], 0, CRUISE_ADAPT_WHY_CEILING, 3000) >= 0);
	m = sim_of(adaptive(nd, 0));

	/* 10 over 5: x 0.5 a round, once Prometheus has scraped it (every second) */
	from = rec_count(&e->rec);
	t0 = now_ns();
	th_exporter_set(&e->prom.exporter, 10);
	n = walk(&e->rec, nd->watch[0], from, CRUISE_ADAPT_WHY_CEILING, CRUISE_ADAPT_WHY_FLOOR,
		 10 * EVERY_MS + 2000, r, &at);
	print_message("  exporter at 10 (target 5): the floor %.2f s later\n",
		      (double)(e->rec.r[at].seen_ns - t0) / SEC);
	assert_predicted("down, Prometheus value 10",
			 &(struct cruise_adapt_signal){ true, 10, 5, 0 }, m, r, n);
	m = sim_of(r[n - 1].ad);

	/* 1 under 5: + 10/s a round */
	from = rec_count(&e->rec);
	t0 = now_ns();
	th_exporter_set(&e->prom.exporter, 1);
	n = walk(&e->rec, nd->watch[0], from, CRUISE_ADAPT_WHY_FLOOR, CRUISE_ADAPT_WHY_CEILING,
		 22 * EVERY_MS + 2000, r, &at);
	print_message("  exporter at 1: the ceiling %.2f s later\n",
		      (double)(e->rec.r[at].seen_ns - t0) / SEC);
	assert_predicted("up, Prometheus value 1", &(struct cruise_adapt_signal){ true, 1, 5, 0 },
			 m, r, n);
	assert_true(scrape(nd, "cruise_signal_up{signal=\"prom\"}") == 1);
	free(r);
}

/*
 * Case 5: signals that answer with no number. Each failure is counted by its reason (garbage or
 * query), logged once a second at most; the agent keeps running and answering /healthz; each
 * rate goes down for 3 rounds and then holds.
 */
static void test_bad_signals(void **state)
{
	static const struct {
		const char *name, *query, *reason;
	} bad[] = {
		{ "text", "SELECT 'high'::text", "garbage" },
		{ "columns", "SELECT v, v FROM health", "garbage" },
		{ "null", "SELECT NULL::float8", "garbage" },
		{ "missing", "SELECT v FROM no_such_table", "query" },
	};
	static const char *const reasons[] = { "connect", "timeout", "query", "garbage" };
	const struct cruise_adapt_signal failed = { false, 0, TARGET, 1 };
	struct medium_def defs[MAX_MEDIA];
	struct env *e = *state;
	struct node *nd = &e->n[0];
	struct round *r = calloc(512, sizeof(*r));
	char sig[4096], name[MAX_MEDIA][16];
	size_t off = 0;
	__u64 t0;
	double secs;

	assert_non_null(r);
	for (int k = 0; k < MAX_MEDIA; k++) {
		snprintf(name[k], sizeof(name[k]), "m_%s", bad[k].name);
		defs[k] = (struct medium_def){ name[k], 200, 20, 1, bad[k].name };
		pg_signal(sig + off, sizeof(sig) - off, bad[k].name, bad[k].query, TARGET);
		off += strlen(sig + off);
	}
	t0 = now_ns();
	node_start(e, 0, sig, defs, MAX_MEDIA);
	rec_start(&e->rec);
	/* at the ceiling from the start: every round fails, 3 rounds down, then the hold */
	for (int k = 0; k < MAX_MEDIA; k++)
		assert_true(rec_wait_why(&e->rec, nd->watch[k], 0, CRUISE_ADAPT_WHY_SIGNAL_LOST,
					 8 * EVERY_MS + 2000) >= 0);
	usleep(2 * SEC / 1000);
	secs = (double)(now_ns() - t0) / SEC;
	assert_true(th_agent_alive(&nd->a));
	assert_int_equal(th_agent_healthz(&nd->a), 200);
	for (int k = 0; k < MAX_MEDIA; k++) {
		struct cruise_adaptive ad = adaptive(nd, k);
		struct sim m = { ad.ceiling_interval_ns,
				 ad.ceiling_interval_ns,
				 ad.floor_interval_ns,
				 1,
				 0,
				 0 };
		int n = rec_rounds(&e->rec, nd->watch[k], 0, r, 512), lines, i;
		char series[128];

		/* the recorder may have started after the first rounds: they are in the counts */
		for (i = 0; i < CRUISE_ADAPT_FAIL_ROUNDS; i++) {
			struct cruise_adapt_signal s = failed;

			s.failures = i + 1;
			sim_round(&s, &m, 1);
		}
		print_message("  %-8s %-30s rate %.3f/s (predicted %.3f/s), %s\n", bad[k].name,
			      bad[k].query, rate_of(ad.rate_interval_ns), rate_of(m.rate),
			      cruise_adapt_why_name(ad.why));
		assert_int_equal(ad.rate_interval_ns, m.rate);
		assert_true(ad.failures > CRUISE_ADAPT_FAIL_ROUNDS);
		for (i = 0; i < n; i++) {
			if (r[i].ad.failures > CRUISE_ADAPT_FAIL_ROUNDS) {
				assert_int_equal(r[i].ad.why, CRUISE_ADAPT_WHY_SIGNAL_LOST);
				assert_int_equal(r[i].ad.rate_interval_ns, m.rate);
			} else {
				assert_int_equal(r[i].ad.why, CRUISE_ADAPT_WHY_PROBE_FAILED);
				assert_int_equal(r[i].ad.decision, CRUISE_ADAPT_DOWN);
			}
		}
		for (i = 0; i < 4; i++) {
			double v;

			snprintf(series, sizeof(series),
				 "cruise_signal_errors_total{signal=\"%s\",reason=\"%s\"}",
				 bad[k].name, reasons[i]);
			v = scrape(nd, series);
			if (!strcmp(reasons[i], bad[k].reason)) {
				print_message("           %s %.0f\n", series, v);
				assert_true(v >= ad.failures);
			} else {
				assert_true(v == 0);
			}
		}
		lines = fail_lines(nd, bad[k].name);
		print_message("           \"%s\" logged %d times in %.1f s (at most %.0f)\n",
			      FAIL_LINES, lines, secs, floor(secs) + 2);
		assert_true(lines >= 1 && lines <= floor(secs) + 2);
	}
	assert_true(th_agent_alive(&nd->a));
	free(r);
}

/*
 * Case 6: two nodes (two agents with their own scope and pins) share one database's capacity C
 * through one signal, closed by this test: about every 100 ms (50 to 150 ms at random, as a
 * database's load moves at no fixed phase) it writes the two media's combined admitted rate over
 * the last second as v; the target is C. v starts at 3 x C; node a starts about a second before
 * node b and is near its floor when b starts at its ceiling; CONV_RUN later, the last CONV_LAST
 * show where AIMD has taken them.
 *
 * The bounds, from AIMD's sawtooth (up a = ceiling / 20 = 7.5/s a round; down x f, f in
 * [0.5, 0.9], 0.9 near the target), around the fair share C / 2 = 50/s:
 * - the split: both nodes read the same v, each at its own times. In a round they take the same
 *   step, except around a crossing of the target, where one may take a step the other does not:
 *   one step, a or (1 - f) x 50/s, about 15% of the fair share. Every joint cut multiplies the
 *   difference by f (2 or 3 cuts in a sawtooth period of about 1.3 s: x 0.7 a period), steps up
 *   keep it: the head start is gone within seconds. The probes' random offsets (signals.h) and
 *   v's random times make the sign of an odd step random, so odd steps do not accumulate: over
 *   CONV_LAST (about 8 periods) the means differ by about one odd step, within 25% of the larger
 *   one (measured: within 15% in 16 runs; with the probes and v on fixed grids of one clock, the
 *   order of the nodes' steps repeats every period and the split settled at 0.7:1 in 3 of 10);
 * - the sum: a cut aims it back at C (x C / v), steps up take it 2a = 15/s a round higher; v lags
 *   the rates by half its window and a round (about 3 rounds), so the sum overshoots C by a few
 *   rounds' steps (up to about 30%) and is cut about as far under it: it oscillates around C, its
 *   mean within 30% of C.
 */
#define CONV_C	     100.0
#define CONV_CEIL    150.0
#define CONV_FLOOR   5.0
#define CONV_RUN     (20 * SEC)
#define CONV_LAST    (10 * SEC)
#define CONV_TICK    (100 * MSEC) /* on average: from 50 to 150 ms at random */
#define CONV_WIN     SEC	  /* v is the combined admitted rate over the last second */
#define CONV_SAMPLES 512

struct conv {
	struct env *e;
	volatile bool stop;
	int n;
	__u64 t[CONV_SAMPLES];
	double total[CONV_SAMPLES];	 /* the combined admitted rate written as v */
	double adapted[2][CONV_SAMPLES]; /* each medium's adapted rate then */
	int errors;
};

static void *conv_main(void *arg)
{
	struct conv *c = arg;
	static __u64 adm[CONV_SAMPLES][2];
	unsigned int seed = (unsigned int)now_ns();
	PGconn *pg = PQconnectdb(G->conninfo);
	int j = 0;

	if (PQstatus(pg) != CONNECTION_OK) {
		c->errors++;
		PQfinish(pg);
		return NULL;
	}
	for (int i = 0; i < CONV_SAMPLES && !c->stop; i++) {
		char q[128];
		PGresult *r;

		/* a database's load moves at no fixed phase: a grid here would lock with the
		 * probes' */
		if (i)
			th_sleep_until(c->t[i - 1] + CONV_TICK / 2 +
				       (__u64)((double)rand_r(&seed) / RAND_MAX * CONV_TICK));
		c->t[i] = now_ns();
		while (c->t[i] - c->t[j] > CONV_WIN)
			j++;
		for (int k = 0; k < 2; k++) {
			struct cruise_counters cnt;
			struct cruise_adaptive ad;

			if (cruise_maps_counters(&c->e->n[k].a.maps, c->e->n[k].idx[0], &cnt) ||
			    cruise_maps_get_adaptive(&c->e->n[k].a.maps, c->e->n[k].idx[0], &ad)) {
				c->errors++;
				continue;
			}
			adm[i][k] = cnt.connections - cnt.refused_max_wait - cnt.refused_max_conns;
			c->adapted[k][i] = rate_of(ad.rate_interval_ns);
		}
		c->total[i] = i ? (double)(adm[i][0] + adm[i][1] - adm[j][0] - adm[j][1]) /
					      ((double)(c->t[i] - c->t[j]) / SEC)
				: 3 * CONV_C;
		snprintf(q, sizeof(q), "UPDATE health SET v = %.3f", c->total[i]);
		r = PQexec(pg, q);
		if (PQresultStatus(r) != PGRES_COMMAND_OK)
			c->errors++;
		PQclear(r);
		c->n = i + 1;
	}
	PQfinish(pg);
	return NULL;
}

static void test_converge(void **state)
{
	const struct medium_def defs[] = { { "share", CONV_CEIL, CONV_FLOOR, 1, "health" } };
	struct env *e = *state;
	struct conv *c = calloc(1, sizeof(*c));
	double mean[2] = { 0, 0 }, total = 0, lo = 1e9, hi = 0;
	char sig[1024];
	pthread_t th;
	int from, n = 0;

	assert_non_null(c);
	c->e = e;
	pg_signal(sig, sizeof(sig), "health", "SELECT v FROM health", CONV_C);
	set_v(3 * CONV_C);
	node_start(e, 0, sig, defs, 1);
	node_start(e, 1, sig, defs, 1);
	rec_start(&e->rec);
	hungry(&e->n[0], 0, e->sb.target.port, CONV_RUN + 5 * SEC);
	hungry(&e->n[1], 0, e->sb.target.port, CONV_RUN + 5 * SEC);
	assert_int_equal(pthread_create(&th, NULL, conv_main, c), 0);
	usleep(CONV_RUN / 1000);
	c->stop = true;
	pthread_join(th, NULL);
	assert_int_equal(c->errors, 0);

	for (int i = 0, shown = -1; i < c->n; i++) {
		if ((int)((c->t[i] - c->t[0]) / (SEC / 2)) == shown)
			continue;
		shown = (c->t[i] - c->t[0]) / (SEC / 2);
		print_message("  %5.1f s  combined %6.1f/s  a %6.1f/s  b %6.1f/s\n",
			      (double)(c->t[i] - c->t[0]) / SEC, c->total[i], c->adapted[0][i],
			      c->adapted[1][i]);
	}
	assert_true(c->n > 1 && c->t[c->n - 1] - c->t[0] > CONV_LAST);
	for (from = c->n - 1; c->t[c->n - 1] - c->t[from - 1] <= CONV_LAST; from--)
		;
	for (int i = from; i < c->n; i++, n++) {
		mean[0] += c->adapted[0][i];
		mean[1] += c->adapted[1][i];
		total += c->total[i];
		lo = c->total[i] < lo ? c->total[i] : lo;
		hi = c->total[i] > hi ? c->total[i] : hi;
	}
	mean[0] /= n;
	mean[1] /= n;
	total /= n;
	print_message("  last %.0f s: mean adapted a %.1f/s, b %.1f/s (ratio %.3f); combined "
		      "admitted mean %.1f/s (C %.0f, %+.1f%%), from %.1f to %.1f\n",
		      (double)CONV_LAST / SEC, mean[0], mean[1], mean[0] / mean[1], total, CONV_C,
		      100 * (total - CONV_C) / CONV_C, lo, hi);
	assert_true(fabs(mean[0] - mean[1]) <= 0.25 * fmax(mean[0], mean[1]));
	assert_true(fabs(total - CONV_C) <= 0.30 * CONV_C);
	free(c);
}

/* Case 7: cruisectl shows the controller and moves an adaptive medium's ceiling and floor. */

/* cruisectl --pin-dir PIN ARGS...: its exit code; its stdout in out (free it), stderr in err */
static int ctl(const struct env *e, const struct node *nd, char **out, char *err, size_t len,
	       const char *const *args)
{
	const char *argv[16] = { G->ctl, "--pin-dir", nd->a.pin_dir };
	char path[PATH_MAX + 16], epath[PATH_MAX + 16], *text;
	int n = 3, rc;

	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	snprintf(path, sizeof(path), "%s/ctl.out", e->sb.tmp);
	snprintf(epath, sizeof(epath), "%s/ctl.err", e->sb.tmp);
	unlink(path);
	unlink(epath);
	rc = th_run_cmd(argv, path, epath, 10000);
	*out = th_slurp(path);
	text = th_slurp(epath);
	snprintf(err, len, "%s", text ? text : "");
	free(text);
	return rc;
}

/* cruisectl ARGS... refused (exit 1) with a message holding want; printed */
static void ctl_refused(const struct env *e, const struct node *nd, const char *want,
			const char *const *args)
{
	char err[1024], *out;
	int rc = ctl(e, nd, &out, err, sizeof(err), args);

	free(out);
	print_message("  refused: %s", err);
	assert_int_equal(rc, 1);
	assert_non_null(strstr(err, want));
}

#define CTL(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_cruisectl(void **state)
{
	const struct medium_def defs[] = { { "batch", 200, 20, 1, "health" },
					   { "plain", 50, 0, 0, NULL } };
	struct env *e = *state;
	struct node *nd = &e->n[0];
	struct round *r = calloc(512, sizeof(*r));
	struct cruise_adaptive before, after;
	struct cruise_medium med;
	json_t *doc, *media, *ad = NULL;
	json_error_t jerr;
	char sig[1024], err[1024], *out;
	int from, n, at;
	size_t i;

	assert_non_null(r);
	pg_signal(sig, sizeof(sig), "health", "SELECT v FROM health", TARGET);
	node_start(e, 0, sig, defs, 2);
	rec_start(&e->rec);
	assert_true(rec_wait_why(&e->rec, nd->watch[0], 0, CRUISE_ADAPT_WHY_CEILING, 3000) >= 0);

	/* the table below the status */
	assert_int_equal(ctl(e, nd, &out, err, sizeof(err), CTL("status")), 0);
	print_message("%s", out);
	assert_non_null(strstr(out, "ADAPTED"));
	assert_non_null(strstr(out, "FLOOR"));
	assert_non_null(strstr(out, "CEILING"));
	assert_non_null(strstr(out, "hold (at_ceiling)"));
	free(out);
	assert_int_equal(ctl(e, nd, &out, err, sizeof(err), CTL("status", "-o", "json")), 0);
	doc = json_loads(out, 0, &jerr);
	free(out);
	assert_non_null(doc);
	media = json_object_get(doc, "media");
	assert_true(json_is_array(media));
	for (i = 0; i < json_array_size(media); i++) {
		json_t *m = json_array_get(media, i);
		const char *name = json_string_value(json_object_get(m, "name"));

		if (name && !strcmp(name, "plain"))
			assert_null(json_object_get(m, "adaptive"));
		if (name && !strcmp(name, "batch"))
			ad = json_object_get(m, "adaptive");
	}
	assert_true(json_is_object(ad));
	assert_string_equal(json_string_value(json_object_get(ad, "signal")), "health");
	assert_string_equal(json_string_value(json_object_get(ad, "min_rate")), "20/s");
	assert_string_equal(json_string_value(json_object_get(ad, "ceiling")), "200/s");
	assert_string_equal(json_string_value(json_object_get(ad, "why")), "at_ceiling");
	assert_true(json_number_value(json_object_get(ad, "target")) == TARGET);
	json_decref(doc);

	/* a new ceiling and floor: the rate follows into them at once */
	assert_int_equal(ctl(e, nd, &out, err, sizeof(err),
			     CTL("set", "batch", "rate=100/s", "min_rate=40/s")),
			 0);
	free(out);
	after = adaptive(nd, 0);
	assert_int_equal(after.ceiling_interval_ns, 10 * MSEC);
	assert_int_equal(after.floor_interval_ns, 25 * MSEC);
	assert_int_equal(after.rate_interval_ns, 10 * MSEC);
	assert_int_equal(cruise_maps_get_medium(&nd->a.maps, nd->idx[0], &med), 0);
	assert_int_equal(med.interval_ns, 10 * MSEC);

	/* and the rounds stay within them: down to 40/s, not 20/s */
	from = rec_count(&e->rec);
	set_v(UNHEALTHY);
	at = rec_wait_why(&e->rec, nd->watch[0], from, CRUISE_ADAPT_WHY_FLOOR,
			  20 * EVERY_MS + 2000);
	assert_true(at >= 0);
	n = rec_rounds(&e->rec, nd->watch[0], from, r, 512);
	for (int k = 0; k < n; k++) {
		assert_true(r[k].ad.rate_interval_ns >= 10 * MSEC);
		assert_true(r[k].ad.rate_interval_ns <= 25 * MSEC);
		assert_int_equal(r[k].ad.ceiling_interval_ns, 10 * MSEC);
		assert_int_equal(r[k].ad.floor_interval_ns, 25 * MSEC);
	}
	print_message("  after set rate=100/s min_rate=40/s: %d rounds within them, at %.1f/s "
		      "(%s)\n",
		      n, rate_of(e->rec.r[at].ad.rate_interval_ns),
		      cruise_adapt_why_name(e->rec.r[at].ad.why));
	assert_int_equal(e->rec.r[at].ad.rate_interval_ns, 25 * MSEC);

	/* a floor above the ceiling: refused, nothing changed */
	before = adaptive(nd, 0);
	ctl_refused(e, nd, "would be above rate", CTL("set", "batch", "min_rate=500/s"));
	after = adaptive(nd, 0);
	assert_int_equal(after.ceiling_interval_ns, before.ceiling_interval_ns);
	assert_int_equal(after.floor_interval_ns, before.floor_interval_ns);
	ctl_refused(e, nd, "would be above rate", CTL("set", "batch", "rate=10/s"));
	after = adaptive(nd, 0);
	assert_int_equal(after.ceiling_interval_ns, before.ceiling_interval_ns);
	assert_int_equal(after.floor_interval_ns, before.floor_interval_ns);

	/* min_rate on a medium that does not adapt: refused */
	assert_int_equal(cruise_maps_get_medium(&nd->a.maps, nd->idx[1], &med), 0);
	ctl_refused(e, nd, "is not adaptive", CTL("set", "plain", "min_rate=10/s"));
	{
		struct cruise_medium med2;

		assert_int_equal(cruise_maps_get_medium(&nd->a.maps, nd->idx[1], &med2), 0);
		assert_int_equal(med2.interval_ns, med.interval_ns);
	}
	free(r);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dynamics, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_priority, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_outage, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_prometheus, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_bad_signals, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_converge, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_cruisectl, env_setup, env_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	if (argc > 1) /* one test by name (a glob), as cmocka matches it */
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, grp_setup, grp_teardown);
}
