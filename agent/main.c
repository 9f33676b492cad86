// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cruise-agent: loads and pins the datapath, binds cgroups to media from the config file, keeps
 * the bindings in step with the cgroup tree, reloads on SIGHUP and when the config changes, logs
 * refusals and serves /metrics and /healthz. Whatever happens to this process, the pinned programs
 * keep enforcing the last good config.
 *
 * Over 600 lines: the one event loop and the handlers of everything it owns (config, cgroup
 * bindings, pods, fleet leases, signals, targets by host name and by Service); the work of each
 * lives in its own module.
 */
#define _GNU_SOURCE
#include <argp.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "apply.h"
#include "bind.h"
#include "config.h"
#include "cruise.skel.h"
#include "eventlog.h"
#include "exposition.h"
#include "adaptive_run.h"
#include "fleet.h"
#include "resolve.h"
#include "k8s_endpoints.h"
#include "k8s_pod_watch.h"
#include "k8s_services.h"
#include "loader.h"
#include "log.h"
#include "pod_bind.h"
#include "snapshot.h"

#define BPFFS_ROOT "/sys/fs/bpf"
/* refusal log lines per medium: a second's worth, and bursts */
#define EVENT_LOG_PER_SEC 10
#define EVENT_LOG_BURST	  20
/* a full rescan of the cgroup tree this often, in case an inotify event was missed */
#define RESCAN_SECONDS 10
/* Kubernetes API: retry after 0.5 s, doubling up to 30 s (as client-go's reflector) */
#define K8S_BACKOFF_MIN_MS 500
#define K8S_BACKOFF_MAX_MS 30000

static struct opts {
	const char *config;
	const char *check;
	const char *pin_dir;
	bool uninstall;
	bool verbose;
	enum cruise_log_format log_format;
	const char *node_name;
	const char *k8s_secrets;
	unsigned int k8s_backoff_max_ms;
	const char *resolv_conf;
	const char *dns_servers;
} opts = { .log_format = CRUISE_LOG_JSON, .k8s_backoff_max_ms = K8S_BACKOFF_MAX_MS };

static const char doc[] =
	"cruise-agent: kernel-level connection pacing for databases.\n"
	"\n"
	"Loads the cruise BPF programs, pins them under the config's pin_dir, binds worker "
	"cgroups\n"
	"to media and keeps them paced. Runs in the foreground and logs to stderr.\n"
	"\n"
	"EXAMPLES:\n"
	"  cruise-agent --config /etc/cruise/cruise.yaml   run with this config\n"
	"  cruise-agent --check cruise.yaml                validate a config, touch nothing\n"
	"  cruise-agent --uninstall                        remove what cruise pinned and attached\n"
	"  kill -HUP $(pidof cruise-agent)                 reload the config";

static const struct argp_option options[] = {
	{ "config", 'c', "FILE", 0, "Run with this config file", 0 },
	{ "check", 'k', "FILE", 0, "Validate FILE and exit: 0 if good, 1 with one error line", 0 },
	{ "uninstall", 'u', NULL, 0, "Detach and remove everything cruise pinned, then exit", 0 },
	{ "pin-dir", 'p', "DIR", 0,
	  "Pin directory for --uninstall (default: the config's, or " CRUISE_DEFAULT_PIN_DIR ")",
	  0 },
	{ "log-format", 'l', "FORMAT", 0, "json (default) or text", 0 },
	{ "verbose", 'v', NULL, 0, "Debug logs, libbpf's included", 0 },
	{ "node-name", 'n', "NAME", 0,
	  "This node, for media that select pods (default: $NODE_NAME, from the downward API)", 0 },
	{ "k8s-secrets", 's', "DIR", 0,
	  "Service-account token and ca.crt (default: $CRUISE_K8S_SECRETS or " CRUISE_K8S_SECRETS
	  "); the API server is $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT",
	  0 },
	{ "k8s-backoff-max", 'b', "MS", 0,
	  "Longest wait between retries while the Kubernetes API is away (default 30000)", 0 },
	{ "resolv-conf", 'r', "FILE", 0,
	  "Resolve targets' hosts with this resolv.conf instead of /etc/resolv.conf (tests, a "
	  "resolver of the database's own)",
	  0 },
	{ "dns-servers", 'd', "HOST:PORT,...", 0,
	  "Ask these name servers instead of the resolv.conf's (which still gives search domains "
	  "and options): \"127.0.0.1:5353\", \"[::1]:53\"",
	  0 },
	{},
};

