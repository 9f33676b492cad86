// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The fleet end to end: a real redis-server (Debian's, started here on a free loopback port, no
 * persistence) and three real cruise-agents on this one kernel standing in for three nodes, each
 * with its own scope cgroup, pin_dir, metrics port and node name, pacing one fleet medium of
 * 60/s to one loopback listener. Workers are processes in each node's scope. test_adaptive adds a
 * real PostgreSQL whose health table is the adaptive fleet rate's signal.
 *
 * Bounds come from the design, not from a passing run:
 * - the sum of the nodes over 10 s within 2% of 60/s; a node within 10% of its fair share;
 * - no 1 s window of the sum above 60 x 1.05 plus the nodes' bursts (3 x 2);
 * - "within two refreshes" is 2 x refresh (500 ms) plus 250 ms for the agents' threads, the main
 *   loop's map write and this test's 10 ms polling.
 * Teardown kills agents and redis, uninstalls the pins and removes cgroups and files, also when a
 * test failed.
 *
 * Over 600 lines: the fleet end to end; every case needs the same three agents and store.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "adaptive.h" /* CRUISE_ADAPT_* */
#include "agent_fixture.h"
#include "pg_fixture.h"
#include "fleet.h" /* CRUISE_FLEET_LEASE_MARGIN_NS, CRUISE_FLEET_TIMEOUT_MS */
#include "loader.h"
#include "snapshot.h"

#define NODES	    3
#define RATE	    60.0
#define BURST	    2
#define REFRESH_MS  500
#define LEASE_MS    2000
#define SUM_TOL	    0.02
#define NODE_TOL    0.10
#define WIN_BOUND   (RATE * 1.05 + NODES * BURST)
#define TWO_REFRESH ((2 * REFRESH_MS + 250) * NSEC_PER_MSEC)
#define START_MS    5000
#define HUNGRY	    4 /* workers of a hungry node */
/* forget_after of test_agent_killed: A restarts within it (an agent loads in 0.7 s, 3 s seen
 * on a loaded machine) */
#define FORGET_MS 5000
#define FORGET	  "5s"

struct node {
	char name[16]; /* node-a */
	char id[80];   /* unique: the scope cgroup's and the pin dir's name */
	struct th_cgroup scope, worker;
	struct th_agent a; /* config, logs and pins of its own */
	struct th_job job;
	double rate; /* the fleet rate in its config */
	int burst;
	char other[16]; /* a second fleet medium (test_cluster) */
	__u64 mark;	/* what a wait_for condition compares with (a time, a count) */
};

struct env {
	struct th_sandbox sb; /* name, temp dir, the listener all nodes connect to */
	char prefix[64];
	struct th_redis redis;
	struct th_redis cluster[2]; /* the other nodes of a Redis Cluster (test_cluster) */
	struct node n[NODES];
	const char *forget;   /* forget_after */
	const char *password; /* requirepass of the store; NULL: none */
	const char *auth;     /* what the agents' password_file holds; NULL: no file */
	struct th_pg pg;      /* the health probe's database (test_adaptive) */
};

static __u64 now_ns(void)
{
	return cruise_now_ns();
}

/* the store */

static void redis_start(struct env *e, uint16_t port)
{
	const char *extra[] = { "--requirepass", e->password, NULL };

	assert_int_equal(th_redis_start(&e->redis, e->sb.tmp, port, e->password ? extra : NULL), 0);
}

