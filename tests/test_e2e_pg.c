// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * End to end with a real PostgreSQL: the Debian server started by this test in a temp dir on
 * loopback (scripts/pg.sh, through pg_fixture.h), the real cruise-agent binary on a config this
 * test writes, real cgroups, and real database clients: libpq sessions (PQconnectdb, PQfinish) in
 * forked worker processes, and psql for what a user sees. Nothing is mocked.
 *
 * Tolerances come from the design: achieved rates within 2% (least-squares over 4 s, as the
 * datapath tests); what the server sees from a group in any span is at most rate x span + burst,
 * plus the one connection a span starts with, plus the lateness credit of at most
 * max(1, 3 jiffies x rate) connections (cruise_gcra.h), plus what the server's own clock lets
 * bunch up: it logs a session after its fork and authentication (1-3 ms here, tens of ms on a
 * loaded machine), not at the SYN, so sessions admitted apart can be logged together; the spread
 * of that lag, measured against the clients' connects, times the rate (at least one).
 *
 * The teardown stops the server, kills the agent, runs --uninstall on its pin dir and removes
 * the cgroups and files, also when a test failed. Run as root; the agent is cruise-agent beside
 * this program, scripts/pg.sh the one in ../scripts.
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
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <libpq-fe.h>

#include "agent_fixture.h"
#include "loader.h"
#include "pg_fixture.h"
#include "snapshot.h"

#define RATE_TOL 0.02
#define START_MS 10000 /* the server starts, the agent binds, within this */

/* the media of the config, in its order */
enum e2e_group { G_PUSH, G_EMAIL, G_POOL, G_REFUSE, G_FREE, G_N };

static const char *const group_name[G_N] = { "push", "email", "pool", "refuse", "free" };
static const double group_rate[G_N] = { 100, 20, 1000, 2, 0 };
#define POOL_MAX_CONNS 3

/* libpq worker sessions: the group's application_name shows in the server's log and views */
struct pg_client {
	char conninfo[256];
};

struct e2e {
	struct th_sandbox sb; /* name, temp dir (the server's inside), the scope cgroup */
	struct th_pg pg;
	struct th_agent a; /* metrics off */
	struct th_cgroup cg[G_N];
	struct pg_client client[G_N];
};

static int pg_open(void *arg, int worker, void **conn)
{
	const struct pg_client *c = arg;
	PGconn *pg = PQconnectdb(c->conninfo);
	int err = 0;

	(void)worker;
	if (PQstatus(pg) != CONNECTION_OK)
		err = strstr(PQerrorMessage(pg), "Connection refused") ? ECONNREFUSED : EIO;
	if (err) {
		PQfinish(pg);
		return err;
	}
	*conn = pg;
	return 0;
}

static void pg_close(void *conn)
{
	PQfinish(conn);
}

static void conninfo(const struct e2e *e, const char *app, char *buf, size_t len)
{
	/* no TLS or GSS negotiation: one startup exchange per session, as the server offers none */
	snprintf(buf, len,
		 "host=127.0.0.1 port=%u user=postgres dbname=postgres application_name=%s "
		 "sslmode=disable gssencmode=disable connect_timeout=30",
		 e->pg.port, app);
}

static int write_config(struct e2e *e)
{
	FILE *f = fopen(e->a.conf, "w");

	if (!f)
		return -errno;
	fprintf(f,
		"scope: /%s\n"
		"pin_dir: %s\n"
		"metrics: \"\"\n"
		"targets:\n"
		"  - name: pg\n"
		"    addresses: [127.0.0.1/32, \"::1/128\"]\n"
		"    ports: [%u]\n"
		"media:\n"
		"  - {name: push, rate: %.0f/s, max_wait: 5s, cgroups: [%s/push]}\n"
		"  - {name: email, rate: %.0f/s, max_wait: 5s, cgroups: [%s/email]}\n"
		"  - {name: pool, rate: %.0f/s, max_wait: 5s, max_conns: %d, cgroups: [%s/pool]}\n"
		"  - {name: refuse, rate: %.0f/s, max_wait: 0, cgroups: [%s/refuse]}\n",
		e->sb.name, e->a.pin_dir, e->pg.port, group_rate[G_PUSH], e->sb.name,
		group_rate[G_EMAIL], e->sb.name, group_rate[G_POOL], POOL_MAX_CONNS, e->sb.name,
		group_rate[G_REFUSE], e->sb.name);
	return fclose(f) ? -errno : 0;
}

