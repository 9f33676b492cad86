// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The PostgreSQL probe (probe.h): one persistent libpq connection, every step bounded by the
 * run's deadline (CLOCK_MONOTONIC) through poll() on libpq's socket, never through libpq's own
 * connect_timeout (whole seconds, at least 2):
 *   - host names are resolved first, in a thread the run waits for at most until the deadline
 *     (probe_int.h), and handed to libpq as hostaddr beside host (TLS still verifies the name);
 *     only a host set by a service file escapes this, and libpq resolves it blocking;
 *   - PQconnectStartParams + PQconnectPoll; then PQsetnonblocking, and PQsendQuery, PQflush,
 *     PQconsumeInput/PQisBusy until every result is in (ReadyForQuery).
 * Latency mode: the signal is the time from PQsendQuery to the last result, in seconds. Value
 * mode: the last result must be one row of one column, not NULL, a finite number in decimal.
 * Any failure, the deadline included, drops the connection (PQfinish) and the next run opens a
 * new one: a cut query can leave nothing behind for the next run to read. A kept connection that
 * turns out broken (the server restarted since the last run) is reopened once within the run,
 * so that the signal is what a new client gets. A query cut by the deadline is not cancelled
 * (PQcancel blocks): the server ends it at its statement_timeout, or when it next writes to the
 * closed socket; options='-c statement_timeout=...' in the conninfo bounds heavy queries.
 * application_name is cruise-probe unless the conninfo (or PGAPPNAME) sets one. Notices are
 * dropped: libpq would print them on the agent's stderr. The conninfo is never in a message, and
 * its password, should a server echo it, is masked.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "probe_int.h"

#define APP_NAME  "cruise-probe"
#define SHOWN_MAX 40 /* bytes of an answer that is not a number, shown in the message */

struct pg_probe {
	struct cruise_probe base; /* first: probe.c casts */
	char *conninfo, *query;
	bool value;
	PQconninfoOption *opts; /* the conninfo parsed once; NULL if it does not parse */
	PGconn *conn;		/* NULL, or open and idle between runs */
};

/* the parameters of one connect: the conninfo's, host names replaced by their addresses */
struct pg_params {
	const char **kw, **val;
	char *host, *hostaddr, *port; /* the lists built by pg_resolve, or NULL */
};

static const char *opt(const struct pg_probe *p, const char *keyword)
{
	for (const PQconninfoOption *o = p->opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, keyword))
			return o->val;
	return NULL;
}

static void ignore_notice(void *arg, const char *message)
{
	(void)arg, (void)message;
}

