// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The agent's reading side: snapshots of the pinned maps, their Prometheus exposition and HTTP
 * endpoint, and the refusal event log.
 *
 * Unit group: the exposition of a hand-made snapshot, line by line; event lines formatted and
 * parsed back; listen addresses; the HTTP server on a fake snapshot.
 * Kernel group (as root): the real programs attached to a scope cgroup, clients refused in a bound
 * worker cgroup, then the snapshot, /metrics and the event log compared with the clients' counts;
 * and the loader's guard against maps pinned by another ABI version (cruise_meta).
 *
 * Over 600 lines: snapshot, exposition, HTTP and event log, each with unit and kernel cases; one
 * fixture.
 */
#define _GNU_SOURCE /* open_memstream, timegm */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "adaptive.h"
#include "eventlog.h"
#include "exposition.h"
#include "helpers.h"
#include "loader.h"
#include "snapshot.h"

/* a flat JSON object parsed back: enough to check our own lines */

struct jf {
	char key[32];
	char val[512];
	char type; /* 's' string, 'n' number, 'b' boolean, 'z' null */
};

static const char *j_ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

static void j_utf8(char **o, char *end, unsigned int cp)
{
	char b[4];
	int n;

	if (cp < 0x80) {
		b[0] = cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = 0xc0 | cp >> 6;
		b[1] = 0x80 | (cp & 0x3f);
		n = 2;
	} else {
		b[0] = 0xe0 | cp >> 12;
		b[1] = 0x80 | (cp >> 6 & 0x3f);
		b[2] = 0x80 | (cp & 0x3f);
		n = 3;
	}
	for (int i = 0; i < n && *o < end; i++)
		*(*o)++ = b[i];
}

/* A JSON string at s (at its opening quote), unescaped into buf; returns what follows or NULL. */
static const char *j_str(const char *s, char *buf, size_t len)
{
	char *o = buf, *end = buf + len - 1;
	unsigned int cp;

	if (*s++ != '"')
		return NULL;
	while (*s != '"') {
		if ((unsigned char)*s < 0x20)
			return NULL; /* also the end of the input */
		if (*s != '\\') {
			if (o < end)
				*o++ = *s;
			s++;
			continue;
		}
		s++;
		switch (*s) {
		case '"':
		case '\\':
		case '/':
			j_utf8(&o, end, *s);
			break;
		case 'n':
			j_utf8(&o, end, '\n');
			break;
		case 't':
			j_utf8(&o, end, '\t');
			break;
		case 'r':
			j_utf8(&o, end, '\r');
			break;
		case 'b':
			j_utf8(&o, end, '\b');
			break;
		case 'f':
			j_utf8(&o, end, '\f');
			break;
		case 'u':
			if (strspn(s + 1, "0123456789abcdefABCDEF") < 4 ||
			    sscanf(s + 1, "%4x", &cp) != 1)
				return NULL;
			j_utf8(&o, end, cp);
			s += 4;
			break;
		default:
			return NULL;
		}
		s++;
	}
	*o = '\0';
	return s + 1;
}

/* Parse {"k":v,...} with string, number, boolean and null values; returns the count or -1. */
static int j_parse(const char *s, struct jf *f, int max)
{
	int n = 0;

	s = j_ws(s);
	if (*s++ != '{')
		return -1;
	s = j_ws(s);
	if (*s == '}')
		return *j_ws(s + 1) ? -1 : 0;
	for (;;) {
		size_t k;

		if (n == max)
			return -1;
		memset(&f[n], 0, sizeof(f[n]));
		s = j_str(j_ws(s), f[n].key, sizeof(f[n].key));
		if (!s)
			return -1;
		for (int i = 0; i < n; i++)
			if (!strcmp(f[i].key, f[n].key))
				return -1; /* a key twice */
		s = j_ws(s);
		if (*s++ != ':')
			return -1;
		s = j_ws(s);
		if (*s == '"') {
			s = j_str(s, f[n].val, sizeof(f[n].val));
			if (!s)
				return -1;
			f[n].type = 's';
		} else if (!strncmp(s, "true", 4) || !strncmp(s, "null", 4)) {
			snprintf(f[n].val, sizeof(f[n].val), "%.4s", s);
			f[n].type = *s == 't' ? 'b' : 'z';
			s += 4;
		} else if (!strncmp(s, "false", 5)) {
			strcpy(f[n].val, "false");
			f[n].type = 'b';
			s += 5;
		} else {
			k = strspn(s, "-0123456789.eE+");
			if (!k || k >= sizeof(f[n].val))
				return -1;
			memcpy(f[n].val, s, k);
			f[n].type = 'n';
			s += k;
		}
		n++;
		s = j_ws(s);
		if (*s == ',') {
			s++;
			continue;
		}
		if (*s++ != '}')
			return -1;
		break;
	}
	return *j_ws(s) ? -1 : n;
}

static const struct jf *j_get(const struct jf *f, int n, const char *key)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(f[i].key, key))
			return &f[i];
	return NULL;
}

static void assert_jstr(const struct jf *f, int n, const char *key, const char *want)
{
	const struct jf *v = j_get(f, n, key);

	if (!v)
		fail_msg("no field %s", key);
	assert_int_equal(v->type, 's');
	assert_string_equal(v->val, want);
}

static void assert_jraw(const struct jf *f, int n, const char *key, char type, const char *want)
{
	const struct jf *v = j_get(f, n, key);

	if (!v)
		fail_msg("no field %s", key);
	assert_int_equal(v->type, type);
	if (want)
		assert_string_equal(v->val, want);
}

/* "2026-11-25T22:10:00.123Z", within [lo, hi] seconds of the epoch */
static void assert_ts(const struct jf *f, int n, time_t lo, time_t hi)
{
	const struct jf *v = j_get(f, n, "ts");
	struct tm tm;
	int ms = -1, used = 0;
	time_t t;

	assert_non_null(v);
	assert_int_equal(v->type, 's');
	assert_int_equal(strlen(v->val), 24);
	memset(&tm, 0, sizeof(tm));
	assert_int_equal(sscanf(v->val, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon,
				&tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &used),
			 7);
	assert_int_equal(used, 24);
	assert_true(ms >= 0 && ms < 1000);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	assert_true(t >= lo && t <= hi);
}

/* the exposition format, checked line by line */

struct expo_check {
	char families[64][64];
	int n_families;
	int samples;
};

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == ':';
}

/*
 * Every line is a HELP, a TYPE or a sample; each family has one HELP then one TYPE, right before
 * its samples, which are contiguous; counters end in _total; label values are properly quoted;
 * values are numbers; histogram buckets are cumulative and +Inf equals _count.
 */