static error_t parse_arg(int key, char *arg, struct argp_state *state)
{
	switch (key) {
	case 'c':
		opts.config = arg;
		break;
	case 'k':
		opts.check = arg;
		break;
	case 'u':
		opts.uninstall = true;
		break;
	case 'p':
		opts.pin_dir = arg;
		break;
	case 'l':
		if (!strcmp(arg, "json"))
			opts.log_format = CRUISE_LOG_JSON;
		else if (!strcmp(arg, "text"))
			opts.log_format = CRUISE_LOG_TEXT;
		else
			argp_error(state, "unknown log format \"%s\": json or text", arg);
		break;
	case 'v':
		opts.verbose = true;
		break;
	case 'n':
		opts.node_name = arg;
		break;
	case 's':
		opts.k8s_secrets = arg;
		break;
	case 'r':
		opts.resolv_conf = arg;
		break;
	case 'd':
		opts.dns_servers = arg;
		break;
	case 'b': {
		char *end;
		unsigned long v = strtoul(arg, &end, 10);

		if (end == arg || *end || v < K8S_BACKOFF_MIN_MS || v > 3600000)
			argp_error(state, "--k8s-backoff-max: %s is not %d to 3600000 ms", arg,
				   K8S_BACKOFF_MIN_MS);
		opts.k8s_backoff_max_ms = v;
		break;
	}
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument \"%s\"", arg);
		break;
	case ARGP_KEY_END:
		if (!opts.config && !opts.check && !opts.uninstall)
			argp_error(state, "one of --config, --check or --uninstall is needed");
		break;
	default:
		return ARGP_ERR_UNKNOWN;
	}
	return 0;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !opts.verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

struct agent {
	struct cruise_config *cfg;
	struct cruise_applied applied;
	struct cruise_handle *h;
	struct cruise_maps maps;
	struct cruise_bind_watch *watch;
	struct cruise_eventlog *events;
	struct cruise_http *http;
	char cgroup_root[PATH_MAX];
	char config_dir[PATH_MAX];
	char *config_text;   /* what the running config was loaded from, to spot changes */
	char *rejected_text; /* the last config rejected: not retried until it changes */
	__u64 generation;
	__u64 reload_failures;
	bool rescan;
	/* media that select pods: the API client, the node's pods, their bindings */
	struct cruise_k8s *k8s;
	struct cruise_pod *pods;
	size_t n_pods;
	bool pods_known;	    /* a list since the start: until then no binding is removed */
	struct cruise_pod_binds pb; /* the selected pods' bindings, what was logged of them */
	__u64 pods_unresolved;
	/*
	 * The metrics thread reads the API client's stats and the pod counts under k8s_lock: the
	 * main loop stops (frees) the client and recounts the pods while a scrape may be running.
	 */
	pthread_mutex_t k8s_lock;
	__u64 pods_bound;
	/* the fleet thread, from the first config with a fleet block on */
	struct cruise_fleet *fleet;
	/* adaptive rates: a probe thread per signal, the controller in this loop */
	struct cruise_signals *signals;
	struct cruise_adaptive_run *adapt;
	/* targets by host name: the resolver, from the first config with hosts on */
	struct cruise_resolver *resolver;
	struct cruise_resolved *hosts; /* its last table (main loop) */
	size_t n_hosts;
	/* targets by Kubernetes Service: the watches, while a target names one (under k8s_lock) */
	struct cruise_k8s_services *svc;
	struct cruise_service *services; /* their last table (main loop) */
	size_t n_services;
};

static struct agent agent = { .k8s_lock = PTHREAD_MUTEX_INITIALIZER };

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f)
		return NULL;
	if (getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(f);
	return buf;
}

/* The resolver's counts, for /metrics (the metrics thread: the resolver copies under its lock). */
static void hosts_snapshot(struct cruise_resolver *r, struct cruise_snapshot *s)
{
	struct cruise_resolved *t;
	size_t n;

	if (cruise_resolver_table(r, &t, &n))
		return;
	for (size_t i = 0; i < n && s->n_hosts < CRUISE_SNAPSHOT_HOSTS; i++) {
		struct cruise_snapshot_host *h = &s->hosts[s->n_hosts++];

		snprintf(h->name, sizeof(h->name), "%s", t[i].host);
		h->n_addrs = t[i].n_addrs;
		h->failing = t[i].failing;
		h->lookups = t[i].lookups;
		h->failures = t[i].failures;
		h->changes = t[i].changes;
		h->confirmed_ns = t[i].confirmed_ns;
	}
	cruise_resolved_free(t, n);
}

/* The Services' counts, for /metrics (the metrics thread, under k8s_lock). */
static void services_snapshot(struct cruise_k8s_services *k, struct cruise_snapshot *s)
{
	struct cruise_service *t;
	size_t n;

	if (cruise_k8s_services_table(k, false, &t, &n))
		return;
	for (size_t i = 0; i < n && s->n_services < CRUISE_SNAPSHOT_SERVICES; i++) {
		struct cruise_snapshot_service *v = &s->services[s->n_services++];

		snprintf(v->name, sizeof(v->name), "%s/%s", t[i].ns, t[i].name);
		v->n_addrs = t[i].ep.n_addrs;
		v->up = t[i].up;
		v->gone = t[i].gone;
		v->errors = t[i].errors;
		v->changes = t[i].changes;
		v->confirmed_ns = t[i].confirmed_ns;
	}
	free(t);
}

