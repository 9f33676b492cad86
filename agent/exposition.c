// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Prometheus text exposition format 0.0.4 of a snapshot, and a small libmicrohttpd server for
 * /metrics and /healthz. Numbers are printed from integers wherever they can be (seconds from ns
 * as exact decimals), so that the output is exact and stable.
 */
#define _GNU_SOURCE /* open_memstream */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "adaptive.h"
#include "exposition.h"
#include "units.h" /* cruise_parse_count */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* v / 10^digits as an exact decimal, trailing zeros dropped: 1500000000, 9 -> "1.5" */
static void fmt_fixed(char *buf, size_t len, __u64 v, unsigned int digits)
{
	__u64 scale = 1;
	char frac[24];
	int n;

	for (unsigned int i = 0; i < digits; i++)
		scale *= 10;
	if (!(v % scale)) {
		snprintf(buf, len, "%" PRIu64, (uint64_t)(v / scale));
		return;
	}
	snprintf(frac, sizeof(frac), "%0*" PRIu64, (int)digits, (uint64_t)(v % scale));
	for (n = (int)strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
		frac[n - 1] = '\0';
	snprintf(buf, len, "%" PRIu64 ".%s", (uint64_t)(v / scale), frac);
}

static void fmt_seconds(char *buf, size_t len, __u64 ns)
{
	fmt_fixed(buf, len, ns, 9);
}

/* A label value as the format wants it: backslash, double quote and line feed escaped. */
static void put_label_value(FILE *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n && s[i]; i++) {
		switch (s[i]) {
		case '\\':
			fputs("\\\\", out);
			break;
		case '"':
			fputs("\\\"", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		default:
			fputc(s[i], out);
		}
	}
}

/* A sample's start, name{medium="name" (by its index when it has none): its labels follow */
static void put_medium(FILE *out, const char *name, const struct cruise_snapshot_medium *m)
{
	size_t n = strnlen(m->cfg.name, sizeof(m->cfg.name));

	fprintf(out, "%s{medium=\"", name);
	if (n)
		put_label_value(out, m->cfg.name, n);
	else
		fprintf(out, "%u", m->index);
	fputc('"', out);
}

static void family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* How a per-medium value is read from the snapshot and printed. */
enum kind {
	K_U64,	   /* __u64 */
	K_S64,	   /* __s64 */
	K_U32,	   /* __u32 */
	K_SECONDS, /* __u64 ns, as seconds */
	K_RATE,	   /* __u64 interval in ns, as connections per second (0: not paced) */
	K_MILLI,   /* __u64 per 1000 s, as per second */
	K_BOOL,	   /* bool, 1 or 0 */
	K_NOT,	   /* bool, 0 or 1 */
	K_DRY_RUN, /* __u32 flags, CRUISE_MEDIUM_DRY_RUN as 1 or 0 */
	K_DOUBLE,  /* double */
};

/* One family with a sample per medium: name{medium="..."} value */
struct series {
	const char *name, *type, *help;
	enum kind kind;
	size_t off; /* of the value in struct cruise_snapshot_medium */
};

#define AT(field)   offsetof(struct cruise_snapshot_medium, field)
#define AS(type, p) (*(const type *)(p))

/* The value at off in a medium, or in an item of another table (struct items). */
static void fmt_value(char *b, size_t n, const void *m, enum kind k, size_t off)
{
	const char *p = (const char *)m + off;

	switch (k) {
	case K_U64:
		snprintf(b, n, "%" PRIu64, (uint64_t)AS(__u64, p));
		break;
	case K_S64:
		snprintf(b, n, "%" PRId64, (int64_t)AS(__s64, p));
		break;
	case K_U32:
		snprintf(b, n, "%" PRIu32, AS(__u32, p));
		break;
	case K_SECONDS:
		fmt_seconds(b, n, AS(__u64, p));
		break;
	case K_RATE:
		if (AS(__u64, p))
			snprintf(b, n, "%.9g", 1e9 / (double)AS(__u64, p));
		else
			snprintf(b, n, "0");
		break;
	case K_MILLI:
		fmt_fixed(b, n, AS(__u64, p), 3);
		break;
	case K_BOOL:
	case K_NOT:
		snprintf(b, n, "%d", AS(bool, p) != (k == K_NOT));
		break;
	case K_DRY_RUN:
		snprintf(b, n, "%d", !!(AS(__u32, p) & CRUISE_MEDIUM_DRY_RUN));
		break;
	case K_DOUBLE:
		snprintf(b, n, "%.9g", AS(double, p));
		break;
	}
}

#define ONLY_FLEET    1 /* fleet: true media */
#define ONLY_ADAPTIVE 2 /* media with an adaptive: block */

/* Each series of x[n] over the media (or only some, ONLY_*). */
static void some_media(FILE *out, const struct cruise_snapshot *s, const struct series *x, size_t n,
		       int only)
{
	char v[64];

	for (; n; n--, x++) {
		family(out, x->name, x->type, x->help);
		for (unsigned int i = 0; i < s->n_media; i++) {
			if ((only == ONLY_FLEET && !s->media[i].fleet) ||
			    (only == ONLY_ADAPTIVE && !s->media[i].adaptive))
				continue;
			fmt_value(v, sizeof(v), &s->media[i], x->kind, x->off);
			put_medium(out, x->name, &s->media[i]);
			fprintf(out, "} %s\n", v);
		}
	}
}

static void refused(FILE *out, const struct cruise_snapshot *s)
{
	family(out, "cruise_refused_total", "counter",
	       "Connects refused, by reason: max_wait (the slot was further than the medium's "
	       "max_wait), max_conns (the medium had max_conns open connections).");
	for (unsigned int i = 0; i < s->n_media; i++) {
		const struct cruise_snapshot_medium *m = &s->media[i];

		put_medium(out, "cruise_refused_total", m);
		fprintf(out, ",reason=\"max_wait\"} %" PRIu64 "\n",
			(uint64_t)m->c.refused_max_wait);
		put_medium(out, "cruise_refused_total", m);
		fprintf(out, ",reason=\"max_conns\"} %" PRIu64 "\n",
			(uint64_t)m->c.refused_max_conns);
	}
}

static void delay_histogram(FILE *out, const struct cruise_snapshot *s)
{
	static const __u64 bounds_ms[CRUISE_DELAY_BUCKETS - 1] = { CRUISE_DELAY_BUCKET_BOUNDS_MS };
	char v[64];

	family(out, "cruise_delay_seconds", "histogram",
	       "How long admitted connects were held before their SYN left (0 when not held).");
	for (unsigned int i = 0; i < s->n_media; i++) {
		const struct cruise_snapshot_medium *m = &s->media[i];
		__u64 cum = 0, count = m->c.admitted_now + m->c.delayed;

		for (unsigned int b = 0; b < CRUISE_DELAY_BUCKETS - 1; b++) {
			cum += m->c.delay_buckets[b];
			fmt_seconds(v, sizeof(v), bounds_ms[b] * NSEC_PER_MSEC);
			put_medium(out, "cruise_delay_seconds_bucket", m);
			fprintf(out, ",le=\"%s\"} %" PRIu64 "\n", v, (uint64_t)cum);
		}
		cum += m->c.delay_buckets[CRUISE_DELAY_BUCKETS - 1];
		/*
		 * +Inf and _count are the same number, as the format requires; the per-CPU sums are
		 * read field by field while connects go on, so take the larger rather than let +Inf
		 * fall below a finite bucket.
		 */
		if (count < cum)
			count = cum;
		put_medium(out, "cruise_delay_seconds_bucket", m);
		fprintf(out, ",le=\"+Inf\"} %" PRIu64 "\n", (uint64_t)count);
		fmt_seconds(v, sizeof(v), m->c.delay_ns);
		put_medium(out, "cruise_delay_seconds_sum", m);
		fprintf(out, "} %s\n", v);
		put_medium(out, "cruise_delay_seconds_count", m);
		fprintf(out, "} %" PRIu64 "\n", (uint64_t)count);
	}
}

static void single(FILE *out, const char *name, const char *type, const char *help, __u64 v)
{
	family(out, name, type, help);
	fprintf(out, "%s %" PRIu64 "\n", name, (uint64_t)v);
}

/* Fleet media (fleet: true) and the store, only with a fleet block. */
static const struct series fleet_series[] = {
	{ "cruise_fleet_rate", "gauge",
	  "The fleet rate in force for all nodes together (the lowest of the nodes' configs), "
	  "connections per second; 0 before the first allocation.",
	  K_MILLI, AT(f.rate_milli) },
	{ "cruise_fleet_share", "gauge",
	  "This node's leased share of the fleet rate, connections per second.", K_RATE,
	  AT(cfg.interval_ns) },
	{ "cruise_fleet_fallback_rate", "gauge",
	  "The rate this node's datapath falls back to when its lease ends.", K_RATE,
	  AT(cfg.fallback_interval_ns) },
	{ "cruise_fleet_leased", "gauge",
	  "1 while this node holds a lease, 0 while it paces at its fallback.", K_NOT,
	  AT(fallback) },
	{ "cruise_fleet_lease_seconds", "gauge", "Seconds left on this node's lease (0: ended).",
	  K_SECONDS, AT(lease_left_ns) },
	{ "cruise_fleet_demand", "gauge",
	  "Connection attempts per second on this node, held and refused ones included.", K_MILLI,
	  AT(f.demand_milli) },
	{ "cruise_fleet_wants_more", "gauge",
	  "1 when this node's workers are held back by its share (held, refused, backlog).", K_BOOL,
	  AT(f.wants_more) },
	{ "cruise_fleet_nodes", "gauge",
	  "Nodes counted in the last allocation (those whose lease ended included until "
	  "forget_after).",
	  K_U64, AT(f.nodes) },
	{ "cruise_fleet_fallback_connections_total", "counter",
	  "Connects the datapath decided at the fallback rate because the lease had ended.", K_U64,
	  AT(c.fallback) },
};

static void fleet(FILE *out, const struct cruise_snapshot *s)
{
	some_media(out, s, fleet_series, ARRAY_SIZE(fleet_series), ONLY_FLEET);
	single(out, "cruise_fleet_store_up", "gauge",
	       "1 when the fleet store (Redis) answered the last refresh.", s->fleet_store_up);
	single(out, "cruise_fleet_store_errors_total", "counter",
	       "Failed connects and commands to the fleet store, and rejected replies.",
	       s->fleet_store_errors);
	single(out, "cruise_fleet_nodes_forgotten_total", "counter",
	       "Nodes this agent saw forgotten after forget_after (their fallback no longer "
	       "counted in the budget).",
	       s->fleet_nodes_forgotten);
}

/* Adaptive media and their signals, only with a signals: block. */
static const struct series adaptive_series[] = {
	{ "cruise_adaptive_rate", "gauge",
	  "The adapted rate, connections per second (a fleet medium's: the fleet rate this node "
	  "asks).",
	  K_RATE, AT(ad.rate_interval_ns) },
	{ "cruise_adaptive_ceiling", "gauge",
	  "The highest rate the controller may set (the medium's rate).", K_RATE,
	  AT(ad.ceiling_interval_ns) },
	{ "cruise_adaptive_floor", "gauge", "The lowest rate the controller may set (min_rate).",
	  K_RATE, AT(ad.floor_interval_ns) },
};

/* A table of the snapshot other than the media: each item is named by a label of its own. */
struct items {
	const char *label; /* "host", "service" */
	const void *v;
	size_t size; /* of an item */
	unsigned int n;
	size_t name_off, name_len; /* of an item's name */
};

/* One family with a sample per item: name{label="..."} value */
static void per_item(FILE *out, const struct items *t, const char *name, const char *type,
		     const char *help, size_t off, enum kind k)
{
	char v[64];

	family(out, name, type, help);
	for (unsigned int i = 0; i < t->n; i++) {
		const char *item = (const char *)t->v + i * t->size;

		fmt_value(v, sizeof(v), item, k, off);
		fprintf(out, "%s{%s=\"", name, t->label);
		put_label_value(out, item + t->name_off, t->name_len);
		fprintf(out, "\"} %s\n", v);
	}
}

#define HOST(field) offsetof(struct cruise_snapshot_host, field)

/* Targets by host name, only when some are configured. */
static void hosts(FILE *out, const struct cruise_snapshot *s)
{
	const struct items t = {
		.label = "host",
		.v = s->hosts,
		.size = sizeof(s->hosts[0]),
		.n = s->n_hosts,
		.name_off = HOST(name),
		.name_len = sizeof(s->hosts[0].name),
	};

	per_item(
		out, &t, "cruise_dns_up", "gauge",
		"1 when the host name's last lookup answered (else its last addresses stay paced).",
		HOST(failing), K_NOT);
	per_item(out, &t, "cruise_dns_addresses", "gauge",
		 "Addresses of the host name's last good answer, paced as its target's.",
		 HOST(n_addrs), K_U32);
	per_item(out, &t, "cruise_dns_lookups_total", "counter", "Lookups of the host name.",
		 HOST(lookups), K_U64);
	per_item(out, &t, "cruise_dns_failures_total", "counter",
		 "Lookups of the host name that failed (timeout, no answer, no records).",
		 HOST(failures), K_U64);
	per_item(out, &t, "cruise_dns_changes_total", "counter",
		 "Changes of the host name's addresses.", HOST(changes), K_U64);
}

#define SERVICE(field) offsetof(struct cruise_snapshot_service, field)

/* Targets by Kubernetes Service, only when some are configured. */
static void services(FILE *out, const struct cruise_snapshot *s)
{
	const struct items t = {
		.label = "service",
		.v = s->services,
		.size = sizeof(s->services[0]),
		.n = s->n_services,
		.name_off = SERVICE(name),
		.name_len = sizeof(s->services[0].name),
	};

	per_item(out, &t, "cruise_k8s_service_up", "gauge",
		 "1 when the API answered the last requests about the Service (else its last "
		 "addresses stay paced).",
		 SERVICE(up), K_BOOL);
	per_item(out, &t, "cruise_k8s_service_addresses", "gauge",
		 "Addresses of the Service's last good answer (ClusterIPs, or ready endpoints when "
		 "headless), paced as its target's.",
		 SERVICE(n_addrs), K_U32);
	per_item(out, &t, "cruise_k8s_service_errors_total", "counter",
		 "Failed requests and rejected answers about the Service, and its deletions.",
		 SERVICE(errors), K_U64);
	per_item(out, &t, "cruise_k8s_service_changes_total", "counter",
		 "Changes of the Service's addresses.", SERVICE(changes), K_U64);
}

#define SIG(field) offsetof(struct cruise_snapshot_signal, field)

static void adaptive(FILE *out, const struct cruise_snapshot *s)
{
	const struct items t = {
		.label = "signal",
		.v = s->signals,
		.size = sizeof(s->signals[0]),
		.n = s->n_signals,
		.name_off = SIG(name),
		.name_len = sizeof(s->signals[0].name),
	};

	some_media(out, s, adaptive_series, ARRAY_SIZE(adaptive_series), ONLY_ADAPTIVE);
	family(out, "cruise_adaptive_decision", "gauge",
	       "The controller's last decision for the medium (up, down, hold) and why.");
	for (unsigned int i = 0; i < s->n_media; i++) {
		const struct cruise_snapshot_medium *m = &s->media[i];

		if (!m->adaptive)
			continue;
		put_medium(out, "cruise_adaptive_decision", m);
		fprintf(out, ",decision=\"%s\",why=\"%s\"} 1\n",
			cruise_adapt_decision_name(m->ad.decision),
			cruise_adapt_why_name(m->ad.why));
	}
	family(out, "cruise_adaptive_decisions_total", "counter",
	       "Rounds of the controller by decision, since the agent started.");
	for (unsigned int i = 0; i < s->n_media; i++)
		for (int d = CRUISE_ADAPT_UP; s->media[i].adaptive && d <= CRUISE_ADAPT_HOLD; d++) {
			put_medium(out, "cruise_adaptive_decisions_total", &s->media[i]);
			fprintf(out, ",decision=\"%s\"} %" PRIu64 "\n",
				cruise_adapt_decision_name(d), (uint64_t)s->media[i].decisions[d]);
		}
	per_item(out, &t, "cruise_signal_value", "gauge",
		 "The signal's last good value (seconds for a latency).", SIG(value), K_DOUBLE);
	per_item(out, &t, "cruise_signal_target", "gauge",
		 "The signal's target: healthy at or under it.", SIG(target), K_DOUBLE);
	per_item(out, &t, "cruise_signal_up", "gauge",
		 "1 when the signal's last probe answered with a number.", SIG(up), K_BOOL);
	per_item(out, &t, "cruise_signal_probe_seconds", "gauge",
		 "How long the signal's last probe took.", SIG(took_ns), K_SECONDS);
	per_item(out, &t, "cruise_signal_failures_in_a_row", "gauge",
		 "Probes of the signal failed in a row (rates hold after 3).", SIG(failures),
		 K_U32);
	family(out, "cruise_signal_errors_total", "counter",
	       "Failed probes of the signal by reason (connect, timeout, query, garbage).");
	for (unsigned int i = 0; i < s->n_signals; i++)
		for (int e = CRUISE_PROBE_CONNECT; e < CRUISE_PROBE_ERROR_COUNT; e++) {
			fputs("cruise_signal_errors_total{signal=\"", out);
			put_label_value(out, s->signals[i].name, sizeof(s->signals[i].name));
			fprintf(out, "\",reason=\"%s\"} %" PRIu64 "\n", cruise_probe_error_name(e),
				(uint64_t)s->signals[i].errors[e]);
		}
}

/* Before and after the refusals and the histogram. */
static const struct series counters[] = {
	{ "cruise_connections_total", "counter",
	  "Connects to a database target from a cgroup bound to the medium.", K_U64,
	  AT(c.connections) },
	{ "cruise_delayed_total", "counter", "Connects held until their slot.", K_U64,
	  AT(c.delayed) },
};

static const struct series gauges[] = {
	{ "cruise_open_connections", "gauge",
	  "Open connections of the medium (what max_conns limits).", K_S64, AT(open_conns) },
	{ "cruise_rate_limit", "gauge",
	  "Rate in force on this node in connections per second (0: not paced); for a fleet "
	  "medium its share, or its fallback once the lease ended.",
	  K_RATE, AT(interval_ns) },
	{ "cruise_backlog_seconds", "gauge",
	  "How far the medium's next slot is ahead of now (0: a connect goes at once).", K_SECONDS,
	  AT(backlog_ns) },
	{ "cruise_dry_run", "gauge", "1 when the medium only counts what it would delay or refuse.",
	  K_DRY_RUN, AT(cfg.flags) },
	{ "cruise_max_wait_seconds", "gauge",
	  "The medium's max_wait: a connect whose slot is further away is refused.", K_SECONDS,
	  AT(cfg.max_wait_ns) },
	{ "cruise_max_conns", "gauge", "The medium's max_conns (0: no limit).", K_U32,
	  AT(cfg.max_conns) },
};

void cruise_expose(FILE *out, const struct cruise_snapshot *s)
{
	some_media(out, s, counters, ARRAY_SIZE(counters), 0);
	refused(out, s);
	delay_histogram(out, s);
	some_media(out, s, gauges, ARRAY_SIZE(gauges), 0);
	single(out, "cruise_programs_attached", "gauge",
	       "BPF programs of cruise attached to the scope cgroup.", s->progs_attached);
	single(out, "cruise_config_generation", "gauge",
	       "Configurations applied since the agent started.", s->config_generation);
	single(out, "cruise_reload_failures_total", "counter",
	       "Configuration reloads that failed and were not applied.", s->reload_failures);
	single(out, "cruise_events_lost_total", "counter",
	       "Refusal events the ring buffer had no room for.", s->events_lost);
	single(out, "cruise_log_suppressed_total", "counter",
	       "Refusal log lines suppressed by the log rate limit.", s->log_suppressed);
	if (s->fleet_configured)
		fleet(out, s);
	if (s->n_signals)
		adaptive(out, s);
	if (s->n_hosts)
		hosts(out, s);
	if (s->n_services)
		services(out, s);
	if (!s->pods_configured)
		return;
	single(out, "cruise_k8s_api_up", "gauge",
	       "1 when the Kubernetes API answered the agent's last request.", s->k8s_connected);
	single(out, "cruise_k8s_api_errors_total", "counter",
	       "Kubernetes API requests that failed or whose response was rejected.",
	       s->k8s_errors);
	single(out, "cruise_pods_bound", "gauge",
	       "Pods on this node selected by a medium and bound by their cgroup.", s->pods_bound);
	single(out, "cruise_pods_unresolved", "gauge",
	       "Pods selected by a medium whose cgroup was not found (yet); not paced.",
	       s->pods_unresolved);
}

/* HTTP */

struct cruise_http {
	struct MHD_Daemon *d;
	int (*take)(void *ctx, struct cruise_snapshot *s);
	bool (*healthy)(void *ctx);
	void *ctx;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int status, const char *ctype,
			     void *body, size_t len, enum MHD_ResponseMemoryMode mode,
			     const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned int status, const char *text,
				  const char *allow)
{
	return reply(c, status, "text/plain; charset=utf-8", (void *)text, strlen(text),
		     MHD_RESPMEM_PERSISTENT, allow);
}

static enum MHD_Result serve_metrics(struct cruise_http *h, struct MHD_Connection *c)
{
	struct cruise_snapshot *s = malloc(sizeof(*s));
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	if (!s)
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
	err = h->take ? h->take(h->ctx, s) : -ENOSYS;
	if (err < 0) {
		free(s);
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read the maps\n",
				  NULL);
	}
	f = open_memstream(&buf, &len);
	if (!f) {
		free(s);
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
	}
	cruise_expose(f, s);
	free(s);
	if (fclose(f)) {
		free(buf);
		return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
	}
	return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", buf, len,
		     MHD_RESPMEM_MUST_FREE, NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct cruise_http *h = cls;
	bool metrics = !strcmp(url, "/metrics"), health = !strcmp(url, "/healthz");

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)con_cls;
	if (!metrics && !health)
		return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
				  "GET, HEAD");
	if (metrics)
		return serve_metrics(h, c);
	if (!h->healthy || h->healthy(h->ctx))
		return reply_text(c, MHD_HTTP_OK, "ok\n", NULL);
	return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "unhealthy\n", NULL);
}