static void check_exposition(const char *text, struct expo_check *ck)
{
	char cur[64] = "", type[16] = "", hkey[512] = "";
	double last_bucket = 0, inf = -1;
	const char *p = text, *nl;

	memset(ck, 0, sizeof(*ck));
	assert_true(*text);
	assert_int_equal(text[strlen(text) - 1], '\n');
	for (; *p; p = nl + 1) {
		char line[1024], name[64], labels[512] = "", *v, *end;
		size_t len;
		double val;
		int i;

		nl = strchr(p, '\n');
		assert_non_null(nl);
		len = nl - p;
		assert_true(len > 0 && len < sizeof(line));
		memcpy(line, p, len);
		line[len] = '\0';
		if (!strncmp(line, "# HELP ", 7)) {
			assert_int_equal(sscanf(line + 7, "%63s", name), 1);
			for (i = 0; i < ck->n_families; i++)
				if (!strcmp(ck->families[i], name))
					fail_msg("family %s twice", name);
			assert_true(ck->n_families < 64);
			strcpy(ck->families[ck->n_families++], name);
			strcpy(cur, name);
			type[0] = '\0';
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			char t[16];

			assert_int_equal(sscanf(line + 7, "%63s %15s", name, t), 2);
			assert_string_equal(name, cur);
			assert_string_equal(type, "");
			assert_true(!strcmp(t, "counter") || !strcmp(t, "gauge") ||
				    !strcmp(t, "histogram"));
			if (!strcmp(t, "counter"))
				assert_string_equal(name + strlen(name) - 6, "_total");
			strcpy(type, t);
			continue;
		}
		assert_true(line[0] != '#');
		for (i = 0; name_char(line[i]) && i < 63; i++)
			name[i] = line[i];
		name[i] = '\0';
		assert_true(i > 0);
		v = line + i;
		if (*v == '{') {
			char *q = v + 1;

			/* name="value",...} with \\, \" and \n the only escapes */
			while (*q != '}') {
				while (name_char(*q))
					q++;
				assert_true(q[0] == '=' && q[1] == '"');
				for (q += 2; *q != '"'; q++) {
					assert_true(*q);
					if (*q == '\\') {
						q++;
						assert_true(*q == '\\' || *q == '"' || *q == 'n');
					}
				}
				q++;
				assert_true(*q == ',' || *q == '}');
				if (*q == ',')
					q++;
			}
			snprintf(labels, sizeof(labels), "%.*s", (int)(q + 1 - v), v);
			v = q + 1;
		}
		assert_int_equal(*v, ' ');
		v++;
		if (strcmp(v, "+Inf") && strcmp(v, "-Inf") && strcmp(v, "NaN")) {
			val = strtod(v, &end);
			assert_true(end != v && !*end);
		} else {
			val = 1.0 / 0.0;
		}
		ck->samples++;
		assert_string_not_equal(type, "");
		if (!strcmp(type, "histogram")) {
			size_t cl = strlen(cur);
			const char *suffix = name + cl;
			char key[512], *le;

			assert_memory_equal(name, cur, cl);
			assert_true(!strcmp(suffix, "_bucket") || !strcmp(suffix, "_sum") ||
				    !strcmp(suffix, "_count"));
			if (!strcmp(suffix, "_bucket")) {
				le = strstr(labels, "le=\"");
				assert_non_null(le);
				snprintf(key, sizeof(key), "%.*s", (int)(le - labels), labels);
				if (strcmp(key, hkey)) {
					strcpy(hkey, key);
					last_bucket = 0;
					inf = -1;
				}
				assert_true(val >= last_bucket);
				last_bucket = val;
				if (!strncmp(le, "le=\"+Inf\"", 9))
					inf = val;
			} else if (!strcmp(suffix, "_count")) {
				assert_true(inf >= 0);
				assert_true(val == inf);
			}
		} else {
			assert_string_equal(name, cur);
		}
	}
}

/* The sample line "<prefix> value" of text; its value, or -1 when there is none. */
static double sample(const char *text, const char *prefix)
{
	double v;

	return th_metric(text, prefix, &v) ? v : -1;
}