static int take_snapshot(void *ctx, struct cruise_snapshot *s)
{
	struct agent *a = ctx;
	int err = cruise_snapshot_read(&a->maps, s);

	s->progs_attached = cruise_links_attached(a->h);
	s->config_generation = a->generation;
	s->reload_failures = a->reload_failures;
	s->log_suppressed = a->events ? cruise_eventlog_suppressed(a->events) : 0;
	pthread_mutex_lock(&a->k8s_lock);
	if (a->k8s) {
		struct cruise_k8s_stats st;

		cruise_k8s_stats(a->k8s, &st);
		s->pods_configured = true;
		s->k8s_connected = st.connected;
		s->k8s_errors = st.errors;
		s->pods_bound = a->pods_bound;
		s->pods_unresolved = a->pods_unresolved;
	}
	if (a->svc)
		services_snapshot(a->svc, s);
	pthread_mutex_unlock(&a->k8s_lock);
	cruise_fleet_snapshot(a->fleet, s);
	cruise_adaptive_snapshot(a->adapt, s);
	if (a->resolver) /* never stopped while the agent runs */
		hosts_snapshot(a->resolver, s);
	return err;
}

static bool healthy(void *ctx)
{
	struct agent *a = ctx;

	return cruise_links_attached(a->h) == CRUISE_PROG_COUNT;
}

static const char *medium_name_of(void *ctx, __u32 medium)
{
	struct agent *a = ctx;

	for (unsigned int c = 0; a->cfg && c < a->cfg->n_media; c++)
		if (a->applied.medium_index[c] == medium)
			return a->cfg->media[c].name;
	return NULL;
}

/* The bindings of the selected pods (pod_bind.h); the counts for /metrics under k8s_lock. */
static void pods_bind(struct agent *a)
{
	struct cruise_pod_binds next;

	if (cruise_pods_bind(a->cfg, a->applied.medium_index, a->cgroup_root, a->pods, a->n_pods,
			     &a->pb, &next))
		return; /* out of memory: the bindings in force stay */
	cruise_pod_binds_free(&a->pb);
	a->pb = next;
	pthread_mutex_lock(&a->k8s_lock);
	a->pods_unresolved = a->pb.unresolved;
	a->pods_bound = a->pb.set.n;
	pthread_mutex_unlock(&a->k8s_lock);
}

/* The bindings map from the patterns and the pods, as they are now. */
static void update_bindings(struct agent *a, bool log_all)
{
	if (a->k8s && a->pods_known)
		pods_bind(a);
	/* until the first list, the pods a previous agent bound keep their bindings */
	cruise_apply_bindings(&a->maps, a->cgroup_root, &a->applied, a->cfg, &a->pb.set,
			      cruise_config_uses_pods(a->cfg) && !a->pods_known, log_all);
	cruise_bind_watch_refresh(a->watch, a->applied.rules, a->applied.n_rules);
}

/* The API server, from the pod's environment, and the options. */
static struct cruise_k8s_conn k8s_conn(void)
{
	return (struct cruise_k8s_conn){
		.host = getenv("KUBERNETES_SERVICE_HOST"),
		.port = getenv("KUBERNETES_SERVICE_PORT"),
		.secrets_dir = opts.k8s_secrets ? opts.k8s_secrets : getenv("CRUISE_K8S_SECRETS"),
		.backoff_min_ms = K8S_BACKOFF_MIN_MS,
		.backoff_max_ms = opts.k8s_backoff_max_ms,
	};
}

/* Watch the node's pods only while a medium selects pods. */
static int k8s_follow_config(struct agent *a)
{
	struct cruise_k8s_conn o = k8s_conn();
	const char *node = opts.node_name ? opts.node_name : getenv("NODE_NAME");
	struct cruise_k8s *k;
	char err[256];

	if (cruise_config_uses_pods(a->cfg) == !!a->k8s)
		return 0;
	if (a->k8s) {
		pthread_mutex_lock(&a->k8s_lock);
		k = a->k8s;
		a->k8s = NULL;
		a->pods_bound = a->pods_unresolved = 0;
		pthread_mutex_unlock(&a->k8s_lock);
		cruise_k8s_stop(k);
		cruise_pods_free(a->pods, a->n_pods);
		a->pods = NULL;
		a->n_pods = 0;
		a->pods_known = false;
		cruise_pod_binds_free(&a->pb);
		cruise_log(CRUISE_LOG_INFO, "no medium selects pods: stopped watching them", NULL);
		return 0;
	}
	k = cruise_k8s_start(&o, node, err, sizeof(err));
	if (!k) {
		cruise_log(CRUISE_LOG_ERROR, "cannot watch pods", "error", err, NULL);
		return -1;
	}
	pthread_mutex_lock(&a->k8s_lock);
	a->k8s = k;
	pthread_mutex_unlock(&a->k8s_lock);
	cruise_log(CRUISE_LOG_INFO, "watching the pods of this node", "node", node, "api", o.host,
		   NULL);
	return 0;
}