/* "127.0.0.1:9464", "[::1]:9464", ":9464" (every IPv4 address), "0.0.0.0:9464"; numeric only. */
static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *sslen, char *err,
			size_t errlen)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	char host[INET6_ADDRSTRLEN];
	const char *colon;
	__u64 port;
	size_t hlen;
	bool v6;

	memset(ss, 0, sizeof(*ss));
	if (!s || !*s)
		goto bad;
	v6 = s[0] == '[';
	if (v6) {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			goto bad;
		hlen = close - (s + 1);
		colon = close + 1;
		memmove(host, s + 1, hlen < sizeof(host) ? hlen : 0);
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			goto bad;
		hlen = colon - s;
		if (memchr(s, ':', hlen)) {
			snprintf(err, errlen,
				 "bad listen address \"%s\": put an IPv6 address in "
				 "brackets, as [::1]:9464",
				 s);
			return -EINVAL;
		}
		memmove(host, s, hlen < sizeof(host) ? hlen : 0);
	}
	if (hlen >= sizeof(host))
		goto bad;
	host[hlen] = '\0';
	if (cruise_parse_count(colon + 1, 65535, &port, NULL, 0) || !port) {
		snprintf(err, errlen, "bad listen address \"%s\": the port must be 1 to 65535", s);
		return -EINVAL;
	}
	if (v6) {
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			goto bad;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*sslen = sizeof(*in6);
		return 0;
	}
	if (!*host)
		in4->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &in4->sin_addr) != 1)
		goto bad;
	in4->sin_family = AF_INET;
	in4->sin_port = htons(port);
	*sslen = sizeof(*in4);
	return 0;
