// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The health probes (agent/probe.h) against real servers: a throwaway PostgreSQL (pg_fixture.h)
 * and a throwaway Prometheus scraping an exporter served by this program (prom_fixture.h), both on
 * loopback in temp dirs, stopped and removed after, also when a test failed. Servers that
 * misbehave in ways real ones do not (a listener that never answers, an API that answers
 * garbage) are this program's own sockets. Every run gets a deadline and must return within it
 * plus SLACK_MS; every wait is bounded. Without /usr/bin/prometheus the tests that need it are
 * skipped, saying so. Run as root (the PostgreSQL server runs as Debian's postgres user).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "helpers.h"
#include "loader.h"
#include "pg_fixture.h"
#include "probe.h"
#include "probe_int.h"
#include "prom_fixture.h"

#define NSEC_PER_MSEC 1000000ULL
#define SLACK_MS      100   /* a run returns at most this long after its deadline */
#define RUN_MS	      2000  /* the deadline of a run expected to succeed */
#define SHORT_MS      300   /* the deadline of a run expected to time out */
#define FOLLOW_MS     20000 /* a new value reaches a probe through Prometheus' scrapes */
#define PASSWORD      "probe-Secret-42"

struct outcome {
	enum cruise_probe_error e;
	double v;
	double took_ms;
	char err[512];
};

/* One run, deadline_ms from now: it returns in time, and a failure says why in one line. */
static struct outcome run_probe(struct cruise_probe *p, int deadline_ms)
{
	struct outcome o = { .v = NAN };
	__u64 t0 = cruise_now_ns();

	o.e = cruise_probe_run(p, t0 + deadline_ms * NSEC_PER_MSEC, &o.v, o.err, sizeof(o.err));
	o.took_ms = (double)(cruise_now_ns() - t0) / NSEC_PER_MSEC;
	if (o.took_ms > deadline_ms + SLACK_MS)
		print_message("run took %.1f ms, deadline %d ms: %s %s\n", o.took_ms, deadline_ms,
			      cruise_probe_error_name(o.e), o.err);
	assert_true(o.took_ms <= deadline_ms + SLACK_MS);
	assert_null(strchr(o.err, '\n'));
	if (o.e)
		assert_true(o.err[0] != '\0');
	return o;
}

/* A run that must end in want; its outcome. */
static struct outcome expect(struct cruise_probe *p, int deadline_ms, enum cruise_probe_error want,
			     const char *what)
{
	struct outcome o = run_probe(p, deadline_ms);

	if (o.e != want)
		print_message("%s: %s (%s, value %g), expected %s\n", what,
			      cruise_probe_error_name(o.e), o.err, o.v,
			      cruise_probe_error_name(want));
	assert_int_equal(o.e, want);
	return o;
}

/* Until a run returns want (or FOLLOW_MS pass): how long that took, in ms. */
static double follow(struct cruise_probe *p, double want, const char *what)
{
	__u64 t0 = cruise_now_ns(), until = t0 + FOLLOW_MS * NSEC_PER_MSEC;
	struct outcome o;

	do {
		o = run_probe(p, RUN_MS);
		if (!o.e && o.v == want)
			return (double)(cruise_now_ns() - t0) / NSEC_PER_MSEC;
		usleep(100000);
	} while (cruise_now_ns() < until);
	print_message("%s: still %s (%s, value %g), expected %g\n", what,
		      cruise_probe_error_name(o.e), o.err, o.v, want);
	fail();
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* PostgreSQL */

struct pg_state {
	char tmp[64];
	char log[128];
	struct th_pg pg;
	PGconn *admin; /* the test's own session, for its tables and roles */
};

static struct pg_state *pgs;

static void pg_conninfo(char *buf, size_t len, const char *extra)
{
	snprintf(buf, len, "host=127.0.0.1 port=%u user=postgres dbname=postgres %s", pgs->pg.port,
		 extra ? extra : "");
}

static struct cruise_probe *pg_probe(const char *extra, const char *query, bool value)
{
	struct cruise_probe_pg_opts o = { .query = query, .value = value };
	struct cruise_probe *p;
	char ci[512];

	pg_conninfo(ci, sizeof(ci), extra);
	o.conninfo = ci;
	p = cruise_probe_pg_new(&o);
	assert_non_null(p);
	return p;
}

/* SQL from the test's own session, reopened after a restart. */
static void admin(const char *sql)
{
	PGresult *r;

	r = PQexec(pgs->admin, sql);
	if (PQstatus(pgs->admin) != CONNECTION_OK) {
		PQclear(r);
		PQreset(pgs->admin);
		r = PQexec(pgs->admin, sql);
	}
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		print_message("%s: %s\n", sql, PQerrorMessage(pgs->admin));
	assert_true(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
	PQclear(r);
}

static int pg_teardown(void **state)
{
	(void)state;
	if (!pgs)
		return 0;
	if (pgs->admin)
		PQfinish(pgs->admin);
	th_pg_stop(&pgs->pg, pgs->log);
	th_rm_tree(pgs->tmp);
	free(pgs);
	pgs = NULL;
	return 0;
}

static int pg_setup(void **state)
{
	char dir[128], ci[512];

	(void)state;
	pgs = calloc(1, sizeof(*pgs));
	if (!pgs)
		return -1;
	snprintf(pgs->tmp, sizeof(pgs->tmp), "/tmp/cruise-probe.XXXXXX");
	if (!mkdtemp(pgs->tmp) || chmod(pgs->tmp, 0755)) {
		free(pgs);
		pgs = NULL;
		return -1;
	}
	snprintf(pgs->log, sizeof(pgs->log), "%s/pg.log", pgs->tmp);
	snprintf(dir, sizeof(dir), "%s/pg", pgs->tmp);
	if (th_pg_start(&pgs->pg, dir, NULL, pgs->log))
		goto fail;
	pg_conninfo(ci, sizeof(ci), "application_name=test_probe connect_timeout=10");
	pgs->admin = PQconnectdb(ci);
	if (PQstatus(pgs->admin) != CONNECTION_OK) {
		fprintf(stderr, "test session: %s", PQerrorMessage(pgs->admin));
		goto fail;
	}
	return 0;
fail:
	pg_teardown(state);
	return -1;
}

static void test_pg_latency(void **state)
{
	struct cruise_probe *p = pg_probe(NULL, NULL, false); /* SELECT 1 */
	double lat[50], took[50];
	struct outcome o;

	(void)state;
	o = expect(p, RUN_MS, CRUISE_PROBE_OK, "the first run (connects)");
	assert_true(o.v > 0 && o.v < 1);
	print_message("first run (connect + SELECT 1): %.2f ms, latency %.3f ms\n", o.took_ms,
		      o.v * 1e3);
	for (int i = 0; i < 50; i++) {
		o = expect(p, RUN_MS, CRUISE_PROBE_OK, "SELECT 1");
		assert_true(o.v > 0 && o.v < 1);
		lat[i] = o.v * 1e3;
		took[i] = o.took_ms;
	}
	qsort(lat, 50, sizeof(lat[0]), cmp_double);
	qsort(took, 50, sizeof(took[0]), cmp_double);
	print_message("SELECT 1 latency over 50 runs: p50 %.3f ms, max %.3f ms; run p50 %.3f ms\n",
		      lat[25], lat[49], took[25]);
	cruise_probe_free(p);
}

static void test_pg_application_name(void **state)
{
	const char *q = "SELECT count(*) FROM pg_stat_activity WHERE pid = pg_backend_pid() AND "
			"application_name = 'cruise-probe'";
	const char *q2 = "SELECT count(*) FROM pg_stat_activity WHERE pid = pg_backend_pid() AND "
			 "application_name = 'mine'";
	struct cruise_probe *p = pg_probe(NULL, q, true);
	struct outcome o;

	(void)state;
	o = expect(p, RUN_MS, CRUISE_PROBE_OK, "application_name by default");
	assert_true(o.v == 1);
	cruise_probe_free(p);
	/* the conninfo's own name wins */
	p = pg_probe("application_name=mine", q2, true);
	o = expect(p, RUN_MS, CRUISE_PROBE_OK, "application_name=mine");
	assert_true(o.v == 1);
	cruise_probe_free(p);
}

static void test_pg_value(void **state)
{
	struct cruise_probe *p = pg_probe(NULL, "SELECT v FROM health", true);
	struct cruise_probe *multi =
		pg_probe(NULL, "SET search_path = public; SELECT v * 2 FROM health", true);
	struct outcome o;

	(void)state;
	admin("CREATE TABLE health(v double precision)");
	admin("INSERT INTO health VALUES (0.25)");
	o = expect(p, RUN_MS, CRUISE_PROBE_OK, "SELECT v FROM health");
	assert_true(o.v == 0.25);
	admin("UPDATE health SET v = -1.5e3");
	o = expect(p, RUN_MS, CRUISE_PROBE_OK, "after the UPDATE");
	assert_true(o.v == -1500);
	admin("UPDATE health SET v = 7");
	o = expect(p, RUN_MS, CRUISE_PROBE_OK, "after the second UPDATE");
	assert_true(o.v == 7);
	/* several statements: the last result is the value */
	o = expect(multi, RUN_MS, CRUISE_PROBE_OK, "SET; SELECT");
	assert_true(o.v == 14);
	cruise_probe_free(p);
	cruise_probe_free(multi);
}

static void test_pg_bad_answers(void **state)
{
	static const char *const garbage[] = {
		"SELECT 'abc'",
		"SELECT 1, 2",
		"SELECT 1 WHERE false",
		"SELECT 1 UNION ALL SELECT 2",
		"SELECT NULL::float8",
		"SELECT 'NaN'::float8",
		"SELECT 'Infinity'::float8",
		"SELECT ' 1'",
		"SELECT '0x10'",
		"SELECT '1e999'",
		"SELECT ''",
		"SET search_path = public",
		";", /* an empty query */
	};
	static const char *const query[] = {
		"SELECT 1/0",
		"SELECT v FROM missing_table",
		"SELEC 1",
		"SELECT 1; SELECT 1/0",
	};
	struct cruise_probe *p;
	struct outcome o;

	(void)state;
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		p = pg_probe(NULL, garbage[i], true);
		o = expect(p, RUN_MS, CRUISE_PROBE_GARBAGE, garbage[i]);
		print_message("%-28s garbage: %s\n", garbage[i], o.err);
		cruise_probe_free(p);
	}
	for (size_t i = 0; i < sizeof(query) / sizeof(query[0]); i++) {
		for (int value = 0; value < 2; value++) {
			p = pg_probe(NULL, query[i], value);
			o = expect(p, RUN_MS, CRUISE_PROBE_QUERY, query[i]);
			cruise_probe_free(p);
		}
		print_message("%-28s query: %s\n", query[i], o.err);
	}
}

static void test_pg_timeout(void **state)
{
	/* the test sets how long the probe's query sleeps, and what it returns */
	struct cruise_probe *p =
		pg_probe(NULL, "SELECT w.v FROM wait w, LATERAL pg_sleep(w.s) AS nothing", true);
	struct cruise_probe *sleepy = pg_probe(NULL, "SELECT pg_sleep(5)", false);
	struct outcome o;

	(void)state;
	admin("CREATE TABLE wait(s double precision, v double precision)");
	admin("INSERT INTO wait VALUES (0, 1)");
	o = expect(p, RUN_MS, CRUISE_PROBE_OK, "no sleep");
	assert_true(o.v == 1);
	admin("UPDATE wait SET s = 5, v = 2");
	o = expect(p, SHORT_MS, CRUISE_PROBE_TIMEOUT, "a 5 s sleep, 300 ms deadline");
	print_message("timed out after %.1f ms (deadline %d ms): %s\n", o.took_ms, SHORT_MS, o.err);
	/* the next run is a new query on a new connection, not the first one's late answer */
	admin("UPDATE wait SET s = 0, v = 3");
	o = expect(p, RUN_MS, CRUISE_PROBE_OK, "the run after the timeout");
	assert_true(o.v == 3);
	o = expect(sleepy, SHORT_MS, CRUISE_PROBE_TIMEOUT, "SELECT pg_sleep(5)");
	assert_true(o.took_ms >= SHORT_MS - 1);
	print_message("SELECT pg_sleep(5): timed out after %.1f ms (deadline %d ms)\n", o.took_ms,
		      SHORT_MS);
	cruise_probe_free(p);
	cruise_probe_free(sleepy);
}

static void test_pg_server_gone(void **state)
{
	struct cruise_probe *p = pg_probe(NULL, NULL, false);
	struct outcome o;

	(void)state;
	expect(p, RUN_MS, CRUISE_PROBE_OK, "before the stop");
	assert_int_equal(th_pg_halt(&pgs->pg, pgs->log), 0);
	o = expect(p, RUN_MS, CRUISE_PROBE_CONNECT, "the server stopped (the kept connection)");
	print_message("server stopped: connect after %.2f ms: %s\n", o.took_ms, o.err);
	assert_true(o.took_ms < RUN_MS / 2);
	o = expect(p, RUN_MS, CRUISE_PROBE_CONNECT, "the server stopped (a new connection)");
	print_message("server stopped: connect after %.2f ms: %s\n", o.took_ms, o.err);
	assert_true(o.took_ms < RUN_MS / 2);
	assert_int_equal(th_pg_restart(&pgs->pg, pgs->log), 0);
	expect(p, RUN_MS, CRUISE_PROBE_OK, "the server restarted");
	/* a restart between two runs: the kept connection is found broken, and replaced at once */
	assert_int_equal(th_pg_halt(&pgs->pg, pgs->log), 0);
	assert_int_equal(th_pg_restart(&pgs->pg, pgs->log), 0);
	o = expect(p, RUN_MS, CRUISE_PROBE_OK, "the first run after a restart");
	print_message("first run after a restart: %.2f ms\n", o.took_ms);
	cruise_probe_free(p);
}

static void test_pg_no_server(void **state)
{
	struct cruise_probe_pg_opts opts = { 0 };
	struct cruise_probe *p;
	struct th_listener l;
	struct outcome o;
	char ci[256];

	(void)state;
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%u user=postgres", th_free_port("127.0.0.1"));
	opts.conninfo = ci;
	p = cruise_probe_pg_new(&opts);
	assert_non_null(p);
	o = expect(p, RUN_MS, CRUISE_PROBE_CONNECT, "a port nobody listens on");
	print_message("refused: %.2f ms: %s\n", o.took_ms, o.err);
	cruise_probe_free(p);

	/* the TCP handshake completes in the kernel's backlog; nothing ever answers */
	assert_int_equal(th_listener_start(&l, "127.0.0.1", false, 16), 0);
	snprintf(ci, sizeof(ci), "host=127.0.0.1 port=%u user=postgres", l.port);
	p = cruise_probe_pg_new(&opts);
	assert_non_null(p);
	o = expect(p, SHORT_MS, CRUISE_PROBE_TIMEOUT, "a listener that never answers");
	print_message("unanswered: timed out after %.1f ms (deadline %d ms): %s\n", o.took_ms,
		      SHORT_MS, o.err);
	assert_true(o.took_ms >= SHORT_MS - 1);
	cruise_probe_free(p);
	th_listener_stop(&l);
}

static void test_pg_password(void **state)
{
	char path[PATH_MAX + 32], *hba, line[128], *text;
	struct cruise_probe *bad, *good, *unparsable;
	struct outcome o;
	__u64 until;

	(void)state;
	admin("CREATE ROLE probe_pw LOGIN PASSWORD '" PASSWORD "'");
	/* password authentication for that role alone, ahead of the trust lines */
	snprintf(path, sizeof(path), "%s/data/pg_hba.conf", pgs->pg.dir);
	hba = th_slurp(path);
	assert_non_null(hba);
	snprintf(line, sizeof(line), "host all probe_pw 127.0.0.1/32 scram-sha-256\n");
	assert_int_not_equal(asprintf(&text, "%s%s", line, hba), -1);
	assert_int_equal(th_write_file(path, text), 0);
	free(text);
	free(hba);
	admin("SELECT pg_reload_conf()");

	bad = pg_probe("user=probe_pw password=wrong-" PASSWORD, NULL, false);
	good = pg_probe("user=probe_pw password=" PASSWORD, NULL, false);
	/* the server rereads pg_hba.conf on its own time */
	until = cruise_now_ns() + 10000 * NSEC_PER_MSEC;
	do {
		o = run_probe(bad, RUN_MS);
		if (o.e)
			break;
		usleep(20000);
	} while (cruise_now_ns() < until);
	print_message("bad password: %s: %s\n", cruise_probe_error_name(o.e), o.err);
	assert_int_equal(o.e, CRUISE_PROBE_CONNECT);
	assert_null(strstr(o.err, PASSWORD));
	assert_non_null(strstr(o.err, "password"));
	expect(good, RUN_MS, CRUISE_PROBE_OK, "the right password");

	/* a conninfo that does not parse: libpq's message would quote the password's tail */
	unparsable = pg_probe("password=" PASSWORD " x" PASSWORD, NULL, false);
	o = expect(unparsable, RUN_MS, CRUISE_PROBE_CONNECT, "a conninfo that does not parse");
	assert_null(strstr(o.err, PASSWORD));
	print_message("unparsable conninfo: %s\n", o.err);
	cruise_probe_free(bad);
	cruise_probe_free(good);
	cruise_probe_free(unparsable);
}

static void test_pg_host_names(void **state)
{
	struct cruise_probe *p;
	struct outcome o;
	char extra[128];

	(void)state;
	/* resolved by the probe, then hostaddr for libpq */
	p = pg_probe("host=localhost", NULL, false);
	o = expect(p, RUN_MS, CRUISE_PROBE_OK, "host=localhost");
	print_message("host=localhost: %.2f ms\n", o.took_ms);
	cruise_probe_free(p);
	/* a name that does not resolve is skipped, as libpq does; each host its own port */
	snprintf(extra, sizeof(extra), "host=cruise-probe.invalid,localhost port=1,%u",
		 pgs->pg.port);
	p = pg_probe(extra, NULL, false);
	o = expect(p, RUN_MS, CRUISE_PROBE_OK, "an unresolvable name, then localhost");
	cruise_probe_free(p);
	/* nothing resolves: connect, or timeout if the resolver is slow, within the deadline */
	p = pg_probe("host=cruise-probe.invalid", NULL, false);
	o = run_probe(p, SHORT_MS);
	print_message("host=cruise-probe.invalid: %s after %.1f ms: %s\n",
		      cruise_probe_error_name(o.e), o.took_ms, o.err);
	assert_true(o.e == CRUISE_PROBE_CONNECT || o.e == CRUISE_PROBE_TIMEOUT);
	cruise_probe_free(p);
}

/* Notices go nowhere: libpq's default would print them on the agent's stderr. */
static void test_pg_notice(void **state)
{
	struct cruise_probe *p =
		pg_probe(NULL, "DO $$BEGIN RAISE NOTICE 'cruise-notice'; END$$; SELECT 5", true);
	char path[128], *text;
	struct outcome o;
	int fd, saved;

	(void)state;
	snprintf(path, sizeof(path), "%s/stderr", pgs->tmp);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	dup2(fd, 2);
	o = run_probe(p, RUN_MS);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	assert_int_equal(o.e, CRUISE_PROBE_OK);
	assert_true(o.v == 5);
	text = th_slurp(path);
	assert_null(strstr(text, "cruise-notice"));
	free(text);
	cruise_probe_free(p);
}

/*
 * A lookup given up on at the deadline finishes in its own thread, which frees it (valgrind
 * shows no leak); the caller never waits for it.
 */
static void test_resolve_give_up(void **state)
{
	int done = 0, gave_up = 0;
	char err[256];

	(void)state;
	for (int i = 0; i < 50; i++) {
		__u64 t0 = cruise_now_ns();
		char **addrs;
		size_t n;
		int rc = cruise_probe_resolve("localhost", t0, &addrs, &n, err, sizeof(err));

		assert_true(cruise_now_ns() - t0 < SLACK_MS * NSEC_PER_MSEC);
		if (rc == -ETIMEDOUT) {
			gave_up++;
			continue;
		}
		assert_int_equal(rc, 0);
		assert_true(n >= 1);
		cruise_probe_addrs_free(addrs, n);
		done++;
	}
	print_message("lookups at a passed deadline: %d given up on, %d done first\n", gave_up,
		      done);
	usleep(200000); /* the threads given up on finish */
}

static void test_pg_deadline_passed(void **state)
{
	struct cruise_probe *p = pg_probe(NULL, NULL, false);
	char err[128];
	double v = -1;

	(void)state;
	assert_int_equal(cruise_probe_run(p, cruise_now_ns() - 1, &v, err, sizeof(err)),
			 CRUISE_PROBE_TIMEOUT);
	assert_true(v == -1);
	expect(p, RUN_MS, CRUISE_PROBE_OK, "then in time");
	cruise_probe_free(p);
}

/* Prometheus */

struct prom_state {
	struct th_prom prom;
	bool have_prom; /* else only the exporter runs */
};

static struct prom_state *ps;

static int prom_teardown(void **state)
{
	(void)state;
	if (!ps)
		return 0;
	if (ps->have_prom)
		th_prom_stop(&ps->prom);
	else if (ps->prom.exporter.d)
		th_exporter_stop(&ps->prom.exporter);
	free(ps);
	ps = NULL;
	return 0;
}

static int prom_setup(void **state)
{
	int err;

	(void)state;
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -1;
	err = th_prom_start(&ps->prom, 1);
	if (!err) {
		ps->have_prom = true;
		return 0;
	}
	if (err != -ENOENT) {
		free(ps);
		ps = NULL;
		return -1;
	}
	memset(&ps->prom, 0, sizeof(ps->prom));
	return th_exporter_start(&ps->prom.exporter, 1) ? -1 : 0;
}

static void need_prom(void)
{
	if (!ps->have_prom) {
		print_message("skipped: no Prometheus (apt-get install prometheus)\n");
		skip();
	}
}

static struct cruise_probe *prom_probe(const char *url, const char *query, const char *token)
{
	struct cruise_probe_prom_opts o = { .url = url, .query = query, .bearer_token = token };
	struct cruise_probe *p = cruise_probe_prom_new(&o);

	assert_non_null(p);
	return p;
}

/* the fake API: the exporter's own port */
static const char *exporter_url(void)
{
	static char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%u", ps->prom.exporter.port);
	return url;
}

static void test_prom_follows(void **state)
{
	struct cruise_probe *p;
	double took[20], ms;
	struct outcome o;
	char url[80];

	(void)state;
	need_prom();
	p = prom_probe(ps->prom.url, "cruise_test_value", NULL);
	th_exporter_set(&ps->prom.exporter, 2.5);
	ms = follow(p, 2.5, "cruise_test_value = 2.5");
	print_message("the probe saw 2.5 after %.0f ms\n", ms);
	th_exporter_set(&ps->prom.exporter, -7e-3);
	ms = follow(p, -7e-3, "cruise_test_value = -0.007");
	print_message("the probe saw -0.007 after %.0f ms\n", ms);
	for (int i = 0; i < 20; i++) {
		o = expect(p, RUN_MS, CRUISE_PROBE_OK, "cruise_test_value");
		took[i] = o.took_ms;
	}
	qsort(took, 20, sizeof(took[0]), cmp_double);
	print_message("Prometheus instant query: p50 %.2f ms, max %.2f ms over 20 runs\n", took[10],
		      took[19]);
	cruise_probe_free(p);
	/* a scalar result; a trailing slash on the URL */
	snprintf(url, sizeof(url), "%s/", ps->prom.url);
	p = prom_probe(url, "scalar(cruise_test_value) * 2", NULL);
	o = expect(p, RUN_MS, CRUISE_PROBE_OK, "a scalar");
	assert_true(o.v == -14e-3);
	cruise_probe_free(p);
}

static void test_prom_garbage(void **state)
{
	static const char *const garbage[] = {
		"cruise_test_value[10s]",	  /* a matrix */
		"nonexistent_metric",		  /* no sample */
		"cruise_test_value or vector(1)", /* two */
		"0/0",				  /* NaN */
		"vector(1)/0",			  /* +Inf */
		"\"a string\"",			  /* a string */
	};
	struct cruise_probe *p;
	struct outcome o;

	(void)state;
	need_prom();
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
		p = prom_probe(ps->prom.url, garbage[i], NULL);
		o = expect(p, RUN_MS, CRUISE_PROBE_GARBAGE, garbage[i]);
		print_message("%-32s garbage: %s\n", garbage[i], o.err);
		cruise_probe_free(p);
	}
	p = prom_probe(ps->prom.url, "sum(", NULL);
	o = expect(p, RUN_MS, CRUISE_PROBE_QUERY, "bad PromQL");
	assert_non_null(strstr(o.err, "HTTP 400"));
	print_message("%-32s query: %s\n", "sum(", o.err);
	cruise_probe_free(p);
}

/* The fake API at the exporter's port: answers the tests choose. */
static void test_prom_fake_api(void **state)
{
	static const struct {
		int status;
		const char *body;
		enum cruise_probe_error want;
	} cases[] = {
		{ 0, NULL, CRUISE_PROBE_QUERY }, /* 404 text */
		{ 200, "hello", CRUISE_PROBE_GARBAGE },
		{ 200, "", CRUISE_PROBE_GARBAGE },
		{ 200, "{\"status\":\"success\"}", CRUISE_PROBE_GARBAGE },
		{ 200, "{\"status\":\"error\",\"error\":\"busy\"}", CRUISE_PROBE_QUERY },
		{ 200,
		  "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":"
		  "[{\"metric\":{},\"histogram\":[1,{}]}]}}",
		  CRUISE_PROBE_GARBAGE },
		{ 200,
		  "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,2]}}",
		  CRUISE_PROBE_GARBAGE },
		{ 200,
		  "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1,\"+"
		  "Inf\"]}}",
		  CRUISE_PROBE_GARBAGE },
		{ 503,
		  "{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":\"query timed out\"}",
		  CRUISE_PROBE_QUERY },
		{ 500, "<html>proxy error</html>", CRUISE_PROBE_QUERY },
		{ 302, "", CRUISE_PROBE_QUERY },
		{ 401, "unauthorized", CRUISE_PROBE_CONNECT },
		{ 403, "forbidden", CRUISE_PROBE_CONNECT },
	};
	struct th_exporter *x = &ps->prom.exporter;
	struct cruise_probe *p = prom_probe(exporter_url(), "up", "tok-" PASSWORD);
	struct outcome o;
	char *big;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char what[96];

		th_exporter_api(x, cases[i].status, cases[i].body);
		snprintf(what, sizeof(what), "HTTP %d %.40s", cases[i].status,
			 cases[i].body ? cases[i].body : "(404)");
		o = expect(p, RUN_MS, cases[i].want, what);
		assert_null(strstr(o.err, PASSWORD));
		print_message("%-44s %s: %s\n", what, cruise_probe_error_name(o.e), o.err);
	}
	/* over the cap */
	big = malloc(2 << 20);
	assert_non_null(big);
	memset(big, ' ', 2 << 20);
	big[(2 << 20) - 1] = '\0';
	th_exporter_api(x, 200, big);
	free(big);
	o = expect(p, RUN_MS, CRUISE_PROBE_GARBAGE, "a 2 MiB answer");
	print_message("a 2 MiB answer: %s\n", o.err);
	th_exporter_api(x, 0, NULL);
	cruise_probe_free(p);
}