/* The API thread has a new table of pods. */
static void k8s_changed(struct agent *a)
{
	struct cruise_pod *pods;
	size_t n;

	/* an event of a client that a reload in the same epoll batch stopped */
	if (!a->k8s || cruise_k8s_take(a->k8s, &pods, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		bool known = false;

		if (!pods[i].skip)
			continue;
		/* said once per pod: the table comes again at every change on the node */
		for (size_t j = 0; j < a->n_pods && !known; j++)
			known = a->pods[j].skip && !strcmp(a->pods[j].uid, pods[i].uid);
		if (!known)
			cruise_log(CRUISE_LOG_WARN, "pod ignored: never bound to a medium", "pod",
				   pods[i].name, "uid", pods[i].uid, "why", pods[i].skip, NULL);
	}
	cruise_pods_free(a->pods, a->n_pods);
	a->pods = pods;
	a->n_pods = n;
	a->pods_known = true;
	update_bindings(a, false);
}

/* The hosts of the config to the resolver, started with the first config that names one. */
static void resolver_follow_config(struct agent *a)
{
	const char *hosts[CRUISE_MAX_TARGETS];
	size_t n = 0;
	char err[256];

	for (unsigned int t = 0; t < a->cfg->n_targets; t++)
		for (unsigned int h = 0; h < a->cfg->targets[t].n_hosts && n < CRUISE_MAX_TARGETS;
		     h++)
			hosts[n++] = a->cfg->targets[t].hosts[h];
	if (n && !a->resolver) {
		a->resolver = cruise_resolver_start_servers(opts.resolv_conf, opts.dns_servers, err,
							    sizeof(err));
		if (!a->resolver) {
			cruise_log(CRUISE_LOG_ERROR,
				   "cannot start the resolver; targets by host name are not paced",
				   "error", err, NULL);
			return;
		}
	}
	if (a->resolver)
		cruise_resolver_set_hosts(a->resolver, hosts, n);
}

static const struct cruise_resolved *host_in(const struct cruise_resolved *t, size_t n,
					     const char *host)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(t[i].host, host))
			return &t[i];
	return NULL;
}

static struct cruise_target_sources target_sources(const struct agent *a)
{
	return (struct cruise_target_sources){ a->hosts, a->n_hosts, a->services, a->n_services };
}

/* The targets map from the config and what the resolver and the Services' watches said. */
static void targets_update(struct agent *a)
{
	struct cruise_target_sources src = target_sources(a);
	char err[512];

	if (cruise_apply_targets(&a->maps, a->cfg, &src, err, sizeof(err)))
		cruise_log(CRUISE_LOG_ERROR, "cannot update the targets", "error", err, NULL);
}

/* The resolver has news: one log line per change, then the targets map follows. */
static void hosts_changed(struct agent *a)
{
	struct cruise_resolved *t;
	char was[1024], now[1024];
	size_t n;

	if (!a->resolver || cruise_resolver_take(a->resolver, &t, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		const struct cruise_resolved *old = host_in(a->hosts, a->n_hosts, t[i].host);
		bool same = old && old->n_addrs == t[i].n_addrs &&
			    !memcmp(old->addrs, t[i].addrs, t[i].n_addrs * sizeof(t[i].addrs[0]));

		cruise_endpoints_addrs_str(t[i].addrs, t[i].n_addrs, now, sizeof(now));
		if (!same && t[i].n_addrs) {
			if (old)
				cruise_endpoints_addrs_str(old->addrs, old->n_addrs, was,
							   sizeof(was));
			cruise_log(CRUISE_LOG_INFO, "target addresses changed", "host", t[i].host,
				   "old", old && old->n_addrs ? was : "none", "new", now, NULL);
		}
		if (t[i].failing && (!old || !old->failing))
			cruise_log(CRUISE_LOG_WARN,
				   "host name lookup failing; its last addresses stay paced",
				   "host", t[i].host, "error", t[i].error, "addresses",
				   t[i].n_addrs ? now : "none", NULL);
		else if (!t[i].failing && old && old->failing)
			cruise_log(CRUISE_LOG_INFO, "host name answers again", "host", t[i].host,
				   NULL);
	}
	cruise_resolved_free(a->hosts, a->n_hosts);
	a->hosts = t;
	a->n_hosts = n;
	targets_update(a);
}

/* Watch the Services the targets name, from the first config that names one. */
static void services_follow_config(struct agent *a)
{
	struct cruise_service_ref refs[CRUISE_MAX_TARGETS];
	struct cruise_k8s_conn o = k8s_conn();
	struct cruise_k8s_services *k;
	size_t n = 0;
	char err[256];

	for (unsigned int t = 0; t < a->cfg->n_targets && n < CRUISE_MAX_TARGETS; t++)
		if (a->cfg->targets[t].service_name)
			refs[n++] = (struct cruise_service_ref){ a->cfg->targets[t].service_ns,
								 a->cfg->targets[t].service_name };
	if (!n && a->svc) {
		pthread_mutex_lock(&a->k8s_lock);
		k = a->svc;
		a->svc = NULL;
		pthread_mutex_unlock(&a->k8s_lock);
		cruise_k8s_services_stop(k);
		free(a->services);
		a->services = NULL;
		a->n_services = 0;
		cruise_log(CRUISE_LOG_INFO, "no target names a Service: stopped watching them",
			   NULL);
		return;
	}
	if (n && !a->svc) {
		k = cruise_k8s_services_start(&o, err, sizeof(err));
		if (!k) {
			cruise_log(CRUISE_LOG_ERROR,
				   "cannot watch Services; their targets are not paced", "error",
				   err, NULL);
			return;
		}
		pthread_mutex_lock(&a->k8s_lock);
		a->svc = k;
		pthread_mutex_unlock(&a->k8s_lock);
		cruise_log(CRUISE_LOG_INFO, "watching the Services of the targets", "api", o.host,
			   NULL);
	}
	if (a->svc && cruise_k8s_services_set(a->svc, refs, n))
		cruise_log(CRUISE_LOG_ERROR, "cannot watch every Service of the targets", NULL);
}

static const struct cruise_service *service_in(const struct cruise_service *t, size_t n,
					       const struct cruise_service *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(t[i].ns, s->ns) && !strcmp(t[i].name, s->name))
			return &t[i];
	return NULL;
}