/* Socket readiness, or 0 once the deadline passed, or -errno. */
static int wait_socket(PGconn *c, short events, __u64 deadline_ns)
{
	struct pollfd pfd = { .fd = PQsocket(c), .events = events };

	if (pfd.fd < 0)
		return -EBADF;
	for (;;) {
		int ms = cruise_probe_ms_left(deadline_ns), rc;

		if (!ms)
			return 0;
		rc = poll(&pfd, 1, ms);
		if (rc > 0)
			return pfd.revents;
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

/* hosts and ports: libpq's lists */

/* A comma-separated list, split in place (libpq knows no escape in these lists). */
static size_t split(char *s, char ***parts)
{
	size_t n = 1;

	for (const char *c = s; *c; c++)
		n += *c == ',';
	*parts = calloc(n, sizeof(**parts));
	if (!*parts)
		return 0;
	for (size_t i = 0; i < n; i++)
		(*parts)[i] = strsep(&s, ",");
	return n;
}

/* A host libpq would not look up: none (the default socket), a socket directory, an address. */
static bool needs_no_lookup(const char *h)
{
	unsigned char a[sizeof(struct in6_addr)];

	return !*h || *h == '/' || *h == '@' || inet_pton(AF_INET, h, a) == 1 ||
	       inet_pton(AF_INET6, h, a) == 1;
}

struct lists {
	FILE *host, *hostaddr, *port; /* port: NULL when one port serves all hosts */
	size_t n;
};

static void emit(struct lists *l, const char *host, const char *addr, const char *port)
{
	const char *sep = l->n++ ? "," : "";

	fprintf(l->host, "%s%s", sep, host);
	fprintf(l->hostaddr, "%s%s", sep, addr);
	if (l->port)
		fprintf(l->port, "%s%s", sep, port);
}

/*
 * Each host name becomes as many entries as it has addresses: host=NAME,NAME hostaddr=A1,A2 is
 * what libpq would try for host=NAME, without its blocking lookup. A name that does not resolve is
 * left out, as libpq skips it; none left is a failure to connect.
 */
static enum cruise_probe_error pg_resolve(struct pg_params *pp, const char *host, const char *port,
					  __u64 deadline_ns, char *err, size_t errlen)
{
	char *hosts = strdup(host), *ports = port ? strdup(port) : NULL, **hv = NULL, **pv = NULL;
	size_t nh = hosts ? split(hosts, &hv) : 0, np = ports ? split(ports, &pv) : 0, hs, as, ps;
	enum cruise_probe_error e = CRUISE_PROBE_OK;
	struct lists l = { 0 };
	char why[256] = "";
	bool looked_up = false;

	if (!nh || (port && !np)) {
		e = cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen, "out of memory");
		goto out;
	}
	if (np > 1 && np != nh)
		goto out; /* libpq says why */
	l.host = open_memstream(&pp->host, &hs);
	l.hostaddr = open_memstream(&pp->hostaddr, &as);
	if (np > 1)
		l.port = open_memstream(&pp->port, &ps);
	if (!l.host || !l.hostaddr || (np > 1 && !l.port)) {
		e = cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nh; i++) {
		const char *hp = np > 1 ? pv[i] : NULL;
		char **addrs;
		size_t na;
		int rc;

		if (needs_no_lookup(hv[i])) {
			emit(&l, hv[i], "", hp);
			continue;
		}
		looked_up = true;
		rc = cruise_probe_resolve(hv[i], deadline_ns, &addrs, &na, why[0] ? NULL : why,
					  why[0] ? 0 : sizeof(why));
		if (rc == -ETIMEDOUT) {
			e = cruise_probe_fail(CRUISE_PROBE_TIMEOUT, err, errlen,
					      "resolving \"%s\" took past the deadline", hv[i]);
			goto out;
		}
		for (size_t k = 0; !rc && k < na; k++)
			emit(&l, hv[i], addrs[k], hp);
		if (!rc)
			cruise_probe_addrs_free(addrs, na);
	}
	if (!l.n)
		e = cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen, "%s", why);
out:
	if (l.host)
		fclose(l.host);
	if (l.hostaddr)
		fclose(l.hostaddr);
	if (l.port)
		fclose(l.port);
	if (e || !looked_up) {
		/* nothing to replace: libpq gets the conninfo's own lists */
		free(pp->host);
		free(pp->hostaddr);
		free(pp->port);
		pp->host = pp->hostaddr = pp->port = NULL;
	}
	free(hv);
	free(pv);
	free(hosts);
	free(ports);
	return e;
}

static void params_free(struct pg_params *pp)
{
	free(pp->kw);
	free(pp->val);
	free(pp->host);
	free(pp->hostaddr);
	free(pp->port);
}

static enum cruise_probe_error pg_params(const struct pg_probe *p, struct pg_params *pp,
					 __u64 deadline_ns, char *err, size_t errlen)
{
	const char *host = opt(p, "host"), *hostaddr = opt(p, "hostaddr"), *port = opt(p, "port");
	enum cruise_probe_error e;
	size_t n = 0, k = 0;

	memset(pp, 0, sizeof(*pp));
	/* what libpq would take from the environment, looked up here all the same */
	if (!host)
		host = getenv("PGHOST");
	if (!hostaddr)
		hostaddr = getenv("PGHOSTADDR");
	if (!port)
		port = getenv("PGPORT");
	if (host && *host && !(hostaddr && *hostaddr)) {
		e = pg_resolve(pp, host, port, deadline_ns, err, errlen);
		if (e)
			return e;
	}
	for (const PQconninfoOption *o = p->opts; o->keyword; o++)
		n++;
	pp->kw = calloc(n + 5, sizeof(*pp->kw));
	pp->val = calloc(n + 5, sizeof(*pp->val));
	if (!pp->kw || !pp->val) {
		params_free(pp);
		return cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen, "out of memory");
	}
	for (const PQconninfoOption *o = p->opts; o->keyword; o++) {
		bool replaced = pp->host &&
				(!strcmp(o->keyword, "host") || !strcmp(o->keyword, "hostaddr") ||
				 (pp->port && !strcmp(o->keyword, "port")));

		if (!o->val || replaced)
			continue;
		pp->kw[k] = o->keyword;
		pp->val[k++] = o->val;
	}
	if (pp->host) {
		pp->kw[k] = "host";
		pp->val[k++] = pp->host;
		pp->kw[k] = "hostaddr";
		pp->val[k++] = pp->hostaddr;
	}
	if (pp->port) {
		pp->kw[k] = "port";
		pp->val[k++] = pp->port;
	}
	/* libpq's own way to name a client that did not name itself */
	if (!opt(p, "fallback_application_name")) {
		pp->kw[k] = "fallback_application_name";
		pp->val[k++] = APP_NAME;
	}
	return CRUISE_PROBE_OK;
}

