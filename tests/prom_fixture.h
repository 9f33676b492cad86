/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A throwaway Prometheus for the probes' tests: Debian's /usr/bin/prometheus (or
 * $CRUISE_PROMETHEUS) on 127.0.0.1 at a free port, its config and TSDB in a temp dir of its own,
 * scraping every second an exporter served by the test program itself (libmicrohttpd, in its own
 * thread) whose one series, cruise_test_value, the test sets. The exporter's other paths answer
 * what the test sets (404 by default): a fake Prometheus API for the answers a real one never
 * gives, which records the Authorization header and the query it was sent.
 */
#ifndef CRUISE_TEST_PROM_FIXTURE_H
#define CRUISE_TEST_PROM_FIXTURE_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct MHD_Daemon;

struct th_exporter {
	struct MHD_Daemon *d;
	uint16_t port;
	pthread_mutex_t lock;
	double value;	/* GET /metrics: cruise_test_value VALUE */
	int api_status; /* any other path: this status and body; 0: 404 */
	char *api_body;
	char auth[256];	 /* the last such request's Authorization header; "" if none */
	char query[256]; /* ... and its query argument, decoded; "" if none */
	unsigned int api_requests, scrapes;
};

/* On 127.0.0.1 at an ephemeral port. 0 or -1. */
int th_exporter_start(struct th_exporter *x, double value);
void th_exporter_set(struct th_exporter *x, double value);
/* What every path but /metrics answers from now on: status (0: 404 "not found") and body. */
void th_exporter_api(struct th_exporter *x, int status, const char *body);
/* The last request's Authorization header and query argument; the count of such requests. */
unsigned int th_exporter_last(struct th_exporter *x, char *auth, size_t alen, char *query,
			      size_t qlen);
void th_exporter_stop(struct th_exporter *x);

struct th_prom {
	pid_t pid;
	uint16_t port;
	char dir[PATH_MAX]; /* /tmp/cruise-prom.XXXXXX: prometheus.yml, data/, prometheus.log */
	char url[64];	    /* http://127.0.0.1:PORT */
	struct th_exporter exporter;
};

/* /usr/bin/prometheus, or $CRUISE_PROMETHEUS; NULL if not executable. */
const char *th_prom_bin(void);
/*
 * The exporter at value, then Prometheus scraping it every second; waits (at most 30 s) until the
 * instant query cruise_test_value returns a sample. 0; -ENOENT when there is no Prometheus to
 * run; another -errno when it failed (its log printed). Stopped and cleaned up on failure.
 */
int th_prom_start(struct th_prom *p, double value);
/*
 * Prometheus (no exporter) scraping 127.0.0.1:port every second, and evaluating rule_file
 * (an absolute path; NULL: none) every second; waits as th_prom_start until query has a sample.
 */
int th_prom_start_target(struct th_prom *p, uint16_t port, const char *rule_file,
			 const char *query);
/* GET /api/v1/query?query=QUERY (encoded): the HTTP status (or -errno) and the body to free. */
int th_prom_query(const struct th_prom *p, const char *query, char **body);
/* The instant query returns a vector with at least one sample. */
bool th_prom_has_sample(const struct th_prom *p, const char *query);
/* SIGTERM, a wait (then SIGKILL), the exporter stopped, the temp dir removed. */
void th_prom_stop(struct th_prom *p);

#endif /* CRUISE_TEST_PROM_FIXTURE_H */
