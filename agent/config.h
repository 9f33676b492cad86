/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The agent's configuration file (YAML, read with libyaml in one pass). A config is validated whole
 * before anything is applied; an error names the file, the line, the field and the problem.
 */
#ifndef CRUISE_CONFIG_H
#define CRUISE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "units.h"

struct cruise_cfg_target {
	char *name;
	struct cruise_prefix *prefixes; /* parsed from addresses */
	unsigned int n_prefixes;
	char **hosts; /* DNS names, followed as they move (resolve.h) */
	unsigned int n_hosts;
	/* a Kubernetes Service, followed as it moves (k8s_services.h); NULL: none */
	char *service_ns, *service_name;
	uint16_t *ports; /* none: a target with only a service, paced at the Service's ports */
	unsigned int n_ports;
};

/* A Kubernetes label, checked by the API server's rules (key: [prefix/]name, value). */
struct cruise_label {
	char *key;
	char *value;
};

/* media[i].adaptive: the rate moves between min_rate and rate by a signal (adaptive.h). */
enum cruise_backoff {
	CRUISE_BACKOFF_GRADIENT, /* x target/value, within [1/2, 9/10] */
	CRUISE_BACKOFF_HALVE,	 /* x 1/2 */
};

struct cruise_cfg_adaptive {
	bool on;
	unsigned int signal;	 /* index into cruise_config.signals */
	__u64 floor_interval_ns; /* min_rate */
	__u32 priority;		 /* default 1; lower gives way first */
	enum cruise_backoff backoff;
};

struct cruise_cfg_medium {
	char *name;
	__u64 interval_ns; /* from rate */
	__u64 burst;
	__u64 max_wait_ns;
	__u32 max_conns; /* 0: no limit */
	int refuse_errno;
	bool dry_run;
	char **cgroups; /* relative to the cgroup2 mount; fnmatch(3) globs allowed */
	unsigned int n_cgroups;
	/* pods: {matchLabels: {...}}: pods on this node with all these labels; none: no selector */
	struct cruise_label *labels;
	unsigned int n_labels;
	/* fleet: true: rate is the whole fleet's; this node paces at the share it leases */
	bool fleet;
	__u64 fallback_interval_ns; /* fallback_rate; 0: the default (fleet_demand.c) */
	struct cruise_cfg_adaptive adaptive;
};

/* signals[i]: a named health probe (probe.h), taken every every_ns. */
enum cruise_signal_kind {
	CRUISE_SIGNAL_POSTGRES,
	CRUISE_SIGNAL_PROMETHEUS,
};

struct cruise_cfg_signal {
	char *name;
	enum cruise_signal_kind kind;
	char *query;	    /* postgres: default "SELECT 1"; prometheus: PromQL */
	bool value;	    /* the query's number is the signal; else its latency (postgres) */
	char *conninfo;	    /* postgres: read from dsn_file at load (a secret) */
	char *url;	    /* prometheus */
	char *bearer_token; /* prometheus: read from bearer_token_file; NULL: none */
	char *file;	    /* dsn_file or bearer_token_file as configured, for messages */
	__u64 every_ns;	    /* default 1 s */
	double target;	    /* healthy at or under it; seconds for a latency */
};

/*
 * fleet: one rate per medium for all agents together, shares leased through Redis (fleet.h).
 * Durations in ns; every field filled (defaults applied) by the parser.
 */
struct cruise_cfg_fleet {
	char *redis;	  /* "host:port" (host a name or an IP, "[v6]:port") or a socket path */
	char *node;	  /* this agent's name in the fleet: default $NODE_NAME, else hostname */
	char *key_prefix; /* default "cruise" */
	__u64 refresh_ns; /* default 500 ms */
	__u64 lease_ns;	  /* default 2 s; more than 2 x refresh */
	__u64 forget_after_ns; /* default 1 m; at least lease */
	char *username;	       /* Redis ACL user; NULL: the default user */
	char *password;	       /* read from password_file at load; NULL: none */
	char *password_file;   /* as configured, for messages; NULL: none */
	/* cold start without fallback_rate: rate / expected_nodes (default 10) */
	__u32 expected_nodes;
};

struct cruise_config {
	char *scope;   /* cgroup relative to the cgroup2 mount; default "/" */
	char *pin_dir; /* default /sys/fs/bpf/cruise */
	char *metrics; /* "host:port", "" = off; default 127.0.0.1:9464 */
	struct cruise_cfg_target *targets;
	unsigned int n_targets;
	struct cruise_cfg_medium *media;
	unsigned int n_media;
	struct cruise_cfg_fleet *fleet; /* NULL: no fleet block */
	struct cruise_cfg_signal *signals;
	unsigned int n_signals;
};

/* Limits of a medium, for the config and for cruisectl set */
#define CRUISE_BURST_MAX       1000000
#define CRUISE_MAX_WAIT_MAX_NS (120 * 1000000000ULL) /* the kernel caps a SYN timeout at 120 s */

#define CRUISE_DEFAULT_PIN_DIR		    "/sys/fs/bpf/cruise"
#define CRUISE_FLEET_DEFAULT_PREFIX	    "cruise"
#define CRUISE_FLEET_DEFAULT_REFRESH_NS	    (500 * 1000000ULL)
#define CRUISE_FLEET_DEFAULT_LEASE_NS	    (2 * 1000000000ULL)
#define CRUISE_FLEET_DEFAULT_FORGET_NS	    (60 * 1000000000ULL)
#define CRUISE_FLEET_DEFAULT_EXPECTED_NODES 10
#define CRUISE_DEFAULT_METRICS		    "127.0.0.1:9464"
#define CRUISE_SIGNAL_DEFAULT_EVERY_NS	    1000000000ULL
#define CRUISE_SIGNAL_DEFAULT_QUERY	    "SELECT 1"
#define CRUISE_MAX_SIGNALS		    16

/*
 * Load and validate path. On error returns a negative errno and writes one line to err:
 * "FILE:LINE: FIELD: problem" (e.g. "cruise.yaml:14: media[1].rate: rate must be above 0").
 */
int cruise_config_load(const char *path, struct cruise_config **out, char *err, size_t errlen);
/* The same from a buffer (name is used in messages); for tests and the fuzzer. */
int cruise_config_parse(const char *name, const char *data, size_t len, struct cruise_config **out,
			char *err, size_t errlen);
void cruise_config_free(struct cruise_config *cfg);
/* A signal's deep copy (for its probe thread), and its release (secrets zeroed). */
int cruise_cfg_signal_copy(struct cruise_cfg_signal *dst, const struct cruise_cfg_signal *src);
void cruise_cfg_signal_free(struct cruise_cfg_signal *s);
/* Whether a medium selects pods: only then does the agent watch them. */
bool cruise_config_uses_pods(const struct cruise_config *cfg);
/* Whether a target names a Service: only then does the agent watch Services. */
bool cruise_config_uses_services(const struct cruise_config *cfg);
/* Kubernetes' label rules; NULL when good, else the problem. */
const char *cruise_label_key_problem(const char *key);
const char *cruise_label_value_problem(const char *value);

#define CRUISE_MAX_LABELS 32 /* per selector */

#endif /* CRUISE_CONFIG_H */