/* What changed of one Service, said once: its addresses, its going and coming back. */
static void service_news(const struct cruise_service *old, const struct cruise_service *s)
{
	char name[2 * CRUISE_SVC_LABEL_LEN], was[1024], now[1024];
	bool same = old && old->known && old->ep.n_addrs == s->ep.n_addrs &&
		    !memcmp(old->ep.addrs, s->ep.addrs, s->ep.n_addrs * sizeof(s->ep.addrs[0]));

	snprintf(name, sizeof(name), "%s/%s", s->ns, s->name);
	cruise_endpoints_addrs_str(s->ep.addrs, s->ep.n_addrs, now, sizeof(now));
	if (!same && s->known) {
		if (old)
			cruise_endpoints_addrs_str(old->ep.addrs, old->ep.n_addrs, was,
						   sizeof(was));
		cruise_log(CRUISE_LOG_INFO, "target addresses changed", "service", name, "old",
			   old && old->known ? was : "none", "new", now, NULL);
	}
	if (s->gone && (!old || !old->gone))
		cruise_log(CRUISE_LOG_WARN,
			   "kubernetes Service not found (deleted?); its last addresses stay paced",
			   "service", name, "addresses", s->known ? now : "none", NULL);
	else if (!s->gone && old && old->gone)
		cruise_log(CRUISE_LOG_INFO, "kubernetes Service is back", "service", name, NULL);
	if (s->empty && !s->gone && (!old || !old->empty))
		cruise_log(CRUISE_LOG_WARN,
			   "kubernetes Service names no ready address; its last ones stay paced",
			   "service", name, "addresses", s->known ? now : "none", NULL);
	if (s->ep.truncated && (!old || !old->ep.truncated))
		cruise_log(CRUISE_LOG_WARN,
			   "kubernetes Service has more addresses or ports than a target follows; "
			   "the first ones are paced",
			   "service", name, NULL);
}

/* The Services' watches have news: one log line per change, then the targets map follows. */
static void services_changed(struct agent *a)
{
	struct cruise_service *t;
	size_t n;

	if (!a->svc || cruise_k8s_services_table(a->svc, true, &t, &n))
		return;
	for (size_t i = 0; i < n; i++)
		service_news(service_in(a->services, a->n_services, &t[i]), &t[i]);
	free(a->services);
	a->services = t;
	a->n_services = n;
	targets_update(a);
}

