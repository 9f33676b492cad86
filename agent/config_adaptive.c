// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The config's signals and each medium's adaptive block (config_raw.h). Secrets (dsn_file,
 * bearer_token_file) are read here, so that a missing file is an error with a line at --check and
 * at reload, not a probe failing later.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_raw.h"

#define SIGNAL_EVERY_MIN_NS (50 * 1000000ULL)
#define SIGNAL_EVERY_MAX_NS (3600 * 1000000000ULL)
#define SIGNAL_QUERY_MAX    4096
#define SIGNAL_URL_MAX	    1024
#define PRIORITY_MAX	    1000

static int sig_fail(struct cfg_ctx *c, unsigned int i, const char *key, unsigned int line,
		    const char *problem)
{
	char path[96];

	snprintf(path, sizeof(path), "signals[%u].%s", i, key);
	return cfg_fail(c, path, line, "%s", problem);
}

/* A plain finite number ("0.7", "40", "1e3"); nothing after it. */
static int parse_number(const char *s, double *out)
{
	char *end;

	if (!*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	*out = strtod(s, &end);
	return *end || errno || !isfinite(*out) ? -EINVAL : 0;
}

/* http(s)://HOST[:PORT][/PATH]: printable, no spaces, a host. */
static const char *url_problem(const char *s)
{
	const char *host;

	if (!strncmp(s, "http://", 7))
		host = s + 7;
	else if (!strncmp(s, "https://", 8))
		host = s + 8;
	else
		return "expected http://HOST:PORT or https://HOST:PORT (Prometheus' address)";
	if (!*host || *host == '/' || *host == ':')
		return "no host after the scheme";
	if (strlen(s) > SIGNAL_URL_MAX)
		return "longer than 1024 characters";
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return "spaces and control characters are not allowed in a URL";
	if (strchr(host, '?') || strchr(host, '#'))
		return "no query or fragment: /api/v1/query and its query are added by cruise";
	return NULL;
}

/* A query: not empty, not huge. */
static int take_query(struct cfg_ctx *c, unsigned int i, const char *key, const struct raw_str *v,
		      char **out)
{
	int ret = 0;

	if (!*v->s)
		return sig_fail(c, i, key, v->line, "empty");
	if (strlen(v->s) > SIGNAL_QUERY_MAX)
		return sig_fail(c, i, key, v->line, "longer than 4096 characters");
	*out = cfg_strdup(v->s, &ret);
	return ret;
}

/* A secret from a file, with the file's line in any error. */
static int take_secret(struct cfg_ctx *c, unsigned int i, const char *key, const struct raw_str *v,
		       struct cruise_cfg_signal *s, char **out)
{
	char q[QBUF], uerr[512];
	int ret = 0;

	if (!*v->s)
		return sig_fail(c, i, key, v->line, "empty");
	if (cruise_read_secret(v->s, cruise_quote(v->s, q, sizeof(q)), out, uerr, sizeof(uerr)))
		return sig_fail(c, i, key, v->line, uerr);
	s->file = cfg_strdup(v->s, &ret);
	return ret;
}

static int check_postgres(struct cfg_ctx *c, unsigned int i, const struct raw_postgres *r,
			  struct cruise_cfg_signal *s)
{
	char uerr[384];
	int ret;

	s->kind = CRUISE_SIGNAL_POSTGRES;
	ret = take_secret(c, i, "postgres.dsn_file", &r->dsn_file, s, &s->conninfo);
	if (ret)
		return ret;
	if (r->query.s)
		ret = take_query(c, i, "postgres.query", &r->query, &s->query);
	else
		s->query = cfg_strdup(CRUISE_SIGNAL_DEFAULT_QUERY, &ret);
	if (!ret && r->value.s && cruise_parse_bool(r->value.s, &s->value, uerr, sizeof(uerr)))
		return sig_fail(c, i, "postgres.value", r->value.line, uerr);
	return ret;
}

static int check_prometheus(struct cfg_ctx *c, unsigned int i, const struct raw_prometheus *r,
			    struct cruise_cfg_signal *s)
{
	const char *problem = url_problem(r->url.s);
	char q[QBUF], msg[256];
	int ret = 0;

	s->kind = CRUISE_SIGNAL_PROMETHEUS;
	s->value = true;
	if (problem) {
		snprintf(msg, sizeof(msg), "\"%s\": %s", cruise_quote(r->url.s, q, sizeof(q)),
			 problem);
		return sig_fail(c, i, "prometheus.url", r->url.line, msg);
	}
	s->url = cfg_strdup(r->url.s, &ret);
	if (!ret)
		ret = take_query(c, i, "prometheus.query", &r->query, &s->query);
	if (!ret && r->bearer_token_file.s)
		ret = take_secret(c, i, "prometheus.bearer_token_file", &r->bearer_token_file, s,
				  &s->bearer_token);
	return ret;
}

static int check_signal(struct cfg_ctx *c, unsigned int i, const struct raw_signal *r,
			struct cruise_cfg_signal *s)
{
	char path[96], uerr[384], q[QBUF], msg[512];
	__u64 ns;
	int ret;

	snprintf(path, sizeof(path), "signals[%u].name", i);
	ret = cfg_take_name(c, path, &r->name, &s->name);
	if (ret)
		return ret;
	if (!!r->postgres.line == !!r->prometheus.line) {
		snprintf(path, sizeof(path), "signals[%u]", i);
		return cfg_fail(c, path, r->line,
				"%s: a signal is a postgres: probe or a prometheus: query",
				r->postgres.line ? "both postgres and prometheus" : "no probe");
	}
	ret = r->postgres.line ? check_postgres(c, i, &r->postgres, s)
			       : check_prometheus(c, i, &r->prometheus, s);
	if (ret)
		return ret;

	s->every_ns = CRUISE_SIGNAL_DEFAULT_EVERY_NS;
	if (r->every.s) {
		if (cruise_parse_duration(r->every.s, &s->every_ns, uerr, sizeof(uerr)))
			return sig_fail(c, i, "every", r->every.line, uerr);
		if (s->every_ns < SIGNAL_EVERY_MIN_NS || s->every_ns > SIGNAL_EVERY_MAX_NS)
			return sig_fail(c, i, "every", r->every.line,
					"must be from 50ms to 1h (a probe's time limit is every)");
	}
	/* a latency is a duration ("10ms"); a value, a plain number */
	if (s->kind == CRUISE_SIGNAL_POSTGRES && !s->value) {
		if (cruise_parse_duration(r->target.s, &ns, uerr, sizeof(uerr)) || !ns) {
			snprintf(msg, sizeof(msg),
				 "\"%s\": a latency target is a duration above 0, like \"10ms\"",
				 cruise_quote(r->target.s, q, sizeof(q)));
			return sig_fail(c, i, "target", r->target.line, msg);
		}
		s->target = ns / 1e9;
		if (ns >= s->every_ns)
			return sig_fail(c, i, "target", r->target.line,
					"must be under every: a probe slower than every fails");
	} else if (parse_number(r->target.s, &s->target)) {
		snprintf(msg, sizeof(msg),
			 "\"%s\": expected a plain number, like \"0.7\" or \"40\"",
			 cruise_quote(r->target.s, q, sizeof(q)));
		return sig_fail(c, i, "target", r->target.line, msg);
	}
	return 0;
}

int cfg_check_signals(struct cfg_ctx *c, const struct raw_maps *r, struct cruise_config *cfg)
{
	const struct raw_signal *rs = r->v;
	char path[96];
	int ret;

	if (!r->line)
		return 0;
	if (!r->n)
		return cfg_fail(c, "signals", r->line, "empty; leave it out when no rate adapts");
	if (r->n > CRUISE_MAX_SIGNALS) {
		snprintf(path, sizeof(path), "signals[%d]", CRUISE_MAX_SIGNALS);
		return cfg_fail(c, path, rs[CRUISE_MAX_SIGNALS].line, "more than %d signals",
				CRUISE_MAX_SIGNALS);
	}
	cfg->signals = calloc(r->n, sizeof(*cfg->signals));
	if (!cfg->signals)
		return -ENOMEM;
	for (unsigned int i = 0; i < r->n; i++) {
		cfg->n_signals++;
		ret = check_signal(c, i, &rs[i], &cfg->signals[i]);
		if (ret)
			return ret;
		for (unsigned int j = 0; j < i; j++) {
			if (strcmp(cfg->signals[j].name, cfg->signals[i].name))
				continue;
			snprintf(path, sizeof(path), "signals[%u].name", i);
			return cfg_fail(c, path, rs[i].name.line,
					"\"%s\" is also the name of signals[%u]",
					cfg->signals[i].name, j);
		}
	}
	return 0;
}

static int adaptive_fail(struct cfg_ctx *c, unsigned int m, const char *key,
			 const struct raw_str *v, const char *problem)
{
	char path[96];

	snprintf(path, sizeof(path), "media[%u].adaptive.%s", m, key);
	return cfg_fail(c, path, v->line, "%s", problem);
}

int cfg_check_adaptive(struct cfg_ctx *c, unsigned int i, const struct raw_medium *r,
		       const struct cruise_config *cfg, struct cruise_cfg_medium *m)
{
	const struct raw_adaptive *ra = &r->adaptive;
	struct cruise_cfg_adaptive *a = &m->adaptive;
	char uerr[384], q[QBUF], q2[QBUF], names[256];
	unsigned int s;
	size_t n = 0;
	__u64 v;

	if (!ra->line)
		return 0;
	a->on = true;
	for (s = 0; s < cfg->n_signals && strcmp(cfg->signals[s].name, ra->signal.s); s++)
		n += snprintf(names + n, sizeof(names) - n, "%s%s", n ? ", " : "",
			      cfg->signals[s].name);
	if (s == cfg->n_signals) {
		snprintf(uerr, sizeof(uerr), "\"%s\" is not a signal; %s%s",
			 cruise_quote(ra->signal.s, q, sizeof(q)),
			 n ? "signals: " : "no signals: block gives one", n ? names : "");
		return adaptive_fail(c, i, "signal", &ra->signal, uerr);
	}
	a->signal = s;
	if (cruise_parse_rate(ra->min_rate.s, &a->floor_interval_ns, uerr, sizeof(uerr)))
		return adaptive_fail(c, i, "min_rate", &ra->min_rate, uerr);
	if (a->floor_interval_ns < m->interval_ns) {
		snprintf(uerr, sizeof(uerr),
			 "\"%s\" is above the medium's rate, \"%s\" (the floor and the ceiling)",
			 cruise_quote(ra->min_rate.s, q, sizeof(q)),
			 cruise_quote(r->rate.s, q2, sizeof(q2)));
		return adaptive_fail(c, i, "min_rate", &ra->min_rate, uerr);
	}
	a->priority = 1;
	if (ra->priority.s) {
		if (cruise_parse_count(ra->priority.s, PRIORITY_MAX, &v, uerr, sizeof(uerr)))
			return adaptive_fail(c, i, "priority", &ra->priority, uerr);
		a->priority = v;
	}
	a->backoff = CRUISE_BACKOFF_GRADIENT;
	if (ra->backoff.s) {
		if (!strcmp(ra->backoff.s, "halve")) {
			a->backoff = CRUISE_BACKOFF_HALVE;
		} else if (strcmp(ra->backoff.s, "gradient")) {
			snprintf(uerr, sizeof(uerr), "\"%s\": expected gradient or halve",
				 cruise_quote(ra->backoff.s, q, sizeof(q)));
			return adaptive_fail(c, i, "backoff", &ra->backoff, uerr);
		}
	}
	return 0;
}

void cruise_cfg_signal_free(struct cruise_cfg_signal *s)
{
	free(s->name);
	free(s->query);
	free(s->url);
	free(s->file);
	if (s->conninfo)
		explicit_bzero(s->conninfo, strlen(s->conninfo));
	if (s->bearer_token)
		explicit_bzero(s->bearer_token, strlen(s->bearer_token));
	free(s->conninfo);
	free(s->bearer_token);
	memset(s, 0, sizeof(*s));
}

static char *dup_or_null(const char *s, bool *fail)
{
	char *d = s ? strdup(s) : NULL;

	*fail |= s && !d;
	return d;
}

int cruise_cfg_signal_copy(struct cruise_cfg_signal *d, const struct cruise_cfg_signal *s)
{
	bool fail = false;

	*d = *s;
	d->name = dup_or_null(s->name, &fail);
	d->query = dup_or_null(s->query, &fail);
	d->url = dup_or_null(s->url, &fail);
	d->file = dup_or_null(s->file, &fail);
	d->conninfo = dup_or_null(s->conninfo, &fail);
	d->bearer_token = dup_or_null(s->bearer_token, &fail);
	if (fail)
		cruise_cfg_signal_free(d);
	return fail ? -ENOMEM : 0;
}

void cfg_free_signals(struct cruise_config *cfg)
{
	for (unsigned int i = 0; i < cfg->n_signals; i++)
		cruise_cfg_signal_free(&cfg->signals[i]);
	free(cfg->signals);
	cfg->signals = NULL;
	cfg->n_signals = 0;
}