bad:
	snprintf(err, errlen,
		 "bad listen address \"%s\": expected IPv4:port, [IPv6]:port or :port, numeric",
		 s ? s : "");
	return -EINVAL;
}

/* Why libmicrohttpd could not listen (it does not say): try the same bind. */
static int bind_error(const struct sockaddr_storage *ss, socklen_t len)
{
	int one = 1, fd, err = 0;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) || listen(fd, 1))
		err = errno;
	close(fd);
	return err;
}

struct cruise_http *cruise_http_start(const char *listen,
				      int (*take)(void *ctx, struct cruise_snapshot *s),
				      bool (*healthy)(void *ctx), void *ctx, char *err,
				      size_t errlen)
{
	struct sockaddr_storage ss;
	struct cruise_http *h;
	unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD;
	socklen_t sslen;
	int e;

	if (parse_listen(listen, &ss, &sslen, err, errlen))
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, errlen, "cannot start the HTTP server: out of memory");
		return NULL;
	}
	h->take = take;
	h->healthy = healthy;
	h->ctx = ctx;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	h->d = MHD_start_daemon(flags, ntohs(((struct sockaddr_in *)&ss)->sin_port), NULL, NULL,
				handle, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
	if (!h->d) {
		e = bind_error(&ss, sslen);
		if (e)
			snprintf(err, errlen, "cannot listen on %s: %s", listen, strerror(e));
		else
			snprintf(err, errlen, "cannot start the HTTP server on %s", listen);
		free(h);
		return NULL;
	}
	return h;
}

void cruise_http_stop(struct cruise_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}