static void redis_cli(struct env *e, const char *const *args, char *out, size_t len)
{
	const char *argv[16] = { NULL };
	int n = 0;

	if (e->password) {
		argv[n++] = "-a";
		argv[n++] = e->password;
		argv[n++] = "--no-auth-warning";
	}
	for (int i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	assert_int_equal(th_redis_cli(&e->redis, argv, out, len), 0);
}

/* the agents */

static void node_conf(struct env *e, int i, const char *extra_medium)
{
	struct node *nd = &e->n[i];
	char text[8192 + 2 * PATH_MAX], pw[PATH_MAX + 32];
	FILE *f;

	snprintf(pw, sizeof(pw), "%s/redis-password", e->sb.tmp);
	if (e->auth)
		assert_int_equal(th_write_file(pw, e->auth), 0);
	snprintf(text, sizeof(text),
		 "scope: /%s\n"
		 "pin_dir: %s\n"
		 "metrics: 127.0.0.1:%u\n"
		 "fleet:\n"
		 "  redis: 127.0.0.1:%u\n"
		 "  node: %s\n"
		 "  key_prefix: %s\n"
		 "  refresh: %dms\n"
		 "  lease: %dms\n"
		 "  forget_after: %s\n"
		 "  expected_nodes: %d\n"
		 "%s%s%s"
		 "targets:\n"
		 "  - name: db\n"
		 "    addresses: [127.0.0.1]\n"
		 "    ports: [%u]\n"
		 "media:\n"
		 "  - name: email\n"
		 "    rate: %.0f/s\n"
		 "    burst: %d\n"
		 "    max_wait: 2s\n"
		 "    fleet: true\n"
		 "    cgroups: [/%s/w]\n"
		 "%s",
		 nd->id, nd->a.pin_dir, nd->a.metrics_port, e->redis.port, nd->name, e->prefix,
		 REFRESH_MS, LEASE_MS, e->forget, NODES, e->auth ? "  password_file: " : "",
		 e->auth ? pw : "", e->auth ? "\n" : "", e->sb.target.port, nd->rate, nd->burst,
		 nd->id, extra_medium ? extra_medium : "");
	f = fopen(nd->a.conf, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int healthz(const struct node *nd)
{
	return th_agent_healthz(&nd->a);
}

static void agent_start(struct env *e, int i)
{
	const char *args[] = { "--log-format", "text", NULL };

	if (th_agent_start(&e->n[i].a, args, START_MS))
		fail_msg("agent %s did not start", e->n[i].name);
}

static void agent_kill(struct node *nd, int sig)
{
	th_agent_kill(&nd->a, sig);
}

static bool agent_alive(struct node *nd)
{
	return th_agent_alive(&nd->a);
}

static bool log_has(const struct node *nd, const char *s)
{
	return th_agent_log_lines(&nd->a, s, NULL) > 0;
}

/* the medium in a node's map */

static struct cruise_medium medium(const struct node *nd)
{
	struct cruise_medium v;
	int i = th_medium_index(nd->a.maps.media, "email");
	__u32 k = i;

	assert_true(i >= 0);
	assert_int_equal(bpf_map_lookup_elem(nd->a.maps.media, &k, &v), 0);
	return v;
}

static bool leased(const struct node *nd)
{
	struct cruise_medium v = medium(nd);

	return v.lease_end_ns > now_ns();
}

static double share(const struct node *nd)
{
	return 1e9 / (double)medium(nd).interval_ns;
}

static struct cruise_counters counters(const struct node *nd)
{
	struct cruise_snapshot_medium m;

	assert_int_equal(th_agent_medium(&nd->a, "email", &m), 0);
	return m.c;
}

/* Poll until cond(nd) holds; the time it took (>= 1 ns), or 0 after timeout. */
static __u64 wait_for(const struct node *nd, bool (*cond)(const struct node *), __u64 timeout)
{
	__u64 t0 = now_ns();

	while (!cond(nd)) {
		if (now_ns() - t0 > timeout)
			return 0;
		usleep(10000);
	}
	return now_ns() - t0 ?: 1;
}

static void wait_all_leased(struct env *e)
{
	for (int i = 0; i < NODES; i++)
		if (!wait_for(&e->n[i], leased, 5 * NSEC_PER_SEC))
			fail_msg("%s holds no lease after 5 s", e->n[i].name);
}

/* workers */

/* hungry: HUNGRY workers back to back; else one worker on a period_ns schedule */
static void workers(struct env *e, int i, __u64 start, __u64 duration, __u64 period_ns)
{
	struct node *nd = &e->n[i];
	struct th_run_opts *o = &nd->job.o;

	memset(&nd->job, 0, sizeof(nd->job));
	o->cgroup = nd->worker.path;
	o->addr = "127.0.0.1";
	o->port = e->sb.target.port;
	o->workers = period_ns ? 1 : HUNGRY;
	o->duration_ns = duration;
	o->max_per_worker = 5000;
	o->fail_pause_ns = 20 * NSEC_PER_MSEC;
	o->start_at_ns = start;
	o->period_ns = period_ns;
	o->connect_timeout_ms = 10000;
	assert_int_equal(th_job_start(&nd->job), 0);
}

static void join_all(struct env *e)
{
	for (int i = 0; i < NODES; i++)
		th_job_join(&e->n[i].job);
}

/* successful connects of a node that completed in [from, to) */
static int ok_in(const struct node *nd, __u64 from, __u64 to)
{
	int n = 0;

	for (int k = 0; k < nd->job.r.n; k++) {
		const struct th_conn *c = &nd->job.r.conns[k];

		n += !c->err && c->end_ns >= from && c->end_ns < to;
	}
	return n;
}

static double rate_in(const struct node *nd, __u64 from, __u64 to)
{
	return ok_in(nd, from, to) / ((double)(to - from) / NSEC_PER_SEC);
}

/* The most successful connects of all nodes together in any 1 s window within [from, to). */
static int max_window(struct env *e, __u64 from, __u64 to, __u64 *at)
{
	int n = 0, best = 0;
	__u64 *t;

	for (int i = 0; i < NODES; i++)
		n += e->n[i].job.r.n;
	t = calloc(n ? n : 1, sizeof(*t));
	assert_non_null(t);
	n = 0;
	for (int i = 0; i < NODES; i++)
		for (int k = 0; k < e->n[i].job.r.n; k++) {
			const struct th_conn *c = &e->n[i].job.r.conns[k];

			if (!c->err && c->end_ns >= from && c->end_ns < to)
				t[n++] = c->end_ns;
		}
	qsort(t, n, sizeof(*t), th_u64_compare);
	for (int lo = 0, hi = 0; hi < n; hi++) {
		while (t[hi] - t[lo] >= NSEC_PER_SEC)
			lo++;
		if (hi - lo + 1 > best) {
			best = hi - lo + 1;
			*at = t[lo];
		}
	}
	free(t);
	return best;
}

static void assert_window(struct env *e, __u64 from, __u64 to, const char *what)
{
	__u64 at = 0;
	int w = max_window(e, from, to, &at);

	print_message("  %s: busiest 1 s window %d connects (bound %.0f), %.1f s in (%d, %d, %d)\n",
		      what, w, WIN_BOUND, (double)(at - from) / NSEC_PER_SEC,
		      ok_in(&e->n[0], at, at + NSEC_PER_SEC),
		      ok_in(&e->n[1], at, at + NSEC_PER_SEC),
		      ok_in(&e->n[2], at, at + NSEC_PER_SEC));
	assert_true(w <= WIN_BOUND);
}

static void print_rates(struct env *e, __u64 from, __u64 to, const char *what)
{
	double sum = 0;

	for (int i = 0; i < NODES; i++) {
		int errs[3] = { 0 };

		for (int k = 0; k < e->n[i].job.r.n; k++) {
			int er = e->n[i].job.r.conns[k].err;

			errs[er == ECONNREFUSED ? 0 : er == ETIMEDOUT ? 1 : 2] += er != 0;
		}
		print_message(
			"  %s: %d connects, %d ok, refused %d, timed out %d, other %d (job %d)\n",
			e->n[i].name, e->n[i].job.r.n, e->n[i].job.r.ok, errs[0], errs[1], errs[2],
			e->n[i].job.err);
	}

	for (int i = 0; i < NODES; i++)
		sum += rate_in(&e->n[i], from, to);
	print_message("  %s: %s %.2f/s, %s %.2f/s, %s %.2f/s, sum %.2f/s\n", what, e->n[0].name,
		      rate_in(&e->n[0], from, to), e->n[1].name, rate_in(&e->n[1], from, to),
		      e->n[2].name, rate_in(&e->n[2], from, to), sum);
}

static double sum_in(struct env *e, __u64 from, __u64 to)
{
	double sum = 0;

	for (int i = 0; i < NODES; i++)
		sum += rate_in(&e->n[i], from, to);
	return sum;
}

static double scrape(const struct node *nd, const char *series)
{
	double v = -1;
	int err = th_agent_scrape(&nd->a, series, &v);

	assert_int_not_equal(err, -EIO); /* it answers */
	if (err)
		print_message("no %s in /metrics\n", series);
	return v;
}

/* fixture */

static int env_teardown(void **state);

static int env_setup_with(void **state, const char *forget, const char *password, const char *auth)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	*state = e;
	e->forget = forget;
	e->password = password;
	e->auth = auth;
	if (th_sandbox_setup(&e->sb, "cruise-fleet-test", TH_SANDBOX_TARGET)) {
		free(e);
		*state = NULL;
		return -1;
	}
	snprintf(e->prefix, sizeof(e->prefix), "%s", e->sb.name);
	for (int i = 0; i < NODES; i++) {
		struct node *nd = &e->n[i];

		snprintf(nd->name, sizeof(nd->name), "node-%c", 'a' + i);
		snprintf(nd->id, sizeof(nd->id), "%s-%c", e->sb.name, 'a' + i);
		nd->rate = RATE;
		nd->burst = BURST;
		if (th_agent_init(&nd->a, nd->id, e->sb.tmp, nd->name, true))
			goto fail;
		if (th_cgroup_create(&nd->scope, NULL, nd->id)) {
			nd->scope.path[0] = '\0'; /* not ours */
			goto fail;
		}
		if (th_cgroup_create(&nd->worker, &nd->scope, "w"))
			goto fail;
	}
	if (th_redis_start(&e->redis, e->sb.tmp, 0,
			   password ? (const char *const[]){ "--requirepass", password, NULL }
				    : NULL))
		goto fail;
	return 0;
fail:
	fprintf(stderr, "fleet test setup failed\n");
	env_teardown(state);
	return -1;
}

static int env_setup(void **state)
{
	return env_setup_with(state, "1m", NULL, NULL);
}

static int env_setup_forget(void **state)
{
	return env_setup_with(state, FORGET, NULL, NULL);
}

static int env_setup_auth(void **state)
{
	return env_setup_with(state, "1m", "right-password", "wrong-password\n");
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	if (!e)
		return 0;
	for (int i = 0; i < NODES; i++) {
		struct node *nd = &e->n[i];

		th_job_join(&nd->job);
		th_run_free(&nd->job.r);
		th_agent_cleanup(&nd->a);
		if (nd->scope.path[0])
			th_cgroup_remove_tree(nd->scope.path);
	}
	th_redis_stop(&e->redis);
	if (e->pg.started)
		th_pg_stop(&e->pg, "/dev/null");
	for (int i = 0; i < 2; i++)
		th_redis_stop(&e->cluster[i]);
	th_sandbox_teardown(&e->sb);
	free(e);
	*state = NULL;
	return 0;
}

static void start_all(struct env *e)
{
	for (int i = 0; i < NODES; i++) {
		node_conf(e, i, NULL);
		agent_start(e, i);
	}
	wait_all_leased(e);
}

static void dump_logs(struct env *e)
{
	for (int i = 0; i < NODES; i++)
		th_print_tail(e->n[i].name, e->n[i].a.log, 3000);
}

/* tests */

/* 1. Three hungry nodes: the sum is the fleet rate, each node a third of it. */
static void test_even(void **state)
{
	struct env *e = *state;
	__u64 t0, from, to;

	start_all(e);
	t0 = now_ns() + 200 * NSEC_PER_MSEC;
	for (int i = 0; i < NODES; i++)
		workers(e, i, t0, 14 * NSEC_PER_SEC, 0);
	join_all(e);
	from = t0 + 3 * NSEC_PER_SEC;
	to = from + 10 * NSEC_PER_SEC;
	print_rates(e, from, to, "even demand");
	assert_window(e, t0, t0 + 14 * NSEC_PER_SEC, "even demand");
	assert_true(fabs(sum_in(e, from, to) / RATE - 1) <= SUM_TOL);
	for (int i = 0; i < NODES; i++)
		assert_true(fabs(rate_in(&e->n[i], from, to) / (RATE / NODES) - 1) <= NODE_TOL);
}

/* 2. A hungry, B on its own 5/s schedule, C idle: B keeps its schedule undelayed, A the rest. */
static void test_uneven(void **state)
{
	struct env *e = *state;
	struct cruise_counters b0, b1;
	__u64 t0, from, to, worst = 0;
	double b;

	start_all(e);
	t0 = now_ns() + 200 * NSEC_PER_MSEC;
	workers(e, 0, t0, 15 * NSEC_PER_SEC, 0);
	workers(e, 1, t0, 15 * NSEC_PER_SEC, 200 * NSEC_PER_MSEC);
	th_sleep_until(t0 + 4 * NSEC_PER_SEC);
	b0 = counters(&e->n[1]);
	join_all(e);
	b1 = counters(&e->n[1]);
	from = t0 + 4 * NSEC_PER_SEC;
	to = from + 10 * NSEC_PER_SEC;
	print_rates(e, from, to, "uneven demand");
	for (int k = 0; k < e->n[1].job.r.n; k++) {
		const struct th_conn *c = &e->n[1].job.r.conns[k];

		if (c->start_ns >= from && c->end_ns - c->start_ns > worst)
			worst = c->end_ns - c->start_ns;
	}
	b = rate_in(&e->n[1], from, to);
	print_message("  B: %.2f/s, %llu of %llu connects held after 4 s, slowest %.1f ms\n", b,
		      (unsigned long long)(b1.delayed - b0.delayed),
		      (unsigned long long)(b1.connections - b0.connections), worst / 1e6);
	/* its schedule: 50 connects in 10 s, give or take the window's edges */
	assert_true(fabs(b - 5.0) <= 0.1 + 1e-9);
	/* undelayed beyond its schedule: no connect held longer than two jiffies */
	assert_true(worst <= 2 * th_jiffy_ns() + 2 * NSEC_PER_MSEC);
	assert_int_equal(ok_in(&e->n[2], from, to), 0);
	assert_true(fabs(sum_in(e, from, to) / RATE - 1) <= SUM_TOL);
	assert_window(e, t0, t0 + 15 * NSEC_PER_SEC, "uneven demand");
}

static bool fair(const struct node *nd)
{
	return leased(nd) && share(nd) >= RATE / NODES * (1 - NODE_TOL);
}

/* 3. C starts hungry midway: its first connect at once, its fair share within two refreshes. */
static void test_moving(void **state)
{
	struct env *e = *state;
	__u64 t0, tc, took, first = 0;

	start_all(e);
	t0 = now_ns() + 200 * NSEC_PER_MSEC;
	tc = t0 + 6 * NSEC_PER_SEC;
	workers(e, 0, t0, 14 * NSEC_PER_SEC, 0);
	workers(e, 1, t0, 14 * NSEC_PER_SEC, 0);
	workers(e, 2, tc, 8 * NSEC_PER_SEC, 0);
	th_sleep_until(tc);
	took = wait_for(&e->n[2], fair, 3 * NSEC_PER_SEC);
	print_message("  C at its fair share (%.1f/s) %.0f ms after it started\n", share(&e->n[2]),
		      took / 1e6);
	join_all(e);
	for (int k = 0; k < e->n[2].job.r.n; k++)
		if (!e->n[2].job.r.conns[k].err) {
			first = e->n[2].job.r.conns[k].end_ns - e->n[2].job.r.conns[k].start_ns;
			break;
		}
	print_message("  C's first connect took %.2f ms\n", first / 1e6);
	print_rates(e, t0 + 2 * NSEC_PER_SEC, tc, "before C");
	print_rates(e, tc + 2 * NSEC_PER_SEC, tc + 7 * NSEC_PER_SEC, "after C");
	assert_true(took > 0 && took <= TWO_REFRESH);
	/* its first connection goes through at once (the medium was idle on its node) */
	assert_true(first > 0 && first <= 2 * th_jiffy_ns());
	assert_true(fabs(rate_in(&e->n[2], tc + 2 * NSEC_PER_SEC, tc + 7 * NSEC_PER_SEC) /
				 (RATE / NODES) -
			 1) <= NODE_TOL);
	assert_window(e, t0, t0 + 14 * NSEC_PER_SEC, "demand moving");
}

/* A connect decided at the fallback since nd->mark of them were counted. */
static bool fallback_counted(const struct node *nd)
{
	return counters(nd).fallback > nd->mark;
}

static bool not_leased(const struct node *nd)
{
	return !leased(nd);
}

static bool leased_fair(const struct node *nd)
{
	return fair(nd);
}

/* The store is down for the node: its last refresh failed. */
static bool store_down(const struct node *nd)
{
	return scrape(nd, "cruise_fleet_store_up") == 0;
}

static bool takes_half(const struct node *nd)
{
	return leased(nd) && share(nd) >= RATE / 2 * (1 - NODE_TOL);
}

/*
 * 4. Agent A SIGKILLed: its node falls back at its lease end by the kernel; restarted, it holds a
 * lease within two refreshes; killed for good (workers gone too), B and C take its share once
 * forget_after (FORGET_MS; long enough for a restart on a loaded machine) has passed.
 */
static void test_agent_killed(void **state)
{
	struct env *e = *state;
	struct node *a = &e->n[0];
	struct cruise_counters c0, c1;
	struct cruise_medium m;
	__u64 t0, tk, took, fb_from;
	double fb_rate;

	start_all(e);
	t0 = now_ns() + 200 * NSEC_PER_MSEC;
	workers(e, 0, t0, 16 * NSEC_PER_SEC, 0);
	workers(e, 1, t0, 28 * NSEC_PER_SEC, 0);
	workers(e, 2, t0, 28 * NSEC_PER_SEC, 0);
	th_sleep_until(t0 + 5 * NSEC_PER_SEC);
	tk = now_ns();
	agent_kill(a, SIGKILL);
	m = medium(a);
	print_message("  A killed; its lease ends %.0f ms later\n",
		      ((double)m.lease_end_ns - (double)tk) / 1e6);
	assert_true(m.lease_end_ns > tk && m.lease_end_ns <= tk + LEASE_MS * NSEC_PER_MSEC);
	/* the kernel switches by itself: no agent runs on node A */
	assert_true(wait_for(a, not_leased, LEASE_MS * NSEC_PER_MSEC + NSEC_PER_SEC) > 0);
	fb_from = now_ns();
	c0 = counters(a);
	/* hungry workers at the fallback rate: the next connect is decided at it */
	a->mark = c0.fallback;
	took = wait_for(a, fallback_counted, 1500 * NSEC_PER_MSEC);
	print_message(
		"  A in fallback (%.1f/s): a connect decided so %.1f ms after the lease end\n",
		1e9 / (double)m.fallback_interval_ns, took / 1e6);
	assert_true(took > 0);
	/* the window A's workers' fallback rate is measured over, below */
	th_sleep_until(fb_from + 1500 * NSEC_PER_MSEC);
	c1 = counters(a);
	print_message("  %llu connects decided at the fallback in 1.5 s\n",
		      (unsigned long long)(c1.fallback - c0.fallback));
	/* restarted before forget_after (after its lease end) */
	agent_start(e, 0);
	took = wait_for(a, leased_fair, 3 * NSEC_PER_SEC);
	print_message("  A restarted: a lease again %.0f ms after it was started, %.0f ms after it "
		      "served /healthz\n",
		      (now_ns() - a->a.started_ns) / 1e6, took / 1e6);
	/* its programs loaded and attached, then two refreshes at most */
	assert_true(took > 0 && took <= TWO_REFRESH);
	/* killed for good as its workers end: after lease + forget_after, B and C take its share */
	th_sleep_until(t0 + 16 * NSEC_PER_SEC);
	tk = now_ns();
	agent_kill(a, SIGKILL);
	took = wait_for(&e->n[1], takes_half, 10 * NSEC_PER_SEC);
	print_message("  B at %.1f/s %.0f ms after A's second death (lease %d ms + forget %d ms)\n",
		      share(&e->n[1]), took / 1e6, LEASE_MS, FORGET_MS);
	assert_true(took > 0);
	assert_true(took >= FORGET_MS * NSEC_PER_MSEC &&
		    took <= (LEASE_MS + FORGET_MS) * NSEC_PER_MSEC + TWO_REFRESH);
	assert_true(wait_for(&e->n[2], takes_half, 2 * NSEC_PER_SEC) > 0);
	join_all(e);
	/* A's workers went on at its fallback while no agent ran */
	fb_rate = rate_in(a, fb_from + 200 * NSEC_PER_MSEC, fb_from + 1500 * NSEC_PER_MSEC);
	print_message("  A's workers at %.1f/s in its fallback\n", fb_rate);
	assert_true(fabs(fb_rate / (1e9 / (double)m.fallback_interval_ns) - 1) <= 0.15);
	assert_true(log_has(&e->n[1], "fleet node forgotten") ||
		    log_has(&e->n[2], "fleet node forgotten"));
	assert_window(e, t0, t0 + 16 * NSEC_PER_SEC, "A killed and restarted");
	print_rates(e, t0 + 25 * NSEC_PER_SEC, t0 + 28 * NSEC_PER_SEC, "B and C alone");
}

/*
 * 5. Redis killed, then restarted empty: leases, then every node at its fallback (the sum still
 * bounded), then leases and fair shares again; Redis SIGSTOPped: /metrics and /healthz answer
 * within 100 ms and a reload applies.
 */
static void test_store_dies(void **state)
{
	struct env *e = *state;
	__u64 t0, tk, tr, ts, took;
	uint16_t port = e->redis.port;

	start_all(e);
	t0 = now_ns() + 200 * NSEC_PER_MSEC;
	for (int i = 0; i < NODES; i++)
		workers(e, i, t0, 24 * NSEC_PER_SEC, 0);
	th_sleep_until(t0 + 4 * NSEC_PER_SEC);
	tk = now_ns();
	th_redis_stop(&e->redis);
	for (int i = 0; i < NODES; i++)
		assert_true(wait_for(&e->n[i], not_leased,
				     LEASE_MS * NSEC_PER_MSEC + NSEC_PER_SEC) > 0);
	print_message("  store killed: every node at its fallback %.0f ms later\n",
		      (now_ns() - tk) / 1e6);
	th_sleep_until(tk + 5 * NSEC_PER_SEC);
	tr = now_ns();
	redis_start(e, port);
	for (int i = 0; i < NODES; i++) {
		/* reconnects back off up to a lease (2 s) with 25% jitter, then two refreshes */
		took = wait_for(&e->n[i], leased_fair, 5 * NSEC_PER_SEC);
		print_message("  %s at its fair share %.0f ms after the store came back empty\n",
			      e->n[i].name, (now_ns() - tr) / 1e6);
		assert_true(took > 0 &&
			    now_ns() - tr <= LEASE_MS * NSEC_PER_MSEC * 5 / 4 + TWO_REFRESH);
	}
	/*
	 * SIGSTOP: the agents' main loops and metrics do not wait on the store. Measured once every
	 * agent has had a refresh time out on it: its fleet thread is stuck on the store from then
	 * on (a refresh, then reconnects), each time for the command timeout.
	 */
	kill(e->redis.pid, SIGSTOP);
	ts = now_ns();
	for (int i = 0; i < NODES; i++) {
		took = wait_for(&e->n[i], store_down,
				(REFRESH_MS + 2 * CRUISE_FLEET_TIMEOUT_MS + 250) * NSEC_PER_MSEC);
		print_message(
			"  %s: a refresh failed on the stopped store by %.0f ms after it stopped\n",
			e->n[i].name, (now_ns() - ts) / 1e6);
		assert_true(took > 0);
	}
	for (int i = 0; i < NODES; i++) {
		char *body = NULL;
		__u64 t = now_ns();
		int st = th_http_get(e->n[i].a.metrics_port, "/metrics", &body);
		__u64 dt = now_ns() - t;

		assert_int_equal(st, 200);
		free(body);
		t = now_ns();
		assert_int_equal(healthz(&e->n[i]), 200);
		print_message("  %s with the store stopped: /metrics %.1f ms, /healthz %.1f ms\n",
			      e->n[i].name, dt / 1e6, (now_ns() - t) / 1e6);
		assert_true(dt <= 100 * NSEC_PER_MSEC && now_ns() - t <= 100 * NSEC_PER_MSEC);
	}
	/* a reload still applies: burst 2 -> 3 */
	e->n[0].burst = 3;
	node_conf(e, 0, NULL);
	kill(e->n[0].a.pid, SIGHUP);
	{
		__u64 t = now_ns();

		while (medium(&e->n[0]).burst != 3 && now_ns() - t < NSEC_PER_SEC)
			usleep(5000);
		print_message("  reload with the store stopped applied in %.1f ms\n",
			      (now_ns() - t) / 1e6);
		assert_int_equal(medium(&e->n[0]).burst, 3);
	}
	kill(e->redis.pid, SIGCONT);
	join_all(e);
	/* every node at its fallback: R / 3 each, the sum the fleet rate */
	print_rates(e, tk + 2500 * NSEC_PER_MSEC, tk + 5 * NSEC_PER_SEC, "all in fallback");
	assert_true(fabs(sum_in(e, tk + 2500 * NSEC_PER_MSEC, tk + 5 * NSEC_PER_SEC) / RATE - 1) <=
		    0.05);
	assert_window(e, t0, t0 + 24 * NSEC_PER_SEC, "store killed, restarted, stopped");
	for (int i = 0; i < NODES; i++)
		assert_true(agent_alive(&e->n[i]));
}

/* Leased by a refresh sent after nd->mark: its lease ends a lease after it was sent, less the
 * margin (agent/fleet.h); one sent before ends no later than mark + lease - margin. */
static bool leased_since_mark(const struct node *nd)
{
	return medium(nd).lease_end_ns >
	       nd->mark + LEASE_MS * NSEC_PER_MSEC - CRUISE_FLEET_LEASE_MARGIN_NS;
}

/* 6a. A key of the wrong type under the prefix: logged, counted, fallback, no crash; removed,
 * the leases come back. */
static void test_bad_store(void **state)
{
	struct env *e = *state;
	char key[160], out[256];
	__u64 flushed;
	double errs;

	start_all(e);
	snprintf(key, sizeof(key), "{%s:email}:agg", e->prefix);
	redis_cli(e, (const char *const[]){ "DEL", key, NULL }, out, sizeof(out));
	redis_cli(e, (const char *const[]){ "SET", key, "garbage", NULL }, out, sizeof(out));
	for (int i = 0; i < NODES; i++)
		assert_true(wait_for(&e->n[i], not_leased,
				     LEASE_MS * NSEC_PER_MSEC + NSEC_PER_SEC) > 0);
	for (int i = 0; i < NODES; i++) {
		errs = scrape(&e->n[i], "cruise_fleet_store_errors_total");
		print_message("  %s: %.0f store errors, alive %d\n", e->n[i].name, errs,
			      agent_alive(&e->n[i]));
		assert_true(errs >= 1);
		assert_true(agent_alive(&e->n[i]));
		assert_true(log_has(&e->n[i], "WRONGTYPE"));
	}
	redis_cli(e, (const char *const[]){ "DEL", key, NULL }, out, sizeof(out));
	for (int i = 0; i < NODES; i++)
		assert_true(wait_for(&e->n[i], leased,
				     2 * REFRESH_MS * NSEC_PER_MSEC + NSEC_PER_SEC) > 0);
	/* the store forgets the script (SCRIPT FLUSH, as a restart would): NOSCRIPT, loaded again,
	 * and the leases go on (one refresh lost is less than a lease) */
	redis_cli(e, (const char *const[]){ "SCRIPT", "FLUSH", NULL }, out, sizeof(out));
	flushed = now_ns();
	{
		__u64 t = flushed;
		bool seen = false;

		/* the first agent to call loads the script again, for all: one of them sees it */
		while (!seen && now_ns() - t < TWO_REFRESH) {
			usleep(10000);
			for (int i = 0; i < NODES; i++)
				seen |= log_has(&e->n[i], "NOSCRIPT");
		}
		assert_true(seen);
	}
	/* the next refresh (loaded again) renews what the lost one did not: a lease taken by a
	 * refresh sent after the flush, within two refreshes of seeing NOSCRIPT */
	for (int i = 0; i < NODES; i++) {
		e->n[i].mark = flushed;
		assert_true(wait_for(&e->n[i], leased_since_mark, TWO_REFRESH) > 0);
	}
}

/* 6b. Configs disagree on the fleet rate: the lowest wins, and the agents say so. */
static void test_rates_disagree(void **state)
{
	struct env *e = *state;

	e->n[2].rate = 45;
	start_all(e);
	for (int i = 0; i < NODES; i++) {
		__u64 t = now_ns();

		while (scrape(&e->n[i], "cruise_fleet_rate{medium=\"email\"}") != 45 &&
		       now_ns() - t < 2 * NSEC_PER_SEC)
			usleep(20000);
		assert_true(scrape(&e->n[i], "cruise_fleet_rate{medium=\"email\"}") == 45);
	}
	assert_true(log_has(&e->n[0], "fleet rate differs between nodes' configs"));
	assert_false(log_has(&e->n[2], "fleet rate differs between nodes' configs"));
}

/* 6c. A wrong password: one clear line, the cold-start fallback (rate / expected_nodes), no crash.
 */
static void test_wrong_password(void **state)
{
	struct env *e = *state;
	struct node *a = &e->n[0];
	struct cruise_medium m;

	node_conf(e, 0, NULL);
	agent_start(e, 0);
	for (__u64 t = now_ns(); !log_has(a, "AUTH") && now_ns() - t < 3 * NSEC_PER_SEC;)
		usleep(20000);
	m = medium(a);
	print_message("  lease_end %llu, fallback %.1f/s\n", (unsigned long long)m.lease_end_ns,
		      1e9 / (double)m.fallback_interval_ns);
	assert_true(log_has(a, "AUTH"));
	assert_false(leased(a));
	assert_true(fabs(1e9 / (double)m.fallback_interval_ns - RATE / NODES) < 0.01);
	assert_true(scrape(a, "cruise_fleet_store_up") == 0);
	assert_true(agent_alive(a));
	assert_int_equal(healthz(a), 200);
	if (!agent_alive(a))
		dump_logs(e);
}

/* A medium name whose keys' slot is not on the cluster node at port (redis-cli says MOVED). */
static void name_elsewhere(struct env *e, uint16_t port, char *name, size_t len)
{
	struct th_redis at = e->redis;

	at.port = port;
	for (int i = 0; i < 64; i++) {
		char key[160], out[256];

		snprintf(name, len, "m%d", i);
		snprintf(key, sizeof(key), "{%s:%s}:agg", e->prefix, name);
		th_redis_cli(&at, (const char *const[]){ "HGET", key, "claims", NULL }, out,
			     sizeof(out));
		if (strstr(out, "MOVED"))
			return;
	}
	fail_msg("no medium name of 64 lives on another node");
}

static bool both_leased(const struct node *nd)
{
	const char *names[2] = { "email", nd->other };

	for (int n = 0; n < 2; n++) {
		struct cruise_medium v;
		int i = th_medium_index(nd->a.maps.media, names[n]);
		__u32 k = i;

		if (i < 0 || bpf_map_lookup_elem(nd->a.maps.media, &k, &v) ||
		    v.lease_end_ns <= now_ns())
			return false;
	}
	return true;
}

/*
 * 7. Redis Cluster: three masters on loopback; the agents are given one of them. A medium whose
 * slot lives on another node is followed there (MOVED), and both media are leased.
 */
static void test_cluster(void **state)
{
	struct env *e = *state;
	struct th_redis first;
	char other[16], dir[PATH_MAX + 16], medium[512], out[256] = "";
	char a[3][32], log[PATH_MAX + 16];
	const char *create[] = {
		"redis-cli",	      "--cluster", "create",	    a[0], a[1], a[2],
		"--cluster-replicas", "0",	   "--cluster-yes", NULL
	};
	int rc;

	/* three cluster-mode servers: the first one stands in for the store from here on */
	for (int i = 0; i < 3; i++) {
		struct th_redis *r = i ? &e->cluster[i - 1] : &first;
		char conf[PATH_MAX + 32], bus[8];
		/* the bus port given: port + 10000, the default, may be taken or past 65535 */
		const char *extra[] = { "--cluster-enabled",
					"yes",
					"--cluster-config-file",
					conf,
					"--cluster-node-timeout",
					"2000",
					"--cluster-port",
					bus,
					NULL };

		snprintf(bus, sizeof(bus), "%u", th_free_port("127.0.0.1"));
		snprintf(dir, sizeof(dir), "%s/cluster-%d", e->sb.tmp, i);
		assert_int_equal(mkdir(dir, 0700), 0);
		snprintf(conf, sizeof(conf), "%s/nodes.conf", dir);
		if (!i)
			th_redis_stop(&e->redis);
		assert_int_equal(th_redis_start(r, dir, 0, extra), 0);
		if (!i)
			e->redis = first;
		snprintf(a[i], sizeof(a[i]), "127.0.0.1:%u", r->port);
	}
	snprintf(log, sizeof(log), "%s/cluster-create.log", e->sb.tmp);
	rc = th_run_cmd(create, log, log, 30000);
	if (rc)
		th_print_tail("redis-cli --cluster create", log, 2000);
	assert_int_equal(rc, 0);
	for (__u64 t = now_ns();
	     now_ns() - t < 10 * NSEC_PER_SEC && !strstr(out, "cluster_state:ok"); usleep(50000))
		th_redis_cli(&e->redis, (const char *const[]){ "CLUSTER", "INFO", NULL }, out,
			     sizeof(out));
	assert_non_null(strstr(out, "cluster_state:ok"));
	/* the agents talk to the first node; a second medium lives elsewhere */
	name_elsewhere(e, e->redis.port, other, sizeof(other));
	snprintf(medium, sizeof(medium),
		 "  - name: %s\n    rate: 30/s\n    fleet: true\n    cgroups: [/%%s/w2]\n", other);
	for (int i = 0; i < NODES; i++) {
		char extra[600];

		snprintf(extra, sizeof(extra), medium, e->n[i].id);
		snprintf(e->n[i].other, sizeof(e->n[i].other), "%s", other);
		node_conf(e, i, extra);
		agent_start(e, i);
	}
	for (int i = 0; i < NODES; i++) {
		__u64 took = wait_for(&e->n[i], both_leased, 3 * NSEC_PER_SEC);

		print_message(
			"  %s: email and %s (on another node) leased %.0f ms after its start\n",
			e->n[i].name, other, took / 1e6);
		assert_true(took > 0);
		assert_true(log_has(&e->n[i], "fleet medium lives on another Redis Cluster node"));
	}
}

/* the health table's value, through psql */
static void set_health(struct env *e, double v)
{
	char port[8], sql[64];
	const char *argv[] = { "psql", "-qX",	   "-h", "127.0.0.1", "-p", port,
			       "-U",   "postgres", "-c", sql,	      NULL };

	snprintf(port, sizeof(port), "%u", e->pg.port);
	snprintf(sql, sizeof(sql), "UPDATE health SET v = %g", v);
	assert_int_equal(th_run_cmd(argv, "/dev/null", "/dev/null", 5000), 0);
}

static double adapted(const struct node *nd)
{
	struct cruise_adaptive ad;
	int i = th_medium_index(nd->a.maps.media, "email");

	assert_true(i >= 0);
	assert_int_equal(cruise_maps_get_adaptive(&nd->a.maps, i, &ad), 0);
	return cruise_adapt_rate(ad.rate_interval_ns);
}

/* Poll until every node's fleet rate in force is want (within 1%); the time, or 0. */
static __u64 wait_fleet_rate(struct env *e, double want, __u64 timeout)
{
	__u64 t0 = now_ns();

	for (;;) {
		int at = 0;

		for (int i = 0; i < NODES; i++)
			at += fabs(scrape(&e->n[i], "cruise_fleet_rate{medium=\"email\"}") -
				   want) <= want / 100;
		if (at == NODES)
			return now_ns() - t0 ?: 1;
		if (now_ns() - t0 > timeout)
			return 0;
		usleep(20000);
	}
}

/*
 * 7. Adaptive and fleet: the fleet rate adapts once for all nodes (each proposes its controller's
 * rate, stepping from the fleet rate in force; the lowest wins) and the shares follow. A health
 * table in a real PostgreSQL is the signal (value: true), every 200 ms.
 * - unhealthy (v = 10 x target): the fleet rate halves each round to the floor: 60, 30, 15, 7.5, 6:
 *   within 4 rounds plus two refreshes;
 * - then three hungry nodes together get the floor: over 4 s, at most 6/s x 4 s plus the bursts;
 * - healthy again: back to the ceiling in (60 - 6) / 3 = 18 rounds, plus two refreshes;
 * - every node's proposal is the same (they step from one rate).
 */
static void test_adaptive(void **state)
{
	struct env *e = *state;
	const double floor_rate = 6, round_s = 0.2;
	char dsn[PATH_MAX + 16], pgdir[PATH_MAX + 16], extra[PATH_MAX + 512], port[8];
	const char *psql[] = {
		"psql", "-qX",
		"-h",	"127.0.0.1",
		"-p",	port,
		"-U",	"postgres",
		"-c",	"CREATE TABLE health(v double precision); INSERT INTO health VALUES (0)",
		NULL
	};
	__u64 t, from, to, bound;
	int ok = 0;

	snprintf(pgdir, sizeof(pgdir), "%s/pg", e->sb.tmp);
	snprintf(dsn, sizeof(dsn), "%s/pg.log", e->sb.tmp);
	assert_int_equal(th_pg_start(&e->pg, pgdir, NULL, dsn), 0);
	snprintf(port, sizeof(port), "%u", e->pg.port);
	assert_int_equal(th_run_cmd(psql, "/dev/null", "/dev/null", 10000), 0);
	snprintf(dsn, sizeof(dsn), "%s/dsn", e->sb.tmp);
	snprintf(extra, sizeof(extra), "host=127.0.0.1 port=%u user=postgres dbname=postgres\n",
		 e->pg.port);
	assert_int_equal(th_write_file(dsn, extra), 0);
	snprintf(extra, sizeof(extra),
		 "    adaptive: {signal: health, min_rate: %.0f/s}\n"
		 "signals:\n"
		 "  - name: health\n"
		 "    postgres: {dsn_file: %s, query: SELECT v FROM health, value: true}\n"
		 "    every: 200ms\n"
		 "    target: 10\n",
		 floor_rate, dsn);
	for (int i = 0; i < NODES; i++) {
		node_conf(e, i, extra);
		agent_start(e, i);
	}
	wait_all_leased(e);
	assert_true(wait_fleet_rate(e, RATE, 2 * NSEC_PER_SEC));

	set_health(e, 100);
	bound = (4 * round_s * NSEC_PER_SEC) + TWO_REFRESH + round_s * NSEC_PER_SEC;
	t = wait_fleet_rate(e, floor_rate, 3 * bound);
	print_message("  unhealthy: the fleet rate at the floor after %.2f s (bound %.2f s)\n",
		      t / 1e9, bound / 1e9);
	assert_true(t && t <= bound);
	for (int i = 0; i < NODES; i++)
		assert_true(fabs(adapted(&e->n[i]) - floor_rate) < 0.01);

	/* the nodes share the floor: at most the fleet rate, give or take the bursts */
	from = now_ns() + TWO_REFRESH;
	to = from + 4 * NSEC_PER_SEC;
	for (int i = 0; i < NODES; i++)
		workers(e, i, from, to - from, 0);
	join_all(e);
	for (int i = 0; i < NODES; i++)
		ok += ok_in(&e->n[i], from, to);
	print_rates(e, from, to, "at the floor");
	print_message("  at the floor: %d connects in 4 s (bound %.0f)\n", ok,
		      floor_rate * 4 * 1.05 + NODES * BURST);
	assert_true(ok <= floor_rate * 4 * 1.05 + NODES * BURST);
	assert_true(ok >= floor_rate * 4 * 0.8);

	set_health(e, 1);
	bound = (__u64)((RATE - floor_rate) / (RATE / CRUISE_ADAPT_STEPS) * round_s *
			NSEC_PER_SEC) +
		TWO_REFRESH + round_s * NSEC_PER_SEC;
	t = wait_fleet_rate(e, RATE, 3 * bound);
	print_message("  healthy: the fleet rate back at the ceiling after %.2f s (bound %.2f s)\n",
		      t / 1e9, bound / 1e9);
	assert_true(t && t <= bound);
	for (int i = 0; i < NODES; i++)
		assert_true(fabs(adapted(&e->n[i]) - RATE) < 0.01);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_even, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_uneven, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_moving, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_agent_killed, env_setup_forget, env_teardown),
		cmocka_unit_test_setup_teardown(test_store_dies, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_bad_store, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_rates_disagree, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_wrong_password, env_setup_auth, env_teardown),
		cmocka_unit_test_setup_teardown(test_cluster, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_adaptive, env_setup, env_teardown),
	};

	if (!th_agent_bin())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