/* The agent runs, its maps are pinned and every bound group's cgroup is in cruise_bindings. */
static int agent_start(struct e2e *e)
{
	const char *args[] = { "--log-format", "text", NULL };
	int err = th_agent_start(&e->a, args, START_MS);

	for (int g = 0; !err && g < G_FREE; g++)
		if (!th_wait_binding(e->a.maps.bindings, e->cg[g].id, TH_ANY_MEDIUM, START_MS,
				     NULL))
			err = -ETIMEDOUT;
	return err;
}

static int e2e_teardown(void **state);

static int e2e_setup(void **state)
{
	char pgdir[PATH_MAX], log[PATH_MAX + 16];
	struct e2e *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	*state = e;
	if (th_sandbox_setup(&e->sb, "cruise-e2e", TH_SANDBOX_SCOPE)) {
		free(e);
		*state = NULL;
		return -1;
	}
	snprintf(pgdir, sizeof(pgdir), "%s/pg", e->sb.tmp);
	snprintf(log, sizeof(log), "%s/setup.log", e->sb.tmp);
	/* each session logged with the server's ms clock: what the server saw, when */
	if (th_pg_start(&e->pg, pgdir, "-c log_connections=on -c log_line_prefix='%n '", log))
		goto fail;
	for (int g = 0; g < G_N; g++)
		conninfo(e, group_name[g], e->client[g].conninfo, sizeof(e->client[g].conninfo));
	for (int g = 0; g < G_N; g++)
		if (th_cgroup_create(&e->cg[g], &e->sb.scope, group_name[g]))
			goto fail;
	if (th_agent_init(&e->a, e->sb.name, e->sb.tmp, "cruise", false) || write_config(e) ||
	    agent_start(e)) {
		th_agent_print_log(&e->a, 4000);
		goto fail;
	}
	return 0;
fail:
	print_message("e2e setup failed\n");
	e2e_teardown(state);
	return -1;
}

static int e2e_teardown(void **state)
{
	struct e2e *e = *state;
	char log[PATH_MAX + 16];

	if (!e)
		return 0;
	snprintf(log, sizeof(log), "%s/teardown.log", e->sb.tmp);
	th_agent_kill(&e->a, SIGTERM);
	th_agent_cleanup(&e->a);
	th_pg_stop(&e->pg, log);
	th_sandbox_teardown(&e->sb);
	free(e);
	*state = NULL;
	return 0;
}

/* counters of a medium (summed over CPUs), by name */
static struct cruise_counters counters(const struct e2e *e, enum e2e_group g)
{
	struct cruise_snapshot_medium m;

	assert_int_equal(th_agent_medium(&e->a, group_name[g], &m), 0);
	return m.c;
}

/* A group's clients: libpq sessions as the group's application, from the group's cgroup. */
static void job_init(struct th_job *j, struct e2e *e, enum e2e_group g, int workers,
		     __u64 duration_ns)
{
	memset(j, 0, sizeof(*j));
	j->o.cgroup = e->cg[g].path;
	j->o.workers = workers;
	j->o.duration_ns = duration_ns;
	j->o.max_per_worker = 4000;
	j->o.open_fn = pg_open;
	j->o.close_fn = pg_close;
	j->o.arg = &e->client[g];
}

static double pct(double got, double want)
{
	return 100 * (got - want) / want;
}

static __u64 latency_pctl(const struct th_run *r, double q)
{
	__u64 *v = calloc(r->n ? r->n : 1, sizeof(*v)), out;
	int n = 0;

	assert_non_null(v);
	for (int i = 0; i < r->n; i++)
		if (!r->conns[i].err)
			v[n++] = r->conns[i].end_ns - r->conns[i].start_ns;
	qsort(v, n, sizeof(*v), th_u64_compare);
	out = n ? v[(size_t)((n - 1) * q)] : 0;
	free(v);
	return out;
}

/*
 * The server's own record of a group's sessions: the times (ms, its clock) of its "connection
 * authorized" log lines with the group's application_name, from after_ms on. Returns the count.
 */
static int server_sessions(const struct e2e *e, const char *app, double after_ms, double **out)
{
	char path[PATH_MAX + 16], needle[64];
	char *text, *line, *save = NULL;
	double *t = NULL;
	int n = 0, cap = 0;

	snprintf(path, sizeof(path), "%s/server.log", e->pg.dir);
	snprintf(needle, sizeof(needle), "application_name=%s", app);
	text = th_slurp(path);
	assert_non_null(text);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *rest = strstr(line, "connection authorized");
		double ms;

		if (!rest || !strstr(rest, needle) || sscanf(line, "%lf", &ms) != 1)
			continue;
		ms *= 1000; /* %n is seconds.milliseconds */
		if (ms < after_ms)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			t = realloc(t, cap * sizeof(*t));
			assert_non_null(t);
		}
		t[n++] = ms;
	}
	free(text);
	*out = t;
	return n;
}