static char *expose_to_string(const struct cruise_snapshot *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	cruise_expose(f, s);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* unit: exposition */

#define ESC_NAME "pu\"sh\\x\ny"
#define ML	 "medium=\"pu\\\"sh\\\\x\\ny\""

static void fill_one_medium(struct cruise_snapshot *s)
{
	static const __u64 buckets[CRUISE_DELAY_BUCKETS] = { 60, 5, 5, 5, 5, 4, 3, 2, 1, 0, 0, 0 };
	struct cruise_snapshot_medium *m = &s->media[0];

	memset(s, 0, sizeof(*s));
	s->n_media = 1;
	m->index = 3;
	strcpy(m->cfg.name, ESC_NAME);
	m->cfg.interval_ns = 5 * NSEC_PER_MSEC; /* 200/s */
	m->interval_ns = m->cfg.interval_ns;	/* in force: no fleet lease */
	m->cfg.max_wait_ns = 2 * NSEC_PER_SEC;
	m->cfg.flags = CRUISE_MEDIUM_ACTIVE;
	m->c.connections = 100;
	m->c.admitted_now = 60;
	m->c.delayed = 30;
	m->c.delay_ns = 1500 * NSEC_PER_MSEC;
	m->c.refused_max_wait = 7;
	m->c.refused_max_conns = 3;
	memcpy(m->c.delay_buckets, buckets, sizeof(buckets));
	m->open_conns = 12;
	m->backlog_ns = 250 * NSEC_PER_MSEC;
	s->progs_attached = 5;
	s->config_generation = 2;
	s->reload_failures = 1;
	s->events_lost = 4;
	s->log_suppressed = 9;
}

static void test_expose_one_medium(void **state)
{
	static const char *const want[] = {
		"cruise_connections_total{" ML "} 100",
		"cruise_delayed_total{" ML "} 30",
		"cruise_refused_total{" ML ",reason=\"max_wait\"} 7",
		"cruise_refused_total{" ML ",reason=\"max_conns\"} 3",
		"cruise_delay_seconds_bucket{" ML ",le=\"0.001\"} 60",
		"cruise_delay_seconds_bucket{" ML ",le=\"0.005\"} 65",
		"cruise_delay_seconds_bucket{" ML ",le=\"0.01\"} 70",
		"cruise_delay_seconds_bucket{" ML ",le=\"0.025\"} 75",
		"cruise_delay_seconds_bucket{" ML ",le=\"0.05\"} 80",
		"cruise_delay_seconds_bucket{" ML ",le=\"0.1\"} 84",
		"cruise_delay_seconds_bucket{" ML ",le=\"0.25\"} 87",
		"cruise_delay_seconds_bucket{" ML ",le=\"0.5\"} 89",
		"cruise_delay_seconds_bucket{" ML ",le=\"1\"} 90",
		"cruise_delay_seconds_bucket{" ML ",le=\"2.5\"} 90",
		"cruise_delay_seconds_bucket{" ML ",le=\"5\"} 90",
		"cruise_delay_seconds_bucket{" ML ",le=\"+Inf\"} 90",
		"cruise_delay_seconds_sum{" ML "} 1.5",
		"cruise_delay_seconds_count{" ML "} 90",
		"cruise_open_connections{" ML "} 12",
		"cruise_rate_limit{" ML "} 200",
		"cruise_backlog_seconds{" ML "} 0.25",
		"cruise_dry_run{" ML "} 0",
		"cruise_max_wait_seconds{" ML "} 2",
		"cruise_max_conns{" ML "} 0",
		"cruise_programs_attached 5",
		"cruise_config_generation 2",
		"cruise_reload_failures_total 1",
		"cruise_events_lost_total 4",
		"cruise_log_suppressed_total 9",
	};
	static const char *const types[] = {
		"# TYPE cruise_connections_total counter",
		"# TYPE cruise_delayed_total counter",
		"# TYPE cruise_refused_total counter",
		"# TYPE cruise_delay_seconds histogram",
		"# TYPE cruise_open_connections gauge",
		"# TYPE cruise_rate_limit gauge",
		"# TYPE cruise_backlog_seconds gauge",
		"# TYPE cruise_dry_run gauge",
		"# TYPE cruise_max_wait_seconds gauge",
		"# TYPE cruise_max_conns gauge",
		"# TYPE cruise_programs_attached gauge",
		"# TYPE cruise_config_generation gauge",
		"# TYPE cruise_reload_failures_total counter",
		"# TYPE cruise_events_lost_total counter",
		"# TYPE cruise_log_suppressed_total counter",
	};
	struct cruise_snapshot *s = calloc(1, sizeof(*s));
	struct expo_check ck;
	char *text, *p, *line;
	size_t w = 0, t = 0;

	(void)state;
	assert_non_null(s);
	fill_one_medium(s);
	text = expose_to_string(s);
	check_exposition(text, &ck);
	assert_int_equal(ck.n_families, 15);
	/* the samples, exactly and in order; the TYPE lines, exactly and in order */
	p = text;
	while ((line = strsep(&p, "\n")) && *line) {
		if (!strncmp(line, "# TYPE ", 7)) {
			assert_true(t < sizeof(types) / sizeof(types[0]));
			assert_string_equal(line, types[t++]);
		} else if (line[0] != '#') {
			assert_true(w < sizeof(want) / sizeof(want[0]));
			assert_string_equal(line, want[w++]);
		}
	}
	assert_int_equal(w, sizeof(want) / sizeof(want[0]));
	assert_int_equal(t, sizeof(types) / sizeof(types[0]));
	free(text);
	free(s);
}

static void test_expose_media(void **state)
{
	struct cruise_snapshot *s = calloc(1, sizeof(*s));
	struct cruise_snapshot_medium *m;
	struct expo_check ck;
	char *text;

	(void)state;
	assert_non_null(s);
	/* no media: every family is still announced, the agent's own samples are there */
	text = expose_to_string(s);
	check_exposition(text, &ck);
	assert_int_equal(ck.n_families, 15);
	assert_int_equal(ck.samples, 5);
	assert_null(strstr(text, "medium="));
	free(text);

	/* a second medium, without a name (shown by index), not paced, in dry-run */
	fill_one_medium(s);
	m = &s->media[1];
	m->index = 9;
	m->cfg.flags = CRUISE_MEDIUM_ACTIVE | CRUISE_MEDIUM_DRY_RUN;
	m->c.connections = 4;
	m->c.admitted_now = 4;
	m->c.delay_buckets[0] = 4;
	s->n_media = 2;
	text = expose_to_string(s);
	check_exposition(text, &ck);
	assert_int_equal(ck.samples, 5 + 2 * (1 + 1 + 2 + 14 + 6));
	assert_true(sample(text, "cruise_rate_limit{medium=\"9\"}") == 0);
	assert_true(sample(text, "cruise_dry_run{medium=\"9\"}") == 1);
	assert_true(sample(text, "cruise_dry_run{" ML "}") == 0);
	assert_true(sample(text, "cruise_delay_seconds_bucket{medium=\"9\",le=\"0.001\"}") == 4);
	assert_true(sample(text, "cruise_delay_seconds_count{medium=\"9\"}") == 4);
	assert_true(sample(text, "cruise_delay_seconds_sum{medium=\"9\"}") == 0);
	assert_true(sample(text, "cruise_connections_total{" ML "}") == 100);
	free(text);

	/* a rate that is not a whole number per second; a sum below a second */
	s->media[0].cfg.interval_ns = 2 * NSEC_PER_SEC; /* 30/m */
	s->media[0].interval_ns = s->media[0].cfg.interval_ns;
	s->media[0].c.delay_ns = 1;
	s->media[0].backlog_ns = 0;
	text = expose_to_string(s);
	assert_non_null(strstr(text, "\ncruise_rate_limit{" ML "} 0.5\n"));
	assert_non_null(strstr(text, "\ncruise_delay_seconds_sum{" ML "} 0.000000001\n"));
	assert_non_null(strstr(text, "\ncruise_backlog_seconds{" ML "} 0\n"));
	free(text);
	free(s);
}

/*
 * The fleet families: only with a fleet block, one sample per fleet medium; the share and the
 * fallback from the map, the rate in force the fallback once the lease ended.
 */
static void test_expose_fleet(void **state)
{
	struct cruise_snapshot *s = calloc(1, sizeof(*s));
	struct cruise_snapshot_medium *f;
	char *text;

	(void)state;
	assert_non_null(s);
	fill_one_medium(s);
	text = expose_to_string(s);
	assert_null(strstr(text, "cruise_fleet_"));
	free(text);

	s->n_media = 2;
	f = &s->media[1];
	f->index = 4;
	strcpy(f->cfg.name, "email");
	f->cfg.flags = CRUISE_MEDIUM_ACTIVE;
	f->cfg.interval_ns = 50 * NSEC_PER_MSEC;	   /* a share of 20/s */
	f->cfg.fallback_interval_ns = 100 * NSEC_PER_MSEC; /* 10/s */
	f->fleet = true;
	f->fallback = true;
	f->interval_ns = f->cfg.fallback_interval_ns;
	f->lease_left_ns = 0;
	f->c.fallback = 42;
	f->f.known = true;
	f->f.rate_milli = 60000;
	f->f.demand_milli = 25500;
	f->f.wants_more = true;
	f->f.nodes = 3;
	s->fleet_configured = true;
	s->fleet_store_up = false;
	s->fleet_store_errors = 7;
	s->fleet_nodes_forgotten = 1;
	text = expose_to_string(s);
	assert_true(sample(text, "cruise_rate_limit{medium=\"email\"}") == 10);
	assert_true(sample(text, "cruise_fleet_share{medium=\"email\"}") == 20);
	assert_true(sample(text, "cruise_fleet_fallback_rate{medium=\"email\"}") == 10);
	assert_true(sample(text, "cruise_fleet_rate{medium=\"email\"}") == 60);
	assert_true(sample(text, "cruise_fleet_demand{medium=\"email\"}") == 25.5);
	assert_true(sample(text, "cruise_fleet_wants_more{medium=\"email\"}") == 1);
	assert_true(sample(text, "cruise_fleet_nodes{medium=\"email\"}") == 3);
	assert_true(sample(text, "cruise_fleet_leased{medium=\"email\"}") == 0);
	assert_true(sample(text, "cruise_fleet_lease_seconds{medium=\"email\"}") == 0);
	assert_true(sample(text, "cruise_fleet_fallback_connections_total{medium=\"email\"}") ==
		    42);
	assert_true(sample(text, "cruise_fleet_store_up") == 0);
	assert_true(sample(text, "cruise_fleet_store_errors_total") == 7);
	assert_true(sample(text, "cruise_fleet_nodes_forgotten_total") == 1);
	/* a medium that is not a fleet medium has no fleet samples */
	assert_null(strstr(text, "cruise_fleet_share{" ML "}"));
	free(text);
	free(s);
}

/* Adaptive media and their signals: only with signals, exact values, valid for promtool. */
static void test_expose_adaptive(void **state)
{
	struct cruise_snapshot *s = calloc(1, sizeof(*s));
	struct cruise_snapshot_medium *a;
	struct cruise_snapshot_signal *g;
	char path[] = "/tmp/test_expose.XXXXXX", *text;
	struct expo_check ck;
	int fd;

	(void)state;
	assert_non_null(s);
	fill_one_medium(s);
	text = expose_to_string(s);
	assert_null(strstr(text, "cruise_adaptive_"));
	assert_null(strstr(text, "cruise_signal_"));
	free(text);

	s->n_media = 2;
	a = &s->media[1];
	a->index = 5;
	strcpy(a->cfg.name, "email");
	a->cfg.flags = CRUISE_MEDIUM_ACTIVE;
	a->adaptive = true;
	a->ad.flags = CRUISE_ADAPT_ACTIVE;
	a->ad.ceiling_interval_ns = 2500 * 1000; /* 400/s */
	a->ad.floor_interval_ns = 200 * NSEC_PER_MSEC;
	a->ad.rate_interval_ns = 10 * NSEC_PER_MSEC;
	a->ad.decision = CRUISE_ADAPT_DOWN;
	a->ad.why = CRUISE_ADAPT_WHY_UNHEALTHY;
	a->decisions[CRUISE_ADAPT_UP] = 7;
	a->decisions[CRUISE_ADAPT_DOWN] = 3;
	s->n_signals = 1;
	g = &s->signals[0];
	strcpy(g->name, "db-latency");
	g->sampled = true;
	g->up = false;
	g->value = 0.0125;
	g->target = 0.01;
	g->took_ns = 2 * NSEC_PER_MSEC;
	g->failures = 2;
	g->errors[CRUISE_PROBE_TIMEOUT] = 4;
	text = expose_to_string(s);
	check_exposition(text, &ck);
	assert_true(sample(text, "cruise_adaptive_rate{medium=\"email\"}") == 100);
	assert_true(sample(text, "cruise_adaptive_ceiling{medium=\"email\"}") == 400);
	assert_true(sample(text, "cruise_adaptive_floor{medium=\"email\"}") == 5);
	assert_true(sample(text, "cruise_adaptive_decision{medium=\"email\",decision=\"down\","
				 "why=\"unhealthy\"}") == 1);
	assert_true(
		sample(text, "cruise_adaptive_decisions_total{medium=\"email\",decision=\"up\"}") ==
		7);
	assert_true(sample(text, "cruise_signal_value{signal=\"db-latency\"}") == 0.0125);
	assert_true(sample(text, "cruise_signal_target{signal=\"db-latency\"}") == 0.01);
	assert_true(sample(text, "cruise_signal_up{signal=\"db-latency\"}") == 0);
	assert_true(sample(text, "cruise_signal_probe_seconds{signal=\"db-latency\"}") == 0.002);
	assert_true(sample(text, "cruise_signal_failures_in_a_row{signal=\"db-latency\"}") == 2);
	assert_true(
		sample(text,
		       "cruise_signal_errors_total{signal=\"db-latency\",reason=\"timeout\"}") ==
		4);
	assert_true(
		sample(text,
		       "cruise_signal_errors_total{signal=\"db-latency\",reason=\"connect\"}") ==
		0);
	/* a medium that is not adaptive has no adaptive samples */
	assert_null(strstr(text, "cruise_adaptive_rate{" ML "}"));
	/* Prometheus' own checker, from Debian's prometheus package */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	if (access("/usr/bin/promtool", X_OK)) {
		print_message("promtool not installed: the format checked by this test alone\n");
	} else {
		char cmd[128];
		const char *argv[] = { "sh", "-c", cmd, NULL };

		/* promtool reads the exposition from its standard input */
		snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
		assert_int_equal(th_run_cmd(argv, "/dev/null", "/dev/null", 20000), 0);
	}
	unlink(path);
	free(text);
	free(s);
}

/* unit: event lines */

static void v4mapped(__u8 *a, const char *v4)
{
	memset(a, 0, 16);
	a[10] = a[11] = 0xff;
	assert_int_equal(inet_pton(AF_INET, v4, a + 12), 1);
}

static struct cruise_event sample_event(void)
{
	struct cruise_event e;

	memset(&e, 0, sizeof(e));
	e.ts_ns = cruise_now_ns();
	e.cgroup_id = 77;
	e.wait_ns = 150400000; /* 150.4 ms */
	e.pid = 4242;
	e.medium = 2;
	e.reason = CRUISE_REASON_MAX_WAIT;
	e.err = ECONNREFUSED;
	e.family = AF_INET6;
	e.dport = 5432;
	v4mapped(e.daddr, "127.0.0.1");
	strcpy(e.comm, "wo\"rk\\er");
	return e;
}

static void test_event_json_v4(void **state)
{
	struct cruise_event e = sample_event();
	struct jf f[32];
	char line[2048];
	time_t now = time(NULL);
	int n;

	(void)state;
	cruise_event_format(&e, CRUISE_LOG_JSON, "push", "/workers/push", line, sizeof(line));
	assert_null(strchr(line, '\n'));
	n = j_parse(line, f, 32);
	if (n < 0)
		fail_msg("not a JSON object: %s", line);
	assert_int_equal(n, 12);
	assert_string_equal(f[0].key, "ts");
	assert_ts(f, n, now - 1, now + 1);
	assert_jstr(f, n, "level", "warn");
	assert_jstr(f, n, "msg", "connect refused");
	assert_jstr(f, n, "medium", "push");
	assert_jstr(f, n, "cgroup", "/workers/push");
	assert_jraw(f, n, "pid", 'n', "4242");
	assert_jstr(f, n, "comm", "wo\"rk\\er");
	assert_jstr(f, n, "dest", "127.0.0.1:5432");
	assert_jstr(f, n, "reason", "max_wait");
	assert_jstr(f, n, "errno", "ECONNREFUSED");
	assert_jraw(f, n, "wait_ms", 'n', "150.4");
	assert_jraw(f, n, "dry_run", 'b', "false");

	/* an AF_INET socket's event: the same destination */
	e.family = AF_INET;
	cruise_event_format(&e, CRUISE_LOG_JSON, "push", "/workers/push", line, sizeof(line));
	n = j_parse(line, f, 32);
	assert_int_equal(n, 12);
	assert_jstr(f, n, "dest", "127.0.0.1:5432");

	/* an event ten seconds old is shown at its own time */
	e.ts_ns = cruise_now_ns() - 10 * NSEC_PER_SEC;
	cruise_event_format(&e, CRUISE_LOG_JSON, "push", "/", line, sizeof(line));
	n = j_parse(line, f, 32);
	assert_int_equal(n, 12);
	assert_ts(f, n, now - 12, now - 9);
	assert_jstr(f, n, "cgroup", "/");
}

static void test_event_json_v6(void **state)
{
	struct cruise_event e = sample_event();
	struct jf f[32];
	char line[2048];
	time_t now = time(NULL);
	int n;

	(void)state;
	memset(e.daddr, 0, sizeof(e.daddr));
	e.daddr[15] = 1; /* ::1 */
	e.reason = CRUISE_REASON_MAX_CONNS;
	e.err = ETIMEDOUT;
	e.wait_ns = 0;
	/* a comm cut in the middle of a UTF-8 character, with a control character */
	memcpy(e.comm, "w\tk\xc3\xa9\xe2\x82", 8);
	/* no medium name, no cgroup path: their numbers */
	cruise_event_format(&e, CRUISE_LOG_JSON, NULL, NULL, line, sizeof(line));
	n = j_parse(line, f, 32);
	if (n < 0)
		fail_msg("not a JSON object: %s", line);
	assert_int_equal(n, 12);
	assert_ts(f, n, now - 1, now + 1);
	assert_jstr(f, n, "medium", "2");
	assert_jstr(f, n, "cgroup", "cgroup:77");
	assert_jstr(f, n, "comm", "w\tk\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd");
	assert_jstr(f, n, "dest", "[::1]:5432");
	assert_jstr(f, n, "reason", "max_conns");
	assert_jstr(f, n, "errno", "ETIMEDOUT");
	assert_jraw(f, n, "wait_ms", 'n', "0");

	/* dry-run: nothing failed */
	e.err = 0;
	e.dry_run = 1;
	memset(e.daddr, 0, sizeof(e.daddr));
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::5", e.daddr), 1);
	e.dport = 6432;
	cruise_event_format(&e, CRUISE_LOG_JSON, "a \"b\"", NULL, line, sizeof(line));
	n = j_parse(line, f, 32);
	assert_int_equal(n, 12);
	assert_jstr(f, n, "medium", "a \"b\"");
	assert_jstr(f, n, "dest", "[2001:db8::5]:6432");
	assert_jraw(f, n, "errno", 'z', NULL);
	assert_jraw(f, n, "dry_run", 'b', "true");

	/* a short buffer cuts the line, terminated */
	memset(line, 'x', sizeof(line));
	cruise_event_format(&e, CRUISE_LOG_JSON, "push", NULL, line, 40);
	assert_int_equal(strlen(line), 39);
}

static void test_event_text(void **state)
{
	struct cruise_event e = sample_event();
	char line[2048];

	(void)state;
	cruise_event_format(&e, CRUISE_LOG_TEXT, "push", "/workers/push job", line, sizeof(line));
	print_message("%s\n", line);
	assert_int_equal(strlen(line) > 24, 1);
	assert_int_equal(line[23], 'Z');
	assert_non_null(strstr(line,
			       " warn  connect refused medium=push "
			       "cgroup=\"/workers/push job\" pid=4242 comm=\"wo\\\"rk\\\\er\" "
			       "dest=127.0.0.1:5432 reason=max_wait errno=ECONNREFUSED "
			       "wait_ms=150.4 dry_run=false"));
	assert_null(strchr(line, '\n'));
}

/* HTTP */

struct http_reply {
	int status;
	char ctype[128];
	char allow[64];
	char *body;
};

static void header_value(const char *head, const char *name, char *buf, size_t len)
{
	size_t n = strlen(name);

	buf[0] = '\0';
	for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, n) || p[2 + n] != ':')
			continue;
		p += 2 + n + 1;
		p += strspn(p, " ");
		snprintf(buf, len, "%.*s", (int)strcspn(p, "\r"), p);
		return;
	}
}