static void test_prom_bearer(void **state)
{
	const char *ok = "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\","
			 "\"result\":[1700000000.5,\"42.5\"]}}";
	const char *query = "sum(rate(x{a=\"b c\",d=~\"e|f\"}[5m])) / 2 + 1 & ?#";
	struct th_exporter *x = &ps->prom.exporter;
	struct cruise_probe *p;
	char auth[256], q[256];
	unsigned int n;
	struct outcome o;

	(void)state;
	th_exporter_api(x, 200, ok);
	p = prom_probe(exporter_url(), query, "tok-" PASSWORD);
	o = expect(p, RUN_MS, CRUISE_PROBE_OK, "the fake API's scalar");
	assert_true(o.v == 42.5);
	n = th_exporter_last(x, auth, sizeof(auth), q, sizeof(q));
	assert_true(n > 0);
	assert_string_equal(auth, "Bearer tok-" PASSWORD);
	assert_string_equal(q, query); /* escaped by the probe, decoded by the server */
	cruise_probe_free(p);
	/* no token, no header */
	p = prom_probe(exporter_url(), "up", NULL);
	expect(p, RUN_MS, CRUISE_PROBE_OK, "without a token");
	assert_int_equal(th_exporter_last(x, auth, sizeof(auth), q, sizeof(q)), n + 1);
	assert_string_equal(auth, "");
	cruise_probe_free(p);
	/* a token that would split the header is refused, not sent */
	p = prom_probe(exporter_url(), "up", "tok\r\nX-Evil: 1");
	expect(p, RUN_MS, CRUISE_PROBE_CONNECT, "a token with CR LF");
	assert_int_equal(th_exporter_last(x, NULL, 0, NULL, 0), n + 1);
	cruise_probe_free(p);
	th_exporter_api(x, 0, NULL);
}