/* connect and query */

static enum cruise_probe_error lost(PGconn *c, char *err, size_t errlen)
{
	const char *m = PQerrorMessage(c);

	return cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen, "%s",
				 *m ? m : "the connection was lost");
}

static enum cruise_probe_error pg_connect(struct pg_probe *p, __u64 deadline_ns, char *err,
					  size_t errlen)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING; /* what libpq says to start with */
	enum cruise_probe_error e;
	struct pg_params pp;
	PGconn *c;

	if (!p->opts)
		return cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen,
					 "the connection string does not parse");
	e = pg_params(p, &pp, deadline_ns, err, errlen);
	if (e)
		return e;
	c = PQconnectStartParams(pp.kw, pp.val, 0);
	params_free(&pp);
	if (!c)
		return cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen, "out of memory");
	PQsetNoticeProcessor(c, ignore_notice, NULL);
	if (PQstatus(c) == CONNECTION_BAD)
		st = PGRES_POLLING_FAILED;
	while (st != PGRES_POLLING_OK) {
		int ev;

		if (st == PGRES_POLLING_FAILED) {
			e = lost(c, err, errlen);
			goto fail;
		}
		ev = wait_socket(c, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline_ns);
		if (!ev) {
			e = cruise_probe_fail(CRUISE_PROBE_TIMEOUT, err, errlen,
					      "the deadline passed while connecting");
			goto fail;
		}
		if (ev < 0) {
			e = cruise_probe_fail(CRUISE_PROBE_CONNECT, err, errlen, "poll: %s",
					      strerror(-ev));
			goto fail;
		}
		st = PQconnectPoll(c);
	}
	if (PQsetnonblocking(c, 1)) {
		e = lost(c, err, errlen);
		goto fail;
	}
	p->conn = c;
	return CRUISE_PROBE_OK;
fail:
	PQfinish(c);
	return e;
}

/* The last result of value mode: one row, one column, a finite number. */
static enum cruise_probe_error pg_number(const PGresult *r, double *value, char *err, size_t errlen)
{
	const char *s;

	if (!r || PQresultStatus(r) != PGRES_TUPLES_OK)
		return cruise_probe_fail(CRUISE_PROBE_GARBAGE, err, errlen,
					 "the query returned no rows; expected one number");
	if (PQnfields(r) != 1)
		return cruise_probe_fail(CRUISE_PROBE_GARBAGE, err, errlen,
					 "the query returned %d columns; expected one",
					 PQnfields(r));
	if (PQntuples(r) != 1)
		return cruise_probe_fail(CRUISE_PROBE_GARBAGE, err, errlen,
					 "the query returned %d rows; expected one", PQntuples(r));
	if (PQgetisnull(r, 0, 0))
		return cruise_probe_fail(CRUISE_PROBE_GARBAGE, err, errlen,
					 "the query returned NULL; expected a number");
	s = PQgetvalue(r, 0, 0);
	if (!cruise_probe_parse_number(s, value))
		return cruise_probe_fail(CRUISE_PROBE_GARBAGE, err, errlen,
					 "the query returned \"%.*s\"%s, not a finite number",
					 SHOWN_MAX, s, strlen(s) > SHOWN_MAX ? "..." : "");
	return CRUISE_PROBE_OK;
}