/* The largest excess over rate x span + burst of sessions in any span between two sessions. */
static double server_excess(const double *t, int n, double rate, double burst)
{
	double worst = -1e9;

	for (int i = 0; i < n; i++)
		for (int j = i; j < n; j++) {
			double allowed = rate * (t[j] - t[i]) / 1000 + burst;

			if (j - i + 1 - allowed > worst)
				worst = j - i + 1 - allowed;
		}
	return worst;
}

static double wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/*
 * The spread (ms) of the server's lag behind the clients: the k-th session it logged against the
 * k-th connect the clients completed (both in time order; the clients' monotonic clock moved to
 * the wall clock by the offset measured once).
 */
static double server_lag_spread(const double *t, int n, const struct th_run *r)
{
	__u64 *end = calloc(r->n ? r->n : 1, sizeof(*end));
	double off_ms, lo = 1e18, hi = -1e18;
	struct timespec mono;
	int m = 0;

	assert_non_null(end);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	off_ms = wall_ms() - (mono.tv_sec * 1e3 + mono.tv_nsec / 1e6);
	for (int i = 0; i < r->n; i++)
		if (!r->conns[i].err)
			end[m++] = r->conns[i].end_ns;
	qsort(end, m, sizeof(*end), th_u64_compare);
	for (int k = 0; k < m && k < n; k++) {
		double lag = t[k] - (end[k] / 1e6 + off_ms);

		lo = lag < lo ? lag : lo;
		hi = lag > hi ? lag : hi;
	}
	free(end);
	return m && n ? hi - lo : 0;
}

/*
 * What a span may hold above rate x span + burst (see the header): the span's first session, the
 * lateness credit, and what the server's lag spread lets bunch up (at least one session).
 */
static double span_slack(double rate, double spread_ms)
{
	double credit = ceil(3.0 * th_jiffy_ns() / NSEC_PER_SEC * rate);
	double bunch = ceil(rate * spread_ms / 1000);

	return 1 + (credit > 1 ? credit : 1) + (bunch > 1 ? bunch : 1);
}

/*
 * 1. Two media at different rates against one server, each within 2% of its own rate, the server
 * never seeing more than rate x span + burst from either; an unbound group beside them runs its
 * own schedule as it does with no cruise at all, and cruise counts none of its connects.
 */