static void test_prom_no_server(void **state)
{
	struct cruise_probe *p;
	struct th_listener l;
	struct outcome o;
	char url[64];

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", th_free_port("127.0.0.1"));
	p = prom_probe(url, "up", NULL);
	o = expect(p, RUN_MS, CRUISE_PROBE_CONNECT, "a port nobody listens on");
	print_message("refused: %.2f ms: %s\n", o.took_ms, o.err);
	cruise_probe_free(p);

	assert_int_equal(th_listener_start(&l, "127.0.0.1", false, 16), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", l.port);
	p = prom_probe(url, "up", NULL);
	o = expect(p, SHORT_MS, CRUISE_PROBE_TIMEOUT, "a listener that never answers");
	print_message("unanswered: timed out after %.1f ms (deadline %d ms): %s\n", o.took_ms,
		      SHORT_MS, o.err);
	assert_true(o.took_ms >= SHORT_MS - 2);
	cruise_probe_free(p);
	th_listener_stop(&l);

	p = prom_probe("ftp://127.0.0.1:21", "up", NULL);
	o = expect(p, RUN_MS, CRUISE_PROBE_CONNECT, "an ftp URL");
	print_message("ftp URL: %s\n", o.err);
	cruise_probe_free(p);
	p = prom_probe("http://cruise-probe.invalid:9090", "up", NULL);
	o = run_probe(p, SHORT_MS);
	print_message("an unresolvable host: %s after %.1f ms: %s\n", cruise_probe_error_name(o.e),
		      o.took_ms, o.err);
	assert_true(o.e == CRUISE_PROBE_CONNECT || o.e == CRUISE_PROBE_TIMEOUT);
	cruise_probe_free(p);
}

static void test_error_names(void **state)
{
	(void)state;
	assert_string_equal(cruise_probe_error_name(CRUISE_PROBE_OK), "ok");
	assert_string_equal(cruise_probe_error_name(CRUISE_PROBE_CONNECT), "connect");
	assert_string_equal(cruise_probe_error_name(CRUISE_PROBE_TIMEOUT), "timeout");
	assert_string_equal(cruise_probe_error_name(CRUISE_PROBE_QUERY), "query");
	assert_string_equal(cruise_probe_error_name(CRUISE_PROBE_GARBAGE), "garbage");
	cruise_probe_free(NULL);
}

int main(void)
{
	const struct CMUnitTest pg_tests[] = {
		cmocka_unit_test(test_error_names),
		cmocka_unit_test(test_pg_latency),
		cmocka_unit_test(test_pg_application_name),
		cmocka_unit_test(test_pg_value),
		cmocka_unit_test(test_pg_bad_answers),
		cmocka_unit_test(test_pg_timeout),
		cmocka_unit_test(test_pg_no_server),
		cmocka_unit_test(test_pg_password),
		cmocka_unit_test(test_pg_host_names),
		cmocka_unit_test(test_pg_deadline_passed),
		cmocka_unit_test(test_pg_notice),
		cmocka_unit_test(test_resolve_give_up),
		cmocka_unit_test(test_pg_server_gone),
	};
	const struct CMUnitTest prom_tests[] = {
		cmocka_unit_test(test_prom_follows),   cmocka_unit_test(test_prom_garbage),
		cmocka_unit_test(test_prom_fake_api),  cmocka_unit_test(test_prom_bearer),
		cmocka_unit_test(test_prom_no_server),
	};
	int failed;

	failed = cmocka_run_group_tests_name("probe_pg", pg_tests, pg_setup, pg_teardown);
	failed += cmocka_run_group_tests_name("probe_prom", prom_tests, prom_setup, prom_teardown);
	return failed ? 1 : 0;
}