/* Put cfg into the maps; on success it becomes the running config. */
static int apply(struct agent *a, struct cruise_config *cfg, char *text)
{
	struct cruise_target_sources src = target_sources(a);
	struct cruise_applied applied;
	char err[512], gen[24];

	if (cruise_apply_config(&a->maps, cfg, &src, &applied, err, sizeof(err))) {
		cruise_log(CRUISE_LOG_ERROR, "cannot apply config", "error", err, NULL);
		return -1;
	}
	cruise_applied_free(&a->applied);
	a->applied = applied;
	cruise_config_free(a->cfg);
	a->cfg = cfg;
	free(a->config_text);
	a->config_text = text;
	a->generation++;
	for (unsigned int c = 0; c < cfg->n_media; c++) {
		char rate[32], wait[32], idx[12];

		cruise_format_rate(cfg->media[c].interval_ns, rate, sizeof(rate));
		cruise_format_duration(cfg->media[c].max_wait_ns, wait, sizeof(wait));
		snprintf(idx, sizeof(idx), "%u", applied.medium_index[c]);
		cruise_log(CRUISE_LOG_INFO, "medium configured", "medium", cfg->media[c].name,
			   "index", idx, cfg->media[c].fleet ? "fleet_rate" : "rate", rate,
			   "max_wait", wait, "dry_run", cfg->media[c].dry_run ? "true" : "false",
			   NULL);
	}
	if (cfg->fleet && !a->fleet) {
		a->fleet = cruise_fleet_start(&a->maps, err, sizeof(err));
		if (!a->fleet)
			cruise_log(CRUISE_LOG_ERROR,
				   "cannot start the fleet thread; fleet media pace "
				   "at their fallback",
				   "error", err, NULL);
	}
	cruise_fleet_configure(a->fleet, cfg, &a->applied);
	cruise_adaptive_configure(a->adapt, &a->maps, cfg, &a->applied, a->fleet);
	cruise_signals_configure(a->signals, cfg, a->generation);
	resolver_follow_config(a);
	services_follow_config(a);
	k8s_follow_config(a);
	update_bindings(a, a->generation == 1);
	snprintf(gen, sizeof(gen), "%llu", (unsigned long long)a->generation);
	cruise_log(CRUISE_LOG_INFO, "config applied", "file", opts.config, "generation", gen, NULL);
	return 0;
}

/* Reload after SIGHUP or a change in the config's directory; a bad config keeps the old one. */
static void reload(struct agent *a, bool forced)
{
	struct cruise_config *cfg;
	char err[512], *text = read_file(opts.config);

	if (!forced && text &&
	    ((a->config_text && !strcmp(text, a->config_text)) ||
	     (a->rejected_text && !strcmp(text, a->rejected_text)))) {
		free(text);
		return; /* an event in the directory, not a change of the config */
	}
	if (cruise_config_load(opts.config, &cfg, err, sizeof(err))) {
		a->reload_failures++;
		cruise_log(CRUISE_LOG_ERROR, "config rejected, the previous one stays in force",
			   "error", err, NULL);
		free(a->rejected_text);
		a->rejected_text = text;
		return;
	}
	free(a->rejected_text);
	a->rejected_text = NULL;
	if (strcmp(cfg->pin_dir, a->cfg->pin_dir) || strcmp(cfg->scope, a->cfg->scope) ||
	    strcmp(cfg->metrics, a->cfg->metrics))
		cruise_log(CRUISE_LOG_WARN, "scope, pin_dir and metrics change at restart only",
			   NULL);
	if (apply(a, cfg, text)) {
		a->reload_failures++;
		cruise_config_free(cfg);
		free(text);
		return;
	}
}