static enum cruise_probe_error pg_query(struct pg_probe *p, __u64 deadline_ns, double *value,
					char *err, size_t errlen)
{
	enum cruise_probe_error e = CRUISE_PROBE_OK;
	PGresult *last = NULL, *r;
	PGconn *c = p->conn;
	__u64 t0 = cruise_probe_now_ns(), t1;
	int ev, rc;

	if (!PQsendQuery(c, p->query))
		return lost(c, err, errlen);
	/* a non-blocking connection may keep part of the query: flush it, reading meanwhile */
	while ((rc = PQflush(c)) == 1) {
		ev = wait_socket(c, POLLIN | POLLOUT, deadline_ns);
		if (!ev)
			return cruise_probe_fail(CRUISE_PROBE_TIMEOUT, err, errlen,
						 "the deadline passed while sending the query");
		if (ev < 0 || ((ev & POLLIN) && !PQconsumeInput(c)))
			return lost(c, err, errlen);
	}
	if (rc < 0)
		return lost(c, err, errlen);
	/* every result, until libpq has seen the server ready again */
	for (;;) {
		while (PQisBusy(c)) {
			ev = wait_socket(c, POLLIN, deadline_ns);
			if (!ev) {
				PQclear(last);
				return cruise_probe_fail(
					CRUISE_PROBE_TIMEOUT, err, errlen,
					"the deadline passed waiting for the answer");
			}
			if (ev < 0 || !PQconsumeInput(c)) {
				PQclear(last);
				return lost(c, err, errlen);
			}
		}
		r = PQgetResult(c);
		if (!r)
			break;
		switch (PQresultStatus(r)) {
		case PGRES_TUPLES_OK:
		case PGRES_COMMAND_OK:
		case PGRES_EMPTY_QUERY:
			PQclear(last);
			last = r;
			break;
		case PGRES_FATAL_ERROR:
		case PGRES_NONFATAL_ERROR:
		case PGRES_BAD_RESPONSE:
			if (!e)
				e = cruise_probe_fail(CRUISE_PROBE_QUERY, err, errlen, "%s",
						      PQresultErrorMessage(r));
			PQclear(r);
			break;
		default: /* COPY: the connection is in a state this probe does not drive */
			e = cruise_probe_fail(CRUISE_PROBE_GARBAGE, err, errlen,
					      "the query returned %s; expected rows",
					      PQresStatus(PQresultStatus(r)));
			PQclear(r);
			PQclear(last);
			return e;
		}
	}
	t1 = cruise_probe_now_ns();
	if (PQstatus(c) == CONNECTION_BAD) {
		/* the server's last word (terminating connection ...), else libpq's */
		PQclear(last);
		return e ? CRUISE_PROBE_CONNECT : lost(c, err, errlen);
	}
	if (!e && p->value)
		e = pg_number(last, value, err, errlen);
	else if (!e)
		*value = (double)(t1 - t0) / 1e9;
	PQclear(last);
	return e;
}

static enum cruise_probe_error pg_run(struct cruise_probe *base, __u64 deadline_ns, double *value,
				      char *err, size_t errlen)
{
	struct pg_probe *p = (struct pg_probe *)base;
	enum cruise_probe_error e;

	for (int attempt = 0;; attempt++) {
		bool kept = p->conn != NULL;

		e = kept ? CRUISE_PROBE_OK : pg_connect(p, deadline_ns, err, errlen);
		/*
		 * A new backend's first query is slow (catalog caches cold: 0.4-0.8 ms against
		 * 0.2-0.3 ms, make bench-adaptive): on a new connection the second one is the
		 * sample, or a restarted agent would start by cutting its rates.
		 */
		if (!e && !kept)
			e = pg_query(p, deadline_ns, value, err, errlen);
		if (!e)
			e = pg_query(p, deadline_ns, value, err, errlen);
		if (!e)
			return e;
		if (p->conn) {
			PQfinish(p->conn);
			p->conn = NULL;
		}
		/* a kept connection found broken: once more on a new one */
		if (!(e == CRUISE_PROBE_CONNECT && kept && !attempt))
			break;
	}
	if (errlen)
		cruise_probe_redact(err, opt(p, "password"));
	return e;
}

static void pg_free(struct cruise_probe *base)
{
	struct pg_probe *p = (struct pg_probe *)base;

	if (p->conn)
		PQfinish(p->conn);
	if (p->opts)
		PQconninfoFree(p->opts);
	explicit_bzero(p->conninfo, strlen(p->conninfo)); /* it may hold a password */
	free(p->conninfo);
	free(p->query);
	free(p);
}

static const struct cruise_probe_ops pg_ops = { .run = pg_run, .free = pg_free };

struct cruise_probe *cruise_probe_pg_new(const struct cruise_probe_pg_opts *o)
{
	struct pg_probe *p = calloc(1, sizeof(*p));
	char *perr = NULL;

	if (!p)
		return NULL;
	p->base.ops = &pg_ops;
	p->value = o->value;
	p->conninfo = strdup(o->conninfo ? o->conninfo : "");
	p->query = strdup(o->query && *o->query ? o->query : "SELECT 1");
	if (!p->conninfo || !p->query)
		goto fail;
	/* a conninfo that does not parse fails at each run; its message could quote the password */
	p->opts = PQconninfoParse(p->conninfo, &perr);
	if (perr)
		PQfreemem(perr);
	else if (!p->opts)
		goto fail;
	return &p->base;
fail:
	free(p->conninfo);
	free(p->query);
	free(p);
	return NULL;
}