/* One request with a plain socket, HTTP/1.1, Connection: close; the whole reply. */
static void http_req(const char *addr, uint16_t port, const char *method, const char *path,
		     struct http_reply *r)
{
	char req[256], *buf = NULL, *head_end;
	size_t len = 0, cap = 0;
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	memset(r, 0, sizeof(*r));
	assert_int_equal(th_sockaddr(addr, port, &ss, &sl), 0);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&ss, sl), 0);
	snprintf(req, sizeof(req),
		 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n", method, path,
		 strcmp(method, "POST") ? "" : "Content-Length: 0\r\n");
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (len + 4096 + 1 > cap) {
			cap = cap ? 2 * cap : 65536;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		assert_int_equal(poll(&p, 1, 5000), 1);
		n = read(fd, buf + len, cap - len - 1);
		assert_true(n >= 0);
		if (!n)
			break;
		len += n;
	}
	close(fd);
	buf[len] = '\0';
	assert_int_equal(sscanf(buf, "HTTP/1.%*d %d", &r->status), 1);
	head_end = strstr(buf, "\r\n\r\n");
	assert_non_null(head_end);
	*head_end = '\0';
	header_value(buf, "Content-Type", r->ctype, sizeof(r->ctype));
	header_value(buf, "Allow", r->allow, sizeof(r->allow));
	r->body = strdup(head_end + 4);
	assert_non_null(r->body);
	free(buf);
}