static void test_two_media_and_unbound(void **state)
{
	struct e2e *e = *state;
	const __u64 dur = 4 * NSEC_PER_SEC, free_period = NSEC_PER_SEC / 30;
	struct th_job free_alone, jobs[3];
	struct th_job *push = &jobs[0], *email = &jobs[1], *free_beside = &jobs[2];
	struct cruise_counters before[G_FREE], after[G_FREE];
	double since_ms = wall_ms(), rp, re, rf0, rf1;
	__u64 counted = 0;

	/* the unbound group alone first: its unthrottled run */
	job_init(&free_alone, e, G_FREE, 1, 2 * NSEC_PER_SEC);
	free_alone.o.period_ns = free_period;
	assert_int_equal(th_jobs_run(&free_alone, 1), 0);

	for (int g = 0; g < G_FREE; g++)
		before[g] = counters(e, g);
	job_init(push, e, G_PUSH, 4, dur);
	job_init(email, e, G_EMAIL, 2, dur);
	job_init(free_beside, e, G_FREE, 1, dur);
	free_beside->o.period_ns = free_period;
	assert_int_equal(th_jobs_run(jobs, 3), 0);
	for (int g = 0; g < G_FREE; g++) {
		after[g] = counters(e, g);
		counted += after[g].connections - before[g].connections;
	}

	rp = th_run_rate(&push->r);
	re = th_run_rate(&email->r);
	rf0 = th_run_rate(&free_alone.r);
	rf1 = th_run_rate(&free_beside->r);
	print_message("push: %d sessions, %.2f/s (%+.2f%% of %.0f/s), p50 %.1f ms, p99 %.1f ms\n",
		      push->r.ok, rp, pct(rp, group_rate[G_PUSH]), group_rate[G_PUSH],
		      latency_pctl(&push->r, 0.5) / 1e6, latency_pctl(&push->r, 0.99) / 1e6);
	print_message("email: %d sessions, %.2f/s (%+.2f%% of %.0f/s), p50 %.1f ms, p99 %.1f ms\n",
		      email->r.ok, re, pct(re, group_rate[G_EMAIL]), group_rate[G_EMAIL],
		      latency_pctl(&email->r, 0.5) / 1e6, latency_pctl(&email->r, 0.99) / 1e6);
	print_message("unbound: alone %.2f/s p50 %.2f ms p99 %.2f ms; beside %.2f/s p50 %.2f ms "
		      "p99 %.2f ms (schedule 30/s)\n",
		      rf0, latency_pctl(&free_alone.r, 0.5) / 1e6,
		      latency_pctl(&free_alone.r, 0.99) / 1e6, rf1,
		      latency_pctl(&free_beside->r, 0.5) / 1e6,
		      latency_pctl(&free_beside->r, 0.99) / 1e6);

	assert_int_equal(push->r.failed, 0);
	assert_int_equal(email->r.failed, 0);
	assert_true(fabs(pct(rp, group_rate[G_PUSH])) <= 100 * RATE_TOL);
	assert_true(fabs(pct(re, group_rate[G_EMAIL])) <= 100 * RATE_TOL);
	/* cruise saw exactly the bound groups' connects: none of the unbound group's */
	assert_true(counted == (__u64)(push->r.n + email->r.n));
	assert_int_equal(free_alone.r.failed, 0);
	assert_int_equal(free_beside->r.failed, 0);
	assert_true(fabs(pct(rf0, 30)) <= 100 * RATE_TOL);
	assert_true(fabs(pct(rf1, 30)) <= 100 * RATE_TOL);

	/* what the server saw, by its own log */
	for (int g = G_PUSH; g <= G_EMAIL; g++) {
		const struct th_run *r = g == G_PUSH ? &push->r : &email->r;
		double *t, excess, spread;
		int n = server_sessions(e, group_name[g], since_ms - 1000, &t);

		excess = server_excess(t, n, group_rate[g], 0);
		spread = server_lag_spread(t, n, r);
		print_message(
			"server saw %d %s sessions; worst span excess over rate x span + burst "
			"%.2f (allowed %.0f: its lag behind the clients spread over %.1f ms)\n",
			n, group_name[g], excess, span_slack(group_rate[g], spread), spread);
		assert_int_equal(n, r->ok);
		assert_true(excess <= span_slack(group_rate[g], spread));
		free(t);
	}
	th_run_free(&push->r);
	th_run_free(&email->r);
	th_run_free(&free_alone.r);
	th_run_free(&free_beside->r);
}

/* pg_stat_activity's count of the pool group's sessions, polled until stop */
struct pool_watch {
	pthread_t t;
	PGconn *pg;
	volatile bool stop;
	int max, samples, at_max;
	char err[256];
};

static void *watch_main(void *arg)
{
	struct pool_watch *w = arg;

	while (!w->stop) {
		PGresult *res = PQexec(w->pg, "SELECT count(*) FROM pg_stat_activity "
					      "WHERE application_name = 'pool'");
		int n;

		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			snprintf(w->err, sizeof(w->err), "%s", PQerrorMessage(w->pg));
			PQclear(res);
			break;
		}
		n = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
		w->samples++;
		if (n > w->max)
			w->max = n;
		w->at_max += n == POOL_MAX_CONNS;
		usleep(2000);
	}
	return NULL;
}

/*
 * 2. max_conns: six workers that each hold a session 150 ms want six at once; the server's
 * pg_stat_activity never shows more than the limit (3) for the group, and does reach it. The
 * connects over the limit fail at once, each counted once.
 */