static int add_fd(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* An API client's fd in the loop while there is one (they come and go with reloads). */
static void k8s_poll(int fd, int ep, int *kfd)
{
	if (fd == *kfd)
		return;
	if (*kfd >= 0)
		epoll_ctl(ep, EPOLL_CTL_DEL, *kfd, NULL);
	*kfd = fd;
	if (fd >= 0)
		add_fd(ep, fd);
}

/* The resolver's fd in the loop once there is one (a reload may start it). */
static void resolver_poll(struct agent *a, int ep, int *rfd)
{
	int fd = a->resolver ? cruise_resolver_fd(a->resolver) : -1;

	if (fd == *rfd)
		return;
	*rfd = fd;
	if (fd >= 0)
		add_fd(ep, fd);
}

/* The fleet thread's fd in the loop once there is one (a reload may start it). */
static void fleet_poll(struct agent *a, int ep, int *ffd)
{
	int fd = cruise_fleet_fd(a->fleet);

	if (fd == *ffd)
		return;
	*ffd = fd;
	if (fd >= 0)
		add_fd(ep, fd);
}

/* The signals the main loop reads from a signalfd; blocked in every thread. */
static void agent_signals(sigset_t *mask)
{
	sigemptyset(mask);
	sigaddset(mask, SIGTERM);
	sigaddset(mask, SIGINT);
	sigaddset(mask, SIGHUP);
}

/* The signals' samples, each a round of the controller; those of an older config are dropped. */
static void signals_drain(struct agent *a)
{
	struct cruise_signal_sample x[16];
	size_t n = cruise_signals_take(a->signals, x, 16);

	for (size_t i = 0; i < n; i++)
		if (x[i].generation == a->generation)
			cruise_adaptive_sample(a->adapt, &a->maps, a->cfg, &a->applied, a->fleet,
					       &x[i]);
}

static int run_loop(struct agent *a)
{
	int ep, sfd, tfd, cfd, efd, wfd, gfd, kfd = -1, ffd = -1, rfd = -1, vfd = -1;
	struct itimerspec tick = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	__u64 ticks = 0;
	sigset_t mask;

	agent_signals(&mask);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	cfd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || cfd < 0 || ep < 0 || timerfd_settime(tfd, 0, &tick, NULL)) {
		cruise_log(CRUISE_LOG_ERROR, "cannot set up the main loop", "error",
			   strerror(errno), NULL);
		return 1;
	}
	/* the directory, not the file: a ConfigMap update swaps a symlink */
	inotify_add_watch(cfd, a->config_dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE);
	efd = cruise_eventlog_fd(a->events);
	wfd = cruise_bind_watch_fd(a->watch);
	gfd = cruise_signals_fd(a->signals);
	add_fd(ep, gfd);
	add_fd(ep, sfd);
	add_fd(ep, tfd);
	add_fd(ep, cfd);
	add_fd(ep, efd);
	add_fd(ep, wfd);

	for (;;) {
		struct epoll_event evs[8];
		int n;

		k8s_poll(a->k8s ? cruise_k8s_fd(a->k8s) : -1, ep, &kfd);
		k8s_poll(a->svc ? cruise_k8s_services_fd(a->svc) : -1, ep, &vfd);
		fleet_poll(a, ep, &ffd);
		resolver_poll(a, ep, &rfd);
		n = epoll_wait(ep, evs, 8, -1);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == sfd) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					cruise_log(CRUISE_LOG_INFO, "SIGHUP: reloading", NULL);
					reload(a, true);
					continue;
				}
				cruise_log(CRUISE_LOG_INFO,
					   "exiting; the pinned programs keep enforcing", NULL);
				return 0;
			} else if (fd == tfd) {
				__u64 expirations;

				if (read(tfd, &expirations, sizeof(expirations)) < 0)
					continue;
				cruise_eventlog_tick(a->events);
				/* periodic work: the safety rescan (every second while a
				 * selected pod's cgroup is missing) */
				if (a->rescan || ++ticks % RESCAN_SECONDS == 0 ||
				    a->pods_unresolved) {
					a->rescan = false;
					update_bindings(a, false);
				}
			} else if (fd == cfd) {
				char buf[4096];

				while (read(cfd, buf, sizeof(buf)) > 0)
					;
				reload(a, false);
			} else if (fd == efd) {
				cruise_eventlog_poll(a->events, 0);
			} else if (fd == wfd) {
				if (cruise_bind_watch_drain(a->watch))
					update_bindings(a, false);
			} else if (fd == kfd) {
				k8s_changed(a);
			} else if (fd == ffd) {
				cruise_fleet_apply(a->fleet, &a->maps, a->cfg, &a->applied);
			} else if (fd == gfd) {
				signals_drain(a);
			} else if (fd == rfd) {
				hosts_changed(a);
			} else if (fd == vfd) {
				services_changed(a);
			}
		}
	}
	return 1;
}