struct fake_src {
	struct cruise_snapshot s;
	bool healthy;
	int takes;
};

static int fake_take(void *ctx, struct cruise_snapshot *s)
{
	struct fake_src *f = ctx;

	f->takes++;
	*s = f->s;
	return 0;
}

static bool fake_healthy(void *ctx)
{
	return ((struct fake_src *)ctx)->healthy;
}

static void test_http_listen_errors(void **state)
{
	static const char *const bad[] = {
		"",
		"nonsense",
		"127.0.0.1",
		"127.0.0.1:0",
		"127.0.0.1:65536",
		"::1:9464",
		"[::1]9464",
		"[::1:9464",
		"localhost:9464",
		"1.2.3.4.5:80",
		"127.0.0.1:-1",
		"127.0.0.1:94x4",
		"127.0.0.1:09464",
		"[127.0.0.1]:80",
		":",
	};
	struct sockaddr_storage ss;
	struct fake_src src;
	char err[256], listen_at[64];
	socklen_t len;
	uint16_t port;
	int fd, one = 1;

	(void)state;
	memset(&src, 0, sizeof(src));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(
			cruise_http_start(bad[i], fake_take, fake_healthy, &src, err, sizeof(err)));
		print_message("\"%s\": %s\n", bad[i], err);
		assert_true(err[0]);
		assert_null(strchr(err, '\n'));
	}

	/* a busy port */
	assert_int_equal(th_sockaddr("127.0.0.1", 0, &ss, &len), 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%u", port);
	err[0] = '\0';
	assert_null(cruise_http_start(listen_at, fake_take, fake_healthy, &src, err, sizeof(err)));
	print_message("%s: %s\n", listen_at, err);
	assert_non_null(strstr(err, "in use"));
	assert_null(strchr(err, '\n'));
	close(fd);
}

