/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Health probes for adaptive rates (docs/design.md, "Adaptive rates"): one number from the
 * database's side, taken within a deadline. A probe is used by one thread at a time (its
 * signal's thread in the agent) and never blocks past the deadline it is given: connects,
 * queries and HTTP requests all run against it.
 *
 * PostgreSQL (probe_pg.c): a persistent libpq connection, opened without blocking
 * (PQconnectStart/PQconnectPoll) and reopened after any failure. The signal is the latency of the
 * query in seconds, or with value the one number it returns (one row, one column, not NULL).
 *
 * Prometheus (probe_prom.c): an instant query on the HTTP API (GET URL/api/v1/query) with libcurl;
 * the answer must be a success with a scalar, or a vector of exactly one sample; a finite number.
 */
#ifndef CRUISE_PROBE_H
#define CRUISE_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* Why a probe failed: the label of cruise_signal_errors_total. */
enum cruise_probe_error {
	CRUISE_PROBE_OK,
	CRUISE_PROBE_CONNECT, /* no connection: refused, unreachable, authentication, TLS */
	CRUISE_PROBE_TIMEOUT, /* the deadline passed first */
	CRUISE_PROBE_QUERY,   /* the server answered with an error (SQL error, HTTP status) */
	CRUISE_PROBE_GARBAGE, /* an answer that is not one finite number */
	CRUISE_PROBE_ERROR_COUNT,
};

/* "connect", "timeout", "query", "garbage" ("ok" for CRUISE_PROBE_OK) */
const char *cruise_probe_error_name(enum cruise_probe_error e);

struct cruise_probe;

struct cruise_probe_pg_opts {
	const char *conninfo; /* a libpq connection string or URI (from dsn_file) */
	const char *query;    /* default "SELECT 1" */
	bool value;	      /* the query returns the signal; else its latency is the signal */
};

struct cruise_probe_prom_opts {
	const char *url;	  /* http(s)://host:port[/prefix]: /api/v1/query is appended */
	const char *query;	  /* PromQL */
	const char *bearer_token; /* NULL: no Authorization header */
};

/* NULL on allocation failure only: a bad server shows at the first run. The strings are copied. */
struct cruise_probe *cruise_probe_pg_new(const struct cruise_probe_pg_opts *o);
struct cruise_probe *cruise_probe_prom_new(const struct cruise_probe_prom_opts *o);

/*
 * Take one sample before deadline_ns (CLOCK_MONOTONIC). CRUISE_PROBE_OK and *value, or the kind
 * of failure and one line in err (no secret in it: never the connection string nor the token).
 */
enum cruise_probe_error cruise_probe_run(struct cruise_probe *p, __u64 deadline_ns, double *value,
					 char *err, size_t errlen);
void cruise_probe_free(struct cruise_probe *p);

#endif /* CRUISE_PROBE_H */