static void test_max_conns_server_view(void **state)
{
	struct e2e *e = *state;
	struct pool_watch w = { 0 };
	struct cruise_counters c0, c1;
	struct th_job pool;
	char info[256];

	conninfo(e, "cruise-e2e-watch", info, sizeof(info));
	w.pg = PQconnectdb(info); /* from outside the bound cgroups: not paced */
	assert_int_equal(PQstatus(w.pg), CONNECTION_OK);
	c0 = counters(e, G_POOL);
	job_init(&pool, e, G_POOL, 6, 3 * NSEC_PER_SEC);
	pool.o.hold_open_ns = 150 * NSEC_PER_MSEC;
	pool.o.period_ns = 20 * NSEC_PER_MSEC; /* a refused worker retries on its schedule */
	pool.o.max_per_worker = 200;
	assert_int_equal(pthread_create(&w.t, NULL, watch_main, &w), 0);
	assert_int_equal(th_jobs_run(&pool, 1), 0);
	w.stop = true;
	pthread_join(w.t, NULL);
	PQfinish(w.pg);
	c1 = counters(e, G_POOL);

	print_message("pool: %d sessions, %d refused; pg_stat_activity max %d over %d samples "
		      "(%d at the limit %d); refused_max_conns +%llu\n",
		      pool.r.ok, pool.r.failed, w.max, w.samples, w.at_max, POOL_MAX_CONNS,
		      (unsigned long long)(c1.refused_max_conns - c0.refused_max_conns));
	assert_string_equal(w.err, "");
	assert_true(w.samples > 100);
	assert_true(w.max <= POOL_MAX_CONNS);
	assert_true(w.at_max > 0);
	assert_true(pool.r.ok > 0);
	assert_true(pool.r.failed > 0);
	for (int i = 0; i < pool.r.n; i++)
		if (pool.r.conns[i].err)
			assert_int_equal(pool.r.conns[i].err, ECONNREFUSED);
	assert_true(c1.refused_max_conns - c0.refused_max_conns == (__u64)pool.r.failed);
	th_run_free(&pool.r);
}

/* Run psql once in the refuse group; its exit code, its stderr in err. */
static int psql_once(const struct e2e *e, char *err, size_t len)
{
	char cmd[PATH_MAX * 2], out[PATH_MAX + 16];
	const char *argv[] = { "sh", "-c", cmd, NULL };
	char *text;
	int rc;

	snprintf(out, sizeof(out), "%s/psql.err", e->sb.tmp);
	unlink(out);
	snprintf(cmd, sizeof(cmd),
		 "echo $$ > %s/cgroup.procs && exec psql -X -h 127.0.0.1 -p %u -U postgres "
		 "-d postgres -Atc 'SELECT 1'",
		 e->cg[G_REFUSE].path, e->pg.port);
	rc = th_run_cmd(argv, "/dev/null", out, 30000);
	text = th_slurp(out);
	assert_non_null(text);
	snprintf(err, len, "%s", text);
	free(text);
	unlink(out);
	return rc;
}

static int refusal_lines(const struct e2e *e)
{
	char *text = th_slurp(e->a.log);
	int n = 0;

	assert_non_null(text);
	for (char *p = text; (p = strstr(p, "connect refused medium=refuse ")); p++)
		n++;
	free(text);
	return n;
}

/*
 * 3. Refused connects: psql run back to back in a group at 2/s with no wait allowed; every
 * refused one fails with the kernel's plain "Connection refused" (the medium's errno), and each
 * is one event: one agent log line and one count.
 */
static void test_refusal_client_error(void **state)
{
	struct e2e *e = *state;
	struct cruise_counters c0, c1;
	int ok = 0, refused = 0, lines0 = refusal_lines(e), lines;
	__u64 t0 = cruise_now_ns(), deadline;
	double elapsed;
	char err[2048];

	c0 = counters(e, G_REFUSE);
	for (int i = 0; i < 6; i++) {
		int rc = psql_once(e, err, sizeof(err));

		if (rc == 0) {
			ok++;
			continue;
		}
		print_message("psql exit %d: %s", rc, err);
		assert_int_equal(rc, 2); /* psql: the connection to the server failed */
		assert_non_null(strstr(err, "Connection refused"));
		refused++;
	}
	elapsed = (double)(cruise_now_ns() - t0) / NSEC_PER_SEC;
	c1 = counters(e, G_REFUSE);
	/* the agent logs each event as it reads the ring buffer: wait for them, bounded */
	deadline = cruise_now_ns() + 2 * NSEC_PER_SEC;
	while ((lines = refusal_lines(e) - lines0) < refused && cruise_now_ns() < deadline)
		usleep(2000);
	print_message("refuse: %d psql in %.3f s: %d connected, %d refused; %d log lines, "
		      "refused_max_wait +%llu\n",
		      ok + refused, elapsed, ok, refused, lines,
		      (unsigned long long)(c1.refused_max_wait - c0.refused_max_wait));
	assert_true(refused > 0);
	assert_true(ok >= 1);
	assert_true(ok <= 1 + ceil(elapsed * group_rate[G_REFUSE]));
	assert_true(c1.refused_max_wait - c0.refused_max_wait == (__u64)refused);
	assert_int_equal(lines, refused);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_media_and_unbound),
		cmocka_unit_test(test_max_conns_server_view),
		cmocka_unit_test(test_refusal_client_error),
	};

	if (!th_agent_bin() || !th_pg_sh())
		return 1;
	return cmocka_run_group_tests(tests, e2e_setup, e2e_teardown);
}