static void test_http_fake(void **state)
{
	struct fake_src *src = calloc(1, sizeof(*src));
	const char *const listens[] = { "127.0.0.1", "[::1]", "", "0.0.0.0" };
	const char *const connect_to[] = { "127.0.0.1", "::1", "127.0.0.1", "127.0.0.1" };
	struct http_reply r;
	char err[256], listen_at[64];
	char *want;

	(void)state;
	assert_non_null(src);
	fill_one_medium(&src->s);
	src->healthy = true;
	want = expose_to_string(&src->s);
	for (size_t i = 0; i < sizeof(listens) / sizeof(listens[0]); i++) {
		uint16_t port = th_free_port(connect_to[i]);
		struct cruise_http *h;

		snprintf(listen_at, sizeof(listen_at), "%s:%u", listens[i], port);
		err[0] = '\0';
		h = cruise_http_start(listen_at, fake_take, fake_healthy, src, err, sizeof(err));
		if (!h)
			fail_msg("%s: %s", listen_at, err);
		src->healthy = true;

		http_req(connect_to[i], port, "GET", "/metrics", &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
		assert_string_equal(r.body, want);
		free(r.body);

		http_req(connect_to[i], port, "GET", "/healthz", &r);
		assert_int_equal(r.status, 200);
		assert_string_equal(r.body, "ok\n");
		free(r.body);
		src->healthy = false;
		http_req(connect_to[i], port, "GET", "/healthz", &r);
		assert_int_equal(r.status, 503);
		free(r.body);

		http_req(connect_to[i], port, "GET", "/", &r);
		assert_int_equal(r.status, 404);
		free(r.body);
		http_req(connect_to[i], port, "POST", "/metrics", &r);
		assert_int_equal(r.status, 405);
		assert_non_null(strstr(r.allow, "GET"));
		free(r.body);
		cruise_http_stop(h);
	}
	assert_true(src->takes == 4);
	free(want);
	free(src);
}

/* kernel: the real programs, refusals in a bound worker cgroup */

struct kstate {
	struct th_env e;
	struct th_cgroup cg;
	struct th_run paced, r4, r6;
	int n, ok, failed; /* over the three runs */
	char cgroot[PATH_MAX];
	struct cruise_maps m;
	bool healthy;
	time_t started;
};

#define K_RATE		 100		      /* per second */
#define K_PACED_MAX_WAIT (50 * NSEC_PER_MSEC) /* first: one worker, held, never refused */
#define K_MAX_WAIT	 (5 * NSEC_PER_MSEC) /* then under one interval: even one worker is refused */
#define K_INTERVAL	 (NSEC_PER_SEC / K_RATE)
#define K_LOG_PER_SEC	 5
#define K_LOG_BURST	 30

static int k_setup(void **state)
{
	struct kstate *k = calloc(1, sizeof(*k));
	struct cruise_medium off = { .interval_ns = NSEC_PER_SEC, .flags = 0, .name = "off" };
	struct th_run_opts o4 = {
		.addr = "127.0.0.1",
		.workers = 3,
		.duration_ns = 400 * NSEC_PER_MSEC,
		.max_per_worker = 150, /* refusals fit the 256 KiB ring (about 2700 events) */
	};
	struct th_run_opts op = {
		.addr = "127.0.0.1",
		.workers = 1,
		.duration_ns = NSEC_PER_SEC,
		.max_per_worker = 20,
	};
	struct th_run_opts o6 = {
		.addr = "::1",
		.workers = 1,
		.duration_ns = 400 * NSEC_PER_MSEC,
		.max_per_worker = 20, /* its refusals come first and fit in the log's burst */
	};
	int err;

	if (!k)
		return -1;
	*state = k;
	k->m.media = k->m.state = k->m.counters = k->m.bindings = k->m.targets = k->m.events = -1;
	k->started = time(NULL);
	if (geteuid()) {
		print_error("the kernel tests load BPF programs and create cgroups: run as root\n");
		return -1;
	}
	err = th_env_setup(&k->e);
	if (err) {
		print_error("th_env_setup: %s\n", strerror(-err));
		return -1;
	}
	if (cruise_cgroup2_root(k->cgroot, sizeof(k->cgroot)))
		return -1;
	/* medium 0 paced and refusing; 5 configured but inactive; 7 active with no traffic */
	if (th_env_medium(&k->e, 0, K_RATE, 0, K_PACED_MAX_WAIT, 0, 0, 0) ||
	    cruise_maps_set_medium(&k->e.h->maps, 5, &off) ||
	    th_env_medium(&k->e, 7, 0, 0, 0, 0, 0, 0) ||
	    th_env_worker_cgroup(&k->e, &k->cg, NULL, 0))
		return -1;
	op.cgroup = o4.cgroup = o6.cgroup = k->cg.path;
	op.port = o4.port = k->e.l4.port;
	o6.port = k->e.l6.port;
	/* held connects first, then a limit change (state kept) and refusals */
	if (th_run_clients(&op, &k->paced) ||
	    th_env_medium(&k->e, 0, K_RATE, 0, K_MAX_WAIT, 0, 0, 0) ||
	    th_run_clients(&o6, &k->r6) || th_run_clients(&o4, &k->r4))
		return -1;
	k->n = k->paced.n + k->r4.n + k->r6.n;
	k->ok = k->paced.ok + k->r4.ok + k->r6.ok;
	k->failed = k->paced.failed + k->r4.failed + k->r6.failed;
	print_message("clients: %d connects, %d admitted, %d refused (paced %d/%d, IPv6 %d/%d, "
		      "IPv4 %d/%d)\n",
		      k->n, k->ok, k->failed, k->paced.failed, k->paced.n, k->r6.failed, k->r6.n,
		      k->r4.failed, k->r4.n);
	return 0;
}

static int k_teardown(void **state)
{
	struct kstate *k = *state;

	if (!k)
		return 0;
	cruise_maps_close(&k->m);
	th_run_free(&k->paced);
	th_run_free(&k->r4);
	th_run_free(&k->r6);
	th_env_teardown(&k->e);
	free(k);
	return 0;
}

static void test_k_snapshot(void **state)
{
	struct kstate *k = *state;
	struct cruise_snapshot *s = calloc(1, sizeof(*s));
	const struct cruise_snapshot_medium *m;
	struct cruise_maps none;
	__u64 buckets = 0;
	char dir[PATH_MAX + 8];

	assert_non_null(s);
	/* a missing pin is -ENOENT, and nothing is left open */
	snprintf(dir, sizeof(dir), "%s-none", k->e.pin_dir);
	assert_int_equal(cruise_maps_open_pinned(&none, dir), -ENOENT);
	assert_int_equal(none.media, -1);
	assert_int_equal(none.events, -1);

	assert_true(k->failed > 0 && k->ok > 0);
	assert_int_equal(cruise_maps_open_pinned(&k->m, k->e.pin_dir), 0);
	assert_int_equal(cruise_snapshot_read(&k->m, s), 0);
	assert_true(s->taken_ns > 0 && s->taken_ns <= cruise_now_ns());
	/* active media only, in index order */
	assert_int_equal(s->n_media, 2);
	assert_int_equal(s->media[0].index, 0);
	assert_int_equal(s->media[1].index, 7);
	assert_string_equal(s->media[1].cfg.name, "medium7");
	assert_true(s->media[1].c.connections == 0);
	assert_true(s->media[1].backlog_ns == 0);

	m = &s->media[0];
	assert_string_equal(m->cfg.name, "medium0");
	assert_true(m->cfg.interval_ns == K_INTERVAL);
	assert_true(m->cfg.max_wait_ns == K_MAX_WAIT);
	print_message("snapshot: connections %llu, admitted now %llu, delayed %llu (%.1f ms), "
		      "refused %llu, open %lld, backlog %.1f ms\n",
		      (unsigned long long)m->c.connections, (unsigned long long)m->c.admitted_now,
		      (unsigned long long)m->c.delayed, m->c.delay_ns / 1e6,
		      (unsigned long long)m->c.refused_max_wait, (long long)m->open_conns,
		      m->backlog_ns / 1e6);
	assert_true(m->c.connections == (__u64)k->n);
	assert_true(m->c.refused_max_wait == (__u64)k->failed);
	assert_true(m->c.refused_max_conns == 0);
	assert_true(m->c.admitted_now + m->c.delayed == (__u64)k->ok);
	for (int i = 0; i < CRUISE_DELAY_BUCKETS; i++)
		buckets += m->c.delay_buckets[i];
	assert_true(buckets == (__u64)k->ok);
	assert_true(m->c.delay_ns <= m->c.delayed * K_PACED_MAX_WAIT);
	assert_true(m->c.delayed > 0); /* the paced run's connects after its first */
	assert_true(m->c.delayed == 0 || m->c.delay_ns > 0);
	assert_true(m->c.events_lost == 0 && s->events_lost == 0);
	assert_true(m->open_conns >= 0 && m->open_conns <= k->ok);
	/* the schedule is never further ahead than max_wait plus the slot just taken */
	assert_true(m->backlog_ns <= K_MAX_WAIT + K_INTERVAL);
	/* not the agent: its health fields are zero */
	assert_true(s->progs_attached == 0 && s->config_generation == 0 && s->log_suppressed == 0);
	free(s);
}

static int k_take(void *ctx, struct cruise_snapshot *s)
{
	struct kstate *k = ctx;
	int err = cruise_snapshot_read(&k->m, s);

	s->progs_attached = CRUISE_PROG_COUNT;
	return err;
}

static bool k_healthy(void *ctx)
{
	return ((struct kstate *)ctx)->healthy;
}

static void test_k_metrics(void **state)
{
	struct kstate *k = *state;
	struct cruise_http *h;
	struct expo_check ck;
	struct http_reply r;
	char err[256], listen_at[64];
	uint16_t port;

	if (k->m.media < 0)
		assert_int_equal(cruise_maps_open_pinned(&k->m, k->e.pin_dir), 0);
	port = th_free_port("127.0.0.1");
	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%u", port);
	k->healthy = true;
	h = cruise_http_start(listen_at, k_take, k_healthy, k, err, sizeof(err));
	if (!h)
		fail_msg("%s: %s", listen_at, err);

	http_req("127.0.0.1", port, "GET", "/metrics", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.ctype, "text/plain; version=0.0.4; charset=utf-8");
	check_exposition(r.body, &ck);
	assert_true(sample(r.body, "cruise_connections_total{medium=\"medium0\"}") == k->n);
	assert_true(
		sample(r.body, "cruise_refused_total{medium=\"medium0\",reason=\"max_wait\"}") ==
		k->failed);
	assert_true(sample(r.body,
			   "cruise_refused_total{medium=\"medium0\",reason=\"max_conns\"}") == 0);
	assert_true(sample(r.body, "cruise_delay_seconds_count{medium=\"medium0\"}") == k->ok);
	assert_true(sample(r.body, "cruise_rate_limit{medium=\"medium0\"}") == K_RATE);
	assert_true(sample(r.body, "cruise_connections_total{medium=\"medium7\"}") == 0);
	assert_true(sample(r.body, "cruise_connections_total{medium=\"off\"}") == -1);
	assert_true(sample(r.body, "cruise_programs_attached") == CRUISE_PROG_COUNT);
	assert_true(sample(r.body, "cruise_events_lost_total") == 0);
	free(r.body);

	http_req("127.0.0.1", port, "GET", "/healthz", &r);
	assert_int_equal(r.status, 200);
	free(r.body);
	k->healthy = false;
	http_req("127.0.0.1", port, "GET", "/healthz", &r);
	assert_int_equal(r.status, 503);
	free(r.body);
	cruise_http_stop(h);
}

static const char *k_name_of(void *ctx, __u32 medium)
{
	(void)ctx;
	return medium == 0 ? "medium0" : NULL;
}

static void test_k_eventlog(void **state)
{
	struct kstate *k = *state;
	struct cruise_eventlog *l;
	char *buf = NULL, *p, *line, comm[CRUISE_COMM_LEN + 1] = "", want_cg[PATH_MAX];
	char dest4[64], dest6[64];
	int handled = 0, logged = 0, reports = 0, n, ev4 = 0, ev6 = 0;
	__u64 suppressed = 0, reported = 0, start = cruise_now_ns(), elapsed;
	size_t len = 0;
	FILE *out;
	struct jf f[32];

	if (k->m.events < 0)
		assert_int_equal(cruise_maps_open_pinned(&k->m, k->e.pin_dir), 0);
	assert_int_equal(prctl(PR_GET_NAME, comm, 0, 0, 0), 0);
	snprintf(want_cg, sizeof(want_cg), "%s", k->cg.path + strlen(k->cgroot));
	snprintf(dest4, sizeof(dest4), "127.0.0.1:%u", k->e.l4.port);
	snprintf(dest6, sizeof(dest6), "[::1]:%u", k->e.l6.port);
	out = open_memstream(&buf, &len);
	assert_non_null(out);
	l = cruise_eventlog_new(k->m.events, out, CRUISE_LOG_JSON, k->cgroot, k_name_of, NULL,
				K_LOG_PER_SEC, K_LOG_BURST);
	assert_non_null(l);
	assert_true(cruise_eventlog_fd(l) >= 0);
	while (handled < k->failed && cruise_now_ns() - start < 5 * NSEC_PER_SEC) {
		n = cruise_eventlog_poll(l, 100);
		assert_true(n >= 0);
		handled += n;
	}
	elapsed = cruise_now_ns() - start;
	assert_int_equal(handled, k->failed);
	assert_int_equal(cruise_eventlog_poll(l, 0), 0);
	suppressed = cruise_eventlog_suppressed(l);
	cruise_eventlog_free(l); /* reports what is still suppressed */
	assert_int_equal(fclose(out), 0);

	p = buf;
	while ((line = strsep(&p, "\n")) && *line) {
		const struct jf *v;
		const char *msg;

		n = j_parse(line, f, 32);
		if (n < 0)
			fail_msg("not a JSON object: %s", line);
		assert_ts(f, n, k->started - 1, time(NULL) + 1);
		assert_jstr(f, n, "level", "warn");
		assert_jstr(f, n, "medium", "medium0");
		v = j_get(f, n, "msg");
		msg = v ? v->val : "";
		if (!strcmp(msg, "refusal log lines suppressed")) {
			v = j_get(f, n, "suppressed");
			assert_non_null(v);
			assert_int_equal(v->type, 'n');
			assert_true(atoi(v->val) > 0);
			reports++;
			reported += atoi(v->val);
			continue;
		}
		assert_string_equal(msg, "connect refused");
		logged++;
		assert_int_equal(n, 12);
		assert_jstr(f, n, "cgroup", want_cg);
		assert_jstr(f, n, "comm", comm);
		assert_jstr(f, n, "reason", "max_wait");
		assert_jstr(f, n, "errno", "ECONNREFUSED");
		assert_jraw(f, n, "dry_run", 'b', "false");
		v = j_get(f, n, "pid");
		assert_true(v && v->type == 'n' && atoi(v->val) > 0 && atoi(v->val) != getpid());
		v = j_get(f, n, "wait_ms");
		assert_true(v && v->type == 'n' && strtod(v->val, NULL) * 1e6 >= K_MAX_WAIT);
		v = j_get(f, n, "dest");
		assert_non_null(v);
		ev4 += !strcmp(v->val, dest4);
		ev6 += !strcmp(v->val, dest6);
	}
	print_message("eventlog: %d refusals, %d lines (IPv4 %d, IPv6 %d), %d suppression "
		      "reports, in %.3f s\n",
		      k->failed, logged, ev4, ev6, reports, elapsed / 1e9);
	assert_int_equal(ev4 + ev6, logged);
	/* the IPv6 refusals came first (after any of the paced run): all logged, then IPv4 ones */
	if (k->paced.failed + k->r6.failed < K_LOG_BURST) {
		assert_int_equal(ev6, k->r6.failed);
		assert_true(ev4 > 0);
	}
	/* the burst, and what the bucket refilled while the test consumed */
	assert_true(logged >= K_LOG_BURST || logged == k->failed);
	assert_true(logged <= K_LOG_BURST + 1 + (int)(K_LOG_PER_SEC * elapsed / NSEC_PER_SEC));
	/* nothing lost: the lines and the suppressed counts add up to the refusals */
	assert_true(reported == suppressed);
	assert_int_equal(logged + (int)reported, k->failed);
	assert_true(reports >= 1 || k->failed <= K_LOG_BURST);
	free(buf);
}

/* Refusals of one client run, consumed by l; returns them. */
static int k_refuse_and_consume(struct kstate *k, struct cruise_eventlog *l, struct th_run *r)
{
	struct th_run_opts o = {
		.cgroup = k->cg.path,
		.addr = "127.0.0.1",
		.port = k->e.l4.port,
		.workers = 1,
		.duration_ns = 400 * NSEC_PER_MSEC,
		.max_per_worker = 30,
	};
	__u64 start = cruise_now_ns();
	int handled = 0;

	assert_int_equal(th_run_clients(&o, r), 0);
	assert_true(r->failed > 2);
	while (handled < r->failed && cruise_now_ns() - start < 5 * NSEC_PER_SEC) {
		int n = cruise_eventlog_poll(l, 100);

		assert_true(n >= 0);
		handled += n;
	}
	assert_int_equal(handled, r->failed);
	return r->failed;
}

/* Text lines of out so far: refusal lines, suppression reports and their sum. */
static void k_count_text(FILE *out, char **buf, int *lines, int *reports, int *suppressed)
{
	char *p, *q;

	assert_int_equal(fflush(out), 0);
	*lines = *reports = *suppressed = 0;
	for (p = *buf; p && *p; p = q ? q + 1 : NULL) {
		q = strchr(p, '\n');
		if (!strncmp(p + 24, " warn  connect refused medium=0 ", 32)) {
			(*lines)++;
		} else if (!strncmp(p + 24,
				    " warn  refusal log lines suppressed medium=0 "
				    "suppressed=",
				    56)) {
			(*reports)++;
			*suppressed += atoi(p + 24 + 56);
		} else {
			fail_msg("unexpected line: %.*s", q ? (int)(q - p) : (int)strlen(p), p);
		}
	}
}

/* Suppression reports: one per medium and second at most, the rest when the log is closed. */
static void test_k_eventlog_reports(void **state)
{
	struct kstate *k = *state;
	struct cruise_eventlog *l;
	struct th_run r1, r2;
	int lines, reports, supp, f1, f2;
	char *buf = NULL;
	size_t len = 0;
	__u64 t0, t1, t_tick;
	FILE *out;

	if (k->m.events < 0)
		assert_int_equal(cruise_maps_open_pinned(&k->m, k->e.pin_dir), 0);
	out = open_memstream(&buf, &len);
	assert_non_null(out);
	/* no names: lines carry the medium's index; 1 line a second, 2 at once */
	l = cruise_eventlog_new(k->m.events, out, CRUISE_LOG_TEXT, k->cgroot, NULL, NULL, 1, 2);
	assert_non_null(l);

	/*
	 * A storm: two lines, then the first report at once. One connect a second, so that after
	 * the first every connect of a run is refused however slowly this machine runs the client.
	 */
	assert_int_equal(th_env_medium(&k->e, 0, 1, 0, K_MAX_WAIT, 0, 0, 0), 0);
	t0 = cruise_now_ns();
	f1 = k_refuse_and_consume(k, l, &r1);
	t1 = cruise_now_ns();
	k_count_text(out, &buf, &lines, &reports, &supp);
	assert_int_equal(lines, 2);
	assert_int_equal(reports, 1);
	assert_int_equal(supp, f1 - 2);

	/* another within the second: at most a refilled line, the report waits for its second */
	f2 = k_refuse_and_consume(k, l, &r2);
	cruise_eventlog_tick(l);
	k_count_text(out, &buf, &lines, &reports, &supp);
	print_message("reports: %d + %d refusals, %d lines after %.3f s\n", f1, f2, lines,
		      (cruise_now_ns() - t1) / 1e9);
	assert_true(lines >= 2 && lines <= 2 + 1 + (int)((cruise_now_ns() - t1) / NSEC_PER_SEC));
	if (cruise_now_ns() - t1 < 900 * NSEC_PER_MSEC)
		assert_int_equal(reports, 1);
	/*
	 * A second after the first report (made after t0), a tick reports the rest: ticked until it
	 * does, within a second and a half of the first report; never a tick before its second.
	 */
	do {
		usleep(10000);
		cruise_eventlog_tick(l);
		t_tick = cruise_now_ns(); /* after the tick's own clock read */
		k_count_text(out, &buf, &lines, &reports, &supp);
	} while (reports < 2 && t_tick < t1 + 1500 * NSEC_PER_MSEC);
	print_message("second report %.3f s after the storm began\n", (t_tick - t0) / 1e9);
	assert_int_equal(reports, 2);
	assert_true(t_tick >= t0 + NSEC_PER_SEC);
	assert_int_equal(lines + supp, f1 + f2);
	assert_true(cruise_eventlog_suppressed(l) == (__u64)supp);
	/* nothing is left to report when the log is closed */
	cruise_eventlog_free(l);
	k_count_text(out, &buf, &lines, &reports, &supp);
	assert_int_equal(reports, 2);
	assert_int_equal(fclose(out), 0);
	free(buf);
	th_run_free(&r1);
	th_run_free(&r2);
	assert_int_equal(th_env_medium(&k->e, 0, K_RATE, 0, K_MAX_WAIT, 0, 0, 0), 0);
}

static void test_k_cgroup_path(void **state)
{
	struct kstate *k = *state;
	struct th_cgroup child, gone;
	char buf[PATH_MAX], want[PATH_MAX + 16];
	__u64 root_id;

	/* the root itself, the worker, a child of it */
	assert_int_equal(cruise_cgroup_id(k->cgroot, &root_id), 0);
	assert_int_equal(cruise_cgroup_path(k->cgroot, root_id, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/");
	assert_int_equal(cruise_cgroup_path(k->cgroot, k->cg.id, buf, sizeof(buf)), 0);
	assert_string_equal(buf, k->cg.path + strlen(k->cgroot));
	assert_int_equal(th_cgroup_create(&child, &k->cg, "child"), 0);
	assert_int_equal(cruise_cgroup_path(k->cgroot, child.id, buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "%s/child", k->cg.path + strlen(k->cgroot));
	assert_string_equal(buf, want);
	/* relative to another root: the scope */
	assert_int_equal(cruise_cgroup_path(k->e.scope.path, child.id, buf, sizeof(buf)), 0);
	snprintf(want, sizeof(want), "%s/child", k->cg.path + strlen(k->e.scope.path));
	assert_string_equal(buf, want);
	/* too small a buffer */
	assert_int_equal(cruise_cgroup_path(k->cgroot, child.id, buf, 4), -ENAMETOOLONG);
	/* a cgroup removed after it was cached, and one that never was */
	assert_int_equal(th_cgroup_create(&gone, &k->cg, "gone"), 0);
	assert_int_equal(cruise_cgroup_path(k->cgroot, gone.id, buf, sizeof(buf)), 0);
	assert_int_equal(th_cgroup_remove(&gone), 0);
	assert_int_equal(cruise_cgroup_path(k->cgroot, gone.id, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(cruise_cgroup_path(k->cgroot, ~0ULL - 1, buf, sizeof(buf)), -ENOENT);
	assert_int_equal(th_cgroup_remove(&child), 0);
	assert_int_equal(cruise_cgroup_path(k->cgroot, child.id, buf, sizeof(buf)), -ENOENT);
}

#define PIN_PATH_LEN (PATH_MAX + 64)

static const char *pin_path(char *buf, const char *dir, const char *name)
{
	snprintf(buf, PIN_PATH_LEN, "%s/%s", dir, name);
	return buf;
}

/* Pin at dir/name an array as another build would have left it. */
static void pin_array(const char *dir, const char *name, __u32 value_size, __u32 entries,
		      const void *value0)
{
	char path[PIN_PATH_LEN];
	__u32 key = 0;
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, sizeof(key), value_size, entries, NULL);

	assert_true(fd >= 0);
	if (value0)
		assert_int_equal(bpf_map_update_elem(fd, &key, value0, BPF_ANY), 0);
	assert_int_equal(bpf_obj_pin(fd, pin_path(path, dir, name)), 0);
	close(fd);
}

/* A load under dir succeeds and leaves this build's version in cruise_meta. */
static void load_stamps(const char *dir)
{
	struct cruise_handle *h = NULL;
	char err[PATH_MAX + 256];
	__u32 abi;

	assert_int_equal(cruise_load(&h, dir, err, sizeof(err)), 0);
	cruise_destroy(h);
	assert_int_equal(cruise_pinned_abi(dir, &abi), 0);
	assert_int_equal(abi, CRUISE_ABI_VERSION);
}

/*
 * The pins carry their ABI version in cruise_meta. The loader writes it; maps pinned by another
 * version are refused with one line naming both versions, before anything is loaded, and the
 * snapshot (cruisectl) refuses them too; pins of a build before cruise_meta are taken and stamped;
 * other layouts still fail in libbpf, with their own line.
 */
static void test_k_abi_version(void **state)
{
	struct kstate *k = *state;
	struct cruise_meta other = { .abi_version = CRUISE_ABI_VERSION + 1 };
	struct cruise_handle *h = NULL;
	char dir[PATH_MAX + 8], path[PIN_PATH_LEN], err[PATH_MAX + 256], want[128];
	struct cruise_maps m;
	__u32 abi;

	assert_int_equal(cruise_pinned_abi(k->e.pin_dir, &abi), 0);
	assert_int_equal(abi, CRUISE_ABI_VERSION);

	snprintf(dir, sizeof(dir), "%s-abi", k->e.pin_dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	pin_array(dir, "cruise_meta", sizeof(other), 1, &other);
	assert_int_equal(cruise_load(&h, dir, err, sizeof(err)), -EPROTO);
	print_message("another version: %s\n", err);
	assert_null(h);
	snprintf(want, sizeof(want), "ABI version %u, this cruise has version %u",
		 CRUISE_ABI_VERSION + 1, CRUISE_ABI_VERSION);
	assert_non_null(strstr(err, dir));
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "run cruise-agent --uninstall"));
	assert_int_equal(access(pin_path(path, dir, "cruise_state"), F_OK), -1);

	/* a fresh load, then one on the pins of a build before cruise_meta (same layout) */
	assert_int_equal(cruise_uninstall(dir, err, sizeof(err)), 0);
	load_stamps(dir);
	assert_int_equal(unlink(pin_path(path, dir, "cruise_meta")), 0);
	load_stamps(dir);
	/* the snapshot reads them, and not once their version is another */
	assert_int_equal(cruise_maps_open_pinned(&m, dir), 0);
	cruise_maps_close(&m);
	assert_int_equal(unlink(pin_path(path, dir, "cruise_meta")), 0);
	pin_array(dir, "cruise_meta", sizeof(other), 1, &other);
	assert_int_equal(cruise_maps_open_pinned(&m, dir), -EPROTO);
	assert_int_equal(cruise_uninstall(dir, err, sizeof(err)), 0);
	assert_int_equal(access(dir, F_OK), -1);

	/* no cruise_meta and another layout: libbpf refuses, the line says what to do */
	assert_int_equal(mkdir(dir, 0700), 0);
	pin_array(dir, "cruise_state", sizeof(struct cruise_medium_state) + 8, CRUISE_MAX_MEDIA,
		  NULL);
	assert_int_equal(cruise_load(&h, dir, err, sizeof(err)), -EINVAL);
	print_message("another layout: %s\n", err);
	assert_non_null(strstr(err, "another layout: run cruise-agent --uninstall"));
	assert_int_equal(cruise_pinned_abi(dir, &abi), 0);
	assert_int_equal(abi, 0); /* a failed load stamps nothing */
	assert_int_equal(cruise_uninstall(dir, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest unit[] = {
		cmocka_unit_test(test_expose_one_medium), cmocka_unit_test(test_expose_media),
		cmocka_unit_test(test_expose_fleet),	  cmocka_unit_test(test_expose_adaptive),
		cmocka_unit_test(test_event_json_v4),	  cmocka_unit_test(test_event_json_v6),
		cmocka_unit_test(test_event_text),	  cmocka_unit_test(test_http_listen_errors),
		cmocka_unit_test(test_http_fake),
	};
	const struct CMUnitTest kernel[] = {
		cmocka_unit_test(test_k_snapshot),    cmocka_unit_test(test_k_metrics),
		cmocka_unit_test(test_k_eventlog),    cmocka_unit_test(test_k_eventlog_reports),
		cmocka_unit_test(test_k_cgroup_path), cmocka_unit_test(test_k_abi_version),
	};
	int failed;

	failed = cmocka_run_group_tests_name("agent parts: exposition, event lines, HTTP", unit,
					     NULL, NULL);
	failed += cmocka_run_group_tests_name("agent parts on the real programs (root)", kernel,
					      k_setup, k_teardown);
	return failed ? 1 : 0;
}