static int check_config(const char *path)
{
	struct cruise_config *cfg;
	char err[512];

	if (cruise_config_load(path, &cfg, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("%s: ok (%u targets, %u media)\n", path, cfg->n_targets, cfg->n_media);
	cruise_config_free(cfg);
	return 0;
}

static int uninstall(void)
{
	const char *pin_dir = opts.pin_dir ? opts.pin_dir : CRUISE_DEFAULT_PIN_DIR;
	struct cruise_config *cfg = NULL;
	char err[512] = "";
	int ret;

	if (!opts.pin_dir && opts.config) {
		if (cruise_config_load(opts.config, &cfg, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		pin_dir = cfg->pin_dir;
	}
	ret = cruise_uninstall(pin_dir, err, sizeof(err));
	if (ret)
		fprintf(stderr, "cruise-agent: uninstall: %s\n", err);
	else
		printf("cruise-agent: removed cruise's links and maps under %s\n", pin_dir);
	cruise_config_free(cfg);
	return ret ? 1 : 0;
}

static int start(struct agent *a)
{
	char err[512], scope[PATH_MAX], *text, *dir_copy;
	struct cruise_config *cfg;
	int ret;

	text = read_file(opts.config);
	if (cruise_config_load(opts.config, &cfg, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		free(text);
		return 1;
	}
	dir_copy = strdup(opts.config);
	snprintf(a->config_dir, sizeof(a->config_dir), "%s", dirname(dir_copy));
	free(dir_copy);
	if ((ret = cruise_cgroup2_root(a->cgroup_root, sizeof(a->cgroup_root)))) {
		fprintf(stderr, "cruise-agent: no cgroup2 mount in /proc/mounts: %s\n",
			strerror(-ret));
		goto fail;
	}
	snprintf(scope, sizeof(scope), "%.2048s/%.1024s", a->cgroup_root,
		 cfg->scope[0] == '/' ? cfg->scope + 1 : cfg->scope);
	if ((ret = cruise_ensure_bpffs(BPFFS_ROOT))) {
		fprintf(stderr, "cruise-agent: cannot mount bpffs on %s: %s\n", BPFFS_ROOT,
			strerror(-ret));
		goto fail;
	}
	if (cruise_load(&a->h, cfg->pin_dir, err, sizeof(err))) {
		fprintf(stderr, "cruise-agent: %s\n", err);
		goto fail;
	}
	cruise_log(CRUISE_LOG_INFO, "loaded the datapath", "pin_dir", cfg->pin_dir, NULL);
	a->maps = a->h->maps;
	a->signals = cruise_signals_new(err, sizeof(err));
	a->adapt = cruise_adaptive_run_new();
	if (!a->signals || !a->adapt) {
		fprintf(stderr, "cruise-agent: cannot set up adaptive rates: %s\n",
			a->signals ? "out of memory" : err);
		goto fail;
	}
	a->watch = cruise_bind_watch_new(a->cgroup_root);
	if (!a->watch) {
		fprintf(stderr, "cruise-agent: inotify: %s\n", strerror(errno));
		goto fail;
	}
	/* limits and bindings first, then attach: the programs never run on an empty config */
	a->cfg = calloc(1, sizeof(*a->cfg));
	if (!a->cfg || apply(a, cfg, text))
		goto fail_applied;
	cfg = NULL;
	text = NULL;
	if (cruise_attach_pinned(a->h, scope, err, sizeof(err))) {
		fprintf(stderr, "cruise-agent: %s\n", err);
		goto fail_applied;
	}
	cruise_log(CRUISE_LOG_INFO, "attached and pinned", "scope", scope, "links", a->cfg->pin_dir,
		   NULL);
	/* a medium selects pods but they cannot be watched (no API, no node name): say it now */
	if (cruise_config_uses_pods(a->cfg) && !a->k8s) {
		fprintf(stderr,
			"cruise-agent: a medium selects pods, but they cannot be watched\n");
		goto fail_applied;
	}
	if (cruise_config_uses_services(a->cfg) && !a->svc) {
		fprintf(stderr,
			"cruise-agent: a target names a Service, but Services cannot be watched\n");
		goto fail_applied;
	}
	a->events = cruise_eventlog_new(a->maps.events, stderr, opts.log_format, a->cgroup_root,
					medium_name_of, a, EVENT_LOG_PER_SEC, EVENT_LOG_BURST);
	if (!a->events) {
		fprintf(stderr, "cruise-agent: cannot read the refusal events: %s\n",
			strerror(errno));
		goto fail_applied;
	}
	if (a->cfg->metrics[0]) {
		a->http = cruise_http_start(a->cfg->metrics, take_snapshot, healthy, a, err,
					    sizeof(err));
		if (!a->http) {
			fprintf(stderr, "cruise-agent: metrics endpoint %s: %s\n", a->cfg->metrics,
				err);
			goto fail_applied;
		}
		cruise_log(CRUISE_LOG_INFO, "serving /metrics and /healthz", "listen",
			   a->cfg->metrics, NULL);
	}
	return 0;
fail_applied:
	/* what is pinned stays: a failed start does not tear down an earlier agent's pacing */
	cruise_config_free(cfg);
	free(text);
	return 1;
fail:
	cruise_config_free(cfg);
	free(text);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct argp argp = { options, parse_arg, NULL, doc, NULL, NULL, NULL };
	sigset_t mask;
	int ret;

	if (argp_parse(&argp, argc, argv, 0, NULL, NULL))
		return 2;
	cruise_log_setup(stderr, opts.log_format, opts.verbose);
	libbpf_set_print(libbpf_print);
	if (opts.check)
		return check_config(opts.check);
	if (opts.uninstall)
		return uninstall();
	/* before start(): threads created there (libmicrohttpd's) inherit the mask */
	agent_signals(&mask);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	ret = start(&agent);
	if (!ret)
		ret = run_loop(&agent);
	cruise_http_stop(agent.http);
	cruise_fleet_stop(agent.fleet);
	cruise_signals_stop(agent.signals);
	cruise_resolver_stop(agent.resolver);
	cruise_resolved_free(agent.hosts, agent.n_hosts);
	cruise_k8s_stop(agent.k8s);
	cruise_k8s_services_stop(agent.svc);
	free(agent.services);
	cruise_pods_free(agent.pods, agent.n_pods);
	cruise_pod_binds_free(&agent.pb);
	cruise_eventlog_free(agent.events);
	cruise_bind_watch_free(agent.watch);
	cruise_applied_free(&agent.applied);
	cruise_config_free(agent.cfg);
	free(agent.config_text);
	free(agent.rejected_text);
	cruise_destroy(agent.h); /* pinned links stay attached */
	return ret;
}
